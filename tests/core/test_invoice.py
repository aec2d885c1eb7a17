"""The invoice generator: Stripe's examples, the reference customer's invoices, then the properties that make a
preview equal the charge (totals add up, determinism, prorations that split and net to zero)."""

from __future__ import annotations

import calendar
import itertools
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billfold.core.discounts import Coupon, Discount
from billfold.core.invoice import (
    DiscountAmount,
    DraftLine,
    InvoiceDraft,
    InvoiceFacts,
    LineInput,
    PendingItemLine,
    ProrationFraction,
    SubscriptionItemLine,
    TaxAmount,
    generate,
)
from billfold.core.money import UnknownCurrency
from billfold.core.pricing import PriceSpec, PricingModel, Tier
from billfold.core.proration import charge_remaining, credit_unused
from billfold.core.tax import TaxRate

DAY = 86_400


def ts(year: int, month: int, day: int, hour: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, 0, 0))


def per_unit(unit: int | str) -> PriceSpec:
    return PriceSpec("per_unit", unit_amount_decimal=Decimal(unit))


# The reference customer's catalogue (USD prices are public; the message tiers are ours).
ADVANCED = per_unit(9900)
AI_RESOLUTION = per_unit(99)
PROACTIVE_MESSAGES = PriceSpec(
    "tiered",
    tiers_mode="graduated",
    tiers=(
        Tier(up_to=500, unit_amount_decimal=Decimal(0), flat_amount_decimal=Decimal(9900)),
        Tier(up_to=5000, unit_amount_decimal=Decimal(10)),
        Tier(up_to=None, unit_amount_decimal=Decimal(5)),
    ),
)
ADV20 = Discount("di_adv20", Coupon("ADV20", percent_off=Decimal(20), applies_to_products=("prod_advanced",)))
DE_VAT = TaxRate("txr_de", Decimal(19), inclusive=False, display_name="VAT", jurisdiction="DE")
UK_VAT = TaxRate("txr_uk", Decimal(20), inclusive=True, display_name="VAT", jurisdiction="GB")

OCT1, NOV1, NOV14, DEC1 = ts(2025, 10, 1), ts(2025, 11, 1), ts(2025, 11, 14), ts(2025, 12, 1)


def seats(quantity: int, **kwargs: object) -> SubscriptionItemLine:
    fields: dict[str, object] = {
        "id": "si_advanced",
        "price_id": "price_advanced_monthly",
        "product_id": "prod_advanced",
        "description": "Advanced seat",
        "spec": ADVANCED,
        "quantity": quantity,
        "period_start": NOV1,
        "period_end": DEC1,
        "quantity_source": "seats",
    }
    fields.update(kwargs)
    return SubscriptionItemLine(**fields)  # type: ignore[arg-type]


def facts(lines: tuple[LineInput, ...], **kwargs: object) -> InvoiceFacts:
    fields: dict[str, object] = {
        "currency": "usd",
        "customer_balance": 0,
        "period_start": NOV1,
        "period_end": DEC1,
        "lines": lines,
    }
    fields.update(kwargs)
    return InvoiceFacts(**fields)  # type: ignore[arg-type]


