"""SQLAlchemy 2 tables, the unit of work and Alembic migrations (SQLite and PostgreSQL)."""
