"""Pricing models: what a price charges for a quantity, with the working shown.

Why this module exists: a Stripe price (``billing_scheme``, ``unit_amount_decimal``,
``tiers_mode``, ``tiers``, ``transform_quantity``) is a small program, and every invoice line,
preview and "explain this charge" view must run it the same way. Each pricing model is one pure
function with one result shape (amount, exact amount, billed quantity, breakdown), dispatched on
``PricingModel``; adding a model means one function and one entry in ``_MODELS``.

All arithmetic is exact (``money.exact_context``); the amount is rounded once, at the end, with
``money.round_minor``. Rules, from Stripe's docs:

* per_unit: ``quantity x unit_amount_decimal``.
* package (per_unit with ``transform_quantity``): the quantity is divided by ``divide_by`` and
  rounded up or down to whole packages before the unit amount applies; "Quantity transformation
  isn't compatible with tiered pricing".
  https://docs.stripe.com/billing/subscriptions/usage-based/transform-quantities
* graduated: each tier charges the units that fall inside it, plus its flat amount when any unit
  reaches it. volume: the whole quantity is charged at the tier the quantity falls in, plus that
  tier's flat amount. Tier bounds are inclusive (``up_to``); a tier starts one after the previous
  tier's ``up_to``.
  https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing
* quantity 0 on a tiered price: "If quantity is 0, the total amount is 10 USD regardless of the
  tiered pricing model used. Stripe always bills the first flat rate tier when quantity=0." So
  both graduated and volume charge the first tier's flat amount for quantity 0 (same page, section
  "Add a flat rate").
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from decimal import Decimal, localcontext
from typing import Literal

from billfold.core.money import exact_context, round_minor
from billfold.core.values import value_type

__all__ = [
    "MAX_DECIMAL_PLACES",
    "BillingScheme",
    "PriceResult",
    "PriceSpec",
    "PricingModel",
    "Tier",
    "TierLine",
    "TiersMode",
    "TransformQuantity",
    "TransformRound",
    "pricing_model",
    "rate",
    "validate_tiers",
]

BillingScheme = Literal["per_unit", "tiered"]
TiersMode = Literal["graduated", "volume"]
TransformRound = Literal["up", "down"]

# "unit_amount_decimal ... with at most 12 decimal places" (Stripe API reference, Price tiers).
MAX_DECIMAL_PLACES = 12

_ZERO = Decimal(0)


class PricingModel(enum.Enum):
    """The pricing models ``rate`` dispatches on."""

    PER_UNIT = "per_unit"
    PACKAGE = "package"
    GRADUATED = "graduated"
    VOLUME = "volume"


@value_type
class Tier:
    """One tier of a tiered price. ``up_to`` is inclusive; ``None`` is Stripe's ``"inf"``."""

    up_to: int | None
    unit_amount_decimal: Decimal | None = None
    flat_amount_decimal: Decimal | None = None


@value_type
class TransformQuantity:
    """Stripe's ``transform_quantity``: bill ``quantity / divide_by`` rounded ``up`` or ``down``."""

    divide_by: int
    round: TransformRound


@value_type
class PriceSpec:
    """The parts of a Stripe price that decide the amount; amounts are Decimal minor units."""

    billing_scheme: BillingScheme
    unit_amount_decimal: Decimal | None = None
    tiers_mode: TiersMode | None = None
    tiers: tuple[Tier, ...] = ()
    transform_quantity: TransformQuantity | None = None


@value_type
class TierLine:
    """One line of the working: the units charged at one rate, and that rate's flat fee.

    ``from_quantity`` is the first unit number the tier covers (1 for the first tier) and
    ``up_to`` its inclusive last (``None`` = no limit); ``quantity`` is how many units were charged
    at ``unit_amount_decimal`` on this line. ``exact_amount`` is unrounded.
    """

    tier_index: int
    from_quantity: int
    up_to: int | None
    quantity: int
    unit_amount_decimal: Decimal
    flat_amount_decimal: Decimal
    exact_amount: Decimal