def assert_totals_add_up(draft: InvoiceDraft) -> None:
    """Stripe's definitions (https://docs.stripe.com/api/invoices/object), as identities over the lines."""
    lines = draft.lines
    amounts = sum(line.amount for line in lines)
    line_level = sum(d.amount for line in lines for d in line.discount_amounts if d.level == "line")
    invoice_level = sum(d.amount for line in lines for d in line.discount_amounts if d.level == "invoice")
    inclusive = sum(t.amount for line in lines for t in line.taxes if t.inclusive)
    exclusive = sum(t.amount for line in lines for t in line.taxes if not t.inclusive)
    assert draft.subtotal == amounts - line_level
    assert draft.subtotal_excluding_tax == draft.subtotal - inclusive
    assert draft.total == draft.subtotal - invoice_level + exclusive
    assert draft.total == sum(line.total for line in lines)
    assert draft.total_excluding_tax == draft.total - draft.tax
    assert draft.total_excluding_tax == draft.subtotal_excluding_tax - invoice_level
    assert sum(d.amount for d in draft.total_discount_amounts) == line_level + invoice_level
    assert sum(t.amount for t in draft.total_taxes) == inclusive + exclusive
    assert len({t.tax_rate_id for t in draft.total_taxes}) == len(draft.total_taxes)
    for total_tax in draft.total_taxes:
        per_line = [t for line in lines for t in line.taxes if t.tax_rate_id == total_tax.tax_rate_id]
        assert total_tax.amount == sum(t.amount for t in per_line)
        assert total_tax.taxable_amount == sum(t.taxable_amount for t in per_line)
    # the customer balance
    assert draft.amount_due >= 0
    assert draft.amount_due == max(0, draft.total + draft.starting_balance)
    assert draft.amount_due == draft.total + draft.applied_balance
    assert draft.ending_balance == draft.starting_balance - draft.applied_balance
    # no discount ever takes a line across zero
    for line in lines:
        after = line.amount_after_discounts
        assert (0 <= after <= line.amount) if line.amount >= 0 else (line.amount <= after <= 0)


# --- Stripe's examples ------------------------------------------------------------------------------


def test_upgrade_from_10_to_20_usd_halfway_bills_5_usd() -> None:
    """https://docs.stripe.com/billing/subscriptions/prorations: "If a customer upgrades from a 10 USD monthly
    plan to a 20 USD option halfway through the billing period, the customer is billed an additional 5 USD":
    "Unused time on original 10 USD plan (credit) -5 USD", "Remaining time on new 20 USD plan (debit) +10 USD".
    """
    april1, april16, may1 = ts(2024, 4, 1), ts(2024, 4, 16), ts(2024, 5, 1)
    half = ProrationFraction(may1 - april16, may1 - april1)
    common = {"product_id": "prod_basic", "quantity": 1, "period_start": april16, "period_end": may1}
    unused = SubscriptionItemLine(
        "si_1",
        "price_10",
        description="Basic",
        spec=per_unit(1000),
        proration=True,
        proration_fraction=half,
        credit=True,
        **common,  # type: ignore[arg-type]
    )
    remaining = SubscriptionItemLine(
        "si_1",
        "price_20",
        description="Pro",
        spec=per_unit(2000),
        proration=True,
        proration_fraction=half,
        **common,  # type: ignore[arg-type]
    )
    draft = generate(facts((unused, remaining), period_start=april1, period_end=may1), as_of=april16)
    assert [line.amount for line in draft.lines] == [-500, 1000]
    assert draft.total == draft.amount_due == 500
    assert [line.proration for line in draft.lines] == [True, True]
    assert draft.lines[0].proration_fraction == ProrationFraction(15 * DAY, 30 * DAY)


def test_the_same_upgrade_as_pending_invoice_items() -> None:
    """The same example when the change created pending invoice items (proration.credit_unused and
    charge_remaining) that the next invoice picks up."""
    april1, april16, may1 = ts(2024, 4, 1), ts(2024, 4, 16), ts(2024, 5, 1)
    credit = credit_unused(1000, april1, may1, april16)
    charge = charge_remaining(2000, april1, may1, april16)
    lines = (
        PendingItemLine(
            "ii_1", "Unused time on Basic after Apr 16", credit.amount, april16, may1, proration=True
        ),
        PendingItemLine(
            "ii_2", "Remaining time on Pro after Apr 16", charge.amount, april16, may1, proration=True
        ),
    )
    draft = generate(facts(lines, period_start=april1, period_end=may1), as_of=april16)
    assert draft.total == 500
    assert all(not line.discountable for line in draft.lines)


def test_negative_total_goes_to_the_customer_balance() -> None:
    """A downgrade's credit larger than the charge: "Negative prorations aren't automatically refunded"
    (https://docs.stripe.com/billing/subscriptions/prorations); they "reduce the amount due on the next
    invoice" (https://docs.stripe.com/billing/customer/balance)."""
    lines = (PendingItemLine("ii_1", "Unused time on Pro", -1000, NOV14, DEC1, proration=True),)
    draft = generate(facts(lines, customer_balance=0), as_of=NOV14)
    assert (draft.total, draft.amount_due, draft.ending_balance) == (-1000, 0, -1000)
    assert_totals_add_up(draft)


