"""Discounts: what a coupon takes off each invoice line, in order, to the minor unit.

Why this module exists: a discount is part of every line's lineage ("20% off (coupon ADV20)
-217.16 USD"), and an amount-off coupon spread over several lines must not create or lose a cent.
Both the bill run and the preview call these functions through ``invoice.generate``.

Rules (each with its source):

* A coupon has either ``percent_off`` or ``amount_off`` (with its ``currency``). "percent_off ...
  a coupon with percent_off of 50 will make a $100 invoice $50 instead"; "amount_off: Amount
  (in the currency specified) that will be taken off the subtotal". An amount-off never takes
  more than there is: "an invoice with a subtotal of $100 will have a final total of $0 if a
  coupon with an amount_off of $200 is applied to it".
  https://docs.stripe.com/api/coupons/object
* "Line item discounts are applied before invoice discounts."
  https://docs.stripe.com/api/invoice-line-item/object#invoice_line_item_object-discounts
  Within each level discounts apply in the order given, each to what the previous ones left, so
  no discount can take a line below zero.
* ``applies_to.products`` "limits the items in an invoice that the coupon can apply to".
  https://docs.stripe.com/billing/subscriptions/coupons
* A coupon's ``currency_options`` hold its amount-off in other currencies ("Coupons defined in each
  available currency option"). An amount-off coupon whose currency is not the invoice's and that
  has no option for it does not apply (it cannot be converted: Billfold never converts money).
  https://docs.stripe.com/api/coupons/object#coupon_object-currency_options
* Invoice-level discounts apply only to lines that are ``discountable``: "Defaults to false for
  prorations or negative invoice items, and true for all other invoice items" and, for line
  items, "Always false for prorations".
  https://docs.stripe.com/api/invoiceitems/create#create_invoiceitem-discountable,
  https://docs.stripe.com/api/invoice-line-item/object#invoice_line_item_object-discountable and
  https://docs.stripe.com/changelog/2015-03-24 ("coupons no longer apply to invoice items with
  negative amounts"). Our reading: ``discountable`` gates the invoice-level discounts; a line's
  own discounts (for a proration, those of the subscription item it prorates) always apply, and
  on a negative line (a credit) they are the mirror image of the same discount on the magnitude,
  so a credit and the debit it reverses net to zero.
* Rounding: a percent-off is ``round(amount x percent_off / 100)`` per line, once, with
  ``money.round_minor``. An invoice-level amount-off is capped at the sum of the eligible lines'
  remaining amounts and split across them in proportion to those amounts with ``money.allocate``
  (largest remainder): the shares add up to exactly the capped amount and no share exceeds its
  line. A line-level amount-off takes ``min(amount_off, remaining)``.
* A discount with ``start``/``end`` applies to an invoice generated at ``as_of`` when
  ``start <= as_of < end`` (either bound may be absent). https://docs.stripe.com/api/discounts/object
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Final, Literal

from billfold.core.money import allocate, exact_context, round_minor
from billfold.core.values import value_type

__all__ = [
    "AppliedDiscount",
    "Coupon",
    "Discount",
    "DiscountLevel",
    "DiscountTarget",
    "allocate_amount_off",
    "apply_invoice_discounts",
    "apply_line_discounts",
    "percent_off_amount",
]

DiscountLevel = Literal["line", "invoice"]

_HUNDRED: Final = Decimal(100)


@value_type
class Coupon:
    """The terms of a discount: a percentage or an amount (minor units of ``currency``) off.

    ``currency_options`` pairs a currency with the coupon's amount-off in it.
    ``applies_to_products`` of ``None`` means every product.
    """

    id: str
    percent_off: Decimal | None = None
    amount_off: int | None = None
    currency: str | None = None
    currency_options: tuple[tuple[str, int], ...] = ()
    applies_to_products: tuple[str, ...] | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("a coupon needs exactly one of percent_off and amount_off")
        if self.percent_off is not None:
            if not isinstance(self.percent_off, Decimal):
                raise TypeError("percent_off must be a Decimal")
            if not self.percent_off.is_finite() or not 0 < self.percent_off <= _HUNDRED:
                raise ValueError(f"percent_off must be in (0, 100], got {self.percent_off}")
            if self.currency_options:
                raise ValueError("currency_options are only supported with amount_off")
        if self.amount_off is not None:
            if isinstance(self.amount_off, bool) or self.amount_off <= 0:
                raise ValueError(f"amount_off must be a positive integer, got {self.amount_off}")
            if not self.currency:
                raise ValueError("an amount_off coupon needs a currency")
            for code, amount in self.currency_options:
                if isinstance(amount, bool) or amount <= 0:
                    raise ValueError(f"currency_options[{code}] amount_off must be positive, got {amount}")

    def amount_off_in(self, currency: str) -> int | None:
        """The amount off in ``currency``, from ``amount_off`` or ``currency_options``; else ``None``."""
        if self.amount_off is None:
            return None
        if self.currency == currency:
            return self.amount_off
        for code, amount in self.currency_options:
            if code == currency:
                return amount
        return None

    def applies_to_product(self, product_id: str | None) -> bool:
        """Whether a line for ``product_id`` is eligible (``applies_to.products``)."""
        if self.applies_to_products is None:
            return True
        return product_id is not None and product_id in self.applies_to_products


@value_type
class Discount:
    """A coupon applied to a customer, subscription, item or invoice (Stripe's ``di_`` object)."""

    id: str
    coupon: Coupon
    start: int | None = None
    end: int | None = None

    def is_active(self, as_of: int) -> bool:
        """Whether the discount is in effect at second ``as_of`` (``start <= as_of < end``)."""
        return (self.start is None or self.start <= as_of) and (self.end is None or as_of < self.end)


@value_type
class AppliedDiscount:
    """One discount's amount on one line, with what it was: lineage for the line.

    ``amount_off`` is the coupon's amount-off in the invoice's currency (the whole coupon, not the
    line's share); ``amount`` is what this discount took off this line (negative on a credit).
    """

    discount_id: str
    coupon_id: str
    coupon_name: str | None
    level: DiscountLevel
    percent_off: Decimal | None
    amount_off: int | None
    amount: int


@value_type
class DiscountTarget:
    """A line as the invoice-level discounts see it: its amount left after line-level discounts."""

    amount: int
    product_id: str | None
    discountable: bool = True


def percent_off_amount(amount: int, percent_off: Decimal) -> int:
    """``round(amount x percent_off / 100)``: the one rounding of a percent-off on one line."""
    with localcontext(exact_context()):
        return round_minor(Decimal(amount) * percent_off / _HUNDRED)


def allocate_amount_off(amount_off: int, amounts: Sequence[int]) -> tuple[int, ...]:
    """Split an amount-off over lines in proportion to their amounts, never past what they hold.

    The amount taken is ``min(amount_off, sum of the positive amounts)``; lines with an amount of
    zero or less get nothing. Shares add up to exactly the amount taken (``money.allocate``), and
    each share is at most its line's amount: a share is the floor of an exact share no larger than
    the line, plus one only when that exact share had a fraction, so it stays within the line.
    """
    if amount_off < 0:
        raise ValueError(f"amount_off must not be negative, got {amount_off}")
    weights = [max(amount, 0) for amount in amounts]
    available = sum(weights)
    if not weights:
        return ()
    if available == 0:
        return tuple(0 for _ in weights)
    return allocate(min(amount_off, available), weights)


def apply_line_discounts(
    amount: int,
    product_id: str | None,
    discounts: Sequence[Discount],
    currency: str,
    as_of: int,
) -> tuple[AppliedDiscount, ...]:
    """A line's own discounts, in order, each on what the previous ones left.

    On a negative amount (a credit) each discount is the mirror image of the same discount on the
    magnitude. Discounts that are not active at ``as_of``, not for this product, or an amount-off
    without an amount in ``currency`` are left out.
    """
    sign = -1 if amount < 0 else 1
    remaining = abs(amount)
    applied: list[AppliedDiscount] = []
    for discount in discounts:
        coupon = discount.coupon
        if not _applicable(discount, currency, as_of) or not coupon.applies_to_product(product_id):
            continue
        amount_off = coupon.amount_off_in(currency)
        if coupon.percent_off is not None:
            share = percent_off_amount(remaining, coupon.percent_off)
        else:
            assert amount_off is not None  # _applicable checked it
            share = min(amount_off, remaining)
        remaining -= share
        applied.append(_applied(discount, "line", amount_off, sign * share))
    return tuple(applied)


def apply_invoice_discounts(
    targets: Sequence[DiscountTarget],
    discounts: Sequence[Discount],
    currency: str,
    as_of: int,
) -> tuple[tuple[AppliedDiscount, ...], ...]:
    """The invoice-level discounts, in order, as per-line shares (one tuple per target, same order).

    A line is eligible for a discount when it is discountable, its product is one the coupon
    applies to, and something is left of it (amount > 0). A percent-off rounds per line; an
    amount-off is allocated across the eligible lines (``allocate_amount_off``). Each discount
    sees what the previous ones left. Every eligible line gets an entry, even a zero share.
    """
    remaining = [target.amount for target in targets]
    applied: list[list[AppliedDiscount]] = [[] for _ in targets]
    for discount in discounts:
        if not _applicable(discount, currency, as_of):
            continue
        coupon = discount.coupon
        eligible = [
            index
            for index, target in enumerate(targets)
            if target.discountable and coupon.applies_to_product(target.product_id) and remaining[index] > 0
        ]
        if not eligible:
            continue
        amount_off = coupon.amount_off_in(currency)
        if coupon.percent_off is not None:
            percent_off = coupon.percent_off
            shares = tuple(percent_off_amount(remaining[index], percent_off) for index in eligible)
        else:
            assert amount_off is not None  # _applicable checked it
            shares = allocate_amount_off(amount_off, [remaining[index] for index in eligible])
        for index, share in zip(eligible, shares, strict=True):
            remaining[index] -= share
            applied[index].append(_applied(discount, "invoice", amount_off, share))
    return tuple(tuple(line) for line in applied)


def _applicable(discount: Discount, currency: str, as_of: int) -> bool:
    if not discount.is_active(as_of):
        return False
    coupon = discount.coupon
    return coupon.percent_off is not None or coupon.amount_off_in(currency) is not None


def _applied(
    discount: Discount, level: DiscountLevel, amount_off: int | None, amount: int
) -> AppliedDiscount:
    coupon = discount.coupon
    return AppliedDiscount(
        discount_id=discount.id,
        coupon_id=coupon.id,
        coupon_name=coupon.name,
        level=level,
        percent_off=coupon.percent_off,
        amount_off=amount_off,
        amount=amount,
    )
