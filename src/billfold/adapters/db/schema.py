"""Tables. Stripe-shaped objects live as JSON documents with their queryable fields promoted to columns.

See docs/adr/0004-storage.md: one ``objects`` table keyed by (account, mode, type) keeps the API generic; anything
money depends on being unique is a real constraint (API key hashes, idempotency keys, price lookup keys per mode).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

SeqInt = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created", BigInteger, nullable=False),
    Column("settings", JSON, nullable=False, default=dict),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False, index=True),
    Column("livemode", Boolean, nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("redacted", String(40), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

objects = Table(
    "objects",
    metadata,
    Column("seq", SeqInt, primary_key=True, autoincrement=True),
    Column("id", String(80), nullable=False),
    Column("account_id", String(40), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("type", String(60), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("customer", String(80)),
    Column("parent", String(80)),
    Column("lookup", String(300)),
    Column("active", Boolean),
    Column("status", String(60)),
    Column("currency", String(3)),
    Column("test_clock", String(80)),
    # When this object next needs the worker (a renewal, a draft to finalize, a trial end); NULL when never.
    Column("due_at", BigInteger),
    # The document, as codec.pack stores it: JSON compressed with zstd and a shipped dictionary (ADR 0011).
    Column("doc", LargeBinary, nullable=False),
    # Ids are unique per account, mode and type: a caller-chosen coupon id in one account says nothing of another's.
    UniqueConstraint("account_id", "livemode", "type", "id", name="uq_objects_scoped_id"),
    Index("ix_objects_scope_type_created", "account_id", "livemode", "type", "created", "seq"),
    # Only the rows that have a customer or a lookup (migration 0006): a query names the one it wants.
    Index(
        "ix_objects_customer",
        "account_id",
        "livemode",
        "customer",
        "type",
        sqlite_where=text("customer IS NOT NULL"),
        postgresql_where=text("customer IS NOT NULL"),
    ),
    Index("ix_objects_parent", "account_id", "livemode", "parent", "type"),
    Index(
        "ix_objects_lookup",
        "account_id",
        "livemode",
        "type",
        "lookup",
        sqlite_where=text("lookup IS NOT NULL"),
        postgresql_where=text("lookup IS NOT NULL"),
    ),
    # Due work in time order: the worker's, of objects on no test clock (type, due_at <= now, by due_at and seq)
    # and a test clock's (its objects of a type, due_at <= its time). Only objects that will be due are in them.
    Index(
        "ix_objects_due",
        "type",
        "due_at",
        "seq",
        sqlite_where=text("due_at IS NOT NULL AND test_clock IS NULL"),
        postgresql_where=text("due_at IS NOT NULL AND test_clock IS NULL"),
    ),
    Index(
        "ix_objects_clock_due",
        "test_clock",
        "type",
        "due_at",
        "seq",
        sqlite_where=text("due_at IS NOT NULL AND test_clock IS NOT NULL"),
        postgresql_where=text("due_at IS NOT NULL AND test_clock IS NOT NULL"),
    ),
    # A price lookup_key names at most one active price per account and mode (Stripe's rule).
    Index(
        "uq_objects_price_lookup_key",
        "account_id",
        "livemode",
        "lookup",
        unique=True,
        sqlite_where=text("type = 'price' AND lookup IS NOT NULL AND deleted = 0"),
        postgresql_where=text("type = 'price' AND lookup IS NOT NULL AND NOT deleted"),
    ),
    # A promotion code's customer-facing code is unique among active codes of an account and mode.
    Index(
        "uq_objects_promotion_code",
        "account_id",
        "livemode",
        "lookup",
        unique=True,
        sqlite_where=text("type = 'promotion_code' AND active = 1"),
        postgresql_where=text("type = 'promotion_code' AND active"),
    ),
    # An active meter's event name names one meter per account and mode: a meter event feeds exactly one meter.
    Index(
        "uq_objects_meter_event_name",
        "account_id",
        "livemode",
        "lookup",
        unique=True,
        sqlite_where=text("type = 'billing.meter' AND active = 1"),
        postgresql_where=text("type = 'billing.meter' AND active"),
    ),
    # A credit note number (the invoice number + "-CN-NN") names one credit note per account and mode.
    Index(
        "uq_objects_credit_note_number",
        "account_id",
        "livemode",
        "lookup",
        unique=True,
        sqlite_where=text("type = 'credit_note'"),
        postgresql_where=text("type = 'credit_note'"),
    ),
)

# Usage reported with ``POST /v1/billing/meter_events``: one row per event, aggregated per meter, customer and period
# when an invoice bills it. The identifier is unique per account and mode (Stripe: "within a rolling period of at least
# 24 hours"; Billfold: forever), so a retried report is never counted twice. A cancel adjustment sets ``canceled_at``.
meter_events = Table(
    "meter_events",
    metadata,
    Column("seq", SeqInt, primary_key=True, autoincrement=True),
    Column("account_id", String(40), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("identifier", String(100), nullable=False),
    Column("event_name", String(100), nullable=False),
    Column("customer", String(80), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("canceled_at", BigInteger),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("account_id", "livemode", "identifier", name="uq_meter_event_identifier"),
    Index("ix_meter_events_usage", "account_id", "livemode", "event_name", "customer", "timestamp"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", SeqInt, primary_key=True, autoincrement=True),
    Column("account_id", String(40), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("request_id", String(80)),
    Column("action", String(80), nullable=False),
    Column("object_type", String(60), nullable=False),
    Column("object_id", String(80), nullable=False),
    Column("data", JSON),
    Index("ix_audit_object", "account_id", "object_id"),
)

# One invoice per subscription and billing period: the bill run, a retry, a second worker or a crashed-and-restarted
# worker can never bill the same period twice, because this insert fails.
billing_periods = Table(
    "billing_periods",
    metadata,
    Column("account_id", String(40), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("subscription_id", String(80), nullable=False),
    Column("period_start", BigInteger, nullable=False),
    Column("invoice_id", String(80), nullable=False),
    UniqueConstraint("account_id", "livemode", "subscription_id", "period_start", name="uq_billing_period"),
)

# Gapless invoice numbers per account, mode and prefix: the counter row is locked while a number is taken, and the
# numbers themselves are unique.
invoice_sequences = Table(
    "invoice_sequences",
    metadata,
    Column("account_id", String(40), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("prefix", String(40), nullable=False),
    Column("next_number", BigInteger, nullable=False),
    UniqueConstraint("account_id", "livemode", "prefix", name="uq_invoice_sequence"),
)

invoice_numbers = Table(
    "invoice_numbers",
    metadata,
    Column("account_id", String(40), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("number", String(80), nullable=False),
    Column("invoice_id", String(80), nullable=False, unique=True),
    UniqueConstraint("account_id", "livemode", "number", name="uq_invoice_number"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(40), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("status_code", Integer),
    Column("body", LargeBinary),
    Column("request_id", String(80)),
    UniqueConstraint("account_id", "livemode", "key", name="uq_idempotency_key"),
    Index("ix_idempotency_created", "created"),
)
