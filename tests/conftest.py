"""Test harness: a real Billfold server on loopback, over SQLite or PostgreSQL, driven by the official SDK.

``BILLFOLD_TEST_DB`` picks the database tier (``sqlite``, the default, or ``postgres``). For PostgreSQL the URL
comes from ``BILLFOLD_TEST_POSTGRES_URL`` or a throwaway cluster started here (tests/support/pg.py); each test
session gets a fresh database. Every test gets its own account and keys, so tests never see each other's objects.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import stripe
import uvicorn
from sqlalchemy import Engine, func, select

from billfold.adapters.db.schema import audit_log, objects
from billfold.adapters.email.smtp import SmtpMailer
from billfold.api.app import create_app
from billfold.main import Runtime, build_runtime
from tests.support import pg
from tests.support.smtp import SmtpServer

TEST_DB = os.environ.get("BILLFOLD_TEST_DB", "sqlite")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    if TEST_DB == "sqlite":
        with tempfile.TemporaryDirectory(prefix="billfold-test-") as d:
            yield f"sqlite:///{Path(d) / 'billfold.sqlite3'}"
        return
    if TEST_DB != "postgres":
        raise RuntimeError(f"BILLFOLD_TEST_DB must be sqlite or postgres, not {TEST_DB!r}")
    base = os.environ.get("BILLFOLD_TEST_POSTGRES_URL")
    cluster_dir = None
    if not base:
        if pg.find_pg_bin() is None:
            pytest.skip("needs PostgreSQL binaries (install postgresql or set BILLFOLD_TEST_POSTGRES_URL)")
        cluster_dir = tempfile.mkdtemp(prefix="billfold-pg-")
        base = pg.start(cluster_dir)
    name = f"billfold_test_{secrets.token_hex(4)}"
    url = pg.create_database(base, name)
    try:
        yield url
    finally:
        try:
            pg.drop_database(base, name)
        finally:
            if cluster_dir:
                pg.stop(cluster_dir)


@pytest.fixture
def own_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own (worker processes, migrations, crashes): on PostgreSQL a new database in the
    session's cluster, dropped afterwards; on SQLite a new file."""
    if TEST_DB != "postgres":
        yield f"sqlite:///{tmp_path / 'own.sqlite3'}"
        return
    name = f"billfold_own_{secrets.token_hex(4)}"
    url = pg.create_database(database_url, name)
    try:
        yield url
    finally:
        pg.drop_database(database_url, name)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback; the test server's worker delivers e-mails to it."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def runtime(database_url: str, smtp_server: SmtpServer) -> Iterator[Runtime]:
    rt = build_runtime(database_url, mailer=SmtpMailer("127.0.0.1", smtp_server.port))
    yield rt
    rt.engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server_url(runtime: Runtime) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(create_app(runtime.services), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    worker = runtime.worker(interval=0.05)
    worker.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("Billfold test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    worker.stop()
    server.should_exit = True
    thread.join(timeout=10)


@dataclass
class Tenant:
    """One account with a test key and a live key, and clients for both."""

    account_id: str
    test_key: str
    live_key: str
    client: stripe.StripeClient
    live_client: stripe.StripeClient
    engine: Engine

    def rows(self, object_type: str | None = None, *, livemode: bool = False) -> int:
        """How many stored objects (including events) this account has — to prove nothing was written."""
        conds = [objects.c.account_id == self.account_id, objects.c.livemode == livemode]
        if object_type:
            conds.append(objects.c.type == object_type)
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(objects).where(*conds)).scalar_one())

    def audit_rows(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(audit_log)
                    .where(audit_log.c.account_id == self.account_id)
                ).scalar_one()
            )


def make_client(server_url: str, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": server_url}, max_network_retries=0)


def _tenant(runtime: Runtime, server_url: str) -> Tenant:
    accounts = runtime.services.accounts
    account_id = accounts.ensure_account(f"acct-{secrets.token_hex(6)}")
    test_key = accounts.create_key(account_id, livemode=False)
    live_key = accounts.create_key(account_id, livemode=True)
    return Tenant(
        account_id=account_id,
        test_key=test_key,
        live_key=live_key,
        client=make_client(server_url, test_key),
        live_client=make_client(server_url, live_key),
        engine=runtime.engine,
    )


@pytest.fixture
def tenant(runtime: Runtime, server_url: str) -> Tenant:
    return _tenant(runtime, server_url)


@pytest.fixture
def make_tenant(runtime: Runtime, server_url: str) -> Callable[[], Tenant]:
    """New tenants on demand (a stateful property starts each of its runs on an account of its own)."""
    return lambda: _tenant(runtime, server_url)


@pytest.fixture
def other_tenant(runtime: Runtime, server_url: str) -> Tenant:
    return _tenant(runtime, server_url)


@pytest.fixture
def client(tenant: Tenant) -> stripe.StripeClient:
    return tenant.client
