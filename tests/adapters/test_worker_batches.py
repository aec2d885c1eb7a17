"""The worker's batches on a real database (SQLite, and PostgreSQL with BILLFOLD_TEST_DB=postgres).

Several due items share one transaction (worker/loop.py): an item that fails must roll back alone, and several
workers over the same due items must act on each exactly once (claims with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the single writer on SQLite, and the due instant re-checked under the claim).

The due objects here are far in the future and come from a scheduler of the test's own, so the session's
background worker never sees them; a stand-in handler replaces the subscription use case.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from billfold.adapters.clock import FixedClock
from billfold.adapters.db.scheduler import SqlScheduler
from billfold.adapters.db.schema import objects
from billfold.adapters.db.store import SqlUnitOfWork
from billfold.app import due
from billfold.app.ports import Doc, DueItem, Index, PaymentProcessor, Scope, Store
from billfold.main import Runtime
from billfold.worker.loop import Worker

FAR = 4_000_000_000  # 2096: no wall-clock bill run reaches it


class Boom(Exception):
    pass


class OwnItems:
    """A scheduler that knows only this test's objects."""

    def __init__(self, account_id: str, ids: list[str]) -> None:
        self.account_id, self.ids = account_id, ids

    def advancing_clocks(self) -> list[DueItem]:
        return []

    def due_subscriptions(self, until: int, limit: int) -> list[DueItem]:
        return [DueItem(self.account_id, False, i) for i in self.ids[:limit]]

    def due_emails(self, until: int, limit: int) -> list[DueItem]:
        return []


def _handler(store: Store, doc: Doc, at: int, processor: PaymentProcessor) -> None:
    doc["billfold_due_at"] = None
    store.replace(doc, Index(due_at=None))
    store.record("customer.subscription.updated", doc)
    if doc.get("fail"):
        raise Boom(doc["id"])


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(due._BY_TYPE, "subscription", _handler)


def _seed(uow: SqlUnitOfWork, scope: Scope, n: int, failing: frozenset[int] = frozenset()) -> list[str]:
    ids = []
    with uow(scope) as store:
        for i in range(n):
            doc = {
                "id": f"sub_{secrets.token_hex(10)}",
                "object": "subscription",
                "billfold_due_at": FAR - 10,
            }
            if i in failing:
                doc["fail"] = True
            store.insert(doc, Index(due_at=FAR - 10))
            ids.append(str(doc["id"]))
    return ids


def _events(runtime: Runtime, account_id: str) -> Counter[str]:
    o = objects.c
    stmt = select(o.parent).where(o.account_id == account_id, o.type == "event")
    with runtime.engine.connect() as conn:
        return Counter(str(r.parent) for r in conn.execute(stmt))


def _worker(runtime: Runtime, scheduler: OwnItems, per_transaction: int) -> Worker:
    uow = SqlUnitOfWork(runtime.engine, FixedClock(FAR))
    processor = runtime.services.processor
    return Worker(
        uow, scheduler, processor, FixedClock(FAR), runtime.services.mailer, per_transaction=per_transaction
    )


def test_a_failing_item_rolls_back_alone(runtime: Runtime, handler: None) -> None:
    scope = Scope(account_id="acct_" + secrets.token_hex(6), livemode=False, actor="test")
    uow = SqlUnitOfWork(runtime.engine, FixedClock(FAR))
    ids = _seed(uow, scope, 12, failing=frozenset({4}))
    worker = _worker(runtime, OwnItems(scope.account_id, ids), per_transaction=5)
    assert worker.bill_run(FAR) == 11
    events = _events(runtime, scope.account_id)
    assert events == Counter({i: 1 for n, i in enumerate(ids) if n != 4})
    with uow(scope) as store:
        assert store.get("subscription", ids[4])["billfold_due_at"] == FAR - 10  # type: ignore[index]
        assert store.get("subscription", ids[5])["billfold_due_at"] is None  # type: ignore[index]
    assert worker.bill_run(FAR) == 0  # the failing one fails again; the others are no longer due


def test_workers_sharing_the_due_items_act_on_each_exactly_once(runtime: Runtime, handler: None) -> None:
    scope = Scope(account_id="acct_" + secrets.token_hex(6), livemode=False, actor="test")
    uow = SqlUnitOfWork(runtime.engine, FixedClock(FAR))
    ids = _seed(uow, scope, 300)
    workers = [_worker(runtime, OwnItems(scope.account_id, ids), per_transaction=20) for _ in range(3)]
    done: list[int] = []
    errors: list[BaseException] = []

    def run(worker: Worker) -> None:
        try:
            done.append(worker.bill_run(FAR))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert sum(done) == 300
    assert _events(runtime, scope.account_id) == Counter(dict.fromkeys(ids, 1))


