"""Discounts: Stripe's coupon examples, the reference customer's line discount, then allocation properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billfold.core.discounts import (
    AppliedDiscount,
    Coupon,
    Discount,
    DiscountTarget,
    allocate_amount_off,
    apply_invoice_discounts,
    apply_line_discounts,
    percent_off_amount,
)
from billfold.core.invoice import InvoiceFacts, PendingItemLine, generate

DAY = 86_400


def item(item_id: str, amount: int, product_id: str | None = None, **kwargs: object) -> PendingItemLine:
    return PendingItemLine(item_id, item_id, amount, 0, 30 * DAY, product_id=product_id, **kwargs)  # type: ignore[arg-type]


def invoice(
    lines: tuple[PendingItemLine, ...], discounts: tuple[Discount, ...], currency: str = "usd"
) -> InvoiceFacts:
    return InvoiceFacts(currency, 0, 0, 30 * DAY, lines, invoice_discounts=discounts)


def percent(coupon_id: str, pct: str, **kwargs: object) -> Discount:
    return Discount(f"di_{coupon_id}", Coupon(coupon_id, percent_off=Decimal(pct), **kwargs))  # type: ignore[arg-type]


def amount_off(coupon_id: str, amount: int, currency: str = "usd", **kwargs: object) -> Discount:
    return Discount(f"di_{coupon_id}", Coupon(coupon_id, amount_off=amount, currency=currency, **kwargs))  # type: ignore[arg-type]


# --- Stripe's examples ------------------------------------------------------------------------------


def test_percent_off_50_makes_a_100_invoice_50() -> None:
    """https://docs.stripe.com/api/coupons/object (percent_off): "a coupon with percent_off of 50 will make
    a $100 invoice $50 instead"."""
    draft = generate(invoice((item("ii_1", 10000),), (percent("HALF", "50"),)), as_of=0)
    assert draft.total == 5000
    assert draft.total_discount_amounts[0].amount == 5000


@pytest.mark.parametrize(("subtotal", "total"), [(10000, 0), (30000, 10000)])
def test_amount_off_200_never_takes_more_than_the_subtotal(subtotal: int, total: int) -> None:
    """https://docs.stripe.com/api/coupons/create: "an invoice with a subtotal of $100 will have a final
    total of $0 if a coupon with an amount_off of $200 is applied to it and an invoice with a subtotal of
    $300 will have a final total of $100 if a coupon with an amount_off of $200 is applied to it."
    """
    draft = generate(invoice((item("ii_1", subtotal),), (amount_off("TWOHUNDRED", 20000),)), as_of=0)
    assert draft.subtotal == subtotal
    assert draft.total == total


# --- the reference customer -----------------------------------------------------------------------


def test_twenty_percent_off_advanced_seats_only() -> None:
    """A sales-led quote: 20% off Advanced seats for 12 months. 20 x 99 USD = 1,980.00 USD -> -396.00 USD;
    the Copilot add-on on the same invoice is not discounted."""
    adv20 = percent("ADV20", "20", applies_to_products=("prod_advanced",))
    seats = item("ii_seats", 198000, "prod_advanced", discounts=(adv20,))
    copilot = item("ii_copilot", 70000, "prod_copilot", discounts=(adv20,))
    draft = generate(invoice((seats, copilot), ()), as_of=0)
    assert [line.discount_amount for line in draft.lines] == [39600, 0]
    assert draft.lines[1].discount_amounts == ()
    assert draft.subtotal == 198000 - 39600 + 70000  # line discounts are inside the subtotal
    assert draft.total == draft.subtotal


# --- order and levels -----------------------------------------------------------------------------


def test_line_discounts_apply_before_invoice_discounts() -> None:
    """https://docs.stripe.com/api/invoice-line-item/object: "Line item discounts are applied before
    invoice discounts." 10,000 -20% (line) = 8,000; -10% (invoice) of 8,000 = 800."""
    line = item("ii_1", 10000, discounts=(percent("LINE20", "20"),))
    draft = generate(invoice((line,), (percent("INV10", "10"),)), as_of=0)
    applied = draft.lines[0].discount_amounts
    assert [(d.coupon_id, d.level, d.amount) for d in applied] == [
        ("LINE20", "line", 2000),
        ("INV10", "invoice", 800),
    ]
    assert draft.subtotal == 8000
    assert draft.total == 7200


def test_discounts_at_one_level_apply_in_order_to_what_is_left() -> None:
    applied = apply_line_discounts(
        10000, None, (amount_off("FIVE", 500), percent("TEN", "10"), amount_off("BIG", 100000)), "usd", 0
    )
    assert [d.amount for d in applied] == [500, 950, 8550]  # never below zero


def test_percent_off_rounds_once_per_line_half_away_from_zero() -> None:
    assert percent_off_amount(1085_81, Decimal(20)) == 217_16  # 217.162
    assert percent_off_amount(25, Decimal(10)) == 3  # 2.5 -> 3
    assert percent_off_amount(-25, Decimal(10)) == -3
    assert percent_off_amount(999, Decimal("12.5")) == 125  # 124.875


