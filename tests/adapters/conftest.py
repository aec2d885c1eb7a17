"""Fixtures shared by the store tests: a unit of work on the test database at a fixed instant, and a fresh account
scope per test (so tests sharing one database never see each other's rows)."""

from __future__ import annotations

import secrets

import pytest

from billfold.adapters.clock import FixedClock
from billfold.adapters.db.store import SqlUnitOfWork
from billfold.app.ports import Scope
from billfold.main import Runtime

T0 = 1_700_000_000


@pytest.fixture
def uow(runtime: Runtime) -> SqlUnitOfWork:
    return SqlUnitOfWork(runtime.engine, FixedClock(T0))


@pytest.fixture
def scope() -> Scope:
    return Scope(account_id="acct_" + secrets.token_hex(6), livemode=False, actor="test")