@pytest.mark.parametrize(
    ("balance", "total", "amount_due", "applied", "ending"),
    [
        (-2000, 10000, 8000, -2000, 0),  # a credit smaller than the total is used up
        (-20000, 10000, 0, -10000, -10000),  # a larger credit covers the total; the rest carries over
        (1500, 10000, 11500, 1500, 0),  # a debit balance (the customer owes) is added
        (0, 10000, 10000, 0, 0),
        (-500, -1000, 0, 1000, -1500),  # a negative total adds to the credit
        (3000, -1000, 2000, 3000, 0),  # a negative total is netted against a debit
    ],
)
def test_customer_balance(balance: int, total: int, amount_due: int, applied: int, ending: int) -> None:
    """https://docs.stripe.com/api/invoices/object#invoice_object-amount_due: "if there is account credit that
    can be applied to the invoice, the amount_due may be 0. If there is a positive starting_balance for the
    invoice (the customer owes money), the amount_due will also take that into account."
    """
    lines = (PendingItemLine("ii_1", "One-off", total, NOV1, DEC1),)
    draft = generate(facts(lines, customer_balance=balance), as_of=DEC1)
    assert draft.starting_balance == balance
    assert (draft.total, draft.amount_due, draft.applied_balance, draft.ending_balance) == (
        total,
        amount_due,
        applied,
        ending,
    )


# --- the reference customer -----------------------------------------------------------------------


def test_twenty_advanced_seats_twenty_percent_off_german_vat() -> None:
    """20 Advanced seats at 99 USD, 20% off Advanced (a sales-led quote), German VAT 19% exclusive:
    1,980.00 - 396.00 = 1,584.00; VAT 300.96; total 1,884.96 USD."""
    draft = generate(facts((seats(20, discounts=(ADV20,)),), default_tax_rates=(DE_VAT,)), as_of=NOV1)
    (line,) = draft.lines
    assert (line.amount, line.discount_amount, line.exclusive_tax) == (198000, 39600, 30096)
    assert draft.subtotal == 158400
    assert draft.total_discount_amounts == (DiscountAmount("di_adv20", 39600),)
    assert draft.total_taxes == (TaxAmount("txr_de", 30096, False, 158400, Decimal(19), "VAT"),)
    assert draft.total_excluding_tax == 158400
    assert draft.total == draft.amount_due == 188496
    assert_totals_add_up(draft)


def test_uk_customer_vat_inclusive_gbp_price() -> None:
    """A GBP price set per price (79.00 GBP, ours), UK VAT 20% inclusive: the total is the price; the VAT
    inside 20 x 79.00 = 1,580.00 is 1,580.00 - round(1,580.00 / 1.2) = 263.33 GBP."""
    line = seats(20, spec=per_unit(7900), price_id="price_advanced_gbp")
    draft = generate(facts((line,), currency="gbp", default_tax_rates=(UK_VAT,)), as_of=NOV1)
    assert draft.total == draft.subtotal == 158000
    assert draft.total_taxes == (TaxAmount("txr_uk", 26333, True, 131667, Decimal(20), "VAT"),)
    assert draft.subtotal_excluding_tax == draft.total_excluding_tax == 131667
    assert_totals_add_up(draft)


def test_ai_resolutions_billed_in_arrears() -> None:
    """1,234 AI resolutions at 0.99 USD for October, on the invoice for November: 1,221.66 USD."""
    line = SubscriptionItemLine(
        "si_ai",
        "price_ai_resolution",
        "prod_ai_agent",
        "AI resolution",
        AI_RESOLUTION,
        1234,
        OCT1,
        NOV1,
        usage_type="metered",
        quantity_source="meter mtr_resolutions sum of 1,234 events",
    )
    draft = generate(facts((line,)), as_of=NOV1)
    (drafted,) = draft.lines
    assert drafted.amount == 122166
    assert (drafted.period_start, drafted.period_end) == (OCT1, NOV1)
    assert drafted.usage_type == "metered"
    assert drafted.quantity_source == "meter mtr_resolutions sum of 1,234 events"
    assert drafted.unit_amount_decimal == Decimal(99)


