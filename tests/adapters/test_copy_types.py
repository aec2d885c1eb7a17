"""The binary ``COPY`` of buffered rows (adapters/db/store.py) sends each column in the binary form of its declared
type (``statements.copy_types``, derived from schema.py). A type that does not match the table's column would be
refused, or worse, read as another value: these tests compare them with the database's own catalogue."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from billfold.adapters.db.statements import AUDIT_COLUMNS, COLUMNS, NUMBER_COLUMNS, PERIOD_COLUMNS, copy_types
from billfold.main import Runtime
from tests.conftest import TEST_DB

BUFFERED = {
    "objects": COLUMNS,
    "audit_log": AUDIT_COLUMNS,
    "billing_periods": PERIOD_COLUMNS,
    "invoice_numbers": NUMBER_COLUMNS,
}
# A column type in PostgreSQL's catalogue -> the type whose binary form the COPY may send for it.
SENT_AS = {
    "character varying": "text",
    "text": "text",
    "json": "text",  # json's binary form is its text
    "boolean": "bool",
    "bigint": "int8",
    "integer": "int4",
    "bytea": "bytea",
}


def test_every_buffered_column_has_a_copy_type() -> None:
    for table, columns in BUFFERED.items():
        types = copy_types(table, columns)
        assert len(types) == len(columns.split(", ")), table
        assert set(types) <= set(SENT_AS.values()), table


@pytest.mark.skipif(TEST_DB != "postgres", reason="the binary COPY is PostgreSQL's")
def test_copy_types_match_the_migrated_tables(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        for table, columns in BUFFERED.items():
            declared = dict(
                conn.execute(
                    text(
                        "SELECT column_name, data_type FROM information_schema.columns"
                        " WHERE table_schema = current_schema() AND table_name = :t"
                    ),
                    {"t": table},
                ).all()
            )
            names = columns.split(", ")
            assert [SENT_AS[declared[n]] for n in names] == list(copy_types(table, columns)), table
