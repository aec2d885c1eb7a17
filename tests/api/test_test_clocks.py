"""Test clocks through the SDK: create, advance (advancing -> ready), list, delete, and their errors."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.conftest import Tenant

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def wait_ready(c: stripe.StripeClient, clock_id: str, timeout: float = 20.0) -> stripe.test_helpers.TestClock:
    deadline = time.monotonic() + timeout
    while True:
        clock = c.v1.test_helpers.test_clocks.retrieve(clock_id)
        if clock.status == "ready":
            return clock
        assert time.monotonic() < deadline, f"clock {clock_id} still {clock.status}"
        time.sleep(0.05)


def test_create_advance_list_delete(tenant: Tenant) -> None:
    c = tenant.client
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0, "name": "january"})
    assert clock.id.startswith("clock_") and clock.status == "ready" and clock.frozen_time == T0
    cus = c.v1.customers.create(params={"name": "Clocked", "test_clock": clock.id})
    assert cus.test_clock == clock.id and cus.created == T0

    advanced = c.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": T0 + 86400})
    assert advanced.status in ("advancing", "ready")
    ready = wait_ready(c, clock.id)
    assert ready.frozen_time == T0 + 86400

    assert [x.id for x in c.v1.test_helpers.test_clocks.list().data] == [clock.id]
    assert [x.id for x in c.v1.customers.list(params={"test_clock": clock.id}).data] == [cus.id]
    types = [e.type for e in c.v1.events.list(params={"limit": 100}).data]
    assert types[:3] == [
        "test_helpers.test_clock.ready",
        "test_helpers.test_clock.advancing",
        "customer.created",
    ]

    gone = c.v1.test_helpers.test_clocks.delete(clock.id)
    assert gone.deleted is True
    assert c.v1.customers.retrieve(cus.id).deleted is True


def test_advance_errors_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    before = tenant.rows()
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": T0 - 1})
    assert err.value.http_status == 400 and err.value.param == "frozen_time"
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.test_helpers.test_clocks.create(params={})  # type: ignore[typeddict-item]
    assert err.value.param == "frozen_time"
    with pytest.raises(stripe.InvalidRequestError) as err:
        tenant.live_client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    assert err.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as err:
        tenant.live_client.v1.test_helpers.test_clocks.retrieve(clock.id)
    assert err.value.http_status == 404
    assert tenant.rows() == before
