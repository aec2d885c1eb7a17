"""The invoice generator: billing facts in, a draft invoice with its totals and lineage out.

Why this module exists: the bill run and the preview (Stripe's ``invoices/create_preview``) must
produce the same invoice from the same facts, to the minor unit, so both call ``generate``. It is
a pure function of its arguments: no clock (``as_of`` is an argument), no I/O, no float; the same
input gives an equal output, with lines in input order. Every ``DraftLine`` carries its lineage
(price, quantity and where it came from, tier breakdown, proration fraction in seconds, discounts
in order, taxes with their rates), which is what the API, the PDF and "explain" show.

How a line is computed (one rounding per computed quantity, ``money.round_minor``, half away
from zero):

1. Amount. A subscription item line is ``pricing.rate(spec, quantity)``: exact, rounded once. A
   prorated line multiplies the *unrounded* exact amount by seconds used / seconds in the period
   and rounds once (``proration.prorate``): Stripe prorates "down to the second"
   (https://docs.stripe.com/billing/subscriptions/prorations). A credit line (unused time) is the
   negative of the same computation, so a credit and a debit for the same price, quantity and
   span net to zero. A pending invoice item has a fixed amount. Licensed quantities are billed in
   advance for the line's period; metered usage is billed in arrears, the line's period being the
   one the usage belongs to (https://docs.stripe.com/billing/subscriptions/usage-based).
2. Discounts: the line's own discounts first, in order, then the invoice-level discounts, in
   order (``discounts`` module, with its sources).
3. Taxes on the amount after all discounts (``tax`` module, with its sources).

Invoice totals, with Stripe's definitions (https://docs.stripe.com/api/invoices/object):

* ``subtotal``: "Total of all subscriptions, invoice items, and prorations on the invoice before
  any invoice level discount or exclusive tax is applied. Item discounts are already
  incorporated" = sum of line amounts - line-level discounts.
* ``subtotal_excluding_tax``: the same "before any invoice level discount or tax is applied":
  ``subtotal`` - inclusive taxes (our reading; the inclusive tax is the one computed on the
  discounted line, the only tax there is).
* ``total_discount_amounts``: "The aggregate amounts calculated per discount across all line
  items" (line-level and invoice-level discounts, per discount id).
* ``total_excluding_tax``: "the total amount of the invoice including all discounts but excluding
  all tax" = sum of line amounts - all discounts - inclusive taxes.
* ``total_taxes``: per tax rate, the sum over lines of tax and taxable amount.
* ``total`` = ``subtotal`` - invoice-level discounts + exclusive taxes ("Total after discounts and
  taxes"; an inclusive tax is already inside the amounts).

Customer balance (negative = a credit the customer holds, positive = money they owe):
"Stripe applies any customer credit on the account before determining the amount due" and "If
there is a positive starting_balance for the invoice (the customer owes money), the amount_due
will also take that into account" (https://docs.stripe.com/api/invoices/object#invoice_object-amount_due);
"The invoice balance automatically applies toward the next invoice finalized to a customer", and
credits such as downgrade prorations "reduce the amount due on the next invoice"
(https://docs.stripe.com/billing/customer/balance). So:

* ``starting_balance`` = the customer's balance; ``amount_due = max(0, total + starting_balance)``;
* ``applied_balance = amount_due - total``: what the balance added to the total (negative: credit
  used; positive: a debit collected, or a negative total moved onto the balance);
* ``ending_balance = starting_balance - applied_balance``: the credit left over, or the credit a
  negative total leaves (its ``amount_due`` is 0).

Stripe's minimum chargeable amount and the ``ending_balance`` of an unfinalized invoice (``null``
on the wire) are the app layer's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Literal, TypeAlias

from billfold.core.discounts import (
    AppliedDiscount,
    Discount,
    DiscountTarget,
    apply_invoice_discounts,
    apply_line_discounts,
)
from billfold.core.money import exponent
from billfold.core.pricing import PriceSpec, PricingModel, TierLine, rate
from billfold.core.proration import prorate
from billfold.core.tax import LineTax, TaxRate, compute_line_taxes, tax_rates_for_line
from billfold.core.values import value_type

__all__ = [
    "DiscountAmount",
    "DraftLine",
    "InvoiceDraft",
    "InvoiceFacts",
    "LineInput",
    "LineType",
    "PendingItemLine",
    "ProrationFraction",
    "SubscriptionItemLine",
    "TaxAmount",
    "UsageType",
    "generate",
]

UsageType = Literal["licensed", "metered"]
# Stripe's line ``type`` (older API versions): a subscription item or a pending invoice item.
LineType = Literal["subscription", "invoiceitem"]


@value_type
class ProrationFraction:
    """The prorated share of a period: ``numerator`` seconds out of the period's ``denominator``."""

    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        if self.denominator <= 0:
            raise ValueError(f"a proration needs a positive period length, got {self.denominator}")
        if not 0 <= self.numerator <= self.denominator:
            raise ValueError(f"prorated seconds {self.numerator} are not within 0..{self.denominator}")

    @property
    def fraction(self) -> Fraction:
        """The share, exactly."""
        return Fraction(self.numerator, self.denominator)


