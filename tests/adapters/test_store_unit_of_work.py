"""What the unit of work holds in memory must never change what a caller sees (SQLite, and PostgreSQL with
BILLFOLD_TEST_DB=postgres).

The store keeps the documents it read or wrote in the transaction, defers replaces and buffers events and audit
rows until something could observe them (adapters/db/store.py). These tests pin that down: copies, never aliases;
queries see deferred writes; a savepoint that rolls back forgets what it held; claims skip rows another transaction
holds on PostgreSQL.
"""

from __future__ import annotations

import secrets
import threading

import pytest
from sqlalchemy import func, select

from billfold.adapters.db.schema import audit_log, objects
from billfold.adapters.db.store import SqlUnitOfWork
from billfold.app.ports import Doc, Index, ListQuery, Scope
from billfold.main import Runtime
from tests.adapters.conftest import T0  # the instant of the shared ``uow`` fixture
from tests.conftest import TEST_DB


class Boom(Exception):
    pass


def _doc(object_type: str = "invoice", **fields: object) -> Doc:
    return {"id": f"{object_type[:3]}_{secrets.token_hex(8)}", "object": object_type, **fields}


def _count(runtime: Runtime, account_id: str, object_type: str | None = None) -> int:
    conds = [objects.c.account_id == account_id]
    if object_type:
        conds.append(objects.c.type == object_type)
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(objects).where(*conds)).scalar_one())


def _audit(runtime: Runtime, account_id: str) -> int:
    stmt = select(func.count()).select_from(audit_log).where(audit_log.c.account_id == account_id)
    with runtime.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_reads_are_copies_never_aliases(uow: SqlUnitOfWork, scope: Scope) -> None:
    doc = _doc(status="draft", lines={"data": [{"amount": 1}]})
    with uow(scope) as store:
        store.insert(doc, Index(status="draft"))
        doc["status"] = "changed after insert"
        first = store.get("invoice", doc["id"])
        assert first is not None and first["status"] == "draft"
        first["lines"]["data"][0]["amount"] = 999
        again = store.get("invoice", doc["id"], for_update=True)
        assert again is not None and again["lines"]["data"][0]["amount"] == 1
        assert store.get_many("invoice", [doc["id"]])[doc["id"]]["lines"]["data"][0]["amount"] == 1


def test_a_view_is_decoded_once_per_version_and_follows_every_write(uow: SqlUnitOfWork, scope: Scope) -> None:
    """``view`` hands out one shared read-only document per stored version: the same dict until the object is
    written, then the new version; in a later transaction (read from the row), the document as committed."""
    doc = _doc("coupon", percent_off=20, name="first")
    with uow(scope) as store:
        store.insert(doc, Index())
        first = store.view("coupon", doc["id"])
        assert first == doc and store.view("coupon", doc["id"]) is first
        changed = {**doc, "name": "second"}
        store.replace(changed, Index())
        second = store.view("coupon", doc["id"])
        assert second == changed and second is not first and first["name"] == "first"
        assert store.view("coupon", "coupon_missing") is None
    with uow(scope) as store:
        from_row = store.view("coupon", doc["id"])
        assert from_row == changed and store.view("coupon", doc["id"]) is from_row
        assert store.get("coupon", doc["id"]) == from_row and store.get("coupon", doc["id"]) is not from_row
        store.delete("coupon", doc["id"])
        gone = store.view("coupon", doc["id"])
        assert gone is not None and gone.get("deleted") is True


def test_deferred_replaces_are_seen_by_reads_queries_and_the_next_transaction(
    runtime: Runtime, uow: SqlUnitOfWork, scope: Scope
) -> None:
    doc = _doc(status="draft")
    with uow(scope) as store:
        store.insert(doc, Index(status="draft", due_at=T0))
    with uow(scope) as store:
        held = store.get("invoice", doc["id"])
        assert held is not None
        store.replace({**held, "status": "open"}, Index(status="open", due_at=T0 + 5))
        store.replace({**held, "status": "paid"}, Index(status="paid"))
        assert store.get("invoice", doc["id"])["status"] == "paid"  # type: ignore[index]
        assert [d["id"] for d in store.list("invoice", ListQuery(filters={"status": "paid"})).data] == [
            doc["id"]
        ]
        assert store.list("invoice", ListQuery(filters={"status": "draft"})).data == []
        assert [d["status"] for d in store.iterate("invoice", {})] == ["paid"]
        assert store.due("invoice", T0 + 10, test_clock=None) == []
    with uow(scope) as store:
        assert store.get("invoice", doc["id"])["status"] == "paid"  # type: ignore[index]


def test_a_replace_of_a_deleted_object_leaves_it_deleted(uow: SqlUnitOfWork, scope: Scope) -> None:
    doc = _doc("customer", name="A")
    with uow(scope) as store:
        store.insert(doc, Index())
        store.delete("customer", doc["id"])
        store.replace({**doc, "name": "B"}, Index())
        assert store.get("customer", doc["id"]) == {"id": doc["id"], "object": "customer", "deleted": True}
    with uow(scope) as store:
        assert store.get("customer", doc["id"]) == {"id": doc["id"], "object": "customer", "deleted": True}