@value_type
class PriceResult:
    """What a price charges for a quantity.

    ``amount`` is ``round_minor(exact_amount)``, and ``exact_amount`` is exactly the sum of the
    breakdown lines' exact amounts. ``billed_quantity`` is the quantity after
    ``transform_quantity`` (the input quantity for every other model).
    """

    model: PricingModel
    amount: int
    exact_amount: Decimal
    billed_quantity: int
    breakdown: tuple[TierLine, ...]


def pricing_model(spec: PriceSpec) -> PricingModel:
    """Which pricing model a spec is; raises ``ValueError`` for a combination Stripe rejects."""
    if spec.billing_scheme == "per_unit":
        if spec.tiers or spec.tiers_mode is not None:
            raise ValueError("a per_unit price cannot have tiers or tiers_mode")
        return PricingModel.PER_UNIT if spec.transform_quantity is None else PricingModel.PACKAGE
    if spec.billing_scheme == "tiered":
        if spec.transform_quantity is not None:
            raise ValueError("transform_quantity cannot be combined with tiered pricing")
        if spec.tiers_mode == "graduated":
            return PricingModel.GRADUATED
        if spec.tiers_mode == "volume":
            return PricingModel.VOLUME
        raise ValueError(f"a tiered price needs tiers_mode 'graduated' or 'volume', got {spec.tiers_mode!r}")
    raise ValueError(f"unknown billing_scheme {spec.billing_scheme!r}")