def test_invoice_percent_off_rounds_per_line() -> None:
    # three lines of 0.05 at 10%: each 0.005 -> 0.01 (rounded per line), not 0.015 -> 0.02 on the sum
    lines = tuple(item(f"ii_{i}", 5) for i in range(3))
    draft = generate(invoice(lines, (percent("TEN", "10"),)), as_of=0)
    assert [line.discount_amount for line in draft.lines] == [1, 1, 1]


def test_invoice_amount_off_is_allocated_pro_rata() -> None:
    lines = (item("ii_a", 10000, "prod_a"), item("ii_b", 20000, "prod_b"), item("ii_c", 10000, "prod_c"))
    draft = generate(invoice(lines, (amount_off("TEN", 1000),)), as_of=0)
    assert [line.discount_amount for line in draft.lines] == [250, 500, 250]
    assert [d.amount_off for line in draft.lines for d in line.discount_amounts] == [1000, 1000, 1000]
    assert draft.total == 39000


def test_amount_off_respects_applies_to() -> None:
    coupon = amount_off("ADVONLY", 5000, applies_to_products=("prod_advanced",))
    lines = (item("ii_adv", 3000, "prod_advanced"), item("ii_ess", 9000, "prod_essential"))
    draft = generate(invoice(lines, (coupon,)), as_of=0)
    assert [line.discount_amount for line in draft.lines] == [3000, 0]
    assert draft.total_discount_amounts[0].amount == 3000


def test_a_line_without_a_product_is_not_eligible_for_a_restricted_coupon() -> None:
    coupon = Coupon("R", percent_off=Decimal(10), applies_to_products=("prod_a",))
    assert not coupon.applies_to_product(None)
    assert Coupon("ANY", percent_off=Decimal(10)).applies_to_product(None)


# --- currencies -----------------------------------------------------------------------------------


def test_amount_off_in_another_currency_uses_its_currency_option() -> None:
    """https://docs.stripe.com/api/coupons/object#coupon_object-currency_options"""
    coupon = amount_off("WELCOME", 5000, currency="eur", currency_options=(("usd", 5500), ("gbp", 4300)))
    draft = generate(invoice((item("ii_1", 10000),), (coupon,)), as_of=0)
    assert draft.lines[0].discount_amounts[0].amount == 5500
    assert draft.lines[0].discount_amounts[0].amount_off == 5500


def test_amount_off_without_the_invoice_currency_does_not_apply() -> None:
    coupon = amount_off("EURONLY", 5000, currency="eur")
    draft = generate(invoice((item("ii_1", 10000, discounts=(coupon,)),), (coupon,)), as_of=0)
    assert draft.lines[0].discount_amounts == ()
    assert draft.total_discount_amounts == ()
    assert draft.total == 10000


def test_percent_off_applies_in_any_currency() -> None:
    draft = generate(invoice((item("ii_1", 1000),), (percent("TEN", "10"),), currency="jpy"), as_of=0)
    assert draft.total == 900


# --- eligibility: discountable, negative lines, dates -------------------------------------------------


def test_prorations_and_credits_are_not_discountable_by_default() -> None:
    """https://docs.stripe.com/api/invoiceitems/create#create_invoiceitem-discountable: "Defaults to false
    for prorations or negative invoice items, and true for all other invoice items."""
    lines = (
        item("ii_regular", 10000),
        item("ii_proration", 5000, proration=True),
        item("ii_credit", -3000),
        item("ii_opt_out", 10000, discountable=False),
    )
    draft = generate(invoice(lines, (percent("TEN", "10"),)), as_of=0)
    assert [line.discountable for line in draft.lines] == [True, False, False, False]
    assert [line.discount_amount for line in draft.lines] == [1000, 0, 0, 0]


def test_a_proration_cannot_be_made_discountable() -> None:
    """Same page (update): "Cannot be set to true for prorations"."""
    with pytest.raises(ValueError, match="proration"):
        generate(invoice((item("ii_p", 5000, proration=True, discountable=True),), ()), as_of=0)


def test_a_credit_gets_the_mirror_image_of_its_own_discounts() -> None:
    discounts = (percent("ADV20", "20"), amount_off("FIVE", 500))
    debit = apply_line_discounts(108581, None, discounts, "usd", 0)
    credit = apply_line_discounts(-108581, None, discounts, "usd", 0)
    assert [d.amount for d in debit] == [21716, 500]
    assert [d.amount for d in credit] == [-21716, -500]


@pytest.mark.parametrize(
    ("start", "end", "as_of", "applies"),
    [
        (None, None, 100, True),
        (100, None, 100, True),
        (101, None, 100, False),
        (None, 100, 99, True),
        (None, 100, 100, False),  # end is exclusive
    ],
)
def test_a_discount_applies_between_its_start_and_end(
    start: int | None, end: int | None, as_of: int, applies: bool
) -> None:
    discount = Discount("di_1", Coupon("C", percent_off=Decimal(10)), start=start, end=end)
    draft = generate(invoice((item("ii_1", 1000),), (discount,)), as_of=as_of)
    assert draft.total == (900 if applies else 1000)