@value_type
class SubscriptionItemLine:
    """A subscription item billed for a period: a price applied to a quantity.

    ``usage_type`` "licensed": ``quantity`` seats billed in advance for ``[period_start,
    period_end)``; "metered": ``quantity`` is the usage aggregated over that (previous) period,
    billed in arrears. ``quantity_source`` says where the quantity came from ("seats", "meter
    mtr_x sum of 1,234 events"). ``proration_fraction`` prorates the line (seconds used / period
    seconds); ``credit`` makes it a credit for unused time. ``discounts`` are the item's own;
    ``tax_rates``, when given, replace the invoice's default tax rates. ``discountable`` of
    ``None`` means Stripe's default (false for prorations and credits).
    """

    id: str
    price_id: str
    product_id: str
    description: str
    spec: PriceSpec
    quantity: int
    period_start: int
    period_end: int
    usage_type: UsageType = "licensed"
    quantity_source: str = ""
    proration: bool = False
    proration_fraction: ProrationFraction | None = None
    credit: bool = False
    discounts: tuple[Discount, ...] = ()
    tax_rates: tuple[TaxRate, ...] = ()
    discountable: bool | None = None
    subscription_id: str | None = None


@value_type
class PendingItemLine:
    """A pending invoice item: a fixed amount (a proration made at a mid-period change, a one-off).

    ``amount`` is in minor units (negative for a credit). ``quantity``, ``unit_amount_decimal``,
    ``price_id``, ``product_id`` and ``proration_fraction`` are lineage; ``product_id`` also
    decides which coupons the line is eligible for.
    """

    id: str
    description: str
    amount: int
    period_start: int
    period_end: int
    quantity: int = 1
    unit_amount_decimal: Decimal | None = None
    price_id: str | None = None
    product_id: str | None = None
    quantity_source: str = ""
    proration: bool = False
    proration_fraction: ProrationFraction | None = None
    discounts: tuple[Discount, ...] = ()
    tax_rates: tuple[TaxRate, ...] = ()
    discountable: bool | None = None
    subscription_id: str | None = None


LineInput: TypeAlias = SubscriptionItemLine | PendingItemLine


@value_type
class InvoiceFacts:
    """Everything an invoice is computed from. ``customer_balance`` < 0 is a credit the customer has."""

    currency: str
    customer_balance: int
    period_start: int
    period_end: int
    lines: tuple[LineInput, ...]
    invoice_discounts: tuple[Discount, ...] = ()
    default_tax_rates: tuple[TaxRate, ...] = ()


@value_type
class DraftLine:
    """One computed invoice line with its lineage.

    ``amount`` is before discounts and exclusive tax (inclusive tax is inside it);
    ``exact_amount`` is the unrounded value it was rounded from. ``unit_amount_decimal`` is the
    price per unit (per package for a package price) in minor units, ``None`` for tiered prices
    (see ``tiers``). ``billed_quantity`` is the quantity after ``transform_quantity``.
    ``discount_amounts`` are in the order applied: the line's own, then invoice-level ones.
    """

    id: str
    type: LineType
    description: str
    price_id: str | None
    product_id: str | None
    subscription_id: str | None
    quantity: int
    quantity_source: str
    usage_type: UsageType | None
    pricing_model: PricingModel | None
    unit_amount_decimal: Decimal | None
    billed_quantity: int
    tiers: tuple[TierLine, ...]
    period_start: int
    period_end: int
    proration: bool
    proration_fraction: ProrationFraction | None
    exact_amount: Decimal
    amount: int
    discountable: bool
    discount_amounts: tuple[AppliedDiscount, ...]
    taxes: tuple[LineTax, ...]

    @property
    def discount_amount(self) -> int:
        """All discounts on this line."""
        return sum(discount.amount for discount in self.discount_amounts)

    @property
    def amount_after_discounts(self) -> int:
        """The amount taxes are computed on."""
        return self.amount - self.discount_amount

    @property
    def exclusive_tax(self) -> int:
        return sum(tax.amount for tax in self.taxes if not tax.inclusive)

    @property
    def inclusive_tax(self) -> int:
        return sum(tax.amount for tax in self.taxes if tax.inclusive)

    @property
    def total(self) -> int:
        """What the line adds to the invoice total: after discounts, plus exclusive tax."""
        return self.amount_after_discounts + self.exclusive_tax


