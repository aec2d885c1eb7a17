"""Alembic environment: the engine is handed over by billfold.adapters.db.migrate."""

from alembic import context

from billfold.adapters.db.schema import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # running the alembic CLI directly
    from billfold.adapters.db.engine import make_engine

    engine = make_engine()

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
