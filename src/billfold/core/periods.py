"""Billing cycle arithmetic: where a subscription's billing periods start and end.

Every invoice, proration and renewal needs the same answer to "which billing period is this second in?", so
the answer lives here, once, as pure functions of the billing cycle anchor, the price's recurring interval
and interval count. Times are ``int`` Unix seconds, as on Stripe's wire; calendar math is done on aware UTC
datetimes internally. Periods are half-open ``[start, end)``.

The schedule is the sequence of boundaries ``add_interval(anchor, interval, count, n)`` for every integer
``n`` (negative ``n`` reaches back before the anchor). Each boundary is computed from the anchor directly,
never from the previous boundary, so a month-end anchor does not drift (Jan 31 -> Feb 28 -> Mar 31, not
Mar 28).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Final, Literal, TypeGuard, get_args

Interval = Literal["day", "week", "month", "year"]
INTERVALS: Final[tuple[Interval, ...]] = get_args(Interval)

# Longest recurring interval a price may have, per interval. The pinned SDK (stripe 16.1.0, API version
# 2026-10-28.endive; stripe/params/_price_create_params.py) documents `recurring.interval_count` as "Maximum
# of three years interval allowed (3 years, 36 months, or 156 weeks)"; older API versions (2023-08-16, in
# ../shared/stripe-openapi-billing.json) allowed one year (1 year, 12 months, or 52 weeks). Stripe names no
# day limit; three years of days is our reading.
MAX_INTERVAL_COUNT: Final[Mapping[Interval, int]] = MappingProxyType(
    {"day": 3 * 365, "week": 156, "month": 36, "year": 3}
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL: Final = _EPOCH.toordinal()
_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February of a leap year: one more
_ONE_SECOND: Final = timedelta(seconds=1)
_SECONDS_PER_DAY: Final = 86_400
_DAYS_PER_INTERVAL: Final[dict[Interval, int]] = {"day": 1, "week": 7}
_MONTHS_PER_INTERVAL: Final[dict[Interval, int]] = {"month": 1, "year": 12}


def is_interval(value: str) -> TypeGuard[Interval]:
    """Whether ``value`` is one of the recurring intervals (``day``, ``week``, ``month``, ``year``)."""
    return value in INTERVALS


def validate_interval(interval: str, count: int) -> str | None:
    """Check a price's ``recurring[interval]`` and ``recurring[interval_count]``.

    Returns a message for the API error, or ``None`` when the pair is valid.
    """
    if not is_interval(interval):
        return f"Invalid interval: must be one of {', '.join(INTERVALS)}."
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return "Invalid interval_count: must be a positive integer."
    limit = MAX_INTERVAL_COUNT[interval]
    if count > limit:
        return (
            f"Invalid interval_count: the maximum for interval={interval} is {limit} "
            "(at most three years: 3 years, 36 months, 156 weeks or 1095 days)."
        )
    return None


def to_datetime(t: int) -> datetime:
    """The aware UTC datetime of Unix second ``t``."""
    return _EPOCH + timedelta(seconds=t)


def to_unix(dt: datetime) -> int:
    """Unix seconds of an aware datetime; sub-second parts are not allowed (the wire has none)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: billing times are aware UTC")
    delta = dt - _EPOCH
    if delta % _ONE_SECOND:
        raise ValueError("datetime has a fraction of a second")
    return delta // _ONE_SECOND


def add_interval(anchor: int, interval: Interval, count: int, n: int) -> int:
    """The ``n``-th cycle boundary from ``anchor``: ``anchor`` advanced by ``n * count`` intervals.

    ``n`` may be negative (boundaries before the anchor). ``day`` and ``week`` are fixed lengths (UTC has
    no daylight saving). ``month`` and ``year`` keep the anchor's day of month and time of day; where a month
    is too short the boundary is its last day. The anchor's own day is used for every boundary, so an
    anchor on Jan 31 gives Feb 28 (29 in a leap year), Mar 31, Apr 30, ...
    https://docs.stripe.com/billing/subscriptions/billing-cycle

    Any positive ``count`` is computed; whether a price may use it is ``validate_interval``'s question.
    """
    _check_count(count)
    if interval in _DAYS_PER_INTERVAL:
        return anchor + n * count * _DAYS_PER_INTERVAL[interval] * _SECONDS_PER_DAY
    if interval in _MONTHS_PER_INTERVAL:
        return _add_months(anchor, n * count * _MONTHS_PER_INTERVAL[interval])
    raise ValueError(f"unknown interval: {interval!r}")


