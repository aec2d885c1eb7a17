"""The Alembic migrations build exactly the schema the code declares (tables, columns, indexes, constraints)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from billfold.adapters.db import migrate
from billfold.adapters.db.schema import metadata


def test_migrations_match_the_declared_schema() -> None:
    with tempfile.TemporaryDirectory() as d:
        engine = create_engine(f"sqlite:///{Path(d) / 'm.sqlite3'}")
        migrate.upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        engine.dispose()
    assert diff == [], f"the migrations and schema.py differ: {diff}"


def test_upgrade_then_downgrade_to_base_and_back() -> None:
    with tempfile.TemporaryDirectory() as d:
        engine = create_engine(f"sqlite:///{Path(d) / 'm.sqlite3'}")
        migrate.upgrade(engine)
        head = migrate.current_revision(engine)
        command.downgrade(migrate.alembic_config(engine), "base")
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == head
        engine.dispose()
