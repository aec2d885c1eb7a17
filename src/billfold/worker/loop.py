"""The worker: a loop that finds due work and hands it to the use cases, one unit of work per item.

It runs as ``billfold worker`` or inside ``billfold serve`` (single-process mode). Several workers may share one
PostgreSQL: each item is re-read under a row lock inside its own transaction and skipped when no longer due, and the
period claim is a unique constraint, so a period is never billed twice.
"""

from __future__ import annotations

import logging
import threading

from billfold.app import due, test_clocks
from billfold.app.ports import Clock, PaymentProcessor, Scheduler, Scope, Store, UnitOfWork

log = logging.getLogger("billfold.worker")


class Worker:
    def __init__(
        self,
        uow: UnitOfWork,
        scheduler: Scheduler,
        processor: PaymentProcessor,
        clock: Clock,
        *,
        interval: float = 0.2,
        batch: int = 500,
    ) -> None:
        self.uow = uow
        self.scheduler = scheduler
        self.processor = processor
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
        return done

    def bill_run(self, now: int) -> int:
        """Renewals and draft finalizations due by ``now`` for objects on no test clock, one transaction each."""
        done = 0
        for item in self.scheduler.due_subscriptions(now, self.batch):
            scope = Scope(account_id=item.account_id, livemode=item.livemode, actor="worker")
            try:
                with self.uow(scope) as store:
                    done += due.run_due_object(store, item.object_id, now, self.processor)
            except Exception:
                log.exception("due work on %s failed", item.object_id)
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
