"""Profile the bill run under cProfile on a SQLite file seeded by ``bill_run --seed-only`` (a copy is used, so the
seeded file can be profiled again). Prints the statements the store ran, by kind, and the top functions by cumulative
and by own time. cProfile slows this Python-heavy code 2-3x: read the shares, not the seconds.

    python -m benchmarks.bill_run --subscriptions 2000 --database sqlite:////tmp/b/s2k.sqlite3 --seed-only
    python -m benchmarks.profile_bill_run /tmp/b/s2k.sqlite3 [rows]
"""

from __future__ import annotations

import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.bill_run import RUN_AT, bill_run
from billfold.adapters.clock import FixedClock
from billfold.adapters.db import store as sql_store
from billfold.main import build_runtime

STATEMENTS: Counter[str] = Counter()


class CountingCursor:
    """The store's DB-API cursor, counting statements by their first words."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def _count(self, sql: str, n: int) -> None:
        words = sql.split()
        kind = " ".join(words[:3]) if words[0] in ("INSERT", "UPDATE", "DELETE") else " ".join(words[:1])
        if words[0] == "SELECT":
            kind = "SELECT " + sql.split(" WHERE ")[1][:60]
        STATEMENTS[kind] += n

    def execute(self, sql: str, params: Any = ()) -> Any:
        self._count(sql, 1)
        return self._cursor.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> Any:
        rows = list(rows)
        self._count(sql + " (executemany)", 1)
        STATEMENTS["rows written by executemany"] += len(rows)
        return self._cursor.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def main(argv: list[str]) -> int:
    source = Path(argv[0])
    limit = int(argv[1]) if len(argv) > 1 else 40
    original_init = sql_store.SqlStore.__init__

    def counting_init(self: sql_store.SqlStore, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._cur = CountingCursor(self._cur)

    sql_store.SqlStore.__init__ = counting_init  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="billfold-prof-") as d:
        db = Path(d) / "p.sqlite3"
        shutil.copy(source, db)
        runtime = build_runtime(f"sqlite:///{db}", clock=FixedClock(RUN_AT))
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        done, passes = bill_run(runtime)
        profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"{done} due actions in {passes} passes, {elapsed:.1f} s under the profiler")
        print(
            f"statements run by the store: {sum(v for k, v in STATEMENTS.items() if not k.startswith('rows'))}"
        )
        for kind, count in STATEMENTS.most_common():
            print(f"  {count:8d}  {kind}")
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(limit)
        stats.sort_stats("tottime").print_stats(limit)
        runtime.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
