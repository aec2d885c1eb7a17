"""The store's SQL statements, one set per dialect: fixed strings run on the transaction's DB-API cursor (the drivers
prepare and cache them; building and compiling SQLAlchemy Core statements per call cost more than the billing — see
docs/benchmarks.md). ``store.SqlStore`` runs them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, LargeBinary, String

from billfold.app.ports import INDEX_COLUMNS

from . import schema

PERIOD_COLUMNS = "account_id, livemode, subscription_id, period_start, invoice_id"
NUMBER_COLUMNS = "account_id, livemode, number, invoice_id"
COLUMNS = "id, account_id, livemode, type, created, deleted, " + ", ".join(INDEX_COLUMNS) + ", doc"
AUDIT_COLUMNS = "account_id, livemode, at, actor, request_id, action, object_type, object_id, data"
SET_INDEX = ", ".join(f"{c} = ?" for c in INDEX_COLUMNS)
SCOPE = "account_id = ? AND livemode = ? AND type = ?"


@cache
def copy_types(table: str, columns: str) -> tuple[str, ...]:
    """The PostgreSQL types of these columns of ``table`` (schema.py) as a binary ``COPY`` sends them. A JSON
    column is sent as text: ``json``'s binary form is its text."""
    kinds: tuple[tuple[type, str], ...] = (
        (Boolean, "bool"),
        (BigInteger, "int8"),
        (Integer, "int4"),
        (LargeBinary, "bytea"),
        (String, "text"),
        (JSON, "text"),
    )
    out = []
    for name in columns.split(", "):
        column_type = schema.metadata.tables[table].c[name].type
        out.append(next(pg for kind, pg in kinds if isinstance(column_type, kind)))
    return tuple(out)