# --- coupon validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"percent_off": Decimal(10), "amount_off": 100, "currency": "usd"},
        {"percent_off": Decimal(0)},
        {"percent_off": Decimal("100.01")},
        {"amount_off": 0, "currency": "usd"},
        {"amount_off": 100},
        {"amount_off": 100, "currency": "usd", "currency_options": (("eur", 0),)},
        {"percent_off": Decimal(10), "currency_options": (("eur", 100),)},
    ],
)
def test_invalid_coupons_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Coupon("bad", **kwargs)  # type: ignore[arg-type]


def test_a_float_percent_off_is_rejected() -> None:
    with pytest.raises(TypeError):
        Coupon("bad", percent_off=10.5)  # type: ignore[arg-type]


# --- allocation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_off_", "amounts", "shares"),
    [
        (1000, [10000, 20000, 10000], (250, 500, 250)),
        (100, [1, 1, 1], (1, 1, 1)),  # capped at what the lines hold
        (1, [1, 1], (1, 0)),  # a tie goes to the first line
        (10, [3, 0, -5, 7], (3, 0, 0, 7)),  # zero and negative lines get nothing
        (10, [0, 0], (0, 0)),
        (10, [], ()),
        (100, [333, 333, 334], (33, 33, 34)),
    ],
)
def test_allocate_amount_off_examples(amount_off_: int, amounts: list[int], shares: tuple[int, ...]) -> None:
    assert allocate_amount_off(amount_off_, amounts) == shares


@given(
    st.integers(min_value=0, max_value=10**10),
    st.lists(st.integers(min_value=-(10**9), max_value=10**9), min_size=1, max_size=20),
)
def test_allocation_never_creates_or_loses_a_unit_and_never_exceeds_a_line(
    amount_off_: int, amounts: list[int]
) -> None:
    shares = allocate_amount_off(amount_off_, amounts)
    available = sum(max(a, 0) for a in amounts)
    assert sum(shares) == min(amount_off_, available)
    for share, amount in zip(shares, amounts, strict=True):
        assert 0 <= share <= max(amount, 0)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-(10**7), max_value=10**7), st.sampled_from(["a", "b", None]), st.booleans()
        ),
        min_size=1,
        max_size=10,
    ),
    st.lists(
        st.one_of(
            st.decimals(min_value=Decimal("0.01"), max_value=100, places=2).map(
                lambda pct: Coupon("P", percent_off=pct, applies_to_products=("a",))
            ),
            st.decimals(min_value=Decimal("0.01"), max_value=100, places=2).map(
                lambda pct: Coupon("Q", percent_off=pct)
            ),
            st.integers(min_value=1, max_value=10**8).map(
                lambda a: Coupon("A", amount_off=a, currency="usd")
            ),
        ),
        max_size=4,
    ),
)
def test_invoice_discounts_never_take_a_line_below_zero(
    targets_spec: list[tuple[int, str | None, bool]], coupons: list[Coupon]
) -> None:
    targets = [
        DiscountTarget(amount, product, discountable) for amount, product, discountable in targets_spec
    ]
    discounts = [Discount(f"di_{i}", coupon) for i, coupon in enumerate(coupons)]
    per_line = apply_invoice_discounts(targets, discounts, "usd", 0)
    assert len(per_line) == len(targets)
    for target, applied in zip(targets, per_line, strict=True):
        taken = sum(d.amount for d in applied)
        assert all(d.amount >= 0 for d in applied)
        if not target.discountable or target.amount <= 0:
            assert applied == ()
        else:
            assert 0 <= taken <= target.amount
    if len(coupons) == 1 and coupons[0].amount_off is not None:
        # a single amount-off takes exactly min(amount_off, what the eligible lines hold)
        eligible = sum(t.amount for t in targets if t.discountable and t.amount > 0)
        taken = sum(d.amount for applied in per_line for d in applied)
        assert taken == min(coupons[0].amount_off, eligible)


@given(
    st.integers(min_value=-(10**9), max_value=10**9),
    st.lists(
        st.one_of(
            st.decimals(min_value=Decimal("0.01"), max_value=100, places=2).map(
                lambda p: Coupon("P", percent_off=p)
            ),
            st.integers(min_value=1, max_value=10**8).map(
                lambda a: Coupon("A", amount_off=a, currency="usd")
            ),
        ),
        max_size=4,
    ),
)
def test_line_discounts_stay_within_the_line_and_mirror_for_credits(
    amount: int, coupons: list[Coupon]
) -> None:
    discounts = [Discount(f"di_{i}", coupon) for i, coupon in enumerate(coupons)]
    debit = apply_line_discounts(abs(amount), None, discounts, "usd", 0)
    credit = apply_line_discounts(-abs(amount), None, discounts, "usd", 0)
    assert 0 <= sum(d.amount for d in debit) <= abs(amount)
    assert [d.amount for d in credit] == [-d.amount for d in debit]
    assert all(isinstance(d, AppliedDiscount) and d.level == "line" for d in debit)
