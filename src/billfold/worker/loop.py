"""The worker: a loop that finds due work and hands it to the use cases.

It runs as ``billfold worker`` (``--processes N`` for several on PostgreSQL) or inside ``billfold serve``
(single-process mode). The wall-clock bill run takes the due items in batches: one transaction per batch, the items
claimed up front (on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so several workers share the run instead of queueing
behind each other's row locks). Each item is re-read under its claim and skipped when no longer due, and the period
claim is a unique constraint, so a period is never billed twice. Killing a worker loses at most its open batch,
which the next run does again.

An item that fails rolls back alone. A batch first runs without a savepoint per item (two statements per item, and on
PostgreSQL a subtransaction each: more than 64 in one transaction overflow the server's per-backend cache and slow
every session's snapshots). If an item raises, the whole batch rolls back and runs again with a savepoint per item,
and the items that failed run that way in later passes too. A batch whose commit fails is retried one item per
transaction. (A batch that runs twice charges nothing twice: a payment attempt's idempotency key is the invoice and
its attempt count, both rolled back with the batch, as after a crash.) Such a batch also takes its period claims
and invoice numbers in memory and writes them at commit: a period already claimed (which the re-check under the row
lock makes a surprise) then fails the commit, and the batch runs again one item per transaction, where the claim is
checked at once and the period skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from billfold.app import account_settings, due, emails, test_clocks
from billfold.app.ports import Clock, DueItem, Mailer, MailError, PaymentProcessor, Scheduler, Scope, Store

log = logging.getLogger("billfold.worker")

# Items failing one after another in a batch point at the transaction or the database rather than the items.
MAX_FAILURES_IN_A_ROW = 3
# Due items that failed recently: the batches holding them run with a savepoint per item from the start.
MAX_SUSPECTS = 10_000


class _ItemFailed(Exception):
    """An item of a batch without savepoints raised: the batch's transaction is rolled back."""


class BatchStore(Store, Protocol):
    """A store that can hold several due items in one transaction (adapters/db/store.py)."""

    def claim(
        self,
        keys: Sequence[tuple[str, str]],
        *,
        optimistic: bool = False,
        renewed_by: int | None = None,
        due_by: int | None = None,
    ) -> list[tuple[str, str]]:
        """Lock these (type, id) objects for the transaction, skipping those another worker holds. ``optimistic``:
        the batch runs without savepoints, so period claims and invoice numbers may be taken in memory and written
        at commit (a period claimed twice then fails the commit instead of the item). ``renewed_by``: subscriptions
        due by then may also finalize their renewal's draft, so their customers are locked as a draft's are.
        ``due_by``: only objects still due by then (another worker may have acted on some since they were found)."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A block that rolls back alone when it raises."""
        ...


class BatchUnitOfWork(Protocol):
    def __call__(self, scope: Scope) -> AbstractContextManager[BatchStore]: ...