class Sql:
    """The store's statements for one dialect: ``?`` placeholders (sqlite3) or ``%s`` (psycopg)."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        # ``objects.doc`` holds a document as codec.pack made it (bytes); audit data and payloads are JSON.
        doc = "?"
        json = "CAST(? AS json)" if postgres else "?"
        self.doc_col = "doc"
        values = ", ".join(["?"] * (6 + len(INDEX_COLUMNS))) + f", {doc}"
        self.insert_object = self.q(f"INSERT INTO objects ({COLUMNS}) VALUES ({values})")
        self.insert_object_new = self.insert_object + " ON CONFLICT DO NOTHING"
        self.update_object = self.q(f"UPDATE objects SET doc = {doc}, {SET_INDEX} WHERE {SCOPE} AND id = ?")
        # For a row not held: leave it alone when nothing changes (subscription items saved with their subscription).
        same = " AND ".join(
            [f"{self.doc_col} = ?"]
            + [f"{c} {'IS NOT DISTINCT FROM' if postgres else 'IS'} ?" for c in INDEX_COLUMNS]
        )
        self.update_changed = self.q(
            f"UPDATE objects SET doc = {doc}, {SET_INDEX} WHERE {SCOPE} AND id = ? AND NOT ({same})"
        )
        # What the unit of work holds of a row: deleted, the index columns, the document.
        self.held = f"deleted, {', '.join(INDEX_COLUMNS)}, {self.doc_col}"
        self.get = self.q(f"SELECT {self.held} FROM objects WHERE {SCOPE} AND id = ?")
        self.get_some = self.q(f"SELECT id, {self.held} FROM objects WHERE {SCOPE} AND id")
        self.get_locked = self.get + (" FOR UPDATE" if postgres else "")
        self.delete = self.q(
            f"UPDATE objects SET deleted = true, lookup = NULL, active = false WHERE {SCOPE} AND id = ?"
        )
        self.purge = self.q(f"DELETE FROM objects WHERE {SCOPE} AND id = ?")
        self.cursor_position = self.q(f"SELECT created, seq FROM objects WHERE {SCOPE} AND id = ?")
        self.insert_audit = self.q(
            f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, {json})"
        )
        self.claim_period = self.q(
            f"INSERT INTO billing_periods ({PERIOD_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        )
        # A worker batch's claims, written at commit: a period claimed twice fails the commit.
        self.insert_period = self.q(f"INSERT INTO billing_periods ({PERIOD_COLUMNS}) VALUES (?, ?, ?, ?, ?)")
        seq = "account_id = ? AND livemode = ? AND prefix = ?"
        # The UPDATE takes the counter's row lock until the commit: concurrent finalizations queue here.
        self.take_number = self.q(
            f"UPDATE invoice_sequences SET next_number = next_number + 1 WHERE {seq} RETURNING next_number"
        )
        # PostgreSQL: take the number and write its row in one statement (nothing when the counter does not
        # exist yet); the format is ``f"{prefix}-{number:04d}"``.
        self.take_number_into = self.q(
            f"WITH n AS (UPDATE invoice_sequences SET next_number = next_number + 1 WHERE {seq}"
            " RETURNING next_number - 1 AS number)"
            " INSERT INTO invoice_numbers (account_id, livemode, number, invoice_id)"
            " SELECT ?, ?, CAST(? AS text) || '-' ||"
            " CASE WHEN number < 10000 THEN lpad(CAST(number AS text), 4, '0') ELSE CAST(number AS text) END, ?"
            " FROM n RETURNING number"
        )
        # A worker batch's counters, read (and on PostgreSQL locked) at claim time and written back at commit.
        self.sequences = self.q(
            "SELECT prefix, next_number FROM invoice_sequences WHERE account_id = ? AND livemode = ? AND prefix"
        )
        self.set_sequence = self.q(f"UPDATE invoice_sequences SET next_number = ? WHERE {seq}")
        self.new_sequence = self.q(
            "INSERT INTO invoice_sequences (account_id, livemode, prefix, next_number) VALUES (?, ?, ?, 2)"
            " ON CONFLICT DO NOTHING"
        )
        self.insert_number = self.q(f"INSERT INTO invoice_numbers ({NUMBER_COLUMNS}) VALUES (?, ?, ?, ?)")
        self.account_settings = self.q(
            f"SELECT {'settings::text' if postgres else 'settings'} FROM accounts WHERE id = ?"
        )
        self.remember = self.q(
            "UPDATE idempotency_keys SET status_code = ?, body = ? WHERE account_id = ? AND livemode = ? AND key = ?"
        )
        self.insert_meter_event = self.q(
            "INSERT INTO meter_events (account_id, livemode, identifier, event_name, customer, timestamp, value,"
            f" created, canceled_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {json}) ON CONFLICT DO NOTHING"
        )
        payload = "payload::text" if postgres else "payload"
        self.get_meter_event = self.q(
            f"SELECT identifier, event_name, customer, timestamp, value, created, {payload}, canceled_at"
            " FROM meter_events WHERE account_id = ? AND livemode = ? AND identifier = ?"
        )
        self.cancel_meter_event = self.q(
            "UPDATE meter_events SET canceled_at = ? WHERE account_id = ? AND livemode = ? AND identifier = ?"
            " AND canceled_at IS NULL"
        )
        usage = (
            " FROM meter_events WHERE account_id = ? AND livemode = ? AND event_name = ? AND customer = ?"
            " AND timestamp >= ? AND timestamp < ? AND canceled_at IS NULL"
        )
        self.usage_sum = self.q("SELECT COALESCE(SUM(value), 0)" + usage)
        self.usage_count = self.q("SELECT COUNT(*)" + usage)
        self.usage_last = self.q("SELECT value" + usage + " ORDER BY timestamp DESC, seq DESC LIMIT 1")
        bucket = "(timestamp - ?) / ?"
        self.usage_sum_windows = self.q(f"SELECT {bucket}, SUM(value)" + usage + " GROUP BY 1 ORDER BY 1")
        self.usage_count_windows = self.q(f"SELECT {bucket}, COUNT(*)" + usage + " GROUP BY 1 ORDER BY 1")
        self.usage_rows = self.q("SELECT timestamp, value" + usage + " ORDER BY timestamp, seq")
        self.pending_items = self.q(
            "SELECT DISTINCT customer FROM objects WHERE account_id = ? AND livemode = ? AND type = 'invoiceitem'"
            " AND deleted = false AND status = 'pending' AND customer"
        )

        self._updates: dict[tuple[int, ...], str] = {}

    def update_columns(self, changed: tuple[int, ...]) -> str:
        """``UPDATE`` of the document and only the index columns (positions in INDEX_COLUMNS) that changed: SQLite
        rewrites the entries of every index on a column named in ``SET``, changed or not."""
        sql = self._updates.get(changed)
        if sql is None:
            sets = "".join(f", {INDEX_COLUMNS[i]} = ?" for i in changed)
            sql = self._updates[changed] = self.q(
                f"UPDATE objects SET doc = ?{sets} WHERE {SCOPE} AND id = ?"
            )
        return sql

    def q(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def among(self, n: int) -> str:
        """`` IN (?, ...)`` for ``n`` values on SQLite; ``= ANY(%s)`` with one array on PostgreSQL, so the statement's
        text does not depend on ``n`` and psycopg prepares it once (a list of 100 literals was parsed and planned
        on every call). Its parameters are ``values(...)``."""
        return " = ANY(%s)" if self.postgres else " IN (" + ", ".join(["?"] * n) + ")"

    def values(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The parameters of ``among(len(values))``."""
        return (list(values),) if self.postgres else tuple(values)


DIALECTS = {name: Sql(name == "postgresql") for name in ("postgresql", "sqlite")}
assert INDEX_COLUMNS == (
    "customer",
    "parent",
    "lookup",
    "active",
    "status",
    "currency",
    "test_clock",
    "due_at",
)
