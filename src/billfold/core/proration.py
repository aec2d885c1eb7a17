"""Prorations: the share of a period's amount that belongs to part of the period, to the second.

When a subscription changes mid-period (price, quantity, cancellation) the customer is credited for the
unused time of what was billed and charged for the remaining time at the new terms. Stripe computes this
"down to the second based on the starting timestamp of the billing period and the timestamp of the
proration's triggering event" (https://docs.stripe.com/billing/scripts/prorations). The same arithmetic
prices a partial first period (billing cycle anchor in the future, backdating).

The fraction is kept exact (``fractions.Fraction`` of seconds) and the amount is rounded once, at the end,
per proration line, with the house rounding rule (ROUND_HALF_UP, half away from zero). Because credits and
charges round the magnitude the same way, a change to the same price at any second nets to exactly zero.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction
from typing import Final

from billfold.core.money import round_minor
from billfold.core.values import value_type

# Enough significant digits that the quotient, rounded to this precision, can never land on a half
# minor unit it is not exactly at (that would need |amount| * period seconds near 10**48).
_EXACT: Final = Context(prec=50, rounding=ROUND_HALF_UP)


@value_type
class ProrationResult:
    """One prorated amount with its lineage.

    ``amount`` is in minor units, rounded once from ``exact``. ``fraction_num`` / ``fraction_den`` are the
    prorated seconds over the period's seconds, unreduced, so an invoice line can say what it was based on.
    """

    amount: int
    exact: Decimal
    fraction_num: int
    fraction_den: int

    @property
    def fraction(self) -> Fraction:
        """The prorated share of the period, exactly."""
        return Fraction(self.fraction_num, self.fraction_den)


def proration_fraction(period_start: int, period_end: int, from_t: int, to_t: int) -> Fraction:
    """The share of the period ``[period_start, period_end)`` covered by ``[from_t, to_t)``, exactly."""
    _check_span(period_start, period_end, from_t, to_t)
    return Fraction(to_t - from_t, period_end - period_start)


def prorate(
    amount: int | Decimal, period_start: int, period_end: int, from_t: int, to_t: int
) -> ProrationResult:
    """The part of ``amount`` (for the whole period) that belongs to ``[from_t, to_t)``.

    ``amount`` is the period's amount in minor units; a ``Decimal`` is accepted for an unrounded line amount
    (``unit_amount_decimal`` times quantity) so that rounding still happens only here.
    """
    _check_span(period_start, period_end, from_t, to_t)
    num, den = to_t - from_t, period_end - period_start
    exact = Fraction(amount) * Fraction(num, den)
    exact_decimal = _EXACT.divide(Decimal(exact.numerator), Decimal(exact.denominator))
    return ProrationResult(
        amount=round_minor(exact_decimal), exact=exact_decimal, fraction_num=num, fraction_den=den
    )


def credit_unused(
    billed_amount: int | Decimal, billed_period_start: int, billed_period_end: int, change_at: int
) -> ProrationResult:
    """The credit (a negative amount) for the time from ``change_at`` to the end of what was billed.

    The credit is based on what was actually billed for that time, not on the item's current price, tax or
    discounts: Stripe's "flexible" billing mode, where "credit prorations use the original debited amount"
    and time billed by several debits is credited by one credit per debit
    (https://docs.stripe.com/billing/subscriptions/billing-mode/compare). So pass the debit's own amount and
    the period it covered (for a proration debit, the part of the period it charged for), once per debit.
    """
    _check_span(billed_period_start, billed_period_end, change_at, billed_period_end)
    used = prorate(billed_amount, billed_period_start, billed_period_end, change_at, billed_period_end)
    return ProrationResult(
        amount=-used.amount,
        exact=_EXACT.minus(used.exact),
        fraction_num=used.fraction_num,
        fraction_den=used.fraction_den,
    )


def charge_remaining(
    new_amount: int | Decimal, period_start: int, period_end: int, change_at: int
) -> ProrationResult:
    """The charge for the new terms from ``change_at`` to the end of the current period.

    ``new_amount`` is what the whole period costs at the new price and quantity.
    https://docs.stripe.com/billing/subscriptions/prorations
    """
    return prorate(new_amount, period_start, period_end, change_at, period_end)


def _check_span(period_start: int, period_end: int, from_t: int, to_t: int) -> None:
    if period_end <= period_start:
        raise ValueError(f"empty period: [{period_start}, {period_end})")
    if not period_start <= from_t <= to_t <= period_end:
        raise ValueError(f"[{from_t}, {to_t}) is not inside the period [{period_start}, {period_end})")