def test_buffered_events_are_visible_and_commit_with_their_audit_rows(
    runtime: Runtime, uow: SqlUnitOfWork, scope: Scope
) -> None:
    doc = _doc("customer", name="E")
    with uow(scope) as store:
        store.insert(doc, Index())
        first = store.record("customer.created", doc)
        doc["name"] = "F"
        second = store.record("customer.updated", doc, previous_attributes={"name": "E"})
        assert store.get("event", first["id"])["data"]["object"]["name"] == "E"  # type: ignore[index]
        assert [e["id"] for e in store.iterate("event", {"parent": doc["id"]})] == [second["id"], first["id"]]
        assert store.get_many("event", [second["id"]])[second["id"]]["type"] == "customer.updated"
        store.record("customer.updated", doc)
    assert _count(runtime, scope.account_id, "event") == 3
    assert _audit(runtime, scope.account_id) == 3


def test_an_event_written_with_its_object_is_the_event_record_makes(
    runtime: Runtime, uow: SqlUnitOfWork, scope: Scope
) -> None:
    """``insert``/``replace`` with ``event=`` put the object's JSON, encoded once, into the event: the same event
    (keys, order, values) as a separate ``record``, with the state as saved, not as changed afterwards."""
    doc = _doc(status="draft", total=100, lines={"data": [{"amount": 100, "tax": None}]})
    with uow(scope) as store:
        store.insert(doc, Index(status="draft"), event="invoice.created")
        doc["status"] = "open"
        store.replace(
            doc, Index(status="open"), event="invoice.finalized", previous_attributes={"status": "draft"}
        )
        store.record("invoice.finalized", doc, previous_attributes={"status": "draft"})
        doc["status"] = "paid after the events"
        store.replace(doc, Index(status="paid"))
        created, spliced, recorded = reversed(list(store.iterate("event", {"parent": doc["id"]})))
    assert created["type"] == "invoice.created" and created["data"]["object"]["status"] == "draft"
    assert created["data"]["object"]["lines"] == {"data": [{"amount": 100, "tax": None}]}
    for key in ("id", "created", "request"):
        spliced.pop(key), recorded.pop(key)
    assert list(spliced) == list(recorded) and list(spliced["data"]) == ["object", "previous_attributes"]
    assert spliced == recorded
    assert spliced["data"]["object"]["status"] == "open"
    assert _audit(runtime, scope.account_id) == 3


def test_a_savepoint_rolls_back_its_writes_events_and_what_it_held(
    runtime: Runtime, uow: SqlUnitOfWork, scope: Scope
) -> None:
    kept, lost = _doc(status="draft"), _doc(status="draft")
    with uow(scope) as store:
        store.insert(kept, Index(status="draft"))
        store.insert(lost, Index(status="draft"))
    with uow(scope) as store:
        with store.savepoint():
            doc = store.get("invoice", kept["id"])
            store.replace({**doc, "status": "open"}, Index(status="open"))  # type: ignore[dict-item]
            store.record("invoice.finalized", kept)
        with pytest.raises(Boom), store.savepoint():
            doc = store.get("invoice", lost["id"])
            store.replace({**doc, "status": "open"}, Index(status="open"))  # type: ignore[dict-item]
            store.record("invoice.finalized", lost)
            store.insert(_doc(), Index())
            raise Boom
        assert store.get("invoice", lost["id"])["status"] == "draft"  # type: ignore[index]
        assert store.get("invoice", kept["id"])["status"] == "open"  # type: ignore[index]
    with uow(scope) as store:
        assert store.get("invoice", lost["id"])["status"] == "draft"  # type: ignore[index]
        assert store.get("invoice", kept["id"])["status"] == "open"  # type: ignore[index]
    assert _count(runtime, scope.account_id, "invoice") == 2
    assert _count(runtime, scope.account_id, "event") == 1
    assert _audit(runtime, scope.account_id) == 1


def test_claim_returns_what_exists_in_the_given_order(uow: SqlUnitOfWork, scope: Scope) -> None:
    a, b = _doc(), _doc("subscription")
    with uow(scope) as store:
        store.insert(a, Index())
        store.insert(b, Index())
    with uow(scope) as store:
        keys = [("subscription", b["id"]), ("invoice", "in_missing"), ("invoice", a["id"])]
        assert store.claim(keys) == [("subscription", b["id"]), ("invoice", a["id"])]
    with uow(Scope(account_id="acct_other", livemode=False)) as store:
        assert store.claim([("invoice", a["id"])]) == []


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite has one writer: a second claimer waits instead")
def test_claim_skips_rows_another_transaction_holds(uow: SqlUnitOfWork, scope: Scope) -> None:
    a, b = _doc(), _doc()
    with uow(scope) as store:
        store.insert(a, Index())
        store.insert(b, Index())
    holding, release = threading.Event(), threading.Event()

    def hold_a() -> None:
        with uow(scope) as store:
            store.claim([("invoice", a["id"])])
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold_a)
    thread.start()
    try:
        assert holding.wait(30)
        with uow(scope) as store:
            assert store.claim([("invoice", a["id"]), ("invoice", b["id"])]) == [("invoice", b["id"])]
    finally:
        release.set()
        thread.join(30)
    with uow(scope) as store:
        assert store.claim([("invoice", a["id"])]) == [("invoice", a["id"])]