@pytest.mark.parametrize(
    ("messages", "amount"),
    [
        (0, 9900),  # "Stripe always bills the first flat rate tier when quantity=0"
        (300, 9900),
        (500, 9900),
        (501, 9910),
        (1200, 9900 + 700 * 10),
        (6000, 9900 + 4500 * 10 + 1000 * 5),
    ],
)
def test_proactive_messages_flat_fee_then_graduated(messages: int, amount: int) -> None:
    """99 USD flat including 500 messages, then 0.10 USD each to 5,000 and 0.05 USD beyond."""
    line = SubscriptionItemLine(
        "si_msg",
        "price_proactive",
        "prod_proactive",
        "Proactive messages",
        PROACTIVE_MESSAGES,
        messages,
        OCT1,
        NOV1,
        usage_type="metered",
        quantity_source=f"meter mtr_messages sum of {messages} events",
    )
    (drafted,) = generate(facts((line,)), as_of=NOV1).lines
    assert drafted.amount == amount
    assert drafted.pricing_model == PricingModel.GRADUATED
    assert drafted.unit_amount_decimal is None
    assert sum(tier.exact_amount for tier in drafted.tiers) == amount


def test_a_month_for_the_reference_customer() -> None:
    """Seats in advance with a mid-month seat increase (prorated), resolutions and messages in arrears, a
    20% line discount on Advanced seats, German VAT, and a 50.00 USD credit on the customer balance."""
    proration = ProrationFraction(DEC1 - NOV14, DEC1 - NOV1)  # 17 of 30 days
    lines: tuple[LineInput, ...] = (
        seats(20, discounts=(ADV20,)),
        seats(
            5,
            id="si_advanced",
            period_start=NOV14,
            proration=True,
            proration_fraction=proration,
            discounts=(ADV20,),
        ),
        SubscriptionItemLine(
            "si_ai",
            "price_ai_resolution",
            "prod_ai_agent",
            "AI resolution",
            AI_RESOLUTION,
            1234,
            OCT1,
            NOV1,
            usage_type="metered",
            quantity_source="meter mtr_resolutions sum of 1,234 events",
        ),
        SubscriptionItemLine(
            "si_msg",
            "price_proactive",
            "prod_proactive",
            "Proactive messages",
            PROACTIVE_MESSAGES,
            1200,
            OCT1,
            NOV1,
            usage_type="metered",
            quantity_source="meter mtr_messages sum of 1,200 events",
        ),
    )
    draft = generate(facts(lines, customer_balance=-5000, default_tax_rates=(DE_VAT,)), as_of=NOV1)
    amounts = [line.amount for line in draft.lines]
    # 5 x 99 x 17/30 = 280.50
    assert amounts == [198000, 28050, 122166, 16900]
    assert [line.discount_amount for line in draft.lines] == [39600, 5610, 0, 0]
    assert draft.subtotal == 198000 + 28050 + 122166 + 16900 - 39600 - 5610
    assert draft.total_discount_amounts == (DiscountAmount("di_adv20", 45210),)
    vat = [line.exclusive_tax for line in draft.lines]
    assert vat == [30096, 4264, 23212, 3211]  # 19% of 1,584.00 / 224.40 / 1,221.66 / 169.00
    assert draft.total == draft.subtotal + sum(vat)
    assert draft.amount_due == draft.total - 5000
    assert draft.ending_balance == 0
    assert_totals_add_up(draft)


# --- lineage ---------------------------------------------------------------------------------------


