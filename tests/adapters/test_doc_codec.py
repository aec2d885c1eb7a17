"""Stored documents are packed (zstd with a shipped dictionary, ADR 0011): every form ever stored reads back, the
rows are what the codec wrote, and migration 0005 keeps older JSON rows readable (and downgrading unpacks them)."""

from __future__ import annotations

import secrets
from pathlib import Path

import orjson
import pytest
import zstandard
from alembic import command
from sqlalchemy import create_engine, select, text

from billfold.adapters.clock import FixedClock
from billfold.adapters.db import codec, migrate
from billfold.adapters.db.schema import objects
from billfold.adapters.db.store import SqlUnitOfWork
from billfold.app.ports import Index, Scope
from billfold.main import Runtime

T0 = 1_700_000_000
INVOICE = {
    "id": "in_codec",
    "object": "invoice",
    "currency": "eur",
    "lines": {
        "object": "list",
        "data": [{"id": "il_1", "amount": 4761900, "description": "481 × Advanced seat"}],
    },
    "metadata": {"note": "Grüße — 20 % off"},
    "total": 4533328,
}


def test_a_document_packs_smaller_and_unpacks_to_the_same_json() -> None:
    raw = orjson.dumps(INVOICE)
    packed = codec.pack(raw)
    assert packed != raw and len(packed) < len(raw)
    assert codec.unpack(packed) == raw
    assert codec.unpack(memoryview(packed)) == raw
    assert codec.pack(raw) == packed, "packing is deterministic (a replace compares the packed bytes)"


def test_the_frame_names_the_newest_shipped_dictionary() -> None:
    current = codec.current_dictionary_id()
    assert current is not None and current == max(codec.dictionary_ids())
    assert zstandard.get_frame_parameters(codec.pack(b'{"object":"invoice"}')).dict_id == current


def test_plain_json_rows_read_as_they_are() -> None:
    raw = orjson.dumps(INVOICE)
    assert codec.unpack(raw) == raw
    assert codec.unpack(raw.decode()) == raw


def test_a_frame_without_a_dictionary_still_reads() -> None:
    raw = orjson.dumps(INVOICE)
    assert codec.unpack(zstandard.ZstdCompressor().compress(raw)) == raw


def test_a_frame_naming_an_unknown_dictionary_is_an_error_not_garbage() -> None:
    raw = orjson.dumps(INVOICE)
    foreign = zstandard.train_dictionary(
        4096, [raw + str(i).encode() * (i % 7) for i in range(400)], dict_id=999_999
    )
    frame = zstandard.ZstdCompressor(dict_data=foreign).compress(raw)
    with pytest.raises(LookupError, match="999999"):
        codec.unpack(frame)


def test_the_row_holds_the_packed_document(runtime: Runtime) -> None:
    scope = Scope(account_id="acct_" + secrets.token_hex(6), livemode=False, actor="test")
    uow = SqlUnitOfWork(runtime.engine, FixedClock(T0))
    with uow(scope) as store:
        store.insert({**INVOICE, "id": "in_" + secrets.token_hex(8)}, Index(status="draft"))
        store.record("invoice.created", INVOICE)
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(objects.c.type, objects.c.doc).where(objects.c.account_id == scope.account_id)
        )
        stored = {t: bytes(doc) for t, doc in rows}
    assert set(stored) == {"invoice", "event"}
    for doc in stored.values():
        assert doc[:4] == b"\x28\xb5\x2f\xfd", "a zstd frame"
    assert orjson.loads(codec.unpack(stored["invoice"]))["metadata"] == INVOICE["metadata"]
    assert orjson.loads(codec.unpack(stored["event"]))["data"]["object"] == INVOICE


def test_migration_0005_keeps_json_rows_readable_and_downgrade_unpacks(own_database: str) -> None:
    from billfold.adapters.db.engine import make_engine

    OLD = {**INVOICE, "id": "in_old"}
    engine = make_engine(own_database)
    try:
        migrate.upgrade(engine, "0004")
        postgres = engine.dialect.name == "postgresql"
        insert = (
            "INSERT INTO objects (id, account_id, livemode, type, created, deleted, doc)"
            f" VALUES ('in_old', 'acct_m', false, 'invoice', {T0}, false, {'CAST(:doc AS json)' if postgres else ':doc'})"
        )
        with engine.begin() as conn:
            conn.execute(text(insert), {"doc": orjson.dumps(OLD).decode()})
        migrate.upgrade(engine)
        scope = Scope(account_id="acct_m", livemode=False, actor="test")
        with SqlUnitOfWork(engine, FixedClock(T0))(scope) as store:
            assert store.get("invoice", "in_old") == OLD
            store.replace({**OLD, "total": 1}, Index(status="open"))
        with SqlUnitOfWork(engine, FixedClock(T0))(scope) as store:
            assert store.get("invoice", "in_old") == {**OLD, "total": 1}
        with engine.connect() as conn:
            assert (
                bytes(conn.execute(text("SELECT doc FROM objects")).scalar_one())[:4] == b"\x28\xb5\x2f\xfd"
            )

        command.downgrade(migrate.alembic_config(engine), "0004")
        column = "doc::text" if postgres else "doc"
        with engine.connect() as conn:
            assert (
                orjson.loads(conn.execute(text(f"SELECT {column} FROM objects")).scalar_one())["total"] == 1
            )
    finally:
        engine.dispose()


def test_plain_engine_sees_the_declared_binary_column(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            types = {row[1]: row[2] for row in conn.execute(text("PRAGMA table_info(objects)"))}
        assert types["doc"] == "BLOB"
    finally:
        engine.dispose()
