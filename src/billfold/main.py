"""The composition root: the one place that wires adapters into ports and builds the application."""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import Engine

from billfold.adapters.clock import SystemClock
from billfold.adapters.db.accounts import SqlAccounts, SqlIdempotencyKeys
from billfold.adapters.db.engine import make_engine
from billfold.adapters.db.migrate import upgrade
from billfold.adapters.db.scheduler import SqlScheduler
from billfold.adapters.db.store import SqlUnitOfWork
from billfold.adapters.email.smtp import mailer_from_env
from billfold.adapters.processors.simulated import SimulatedProcessor
from billfold.api.app import create_app
from billfold.api.framework import Services
from billfold.app.ports import Clock, Mailer
from billfold.worker.loop import Worker


@dataclass
class Runtime:
    engine: Engine
    services: Services

    def worker(self, *, interval: float = 0.2, per_transaction: int = 100) -> Worker:
        """The background worker; ``per_transaction`` due items share one transaction (a savepoint each)."""
        return Worker(
            SqlUnitOfWork(self.engine, self.services.clock),
            SqlScheduler(self.engine),
            self.services.processor,
            self.services.clock,
            self.services.mailer,
            interval=interval,
            per_transaction=per_transaction,
        )


def build_runtime(
    database_url: str | None = None,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    mailer: Mailer | None = None,
) -> Runtime:
    """The application on one database. ``mailer``: where e-mails go; by default the SMTP server of
    ``BILLFOLD_SMTP_URL`` (none configured: e-mails fail, saying so)."""
    engine = make_engine(database_url)
    if migrate:
        upgrade(engine)
    clock = clock or SystemClock()
    services = Services(
        uow=SqlUnitOfWork(engine, clock),
        accounts=SqlAccounts(engine, clock),
        idempotency=SqlIdempotencyKeys(engine, clock),
        clock=clock,
        processor=SimulatedProcessor(),
        mailer=mailer or mailer_from_env(),
    )
    return Runtime(engine=engine, services=services)


# The youngest generation's collection threshold for long-running processes (Python's default is 700 objects).
YOUNG_COLLECTION_THRESHOLD = 50_000


def settle_for_long_run() -> None:
    """Garbage collection for a long-running process (the worker, the server), once start-up is done.

    A renewal allocates thousands of short-lived dicts and lists (documents, lines, events), nearly all freed by
    reference counting. With Python's defaults the cycle collector still ran every 700 allocations and, every
    so often, walked every object of the process (modules, SQLAlchemy, FastAPI): 6-10% of a worker's CPU in a
    bill run (docs/benchmarks.md). Here it runs every ``YOUNG_COLLECTION_THRESHOLD`` allocations, and the objects
    alive after start-up are moved out of its way (``gc.freeze``) after a full collection, so that no garbage is
    frozen with them. Cyclic garbage made later is still collected.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


def run_worker_processes(processes: int, *, interval: float) -> None:
    """``billfold worker --processes N``: N worker processes on one database until interrupted.

    Several processes use several cores on PostgreSQL, where batches are claimed with ``FOR UPDATE SKIP LOCKED``.
    SQLite has one writer at a time, so there more than one process only queues (docs/benchmarks.md).
    """
    import multiprocessing
    import signal
    import sys

    # A service manager stops us with SIGTERM: leave through the ``finally`` below, which stops the other processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_worker_process, args=(interval,), name=f"billfold-worker-{i}", daemon=True)
        for i in range(1, processes)
    ]
    for child in children:
        child.start()
    try:
        _worker_process(interval)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(timeout=10)


def _worker_process(interval: float) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        loop = build_runtime(migrate=False).worker(interval=interval)
        settle_for_long_run()
        loop.run_forever()


def build_app(database_url: str | None = None) -> FastAPI:
    return create_app(build_runtime(database_url).services)