def test_a_line_carries_its_lineage() -> None:
    proration = ProrationFraction(17 * DAY, 31 * DAY)
    line = seats(
        20,
        period_start=NOV14,
        proration=True,
        proration_fraction=proration,
        discounts=(ADV20,),
        tax_rates=(DE_VAT,),
        subscription_id="sub_1",
    )
    (drafted,) = generate(facts((line,)), as_of=NOV14).lines
    assert isinstance(drafted, DraftLine)
    assert (drafted.id, drafted.type, drafted.subscription_id) == ("si_advanced", "subscription", "sub_1")
    assert (drafted.price_id, drafted.product_id, drafted.description) == (
        "price_advanced_monthly",
        "prod_advanced",
        "Advanced seat",
    )
    assert (drafted.quantity, drafted.quantity_source, drafted.usage_type) == (20, "seats", "licensed")
    assert (drafted.pricing_model, drafted.unit_amount_decimal, drafted.billed_quantity) == (
        PricingModel.PER_UNIT,
        Decimal(9900),
        20,
    )
    assert drafted.tiers[0].quantity == 20
    assert (drafted.period_start, drafted.period_end, drafted.proration) == (NOV14, DEC1, True)
    assert drafted.proration_fraction is not None and drafted.proration_fraction.fraction == Fraction(17, 31)
    # one rounding: 198000 x 17/31 = 108580.645... -> 108581
    assert drafted.exact_amount.quantize(Decimal("0.001")) == Decimal("108580.645")
    assert drafted.amount == 108581
    assert [(d.discount_id, d.level, d.percent_off, d.amount) for d in drafted.discount_amounts] == [
        ("di_adv20", "line", Decimal(20), 21716)
    ]
    assert [
        (t.tax_rate_id, t.percentage, t.inclusive, t.taxable_amount, t.amount) for t in drafted.taxes
    ] == [("txr_de", Decimal(19), False, 86865, 16504)]
    assert not drafted.discountable  # a proration


def test_package_pricing_records_the_billed_quantity() -> None:
    from billfold.core.pricing import TransformQuantity

    spec = PriceSpec(
        "per_unit", unit_amount_decimal=Decimal(500), transform_quantity=TransformQuantity(100, "up")
    )
    line = SubscriptionItemLine(
        "si_sms", "price_sms", "prod_sms", "SMS", spec, 1234, OCT1, NOV1, usage_type="metered"
    )
    (drafted,) = generate(facts((line,)), as_of=NOV1).lines
    assert (drafted.quantity, drafted.billed_quantity, drafted.amount) == (1234, 13, 6500)


def test_line_order_is_input_order() -> None:
    lines = tuple(PendingItemLine(f"ii_{i}", f"Item {i}", 100 * i, NOV1, DEC1) for i in (3, 1, 2))
    assert [line.id for line in generate(facts(lines), as_of=NOV1).lines] == ["ii_3", "ii_1", "ii_2"]


def test_taxes_aggregate_per_rate_in_order_of_appearance() -> None:
    lines = (
        PendingItemLine("ii_1", "A", 10000, NOV1, DEC1, tax_rates=(UK_VAT,)),
        PendingItemLine("ii_2", "B", 20000, NOV1, DEC1),
        PendingItemLine("ii_3", "C", 30000, NOV1, DEC1, tax_rates=(UK_VAT,)),
    )
    draft = generate(facts(lines, default_tax_rates=(DE_VAT,)), as_of=NOV1)
    assert [(t.tax_rate_id, t.taxable_amount, t.amount) for t in draft.total_taxes] == [
        ("txr_uk", 8333 + 25000, 1667 + 5000),
        ("txr_de", 20000, 3800),
    ]
    assert_totals_add_up(draft)


# --- bad facts --------------------------------------------------------------------------------------


def test_unknown_currency_is_rejected() -> None:
    with pytest.raises(UnknownCurrency):
        generate(facts((), currency="xxx"), as_of=NOV1)


def test_a_line_with_an_empty_period_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty period"):
        generate(facts((PendingItemLine("ii_1", "x", 100, DEC1, DEC1),)), as_of=NOV1)
    with pytest.raises(ValueError, match="empty period"):
        generate(facts((seats(3, period_start=DEC1, period_end=DEC1),)), as_of=NOV1)
    with pytest.raises(ValueError, match="empty period"):
        generate(facts((seats(3, period_start=DEC1, period_end=NOV1, usage_type="metered"),)), as_of=NOV1)


def test_usage_of_a_single_instant_is_billed() -> None:
    """Usage reported in the second a subscription started and was canceled (its final invoice's window is that
    one second): billed in arrears like any usage."""
    draft = generate(facts((seats(3, period_start=DEC1, period_end=DEC1, usage_type="metered"),)), as_of=DEC1)
    assert [(line.quantity, line.amount) for line in draft.lines] == [(3, 3 * 9900)]


