"""Prorations to the second: Stripe's published examples, then the properties the billing loop relies on."""

from __future__ import annotations

import calendar
import itertools
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billfold.core.periods import INTERVALS, MAX_INTERVAL_COUNT, add_interval, period_containing
from billfold.core.proration import (
    ProrationResult,
    charge_remaining,
    credit_unused,
    prorate,
    proration_fraction,
)


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, second))


DAY = 86_400


# --- Stripe's examples -------------------------------------------------------------------------------


def test_upgrade_halfway_credits_unused_time_and_charges_the_rest() -> None:
    """https://docs.stripe.com/billing/subscriptions/prorations: "If a customer upgrades from a 10 USD
    monthly plan to a 20 USD option halfway through the billing period, the customer is billed an
    additional 5 USD": -5 USD unused time on the original plan, +10 USD remaining time on the new one.
    """
    start, end = period_containing(ts(2024, 4, 1), "month", 1, ts(2024, 4, 10))  # April: 30 days
    halfway = ts(2024, 4, 16)
    credit = credit_unused(1000, start, end, halfway)
    charge = charge_remaining(2000, start, end, halfway)
    assert (credit.amount, charge.amount) == (-500, 1000)
    assert credit.amount + charge.amount == 500
    assert (charge.fraction_num, charge.fraction_den) == (15 * DAY, 30 * DAY)
    assert credit.fraction == charge.fraction == Fraction(1, 2)


def test_backdated_start_in_february_is_half_a_month() -> None:
    """https://docs.stripe.com/billing/subscriptions/backdating: backdated to February 15 (non-leap year)
    on a cycle billing the 1st, "the proration calculation is based on a month running February 15 to
    March 15. Because that imagined month is 28 days, the prorated amount for the 14 days of February 15
    to March 1 is exactly half the amount of a normal monthly charge."
    """
    backdate = ts(2023, 2, 15)
    imagined_end = add_interval(backdate, "month", 1, 1)
    assert imagined_end == ts(2023, 3, 15)
    result = prorate(3900, backdate, imagined_end, backdate, ts(2023, 3, 1))
    assert result.fraction == Fraction(1, 2)
    assert (result.fraction_num, result.fraction_den) == (14 * DAY, 28 * DAY)
    assert result.amount == 1950


def test_backdated_start_in_january_is_17_31sts() -> None:
    """https://docs.stripe.com/billing/subscriptions/backdating: backdated to January 15, "the proration
    calculation is based on an imagined month running January 15 to February 15. Because that month is
    31 days, the prorated amount for the 17 days of January 15 to February 1 is 17 divided by 31 (or
    0.548) of a normal monthly charge."
    """
    backdate = ts(2023, 1, 15)
    imagined_end = add_interval(backdate, "month", 1, 1)
    assert imagined_end == ts(2023, 2, 15)
    assert proration_fraction(backdate, imagined_end, backdate, ts(2023, 2, 1)) == Fraction(17, 31)
    result = prorate(1000, backdate, imagined_end, backdate, ts(2023, 2, 1))
    assert round(result.exact / 1000, 3) == Decimal("0.548")
    assert result.exact.quantize(Decimal("0.000001")) == Decimal("548.387097")  # 17000 / 31
    assert result.amount == 548


def test_flexible_mode_credits_each_debit_for_what_it_billed() -> None:
    """https://docs.stripe.com/billing/subscriptions/billing-mode/compare: in flexible billing mode credit
    prorations "use the original debited amount instead of current subscription values. If the time period
    being credited was originally billed across multiple debits, Stripe generates multiple credit
    prorations". Our numbers: 30 USD a month per seat in a 30-day April, one seat billed for the period,
    a second seat added on day 10 (charged 20 USD for the last 20 days), both cancelled on day 20.
    """
    start, end = ts(2024, 4, 1), ts(2024, 5, 1)
    added, cancelled = ts(2024, 4, 11), ts(2024, 4, 21)
    second_seat = charge_remaining(3000, start, end, added)
    assert second_seat.amount == 2000
    credits = [
        credit_unused(3000, start, end, cancelled),  # the first seat's debit
        credit_unused(second_seat.amount, added, end, cancelled),  # the proration debit, over what it covered
    ]
    assert [c.amount for c in credits] == [-1000, -1000]
    assert sum(c.amount for c in credits) == -2 * 1000  # ten unused days of two seats at 1 USD a day


# --- Rounding ----------------------------------------------------------------------------------------