@value_type
class DiscountAmount:
    """One discount's total across all lines (Stripe's ``total_discount_amounts`` entry)."""

    discount_id: str
    amount: int


@value_type
class TaxAmount:
    """One tax rate's total across all lines (Stripe's ``total_taxes`` entry)."""

    tax_rate_id: str
    amount: int
    inclusive: bool
    taxable_amount: int
    percentage: Decimal
    display_name: str


@value_type
class InvoiceDraft:
    """A computed invoice: lines with lineage, Stripe's totals and the customer balance applied."""

    currency: str
    as_of: int
    period_start: int
    period_end: int
    lines: tuple[DraftLine, ...]
    subtotal: int
    subtotal_excluding_tax: int
    total_discount_amounts: tuple[DiscountAmount, ...]
    total_excluding_tax: int
    total_taxes: tuple[TaxAmount, ...]
    total: int
    starting_balance: int
    ending_balance: int
    amount_due: int
    applied_balance: int

    @property
    def tax(self) -> int:
        """All tax on the invoice, inclusive and exclusive."""
        return sum(tax.amount for tax in self.total_taxes)


@value_type
class _Priced:
    amount: int
    exact_amount: Decimal
    pricing_model: PricingModel | None
    unit_amount_decimal: Decimal | None
    billed_quantity: int
    tiers: tuple[TierLine, ...]


def generate(facts: InvoiceFacts, as_of: int) -> InvoiceDraft:
    """Compute the invoice for ``facts`` as it stands at second ``as_of``.

    ``as_of`` decides which discounts are in effect (``Discount.is_active``) and is recorded on the
    draft; nothing else reads time. Raises ``ValueError`` (or ``UnknownCurrency``) for facts Stripe
    would reject: an unknown currency, a line with an empty period, ``discountable=True`` on a
    proration, more than five tax rates on a line.
    """
    currency = facts.currency
    exponent(currency)  # raises UnknownCurrency
    priced = [_price(line) for line in facts.lines]
    discountable = [_discountable(line, item.amount) for line, item in zip(facts.lines, priced, strict=True)]

    own_discounts = [
        apply_line_discounts(item.amount, line.product_id, line.discounts, currency, as_of)
        for line, item in zip(facts.lines, priced, strict=True)
    ]
    targets = [
        DiscountTarget(
            amount=item.amount - sum(discount.amount for discount in own),
            product_id=line.product_id,
            discountable=can_discount,
        )
        for line, item, own, can_discount in zip(
            facts.lines, priced, own_discounts, discountable, strict=True
        )
    ]
    invoice_shares = apply_invoice_discounts(targets, facts.invoice_discounts, currency, as_of)

    lines: list[DraftLine] = []
    for index, line in enumerate(facts.lines):
        shares = invoice_shares[index]
        after_discounts = targets[index].amount - sum(share.amount for share in shares)
        rates = tax_rates_for_line(line.tax_rates, facts.default_tax_rates)
        lines.append(
            _draft_line(
                line,
                priced[index],
                discountable[index],
                own_discounts[index] + shares,
                compute_line_taxes(after_discounts, rates),
            )
        )
    return _totals(facts, as_of, tuple(lines))


def _price(line: LineInput) -> _Priced:
    # Usage in arrears may cover a single instant (reported in the second its subscription started and ended).
    instant = isinstance(line, SubscriptionItemLine) and line.usage_type == "metered"
    if line.period_end < line.period_start or (line.period_end == line.period_start and not instant):
        raise ValueError(f"line {line.id} has an empty period [{line.period_start}, {line.period_end})")
    if isinstance(line, PendingItemLine):
        return _Priced(
            amount=line.amount,
            exact_amount=Decimal(line.amount),
            pricing_model=None,
            unit_amount_decimal=line.unit_amount_decimal,
            billed_quantity=line.quantity,
            tiers=(),
        )
    result = rate(line.spec, line.quantity)
    amount, exact = result.amount, result.exact_amount
    fraction = line.proration_fraction
    if fraction is not None:
        # Prorate the unrounded amount, round once (proration.prorate).
        prorated = prorate(result.exact_amount, 0, fraction.denominator, 0, fraction.numerator)
        amount, exact = prorated.amount, prorated.exact
    if line.credit:
        amount, exact = -amount, exact.copy_negate()  # copy_negate is exact; unary minus rounds
    tiered = result.model in (PricingModel.GRADUATED, PricingModel.VOLUME)
    return _Priced(
        amount=amount,
        exact_amount=exact,
        pricing_model=result.model,
        unit_amount_decimal=None if tiered else line.spec.unit_amount_decimal,
        billed_quantity=result.billed_quantity,
        tiers=result.breakdown,
    )


