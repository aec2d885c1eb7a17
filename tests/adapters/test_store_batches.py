"""What the store does for the bill run's batches must not change what a caller sees (SQLite, and PostgreSQL with
BILLFOLD_TEST_DB=postgres).

adapters/db/store.py defers the inserts of objects with generated ids, writes only the index columns a replace
changed, reads ahead at ``claim`` (an invoice's subscription and customer, locked on PostgreSQL; which customers
have no pending invoice item) and takes an invoice number in one statement on PostgreSQL. These tests pin down that
reads, queries and the next transaction see exactly what was written.
"""

from __future__ import annotations

import secrets
import threading

import pytest
from sqlalchemy import update

from billfold.adapters.clock import FixedClock
from billfold.adapters.db.schema import invoice_sequences
from billfold.adapters.db.store import SqlUnitOfWork
from billfold.app.ports import Doc, Index, ListQuery, Scope
from billfold.main import Runtime
from tests.conftest import TEST_DB

T0 = 1_700_000_000


@pytest.fixture
def uow(runtime: Runtime) -> SqlUnitOfWork:
    return SqlUnitOfWork(runtime.engine, FixedClock(T0))


@pytest.fixture
def scope() -> Scope:
    return Scope(account_id="acct_" + secrets.token_hex(6), livemode=False, actor="test")


def _doc(object_type: str, **fields: object) -> Doc:
    prefix = {"invoice": "in", "subscription": "sub", "customer": "cus", "invoiceitem": "ii"}[object_type]
    return {"id": f"{prefix}_{secrets.token_hex(8)}", "object": object_type, **fields}


def _ids(docs: object) -> list[str]:
    return [d["id"] for d in docs]  # type: ignore[attr-defined]


def test_a_deferred_insert_is_seen_by_reads_queries_and_the_next_transaction(
    uow: SqlUnitOfWork, scope: Scope
) -> None:
    invoice = _doc("invoice", status="draft")
    with uow(scope) as store:
        store.insert(invoice, Index(customer="cus_1", status="draft", due_at=T0))
        assert store.get("invoice", invoice["id"])["status"] == "draft"  # type: ignore[index]
        assert _ids(store.list("invoice", ListQuery(filters={"customer": "cus_1"})).data) == [invoice["id"]]
        assert _ids(store.iterate("invoice", {"status": "draft"})) == [invoice["id"]]
        assert [at for at, _ in store.due("invoice", T0, test_clock=None)] == [T0]
    with uow(scope) as store:
        assert store.get("invoice", invoice["id"])["status"] == "draft"  # type: ignore[index]
        store.delete("invoice", invoice["id"])
    with uow(scope) as store:
        assert store.get("invoice", invoice["id"]) == {
            "id": invoice["id"],
            "object": "invoice",
            "deleted": True,
        }


def test_inserts_keep_their_order_within_a_second(uow: SqlUnitOfWork, scope: Scope) -> None:
    docs = [_doc("invoice", n=n) for n in range(5)]
    with uow(scope) as store:
        for doc in docs:
            store.insert(doc, Index(customer="cus_1"), created=T0)
    with uow(scope) as store:
        newest_first = store.list("invoice", ListQuery(filters={"customer": "cus_1"})).data
        assert _ids(newest_first) == _ids(reversed(docs))


def test_a_replace_that_changes_some_index_columns_is_seen_by_every_query(
    uow: SqlUnitOfWork, scope: Scope
) -> None:
    invoice = _doc("invoice", status="draft")
    with uow(scope) as store:
        store.insert(invoice, Index(customer="cus_a", parent="sub_a", status="draft", due_at=T0))
    with uow(scope) as store:
        held = store.get("invoice", invoice["id"])
        assert held is not None
        store.replace({**held, "status": "open"}, Index(customer="cus_b", parent="sub_a", status="open"))
    with uow(scope) as store:
        assert _ids(store.iterate("invoice", {"customer": "cus_b", "status": "open"})) == [invoice["id"]]
        assert _ids(store.iterate("invoice", {"parent": "sub_a"})) == [invoice["id"]]
        assert list(store.iterate("invoice", {"customer": "cus_a"})) == []
        assert list(store.iterate("invoice", {"status": "draft"})) == []
        assert store.due("invoice", T0 + 10, test_clock=None) == []
        # A replace that changes nothing leaves the row as it is.
        held = store.get("invoice", invoice["id"])
        store.replace(held, Index(customer="cus_b", parent="sub_a", status="open"))  # type: ignore[arg-type]
    with uow(scope) as store:
        assert store.get("invoice", invoice["id"])["status"] == "open"  # type: ignore[index]


