"""Plain-language explanations of invoice lines, for support staff answering "why was I charged this?".

Why this module exists: the reference customer's support and billing-operations staff must read,
line by line, how each amount came about, without calling an engineer. Each sentence is built
only from a ``DraftLine``'s lineage (quantity and its source, price or tiers, proration fraction
and period, discounts in order, taxes), so the explanation can never disagree with the charge:
the bill run, the preview and this text all come from ``invoice.generate``.

Formatting: amounts in major units from ``money.to_major_str`` with thousands grouped by commas
and the currency code ("1,085.81 USD"); signs are U+2212 MINUS SIGN and "+", quantities are
joined by U+00D7 MULTIPLICATION SIGN and ranges by U+2013 EN DASH, as typeset. Dates are UTC
calendar days from Unix seconds (``datetime.fromtimestamp(t, tz=UTC)``: a conversion of the
argument, not the wall clock), month names fixed in English so the text does not depend on the
process locale; a time of day is shown only when a boundary is not at midnight. A period is
shown as its half-open bounds ("Nov 14 - Dec 1" is up to, not including, Dec 1).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Final

from billfold.core.discounts import AppliedDiscount
from billfold.core.invoice import DraftLine, InvoiceDraft, ProrationFraction
from billfold.core.money import exact_context, exponent, to_major_str
from billfold.core.pricing import PricingModel, TierLine
from billfold.core.tax import LineTax

__all__ = ["explain_invoice", "explain_line", "format_amount", "format_period"]

_MINUS: Final = "\u2212"
_TIMES: Final = "\u00d7"
_DASH: Final = "\u2013"
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY: Final = 86_400


def explain_line(line: DraftLine, currency: str) -> str:
    """One line in plain language: how the amount was computed, then each discount and tax.

    "20 x Advanced seat at 99.00 USD x 17/31 of the period (Nov 14 - Dec 1) = 1,085.81 USD;
    20% off (coupon ADV20) -217.16 USD; VAT 19% (exclusive) +165.04 USD" (typeset with the
    multiplication sign, en dash and minus sign of the module docstring).
    """
    parts = [_amount_clause(line, currency)]
    parts.extend(
        _discount_clause(discount, currency) for discount in line.discount_amounts if discount.amount
    )
    parts.extend(_tax_clause(tax, currency) for tax in line.taxes)
    return "; ".join(parts)


def explain_invoice(draft: InvoiceDraft, currency: str) -> tuple[str, ...]:
    """Every line explained, then the totals: subtotal, invoice discounts, taxes, total, balance, due."""
    out = [explain_line(line, currency) for line in draft.lines]
    out.append(f"Subtotal {format_amount(draft.subtotal, currency)}")
    for label, amount in _invoice_discounts(draft):
        out.append(f"Discount ({label}) {_signed(-amount, currency)}")
    for tax in draft.total_taxes:
        on = format_amount(tax.taxable_amount, currency)
        name = f"{tax.display_name} {_percent(tax.percentage)}%"
        if tax.inclusive:
            out.append(f"{name} (inclusive) on {on}: {format_amount(tax.amount, currency)} included")
        else:
            out.append(f"{name} (exclusive) on {on}: {_signed(tax.amount, currency)}")
    out.append(f"Total {format_amount(draft.total, currency)}")
    if draft.starting_balance:
        out.append(f"Customer balance before this invoice: {_balance(draft.starting_balance, currency)}")
    if draft.total < 0:
        out.append(f"Credit of {format_amount(-draft.total, currency)} goes to the customer balance")
    elif draft.applied_balance:
        out.append(f"Customer balance applied {_signed(draft.applied_balance, currency)}")
    out.append(f"Amount due {format_amount(draft.amount_due, currency)}")
    if draft.ending_balance or draft.starting_balance:
        out.append(f"Customer balance after this invoice: {_balance(draft.ending_balance, currency)}")
    return tuple(out)


def format_amount(amount: int, currency: str) -> str:
    """``1085_81`` usd -> ``"1,085.81 USD"``; negative amounts get a U+2212 minus sign."""
    text = to_major_str(abs(amount), currency)
    whole, dot, fraction = text.partition(".")
    sign = _MINUS if amount < 0 else ""
    return f"{sign}{int(whole):,}{dot}{fraction} {currency.upper()}"


# Pure functions of few distinct values in a bill run (one period, a few prices and rates): cached. Equal Decimals
# (20 and 20.0) share an entry, and give the same text, since the functions normalize or quantize them.
@lru_cache(maxsize=4096)
def format_period(start: int, end: int) -> str:
    """``"Nov 14 \u2013 Dec 1"``; with years when the two ends are in different years."""
    first, last = _utc(start), _utc(end)
    with_year = first.year != last.year
    return f"{_date(first, with_year)} {_DASH} {_date(last, with_year)}"


def _amount_clause(line: DraftLine, currency: str) -> str:
    credit = line.amount < 0
    if line.type == "invoiceitem":
        head = line.description
        if line.unit_amount_decimal is not None:
            head += f": {line.quantity:,} {_TIMES} {_unit(line.unit_amount_decimal, currency)}"
        when = _fraction_and_period(line.proration_fraction, line)
        joiner = ", " if line.proration_fraction is not None else " "
        return f"{head}{joiner}{when} = {format_amount(line.amount, currency)}"
    head = _priced_head(line, currency)
    if line.usage_type == "metered":
        source = f" ({line.quantity_source})" if line.quantity_source else ""
        when = f"{source}, used {format_period(line.period_start, line.period_end)}, billed in arrears"
    elif line.proration_fraction is not None:
        when = f" {_TIMES} " + _fraction_and_period(line.proration_fraction, line)
    else:
        when = f" for {format_period(line.period_start, line.period_end)}"
    prefix = "Credit for unused time: " if credit else ""
    return f"{prefix}{head}{when} = {format_amount(line.amount, currency)}"


def _priced_head(line: DraftLine, currency: str) -> str:
    quantity = f"{line.quantity:,} {_TIMES} {line.description}"
    if line.pricing_model == PricingModel.PACKAGE and line.unit_amount_decimal is not None:
        unit = _unit(line.unit_amount_decimal, currency)
        plural = "" if line.billed_quantity == 1 else "s"
        return f"{quantity}, billed as {line.billed_quantity:,} package{plural} at {unit}"
    if line.pricing_model == PricingModel.GRADUATED:
        return f"{quantity} (graduated: {' + '.join(_tier(tier, currency) for tier in line.tiers)})"
    if line.pricing_model == PricingModel.VOLUME and line.tiers:
        tier = line.tiers[0]
        upper = "\u221e" if tier.up_to is None else f"{tier.up_to:,}"
        return (
            f"{quantity} (volume tier {tier.from_quantity:,}{_DASH}{upper}: {_tier_charge(tier, currency)})"
        )
    if line.unit_amount_decimal is not None:
        return f"{quantity} at {_unit(line.unit_amount_decimal, currency)}"
    return quantity


def _tier(tier: TierLine, currency: str) -> str:
    if tier.quantity == 0:
        return _tier_charge(tier, currency)
    last = tier.from_quantity + tier.quantity - 1
    return f"{tier.from_quantity:,}{_DASH}{last:,}: {_tier_charge(tier, currency)}"


def _tier_charge(tier: TierLine, currency: str) -> str:
    pieces = []
    if tier.unit_amount_decimal or not tier.flat_amount_decimal:
        pieces.append(f"{tier.quantity:,} {_TIMES} {_unit(tier.unit_amount_decimal, currency)}")
    if tier.flat_amount_decimal:
        pieces.append(f"flat {_unit(tier.flat_amount_decimal, currency)}")
    return " + ".join(pieces)


def _fraction_and_period(fraction: ProrationFraction | None, line: DraftLine) -> str:
    period = format_period(line.period_start, line.period_end)
    if fraction is None:
        return f"({period})"
    num, den = fraction.numerator, fraction.denominator
    if num % _DAY == 0 and den % _DAY == 0:
        share = f"{num // _DAY}/{den // _DAY} of the period"
    else:
        share = f"{num:,}/{den:,} seconds of the period"
    return f"{share} ({period})"


def _discount_clause(discount: AppliedDiscount, currency: str) -> str:
    scope = " the invoice" if discount.level == "invoice" else ""
    coupon = f"(coupon {discount.coupon_id})"
    if discount.percent_off is not None:
        what = f"{_percent(discount.percent_off)}% off{scope} {coupon}"
    else:
        whole = format_amount(discount.amount_off or 0, currency)
        share = ", this line's share" if discount.level == "invoice" else ""
        what = f"{whole} off{scope} {coupon}{share}"
    return f"{what} {_signed(-discount.amount, currency)}"


def _tax_clause(tax: LineTax, currency: str) -> str:
    name = f"{tax.display_name} {_percent(tax.percentage)}%"
    if tax.inclusive:
        return f"{name} (inclusive) {format_amount(tax.amount, currency)} included"
    return f"{name} (exclusive) {_signed(tax.amount, currency)}"


def _invoice_discounts(draft: InvoiceDraft) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    for line in draft.lines:
        for discount in line.discount_amounts:
            if discount.level == "invoice":
                label = f"coupon {discount.coupon_id}"
                totals[label] = totals.get(label, 0) + discount.amount
    return list(totals.items())


def _signed(amount: int, currency: str) -> str:
    return ("+" if amount >= 0 else "") + format_amount(amount, currency)


def _balance(balance: int, currency: str) -> str:
    if balance < 0:
        return f"{format_amount(-balance, currency)} credit"
    if balance > 0:
        return f"{format_amount(balance, currency)} owed"
    return format_amount(0, currency)


@lru_cache(maxsize=4096)
def _unit(minor: Decimal, currency: str) -> str:
    """A per-unit amount in minor units (may be fractional) as major units: 9900 -> 99.00 USD."""
    places = exponent(currency)
    major = minor.scaleb(-places, context=exact_context())
    if _decimal_places(major) > places:  # a sub-minor-unit price: show every digit it has
        text = format(major.normalize(exact_context()), "f")
    else:
        text = format(major.quantize(Decimal(1).scaleb(-places), context=exact_context()), "f")
    whole, dot, fraction = text.partition(".")
    return f"{int(whole):,}{dot}{fraction} {currency.upper()}"


def _decimal_places(value: Decimal) -> int:
    digits_exponent = value.normalize(exact_context()).as_tuple().exponent
    return -digits_exponent if isinstance(digits_exponent, int) and digits_exponent < 0 else 0


@lru_cache(maxsize=1024)
def _percent(value: Decimal) -> str:
    return format(value.normalize(exact_context()), "f")


def _utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def _date(moment: datetime, with_year: bool) -> str:
    text = f"{_MONTHS[moment.month - 1]} {moment.day}"
    if with_year:
        text += f", {moment.year}"
    if (moment.hour, moment.minute, moment.second) != (0, 0, 0):
        text += f" {moment.hour:02d}:{moment.minute:02d}"
        if moment.second:
            text += f":{moment.second:02d}"
        text += " UTC"
    return text