def test_the_scheduler_finds_due_items_in_time_order(runtime: Runtime) -> None:
    scope = Scope(account_id="acct_" + secrets.token_hex(6), livemode=False, actor="test")
    uow = SqlUnitOfWork(runtime.engine, FixedClock(FAR))
    with uow(scope) as store:
        store.insert({"id": "sub_late_" + scope.account_id, "object": "subscription"}, Index(due_at=FAR + 9))
        store.insert({"id": "in_early_" + scope.account_id, "object": "invoice"}, Index(due_at=FAR + 8))
    found = [d.object_id for d in SqlScheduler(runtime.engine).due_subscriptions(FAR + 9, 100_000)]
    assert found.index("in_early_" + scope.account_id) < found.index("sub_late_" + scope.account_id)
    with uow(scope) as store:  # leave nothing due for other tests' bill runs
        store.purge("subscription", "sub_late_" + scope.account_id)
        store.purge("invoice", "in_early_" + scope.account_id)


def test_the_scheduler_orders_types_at_one_instant_skips_clocks_deleted_later(runtime: Runtime) -> None:
    """At one instant invoices come first, then schedules, then subscriptions (app/due.py); within a type, the
    earlier-made object first. Objects on a test clock, deleted ones and those due later are not the worker's."""
    scope = Scope(account_id="acct_" + secrets.token_hex(6), livemode=False, actor="test")
    uow = SqlUnitOfWork(runtime.engine, FixedClock(FAR))
    tag = scope.account_id
    made = [
        ("subscription", f"sub_a_{tag}", Index(due_at=FAR + 20)),
        ("subscription_schedule", f"sub_sched_a_{tag}", Index(due_at=FAR + 20)),
        ("invoice", f"in_a_{tag}", Index(due_at=FAR + 20)),
        ("subscription", f"sub_b_{tag}", Index(due_at=FAR + 20)),
        ("invoice", f"in_b_{tag}", Index(due_at=FAR + 21)),
        ("subscription", f"sub_early_{tag}", Index(due_at=FAR + 19)),
        ("subscription", f"sub_clock_{tag}", Index(due_at=FAR + 19, test_clock="clock_x")),
        ("invoice", f"in_later_{tag}", Index(due_at=FAR + 23)),
        ("subscription", f"sub_deleted_{tag}", Index(due_at=FAR + 19)),
    ]
    with uow(scope) as store:
        for kind, object_id, index in made:
            store.insert({"id": object_id, "object": kind}, index)
        store.delete("subscription", f"sub_deleted_{tag}")
    try:
        scheduler = SqlScheduler(runtime.engine)
        everything = [d.object_id for d in scheduler.due_subscriptions(FAR + 22, 100_000)]
        mine = [i for i in everything if i.endswith(tag)]
        assert mine == [
            f"sub_early_{tag}",
            f"in_a_{tag}",
            f"sub_sched_a_{tag}",
            f"sub_a_{tag}",
            f"sub_b_{tag}",
            f"in_b_{tag}",
        ]
        for limit in (1, 3, len(everything) - 1):
            assert [d.object_id for d in scheduler.due_subscriptions(FAR + 22, limit)] == everything[:limit]
    finally:
        with uow(scope) as store:  # leave nothing due for other tests' bill runs
            for kind, object_id, _ in made:
                store.purge(kind, object_id)


def _billing_handler(store: Store, doc: Doc, at: int, processor: PaymentProcessor) -> None:
    """A renewal in miniature: claim the period, and only if it was claimed, record an invoice for it."""
    if store.claim_period(doc["id"], at, "in_for_" + doc["id"]):
        store.record("invoice.created", {"id": "in_for_" + doc["id"], "object": "invoice"})
    doc["billfold_due_at"] = None
    store.replace(doc, Index(due_at=None))


def test_a_period_already_claimed_fails_the_batch_commit_and_the_items_run_again_one_by_one(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch without savepoints writes its period claims at commit (adapters/db/store.py): a period claimed
    before (here by hand) makes the commit fail, nothing of the batch is kept, and each item runs again in its own
    transaction, where the claim is refused at once and no second invoice is made."""
    monkeypatch.setitem(due._BY_TYPE, "subscription", _billing_handler)
    scope = Scope(account_id="acct_" + secrets.token_hex(6), livemode=False, actor="test")
    uow = SqlUnitOfWork(runtime.engine, FixedClock(FAR))
    ids = _seed(uow, scope, 5)
    with uow(scope) as store:
        assert store.claim_period(ids[2], FAR - 10, "in_billed_before") is True
    worker = _worker(runtime, OwnItems(scope.account_id, ids), per_transaction=10)
    assert worker.bill_run(FAR) == 5
    assert _events(runtime, scope.account_id) == Counter({"in_for_" + i: 1 for i in ids if i != ids[2]})
    with uow(scope) as store:
        for i in ids:
            assert store.get("subscription", i)["billfold_due_at"] is None  # type: ignore[index]
            assert store.claim_period(i, FAR - 10, "in_again") is False
    assert worker.bill_run(FAR) == 0
