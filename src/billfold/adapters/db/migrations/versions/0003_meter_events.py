"""meter events, and one active meter per event name

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ACTIVE_METER = {
    "sqlite_where": sa.text("type = 'billing.meter' AND active = 1"),
    "postgresql_where": sa.text("type = 'billing.meter' AND active"),
}


def upgrade() -> None:
    op.create_table(
        "meter_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("event_name", sa.String(length=100), nullable=False),
        sa.Column("customer", sa.String(length=80), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("canceled_at", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("account_id", "livemode", "identifier", name="uq_meter_event_identifier"),
    )
    with op.batch_alter_table("meter_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meter_events_usage", ["account_id", "livemode", "event_name", "customer", "timestamp"], unique=False
        )
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.create_index(
            "uq_objects_meter_event_name", ["account_id", "livemode", "lookup"], unique=True, **_ACTIVE_METER
        )


def downgrade() -> None:
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.drop_index("uq_objects_meter_event_name", **_ACTIVE_METER)
    with op.batch_alter_table("meter_events", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_events_usage")
    op.drop_table("meter_events")
