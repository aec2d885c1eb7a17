"""Benchmark of the wall-clock bill run: how long the worker takes to renew and collect N subscriptions.

Why this exists: the issue's target is 100,000 subscriptions billed in at most 40 s on 2 cores with memory flat in N.
This script seeds N customers shaped like the reference customer's (Advanced seats, a Copilot add-on, a 20%-off
repeating coupon, a 19% exclusive VAT rate), all started at T0 so that exactly one renewal is due one month later,
then times ``Worker.bill_run`` in passes, reported separately and together: the ``invoice.upcoming`` notices
(due 3 days before the renewal, so in production on another day than the renewal), then the bill run proper at
T0 + 1 month + 2 h: the renewals and, their one-hour draft window having passed too, the drafts' finalization and
payment, in the renewal's transaction (a late run: app/due.py, ``_catch_up``). With ``--on-time`` the bill run
proper is two passes, as a worker that keeps up does it: the renewals one minute after they are due (drafts), then
the drafts at T0 + 1 month + 2 h. It prints figures and never asserts timings; results go in docs/benchmarks.md.

    python -m benchmarks.bill_run --subscriptions 25000 --database sqlite
    python -m benchmarks.bill_run --subscriptions 25000 --database postgres
    python -m benchmarks.bill_run --database sqlite:////tmp/b.sqlite3 --seed-only   # then --run-only
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from billfold.adapters.clock import FixedClock
from billfold.adapters.db.schema import objects
from billfold.app import billing
from billfold.app.catalog import create_price, create_product
from billfold.app.customers import create_customer
from billfold.app.discounts import create_coupon
from billfold.app.ports import Scope, Store
from billfold.app.tax_rates import create_tax_rate
from billfold.main import Runtime, build_runtime, settle_for_long_run

T0 = 1_768_435_200  # 2026-01-15T00:00:00Z: every subscription starts here
RUN_AT = 1_771_120_800  # 2026-02-15T02:00:00Z: T0 + 1 month + 2 h, past the renewal and its 1 h draft window
# 2026-02-12T01:00:00Z: past the invoice.upcoming notices (3 days before the renewal), before anything else is due.
NOTICES_AT = RUN_AT - 3 * 86_400 - 3_600
RENEWALS_AT = RUN_AT - 3_600 - 60  # 2026-02-15T00:01:00Z: past the renewals, inside their drafts' window
# The passes timed separately: (name, the instant the worker runs at).
PASSES = (("invoice.upcoming notices", NOTICES_AT), ("bill run proper (renewals, finalize + pay)", RUN_AT))
ON_TIME_PASSES = (
    ("invoice.upcoming notices", NOTICES_AT),
    ("bill run proper, on time: renewals (drafts)", RENEWALS_AT),
    ("bill run proper, on time: drafts (finalize + pay)", RUN_AT),
)
ACCOUNT = "bill-run-benchmark"
SEED_BATCH = 500  # subscriptions per unit of work while seeding
PAGE = 4096


def rss_mib() -> float:
    """Resident set size now, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class RssSampler:
    """The largest RSS seen while a block runs (ru_maxrss is process-wide and includes the seeding)."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peak = every, 0.0
        self._stop = threading.Event()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss_mib())

    @contextlib.contextmanager
    def running(self) -> Iterator[RssSampler]:
        self.peak = rss_mib()
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.peak = max(self.peak, rss_mib())


@contextlib.contextmanager
def database(choice: str) -> Iterator[str]:
    """A database URL: a temporary SQLite file, a throwaway PostgreSQL cluster, or the URL given."""
    if choice == "sqlite":
        with tempfile.TemporaryDirectory(prefix="billfold-bench-") as d:
            yield f"sqlite:///{Path(d) / 'bench.sqlite3'}"
    elif choice == "postgres":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.support.pg import temporary_cluster

        with temporary_cluster("billfold-bench-pg-") as url:
            yield url
    else:
        yield choice


def seed_catalog(store: Store) -> dict[str, str]:
    advanced = create_product(store, T0, {"name": "Advanced seat", "unit_label": "seat"})
    copilot = create_product(store, T0, {"name": "Copilot", "unit_label": "seat"})
    ids = {}
    for key, product, amount in (("advanced", advanced, 9900), ("copilot", copilot, 3500)):
        price = create_price(
            store,
            T0,
            {
                "product": product["id"],
                "currency": "usd",
                "unit_amount": amount,
                "tax_behavior": "exclusive",
                "recurring": {"interval": "month", "usage_type": "licensed"},
            },
        )
        ids[key] = price["id"]
    coupon = create_coupon(
        store,
        T0,
        {
            "name": "20% off Advanced seats for 12 months",
            "percent_off": Decimal(20),
            "duration": "repeating",
            "duration_in_months": 12,
            "applies_to": {"products": [advanced["id"]]},
        },
    )
    ids["coupon"] = coupon["id"]
    rate = create_tax_rate(
        store,
        T0,
        {"display_name": "VAT", "percentage": Decimal(19), "inclusive": False, "country": "DE"},
    )
    ids["tax_rate"] = rate["id"]
    return ids


def seats_for(n: int, rng_seed: int) -> list[int]:
    """Seat quantities, drawn in order from one RNG so the data set does not depend on how seeding is split."""
    rng = random.Random(rng_seed)
    return [rng.randint(1, 500) for _ in range(n)]


def seed_range(runtime: Runtime, scope: Scope, ids: dict[str, str], seats: list[int], first: int) -> None:
    """Customers ``first`` .. ``first + len(seats) - 1``, each with one subscription, SEED_BATCH per unit of work."""
    uow, processor = runtime.services.uow, runtime.services.processor
    for offset in range(0, len(seats), SEED_BATCH):
        with uow(scope) as store:
            for j, quantity in enumerate(seats[offset : offset + SEED_BATCH]):
                i = first + offset + j
                customer = create_customer(
                    store,
                    T0,
                    {
                        "name": f"Benchmark customer {i}",
                        "email": f"bench-{i}@example.com",
                        "invoice_settings": {"default_payment_method": "pm_card_visa"},
                    },
                )
                billing.start_subscription(
                    store,
                    T0,
                    {
                        "customer": customer["id"],
                        "items": [
                            {"price": ids["advanced"], "quantity": quantity},
                            {"price": ids["copilot"], "quantity": quantity},
                        ],
                        "discounts": [{"coupon": ids["coupon"]}],
                        "default_tax_rates": [ids["tax_rate"]],
                    },
                    processor,
                )
        if (offset // SEED_BATCH) % 20 == 19:
            print(f"  seeded {first + offset + SEED_BATCH} (from {first})", file=sys.stderr, flush=True)


def _seed_process(url: str, scope: Scope, ids: dict[str, str], seats: list[int], first: int) -> None:
    runtime = build_runtime(url, clock=FixedClock(T0), migrate=False)
    try:
        seed_range(runtime, scope, ids, seats, first)
    finally:
        runtime.engine.dispose()


def seed(runtime: Runtime, url: str, scope: Scope, n: int, rng_seed: int, processes: int) -> None:
    """The catalog, then N customers and subscriptions, split over ``processes`` processes (PostgreSQL)."""
    with runtime.services.uow(scope) as store:
        ids = seed_catalog(store)
    seats = seats_for(n, rng_seed)
    if processes <= 1:
        seed_range(runtime, scope, ids, seats, 0)
        return
    share = -(-n // processes)
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(
            target=_seed_process, args=(url, scope, ids, seats[first : first + share], first), daemon=True
        )
        for first in range(0, n, share)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"a seeding process failed (exit code {child.exitcode})")


def invoice_counts(runtime: Runtime, scope: Scope) -> dict[str, int]:
    """Invoices created by the bill run (created at or after the renewal instant), by status."""
    o = objects.c
    stmt = (
        select(o.status, func.count())
        .where(
            o.account_id == scope.account_id,
            o.livemode.is_(scope.livemode),
            o.type == "invoice",
            o.created > T0,
        )
        .group_by(o.status)
    )
    with runtime.engine.connect() as conn:
        return {str(status): int(count) for status, count in conn.execute(stmt)}


def bill_run(runtime: Runtime, per_transaction: int = 100, at: int = RUN_AT) -> tuple[int, int]:
    """Call the worker's bill run at ``at`` until nothing is due; returns (due actions done, worker passes)."""
    worker = runtime.worker(per_transaction=per_transaction)
    done = passes = idle = 0
    while True:
        passes += 1
        n = worker.bill_run(at)
        done += n
        if n:
            idle = 0
            continue
        # Nothing done: finished, unless another process still holds due items (PostgreSQL, several workers).
        idle += 1
        if idle > 40 or not worker.scheduler.due_subscriptions(at, 1):
            return done, passes
        time.sleep(0.05)


