"""the customer and lookup indexes hold only the rows that have one

Most rows have no lookup (only prices, promotion codes, meters, credit notes and invoices do) and many no customer
(events, the catalog): an index entry for them answers no query, since a query names the customer or lookup it
wants. A renewal writes four events: two index entries fewer for each (docs/benchmarks.md).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _where(condition: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


_INDEXES = (
    ("ix_objects_customer", ["account_id", "livemode", "customer", "type"], "customer IS NOT NULL"),
    ("ix_objects_lookup", ["account_id", "livemode", "type", "lookup"], "lookup IS NOT NULL"),
)


def upgrade() -> None:
    with op.batch_alter_table("objects", schema=None) as batch_op:
        for name, columns, condition in _INDEXES:
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False, **_where(condition))


def downgrade() -> None:
    with op.batch_alter_table("objects", schema=None) as batch_op:
        for name, columns, condition in _INDEXES:
            batch_op.drop_index(name, **_where(condition))
            batch_op.create_index(name, columns, unique=False)
