"""A bill run survives SIGKILL: the real ``billfold worker`` process is killed at random moments while it renews and
collects N subscriptions, restarted each time, and in the end every subscription was billed exactly once for its
period and paid exactly once — the promise of docs/adr/0007-billing-loop.md ("not after a worker is killed mid-run").

The subscriptions are seeded through the use cases with a fixed clock at T0 = one month and two hours ago, so on the
wall clock exactly one renewal (period [T0 + 1 month, T0 + 2 months)) and its draft finalization are due. The test
uses its own database so the session's in-process worker (tests/conftest.py) cannot do the work for the killed one.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, select

from billfold.adapters.clock import FixedClock
from billfold.adapters.db.codec import unpack
from billfold.adapters.db.engine import READONLY
from billfold.adapters.db.schema import billing_periods, objects
from billfold.app import billing, catalog, customers, tax_rates
from billfold.app.ports import Scope
from billfold.core import periods
from billfold.main import build_runtime
from tests.conftest import TEST_DB

N = int(os.environ.get("BILLFOLD_CRASH_N", "2000"))
SEED = int(os.environ.get("BILLFOLD_CRASH_SEED", "20261028"))
BATCH = 100  # subscriptions seeded per unit of work
FINAL_TIMEOUT = 600.0  # seconds for the last worker to drain everything due

# 3 × $25.00 = $75.00; VAT 19% exclusive = $14.25; total $89.25 — every invoice, first and renewal.
UNIT_AMOUNT, QUANTITY = 2500, 3
SUBTOTAL, TAX = 7500, 1425
TOTAL = SUBTOTAL + TAX


def _seed(url: str, t0: int, n: int) -> tuple[str, list[str]]:
    """N customers paying by card, each with a monthly subscription started at ``t0``; returns (account, sub ids)."""
    rt = build_runtime(url, clock=FixedClock(t0))
    try:
        account = rt.services.accounts.ensure_account(f"acct-crash-{secrets.token_hex(6)}")
        scope = Scope(account_id=account, livemode=False, actor="test")
        with rt.services.uow(scope) as store:
            product = catalog.create_product(store, t0, {"name": "Crash-test seat"})
            price = catalog.create_price(
                store,
                t0,
                {
                    "product": product["id"],
                    "currency": "usd",
                    "unit_amount": UNIT_AMOUNT,
                    "recurring": {"interval": "month"},
                },
            )
            vat = tax_rates.create_tax_rate(
                store, t0, {"display_name": "VAT", "percentage": Decimal("19"), "inclusive": False}
            )

        def batch(size: int) -> list[str]:
            ids: list[str] = []
            with rt.services.uow(scope) as store:
                for _ in range(size):
                    cus = customers.create_customer(
                        store, t0, {"invoice_settings": {"default_payment_method": "pm_card_visa"}}
                    )
                    values: dict[str, Any] = {
                        "customer": cus["id"],
                        "items": [{"price": price["id"], "quantity": QUANTITY}],
                        "default_tax_rates": [vat["id"]],
                    }
                    sub = billing.start_subscription(store, t0, values, rt.services.processor)
                    assert sub["status"] == "active", sub["status"]
                    ids.append(sub["id"])
            return ids

        # PostgreSQL seeds in parallel (the time goes to round trips); SQLite has one writer anyway.
        sizes = [min(BATCH, n - i) for i in range(0, n, BATCH)]
        with ThreadPoolExecutor(max_workers=4 if TEST_DB == "postgres" else 1) as pool:
            subs = [s for ids in pool.map(batch, sizes) for s in ids]
        return account, subs
    finally:
        rt.engine.dispose()


def _outstanding(engine: Engine, account: str, now: int) -> int:
    """Due work left for this account: subscriptions and drafts whose due instant has passed (no test clock)."""
    o = objects.c
    stmt = (
        select(func.count())
        .select_from(objects)
        .where(
            o.account_id == account,
            o.type.in_(("subscription", "invoice")),
            o.due_at.is_not(None),
            o.due_at <= now,
            o.test_clock.is_(None),
            o.deleted.is_(False),
        )
    )
    with _reading(engine) as conn:
        return int(conn.execute(stmt).scalar_one())


def _reading(engine: Engine) -> Connection:
    """A read-only connection: on SQLite a deferred ``BEGIN``, so polling never queues for the write lock behind
    the worker (``BEGIN IMMEDIATE`` did, and saw the worker's progress only when it paused)."""
    return engine.connect().execution_options(**{READONLY: True})


def _progress(engine: Engine, account: str) -> int:
    """Periods claimed plus invoices paid: grows with every committed renewal and every committed payment."""
    with _reading(engine) as conn:
        claimed = conn.execute(
            select(func.count()).select_from(billing_periods).where(billing_periods.c.account_id == account)
        ).scalar_one()
        paid = conn.execute(
            select(func.count())
            .select_from(objects)
            .where(objects.c.account_id == account, objects.c.type == "invoice", objects.c.status == "paid")
        ).scalar_one()
    return int(claimed) + int(paid)


def _spawn(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, BILLFOLD_DATABASE_URL=url)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "billfold.cli", "worker", "--interval", "0.05"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _wait_for_progress(engine: Engine, account: str, since: int, proc: subprocess.Popen[bytes]) -> int:
    """Block until the worker has committed something past ``since`` (it has started and is billing)."""
    deadline = time.monotonic() + 60
    while (now := _progress(engine, account)) <= since:
        assert proc.poll() is None, f"worker exited with {proc.returncode}"
        assert time.monotonic() < deadline, "worker made no progress in 60 s"
        time.sleep(0.01)
    return now


def _docs(engine: Engine, account: str, object_type: str) -> list[dict[str, Any]]:
    o = objects.c
    stmt = select(o.doc).where(o.account_id == account, o.livemode.is_(False), o.type == object_type)
    with _reading(engine) as conn:
        return [orjson.loads(unpack(r.doc)) for r in conn.execute(stmt)]


def test_killed_workers_bill_every_period_exactly_once(own_database: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    wall = int(time.time())
    # One month and two hours ago: the first period has ended and its renewal's draft window (1 h) has passed,
    # while the second period ends about a month from now.
    t0 = periods.add_interval(wall - 7200, "month", 1, -1)
    p1 = periods.add_interval(t0, "month", 1, 1)
    p2 = periods.add_interval(t0, "month", 1, 2)
    assert p1 + 3600 < wall and p2 > wall + 86_400

    started = time.monotonic()
    account, subs = _seed(own_database, t0, N)
    seeded = time.monotonic()

    engine = build_runtime(own_database, migrate=False).engine
    log = tmp_path / "worker.log"
    kills = rng.randint(3, 5)
    mid_run_kills = 0
    progress = _progress(engine, account)
    assert progress == 2 * N  # the first invoices: a period claimed and paid each
    try:
        for _ in range(kills):
            proc = _spawn(own_database, log)
            if _outstanding(engine, account, int(time.time())) == 0:
                _kill(proc)
                continue
            # Kill it at a random point of what is left, measured in committed work rather than in seconds
            # (the worker's speed varies with the machine and the code): after 1 to a quarter of the remaining
            # progress (claims plus payments; 4 N in all).
            target = progress + rng.randint(1, max(1, (4 * N - progress) // 4))
            _wait_for_progress(engine, account, target - 1, proc)
            _kill(proc)
            # The kill landed mid-run if the dead worker left work undone (nothing changes after the kill).
            progress = _progress(engine, account)
            mid_run_kills += progress < 4 * N
        killed = time.monotonic()

        proc = _spawn(own_database, log)
        try:
            deadline = time.monotonic() + FINAL_TIMEOUT
            while _outstanding(engine, account, int(time.time())) > 0:
                assert proc.poll() is None, (
                    f"worker exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
                )
                assert time.monotonic() < deadline, f"due work left after {FINAL_TIMEOUT} s"
                time.sleep(0.1)
        finally:
            _kill(proc)
        drained = time.monotonic()

        print(
            f"\n[crash] {TEST_DB} N={N} seed={SEED}: seeding {seeded - started:.1f}s, "
            f"{kills} kills ({mid_run_kills} mid-run) {killed - seeded:.1f}s, final drain {drained - killed:.1f}s"
        )
        assert mid_run_kills >= 1, "no kill landed while work was due; the test proved nothing"

        invoices = _docs(engine, account, "invoice")
        by_reason: dict[str, Counter[str]] = {
            "subscription_create": Counter(),
            "subscription_cycle": Counter(),
        }
        for inv in invoices:
            sub_id = inv["parent"]["subscription_details"]["subscription"]
            by_reason[inv["billing_reason"]][sub_id] += 1
        assert len(invoices) == 2 * N
        assert by_reason["subscription_create"] == Counter(dict.fromkeys(subs, 1))
        assert by_reason["subscription_cycle"] == Counter(dict.fromkeys(subs, 1))

        renewals = [i for i in invoices if i["billing_reason"] == "subscription_cycle"]
        assert {i["period_start"] for i in renewals} == {p1}
        assert {i["period_end"] for i in renewals} == {p2}
        assert Counter(i["status"] for i in renewals) == Counter({"paid": N})
        assert all(i["amount_paid"] == i["total"] == TOTAL and i["amount_remaining"] == 0 for i in renewals)
        assert all((i["subtotal"], i["total_taxes"][0]["amount"]) == (SUBTOTAL, TAX) for i in renewals)
        assert sum(i["amount_paid"] for i in renewals) == N * TOTAL
        numbers = [i["number"] for i in invoices]
        assert None not in numbers and len(set(numbers)) == len(numbers)

        with _reading(engine) as conn:
            claims = conn.execute(
                select(billing_periods.c.subscription_id, billing_periods.c.period_start).where(
                    billing_periods.c.account_id == account
                )
            ).all()
        assert Counter(start for _, start in claims) == Counter({t0: N, p1: N})
        assert len(set(claims)) == len(claims) == 2 * N

        # Nothing was announced twice: one invoice.created, .finalized and .paid event per renewal invoice.
        o = objects.c
        lifecycle = ("invoice.created", "invoice.finalized", "invoice.paid")
        with _reading(engine) as conn:
            events = conn.execute(
                select(o.parent, o.status).where(
                    o.account_id == account, o.type == "event", o.status.in_(lifecycle)
                )
            ).all()
        announced = Counter((parent, kind) for parent, kind in events)
        expected = Counter({(i["id"], kind): 1 for i in renewals for kind in lifecycle})
        assert {k: v for k, v in announced.items() if k[0] in {i["id"] for i in renewals}} == expected

        for sub in _docs(engine, account, "subscription"):
            item = sub["items"]["data"][0]
            assert (sub["status"], item["current_period_start"], item["current_period_end"]) == (
                "active",
                p1,
                p2,
            )
            # Next due: the upcoming-invoice notice (the default: 3 days) before the next renewal.
            assert sub["billfold_due_at"] == p2 - 3 * 86400

        # A second bill run finds nothing to do.
        rt = build_runtime(own_database, migrate=False)
        try:
            assert rt.worker().bill_run(rt.services.clock.now()) == 0
        finally:
            rt.engine.dispose()
        assert len(_docs(engine, account, "invoice")) == 2 * N
    finally:
        engine.dispose()
        text = log.read_text() if log.exists() else ""
        if "Traceback" in text:
            print(f"[crash] worker log has tracebacks:\n{text[-6000:]}")