@dataclass
class RunFigures:
    done: int
    passes: int
    peak_rss: float  # MiB, sampled
    cpu: float  # seconds of CPU (user + system) of the bill run


Passes = tuple[tuple[str, int], ...]


def _bill_run_process(
    url: str, per_transaction: int, passes: Passes, ready: Any, starts: list[Any], results: Any
) -> None:
    runtime = build_runtime(url, clock=FixedClock(RUN_AT), migrate=False)
    settle_for_long_run()  # as the worker process does (billfold.main)
    ready.put(os.getpid())
    for (_, at), start in zip(passes, starts, strict=True):
        start.wait()
        cpu = time.process_time()
        with RssSampler().running() as sampler:
            done, passes = bill_run(runtime, per_transaction, at)
        results.put(RunFigures(done, passes, sampler.peak, time.process_time() - cpu))
    runtime.engine.dispose()


def machine_cpu() -> float:
    """Seconds of CPU the whole machine has spent (user, nice, system, irq, softirq of every process: the worker
    processes, the database server, and anything else running), from ``/proc/stat``; 0 where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


Timed = tuple[
    float, list[RunFigures], float
]  # (wall seconds, figures per worker process, machine CPU seconds)


def bill_run_processes(url: str, processes: int, per_transaction: int, passes: Passes) -> list[Timed]:
    """Each pass of the bill run by ``processes`` worker processes started together (the next pass starts when all
    have finished the previous one); returns (wall seconds, figures of each process, machine CPU) per pass."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    starts = [context.Event() for _ in passes]
    children = [
        context.Process(target=_bill_run_process, args=(url, per_transaction, passes, ready, starts, results))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.get(timeout=120)
    out = []
    for start in starts:
        started, cpu = time.perf_counter(), machine_cpu()
        start.set()
        figures = [results.get() for _ in children]
        out.append((time.perf_counter() - started, figures, machine_cpu() - cpu))
    for child in children:
        child.join()
    return out


def in_process(runtime: Runtime, per_transaction: int, passes: Passes) -> list[Timed]:
    """Each pass of the bill run in this process; returns (wall seconds, [figures], machine CPU) per pass."""
    out: list[Timed] = []
    settle_for_long_run()  # as the worker process does (billfold.main)
    for _, at in passes:
        cpu, machine = time.process_time(), machine_cpu()
        with RssSampler().running() as sampler:
            started = time.perf_counter()
            done, passes = bill_run(runtime, per_transaction, at)
            elapsed = time.perf_counter() - started
        figures = [RunFigures(done, passes, sampler.peak, time.process_time() - cpu)]
        out.append((elapsed, figures, machine_cpu() - machine))
    return out


def vacuum_analyze(runtime: Runtime) -> None:
    """PostgreSQL: what autovacuum does to a database that has been up for a month. Right after seeding, the
    first reader of each new row sets its hint bits (writing the page again) and the planner has no statistics;
    a clone of a freshly seeded database ran the bill run 2-3x slower at 2,000 subscriptions."""
    if runtime.engine.dialect.name != "postgresql":
        return
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=25_000)
    parser.add_argument("--database", default="sqlite", help="sqlite | postgres | a database URL")
    parser.add_argument("--seed", type=int, default=20261121, help="RNG seed for seat quantities")
    parser.add_argument(
        "--workers", type=int, default=1, help="bill-run worker processes (1 = in this process)"
    )
    parser.add_argument("--seed-processes", type=int, default=1, help="seeding processes (PostgreSQL)")
    parser.add_argument("--per-transaction", type=int, default=100, help="due items per transaction")
    stage = parser.add_mutually_exclusive_group()
    stage.add_argument("--seed-only", action="store_true")
    stage.add_argument("--run-only", action="store_true")
    parser.add_argument(
        "--on-time",
        action="store_true",
        help="the bill run proper as a worker that keeps up runs it: renewals, then drafts an hour later",
    )
    args = parser.parse_args(argv)
    passes = ON_TIME_PASSES if args.on_time else PASSES
    n = args.subscriptions

    with database(args.database) as url:
        clock = FixedClock(T0)
        runtime = build_runtime(url, clock=clock)
        scope = Scope(runtime.services.accounts.ensure_account(ACCOUNT), livemode=False, actor="benchmark")
        print(f"database: {runtime.engine.url.render_as_string(hide_password=True)}")
        print(f"subscriptions: {n}")
        print(
            f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
        )
        if not args.run_only:
            started = time.perf_counter()
            seed(runtime, url, scope, n, args.seed, args.seed_processes)
            seeded = time.perf_counter() - started
            print(
                f"seed time: {seeded:.1f} s ({n / seeded:.0f} subscriptions/s, {args.seed_processes} process(es))"
            )
            vacuum_analyze(runtime)
        if args.seed_only:
            return 0

        clock.t = RUN_AT
        print(f"load average before the bill run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        rss_before = rss_mib()
        if args.workers <= 1:
            timed = in_process(runtime, args.per_transaction, passes)
        else:
            runtime.engine.dispose()
            timed = bill_run_processes(url, args.workers, args.per_transaction, passes)
        rss_after = rss_mib()
        counts = invoice_counts(runtime, scope)
        made = sum(counts.values())
        print(f"load average after the bill run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for (name, _), (elapsed, figures, machine) in zip(passes, timed, strict=True):
            done = sum(f.done for f in figures)
            passes_each = ", ".join(str(f.passes) for f in figures)
            workers_cpu = sum(f.cpu for f in figures)
            print(f"{name}: {elapsed:.1f} s wall, {workers_cpu:.1f} s CPU (all workers),")
            print(
                f"    machine CPU {machine:.1f} s (the rest, {machine - workers_cpu:.1f} s: database server, other)"
            )
            print(f"    {done} due actions ({done / elapsed:.0f}/s, passes per worker: {passes_each}),")
            print(f"    {n / elapsed:.1f} subscriptions per second")
        elapsed = sum(t for t, _, _ in timed)
        done = sum(f.done for _, figures, _ in timed for f in figures)
        cpu = sum(f.cpu for _, figures, _ in timed for f in figures)
        if args.on_time:
            proper = timed[1:]
            proper_wall = sum(t for t, _, _ in proper)
            proper_cpu = sum(f.cpu for _, figures, _ in proper for f in figures)
            proper_machine = sum(m for _, _, m in proper)
            print(
                f"bill run proper, on time (renewals + drafts): {proper_wall:.1f} s wall, {proper_cpu:.1f} s CPU"
                f" (all workers), machine CPU {proper_machine:.1f} s, {n / proper_wall:.1f} subscriptions per second"
            )
        print(f"bill run wall time (all passes): {elapsed:.1f} s ({done} due actions)")
        print(f"bill run CPU time (user+system, all workers, all passes): {cpu:.1f} s")
        print(f"invoices per second (all passes): {made / elapsed:.1f} ({args.workers} worker process(es))")
        if args.workers <= 1:
            print(f"RSS before/after bill run: {rss_before:.0f} / {rss_after:.0f} MiB")
        peaks = [max(f[i].peak_rss for _, f, _ in timed) for i in range(len(timed[0][1]))]
        print(f"peak RSS during bill run (sampled, per worker): {', '.join(f'{p:.0f}' for p in peaks)} MiB")
        print(f"peak RSS of the process (ru_maxrss, incl. seeding): {peak_rss_mib():.0f} MiB")
        print(f"invoices made by the bill run: {made} by status {counts}")
        ok = made == n and counts.get("paid", 0) == n
        print(f"invoice count equals N ({n}) and all paid: {'yes' if ok else 'NO'}")
        runtime.engine.dispose()
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
