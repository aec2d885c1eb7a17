"""Pricing models: Stripe's published worked examples, then properties over random tiers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billfold.core.money import round_minor
from billfold.core.pricing import (
    PriceResult,
    PriceSpec,
    PricingModel,
    Tier,
    TierLine,
    TransformQuantity,
    pricing_model,
    rate,
    validate_tiers,
)

TIERED_URL = "https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing"


def D(text: str) -> Decimal:
    return Decimal(text)


# Typographic's font tiers, in cents: 1-5 at 7 USD, 6-10 at 6.5 USD, 11+ at 6 USD.
TYPOGRAPHIC_TIERS = (
    Tier(up_to=5, unit_amount_decimal=D("700")),
    Tier(up_to=10, unit_amount_decimal=D("650")),
    Tier(up_to=None, unit_amount_decimal=D("600")),
)

# The "Add a flat rate" table, in cents: unit_amount and flat_amount per tier.
FLAT_RATE_TIERS = (
    Tier(up_to=5, unit_amount_decimal=D("500"), flat_amount_decimal=D("1000")),
    Tier(up_to=10, unit_amount_decimal=D("400"), flat_amount_decimal=D("2000")),
    Tier(up_to=15, unit_amount_decimal=D("300"), flat_amount_decimal=D("3000")),
    Tier(up_to=20, unit_amount_decimal=D("200"), flat_amount_decimal=D("4000")),
    Tier(up_to=None, unit_amount_decimal=D("100"), flat_amount_decimal=D("5000")),
)


def tiered(mode: str, tiers: tuple[Tier, ...]) -> PriceSpec:
    assert mode in ("graduated", "volume")
    return PriceSpec(
        billing_scheme="tiered", tiers_mode="graduated" if mode == "graduated" else "volume", tiers=tiers
    )


def per_unit(unit: str, transform: TransformQuantity | None = None) -> PriceSpec:
    return PriceSpec(billing_scheme="per_unit", unit_amount_decimal=D(unit), transform_quantity=transform)


# --- Stripe's worked examples ---------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "amount"), [(1, 700), (5, 3500), (6, 3900), (20, 12000), (25, 15000)])
def test_volume_typographic_table(quantity: int, amount: int) -> None:
    """Volume-based pricing table (1 -> 7 USD ... 25 -> 150 USD),
    https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing#volume-based-pricing
    """
    result = rate(tiered("volume", TYPOGRAPHIC_TIERS), quantity)
    assert result.amount == amount
    assert result.model is PricingModel.VOLUME


@pytest.mark.parametrize(("quantity", "amount"), [(1, 700), (5, 3500), (6, 4150), (20, 12750), (25, 15750)])
def test_graduated_typographic_table(quantity: int, amount: int) -> None:
    """Graduated pricing table (1 -> 7 USD, 6 -> 41.5 USD, 20 -> 127.5 USD, 25 -> 157.5 USD),
    https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing#graduated-pricing
    """
    result = rate(tiered("graduated", TYPOGRAPHIC_TIERS), quantity)
    assert result.amount == amount
    assert result.model is PricingModel.GRADUATED


def test_graduated_six_fonts_breakdown() -> None:
    """ "They charge a customer with 6 fonts 41.5 USD, 35 USD for the first 5 fonts and 6.5 USD for
    the 6th font." https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing
    """
    result = rate(tiered("graduated", TYPOGRAPHIC_TIERS), 6)
    assert result.breakdown == (
        TierLine(0, 1, 5, 5, D("700"), D("0"), D("3500")),
        TierLine(1, 6, 10, 1, D("650"), D("0"), D("650")),
    )


def test_volume_flat_rate_example() -> None:
    """ "If quantity is 12 and tiers_mode=volume, the total amount billed is: 12 x 3 USD + 30 USD = 66 USD"
    https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing#add-a-flat-rate
    """
    result = rate(tiered("volume", FLAT_RATE_TIERS), 12)
    assert result.amount == 6600
    assert result.breakdown == (TierLine(2, 11, 15, 12, D("300"), D("3000"), D("6600")),)


def test_graduated_flat_rate_example() -> None:
    """ "If quantity is 12 and tiers_mode=graduated, the total amount billed is:
    (5 x 5 USD + 10 USD) + (5 x 4 USD + 20 USD) + (2 x 3 USD + 30 USD) = 111 USD"
    https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing#add-a-flat-rate
    """
    result = rate(tiered("graduated", FLAT_RATE_TIERS), 12)
    assert result.amount == 11100
    assert [line.exact_amount for line in result.breakdown] == [D("3500"), D("4000"), D("3600")]
    assert [(line.from_quantity, line.up_to, line.quantity) for line in result.breakdown] == [
        (1, 5, 5),
        (6, 10, 5),
        (11, 15, 2),
    ]


@pytest.mark.parametrize("mode", ["graduated", "volume"])
def test_quantity_zero_bills_the_first_flat_rate(mode: str) -> None:
    """ "If quantity is 0, the total amount is 10 USD regardless of the tiered pricing model used.
    Stripe always bills the first flat rate tier when quantity=0."
    https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing#add-a-flat-rate
    """
    result = rate(tiered(mode, FLAT_RATE_TIERS), 0)
    assert result.amount == 1000
    assert result.breakdown == (TierLine(0, 1, 5, 0, D("500"), D("1000"), D("1000")),)


@pytest.mark.parametrize("mode", ["graduated", "volume"])
def test_quantity_zero_without_flat_amount_is_free(mode: str) -> None:
    """The same page's workaround: "To bill 0 when there's no usage, set up an up_to=1 tier with an
    unit_amount equal to the flat rate and omit the flat_amount." https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing
    """
    tiers = (Tier(up_to=1, unit_amount_decimal=D("1000")), *FLAT_RATE_TIERS[1:])
    assert rate(tiered(mode, tiers), 0).amount == 0
    assert rate(tiered(mode, TYPOGRAPHIC_TIERS), 0).amount == 0


@pytest.mark.parametrize(("users", "amount"), [(1, 1000), (3, 1000), (5, 1000), (6, 2000), (7, 2000)])
def test_package_per_five_users_rounded_up(users: int, amount: int) -> None:
    """ "$10 for every 5 users (or portion thereof)": transform_quantity[divide_by]=5, round=up,
    unit_amount=1000. https://stripe.com/docs/billing/subscriptions/quantity-transformation
    """
    spec = per_unit("1000", TransformQuantity(divide_by=5, round="up"))
    result = rate(spec, users)
    assert result.amount == amount
    assert result.billed_quantity == amount // 1000
    assert result.model is PricingModel.PACKAGE


def test_package_car_rental_rounds_minutes_up_to_hours() -> None:
    """ "Charge 10 USD per hour, and round up ... If a customer rents the car for 150 minutes, that
    customer is charged 30 USD for 3 hours of rental."
    https://docs.stripe.com/billing/subscriptions/usage-based/transform-quantities
    """
    result = rate(per_unit("1000", TransformQuantity(divide_by=60, round="up")), 150)
    assert (result.amount, result.billed_quantity) == (3000, 3)
    assert result.breakdown == (TierLine(0, 1, None, 3, D("1000"), D("0"), D("3000")),)


def test_package_round_down_bills_only_full_packages() -> None:
    spec = per_unit("1000", TransformQuantity(divide_by=60, round="down"))
    assert [rate(spec, minutes).amount for minutes in (0, 59, 60, 119, 150)] == [0, 0, 1000, 1000, 2000]


@pytest.mark.parametrize(
    ("tokens", "amount"), [(0, 0), (100_000, 0), (100_004, 0), (100_005, 1), (150_000, 5000)]
)
def test_graduated_fractional_unit_amount_is_rounded_once(tokens: int, amount: int) -> None:
    """Alpaca AI's overage price: tokens 0-100,000 at 0 USD, then 0.001 USD (0.1 cent) per token.
    https://docs.stripe.com/billing/subscriptions/usage-based/pricing-models
    Five overage tokens are 0.5 cent: rounded half-up once for the line, never per token.
    """
    tiers = (Tier(up_to=100_000, unit_amount_decimal=D("0")), Tier(up_to=None, unit_amount_decimal=D("0.1")))
    result = rate(tiered("graduated", tiers), tokens)
    assert result.amount == amount
    assert result.exact_amount == D("0.1") * max(tokens - 100_000, 0)


def test_per_unit() -> None:
    result = rate(per_unit("1999"), 3)
    assert result == PriceResult(
        model=PricingModel.PER_UNIT,
        amount=5997,
        exact_amount=D("5997"),
        billed_quantity=3,
        breakdown=(TierLine(0, 1, None, 3, D("1999"), D("0"), D("5997")),),
    )
    assert rate(per_unit("0.5"), 3).amount == 2  # 1.5 rounds half-up to 2
    assert rate(per_unit("0.333333333333"), 3).amount == 1  # 0.999999999999 -> 1, exact until then


def test_exact_amount_keeps_every_digit() -> None:
    # 12 decimal places times a large quantity has more than 28 significant digits.
    result = rate(per_unit("12345678.123456789012"), 10**15 + 1)
    assert result.exact_amount == D("12345678123456801357678.123456789012")
    assert result.amount == 12345678123456801357678


# --- errors and validation ------------------------------------------------------------------


@pytest.mark.parametrize("spec", [per_unit("100"), tiered("graduated", TYPOGRAPHIC_TIERS)])
def test_negative_quantity_is_rejected(spec: PriceSpec) -> None:
    with pytest.raises(ValueError):
        rate(spec, -1)


@pytest.mark.parametrize(
    "spec",
    [
        PriceSpec(billing_scheme="per_unit"),  # no unit amount
        per_unit("-1"),
        per_unit("NaN"),
        per_unit("1", TransformQuantity(divide_by=0, round="up")),
        PriceSpec(billing_scheme="tiered", tiers=TYPOGRAPHIC_TIERS),  # no tiers_mode
        PriceSpec(billing_scheme="tiered", tiers_mode="volume", tiers=()),
        PriceSpec(billing_scheme="per_unit", unit_amount_decimal=D("1"), tiers=TYPOGRAPHIC_TIERS),
        # "Quantity transformation isn't compatible with tiered pricing." (transform-quantities page)
        PriceSpec(
            billing_scheme="tiered",
            tiers_mode="volume",
            tiers=TYPOGRAPHIC_TIERS,
            transform_quantity=TransformQuantity(divide_by=5, round="up"),
        ),
    ],
)
def test_invalid_specs_are_rejected(spec: PriceSpec) -> None:
    with pytest.raises(ValueError):
        rate(spec, 1)


def test_pricing_model_dispatch() -> None:
    assert pricing_model(per_unit("1")) is PricingModel.PER_UNIT
    assert pricing_model(per_unit("1", TransformQuantity(2, "up"))) is PricingModel.PACKAGE
    assert pricing_model(tiered("graduated", TYPOGRAPHIC_TIERS)) is PricingModel.GRADUATED
    assert pricing_model(tiered("volume", TYPOGRAPHIC_TIERS)) is PricingModel.VOLUME


def test_validate_tiers_accepts_stripes_examples() -> None:
    assert validate_tiers(TYPOGRAPHIC_TIERS) is None
    assert validate_tiers(FLAT_RATE_TIERS) is None
    assert validate_tiers([Tier(up_to=None, flat_amount_decimal=D("1000"))]) is None  # one inf tier
    assert validate_tiers([Tier(up_to=None, unit_amount_decimal=D("0.000000000001"))]) is None


@pytest.mark.parametrize(
    ("tiers", "fragment"),
    [
        ((), "at least one tier"),
        ((Tier(up_to=5, unit_amount_decimal=D("1")),), "last tier must have up_to=inf"),
        ((Tier(None, D("1")), Tier(None, D("1"))), "Only the last tier"),
        ((Tier(10, D("1")), Tier(5, D("1")), Tier(None, D("1"))), "strictly ascending"),
        ((Tier(5, D("1")), Tier(5, D("1")), Tier(None, D("1"))), "strictly ascending"),
        ((Tier(0, D("1")), Tier(None, D("1"))), "positive integer"),
        ((Tier(5), Tier(None, D("1"))), "needs a unit amount or a flat amount"),
        ((Tier(None, D("-1")),), "must not be negative"),
        ((Tier(None, None, D("Infinity")),), "finite"),
        ((Tier(None, D("0.0000000000001")),), "at most 12 decimal places"),
    ],
)
def test_validate_tiers_messages(tiers: tuple[Tier, ...], fragment: str) -> None:
    message = validate_tiers(tiers)
    assert message is not None
    assert fragment in message


# --- properties -----------------------------------------------------------------------------

_amounts = st.decimals(min_value=0, max_value=100_000, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[Tier, ...]:
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=1_000), max_size=5)))
    tiers: list[Tier] = []
    for up_to in [*bounds, None]:
        unit = draw(st.none() | _amounts)
        flat = draw(_amounts if unit is None else st.none() | _amounts)
        tiers.append(Tier(up_to=up_to, unit_amount_decimal=unit, flat_amount_decimal=flat))
    return tuple(tiers)


_quantities = st.integers(min_value=0, max_value=2_000)


@given(tier_lists(), _quantities)
def test_generated_tiers_are_valid(tiers: tuple[Tier, ...], quantity: int) -> None:
    assert validate_tiers(tiers) is None


@given(tier_lists(), _quantities, _quantities)
def test_graduated_amount_is_monotonic_in_quantity(tiers: tuple[Tier, ...], a: int, b: int) -> None:
    low, high = sorted((a, b))
    spec = tiered("graduated", tiers)
    assert rate(spec, low).exact_amount <= rate(spec, high).exact_amount
    assert rate(spec, low).amount <= rate(spec, high).amount


@given(tier_lists(), _quantities)
def test_graduated_exact_amount_is_the_sum_of_its_lines(tiers: tuple[Tier, ...], quantity: int) -> None:
    result = rate(tiered("graduated", tiers), quantity)
    assert result.exact_amount == sum((line.exact_amount for line in result.breakdown), Decimal(0))
    assert sum(line.quantity for line in result.breakdown) == quantity
    assert result.amount == round_minor(result.exact_amount)
    for line in result.breakdown:
        assert line.exact_amount == line.unit_amount_decimal * line.quantity + line.flat_amount_decimal
    assert [line.tier_index for line in result.breakdown] == list(range(len(result.breakdown)))


@given(tier_lists(), _quantities)
def test_volume_is_quantity_times_the_chosen_tier_plus_its_flat(
    tiers: tuple[Tier, ...], quantity: int
) -> None:
    result = rate(tiered("volume", tiers), quantity)
    chosen = next(t for t in tiers if t.up_to is None or quantity <= t.up_to)
    unit = chosen.unit_amount_decimal or Decimal(0)
    flat = chosen.flat_amount_decimal or Decimal(0)
    assert result.exact_amount == quantity * unit + flat
    assert result.amount == round_minor(quantity * unit + flat)
    (line,) = result.breakdown
    assert tiers[line.tier_index] == chosen
    assert line.quantity == result.billed_quantity == quantity


@given(
    st.decimals(min_value=0, max_value=10**6, places=12, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=1_000),
    st.sampled_from(["up", "down"]),
    st.integers(min_value=0, max_value=10**6),
)
def test_package_bills_whole_packages(unit: Decimal, divide_by: int, rounding: str, quantity: int) -> None:
    transform = TransformQuantity(divide_by=divide_by, round="up" if rounding == "up" else "down")
    result = rate(
        PriceSpec(billing_scheme="per_unit", unit_amount_decimal=unit, transform_quantity=transform), quantity
    )
    packages = result.billed_quantity
    if rounding == "up":
        assert (packages - 1) * divide_by < quantity <= packages * divide_by or quantity == packages == 0
    else:
        assert packages * divide_by <= quantity < (packages + 1) * divide_by
    assert result.exact_amount == unit * packages
    assert result.amount == round_minor(unit * packages)
