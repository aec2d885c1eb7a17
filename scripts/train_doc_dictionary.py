"""Train the next zstd dictionary for stored documents (adapters/db/codec.py, ADR 0011) from the demo's documents.

It runs ``billfold demo --no-serve`` on a temporary SQLite file (the reference customer's catalog, customers on test
clocks through three months: subscriptions, schedules, invoices, credit notes, events, e-mails, ...), reads every
stored document back and trains a dictionary on them, written to
``src/billfold/adapters/db/dictionaries/docs-<next id>.zdict``. New writes use the newest dictionary; the older ones
must stay, since the documents written with them name them.

    .venv/bin/python scripts/train_doc_dictionary.py [--customers 300] [--size 32768]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import zstandard

from billfold.adapters.db import codec


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--size", type=int, default=32_768, help="dictionary size in bytes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="billfold-dict-") as d:
        path = Path(d) / "demo.sqlite3"
        env = {**os.environ, "BILLFOLD_DATABASE_URL": f"sqlite:///{path}", "BILLFOLD_DATA_DIR": d}
        subprocess.run(
            [sys.executable, "-m", "billfold.cli", "demo", "--no-serve", "--customers", str(args.customers)],
            check=True,
            env=env,
            cwd=d,
            stdout=subprocess.DEVNULL,
        )
        with sqlite3.connect(path) as conn:
            samples = [codec.unpack(row[0]) for row in conn.execute("SELECT doc FROM objects ORDER BY seq")]
    dict_id = (codec.dictionary_ids() or [0])[-1] + 1
    trained = zstandard.train_dictionary(args.size, samples, dict_id=dict_id, level=codec.LEVEL)
    out = codec.DICTIONARIES / f"docs-{dict_id}.zdict"
    out.write_bytes(trained.as_bytes())
    size = sum(map(len, samples))
    packed = sum(
        len(zstandard.ZstdCompressor(level=codec.LEVEL, dict_data=trained).compress(s)) for s in samples
    )
    print(f"{out}: {len(trained.as_bytes())} bytes from {len(samples)} documents ({size} bytes);")
    print(f"  the same documents compress to {packed} bytes with it ({size / packed:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