def test_claim_knows_which_customers_have_pending_invoice_items_until_one_is_written(
    uow: SqlUnitOfWork, scope: Scope
) -> None:
    quiet, busy = _doc("subscription"), _doc("subscription")
    pending = _doc("invoiceitem")
    with uow(scope) as store:
        store.insert(quiet, Index(customer="cus_quiet"))
        store.insert(busy, Index(customer="cus_busy"))
        store.insert(pending, Index(customer="cus_busy", status="pending", currency="usd"))
    with uow(scope) as store:
        store.claim([("subscription", quiet["id"]), ("subscription", busy["id"])])
        wanted = {"status": "pending", "currency": "usd"}
        assert list(store.iterate("invoiceitem", {"customer": "cus_quiet", **wanted})) == []
        assert _ids(store.iterate("invoiceitem", {"customer": "cus_busy", **wanted})) == [pending["id"]]
        new = _doc("invoiceitem")
        store.insert(new, Index(customer="cus_quiet", status="pending", currency="usd"))
        assert _ids(store.iterate("invoiceitem", {"customer": "cus_quiet", **wanted})) == [new["id"]]
        store.replace({**new, "x": 1}, Index(customer="cus_quiet", status="invoiced", currency="usd"))
        assert list(store.iterate("invoiceitem", {"customer": "cus_quiet", **wanted})) == []
    with uow(scope) as store:
        store.claim([("subscription", quiet["id"])])
        assert _ids(store.iterate("invoiceitem", {"customer": "cus_quiet", "status": "invoiced"})) == [
            new["id"]
        ]


def test_invoice_numbers_past_9999_keep_every_digit(
    runtime: Runtime, uow: SqlUnitOfWork, scope: Scope
) -> None:
    ids = [f"in_{secrets.token_hex(8)}" for _ in range(5)]  # unique across accounts (invoice_numbers)
    with uow(scope) as store:
        assert store.next_invoice_number("ABC", ids[0]) == "ABC-0001"
        assert store.next_invoice_number("ABC", ids[1]) == "ABC-0002"
    with runtime.engine.begin() as conn:
        conn.execute(
            update(invoice_sequences)
            .where(invoice_sequences.c.account_id == scope.account_id)
            .values(next_number=9999)
        )
    with uow(scope) as store:
        assert store.next_invoice_number("ABC", ids[2]) == "ABC-9999"
        assert store.next_invoice_number("ABC", ids[3]) == "ABC-10000"
        assert store.next_invoice_number("XYZ", ids[4]) == "XYZ-0001"


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite has one writer: there are no row locks to see")
def test_claiming_a_draft_locks_its_subscription_and_customer(uow: SqlUnitOfWork, scope: Scope) -> None:
    sub, customer = _doc("subscription"), _doc("customer")
    draft = _doc("invoice", status="draft")
    with uow(scope) as store:
        store.insert(customer, Index())
        store.insert(sub, Index(customer=customer["id"]))
        store.insert(draft, Index(customer=customer["id"], parent=sub["id"], status="draft"))
    holding, release = threading.Event(), threading.Event()

    def claim_the_draft() -> None:
        with uow(scope) as store:
            assert store.claim([("invoice", draft["id"])]) == [("invoice", draft["id"])]
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=claim_the_draft)
    thread.start()
    try:
        assert holding.wait(30)
        with uow(scope) as store:
            assert store.claim([("subscription", sub["id"]), ("customer", customer["id"])]) == []
    finally:
        release.set()
        thread.join(30)
    with uow(scope) as store:
        assert store.claim([("subscription", sub["id"])]) == [("subscription", sub["id"])]
