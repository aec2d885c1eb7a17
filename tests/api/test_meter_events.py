"""Usage through the official stripe SDK over real HTTP: meter events, cancel adjustments and event summaries.

https://docs.stripe.com/api/billing/meter-event, .../meter-event-adjustment, .../meter-event-summary and
https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import pytest
import stripe

from tests.api.test_meters import make_meter
from tests.api.test_products import rejected
from tests.conftest import Tenant

HOUR, DAY = 3_600, 86_400
T0 = 1_704_067_200  # 2024-01-01 00:00:00 UTC, a test clock's frozen time


def aligned_hour() -> int:
    """The start of the hour five hours ago: inside the 35-day window, with whole hours after it."""
    return (int(time.time()) // HOUR - 5) * HOUR


def usage(c: stripe.StripeClient, meter: str, customer: str, start: int, end: int) -> float:
    summaries = c.v1.billing.meters.event_summaries.list(
        meter, params={"customer": customer, "start_time": start, "end_time": end}
    )
    assert len(summaries.data) == 1 and summaries.has_more is False
    return summaries.data[0].aggregated_value


def report(
    c: stripe.StripeClient, customer: str, value: str, *, event_name: str = "api_requests", **extra: Any
) -> stripe.billing.MeterEvent:
    params: dict[str, Any] = {
        "event_name": event_name,
        "payload": {"stripe_customer_id": customer, "value": value},
        **extra,
    }
    return c.v1.billing.meter_events.create(params=params)  # type: ignore[arg-type]


def test_record_events_and_summarize_by_window(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(c)
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    other = c.v1.customers.create(params={"name": "Globex"}).id
    start = aligned_hour()
    rows = (tenant.rows(), tenant.audit_rows())

    first = report(c, cus, "25", timestamp=start + 10, identifier="req-1")
    assert first.object == "billing.meter_event" and first.livemode is False
    assert first.event_name == "api_requests" and first.identifier == "req-1"
    assert first.payload.to_dict() == {"stripe_customer_id": cus, "value": "25"}
    assert first.timestamp == start + 10 and first.created >= start
    report(c, cus, "5", timestamp=start + HOUR - 1)
    report(c, cus, "-3", timestamp=start + 2 * HOUR)  # negative values correct earlier over-reporting
    report(c, cus, "100", timestamp=start + 4 * HOUR + 59)
    report(c, other, "7", timestamp=start + HOUR)
    generated = report(c, cus, "1")  # default timestamp: now; default identifier: generated
    assert generated.identifier and abs(generated.timestamp - int(time.time())) < 60
    # Meter events write no evt_ events and no audit rows (high volume; the meter_events row is the record).
    assert (tenant.rows(), tenant.audit_rows()) == rows

    end = start + 5 * HOUR
    assert usage(c, meter.id, cus, start, end) == 127
    assert usage(c, meter.id, other, start, end) == 7
    assert usage(c, meter.id, cus, start + HOUR, start + 2 * HOUR) == 0  # no events: one summary of 0

    hourly = c.v1.billing.meters.event_summaries.list(
        meter.id,
        params={"customer": cus, "start_time": start, "end_time": end, "value_grouping_window": "hour"},
    )
    assert hourly.url == f"/v1/billing/meters/{meter.id}/event_summaries"
    # Newest window first; windows without events are left out.
    got = [(s.start_time, s.end_time, s.aggregated_value) for s in hourly.data]
    assert got == [
        (start + 4 * HOUR, end, 100),
        (start + 2 * HOUR, start + 3 * HOUR, -3),
        (start, start + HOUR, 30),
    ]
    assert all(s.object == "billing.meter_event_summary" and s.meter == meter.id for s in hourly.data)
    assert all(s.id.startswith("mtrusg_") and s.livemode is False for s in hourly.data)

    page = c.v1.billing.meters.event_summaries.list(
        meter.id,
        params={
            "customer": cus,
            "start_time": start,
            "end_time": end,
            "value_grouping_window": "hour",
            "limit": 2,
        },
    )
    assert [s.start_time for s in page.data] == [start + 4 * HOUR, start + 2 * HOUR] and page.has_more is True
    rest = c.v1.billing.meters.event_summaries.list(
        meter.id,
        params={
            "customer": cus,
            "start_time": start,
            "end_time": end,
            "value_grouping_window": "hour",
            "starting_after": page.data[-1].id,
        },
    )
    assert [s.start_time for s in rest.data] == [start] and rest.has_more is False
    back = c.v1.billing.meters.event_summaries.list(
        meter.id,
        params={
            "customer": cus,
            "start_time": start,
            "end_time": end,
            "value_grouping_window": "hour",
            "ending_before": rest.data[0].id,
            "limit": 1,
        },
    )
    assert [s.start_time for s in back.data] == [start + 2 * HOUR] and back.has_more is True
    every = c.v1.billing.meters.event_summaries.list(
        meter.id,
        params={
            "customer": cus,
            "start_time": start,
            "end_time": end,
            "value_grouping_window": "hour",
            "limit": 1,
        },
    ).auto_paging_iter()
    assert [s.aggregated_value for s in every] == [100, -3, 30]

    day = (int(time.time()) // DAY - 2) * DAY
    daily = c.v1.billing.meters.event_summaries.list(
        meter.id,
        params={
            "customer": cus,
            "start_time": day,
            "end_time": day + 3 * DAY,
            "value_grouping_window": "day",
        },
    )
    assert sum(s.aggregated_value for s in daily.data) == 128
    assert all(s.end_time - s.start_time == DAY for s in daily.data)


def test_count_and_last_formulas_and_custom_keys(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    logins = make_meter(c, "logins", default_aggregation={"formula": "count"})
    storage = make_meter(
        c,
        "storage",
        default_aggregation={"formula": "last"},
        customer_mapping={"type": "by_id", "event_payload_key": "account"},
        value_settings={"event_payload_key": "gigabytes"},
    )
    start = aligned_hour()
    for i in range(3):
        # A count meter counts events: the value is optional.
        c.v1.billing.meter_events.create(
            params={"event_name": "logins", "payload": {"stripe_customer_id": cus}, "timestamp": start + i}
        )
    for at, gb in ((start + 30, "12"), (start + 10, "99"), (start + 20, "40")):
        c.v1.billing.meter_events.create(
            params={"event_name": "storage", "payload": {"account": cus, "gigabytes": gb}, "timestamp": at}
        )
    assert usage(c, logins.id, cus, start, start + HOUR) == 3
    assert usage(c, storage.id, cus, start, start + HOUR) == 12  # the latest timestamp's value
    assert usage(c, storage.id, cus, start + HOUR, start + 2 * HOUR) == 0


def test_duplicate_identifier_is_rejected_and_not_counted_twice(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(c)
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    start = aligned_hour()
    report(c, cus, "10", timestamp=start, identifier="evt-0001")
    rejected(
        tenant,
        lambda: report(c, cus, "10", timestamp=start, identifier="evt-0001"),
        400,
        "identifier",
        "An event already exists with identifier evt-0001",
    )
    # Even with another value or customer: the identifier names one event.
    other = c.v1.customers.create(params={"name": "Globex"}).id
    with pytest.raises(stripe.InvalidRequestError):
        report(c, other, "99", timestamp=start, identifier="evt-0001")
    assert usage(c, meter.id, cus, start, start + HOUR) == 10
    assert usage(c, meter.id, other, start, start + HOUR) == 0
    # Identifiers are per account and mode: live mode may reuse one.
    make_meter(tenant.live_client)
    live_cus = tenant.live_client.v1.customers.create(params={"name": "Live"}).id
    assert report(tenant.live_client, live_cus, "1", identifier="evt-0001").livemode is True


def test_retry_with_the_same_idempotency_key_replays(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(c)
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    start = aligned_hour()
    params: dict[str, Any] = {
        "event_name": "api_requests",
        "payload": {"stripe_customer_id": cus, "value": "42"},
        "timestamp": start,
    }
    first = c.v1.billing.meter_events.create(params=params, options={"idempotency_key": "usage-42"})  # type: ignore[arg-type]
    again = c.v1.billing.meter_events.create(params=params, options={"idempotency_key": "usage-42"})  # type: ignore[arg-type]
    assert again.to_dict() == first.to_dict()  # same generated identifier: the first response, replayed
    assert again.last_response is not None
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert usage(c, meter.id, cus, start, start + HOUR) == 42


def test_event_for_a_test_clock_customer_lives_at_clock_time(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(c)
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    cus = c.v1.customers.create(params={"name": "Clocked", "test_clock": clock.id}).id
    event = report(c, cus, "3")
    assert event.timestamp == T0 and event.created == T0
    report(c, cus, "4", timestamp=T0 - 30 * DAY)
    rows = (tenant.rows(), tenant.audit_rows())
    for at, fragment in (
        (int(time.time()), "cannot be in future"),
        (T0 - 36 * DAY, "more than 35 days in past"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as err:
            report(c, cus, "5", timestamp=at)
        assert err.value.http_status == 400 and err.value.param == "timestamp"
        assert fragment in str(err.value.user_message)
    assert (tenant.rows(), tenant.audit_rows()) == rows
    assert usage(c, meter.id, cus, T0 - 31 * DAY, T0 + DAY) == 7


def pay(cus: str, **kv: Any) -> dict[str, Any]:
    return {"stripe_customer_id": cus, "value": "1", **kv}


def _bad_event_cases() -> list[tuple[str, Callable[[str], dict[str, Any]], int, str, str]]:
    now = int(time.time())
    return [
        ("no event name", lambda cus: {"payload": pay(cus)}, 400, "event_name", "Missing required param: event_name"),
        ("unknown event name", lambda cus: {"event_name": "nope", "payload": pay(cus)}, 400, "event_name", "No active meter has the event name `nope`"),
        ("inactive meter", lambda cus: {"event_name": "retired", "payload": pay(cus)}, 400, "event_name", "is inactive"),
        ("no payload", lambda cus: {"event_name": "api_requests"}, 400, "payload", "Missing required param: payload"),
        ("no customer", lambda cus: {"event_name": "api_requests", "payload": {"value": "1"}}, 400, "payload[stripe_customer_id]", "Missing required param: payload[stripe_customer_id]"),
        ("unknown customer", lambda cus: {"event_name": "api_requests", "payload": pay("cus_nope")}, 404, "payload[stripe_customer_id]", "No such customer: 'cus_nope'"),
        ("no value", lambda cus: {"event_name": "api_requests", "payload": {"stripe_customer_id": cus}}, 400, "payload[value]", "Missing required param: payload[value]"),
        ("decimal value", lambda cus: {"event_name": "api_requests", "payload": pay(cus, value="2.5")}, 400, "payload[value]", "not a whole number"),
        ("word value", lambda cus: {"event_name": "api_requests", "payload": pay(cus, value="lots")}, 400, "payload[value]", "not a whole number"),
        ("huge value", lambda cus: {"event_name": "api_requests", "payload": pay(cus, value="9" * 20)}, 400, "payload[value]", "between"),
        ("nested payload", lambda cus: {"event_name": "api_requests", "payload": pay(cus, extra={"a": "b"})}, 400, "payload[extra]", "must be strings"),
        ("old timestamp", lambda cus: {"event_name": "api_requests", "payload": pay(cus), "timestamp": now - 36 * DAY}, 400, "timestamp", "more than 35 days in past"),
        ("future timestamp", lambda cus: {"event_name": "api_requests", "payload": pay(cus), "timestamp": now + 3600}, 400, "timestamp", "cannot be in future"),
        ("bad timestamp", lambda cus: {"event_name": "api_requests", "payload": pay(cus), "timestamp": "soon"}, 400, "timestamp", "Invalid integer"),
        ("long identifier", lambda cus: {"event_name": "api_requests", "payload": pay(cus), "identifier": "i" * 101}, 400, "identifier", "at most 100"),
        ("unknown param", lambda cus: {"event_name": "api_requests", "payload": pay(cus), "meter": "mtr_1"}, 400, "meter", "Received unknown parameter"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "status", "param", "fragment"),
    [case[1:] for case in _bad_event_cases()],
    ids=[case[0] for case in _bad_event_cases()],
)
def test_bad_event_writes_nothing(
    tenant: Tenant, build: Callable[[str], dict[str, Any]], status: int, param: str, fragment: str
) -> None:
    c = tenant.client
    meter = make_meter(c)
    retired = make_meter(c, "retired")
    c.v1.billing.meters.deactivate(retired.id)
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    start = aligned_hour()
    report(c, cus, "10", timestamp=start)
    rejected(tenant, lambda: c.v1.billing.meter_events.create(params=build(cus)), status, param, fragment)  # type: ignore[arg-type]
    assert usage(c, meter.id, cus, start, start + 6 * HOUR) == 10


def test_deleted_customer_takes_no_events(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(c)
    cus = c.v1.customers.create(params={"name": "Gone"}).id
    start = aligned_hour()
    report(c, cus, "2", timestamp=start)
    c.v1.customers.delete(cus)
    rejected(tenant, lambda: report(c, cus, "5", timestamp=start), 404, "payload[stripe_customer_id]", cus)
    # Its recorded usage stays readable.
    assert usage(c, meter.id, cus, start, start + HOUR) == 2


def test_cancel_adjustment_stops_an_event_counting(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(c)
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    start = aligned_hour()
    report(c, cus, "10", timestamp=start, identifier="keep")
    report(c, cus, "500", timestamp=start + 60, identifier="mistake")
    assert usage(c, meter.id, cus, start, start + HOUR) == 510
    audits = tenant.audit_rows()

    adj = c.v1.billing.meter_event_adjustments.create(
        params={"event_name": "api_requests", "type": "cancel", "cancel": {"identifier": "mistake"}}
    )
    assert adj.object == "billing.meter_event_adjustment" and adj.type == "cancel"
    assert adj.status == "complete" and adj.event_name == "api_requests" and adj.livemode is False
    assert adj.cancel is not None and adj.cancel.identifier == "mistake"
    assert tenant.audit_rows() == audits + 1  # the cancel is audited
    assert usage(c, meter.id, cus, start, start + HOUR) == 10
    # A canceled identifier stays taken.
    with pytest.raises(stripe.InvalidRequestError) as err:
        report(c, cus, "500", timestamp=start, identifier="mistake")
    assert err.value.param == "identifier"

    def cancel(params: dict[str, Any]) -> Callable[[], Any]:
        return lambda: c.v1.billing.meter_event_adjustments.create(params=params)  # type: ignore[arg-type]

    ok = {"event_name": "api_requests", "type": "cancel"}
    rejected(
        tenant,
        cancel({**ok, "cancel": {"identifier": "mistake"}}),
        400,
        "cancel[identifier]",
        "already canceled",
    )
    rejected(
        tenant,
        cancel({**ok, "cancel": {"identifier": "nope"}}),
        400,
        "cancel[identifier]",
        "No meter event with identifier `nope`",
    )
    rejected(
        tenant,
        cancel({**ok, "event_name": "other", "cancel": {"identifier": "keep"}}),
        400,
        "event_name",
        "has event name `api_requests`",
    )
    rejected(tenant, cancel(ok), 400, "cancel[identifier]", "Missing required param: cancel[identifier]")
    rejected(
        tenant,
        cancel({**ok, "type": "cancel_range", "cancel": {"identifier": "keep"}}),
        400,
        "type",
        "must be one of",
    )
    rejected(
        tenant,
        cancel({"type": "cancel", "cancel": {"identifier": "keep"}}),
        400,
        "event_name",
        "Missing required param",
    )
    assert usage(c, meter.id, cus, start, start + HOUR) == 10


def test_bad_summary_requests(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(c)
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    start = aligned_hour()

    def summaries(meter_id: str = meter.id, **params: Any) -> Callable[[], Any]:
        full = {"customer": cus, "start_time": start, "end_time": start + HOUR, **params}
        return lambda: c.v1.billing.meters.event_summaries.list(meter_id, params=full)  # type: ignore[arg-type]

    rejected(tenant, summaries(start_time=start + 30), 400, "start_time", "not aligned to a minute boundary")
    rejected(tenant, summaries(end_time=start + 90), 400, "end_time", "not aligned to a minute boundary")
    rejected(
        tenant,
        summaries(start_time=start + 60, value_grouping_window="hour"),
        400,
        "start_time",
        "hour boundary",
    )
    # Five hours ago is midnight between 05:00 and 06:00 UTC: an hour earlier is not on a day boundary.
    off_day = start if start % (24 * HOUR) else start - HOUR
    rejected(
        tenant,
        summaries(start_time=off_day, end_time=off_day + HOUR, value_grouping_window="day"),
        400,
        "start_time",
        "day boundary",
    )
    rejected(tenant, summaries(value_grouping_window="week"), 400, "value_grouping_window", "must be one of")
    rejected(tenant, summaries(end_time=start), 400, "end_time", "must be after start_time")
    rejected(tenant, summaries(customer="cus_nope"), 404, "customer", "No such customer: 'cus_nope'")
    rejected(tenant, summaries("mtr_nope"), 404, "id", "No such billing.meter: 'mtr_nope'")
    rejected(
        tenant,
        summaries(starting_after="sub_123"),
        400,
        "starting_after",
        "not the id of a meter event summary",
    )
    rejected(tenant, summaries(limit=101), 400, "limit", "less than or equal to 100")
    rejected(
        tenant,
        lambda: c.v1.billing.meters.event_summaries.list(
            meter.id, params=cast(Any, {"customer": cus, "start_time": start})
        ),
        400,
        "end_time",
        "Missing required param: end_time",
    )


def test_other_account_cannot_see_or_feed_a_meter(tenant: Tenant, other_tenant: Tenant) -> None:
    c, theirs = tenant.client, other_tenant.client
    meter = make_meter(c)
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    start = aligned_hour()
    report(c, cus, "10", timestamp=start)

    # Our event name means nothing to another account, and our customer is unknown to its meter.
    rejected(
        other_tenant, lambda: report(theirs, cus, "99", timestamp=start), 400, "event_name", "No active meter"
    )
    make_meter(theirs)
    rejected(
        other_tenant,
        lambda: report(theirs, cus, "99", timestamp=start),
        404,
        "payload[stripe_customer_id]",
        cus,
    )
    # Nor can it read our usage or cancel our events.
    rejected(
        other_tenant,
        lambda: theirs.v1.billing.meters.event_summaries.list(
            meter.id, params={"customer": cus, "start_time": start, "end_time": start + HOUR}
        ),
        404,
        "id",
        "No such billing.meter",
    )
    ours = c.v1.billing.meter_events.create(
        params={
            "event_name": "api_requests",
            "payload": {"stripe_customer_id": cus, "value": "1"},
            "timestamp": start,
        }
    )
    rejected(
        other_tenant,
        lambda: theirs.v1.billing.meter_event_adjustments.create(
            params={"event_name": "api_requests", "type": "cancel", "cancel": {"identifier": ours.identifier}}
        ),
        400,
        "cancel[identifier]",
        "No meter event",
    )
    # Test mode usage is invisible to live mode.
    with pytest.raises(stripe.InvalidRequestError):
        report(tenant.live_client, cus, "5")
    assert usage(c, meter.id, cus, start, start + HOUR) == 11
