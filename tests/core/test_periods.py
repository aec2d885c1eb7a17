"""Billing cycle arithmetic: Stripe's published examples, then properties of the schedule."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billfold.core.periods import (
    INTERVALS,
    MAX_INTERVAL_COUNT,
    Interval,
    add_interval,
    cycle_index,
    is_interval,
    next_boundary_after,
    period_containing,
    to_datetime,
    to_unix,
    validate_interval,
)


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, second))


def boundaries(anchor: int, interval: Interval, count: int, n: int) -> list[int]:
    return [add_interval(anchor, interval, count, i) for i in range(n)]


# --- Stripe's examples -------------------------------------------------------------------------------


def test_month_end_anchor_clamps_and_returns_to_the_anchor_day() -> None:
    """https://docs.stripe.com/billing/subscriptions/billing-cycle: "A monthly subscription with a billing
    cycle anchor date of January 31 bills the last day of the month closest to the anchor date, so
    February 28 (or February 29 in a leap year), then March 31, April 30, and so on."
    """
    assert boundaries(ts(2023, 1, 31), "month", 1, 5) == [
        ts(2023, 1, 31),
        ts(2023, 2, 28),
        ts(2023, 3, 31),
        ts(2023, 4, 30),
        ts(2023, 5, 31),
    ]
    assert boundaries(ts(2024, 1, 31), "month", 1, 4) == [
        ts(2024, 1, 31),
        ts(2024, 2, 29),
        ts(2024, 3, 31),
        ts(2024, 4, 30),
    ]


def test_monthly_anchor_on_the_2nd_bills_on_the_2nd() -> None:
    """https://docs.stripe.com/billing/subscriptions/billing-cycle: "A monthly subscription with a billing
    cycle anchor date of September 2 always bills on the 2nd day of the month."
    """
    days = {to_datetime(b).day for b in boundaries(ts(2023, 9, 2), "month", 1, 30)}
    assert days == {2}


def test_weekly_anchor_on_a_friday_bills_every_friday() -> None:
    """https://docs.stripe.com/billing/subscriptions/billing-cycle: "A weekly subscription with a billing
    cycle anchor date of Friday, June 3 bills every Friday thereafter." (June 3, 2022 was a Friday.)
    """
    anchor = ts(2022, 6, 3)
    assert to_datetime(anchor).strftime("%A") == "Friday"
    assert boundaries(anchor, "week", 1, 3) == [ts(2022, 6, 3), ts(2022, 6, 10), ts(2022, 6, 17)]
    assert {to_datetime(b).strftime("%A") for b in boundaries(anchor, "week", 1, 60)} == {"Friday"}


def test_the_period_before_a_future_anchor_ends_at_the_anchor() -> None:
    """https://docs.stripe.com/payments/checkout/billing-cycle: "a monthly subscription created on May 15
    with an anchor at June 1 is billed on May 15, then always on the 1st of the month." The schedule
    extended backwards puts May 15 in [May 1, June 1), and the next bill on June 1.
    """
    anchor = ts(2024, 6, 1)
    assert period_containing(anchor, "month", 1, ts(2024, 5, 15)) == (ts(2024, 5, 1), ts(2024, 6, 1))
    assert next_boundary_after(anchor, "month", 1, ts(2024, 5, 15)) == anchor
    assert boundaries(anchor, "month", 1, 3) == [ts(2024, 6, 1), ts(2024, 7, 1), ts(2024, 8, 1)]


# --- Our own literal cases ---------------------------------------------------------------------------


def test_time_of_day_is_kept() -> None:
    anchor = ts(2023, 1, 31, 13, 45, 7)
    assert add_interval(anchor, "month", 1, 1) == ts(2023, 2, 28, 13, 45, 7)
    assert add_interval(anchor, "year", 1, 1) == ts(2024, 1, 31, 13, 45, 7)
    assert add_interval(anchor, "day", 1, 1) == ts(2023, 2, 1, 13, 45, 7)


def test_boundaries_come_from_the_anchor_not_the_previous_boundary() -> None:
    anchor = ts(2023, 1, 31)
    stepwise = add_interval(add_interval(anchor, "month", 1, 1), "month", 1, 1)
    assert stepwise == ts(2023, 3, 28)  # what chaining would drift to
    assert add_interval(anchor, "month", 1, 2) == ts(2023, 3, 31)


def test_quarterly_from_november_30() -> None:
    assert boundaries(ts(2023, 11, 30), "month", 3, 5) == [
        ts(2023, 11, 30),
        ts(2024, 2, 29),
        ts(2024, 5, 30),
        ts(2024, 8, 30),
        ts(2024, 11, 30),
    ]


def test_yearly_from_february_29() -> None:
    anchor = ts(2024, 2, 29)
    assert boundaries(anchor, "year", 1, 5) == [
        ts(2024, 2, 29),
        ts(2025, 2, 28),
        ts(2026, 2, 28),
        ts(2027, 2, 28),
        ts(2028, 2, 29),
    ]
    assert add_interval(anchor, "year", 1, -1) == ts(2023, 2, 28)


def test_negative_n_reaches_back_with_the_same_rule() -> None:
    anchor = ts(2023, 3, 31)
    assert add_interval(anchor, "month", 1, -1) == ts(2023, 2, 28)
    assert add_interval(anchor, "month", 1, -2) == ts(2023, 1, 31)
    assert add_interval(anchor, "week", 2, -1) == ts(2023, 3, 17)


def test_periods_are_half_open() -> None:
    anchor = ts(2023, 1, 31)
    feb_28 = ts(2023, 2, 28)
    assert period_containing(anchor, "month", 1, feb_28) == (feb_28, ts(2023, 3, 31))
    assert period_containing(anchor, "month", 1, feb_28 - 1) == (anchor, feb_28)
    assert next_boundary_after(anchor, "month", 1, feb_28 - 1) == feb_28
    assert next_boundary_after(anchor, "month", 1, feb_28) == ts(2023, 3, 31)
    assert cycle_index(anchor, "month", 1, anchor) == 0
    assert cycle_index(anchor, "month", 1, anchor - 1) == -1


def test_unix_conversion_round_trips_and_rejects_naive_or_sub_second() -> None:
    t = ts(2024, 2, 29, 23, 59, 59)
    assert to_datetime(t) == datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)
    assert to_unix(to_datetime(t)) == t
    with pytest.raises(ValueError):
        to_unix(datetime(2024, 1, 1))  # naive on purpose
    with pytest.raises(ValueError):
        to_unix(datetime(2024, 1, 1, microsecond=1, tzinfo=UTC))


# --- Validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "count"),
    [("day", 1), ("day", 1095), ("week", 156), ("month", 36), ("month", 12), ("year", 3)],
)
def test_interval_counts_up_to_three_years_are_valid(interval: str, count: int) -> None:
    """The pinned SDK (stripe 16.1.0, API 2026-10-28.endive) documents price ``recurring.interval_count``
    as "Maximum of three years interval allowed (3 years, 36 months, or 156 weeks)".
    """
    assert validate_interval(interval, count) is None


@pytest.mark.parametrize(
    ("interval", "count"),
    [("day", 1096), ("week", 157), ("month", 37), ("year", 4), ("month", 0), ("month", -1), ("month", True)],
)
def test_interval_counts_out_of_range_are_invalid(interval: str, count: int) -> None:
    message = validate_interval(interval, count)
    assert message is not None
    assert "interval_count" in message


def test_unknown_interval_is_invalid() -> None:
    message = validate_interval("fortnight", 1)
    assert message is not None
    assert "interval" in message
    assert not is_interval("fortnight")
    assert all(is_interval(i) for i in INTERVALS)
    assert set(MAX_INTERVAL_COUNT) == set(INTERVALS)


def test_arithmetic_rejects_bad_counts() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError):
            add_interval(0, "month", bad, 1)
        with pytest.raises(ValueError):
            period_containing(0, "day", bad, 5)


# --- Properties --------------------------------------------------------------------------------------

ANCHORS = st.integers(min_value=ts(1971, 1, 1), max_value=ts(2200, 12, 31, 23, 59, 59))
NS = st.integers(min_value=-60, max_value=400)


@st.composite
def cycles(draw: st.DrawFn) -> tuple[int, Interval, int]:
    interval = draw(st.sampled_from(INTERVALS))
    count = draw(st.integers(min_value=1, max_value=MAX_INTERVAL_COUNT[interval]))
    return draw(ANCHORS), interval, count


@given(cycles(), NS)
def test_boundaries_strictly_increase_and_start_at_the_anchor(
    cycle: tuple[int, Interval, int], n: int
) -> None:
    anchor, interval, count = cycle
    assert add_interval(anchor, interval, count, 0) == anchor
    assert add_interval(anchor, interval, count, n) < add_interval(anchor, interval, count, n + 1)


@given(cycles(), NS)
def test_calendar_boundaries_keep_the_anchor_day_clamped_and_the_time(
    cycle: tuple[int, Interval, int], n: int
) -> None:
    anchor, interval, count = cycle
    a = to_datetime(anchor)
    b = to_datetime(add_interval(anchor, interval, count, n))
    if interval in ("day", "week"):
        step = count * (7 if interval == "week" else 1) * 86_400
        assert to_unix(b) - anchor == n * step
        return
    months = n * count * (12 if interval == "year" else 1)
    assert (b.year * 12 + b.month) - (a.year * 12 + a.month) == months
    assert b.day == min(a.day, calendar.monthrange(b.year, b.month)[1])
    assert b.time() == a.time()


@given(cycles(), st.integers(min_value=ts(1980, 1, 1), max_value=ts(2190, 1, 1)))
def test_period_containing_contains_t_and_is_one_cycle(cycle: tuple[int, Interval, int], t: int) -> None:
    anchor, interval, count = cycle
    start, end = period_containing(anchor, interval, count, t)
    n = cycle_index(anchor, interval, count, t)
    assert start <= t < end
    assert start == add_interval(anchor, interval, count, n)
    assert end == add_interval(anchor, interval, count, n + 1)
    assert next_boundary_after(anchor, interval, count, t) == end
    assert next_boundary_after(anchor, interval, count, start - 1) == start
    assert period_containing(anchor, interval, count, start) == (start, end)
    assert period_containing(anchor, interval, count, end - 1) == (start, end)


@given(cycles(), NS, NS)
def test_anchor_days_up_to_28_compose(cycle: tuple[int, Interval, int], n: int, m: int) -> None:
    """Only clamping breaks composition; below day 29 no month is too short, so steps add up."""
    anchor, interval, count = cycle
    d = to_datetime(anchor)
    anchor = to_unix(d.replace(day=min(d.day, 28)))
    step = add_interval(add_interval(anchor, interval, count, n), interval, count, m)
    assert step == add_interval(anchor, interval, count, n + m)
