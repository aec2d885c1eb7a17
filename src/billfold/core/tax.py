"""Tax decisions for invoice lines: which tax rates apply, and how much tax each one is.

Why this module exists: every invoice line carries its taxes as lineage (rate id, percentage,
inclusive or exclusive, taxable amount, tax amount), and the preview, the bill run, the PDF and
the "explain this charge" view must compute them the same way. These are Stripe's manual Tax
Rates (a percentage that is either inside the price or added on top); an external tax engine
(Avalara-style, during the draft window) replaces these amounts in the app layer.

Rules (each with its source):

* Which rates: a line's own tax rates replace the invoice's default tax rates; a line without
  rates of its own takes the defaults. "Default tax rates apply to all line items on the
  invoice. ... you can also set an item level tax rate that overrides the default tax rate."
  At most five rates per line and five default rates per invoice.
  https://docs.stripe.com/billing/invoices/tax-rates
* Exclusive tax is added on top of the amount: "An exclusive tax rate of 10% on a €600 price will
  result in an invoice total of €660." Inclusive tax is inside the amount: "if the price is €600
  and you set an inclusive tax rate of 10%, the invoice total will still be €600."
  https://support.stripe.com/questions/inclusive-and-exclusive-tax-options-in-the-tax-rate-api-and-stripe-tax
* Tax is computed per line, on the line's amount after all of its discounts (line-level and its
  share of invoice-level ones), and rounded once per tax amount with ``money.round_minor``:

  - exclusive: ``tax = round(amount x pct / 100)``; its taxable amount is the line's amount net
    of any inclusive tax (the amount itself when the line has no inclusive rate);
  - inclusive: ``net = round(amount / (1 + pct / 100))`` and ``tax = amount - net``, so net plus
    tax is exactly the amount. With several inclusive rates on one line the net is
    ``round(amount / (1 + sum(pct) / 100))`` and the tax inside the amount is split across the
    rates in proportion to their percentages with ``money.allocate`` (no unit created or lost);
    each inclusive tax's taxable amount is the net.

  Several rates on one line are computed independently from the same base, never compounded
  (tax on tax). The invoice's ``total_taxes`` aggregate the lines per tax rate; Stripe describes
  ``taxable_amount`` as "The amount on which tax is calculated".
  https://docs.stripe.com/api/invoices/object#invoice_object-total_taxes
* A negative line (a credit) gets the mirror image of the tax on its magnitude (rounding is half
  away from zero), so a credit and the debit it reverses net to zero, tax included.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Final

from billfold.core.money import allocate, exact_context, round_minor
from billfold.core.values import value_type

__all__ = [
    "MAX_TAX_RATES",
    "LineTax",
    "TaxRate",
    "compute_line_taxes",
    "tax_rates_for_line",
]

# "You can add as many as five tax rates to each line item." / "... five default tax rates to each
# invoice." https://docs.stripe.com/billing/invoices/tax-rates
MAX_TAX_RATES: Final = 5

_HUNDRED: Final = Decimal(100)
# Division for the net of an inclusive tax is not exact (1 / 1.19 repeats). Fifty significant
# digits put the quotient far closer to its true value than any distance between it and a half
# minor unit it is not exactly at (percentages have at most a few decimals), so rounding the
# 50-digit quotient gives the same integer as rounding the exact fraction. Same reasoning as
# proration.py.
_DIVISION: Final = Context(prec=50, rounding=ROUND_HALF_UP)


@value_type
class TaxRate:
    """A Stripe Tax Rate: ``percentage`` out of 100, ``inclusive`` inside the price or added on top."""

    id: str
    percentage: Decimal
    inclusive: bool
    display_name: str = "Tax"
    jurisdiction: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.percentage, Decimal):
            raise TypeError(f"tax rate percentage must be a Decimal, got {type(self.percentage).__name__}")
        if not self.percentage.is_finite() or self.percentage < 0 or self.percentage > _HUNDRED:
            raise ValueError(f"tax rate percentage must be between 0 and 100, got {self.percentage}")


@value_type
class LineTax:
    """One tax on one line: which rate, on what amount, and how much (minor units)."""

    tax_rate_id: str
    display_name: str
    percentage: Decimal
    inclusive: bool
    taxable_amount: int
    amount: int
    jurisdiction: str | None = None


def tax_rates_for_line(
    line_rates: Sequence[TaxRate], default_rates: Sequence[TaxRate]
) -> tuple[TaxRate, ...]:
    """The rates that apply to a line: its own when it has any, otherwise the invoice's defaults.

    https://docs.stripe.com/billing/invoices/tax-rates ("an item level tax rate ... overrides the
    default tax rate"). Raises ``ValueError`` for more than ``MAX_TAX_RATES`` rates or a rate listed
    twice.
    """
    rates = tuple(line_rates) if line_rates else tuple(default_rates)
    if len(rates) > MAX_TAX_RATES:
        raise ValueError(f"at most {MAX_TAX_RATES} tax rates apply to a line, got {len(rates)}")
    ids = [rate.id for rate in rates]
    if len(set(ids)) != len(ids):
        raise ValueError(f"a tax rate is listed twice on one line: {ids}")
    return rates


def compute_line_taxes(amount: int, rates: Sequence[TaxRate]) -> tuple[LineTax, ...]:
    """The taxes on a line whose amount (after discounts) is ``amount``, in the order of ``rates``.

    See the module docstring for the rules; one rounding per tax amount.
    """
    if amount < 0:
        return tuple(_mirror(tax) for tax in compute_line_taxes(-amount, rates))
    inclusive = [rate for rate in rates if rate.inclusive]
    inclusive_amounts: dict[str, int] = {}
    net = amount
    if inclusive:
        with localcontext(exact_context()):
            gross_pct = _HUNDRED + sum((rate.percentage for rate in inclusive), Decimal(0))
        net_exact = _DIVISION.divide(Decimal(amount * 100), gross_pct)
        net = round_minor(net_exact)
        shares = allocate(amount - net, [rate.percentage for rate in inclusive])
        inclusive_amounts = {rate.id: share for rate, share in zip(inclusive, shares, strict=True)}
    taxes: list[LineTax] = []
    for rate in rates:
        if rate.inclusive:
            tax_amount = inclusive_amounts[rate.id]
        else:
            with localcontext(exact_context()):
                tax_amount = round_minor(Decimal(net) * rate.percentage / _HUNDRED)
        taxes.append(
            LineTax(
                tax_rate_id=rate.id,
                display_name=rate.display_name,
                percentage=rate.percentage,
                inclusive=rate.inclusive,
                taxable_amount=net,
                amount=tax_amount,
                jurisdiction=rate.jurisdiction,
            )
        )
    return tuple(taxes)


def _mirror(tax: LineTax) -> LineTax:
    return LineTax(
        tax_rate_id=tax.tax_rate_id,
        display_name=tax.display_name,
        percentage=tax.percentage,
        inclusive=tax.inclusive,
        taxable_amount=-tax.taxable_amount,
        amount=-tax.amount,
        jurisdiction=tax.jurisdiction,
    )
