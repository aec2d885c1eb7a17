"""Credit note amounts: which part of a finalized invoice a credit note gives back, to the minor unit.

Why this module exists: a credit note must never give back more than was invoiced, line by line and in
total, however many credit notes an invoice gets; and the preview (``GET /v1/credit_notes/preview``) must
equal the credit note that follows. Both call ``credit`` and ``split`` here, which are pure: no clock, no
I/O, no float.

Rules (https://docs.stripe.com/invoicing/integration/programmatic-credit-notes unless noted):

* An invoice line is credited by quantity ("the discount quantity times the unit price of that line item")
  or by amount, never both on the same line: "if you discount a line item quantity, then a future credit
  note can only discount that line item by quantity, not by amount" (and the other way round).
* Crediting ``q`` of a line's ``Q`` units gives back ``q/Q`` of the line's amount. We prorate the line's
  amount rather than multiply a unit price, so prorated and tiered lines (whose unit price is not a whole
  minor unit) credit correctly, and crediting every unit gives back the line's amount exactly.
* The line's discounts and taxes are credited in the same proportion as its amount (the tax with the line's
  own tax rates, at the rate the invoice charged). Rounding is cumulative: once credit notes have given back
  the fraction ``f`` of a line, exactly ``round(X * f)`` of each of the line's amounts ``X`` (amount, each
  discount, each tax and its taxable amount) has been credited, with ``money.round_minor``. So partial credit
  notes never add up to more than the line, and the credit note that completes a line gives back the
  remainder to the unit.
* A custom line is ``unit_amount_decimal x quantity`` rounded once; its taxes are computed on it with its
  own tax rates (``tax.compute_line_taxes``); it has no discounts.
* Totals use Stripe's definitions (https://docs.stripe.com/api/credit_notes/object): ``subtotal`` excludes
  exclusive tax and invoice-level discounts; ``total`` includes tax and all discounts; ``amount == total``.
* Pre- and post-payment (https://docs.stripe.com/api/credit_notes/create): "A credit note will first reduce
  the invoice's amount_remaining (and amount_due), but not below zero" (``pre_payment_amount``); the rest
  (``post_payment_amount``) is refunded, credited to the customer balance or credited outside of Stripe, and
  "The sum of refunds, customer balance credits, and outside of Stripe credits must equal the
  post_payment_amount."
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction
from typing import Final, Literal, TypeAlias

from billfold.core.money import exact_context, round_minor
from billfold.core.tax import TaxRate, compute_line_taxes
from billfold.core.values import value_type

__all__ = [
    "ByAmount",
    "ByQuantity",
    "CreditLine",
    "CreditMode",
    "CreditNoteAmounts",
    "CreditNoteError",
    "CreditRequest",
    "CustomLine",
    "InvoiceLine",
    "LineDiscount",
    "LineTaxAmount",
    "Split",
    "credit",
    "split",
]

CreditMode = Literal["quantity", "amount"]
# Amounts times fractions of a line (quantities up to ``MAX_AMOUNT``) are divided with fifty significant digits:
# a quotient that repeats is then far closer to its true value than to any half minor unit, so rounding it gives
# the same integer as rounding the exact fraction (the reasoning of ``tax.py`` and ``proration.py``).
_DIVISION: Final = Context(prec=50, rounding=ROUND_HALF_UP)
DiscountLevel = Literal["line", "invoice"]


class CreditNoteError(ValueError):
    """A credit note Stripe would refuse; ``param`` names the request parameter at fault."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@value_type
class LineDiscount:
    """A discount's amount on one line (``level`` "line": the line's own discount; "invoice": its share)."""

    discount_id: str
    amount: int
    level: DiscountLevel = "invoice"


@value_type
class LineTaxAmount:
    """A tax on one line: the rate, whether it is inside the amount, the amount it is on, and the tax."""

    tax_rate_id: str
    inclusive: bool
    taxable_amount: int
    amount: int


@value_type
class InvoiceLine:
    """An invoice line as a credit note sees it, with what earlier (non-void) credit notes gave back.

    ``amount`` is before discounts and exclusive tax (inclusive tax is inside it), as on the invoice.
    ``credited_quantity`` / ``credited_amount`` are the sums credited so far in ``mode``.
    """

    id: str
    amount: int
    quantity: int | None
    discounts: tuple[LineDiscount, ...] = ()
    taxes: tuple[LineTaxAmount, ...] = ()
    mode: CreditMode | None = None
    credited_quantity: int = 0
    credited_amount: int = 0

    @property
    def credited_fraction(self) -> Fraction:
        """The share of the line given back so far."""
        if self.mode == "quantity" and self.quantity:
            return Fraction(self.credited_quantity, self.quantity)
        if self.mode == "amount" and self.amount > 0:
            return Fraction(self.credited_amount, self.amount)
        return Fraction(0)


@value_type
class ByQuantity:
    """Credit ``quantity`` units of an invoice line."""

    invoice_line: str
    quantity: int


@value_type
class ByAmount:
    """Credit ``amount`` (gross, before discounts and exclusive tax) of an invoice line."""

    invoice_line: str
    amount: int


