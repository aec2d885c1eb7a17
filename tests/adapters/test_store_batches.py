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
from typing import Any

import pytest
from sqlalchemy import update

from billfold.adapters.db.schema import invoice_sequences
from billfold.adapters.db.store import SqlStore, SqlUnitOfWork
from billfold.app.ports import Doc, Index, ListQuery, Scope
from billfold.main import Runtime
from tests.adapters.conftest import T0  # the instant of the shared ``uow`` fixture
from tests.conftest import TEST_DB


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


def test_a_claim_due_by_an_instant_leaves_out_what_is_no_longer_due_and_reads_nothing_ahead_for_it(
    uow: SqlUnitOfWork, scope: Scope
) -> None:
    """Two workers find the same due subscriptions; the one that claims them second gets only those the other has
    not renewed since (a renewal moves ``due_at`` to the next period), and reads no customer for the others."""
    due_customer, renewed_customer = _doc("customer"), _doc("customer")
    due_sub = _doc("subscription", customer=due_customer["id"])
    renewed = _doc("subscription", customer=renewed_customer["id"])
    with uow(scope) as store:
        store.insert(due_customer, Index())
        store.insert(renewed_customer, Index())
        store.insert(due_sub, Index(customer=due_customer["id"], due_at=T0))
        store.insert(renewed, Index(customer=renewed_customer["id"], due_at=T0 + 30 * 86_400))
    keys = [("subscription", due_sub["id"]), ("subscription", renewed["id"])]
    with uow(scope) as store:
        assert store.claim(keys, due_by=T0) == [("subscription", due_sub["id"])]
        held = {key for key in store._objects}
        assert ("customer", due_customer["id"]) in held
        assert ("customer", renewed_customer["id"]) not in held
        assert ("subscription", renewed["id"]) not in held
    with uow(scope) as store:  # without ``due_by``, both (the claim of any object, e.g. an e-mail)
        assert store.claim(keys) == keys
    with uow(scope) as store:  # an instant both are due by
        assert store.claim(keys, due_by=T0 + 30 * 86_400) == keys


class _Statements:
    """The store's cursor, noting the SQL of each statement it runs."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.seen: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        self.seen.append(sql)
        return self._cursor.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self.seen.append(sql)
        return self._cursor.executemany(sql, *args)

    def copy(self, sql: str) -> Any:
        self.seen.append(sql)
        return self._cursor.copy(sql)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _watch(store: SqlStore) -> _Statements:
    watched = _Statements(store._cur)
    store._cur = watched
    return watched


def _drafts_of(store_uow: SqlUnitOfWork, scope: Scope, prefix: str, n: int) -> tuple[Doc, list[Doc]]:
    customer = _doc("customer", invoice_prefix=prefix)
    drafts = [_doc("invoice", status="draft") for _ in range(n)]
    with store_uow(scope) as store:
        store.insert(customer, Index())
        for draft in drafts:
            store.insert(draft, Index(customer=customer["id"], status="draft"))
    return customer, drafts


def test_an_optimistic_batch_takes_numbers_from_the_counter_it_holds_gapless_across_transactions(
    runtime: Runtime, uow: SqlUnitOfWork, scope: Scope
) -> None:
    prefix = "P" + secrets.token_hex(4).upper()
    _, drafts = _drafts_of(uow, scope, prefix, 4)
    with uow(scope) as store:  # the counter exists: the first number was taken the usual way
        assert store.next_invoice_number(prefix, drafts[0]["id"]) == f"{prefix}-0001"
    with uow(scope) as store:
        keys = [("invoice", d["id"]) for d in drafts[1:3]]
        assert store.claim(keys, optimistic=True) == keys
        watched = _watch(store)
        assert store.next_invoice_number(prefix, drafts[1]["id"]) == f"{prefix}-0002"
        assert store.next_invoice_number(prefix, drafts[2]["id"]) == f"{prefix}-0003"
        assert watched.seen == []  # taken from the counter read at claim time, written at commit
    with uow(scope) as store:  # written back at commit: the next transaction goes on from there
        assert store.next_invoice_number(prefix, drafts[3]["id"]) == f"{prefix}-0004"
    with runtime.engine.connect() as conn:
        numbers = conn.exec_driver_sql(
            "SELECT number, invoice_id FROM invoice_numbers WHERE account_id = "
            + ("%(a)s" if TEST_DB == "postgres" else ":a")
            + " ORDER BY number",
            {"a": scope.account_id},
        ).all()
    assert [tuple(r) for r in numbers] == [(f"{prefix}-000{i + 1}", d["id"]) for i, d in enumerate(drafts)]


def test_an_optimistic_batch_that_rolls_back_consumes_no_number(uow: SqlUnitOfWork, scope: Scope) -> None:
    prefix = "R" + secrets.token_hex(4).upper()
    _, drafts = _drafts_of(uow, scope, prefix, 2)
    with uow(scope) as store:
        assert store.next_invoice_number(prefix, drafts[0]["id"]) == f"{prefix}-0001"
    with pytest.raises(RuntimeError), uow(scope) as store:
        store.claim([("invoice", drafts[1]["id"])], optimistic=True)
        assert store.next_invoice_number(prefix, drafts[1]["id"]) == f"{prefix}-0002"
        raise RuntimeError("the batch fails")
    with uow(scope) as store:
        assert store.next_invoice_number(prefix, drafts[1]["id"]) == f"{prefix}-0002"


def test_a_savepoint_rolled_back_in_a_batch_gives_its_number_back(uow: SqlUnitOfWork, scope: Scope) -> None:
    prefix = "S" + secrets.token_hex(4).upper()
    _, drafts = _drafts_of(uow, scope, prefix, 3)
    with uow(scope) as store:
        assert store.next_invoice_number(prefix, drafts[0]["id"]) == f"{prefix}-0001"
    with uow(scope) as store:
        store.claim([("invoice", d["id"]) for d in drafts[1:]], optimistic=True)
        with pytest.raises(RuntimeError), store.savepoint():
            assert store.next_invoice_number(prefix, drafts[1]["id"]) == f"{prefix}-0002"
            raise RuntimeError("this item fails")
        assert store.next_invoice_number(prefix, drafts[2]["id"]) == f"{prefix}-0002"


def test_an_optimistic_period_claim_is_written_at_commit_and_a_second_one_fails_the_commit(
    uow: SqlUnitOfWork, scope: Scope
) -> None:
    sub = _doc("subscription")
    first, second = _doc("invoice"), _doc("invoice")
    with uow(scope) as store:
        store.insert(sub, Index(customer="cus_1", due_at=T0))
    with uow(scope) as store:
        store.claim([("subscription", sub["id"])], optimistic=True)
        watched = _watch(store)
        assert store.claim_period(sub["id"], T0, first["id"]) is True
        store.insert(first, Index(customer="cus_1", parent=sub["id"]))
        assert watched.seen == []
        store.flush()
        assert any("billing_periods" in sql for sql in watched.seen)
    with pytest.raises(Exception) as failed, uow(scope) as store:
        store.claim([("subscription", sub["id"])], optimistic=True)
        assert store.claim_period(sub["id"], T0, second["id"]) is True  # not known before the commit
        store.insert(second, Index(customer="cus_1", parent=sub["id"]))
    assert "billing_period" in str(failed.value) or "UNIQUE" in str(failed.value)
    with uow(scope) as store:  # nothing of the failed transaction was kept; checked at once outside a batch
        assert store.get("invoice", second["id"]) is None
        assert store.get("invoice", first["id"]) is not None
        assert store.claim_period(sub["id"], T0, second["id"]) is False
