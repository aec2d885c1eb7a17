"""Property: metered usage is billed exactly as reported, and its preview equals the invoice that follows.

Hypothesis draws a meter (``sum``, ``count`` or ``last``), a metered price (per unit, decimal, package, graduated or
volume tiers), a licensed item next to it or not, and up to 25 meter events at random seconds of the period (random
values, some reported twice with the same identifier, some canceled by an adjustment), plus up to 3 events for the
period reported late, during the renewal's draft window. It checks, on the real store and use cases (in-process):

- the renewal draft equals the preview made just before the period ended (line for line, lineage included);
- the metered line's quantity is the aggregate computed here from the events the test reported (a retried
  identifier counted once, canceled events not at all), and its period is the period that ended;
- once finalized, the invoice also counts the late events, and its lines add up to its totals.
"""

from __future__ import annotations

import secrets
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billfold.app import billing, catalog, customers, meters, test_clocks
from billfold.app.errors import InvalidRequest
from billfold.app.subscriptions import get_subscription
from billfold.main import Runtime
from tests.properties.test_preview_equals_invoice import (
    Timeline,
    assert_lines_sum_to_totals,
    differences,
    local_runtime,  # noqa: F401  (the module-scoped runtime fixture)
    price_amounts,
    without_ids,
)

DAY = 86400
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
FEB1 = 1_769_904_000  # 2026-02-01T00:00:00Z

events = st.lists(
    st.tuples(
        st.integers(0, FEB1 - T0 - 3601),  # second of January (reported by Jan 31, 23:00)
        st.integers(0, 5_000),  # value
        st.booleans(),  # canceled afterwards
        st.booleans(),  # retried with the same identifier
    ),
    max_size=25,
)
late = st.lists(st.tuples(st.integers(0, FEB1 - T0 - 1), st.integers(0, 5_000)), max_size=3)

scenarios = st.fixed_dictionaries(
    {
        "formula": st.sampled_from(["sum", "count", "last"]),
        "price": price_amounts(),
        "seats": st.none() | st.integers(1, 50),
        "events": events,
        "late": late,
    }
)


def aggregate(formula: str, reported: list[tuple[int, int]]) -> int:
    """The meter's aggregate of (timestamp, value) pairs in the order they were reported."""
    if formula == "sum":
        return sum(v for _, v in reported)
    if formula == "count":
        return len(reported)
    if not reported:
        return 0
    latest = max(t for t, _ in reported)
    return [v for t, v in reported if t == latest][-1]  # of equal timestamps, the one reported last


def _metered_line(invoice: dict[str, Any]) -> dict[str, Any]:
    [line] = [li for li in invoice["lines"]["data"] if li["lineage"]["usage_type"] == "metered"]
    return line


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(sc=scenarios)
def test_usage_is_billed_as_reported_and_the_preview_equals_the_invoice(
    local_runtime: Runtime,  # noqa: F811
    sc: dict[str, Any],
) -> None:
    tl = Timeline(local_runtime)
    name = f"ev_{secrets.token_hex(6)}"
    with tl.uow() as store:
        clock = test_clocks.create_clock(store, T0, T0, None)
        cus = customers.create_customer(
            store,
            T0,
            {"test_clock": clock["id"], "invoice_settings": {"default_payment_method": "pm_card_visa"}},
        )
        meter = meters.create_meter(
            store,
            T0,
            {"display_name": "Usage", "event_name": name, "default_aggregation": {"formula": sc["formula"]}},
        )
        product = catalog.create_product(store, T0, {"name": "Usage"})
        recurring = {"interval": "month", "usage_type": "metered", "meter": meter["id"]}
        price = catalog.create_price(
            store, T0, {"product": product["id"], "currency": "usd", "recurring": recurring, **sc["price"]}
        )
        items: list[dict[str, Any]] = [{"price": price["id"]}]
        if sc["seats"]:
            seat = catalog.create_product(store, T0, {"name": "Seat"})
            seats = catalog.create_price(
                store,
                T0,
                {
                    "product": seat["id"],
                    "currency": "usd",
                    "unit_amount": 4900,
                    "recurring": {"interval": "month"},
                },
            )
            items.insert(0, {"price": seats["id"], "quantity": sc["seats"]})
        sub = billing.start_subscription(store, T0, {"customer": cus["id"], "items": items}, tl.processor)
    clock_id, sub_id = str(clock["id"]), str(sub["id"])

    def report(store: Any, ident: str, at: int, value: int) -> bool:
        try:
            meters.record_meter_event(
                store,
                at,
                {
                    "event_name": name,
                    "identifier": ident,
                    "timestamp": at,
                    "payload": {"stripe_customer_id": cus["id"], "value": str(value)},
                },
            )
            return True
        except InvalidRequest:
            return False

    tl.advance(clock_id, FEB1 - 3600)
    counted: list[tuple[int, int]] = []
    for n, (offset, value, canceled, retried) in enumerate(sc["events"]):
        with tl.uow() as store:
            assert report(store, f"e{n}", T0 + offset, value)
        if retried:
            with tl.uow() as store:
                assert not report(store, f"e{n}", T0 + offset, value + 1)  # refused: never counted twice
        if canceled:
            with tl.uow() as store:
                meters.cancel_meter_event(store, FEB1 - 3600, name, f"e{n}")
        else:
            counted.append((T0 + offset, value))

    with tl.uow() as store:
        preview = billing.preview_next_invoice(store, get_subscription(store, sub_id))
    tl.advance(clock_id, FEB1)
    renewal = tl.invoices(sub_id)[-1]
    assert (renewal["billing_reason"], renewal["status"]) == ("subscription_cycle", "draft")
    assert differences(without_ids(preview, renewal), renewal) == []
    line = _metered_line(renewal)
    assert line["quantity"] == aggregate(sc["formula"], counted)
    assert (line["period"]["start"], line["period"]["end"]) == (T0, FEB1)

    tl.advance(clock_id, FEB1 + 1800)  # inside the draft window: late usage for January
    for n, (offset, value) in enumerate(sc["late"]):
        with tl.uow() as store:
            assert report(store, f"late{n}", T0 + offset, value)
        counted.append((T0 + offset, value))
    tl.advance(clock_id, FEB1 + 3601)
    final = tl.invoices(sub_id)[-1]
    assert final["id"] == renewal["id"] and final["status"] == "paid"
    assert _metered_line(final)["quantity"] == aggregate(sc["formula"], counted)
    assert_lines_sum_to_totals(final)