def rate(spec: PriceSpec, quantity: int) -> PriceResult:
    """Compute what ``spec`` charges for ``quantity`` units: one exact computation, rounded once."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise TypeError(f"quantity must be an int, got {type(quantity).__name__}")
    if quantity < 0:
        raise ValueError(f"quantity must not be negative, got {quantity}")
    model = pricing_model(spec)
    with localcontext(exact_context()):
        billed_quantity, lines = _MODELS[model](spec, quantity)
        exact_amount = sum((line.exact_amount for line in lines), _ZERO)
    return PriceResult(
        model=model,
        amount=round_minor(exact_amount),
        exact_amount=exact_amount,
        billed_quantity=billed_quantity,
        breakdown=lines,
    )


def validate_tiers(tiers: Sequence[Tier]) -> str | None:
    """Check tiers the way Stripe does; return a message for the first problem, or ``None``.

    Rules: at least one tier; ``up_to`` values are positive and strictly ascending; only the last
    tier is unbounded, and the last tier must be (Stripe's ``up_to=inf`` fallback tier); each
    tier has a unit amount or a flat amount ("it must have at least one of the two"); amounts are
    finite, non-negative and have at most 12 decimal places.
    """
    if not tiers:
        return "A tiered price needs at least one tier."
    previous: int | None = None
    for index, tier in enumerate(tiers):
        is_last = index == len(tiers) - 1
        if tier.up_to is None:
            if not is_last:
                return f"Only the last tier may have up_to=inf; tier {index} does."
        else:
            if isinstance(tier.up_to, bool) or not isinstance(tier.up_to, int) or tier.up_to < 1:
                return f"Tier {index} up_to must be a positive integer or inf."
            if previous is not None and tier.up_to <= previous:
                return f"Tier up_to values must be strictly ascending; tier {index} is not."
            if is_last:
                return "The last tier must have up_to=inf."
            previous = tier.up_to
        if tier.unit_amount_decimal is None and tier.flat_amount_decimal is None:
            return f"Tier {index} needs a unit amount or a flat amount."
        for name, value in (
            ("unit_amount_decimal", tier.unit_amount_decimal),
            ("flat_amount_decimal", tier.flat_amount_decimal),
        ):
            problem = _amount_problem(value)
            if problem is not None:
                return f"Tier {index} {name} {problem}."
    return None


def _amount_problem(value: Decimal | None) -> str | None:
    if value is None:
        return None
    if not value.is_finite():
        return "must be a finite number"
    if value < 0:
        return "must not be negative"
    digits_exponent = value.normalize(exact_context()).as_tuple().exponent
    if isinstance(digits_exponent, int) and -digits_exponent > MAX_DECIMAL_PLACES:
        return f"must have at most {MAX_DECIMAL_PLACES} decimal places"
    return None


def _require_unit_amount(spec: PriceSpec) -> Decimal:
    unit = spec.unit_amount_decimal
    if unit is None:
        raise ValueError("a per_unit price needs unit_amount_decimal")
    problem = _amount_problem(unit)
    if problem is not None:
        raise ValueError(f"unit_amount_decimal {problem}")
    return unit


def _require_valid_tiers(spec: PriceSpec) -> tuple[Tier, ...]:
    problem = validate_tiers(spec.tiers)
    if problem is not None:
        raise ValueError(problem)
    return spec.tiers


def _rate_per_unit(spec: PriceSpec, quantity: int) -> tuple[int, tuple[TierLine, ...]]:
    return quantity, (_unit_line(_require_unit_amount(spec), quantity),)


def _rate_package(spec: PriceSpec, quantity: int) -> tuple[int, tuple[TierLine, ...]]:
    transform = spec.transform_quantity
    assert transform is not None  # pricing_model() chose PACKAGE because it is set
    if isinstance(transform.divide_by, bool) or transform.divide_by < 1:
        raise ValueError(
            f"transform_quantity.divide_by must be a positive integer, got {transform.divide_by}"
        )
    if transform.round == "up":
        packages = -(-quantity // transform.divide_by)
    elif transform.round == "down":
        packages = quantity // transform.divide_by
    else:
        raise ValueError(f"transform_quantity.round must be 'up' or 'down', got {transform.round!r}")
    return packages, (_unit_line(_require_unit_amount(spec), packages),)


def _unit_line(unit: Decimal, quantity: int) -> TierLine:
    return TierLine(
        tier_index=0,
        from_quantity=1,
        up_to=None,
        quantity=quantity,
        unit_amount_decimal=unit,
        flat_amount_decimal=_ZERO,
        exact_amount=unit * quantity,
    )


def _rate_graduated(spec: PriceSpec, quantity: int) -> tuple[int, tuple[TierLine, ...]]:
    lines: list[TierLine] = []
    below = 0  # units covered by the tiers before this one
    for index, tier in enumerate(_require_valid_tiers(spec)):
        top = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = max(top - below, 0)
        # A tier is reached when a unit falls in it; the first tier is always reached, because
        # Stripe bills the first tier's flat amount even for quantity 0.
        if units == 0 and index > 0:
            break
        lines.append(_tier_line(index, below + 1, tier, units))
        if tier.up_to is None or quantity <= tier.up_to:
            break
        below = tier.up_to
    return quantity, tuple(lines)


def _rate_volume(spec: PriceSpec, quantity: int) -> tuple[int, tuple[TierLine, ...]]:
    below = 0
    for index, tier in enumerate(_require_valid_tiers(spec)):
        if tier.up_to is None or quantity <= tier.up_to:
            return quantity, (_tier_line(index, below + 1, tier, quantity),)
        below = tier.up_to
    raise AssertionError("validate_tiers guarantees an unbounded last tier")  # pragma: no cover


def _tier_line(index: int, from_quantity: int, tier: Tier, units: int) -> TierLine:
    unit = tier.unit_amount_decimal if tier.unit_amount_decimal is not None else _ZERO
    flat = tier.flat_amount_decimal if tier.flat_amount_decimal is not None else _ZERO
    return TierLine(
        tier_index=index,
        from_quantity=from_quantity,
        up_to=tier.up_to,
        quantity=units,
        unit_amount_decimal=unit,
        flat_amount_decimal=flat,
        exact_amount=unit * units + flat,
    )


_MODELS: dict[PricingModel, Callable[[PriceSpec, int], tuple[int, tuple[TierLine, ...]]]] = {
    PricingModel.PER_UNIT: _rate_per_unit,
    PricingModel.PACKAGE: _rate_package,
    PricingModel.GRADUATED: _rate_graduated,
    PricingModel.VOLUME: _rate_volume,
}
