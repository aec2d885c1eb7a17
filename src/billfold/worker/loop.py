"""The worker: a loop that finds due work and hands it to the use cases, one unit of work per item.

It runs as ``billfold worker`` or inside ``billfold serve`` (single-process mode). Several workers may share one
PostgreSQL: each item is re-checked under a row lock inside its own transaction, so it is processed once.
"""

from __future__ import annotations

import logging
import threading

from billfold.app import test_clocks
from billfold.app.ports import Scheduler, Scope, UnitOfWork

log = logging.getLogger("billfold.worker")


class Worker:
    def __init__(self, uow: UnitOfWork, scheduler: Scheduler, *, interval: float = 0.2) -> None:
        self.uow = uow
        self.scheduler = scheduler
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Process everything due now; returns how many items were processed."""
        done = 0
        for item in self.scheduler.advancing_clocks():
            scope = Scope(account_id=item.account_id, livemode=item.livemode, actor="worker")
            try:
                with self.uow(scope) as store:
                    test_clocks.finish_advance(store, item.object_id, None)
                done += 1
            except Exception:
                log.exception("advancing test clock %s failed", item.object_id)
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