def test_rounds_once_half_away_from_zero() -> None:
    start, end = 0, 2
    assert prorate(5, start, end, 1, 2).amount == 3  # 2.5 -> 3
    assert credit_unused(5, start, end, 1).amount == -3  # -2.5 -> -3
    assert prorate(1, 0, 3, 0, 1).amount == 0  # 0.333... -> 0
    assert prorate(2, 0, 3, 0, 1).amount == 1  # 0.666... -> 1


def test_decimal_amounts_are_rounded_only_after_prorating() -> None:
    # unit_amount_decimal 0.5 cents x 3 seats = 1.5 cents for the period; half of it is 0.75 -> 1.
    result = prorate(Decimal("0.5") * 3, 0, 10, 5, 10)
    assert result.exact == Decimal("0.75")
    assert result.amount == 1


def test_zero_time_is_zero_and_the_whole_period_is_the_whole_amount() -> None:
    assert prorate(1234, 0, 100, 40, 40) == ProrationResult(0, Decimal(0), 0, 100)
    assert prorate(1234, 0, 100, 0, 100).amount == 1234
    assert credit_unused(1234, 0, 100, 100).amount == 0
    assert str(credit_unused(1234, 0, 100, 100).exact) == "0"


@pytest.mark.parametrize(
    ("period_start", "period_end", "from_t", "to_t"),
    [(10, 10, 10, 10), (10, 5, 6, 7), (10, 20, 9, 15), (10, 20, 12, 21), (10, 20, 15, 12)],
)
def test_spans_outside_the_period_are_rejected(
    period_start: int, period_end: int, from_t: int, to_t: int
) -> None:
    with pytest.raises(ValueError):
        proration_fraction(period_start, period_end, from_t, to_t)
    with pytest.raises(ValueError):
        prorate(100, period_start, period_end, from_t, to_t)


def test_a_change_outside_the_billed_period_is_rejected() -> None:
    with pytest.raises(ValueError):
        credit_unused(100, 10, 20, 9)
    with pytest.raises(ValueError):
        charge_remaining(100, 10, 20, 21)


# --- Properties --------------------------------------------------------------------------------------

AMOUNTS = st.integers(min_value=-(10**12), max_value=10**12)


@st.composite
def billing_periods(draw: st.DrawFn) -> tuple[int, int]:
    """A real billing period: one cycle of a random anchor, interval and count."""
    interval = draw(st.sampled_from(INTERVALS))
    count = draw(st.integers(min_value=1, max_value=MAX_INTERVAL_COUNT[interval]))
    anchor = draw(st.integers(min_value=ts(1990, 1, 1), max_value=ts(2100, 1, 1)))
    t = draw(st.integers(min_value=anchor, max_value=anchor + 10 * 366 * DAY))
    return period_containing(anchor, interval, count, t)


@given(billing_periods(), AMOUNTS, st.data())
def test_prorating_a_split_period_gives_back_the_whole(
    period: tuple[int, int], amount: int, data: st.DataObject
) -> None:
    """Each split adds at most one rounding, so the pieces sum to the amount within one minor unit per split."""
    start, end = period
    cuts = data.draw(
        st.lists(st.integers(min_value=start + 1, max_value=end - 1), unique=True, max_size=40).map(sorted)
    )
    edges = [start, *cuts, end]
    pieces = [prorate(amount, start, end, a, b) for a, b in itertools.pairwise(edges)]
    assert abs(sum(p.amount for p in pieces) - amount) <= len(cuts)
    assert sum(p.fraction for p in pieces) == 1
    assert sum(p.fraction_num for p in pieces) == end - start


@given(billing_periods(), AMOUNTS, st.data())
def test_a_change_to_the_same_price_nets_to_zero(
    period: tuple[int, int], amount: int, data: st.DataObject
) -> None:
    start, end = period
    change_at = data.draw(st.integers(min_value=start, max_value=end))
    credit = credit_unused(amount, start, end, change_at)
    charge = charge_remaining(amount, start, end, change_at)
    assert credit.amount + charge.amount == 0
    assert credit.exact + charge.exact == 0
    assert credit.fraction == charge.fraction


@given(billing_periods(), st.integers(min_value=0, max_value=10**12), st.data())
def test_credit_never_exceeds_what_was_billed_and_shrinks_with_time(
    period: tuple[int, int], billed: int, data: st.DataObject
) -> None:
    start, end = period
    earlier, later = sorted(
        data.draw(st.lists(st.integers(min_value=start, max_value=end), min_size=2, max_size=2))
    )
    a, b = credit_unused(billed, start, end, earlier), credit_unused(billed, start, end, later)
    assert -billed <= a.amount <= b.amount <= 0
    assert abs(a.exact - a.amount) <= Decimal("0.5")
