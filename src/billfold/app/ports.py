"""The ports use cases need: a clock, and a unit of work over the object store.

Adapters implement these (``billfold.adapters``); tests may substitute fakes. Every use case runs inside one
unit of work, so its domain rows, its ``evt_`` event and its audit row commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

Doc = dict[str, Any]


class Clock(Protocol):
    def now(self) -> int:
        """Current time as Unix seconds."""
        ...


@dataclass(frozen=True)
class Scope:
    """Who acts, on which account and mode. Every object belongs to exactly one account and one mode."""

    account_id: str
    livemode: bool
    actor: str = "system"
    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Index:
    """The promoted (queryable, constrained) columns of a stored object; the document holds the rest."""

    customer: str | None = None
    parent: str | None = None
    lookup: str | None = None
    active: bool | None = None
    status: str | None = None
    currency: str | None = None
    test_clock: str | None = None
    due_at: int | None = None


INDEX_COLUMNS = ("customer", "parent", "lookup", "active", "status", "currency", "test_clock", "due_at")


@dataclass(frozen=True)
class ListQuery:
    """A page request: equality filters on index columns (a tuple value means IN), a ``created`` range, cursors."""

    filters: Mapping[str, Any] = field(default_factory=dict)
    created: Mapping[str, int] = field(default_factory=dict)
    ids: Sequence[str] | None = None
    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None


@dataclass(frozen=True)
class Page:
    data: list[Doc]
    has_more: bool


@dataclass(frozen=True)
class MeterEvent:
    """A usage report (``billing.meter_event``) as stored: the value already read from its payload."""

    identifier: str
    event_name: str
    customer: str
    timestamp: int
    value: int
    created: int
    payload: Doc
    canceled_at: int | None = None


class Store(Protocol):
    """Objects of one account and mode. An id of another account or mode is simply not found."""

    scope: Scope

    def get(self, object_type: str, object_id: str, *, for_update: bool = False) -> Doc | None: ...

    def get_many(self, object_type: str, object_ids: Sequence[str]) -> dict[str, Doc]: ...

    def view(self, object_type: str, object_id: str) -> Doc | None:
        """The document like ``get``, for reading only: the same dict may be given to every caller until the object
        is written, so a caller must never change it (``get`` gives a copy of one's own)."""
        ...

    def insert(self, doc: Doc, index: Index, *, created: int | None = None, event: str | None = None) -> None:
        """Store a new object; with ``event``, also ``record`` it (the document is encoded once for both)."""
        ...

    def replace(
        self, doc: Doc, index: Index, *, event: str | None = None, previous_attributes: Doc | None = None
    ) -> None:
        """Store the object's new state; with ``event``, also ``record`` it (the document is encoded once for
        both: a renewal's invoice is stored three times and carried by three events)."""
        ...

    def delete(self, object_type: str, object_id: str) -> None: ...

    def list(self, object_type: str, query: ListQuery) -> Page: ...

    def iterate(self, object_type: str, filters: Mapping[str, Any]) -> Iterator[Doc]: ...

    def record(self, event_type: str, obj: Doc, *, previous_attributes: Doc | None = None) -> Doc:
        """Write the ``evt_`` event for a state change and its audit row, in this transaction."""
        ...

    def audit(self, action: str, object_type: str, object_id: str, data: Doc | None = None) -> None: ...

    def claim_period(self, subscription_id: str, period_start: int, invoice_id: str) -> bool:
        """Record that ``invoice_id`` bills this subscription period; False if another invoice already does."""
        ...

    def next_invoice_number(self, prefix: str, invoice_id: str) -> str:
        """The next gapless number for the prefix (``PREFIX-0001``), reserved in this transaction."""
        ...

    def due(
        self, object_type: str, until: int, *, test_clock: str | None, limit: int | None = None
    ) -> Sequence[tuple[int, Doc]]:
        """``(due_at, doc)`` of objects of this type whose ``due_at`` is at or before ``until``, earliest first,
        for one test clock (or, with None, those on no test clock)."""
        ...

    def remember_response(self, idempotency_key: str, response: StoredResponse) -> None:
        """Store the response for an idempotency key in this transaction, so it commits with the change."""
        ...

    def setting(self, name: str) -> Any:
        """A setting of this scope's account (``app.account_settings``), or None when it is not set."""
        ...

    def add_meter_event(self, event: MeterEvent) -> bool:
        """Store a meter event; False (nothing written) when its identifier is already taken in this scope."""
        ...

    def get_meter_event(self, identifier: str) -> MeterEvent | None: ...

    def cancel_meter_event(self, identifier: str, at: int) -> bool:
        """Mark the event canceled (it stops counting); False when it does not exist or is already canceled."""
        ...

    def meter_usage(
        self, event_name: str, customer: str, start: int, end: int, formula: str, window: int | None = None
    ) -> Sequence[tuple[int, int]]:
        """Usage of a customer's uncanceled events with ``start <= timestamp < end``, aggregated by ``formula``
        (``sum``, ``count`` or ``last``): ``[(start, value)]`` for the whole range (value 0 without events), or,
        with ``window`` seconds, one ``(window_start, value)`` per window from ``start`` that has events."""
        ...


class UnitOfWork(Protocol):
    def __call__(self, scope: Scope) -> AbstractContextManager[Store]: ...


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    account_id: str
    livemode: bool


class Accounts(Protocol):
    """Tenants and their API keys. Keys are stored hashed; the secret is shown once, at creation."""

    def ensure_account(self, name: str) -> str: ...

    def create_key(self, account_id: str, livemode: bool) -> str: ...

    def resolve_key(self, secret: str) -> KeyInfo | None: ...

    def account_setting(self, account_id: str, name: str) -> Any: ...

    def set_account_setting(self, account_id: str, name: str, value: Any) -> None: ...


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes


class IdempotencyKeys(Protocol):
    """The first response for an ``Idempotency-Key`` (per account and mode), replayed for retries."""

    def claim(self, scope: Scope, key: str, request_hash: str) -> StoredResponse | None:
        """Claim the key for this request, or return the stored response of an earlier identical one.

        Raises IdempotencyConflict when the key was used with other parameters, IdempotencyInProgress while
        another request holds it.
        """
        ...

    def complete(self, scope: Scope, key: str, response: StoredResponse) -> None: ...

    def release(self, scope: Scope, key: str) -> None: ...


@dataclass(frozen=True)
class DueItem:
    """A unit of due background work found across accounts: which account/mode and which object."""

    account_id: str
    livemode: bool
    object_id: str


class Scheduler(Protocol):
    """Finds due work across all accounts (the worker's view; use cases stay scoped to one account)."""

    def advancing_clocks(self) -> list[DueItem]: ...

    def due_subscriptions(self, until: int, limit: int) -> list[DueItem]:
        """Subscriptions and invoices on no test clock whose next action is due, across accounts."""
        ...

    def due_emails(self, until: int, limit: int) -> list[DueItem]:
        """E-mails (``billfold.email``) waiting for a delivery attempt by ``until`` (wall time), oldest first."""
        ...


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    charge_id: str | None = None
    decline_code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class RefundResult:
    succeeded: bool
    refund_id: str | None = None
    message: str | None = None


class PaymentProcessor(Protocol):
    """Collects money for an invoice. The simulated processor understands Stripe's test payment methods."""

    def charge(
        self, *, payment_method: str, amount: int, currency: str, customer: str, idempotency_key: str
    ) -> ChargeResult: ...

    def refund(self, *, charge_id: str, amount: int, currency: str, idempotency_key: str) -> RefundResult:
        """Return ``amount`` of an earlier successful charge to the customer."""
        ...


@dataclass(frozen=True)
class EmailMessage:
    """One message for the mail server. ``message_id`` stays the same on every attempt, so a receiver can tell a
    second copy (delivery is at least once: a crash after the server took a message sends it again)."""

    message_id: str
    to: tuple[str, ...]
    subject: str
    text: str


class MailError(Exception):
    """The message was not delivered. ``permanent``: trying again cannot help (the server refused the recipient, or
    no mail server is configured); otherwise a later attempt may succeed."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(Protocol):
    """Hands messages to a mail server (adapters/email). Raises MailError when a message is not accepted."""

    def send(self, message: EmailMessage) -> None: ...