class Worker:
    def __init__(
        self,
        uow: BatchUnitOfWork,
        scheduler: Scheduler,
        processor: PaymentProcessor,
        clock: Clock,
        mailer: Mailer,
        *,
        interval: float = 0.2,
        batch: int = 500,
        per_transaction: int = 100,
    ) -> None:
        self.uow = uow
        self.scheduler = scheduler
        self.processor = processor
        self.clock = clock
        self.mailer = mailer
        self.interval = interval
        self.batch = batch
        self.per_transaction = per_transaction
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._suspects: set[str] = set()

    def _clock_work(self, store: Store, clock: dict[str, object], until: int) -> None:
        due.run_due(store, until, str(clock["id"]), self.processor)

    def run_once(self) -> int:
        """Process everything due now; returns how many items were processed."""
        done = 0
        for item in self.scheduler.advancing_clocks():
            scope = Scope(account_id=item.account_id, livemode=item.livemode, actor="worker")
            try:
                with self.uow(scope) as store:
                    test_clocks.finish_advance(store, item.object_id, self._clock_work)
                done += 1
            except Exception:
                log.exception("advancing test clock %s failed", item.object_id)
        done += self.bill_run(self.clock.now())
        done += self.deliver_emails(self.clock.now())
        return done

    def deliver_emails(self, now: int) -> int:
        """One delivery attempt for each e-mail due by ``now`` (app/emails.py): taken in one transaction, handed to
        the mail server outside any, its outcome recorded in another. Returns how many attempts were made."""
        done = 0
        for item in self.scheduler.due_emails(now, self.batch):
            scope = Scope(account_id=item.account_id, livemode=item.livemode, actor="worker")
            try:
                with self.uow(scope) as store:
                    claimed = store.claim([(emails.OBJECT, item.object_id)])
                    attempt = emails.start_attempt(store, item.object_id, now) if claimed else None
                if attempt is None:
                    continue
                error: MailError | None = None
                try:
                    self.mailer.send(attempt.message)
                except MailError as exc:
                    error = exc
                with self.uow(scope) as store:
                    emails.finish_attempt(store, attempt, self.clock.now(), error)
                done += 1
            except Exception:
                # Left ``sending``: the attempt is made again when its lease ends.
                log.exception("delivering e-mail %s failed", item.object_id)
        return done

    def bill_run(self, now: int) -> int:
        """Renewals, draft finalizations and other due actions by ``now`` for objects on no test clock, in
        batches of ``per_transaction`` items of one account and mode. Returns how many actions ran."""
        done = 0
        for scope, keys in self._batches(self.scheduler.due_subscriptions(now, self.batch)):
            try:
                isolated = any(object_id in self._suspects for _, object_id in keys)
                try:
                    done += self._run_batch(scope, keys, now, isolated=isolated)
                except _ItemFailed as failed:
                    log.warning(
                        "due item %s failed; running its batch again with a savepoint per item", failed
                    )
                    done += self._run_batch(scope, keys, now, isolated=True)
            except Exception:
                # Nothing of the batch was kept (its commit failed, or items kept failing). Retry item by item, so
                # one item that cannot commit does not hold back the others.
                log.exception("a batch of %d due items failed; retrying them one per transaction", len(keys))
                done += self._run_singly(scope, keys, now)
        return done

    def _run_singly(self, scope: Scope, keys: list[tuple[str, str]], now: int) -> int:
        done = failures = 0
        for key in keys:
            try:
                done += self._run_batch(scope, [key], now)
                failures = 0
            except Exception:
                log.exception("due work on %s failed", key[1])
                failures += 1
                if failures >= MAX_FAILURES_IN_A_ROW:
                    raise  # the database is likely gone: give up this pass, the next one retries
        return done

    def _batches(self, items: list[DueItem]) -> list[tuple[Scope, list[tuple[str, str]]]]:
        """Consecutive items of one account and mode, at most ``per_transaction`` at a time (time order kept)."""
        out: list[tuple[Scope, list[tuple[str, str]]]] = []
        for item in items:
            if (
                not out
                or out[-1][0].account_id != item.account_id
                or out[-1][0].livemode != item.livemode
                or (len(out[-1][1]) >= self.per_transaction)
            ):
                out.append((Scope(account_id=item.account_id, livemode=item.livemode, actor="worker"), []))
            out[-1][1].append((due.object_type(item.object_id), item.object_id))
        return out

    def _run_batch(
        self, scope: Scope, keys: list[tuple[str, str]], now: int, *, isolated: bool = True
    ) -> int:
        """The items in one transaction; ``isolated``: each in a savepoint, else the first that raises rolls back the
        batch (``_ItemFailed``)."""
        done = failures = 0
        with self.uow(scope) as store:
            # A renewal due a draft window before ``now`` is finalized in the same transaction (app/due.py).
            renewed_by = now - account_settings.draft_window_seconds(store)
            for _, object_id in store.claim(keys, optimistic=not isolated, renewed_by=renewed_by, due_by=now):
                if not isolated:
                    try:
                        done += due.run_due_object(store, object_id, now, self.processor)
                    except Exception as exc:
                        if len(self._suspects) >= MAX_SUSPECTS:
                            self._suspects.clear()
                        self._suspects.add(object_id)
                        raise _ItemFailed(object_id) from exc
                    continue
                try:
                    with store.savepoint():
                        done += due.run_due_object(store, object_id, now, self.processor)
                    failures = 0
                    self._suspects.discard(object_id)
                except Exception:
                    if len(keys) == 1:
                        raise
                    log.exception("due work on %s failed", object_id)
                    failures += 1
                    if failures >= MAX_FAILURES_IN_A_ROW:
                        raise  # more likely the transaction than the items: let bill_run decide
        return done

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("worker iteration failed")
                busy = 0
            if not busy:
                self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="billfold-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