@pytest.mark.parametrize(("numerator", "denominator"), [(1, 0), (-1, 10), (11, 10)])
def test_a_bad_proration_fraction_is_rejected(numerator: int, denominator: int) -> None:
    with pytest.raises(ValueError):
        ProrationFraction(numerator, denominator)


def test_an_empty_invoice_is_zero() -> None:
    draft = generate(facts((), customer_balance=-300), as_of=NOV1)
    assert (draft.subtotal, draft.total, draft.amount_due, draft.ending_balance) == (0, 0, 0, -300)


# --- properties -------------------------------------------------------------------------------------

_PRODUCTS = ("prod_a", "prod_b", "prod_c")
_RATE_POOL = (
    TaxRate("txr_ex19", Decimal(19), inclusive=False),
    TaxRate("txr_ex725", Decimal("7.25"), inclusive=False),
    TaxRate("txr_in20", Decimal(20), inclusive=True),
    TaxRate("txr_in10", Decimal(10), inclusive=True),
    TaxRate("txr_zero", Decimal(0), inclusive=False),
)

_unit_amounts = st.one_of(
    st.integers(min_value=0, max_value=100_000).map(Decimal),
    st.decimals(min_value=0, max_value=1000, places=4),
)
_rates = st.lists(st.sampled_from(_RATE_POOL), max_size=3, unique=True).map(tuple)
_coupons = st.one_of(
    st.builds(
        lambda pct, products: Coupon("P", percent_off=pct, applies_to_products=products),
        st.decimals(min_value=Decimal("0.01"), max_value=100, places=2),
        st.none() | st.lists(st.sampled_from(_PRODUCTS), min_size=1, unique=True).map(tuple),
    ),
    st.builds(
        lambda amount, currency, products: Coupon(
            "A",
            amount_off=amount,
            currency=currency,
            currency_options=(("usd", amount + 1),),
            applies_to_products=products,
        ),
        st.integers(min_value=1, max_value=500_000),
        st.sampled_from(["usd", "eur"]),
        st.none() | st.lists(st.sampled_from(_PRODUCTS), min_size=1, unique=True).map(tuple),
    ),
)
_discounts = st.lists(_coupons, max_size=3).map(
    lambda cs: tuple(Discount(f"di_{i}", c) for i, c in enumerate(cs))
)


@st.composite
def _fractions(draw: st.DrawFn) -> ProrationFraction | None:
    if not draw(st.booleans()):
        return None
    denominator = draw(st.integers(min_value=1, max_value=366 * DAY))
    return ProrationFraction(draw(st.integers(min_value=0, max_value=denominator)), denominator)


@st.composite
def _item_lines(draw: st.DrawFn, index: int) -> SubscriptionItemLine:
    fraction = draw(_fractions())
    return SubscriptionItemLine(
        id=f"si_{index}",
        price_id=f"price_{index}",
        product_id=draw(st.sampled_from(_PRODUCTS)),
        description="Seat",
        spec=PriceSpec("per_unit", unit_amount_decimal=draw(_unit_amounts)),
        quantity=draw(st.integers(min_value=0, max_value=500)),
        period_start=NOV1,
        period_end=DEC1,
        proration=fraction is not None,
        proration_fraction=fraction,
        credit=draw(st.booleans()),
        discounts=draw(_discounts),
        tax_rates=draw(_rates),
    )


@st.composite
def _pending_lines(draw: st.DrawFn, index: int) -> PendingItemLine:
    return PendingItemLine(
        id=f"ii_{index}",
        description="Item",
        amount=draw(st.integers(min_value=-1_000_000, max_value=1_000_000)),
        period_start=NOV1,
        period_end=DEC1,
        product_id=draw(st.none() | st.sampled_from(_PRODUCTS)),
        proration=draw(st.booleans()),
        discounts=draw(_discounts),
        tax_rates=draw(_rates),
    )