def _discountable(line: LineInput, amount: int) -> bool:
    """Stripe's ``discountable``: false by default for prorations and negative amounts."""
    if line.discountable is None:
        return not (line.proration or amount < 0)
    if line.discountable and line.proration:
        raise ValueError(f"line {line.id}: discountable cannot be true for a proration")
    return line.discountable


def _draft_line(
    line: LineInput,
    priced: _Priced,
    discountable: bool,
    discount_amounts: tuple[AppliedDiscount, ...],
    taxes: tuple[LineTax, ...],
) -> DraftLine:
    is_item = isinstance(line, SubscriptionItemLine)
    return DraftLine(
        id=line.id,
        type="subscription" if is_item else "invoiceitem",
        description=line.description,
        price_id=line.price_id,
        product_id=line.product_id,
        subscription_id=line.subscription_id,
        quantity=line.quantity,
        quantity_source=line.quantity_source,
        usage_type=line.usage_type if isinstance(line, SubscriptionItemLine) else None,
        pricing_model=priced.pricing_model,
        unit_amount_decimal=priced.unit_amount_decimal,
        billed_quantity=priced.billed_quantity,
        tiers=priced.tiers,
        period_start=line.period_start,
        period_end=line.period_end,
        proration=line.proration,
        proration_fraction=line.proration_fraction,
        exact_amount=priced.exact_amount,
        amount=priced.amount,
        discountable=discountable,
        discount_amounts=discount_amounts,
        taxes=taxes,
    )


def _totals(facts: InvoiceFacts, as_of: int, lines: tuple[DraftLine, ...]) -> InvoiceDraft:
    amounts = sum(line.amount for line in lines)
    line_level = sum(d.amount for line in lines for d in line.discount_amounts if d.level == "line")
    invoice_level = sum(d.amount for line in lines for d in line.discount_amounts if d.level == "invoice")
    inclusive_tax = sum(line.inclusive_tax for line in lines)
    exclusive_tax = sum(line.exclusive_tax for line in lines)

    subtotal = amounts - line_level
    total = subtotal - invoice_level + exclusive_tax
    starting_balance = facts.customer_balance
    amount_due = max(0, total + starting_balance)
    applied_balance = amount_due - total
    return InvoiceDraft(
        currency=facts.currency,
        as_of=as_of,
        period_start=facts.period_start,
        period_end=facts.period_end,
        lines=lines,
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal - inclusive_tax,
        total_discount_amounts=_discount_totals(lines),
        total_excluding_tax=amounts - line_level - invoice_level - inclusive_tax,
        total_taxes=_tax_totals(lines),
        total=total,
        starting_balance=starting_balance,
        ending_balance=starting_balance - applied_balance,
        amount_due=amount_due,
        applied_balance=applied_balance,
    )


def _discount_totals(lines: Sequence[DraftLine]) -> tuple[DiscountAmount, ...]:
    """Per discount id: line-level discounts in line order first, then the invoice-level ones."""
    totals: dict[str, int] = {}
    for level in ("line", "invoice"):
        for line in lines:
            for discount in line.discount_amounts:
                if discount.level == level:
                    totals[discount.discount_id] = totals.get(discount.discount_id, 0) + discount.amount
    return tuple(DiscountAmount(discount_id, amount) for discount_id, amount in totals.items())


def _tax_totals(lines: Sequence[DraftLine]) -> tuple[TaxAmount, ...]:
    """Per tax rate, in the order the rates first appear on the lines."""
    totals: dict[str, TaxAmount] = {}
    for line in lines:
        for tax in line.taxes:
            seen = totals.get(tax.tax_rate_id)
            totals[tax.tax_rate_id] = TaxAmount(
                tax_rate_id=tax.tax_rate_id,
                amount=tax.amount + (seen.amount if seen else 0),
                inclusive=tax.inclusive,
                taxable_amount=tax.taxable_amount + (seen.taxable_amount if seen else 0),
                percentage=tax.percentage,
                display_name=tax.display_name,
            )
    return tuple(totals.values())
