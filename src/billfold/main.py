"""The composition root: the one place that wires adapters into ports and builds the application."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import Engine

from billfold.adapters.clock import SystemClock
from billfold.adapters.db.accounts import SqlAccounts, SqlIdempotencyKeys
from billfold.adapters.db.engine import make_engine
from billfold.adapters.db.migrate import upgrade
from billfold.adapters.db.scheduler import SqlScheduler
from billfold.adapters.db.store import SqlUnitOfWork
from billfold.adapters.processors.simulated import SimulatedProcessor
from billfold.api.app import create_app
from billfold.api.framework import Services
from billfold.app.ports import Clock
from billfold.worker.loop import Worker


@dataclass
class Runtime:
    engine: Engine
    services: Services

    def worker(self, *, interval: float = 0.2) -> Worker:
        return Worker(
            self.services.uow,
            SqlScheduler(self.engine),
            self.services.processor,
            self.services.clock,
            interval=interval,
        )


def build_runtime(
    database_url: str | None = None, *, clock: Clock | None = None, migrate: bool = True
) -> Runtime:
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
    )
    return Runtime(engine=engine, services=services)


def build_app(database_url: str | None = None) -> FastAPI:
    return create_app(build_runtime(database_url).services)
