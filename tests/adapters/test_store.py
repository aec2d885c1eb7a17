"""SqlStore on a real database (SQLite by default, PostgreSQL with BILLFOLD_TEST_DB=postgres).

What the API's guarantees rest on: scoping (another account or mode is "not found"), list order and cursors,
index filters, one transaction for a change + its event + its audit row, and the constraints money depends on.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Table, func, select

from billfold.adapters.clock import FixedClock
from billfold.adapters.db.accounts import SqlIdempotencyKeys
from billfold.adapters.db.schema import audit_log, idempotency_keys, objects
from billfold.adapters.db.store import SqlUnitOfWork
from billfold.app.errors import IdempotencyConflict, IdempotencyInProgress, InvalidRequest, ResourceMissing
from billfold.app.ports import Doc, Index, ListQuery, Scope, StoredResponse
from billfold.main import Runtime

T0 = 1_700_000_000


class Boom(Exception):
    pass


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def uow(runtime: Runtime, clock: FixedClock) -> SqlUnitOfWork:
    return SqlUnitOfWork(runtime.engine, clock)


@pytest.fixture
def scope() -> Scope:
    return Scope(account_id="acct_" + secrets.token_hex(6), livemode=False, actor="key_t", request_id="req_t")


def _other(scope: Scope, *, account: bool = False, live: bool = False) -> Scope:
    return Scope(
        account_id="acct_" + secrets.token_hex(6) if account else scope.account_id,
        livemode=not scope.livemode if live else scope.livemode,
    )


def _doc(object_type: str = "customer", **fields: object) -> Doc:
    return {"id": f"{object_type[:3]}_{secrets.token_hex(8)}", "object": object_type, **fields}


def _count(runtime: Runtime, table: Table, account_id: str) -> int:
    with runtime.engine.connect() as conn:
        stmt = select(func.count()).select_from(table).where(table.c.account_id == account_id)
        return int(conn.execute(stmt).scalar_one())


def _insert_many(uow: SqlUnitOfWork, scope: Scope, n: int, **index: object) -> list[str]:
    ids = []
    with uow(scope) as store:
        for i in range(n):
            doc = _doc(n=i)
            # Two objects per second: ties on created are broken by insertion order.
            store.insert(doc, Index(**index), created=T0 + i // 2)  # type: ignore[arg-type]
            ids.append(doc["id"])
    return ids


# -- reads and scoping ------------------------------------------------------------------------------------------
def test_get_is_scoped_to_account_mode_and_type(uow: SqlUnitOfWork, scope: Scope) -> None:
    doc = _doc(name="A", nested={"k": [1, 2]})
    with uow(scope) as store:
        store.insert(doc, Index())
    with uow(scope) as store:
        assert store.get("customer", doc["id"]) == doc
        assert store.get("customer", doc["id"], for_update=True) == doc
        assert store.get("product", doc["id"]) is None
        assert store.get_many("customer", [doc["id"], "cus_nope"]) == {doc["id"]: doc}
    for other in (_other(scope, account=True), _other(scope, live=True)):
        with uow(other) as store:
            assert store.get("customer", doc["id"]) is None
            assert store.get_many("customer", [doc["id"]]) == {}
            assert store.list("customer", ListQuery()).data == []
            assert list(store.iterate("customer", {})) == []
            with pytest.raises(ResourceMissing) as err:
                store.list("customer", ListQuery(starting_after=doc["id"]))
            assert err.value.param == "starting_after"


def test_list_order_limit_and_cursors(uow: SqlUnitOfWork, scope: Scope) -> None:
    ids = _insert_many(uow, scope, 7)
    newest_first = list(reversed(ids))
    with uow(scope) as store:
        page = store.list("customer", ListQuery(limit=3))
        assert [d["id"] for d in page.data] == newest_first[:3] and page.has_more
        page = store.list("customer", ListQuery(limit=3, starting_after=newest_first[2]))
        assert [d["id"] for d in page.data] == newest_first[3:6] and page.has_more
        page = store.list("customer", ListQuery(limit=3, starting_after=newest_first[5]))
        assert [d["id"] for d in page.data] == newest_first[6:] and not page.has_more
        page = store.list("customer", ListQuery(limit=2, ending_before=newest_first[4]))
        assert [d["id"] for d in page.data] == newest_first[2:4] and page.has_more
        page = store.list("customer", ListQuery(limit=5, ending_before=newest_first[2]))
        assert [d["id"] for d in page.data] == newest_first[:2] and not page.has_more
        assert [d["id"] for d in store.iterate("customer", {})] == newest_first
        with pytest.raises(ResourceMissing) as err:
            store.list("customer", ListQuery(ending_before="cus_nope"))
        assert err.value.param == "ending_before" and err.value.status == 404


def test_list_created_range_ids_and_index_filters(uow: SqlUnitOfWork, scope: Scope) -> None:
    ids = _insert_many(uow, scope, 6)  # created T0, T0, T0+1, T0+1, T0+2, T0+2
    with uow(scope) as store:
        a, b = _doc(), _doc()
        store.insert(a, Index(customer="cus_1", status="open", active=True), created=T0 + 10)
        store.insert(b, Index(customer="cus_2", status="paid", active=False), created=T0 + 11)

        def listed(**kw: object) -> list[str]:
            return [d["id"] for d in store.list("customer", ListQuery(limit=100, **kw)).data]  # type: ignore[arg-type]

        assert listed(created={"gte": T0 + 1, "lt": T0 + 2}) == [ids[3], ids[2]]
        assert listed(created={"gt": T0 + 2}) == [b["id"], a["id"]]
        assert listed(created={"lte": T0}) == [ids[1], ids[0]]
        assert listed(ids=[ids[0], b["id"]]) == [b["id"], ids[0]]
        assert listed(filters={"customer": "cus_1"}) == [a["id"]]
        assert listed(filters={"status": ("open", "paid")}) == [b["id"], a["id"]]
        assert listed(filters={"active": False}) == [b["id"]]
        assert len(listed(filters={"customer": None})) == 6
        assert [d["id"] for d in store.iterate("customer", {"status": "paid"})] == [b["id"]]
        with pytest.raises(ValueError):
            store.list("customer", ListQuery(filters={"email": "x"}))


def test_replace_changes_document_and_index(uow: SqlUnitOfWork, scope: Scope) -> None:
    doc = _doc(name="v1")
    with uow(scope) as store:
        store.insert(doc, Index(status="draft"))
    with uow(scope) as store:
        store.replace({**doc, "name": "v2"}, Index(status="open"))
    with uow(scope) as store:
        assert store.get("customer", doc["id"])["name"] == "v2"  # type: ignore[index]
        assert store.list("customer", ListQuery(filters={"status": "draft"})).data == []
        assert len(store.list("customer", ListQuery(filters={"status": "open"})).data) == 1
    # Replacing from another scope touches nothing.
    with uow(_other(scope, account=True)) as store:
        store.replace({**doc, "name": "hijack"}, Index())
    with uow(scope) as store:
        assert store.get("customer", doc["id"])["name"] == "v2"  # type: ignore[index]


def test_delete_leaves_a_tombstone_and_purge_removes_it(uow: SqlUnitOfWork, scope: Scope) -> None:
    doc = _doc(name="gone")
    with uow(scope) as store:
        store.insert(doc, Index(lookup="x"))
        store.delete("customer", doc["id"])
    with uow(scope) as store:
        assert store.get("customer", doc["id"]) == {"id": doc["id"], "object": "customer", "deleted": True}
        assert store.get_many("customer", [doc["id"]]) == {}
        assert store.list("customer", ListQuery()).data == []
        # A deleted object is still a position for a cursor.
        assert store.list("customer", ListQuery(starting_after=doc["id"])).data == []
        store.purge("customer", doc["id"])
    with uow(scope) as store:
        assert store.get("customer", doc["id"]) is None


# -- one transaction ------------------------------------------------------------------------------------------
def test_record_writes_the_event_and_the_audit_row(
    runtime: Runtime, uow: SqlUnitOfWork, scope: Scope, clock: FixedClock
) -> None:
    doc = _doc(name="E")
    clock.t = T0 + 5
    with uow(scope) as store:
        store.insert(doc, Index())
        event = store.record("customer.updated", doc, previous_attributes={"name": "D"})
    assert event["id"].startswith("evt_") and event["object"] == "event"
    assert event["type"] == "customer.updated" and event["created"] == T0 + 5
    assert event["data"] == {"object": doc, "previous_attributes": {"name": "D"}}
    assert event["livemode"] is False and event["request"] == {"id": "req_t", "idempotency_key": None}
    with uow(scope) as store:
        assert store.get("event", event["id"]) == event
        assert [e["id"] for e in store.iterate("event", {"parent": doc["id"]})] == [event["id"]]
        assert [e["id"] for e in store.iterate("event", {"status": "customer.updated"})] == [event["id"]]
    with runtime.engine.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.account_id == scope.account_id)).one()
    assert (row.action, row.object_type, row.object_id) == ("customer.updated", "customer", doc["id"])
    assert (row.actor, row.request_id, row.at, row.data) == ("key_t", "req_t", T0 + 5, {"event": event["id"]})


def test_a_failed_unit_of_work_leaves_nothing(runtime: Runtime, uow: SqlUnitOfWork, scope: Scope) -> None:
    with pytest.raises(Boom), uow(scope) as store:
        doc = _doc()
        store.insert(doc, Index())
        store.record("customer.created", doc)
        raise Boom
    assert _count(runtime, objects, scope.account_id) == 0
    assert _count(runtime, audit_log, scope.account_id) == 0


def test_duplicate_id_is_a_clean_error_and_the_transaction_goes_on(
    runtime: Runtime, uow: SqlUnitOfWork, scope: Scope
) -> None:
    doc = _doc()
    with uow(scope) as store:
        store.insert(doc, Index())
        with pytest.raises(InvalidRequest) as err:
            store.insert(dict(doc), Index())
        assert err.value.code == "resource_already_exists" and err.value.param == "id"
        store.insert(_doc(), Index())  # the savepoint rolled back only the failed insert
    assert _count(runtime, objects, scope.account_id) == 2


def test_the_same_id_in_another_scope_is_another_object(uow: SqlUnitOfWork, scope: Scope) -> None:
    # Caller-chosen ids (coupons, products) belong to an account and mode, like Stripe's.
    mine = {"id": "SUMMER25", "object": "coupon", "owner": "me"}
    with uow(scope) as store:
        store.insert(mine, Index())
    for other in (_other(scope, account=True), _other(scope, live=True)):
        with uow(other) as store:
            store.insert({**mine, "owner": other.account_id}, Index())
            store.delete("coupon", "SUMMER25")
    with uow(scope) as store:
        assert store.get("coupon", "SUMMER25") == mine


# -- constraints money depends on -------------------------------------------------------------------------------
def test_price_lookup_key_is_unique_per_account_and_mode(uow: SqlUnitOfWork, scope: Scope) -> None:
    first = _doc("price", lookup_key="pro_monthly")
    with uow(scope) as store:
        store.insert(first, Index(lookup="pro_monthly"))
    with uow(scope) as store:
        with pytest.raises(InvalidRequest) as err:
            store.insert(_doc("price", lookup_key="pro_monthly"), Index(lookup="pro_monthly"))
        assert err.value.code == "lookup_key_already_exists" and err.value.param == "lookup_key"
        # Other object types may share the lookup column freely.
        store.insert(_doc("product"), Index(lookup="pro_monthly"))
    for other in (_other(scope, account=True), _other(scope, live=True)):
        with uow(other) as store:
            store.insert(_doc("price"), Index(lookup="pro_monthly"))
    with uow(scope) as store:
        store.delete("price", first["id"])
        store.insert(_doc("price"), Index(lookup="pro_monthly"))


def test_active_promotion_codes_are_unique(uow: SqlUnitOfWork, scope: Scope) -> None:
    code = _doc("promotion_code", code="SAVE10")
    with uow(scope) as store:
        store.insert(code, Index(lookup="SAVE10", active=True))
        with pytest.raises(InvalidRequest) as err:
            store.insert(_doc("promotion_code", code="SAVE10"), Index(lookup="SAVE10", active=True))
        assert err.value.code == "resource_already_exists" and err.value.param == "code"
        store.insert(_doc("promotion_code"), Index(lookup="SAVE10", active=False))
        store.replace(code, Index(lookup="SAVE10", active=False))
        store.insert(_doc("promotion_code"), Index(lookup="SAVE10", active=True))


def test_billing_period_is_claimed_once(uow: SqlUnitOfWork, scope: Scope) -> None:
    with uow(scope) as store:
        assert store.claim_period("sub_1", T0, "in_1") is True
        assert store.claim_period("sub_1", T0, "in_2") is False
        assert store.claim_period("sub_1", T0 + 30, "in_3") is True
    with uow(_other(scope, live=True)) as store:
        assert store.claim_period("sub_1", T0, "in_4") is True


def test_invoice_numbers_are_gapless_even_after_a_rollback(uow: SqlUnitOfWork, scope: Scope) -> None:
    with uow(scope) as store:
        assert store.next_invoice_number("ACME", "in_a") == "ACME-0001"
        assert store.next_invoice_number("ACME", "in_b") == "ACME-0002"
        assert store.next_invoice_number("OTHER", "in_c") == "OTHER-0001"
    with pytest.raises(Boom), uow(scope) as store:
        assert store.next_invoice_number("ACME", "in_d") == "ACME-0003"
        raise Boom
    with uow(scope) as store:
        assert store.next_invoice_number("ACME", "in_e") == "ACME-0003"
    with uow(_other(scope, account=True)) as store:
        assert store.next_invoice_number("ACME", "in_f") == "ACME-0001"


def test_concurrent_invoice_numbers_are_distinct_and_contiguous(uow: SqlUnitOfWork, scope: Scope) -> None:
    n = 8
    barrier = threading.Barrier(n)
    numbers: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def take(i: int) -> None:
        try:
            barrier.wait()
            with uow(scope) as store:
                number = store.next_invoice_number("RACE", f"in_{i}")
            with lock:
                numbers.append(number)
        except BaseException as exc:  # pragma: no cover - reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(numbers) == [f"RACE-{i:04d}" for i in range(1, n + 1)]


def test_due_finds_work_in_order_per_test_clock(uow: SqlUnitOfWork, scope: Scope) -> None:
    late, early, clocked, later = (
        _doc("subscription"),
        _doc("subscription"),
        _doc("subscription"),
        _doc("subscription"),
    )
    with uow(scope) as store:
        store.insert(late, Index(due_at=T0 + 20))
        store.insert(early, Index(due_at=T0 + 10))
        store.insert(later, Index(due_at=T0 + 99))
        store.insert(clocked, Index(due_at=T0, test_clock="clock_1"))
        store.insert(_doc("subscription"), Index())
        assert [(at, d["id"]) for at, d in store.due("subscription", T0 + 20, test_clock=None)] == [
            (T0 + 10, early["id"]),
            (T0 + 20, late["id"]),
        ]
        assert [d["id"] for _, d in store.due("subscription", T0 + 99, test_clock=None, limit=1)] == [
            early["id"]
        ]
        assert [d["id"] for _, d in store.due("subscription", T0 + 20, test_clock="clock_1")] == [
            clocked["id"]
        ]
        store.delete("subscription", early["id"])
        assert [d["id"] for _, d in store.due("subscription", T0 + 20, test_clock=None)] == [late["id"]]
    with uow(_other(scope, account=True)) as store:
        assert store.due("subscription", T0 + 1000, test_clock=None) == []


# -- idempotency keys -------------------------------------------------------------------------------------------
@pytest.fixture
def keys(runtime: Runtime, clock: FixedClock) -> Iterator[SqlIdempotencyKeys]:
    yield SqlIdempotencyKeys(runtime.engine, clock)


def test_idempotency_claim_complete_replay(
    keys: SqlIdempotencyKeys, uow: SqlUnitOfWork, scope: Scope
) -> None:
    assert keys.claim(scope, "k1", "hash-a") is None
    with pytest.raises(IdempotencyInProgress) as busy:
        keys.claim(scope, "k1", "hash-a")
    assert busy.value.status == 409 and busy.value.type == "idempotency_error"
    with pytest.raises(IdempotencyConflict) as conflict:
        keys.claim(scope, "k1", "hash-b")
    assert conflict.value.status == 400 and "k1" in conflict.value.message
    # The response is stored by the unit of work that made the change, so the two commit together.
    with uow(scope) as store:
        store.remember_response("k1", StoredResponse(200, b'{"id":"x"}'))
    assert keys.claim(scope, "k1", "hash-a") == StoredResponse(200, b'{"id":"x"}')
    # Per account and mode.
    assert keys.claim(_other(scope, live=True), "k1", "hash-b") is None
    assert keys.claim(_other(scope, account=True), "k1", "hash-b") is None


def test_idempotency_release_and_rollback(
    runtime: Runtime, keys: SqlIdempotencyKeys, uow: SqlUnitOfWork, scope: Scope
) -> None:
    assert keys.claim(scope, "k2", "h") is None
    with pytest.raises(Boom), uow(scope) as store:
        store.remember_response("k2", StoredResponse(200, b"{}"))
        raise Boom
    keys.release(scope, "k2")
    assert keys.claim(scope, "k2", "other-hash") is None  # released: free for any request
    keys.complete(scope, "k2", StoredResponse(200, b"[]"))
    assert keys.claim(scope, "k2", "other-hash") == StoredResponse(200, b"[]")


def test_stale_claim_is_taken_over_and_old_keys_expire(
    runtime: Runtime, keys: SqlIdempotencyKeys, clock: FixedClock, scope: Scope
) -> None:
    assert keys.claim(scope, "stale", "h") is None
    clock.t = T0 + 61  # the first request died without completing
    assert keys.claim(scope, "stale", "h") is None
    keys.complete(scope, "done", StoredResponse(200, b"{}"))  # no row: a no-op
    assert keys.claim(scope, "kept", "h") is None
    keys.complete(scope, "kept", StoredResponse(200, b"{}"))
    clock.t = T0 + 61 + 48 * 3600 + 1
    assert keys.claim(scope, "kept", "another") is None  # expired, so the key is new again
    with runtime.engine.connect() as conn:
        left = conn.execute(
            select(func.count())
            .select_from(idempotency_keys)
            .where(idempotency_keys.c.account_id == scope.account_id)
        ).scalar_one()
    assert left == 1
