"""credit note numbers are unique per account and mode

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.create_index(
            "uq_objects_credit_note_number",
            ["account_id", "livemode", "lookup"],
            unique=True,
            sqlite_where=sa.text("type = 'credit_note'"),
            postgresql_where=sa.text("type = 'credit_note'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_objects_credit_note_number",
            sqlite_where=sa.text("type = 'credit_note'"),
            postgresql_where=sa.text("type = 'credit_note'"),
        )