@st.composite
def _facts(draw: st.DrawFn) -> InvoiceFacts:
    count = draw(st.integers(min_value=0, max_value=6))
    lines: list[LineInput] = []
    for index in range(count):
        lines.append(draw(_item_lines(index)) if draw(st.booleans()) else draw(_pending_lines(index)))
    return InvoiceFacts(
        currency="usd",
        customer_balance=draw(st.integers(min_value=-5_000_000, max_value=5_000_000)),
        period_start=NOV1,
        period_end=DEC1,
        lines=tuple(lines),
        invoice_discounts=draw(_discounts),
        default_tax_rates=draw(_rates),
    )


@settings(deadline=None)
@given(_facts(), st.integers(min_value=NOV1 - 100 * DAY, max_value=DEC1 + 100 * DAY))
def test_totals_always_add_up(invoice_facts: InvoiceFacts, as_of: int) -> None:
    assert_totals_add_up(generate(invoice_facts, as_of))


@settings(deadline=None)
@given(_facts(), st.integers(min_value=NOV1, max_value=DEC1))
def test_generate_is_deterministic(invoice_facts: InvoiceFacts, as_of: int) -> None:
    """The preview and the bill run are the same call: the same facts give an equal draft."""
    first, second = generate(invoice_facts, as_of), generate(invoice_facts, as_of)
    assert first == second
    assert repr(first) == repr(second)


@settings(deadline=None)
@given(
    _unit_amounts,
    st.integers(min_value=1, max_value=500),
    st.lists(st.integers(min_value=1, max_value=DEC1 - NOV1 - 1), min_size=1, max_size=8, unique=True),
)
def test_prorating_over_a_split_period_gives_back_the_whole(
    unit: Decimal, quantity: int, cuts: list[int]
) -> None:
    """Lines for consecutive spans that cover the period add up to the whole period's line, within one minor
    unit per split (each span is rounded once, on its own)."""
    bounds = [NOV1, *sorted(NOV1 + cut for cut in cuts), DEC1]
    spec = PriceSpec("per_unit", unit_amount_decimal=unit)
    period = DEC1 - NOV1
    parts = tuple(
        SubscriptionItemLine(
            f"si_{i}",
            "price",
            "prod",
            "Seat",
            spec,
            quantity,
            start,
            end,
            proration=True,
            proration_fraction=ProrationFraction(end - start, period),
        )
        for i, (start, end) in enumerate(itertools.pairwise(bounds))
    )
    whole = SubscriptionItemLine("si_whole", "price", "prod", "Seat", spec, quantity, NOV1, DEC1)
    split_total = generate(facts(parts), as_of=NOV1).total
    whole_total = generate(facts((whole,)), as_of=NOV1).total
    assert abs(split_total - whole_total) <= len(cuts)


@settings(deadline=None)
@given(_item_lines(0), _discounts, _rates, st.integers(min_value=-1_000_000, max_value=1_000_000))
def test_a_credit_and_a_debit_for_the_same_price_and_span_net_to_zero(
    line: SubscriptionItemLine,
    invoice_discounts: tuple[Discount, ...],
    defaults: tuple[TaxRate, ...],
    balance: int,
) -> None:
    """A change back to the same price at any second nets to exactly zero: amount, discounts and taxes."""
    fraction = line.proration_fraction or ProrationFraction(17 * DAY, 30 * DAY)
    debit = replace(line, proration=True, proration_fraction=fraction, credit=False)
    credit = replace(debit, id="si_credit", credit=True)
    draft = generate(
        facts(
            (debit, credit),
            customer_balance=balance,
            invoice_discounts=invoice_discounts,
            default_tax_rates=defaults,
        ),
        as_of=NOV1,
    )
    debit_line, credit_line = draft.lines
    assert credit_line.amount == -debit_line.amount
    assert credit_line.discount_amount == -debit_line.discount_amount
    assert [t.amount for t in credit_line.taxes] == [-t.amount for t in debit_line.taxes]
    assert draft.total == 0
    assert all(d.amount == 0 for d in draft.total_discount_amounts)
    assert all(t.amount == 0 and t.taxable_amount == 0 for t in draft.total_taxes)
    assert draft.ending_balance == min(balance, 0)
    assert draft.amount_due == max(balance, 0)
