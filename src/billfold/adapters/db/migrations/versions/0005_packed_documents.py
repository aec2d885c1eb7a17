"""documents stored packed: objects.doc becomes binary (zstd-compressed JSON, ADR 0011)

Rows written before keep their JSON bytes (the codec reads both forms); they are packed when next rewritten.
Downgrading unpacks every row back to JSON.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE objects ALTER COLUMN doc TYPE bytea USING convert_to(doc::text, 'UTF8')")
        return
    # SQLite keeps a value's own type whatever the column says: only the declared type changes (a table rebuild).
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.alter_column("doc", existing_type=sa.JSON(), type_=sa.LargeBinary(), existing_nullable=False)


def downgrade() -> None:
    from billfold.adapters.db.codec import unpack

    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    last = 0
    while True:
        rows = bind.execute(
            sa.text("SELECT seq, doc FROM objects WHERE seq > :last ORDER BY seq LIMIT :n"),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            break
        for seq, doc in rows:
            text = unpack(doc).decode()
            value = text.encode() if postgres else text
            bind.execute(sa.text("UPDATE objects SET doc = :doc WHERE seq = :seq"), {"doc": value, "seq": seq})
        last = rows[-1][0]
    if postgres:
        op.execute("ALTER TABLE objects ALTER COLUMN doc TYPE json USING convert_from(doc, 'UTF8')::json")
        return
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.alter_column("doc", existing_type=sa.LargeBinary(), type_=sa.JSON(), existing_nullable=False)
