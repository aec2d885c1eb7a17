"""Profile the bill run under cProfile on a SQLite file seeded by ``bill_run --seed-only`` (a copy is used, so the
seeded file can be profiled again), or on a PostgreSQL database given by URL (used as is: clone it first). Prints the
statements the store ran, by kind, with the time spent in the driver for each kind, and the top functions by
cumulative and by own time. cProfile slows this Python-heavy code 2-3x: read the shares, not the seconds.

    python -m benchmarks.bill_run --subscriptions 2000 --database sqlite:////tmp/b/s2k.sqlite3 --seed-only
    python -m benchmarks.profile_bill_run /tmp/b/s2k.sqlite3 [rows]
    python -m benchmarks.profile_bill_run postgresql://postgres@127.0.0.1:PORT/run [rows]
"""

from __future__ import annotations

import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.bill_run import RUN_AT, bill_run
from billfold.adapters.clock import FixedClock
from billfold.adapters.db import store as sql_store
from billfold.main import build_runtime

STATEMENTS: Counter[str] = Counter()
SECONDS: defaultdict[str, float] = defaultdict(float)


class CountingCursor:
    """The store's DB-API cursor, counting statements by their first words and timing them (in the driver)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @staticmethod
    def _kind(sql: str) -> str:
        words = sql.split()
        kind = " ".join(words[:3]) if words[0] in ("INSERT", "UPDATE", "DELETE") else " ".join(words[:1])
        if words[0] == "SELECT":
            kind = "SELECT " + sql.split(" WHERE ")[1][:60]
        return kind

    def execute(self, sql: str, params: Any = ()) -> Any:
        kind = self._kind(sql)
        STATEMENTS[kind] += 1
        started = time.perf_counter()
        try:
            return self._cursor.execute(sql, params)
        finally:
            SECONDS[kind] += time.perf_counter() - started

    def executemany(self, sql: str, rows: Any) -> Any:
        rows = list(rows)
        kind = self._kind(sql) + " (executemany)"
        STATEMENTS[kind] += 1
        STATEMENTS["rows written by executemany"] += len(rows)
        started = time.perf_counter()
        try:
            return self._cursor.executemany(sql, rows)
        finally:
            SECONDS[kind] += time.perf_counter() - started

    @contextmanager
    def copy(self, sql: str) -> Iterator[Any]:
        kind = " ".join(sql.split()[:2]) + " (COPY)"
        STATEMENTS[kind] += 1
        started = time.perf_counter()
        try:
            with self._cursor.copy(sql) as copy:
                yield CountingCopy(copy)
        finally:
            SECONDS[kind] += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class CountingCopy:
    def __init__(self, copy: Any) -> None:
        self._copy = copy

    def write_row(self, row: Any) -> None:
        STATEMENTS["rows written by COPY"] += 1
        self._copy.write_row(row)


def profile(url: str, limit: int) -> None:
    runtime = build_runtime(url, clock=FixedClock(RUN_AT))
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    done, passes = bill_run(runtime)
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"{done} due actions in {passes} passes, {elapsed:.1f} s under the profiler")
    print(f"statements run by the store: {sum(v for k, v in STATEMENTS.items() if not k.startswith('rows'))}")
    print("     count  seconds  kind")
    for kind, count in STATEMENTS.most_common():
        print(f"  {count:8d}  {SECONDS[kind]:7.2f}  {kind}")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    runtime.engine.dispose()


def main(argv: list[str]) -> int:
    source = argv[0]
    limit = int(argv[1]) if len(argv) > 1 else 40
    original_init = sql_store.SqlStore.__init__

    def counting_init(self: sql_store.SqlStore, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._cur = CountingCursor(self._cur)

    sql_store.SqlStore.__init__ = counting_init  # type: ignore[method-assign]
    if source.startswith("postgres"):
        profile(source, limit)
        return 0
    with tempfile.TemporaryDirectory(prefix="billfold-prof-") as d:
        db = Path(d) / "p.sqlite3"
        shutil.copy(source, db)
        profile(f"sqlite:///{db}", limit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
