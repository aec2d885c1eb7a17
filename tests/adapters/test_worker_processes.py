"""``billfold worker --processes 2`` bills a small run with two processes and stops them all on SIGTERM
(SQLite, and PostgreSQL with BILLFOLD_TEST_DB=postgres).

Subscriptions are seeded through the use cases one month and two hours ago, so on the wall clock their upcoming
notice, renewal and draft finalization are all due. The test uses its own database, so the session's background
worker cannot do the work.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from billfold.adapters.clock import FixedClock
from billfold.adapters.db.schema import objects
from billfold.app import billing, catalog, customers
from billfold.app.ports import Scope
from billfold.core import periods
from billfold.main import build_runtime

N = 12


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads child processes from /proc")
def test_worker_processes_bill_a_run_and_stop_together(own_database: str, tmp_path: Path) -> None:
    t0 = periods.add_interval(int(time.time()) - 7200, "month", 1, -1)
    rt = build_runtime(own_database, clock=FixedClock(t0))
    account = rt.services.accounts.ensure_account(f"acct-processes-{secrets.token_hex(6)}")
    with rt.services.uow(Scope(account_id=account, livemode=False, actor="test")) as store:
        product = catalog.create_product(store, t0, {"name": "Seat"})
        price = catalog.create_price(
            store,
            t0,
            {
                "product": product["id"],
                "currency": "usd",
                "unit_amount": 1000,
                "recurring": {"interval": "month"},
            },
        )
        for _ in range(N):
            cus = customers.create_customer(
                store, t0, {"invoice_settings": {"default_payment_method": "pm_card_visa"}}
            )
            values = {"customer": cus["id"], "items": [{"price": price["id"], "quantity": 1}]}
            billing.start_subscription(store, t0, values, rt.services.processor)

    def paid() -> int:
        o = objects.c
        stmt = select(func.count()).where(o.account_id == account, o.type == "invoice", o.status == "paid")
        with rt.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    assert paid() == N
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "billfold.cli", "worker", "--processes", "2", "--interval", "0.05"],
        env=dict(os.environ, BILLFOLD_DATABASE_URL=own_database),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while paid() < 2 * N:
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker processes did not bill the run in 120 s"
            time.sleep(0.1)
        children = _children(proc.pid)
        assert children, "no second worker process"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in children):
            assert time.monotonic() < deadline, "a worker process outlived its parent"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
        rt.engine.dispose()
    assert paid() == 2 * N