@value_type
class CustomLine:
    """A line of the credit note's own: ``unit_amount_decimal`` x ``quantity``, taxed with ``tax_rates``."""

    unit_amount_decimal: Decimal
    quantity: int = 1
    tax_rates: tuple[TaxRate, ...] = ()


CreditRequest: TypeAlias = ByQuantity | ByAmount | CustomLine


@value_type
class CreditLine:
    """One computed credit note line. ``invoice_line`` is None for a custom line."""

    invoice_line: str | None
    mode: CreditMode | Literal["custom"]
    quantity: int | None
    unit_amount_decimal: Decimal | None
    amount: int
    discounts: tuple[LineDiscount, ...]
    taxes: tuple[LineTaxAmount, ...]

    @property
    def discount_amount(self) -> int:
        return sum(d.amount for d in self.discounts)

    @property
    def exclusive_tax(self) -> int:
        return sum(t.amount for t in self.taxes if not t.inclusive)

    @property
    def inclusive_tax(self) -> int:
        return sum(t.amount for t in self.taxes if t.inclusive)

    @property
    def total(self) -> int:
        """What the line gives back: after discounts, plus exclusive tax."""
        return self.amount - self.discount_amount + self.exclusive_tax


@value_type
class CreditNoteAmounts:
    """The computed lines and Stripe's totals of a credit note."""

    lines: tuple[CreditLine, ...]
    subtotal: int
    subtotal_excluding_tax: int
    discount_amount: int
    discount_totals: tuple[tuple[str, int], ...]
    tax_totals: tuple[LineTaxAmount, ...]
    total_excluding_tax: int
    total: int


@value_type
class Split:
    """How a credit note's total is given back (all amounts >= 0, summing to the total)."""

    pre_payment: int
    post_payment: int
    refund: int
    credit: int
    out_of_band: int

    @property
    def type(self) -> Literal["pre_payment", "post_payment", "mixed"]:
        if self.post_payment == 0:
            return "pre_payment"
        return "post_payment" if self.pre_payment == 0 else "mixed"


def _share(total: int, before: Fraction, after: Fraction) -> int:
    """What is given back of ``total`` when the credited fraction goes from ``before`` to ``after``."""
    return _round(total * after) - _round(total * before)


def _round(value: Fraction) -> int:
    """``money.round_minor`` of an exact fraction (see ``_DIVISION``)."""
    return round_minor(_DIVISION.divide(Decimal(value.numerator), Decimal(value.denominator)))


def _is_exact(value: Fraction) -> bool:
    """Whether the fraction has a finite decimal expansion (its denominator has only the factors 2 and 5)."""
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _credit_invoice_line(line: InvoiceLine, request: ByQuantity | ByAmount, param: str) -> CreditLine:
    """Credit part of one invoice line, given what is already credited (see the module docstring)."""
    mode: CreditMode = "quantity" if isinstance(request, ByQuantity) else "amount"
    if line.amount <= 0:
        raise CreditNoteError(f"Invoice line item {line.id} has no positive amount to credit.", param)
    if line.mode is not None and line.mode != mode:
        raise CreditNoteError(
            f"Invoice line item {line.id} was credited by {line.mode} before; a line item can only be credited "
            f"the same way each time, so pass {line.mode} for it.",
            param,
        )
    before = line.credited_fraction
    if isinstance(request, ByQuantity):
        if not line.quantity:
            raise CreditNoteError(
                f"Invoice line item {line.id} has no quantity; credit it by amount.", f"{param}[quantity]"
            )
        left = line.quantity - line.credited_quantity
        if request.quantity > left:
            raise CreditNoteError(
                f"You can credit at most {left} more of the {line.quantity} units of invoice line item {line.id}; "
                f"you asked for {request.quantity}.",
                f"{param}[quantity]",
            )
        after = Fraction(line.credited_quantity + request.quantity, line.quantity)
        amount = _share(line.amount, before, after)
        per_unit = Fraction(line.amount, line.quantity)
        # The unit amount is shown only when it is a finite decimal (a prorated line's may repeat).
        unit: Decimal | None = None
        if _is_exact(per_unit):
            unit = _DIVISION.divide(Decimal(line.amount), Decimal(line.quantity))
        quantity: int | None = request.quantity
    else:
        left = line.amount - line.credited_amount
        if request.amount > left:
            raise CreditNoteError(
                f"You can credit at most {left} more of invoice line item {line.id} (amount {line.amount}); "
                f"you asked for {request.amount}.",
                f"{param}[amount]",
            )
        after = Fraction(line.credited_amount + request.amount, line.amount)
        amount = request.amount
        unit, quantity = None, None
    discounts = tuple(replace(d, amount=_share(d.amount, before, after)) for d in line.discounts)
    taxes = tuple(
        replace(
            t,
            taxable_amount=_share(t.taxable_amount, before, after),
            amount=_share(t.amount, before, after),
        )
        for t in line.taxes
    )
    return CreditLine(line.id, mode, quantity, unit, amount, discounts, taxes)


