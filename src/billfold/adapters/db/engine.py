"""Engine construction for SQLite (the embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

# Execution option marking a connection that only reads (SQLite then takes no write lock up front).
READONLY = "billfold_readonly"

DEFAULT_DATA_DIR = Path(os.environ.get("BILLFOLD_DATA_DIR", "data"))


def default_database_url() -> str:
    return os.environ.get("BILLFOLD_DATABASE_URL") or f"sqlite:///{DEFAULT_DATA_DIR / 'billfold.sqlite3'}"


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def dumps_json(value: Any) -> str:
    """A document as stored JSON text. orjson is ~9x faster than the standard library on invoice documents
    (docs/benchmarks.md); anything it refuses (an integer beyond 64 bits) falls back to the standard library."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def dump_doc(value: Any) -> bytes:
    """A document as UTF-8 JSON bytes (what the store keeps in memory and ``codec.pack`` compresses)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(value).encode()


def loads_json(raw: str | bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = normalize_url(url or default_database_url())
    # Every JSON column (documents, audit data, settings) goes through the same codec as the store's own SQL.
    kwargs.setdefault("json_serializer", dumps_json)
    kwargs.setdefault("json_deserializer", loads_json)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        memory = path in ("", ":memory:")
        if not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    _configure_postgres(engine)
    return engine


def _configure_postgres(engine: Engine) -> None:
    # Documents of several KB (invoices, events) are TOAST-compressed by the server; lz4 costs it less CPU than the
    # default pglz (docs/benchmarks.md). A server built without lz4 keeps its default.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET default_toast_compression = 'lz4'")
            dbapi_conn.commit()
        except Exception:
            dbapi_conn.rollback()


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and never takes the write lock up front; two writers then
    # deadlock on lock upgrade. We emit BEGIN IMMEDIATE ourselves so writers queue on busy_timeout instead.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint the WAL every 64 MiB instead of every 4 MiB: a bill-run batch writes several MiB, and a
        # checkpoint (with its fsync) after nearly every commit cost ~30% of the run (docs/benchmarks.md).
        cur.execute("PRAGMA wal_autocheckpoint=16384")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Read-only work (the scheduler's due queries, key lookups) must not queue behind writers.
        readonly = conn.get_execution_options().get(READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