def cycle_index(anchor: int, interval: Interval, count: int, t: int) -> int:
    """The ``n`` with ``add_interval(anchor, ..., n) <= t < add_interval(anchor, ..., n + 1)``.

    ``0`` is the period that starts at the anchor; negative for ``t`` before the anchor.
    """
    return _cycle(anchor, interval, count, t)[0]


def period_containing(anchor: int, interval: Interval, count: int, t: int) -> tuple[int, int]:
    """The billing period ``[start, end)`` of the anchor's cycle that contains second ``t``.

    For ``t`` before the anchor the cycle is extended backwards with the same rule, so a ``t`` within one
    interval before the anchor gets the period that ends at the anchor (Stripe's "interval-aligned" periods:
    https://docs.stripe.com/billing/subscriptions/billing-cycle). Stripe prorates a backdated start against
    an imagined period that starts at the backdate instead
    (https://docs.stripe.com/billing/subscriptions/backdating); for that, pass the backdate as ``anchor``.
    """
    _, start, end = _cycle(anchor, interval, count, t)
    return start, end


def _cycle(anchor: int, interval: Interval, count: int, t: int) -> tuple[int, int, int]:
    """``n`` of the period containing ``t``, and the period's start and end (each boundary computed once)."""
    _check_count(count)
    if interval in _DAYS_PER_INTERVAL:
        length = count * _DAYS_PER_INTERVAL[interval] * _SECONDS_PER_DAY
        n = (t - anchor) // length
        start = anchor + n * length
        return n, start, start + length
    if interval not in _MONTHS_PER_INTERVAL:
        raise ValueError(f"unknown interval: {interval!r}")
    # Estimate from the calendar months between anchor and t, then step to the exact period: clamping to
    # a month's end moves a boundary by at most a few days, so at most one step is needed either way.
    step = count * _MONTHS_PER_INTERVAL[interval]
    n = (_month_number(t) - _month_number(anchor)) // step
    start, end = _add_months(anchor, n * step), _add_months(anchor, (n + 1) * step)
    while start > t:
        n, end = n - 1, start
        start = _add_months(anchor, n * step)
    while end <= t:
        n, start = n + 1, end
        end = _add_months(anchor, (n + 1) * step)
    return n, start, end


def next_boundary_after(anchor: int, interval: Interval, count: int, t: int) -> int:
    """The first cycle boundary strictly after ``t`` (a ``t`` on a boundary gets the next one)."""
    return period_containing(anchor, interval, count, t)[1]


def _add_months(t: int, months: int) -> int:
    """``t`` moved by whole calendar months, on the same day of month (or the month's last day) and time of day.
    In whole days and seconds rather than datetimes: a renewal computes several of these."""
    days, seconds = divmod(t, _SECONDS_PER_DAY)
    d = date.fromordinal(_EPOCH_ORDINAL + days)
    year, month0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    last = _DAYS_IN_MONTH[month0] + (month0 == 1 and calendar.isleap(year))
    moved = date(year, month0 + 1, min(d.day, last))
    return (moved.toordinal() - _EPOCH_ORDINAL) * _SECONDS_PER_DAY + seconds


def _month_number(t: int) -> int:
    """Calendar months from year 0 to the month of ``t``."""
    d = date.fromordinal(_EPOCH_ORDINAL + t // _SECONDS_PER_DAY)
    return d.year * 12 + d.month - 1


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"interval count must be a positive integer, not {count!r}")
