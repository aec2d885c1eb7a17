"""due work indexes: by type and due instant for objects on no test clock, by test clock for the others

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _where(condition: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


_WALL_CLOCK = _where("due_at IS NOT NULL AND test_clock IS NULL")
_TEST_CLOCK = _where("due_at IS NOT NULL AND test_clock IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.drop_index("ix_objects_due")
        batch_op.create_index("ix_objects_due", ["type", "due_at", "seq"], unique=False, **_WALL_CLOCK)
        batch_op.create_index(
            "ix_objects_clock_due", ["test_clock", "type", "due_at", "seq"], unique=False, **_TEST_CLOCK
        )


def downgrade() -> None:
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.drop_index("ix_objects_clock_due", **_TEST_CLOCK)
        batch_op.drop_index("ix_objects_due", **_WALL_CLOCK)
        batch_op.create_index("ix_objects_due", ["due_at", "type"], unique=False)