def _credit_custom(request: CustomLine) -> CreditLine:
    with localcontext(exact_context()):
        amount = round_minor(request.unit_amount_decimal * request.quantity)
    taxes = tuple(
        LineTaxAmount(t.tax_rate_id, t.inclusive, t.taxable_amount, t.amount)
        for t in compute_line_taxes(amount, request.tax_rates)
    )
    return CreditLine(None, "custom", request.quantity, request.unit_amount_decimal, amount, (), taxes)


def _after(line: InvoiceLine, credited: CreditLine) -> InvoiceLine:
    """The line as a later request in the same credit note sees it."""
    if credited.mode == "quantity":
        return replace(
            line, mode="quantity", credited_quantity=line.credited_quantity + (credited.quantity or 0)
        )
    return replace(line, mode="amount", credited_amount=line.credited_amount + credited.amount)


def credit(lines: Sequence[InvoiceLine], requests: Sequence[CreditRequest]) -> CreditNoteAmounts:
    """Compute a credit note's lines and totals. ``requests[i]`` is reported as ``lines[i]`` in errors.

    Raises ``CreditNoteError`` for a request Stripe would refuse: an unknown invoice line, a line credited
    in the other mode before, more than is left of a line, or a credit note whose total is not positive.
    """
    state = {line.id: line for line in lines}
    out: list[CreditLine] = []
    for i, request in enumerate(requests):
        param = f"lines[{i}]"
        if isinstance(request, CustomLine):
            out.append(_credit_custom(request))
            continue
        line = state.get(request.invoice_line)
        if line is None:
            raise CreditNoteError(
                f"No such invoice line item: '{request.invoice_line}'", f"{param}[invoice_line_item]"
            )
        credited = _credit_invoice_line(line, request, param)
        state[line.id] = _after(line, credited)
        out.append(credited)
    amounts = _totals(tuple(out))
    if amounts.total <= 0:
        raise CreditNoteError(
            f"A credit note must give back a positive amount; these lines total {amounts.total}.", "lines"
        )
    return amounts


def _totals(lines: tuple[CreditLine, ...]) -> CreditNoteAmounts:
    gross = sum(line.amount for line in lines)
    line_level = sum(d.amount for line in lines for d in line.discounts if d.level == "line")
    invoice_level = sum(d.amount for line in lines for d in line.discounts if d.level == "invoice")
    inclusive = sum(line.inclusive_tax for line in lines)
    exclusive = sum(line.exclusive_tax for line in lines)
    subtotal = gross - line_level
    discounts: dict[str, int] = {}
    for line in lines:
        for d in line.discounts:
            discounts[d.discount_id] = discounts.get(d.discount_id, 0) + d.amount
    taxes: dict[str, LineTaxAmount] = {}
    for line in lines:
        for t in line.taxes:
            seen = taxes.get(t.tax_rate_id)
            taxes[t.tax_rate_id] = (
                t
                if seen is None
                else replace(
                    seen, amount=seen.amount + t.amount, taxable_amount=seen.taxable_amount + t.taxable_amount
                )
            )
    return CreditNoteAmounts(
        lines=lines,
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal - inclusive,
        discount_amount=line_level + invoice_level,
        discount_totals=tuple(discounts.items()),
        tax_totals=tuple(taxes.values()),
        total_excluding_tax=gross - line_level - invoice_level - inclusive,
        total=subtotal - invoice_level + exclusive,
    )


def split(
    total: int,
    *,
    creditable: int,
    amount_remaining: int,
    refund: int | None,
    credit: int | None,
    out_of_band: int | None,
    refundable: int,
) -> Split:
    """Split a credit note's ``total`` into its pre-payment part and the post-payment refund/credit/out-of-band.

    ``creditable`` is what the invoice still allows (its total less earlier credit notes); ``refundable`` is
    what is left of the invoice's charge. ``None`` means the parameter was not given.
    """
    if total > creditable:
        raise CreditNoteError(
            f"The credit note total ({total}) is more than can still be credited on this invoice ({creditable}).",
            "amount" if creditable >= 0 else "invoice",
        )
    pre = min(total, max(amount_remaining, 0))
    post = total - pre
    given = {"refund_amount": refund, "credit_amount": credit, "out_of_band_amount": out_of_band}
    parts = {k: int(v or 0) for k, v in given.items()}
    for name, value in parts.items():
        if value < 0:
            raise CreditNoteError(f"Invalid {name}: must be greater than or equal to 0", name)
    if sum(parts.values()) != post:
        named = next((k for k, v in given.items() if v is not None), "credit_amount")
        raise CreditNoteError(
            f"The sum of refund_amount, credit_amount and out_of_band_amount ({sum(parts.values())}) must equal "
            f"the credit note's post-payment amount ({post}): the credit note total is {total}, of which {pre} "
            f"reduces the invoice's amount remaining.",
            named,
        )
    if parts["refund_amount"] > refundable:
        raise CreditNoteError(
            f"refund_amount ({parts['refund_amount']}) is more than is left to refund of the invoice's "
            f"payment ({refundable}).",
            "refund_amount",
        )
    return Split(pre, post, parts["refund_amount"], parts["credit_amount"], parts["out_of_band_amount"])
