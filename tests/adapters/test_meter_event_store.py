"""Meter events in the store (SQLite by default, PostgreSQL with BILLFOLD_TEST_DB=postgres): the identifier is unique
per account and mode (a retried report is never counted twice), a cancel stops an event counting, and usage is
aggregated with ``sum``, ``count`` and ``last`` over a half-open range, whole or by window."""

from __future__ import annotations

import secrets

import pytest

from billfold.adapters.db.store import SqlUnitOfWork
from billfold.app.ports import MeterEvent, Scope
from tests.adapters.conftest import T0  # the instant of the shared ``uow`` fixture


def _event(ident: str, ts: int, value: int, customer: str = "cus_a", name: str = "calls") -> MeterEvent:
    payload = {"stripe_customer_id": customer, "value": str(value)}
    return MeterEvent(ident, name, customer, ts, value, T0, payload)


def test_identifier_is_unique_per_scope(uow: SqlUnitOfWork, scope: Scope) -> None:
    with uow(scope) as store:
        assert store.add_meter_event(_event("e1", T0, 5))
        assert not store.add_meter_event(_event("e1", T0 + 10, 7))  # a retry with the same identifier
    other = Scope(account_id="acct_" + secrets.token_hex(6), livemode=False)
    with uow(other) as store:
        assert store.add_meter_event(_event("e1", T0, 9))  # another account may use the same identifier
    with uow(scope) as store:
        assert store.meter_usage("calls", "cus_a", T0, T0 + 100, "sum") == [(T0, 5)]
        found = store.get_meter_event("e1")
        assert found is not None and (found.value, found.timestamp, found.payload["value"]) == (5, T0, "5")
        assert store.get_meter_event("nope") is None


def test_aggregation_formulas_over_a_half_open_range(uow: SqlUnitOfWork, scope: Scope) -> None:
    with uow(scope) as store:
        for i, (ts, value) in enumerate(
            [(T0 - 1, 100), (T0, 3), (T0 + 50, 4), (T0 + 50, 6), (T0 + 100, 1000)]
        ):
            store.add_meter_event(_event(f"e{i}", ts, value))
        store.add_meter_event(_event("other-customer", T0 + 5, 70, customer="cus_b"))
        store.add_meter_event(_event("other-name", T0 + 5, 80, name="tokens"))
    with uow(scope) as store:
        assert store.meter_usage("calls", "cus_a", T0, T0 + 100, "sum") == [(T0, 13)]
        assert store.meter_usage("calls", "cus_a", T0, T0 + 100, "count") == [(T0, 3)]
        # "last": the latest timestamp; of two at the same second, the one reported last
        assert store.meter_usage("calls", "cus_a", T0, T0 + 100, "last") == [(T0, 6)]
        assert store.meter_usage("calls", "cus_a", T0 + 200, T0 + 300, "last") == [(T0 + 200, 0)]
        assert store.meter_usage("calls", "cus_b", T0, T0 + 100, "sum") == [(T0, 70)]


def test_usage_by_window_and_cancel(uow: SqlUnitOfWork, scope: Scope) -> None:
    with uow(scope) as store:
        store.add_meter_event(_event("a", T0 + 10, 1))
        store.add_meter_event(_event("b", T0 + 20, 2))
        store.add_meter_event(_event("c", T0 + 3600 * 2 + 1, 4))
        store.add_meter_event(_event("d", T0 + 3600 * 2 + 9, 8))
    with uow(scope) as store:
        assert store.meter_usage("calls", "cus_a", T0, T0 + 86400, "sum", 3600) == [(T0, 3), (T0 + 7200, 12)]
        assert store.meter_usage("calls", "cus_a", T0, T0 + 86400, "count", 3600) == [(T0, 2), (T0 + 7200, 2)]
        assert store.meter_usage("calls", "cus_a", T0, T0 + 86400, "last", 3600) == [(T0, 2), (T0 + 7200, 8)]
        assert store.cancel_meter_event("d", T0 + 99)
        assert not store.cancel_meter_event("d", T0 + 100)  # already canceled
        assert not store.cancel_meter_event("missing", T0 + 100)
    with uow(scope) as store:
        assert store.meter_usage("calls", "cus_a", T0, T0 + 86400, "sum") == [(T0, 7)]
        canceled = store.get_meter_event("d")
        assert canceled is not None and canceled.canceled_at == T0 + 99


def test_nothing_is_written_when_the_transaction_fails(uow: SqlUnitOfWork, scope: Scope) -> None:
    with pytest.raises(RuntimeError), uow(scope) as store:
        store.add_meter_event(_event("lost", T0, 5))
        raise RuntimeError("boom")
    with uow(scope) as store:
        assert store.get_meter_event("lost") is None
