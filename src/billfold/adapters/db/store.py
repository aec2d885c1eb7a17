"""The unit of work over the database: one transaction, one account and mode, documents in and out.

Every query is filtered by the scope's account and mode, so an id that belongs elsewhere is indistinguishable from
an id that does not exist (a 404 for the caller).

Why it is written the way it is (docs/benchmarks.md has the measurements): building, cache-keying and compiling
each statement through SQLAlchemy Core cost more than the billing itself, and on PostgreSQL every statement is a
round trip. So the statements here are fixed SQL strings run on the transaction's DB-API cursor (the drivers
prepare and cache them), and the unit of work keeps what it has read and written:

- an identity map: a document read or written once in this transaction is served from memory afterwards, decoded
  from its stored JSON each time, so callers never share (alias) a document;
- write-behind for replaces of documents it already holds, and for inserts of objects whose ids are always
  generated (they cannot conflict): the row is written once, just before anything could observe it (a query on
  that type, a savepoint, the commit), with only the index columns that changed (SQLite rewrites the entries of
  every index on a column named in ``SET``);
- events and audit rows buffered and written before the commit, in the same transaction (binary ``COPY`` on
  PostgreSQL, results read in binary form too);
- no savepoint around inserts: ``INSERT ... ON CONFLICT DO NOTHING``, and only a conflict pays for the savepoint
  that turns it into the caller's error.

The worker's batches use ``claim`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; it also reads ahead, in one query
each for the batch, what the due actions read) and ``savepoint`` (one per due item when a batch is rerun after a
failure, so a failing item rolls back alone).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from billfold.app.errors import InvalidRequest, ResourceMissing
from billfold.app.ports import (
    INDEX_COLUMNS,
    Clock,
    Doc,
    Index,
    ListQuery,
    MeterEvent,
    Page,
    Scope,
    StoredResponse,
)
from billfold.ids import new_id
from billfold.version import API_VERSION

from .codec import pack, unpack
from .engine import dump_doc, dumps_json, loads_json
from .statements import AUDIT_COLUMNS, COLUMNS, DIALECTS, NUMBER_COLUMNS, PERIOD_COLUMNS, SCOPE, copy_types

# Object types with a unique constraint on a promoted column (schema.py: price lookup keys, active promotion
# codes): their writes must fail at the call that makes them, so they are never deferred.
_CONSTRAINED_TYPES = frozenset({"price", "promotion_code", "billing.meter"})
# Types whose ids the store's callers always draw with ``ids.new_id`` (never chosen by an API caller): their inserts
# cannot conflict, so they are deferred like replaces.
_GENERATED_IDS = frozenset({"invoice", "invoiceitem", "subscription", "subscription_item", "discount"})
# Children (``parent`` = the subscription) that a subscription's due actions read or save with it (its items are in
# its document: app/subscriptions.py, ``insert_item_row``).
_CLAIMED_CHILDREN = ("discount",)
_FETCH = 500  # rows per fetch when iterating
# Past this many held documents, the clean ones are forgotten (a clock advance over thousands of customers runs in
# one unit of work); they are read again if needed.
_HOLD_AT_MOST = 20_000


class _Entry:
    """One object held by the unit of work: its latest JSON (None for a tombstone) and index values, the index
    values in the row (``stored``), whether they are not written yet (``dirty``), and whether this transaction holds
    the row's lock; ``created`` while it is an insert not written yet."""

    __slots__ = ("created", "dirty", "index", "locked", "raw", "stored")

    def __init__(self, raw: bytes | None, index: tuple[Any, ...], *, locked: bool) -> None:
        self.raw, self.index, self.stored, self.locked, self.dirty = raw, index, index, locked, False
        self.created: int | None = None  # set while the row is an insert not written yet

    @classmethod
    def of_row(cls, row: Sequence[Any], *, locked: bool) -> _Entry:
        """From ``deleted, <index columns>, doc`` (``statements.Sql.held``)."""
        return cls(None if row[0] else unpack(row[-1]), tuple(row[1:-1]), locked=locked)


def _index_values(i: Index) -> tuple[Any, ...]:
    """The promoted columns in INDEX_COLUMNS order."""
    return (i.customer, i.parent, i.lookup, i.active, i.status, i.currency, i.test_clock, i.due_at)


class SqlStore:
    def __init__(self, conn: Connection, scope: Scope, clock: Clock) -> None:
        self.conn = conn
        self.scope = scope
        self.clock = clock
        self.sql = DIALECTS[conn.dialect.name]
        self._dbapi: Any = conn.dialect.loaded_dbapi
        self._cur: Any = self._cursor()
        self._key = (scope.account_id, scope.livemode)
        self._objects: dict[tuple[str, str], _Entry] = {}
        self._dirty: dict[tuple[str, str], _Entry] = {}
        self._events: list[tuple[Any, ...]] = []
        self._audit: list[tuple[Any, ...]] = []
        self._settings: Doc | None = None
        # Documents decoded for ``view``, with the raw bytes they were decoded from (identity marks the version).
        self._views: dict[tuple[str, str], tuple[bytes, Doc]] = {}
        # Customers known to have no pending invoice item in this transaction (``claim``); forgotten on any write
        # of an invoice item.
        self._no_pending_items: set[str] = set()
        # A worker's batch without savepoints (``claim(..., optimistic=True)``): period claims, invoice numbers and
        # the counters they come from are kept here and written with the deferred writes at commit. The counters
        # are read (and locked) at claim time; a period already claimed fails the commit instead of returning
        # False, and the worker runs the batch again one item at a time, where claims are checked at once.
        self._optimistic = False
        self._periods: list[tuple[Any, ...]] = []
        self._sequences: dict[str, int] = {}  # prefix -> its next number, held locked
        self._sequences_taken: set[str] = set()
        self._numbers: list[tuple[Any, ...]] = []

    def _cursor(self) -> Any:
        """A DB-API cursor on the transaction's connection. On PostgreSQL its results come in binary form: a packed
        document arrives as its bytes instead of hex text for the server to write and the client to parse."""
        dbapi_connection: Any = self.conn.connection.dbapi_connection
        return dbapi_connection.cursor(binary=True) if self.sql.postgres else dbapi_connection.cursor()

    # -- reads ------------------------------------------------------------------------------------------------
    def get(self, object_type: str, object_id: str, *, for_update: bool = False) -> Doc | None:
        key = (object_type, object_id)
        entry = self._objects.get(key)
        if entry is not None and for_update and not entry.locked and self.sql.postgres:
            if entry.dirty:
                self._flush_objects([key])  # our UPDATE takes the row lock
            else:
                entry = None  # re-read under the lock: another transaction may have changed it since
        if entry is None:
            if object_type == "event":
                self._flush_events()
            self._cur.execute(self.sql.get_locked if for_update else self.sql.get, (*self._key, *key))
            row = self._cur.fetchone()
            if row is None:
                return None
            entry = _Entry.of_row(row, locked=for_update or not self.sql.postgres)
            self._hold(key, entry)
        if entry.raw is None:
            return {"id": object_id, "object": object_type, "deleted": True}
        doc: Doc = loads_json(entry.raw)
        return doc

    def view(self, object_type: str, object_id: str) -> Doc | None:
        """A read-only document, decoded once per version held: each call of ``get`` decodes a fresh copy (9 µs for
        an invoice), while a worker's batch reads the same coupon, product and customer for every subscription."""
        key = (object_type, object_id)
        entry = self._objects.get(key)
        if entry is None or entry.raw is None:
            found = self.get(object_type, object_id)  # read and held now (or missing, or deleted)
            entry = self._objects.get(key)
            if found is None or entry is None or entry.raw is None:
                return found
        else:
            cached = self._views.get(key)
            # The version decoded before? (A write holds new raw bytes.)
            if cached is not None and cached[0] is entry.raw:
                return cached[1]
            found = loads_json(entry.raw)
        if len(self._views) >= _HOLD_AT_MOST:
            self._views.clear()
        self._views[key] = (entry.raw, found)
        return found

    def get_many(self, object_type: str, object_ids: Sequence[str]) -> dict[str, Doc]:
        found: dict[str, Doc] = {}
        missing = []
        for object_id in object_ids:
            entry = self._objects.get((object_type, object_id))
            if entry is None:
                missing.append(object_id)
            elif entry.raw is not None:
                found[object_id] = loads_json(entry.raw)
        if missing:
            if object_type == "event":
                self._flush_events()
            ids = list(dict.fromkeys(missing))
            self._cur.execute(
                self.sql.get_some + self.sql.among(len(ids)), (*self._key, object_type, *self.sql.values(ids))
            )
            for row in self._cur.fetchall():
                entry = _Entry.of_row(row[1:], locked=not self.sql.postgres)
                self._hold((object_type, row[0]), entry)
                if entry.raw is not None:
                    found[row[0]] = loads_json(entry.raw)
        return found

    def _select(
        self, object_type: str, filters: Mapping[str, Any]
    ) -> tuple[builtins.list[str], builtins.list[Any]]:
        """WHERE conditions (and their parameters) for the live objects of a type matching index filters."""
        self._flush_type(object_type)
        conds, params = [self.sql.q(SCOPE), "deleted = false"], [*self._key, object_type]
        for name, value in filters.items():
            if name not in INDEX_COLUMNS:
                raise ValueError(f"not an index column: {name}")
            if isinstance(value, tuple | list):
                conds.append(name + self.sql.among(len(value)) if value else "1 = 0")
                params.extend(self.sql.values(value) if value else ())
            elif value is None:
                conds.append(f"{name} IS NULL")
            else:
                conds.append(self.sql.q(f"{name} = ?"))
                params.append(value)
        return conds, params

    def list(self, object_type: str, query: ListQuery) -> Page:
        conds, params = self._select(object_type, query.filters)
        if query.ids is not None:
            conds.append("id" + self.sql.among(len(query.ids)) if query.ids else "1 = 0")
            params.extend(self.sql.values(query.ids) if query.ids else ())
        ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        for op, value in query.created.items():
            conds.append(self.sql.q(f"created {ops[op]} ?"))
            params.append(value)
        reverse = False
        cursor_id = query.starting_after or query.ending_before
        if cursor_id:
            self._cur.execute(self.sql.cursor_position, (*self._key, object_type, cursor_id))
            position = self._cur.fetchone()
            if position is None:
                param = "starting_after" if query.starting_after else "ending_before"
                raise ResourceMissing(object_type, cursor_id, param=param)
            cmp = "<" if query.starting_after else ">"
            reverse = not query.starting_after
            conds.append(self.sql.q(f"(created {cmp} ? OR (created = ? AND seq {cmp} ?))"))
            params.extend((position[0], position[0], position[1]))
        order = "created, seq" if reverse else "created DESC, seq DESC"
        sql = f"SELECT {self.sql.doc_col} FROM objects WHERE {' AND '.join(conds)} ORDER BY {order} LIMIT "
        self._cur.execute(sql + self.sql.q("?"), (*params, query.limit + 1))
        rows = self._cur.fetchall()
        docs = [loads_json(unpack(r[0])) for r in rows[: query.limit]]
        if reverse:
            docs.reverse()
        return Page(docs, len(rows) > query.limit)

    def iterate(self, object_type: str, filters: Mapping[str, Any]) -> Iterator[Doc]:
        if self._known_empty(object_type, filters):
            return
        conds, params = self._select(object_type, filters)
        # A cursor of its own: the caller may use the store between the documents it is given.
        cur = self._cursor()
        try:
            cur.execute(
                f"SELECT {self.sql.doc_col} FROM objects WHERE {' AND '.join(conds)}"
                " ORDER BY created DESC, seq DESC",
                params,
            )
            while rows := cur.fetchmany(_FETCH):
                for row in rows:
                    yield loads_json(unpack(row[0]))
        finally:
            cur.close()

    def due(
        self, object_type: str, until: int, *, test_clock: str | None, limit: int | None = None
    ) -> Sequence[tuple[int, Doc]]:
        conds, params = self._select(object_type, {"test_clock": test_clock})
        conds.append(self.sql.q("due_at IS NOT NULL AND due_at <= ?"))
        params.append(until)
        sql = (
            f"SELECT due_at, {self.sql.doc_col} FROM objects WHERE {' AND '.join(conds)} ORDER BY due_at, seq"
        )
        if limit is not None:
            sql += self.sql.q(" LIMIT ?")
            params.append(limit)
        self._cur.execute(sql, params)
        return [(int(at), loads_json(unpack(raw))) for at, raw in self._cur.fetchall()]

    # -- writes -----------------------------------------------------------------------------------------------
    def insert(self, doc: Doc, index: Index, *, created: int | None = None, event: str | None = None) -> None:
        self._written(doc["object"])
        raw = dump_doc(doc)
        when = created if created is not None else doc.get("created", self.clock.now())
        key = (doc["object"], doc["id"])
        row = (doc["id"], *self._key, doc["object"], when, False, *_index_values(index))
        entry = _Entry(raw, row[6:], locked=True)
        if key[0] in _GENERATED_IDS:
            # Written with the deferred replaces (its id is fresh, so it cannot conflict): a renewal's invoice
            # costs no round trip of its own.
            entry.created, entry.dirty = when, True
            self._dirty[key] = entry
        else:
            row = (*row, pack(raw))
            self._cur.execute(self.sql.insert_object_new, row)
            if self._cur.rowcount != 1:
                self._raise_conflict(doc, self.sql.insert_object, row)
        self._hold(key, entry)
        if event:
            self._record(event, doc, raw, None)

    def replace(
        self, doc: Doc, index: Index, *, event: str | None = None, previous_attributes: Doc | None = None
    ) -> None:
        key = (doc["object"], doc["id"])
        self._written(key[0])
        raw = dump_doc(doc)
        self._replace(doc, key, raw, _index_values(index))
        if event:
            self._record(event, doc, raw, previous_attributes)

    def _replace(self, doc: Doc, key: tuple[str, str], raw: bytes, values: tuple[Any, ...]) -> None:
        entry = self._objects.get(key)
        if entry is not None and entry.raw is not None and key[0] not in _CONSTRAINED_TYPES:
            # Held by this unit of work, so it exists in this scope: write it when it could next be observed,
            # and not at all when nothing changed.
            if raw != entry.raw or values != entry.index:
                entry.raw, entry.index, entry.dirty = raw, values, True
                self._dirty[key] = entry
            return
        self._flush_objects([key])
        packed = pack(raw)  # the same document always packs to the same bytes (update_changed compares them)
        row = (packed, *values, *self._key, *key)
        if key[0] in _CONSTRAINED_TYPES:
            self._execute_checked(doc, self.sql.update_object, row)
        else:
            self._cur.execute(self.sql.update_changed, (*row, packed, *values))
        # Not held, or a tombstone: the next read goes to the row (it may not exist here, or stay deleted).
        self._objects.pop(key, None)

    def delete(self, object_type: str, object_id: str) -> None:
        self._written(object_type)
        key = (object_type, object_id)
        self._flush_objects([key])
        self._cur.execute(self.sql.delete, (*self._key, *key))
        self._objects.pop(key, None)  # read again if needed (the index columns changed)

    def purge(self, object_type: str, object_id: str) -> None:
        self._written(object_type)
        key = (object_type, object_id)
        self._flush_objects([key])
        self._cur.execute(self.sql.purge, (*self._key, *key))
        self._objects.pop(key, None)

    def _written(self, object_type: str) -> None:
        if object_type == "invoiceitem":
            self._no_pending_items.clear()

    def record(self, event_type: str, obj: Doc, *, previous_attributes: Doc | None = None) -> Doc:
        return self._record(event_type, obj, None, previous_attributes)

    def _record(self, event_type: str, obj: Doc, raw: bytes | None, previous_attributes: Doc | None) -> Doc:
        """The event of ``obj``; ``raw``: the object's JSON as just encoded by ``insert``/``replace``, put into the
        event's JSON as it is instead of encoding the object again."""
        now = self.clock.now()
        data: Doc = {"object": obj}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event: Doc = {
            "id": new_id("event"),
            "object": "event",
            "api_version": API_VERSION,
            "created": now,
            "data": data,
            "livemode": self.scope.livemode,
            "pending_webhooks": 0,
            "request": {"id": self.scope.request_id, "idempotency_key": self.scope.idempotency_key},
            "type": event_type,
        }
        # The index columns (INDEX_COLUMNS order): parent = the object, status = the event type.
        index = (None, obj.get("id"), None, None, event_type, None, None, None)
        # Encoded now: the caller goes on changing ``obj``, the event keeps this state.
        encoded = None
        if raw is not None:
            try:
                encoded = orjson.dumps(
                    {**event, "data": {**data, "object": orjson.Fragment(raw)}},
                    option=orjson.OPT_NON_STR_KEYS,
                )
            except TypeError:  # something only the standard library encodes (dump_doc's fallback)
                encoded = None
        if encoded is None:
            encoded = dump_doc(event)
        self._events.append((event["id"], *self._key, "event", now, False, *index, pack(encoded)))
        self.audit(event_type, str(obj.get("object")), str(obj.get("id")), {"event": event["id"]})
        return event

    def audit(self, action: str, object_type: str, object_id: str, data: Doc | None = None) -> None:
        s = self.scope
        self._audit.append(
            (
                *self._key,
                self.clock.now(),
                s.actor,
                s.request_id,
                action,
                object_type,
                object_id,
                dumps_json(data),
            )
        )

    def claim_period(self, subscription_id: str, period_start: int, invoice_id: str) -> bool:
        if self._optimistic:  # written at commit, where the unique constraint still refuses a second claim
            self._periods.append((*self._key, subscription_id, period_start, invoice_id))
            return True
        self._cur.execute(self.sql.claim_period, (*self._key, subscription_id, period_start, invoice_id))
        return bool(self._cur.rowcount == 1)

    def next_invoice_number(self, prefix: str, invoice_id: str) -> str:
        if prefix in self._sequences:  # the counter is held locked since the claim
            number = self._sequences[prefix]
            self._sequences[prefix] = number + 1
            self._sequences_taken.add(prefix)
            formatted = f"{prefix}-{number:04d}"
            self._numbers.append((*self._key, formatted, invoice_id))
            return formatted
        key = (*self._key, prefix)
        if self.sql.postgres:  # the counter's next number and the number's row in one round trip
            self._cur.execute(self.sql.take_number_into, (*key, *self._key, prefix, invoice_id))
            row = self._cur.fetchone()
            if row is not None:
                return str(row[0])
        self._cur.execute(self.sql.take_number, key)
        row = self._cur.fetchone()
        if row is not None:
            number = int(row[0]) - 1
        else:
            self._cur.execute(self.sql.new_sequence, key)
            if self._cur.rowcount == 1:
                number = 1
            else:  # another transaction created the counter first: take the next number from it
                self._cur.execute(self.sql.take_number, key)
                number = int(self._cur.fetchone()[0]) - 1
        formatted = f"{prefix}-{number:04d}"
        self._cur.execute(self.sql.insert_number, (*self._key, formatted, invoice_id))
        return formatted

    def setting(self, name: str) -> Any:
        if self._settings is None:  # read once per unit of work
            self._cur.execute(self.sql.account_settings, (self.scope.account_id,))
            row = self._cur.fetchone()
            raw = None if row is None else row[0]
            self._settings = (loads_json(raw) if isinstance(raw, str | bytes) else raw) or {}
        return self._settings.get(name)

    def remember_response(self, idempotency_key: str, response: StoredResponse) -> None:
        self._cur.execute(
            self.sql.remember, (response.status_code, response.body, *self._key, idempotency_key)
        )

    # -- meter events ---------------------------------------------------------------------------------------------
    def add_meter_event(self, event: MeterEvent) -> bool:
        row = (
            *self._key,
            event.identifier,
            event.event_name,
            event.customer,
            event.timestamp,
            event.value,
            event.created,
            event.canceled_at,
            dumps_json(event.payload),
        )
        self._cur.execute(self.sql.insert_meter_event, row)
        return bool(self._cur.rowcount == 1)

    def get_meter_event(self, identifier: str) -> MeterEvent | None:
        self._cur.execute(self.sql.get_meter_event, (*self._key, identifier))
        row = self._cur.fetchone()
        if row is None:
            return None
        ident, name, customer, ts, value, created, payload, canceled = row
        return MeterEvent(
            ident, name, customer, int(ts), int(value), int(created), loads_json(payload), canceled
        )

    def cancel_meter_event(self, identifier: str, at: int) -> bool:
        self._cur.execute(self.sql.cancel_meter_event, (at, *self._key, identifier))
        return bool(self._cur.rowcount == 1)

    def meter_usage(
        self, event_name: str, customer: str, start: int, end: int, formula: str, window: int | None = None
    ) -> builtins.list[tuple[int, int]]:
        where = (*self._key, event_name, customer, start, end)
        if window is None:
            if formula == "last":
                self._cur.execute(self.sql.usage_last, where)
                row = self._cur.fetchone()
                return [(start, 0 if row is None else int(row[0]))]
            self._cur.execute(self.sql.usage_count if formula == "count" else self.sql.usage_sum, where)
            return [(start, int(self._cur.fetchone()[0]))]
        if formula == "last":
            self._cur.execute(self.sql.usage_rows, where)
            last: dict[int, int] = {}
            for ts, value in self._cur.fetchall():
                last[start + (int(ts) - start) // window * window] = int(value)
            return builtins.list(last.items())
        sql = self.sql.usage_count_windows if formula == "count" else self.sql.usage_sum_windows
        self._cur.execute(sql, (start, window, *where))
        return [(start + int(n) * window, int(v)) for n, v in self._cur.fetchall()]

    # -- the worker's batches -----------------------------------------------------------------------------------
    def claim(
        self,
        keys: Sequence[tuple[str, str]],
        *,
        optimistic: bool = False,
        renewed_by: int | None = None,
        due_by: int | None = None,
    ) -> builtins.list[tuple[str, str]]:
        """Lock the given (type, id) objects for this transaction, skipping any another transaction holds
        (PostgreSQL's ``FOR UPDATE SKIP LOCKED``; SQLite's writer already holds the database). Returns the
        claimed keys in the given order; their documents are held, so reading them costs nothing more.

        What their due actions read besides them is read here too, one query each for the batch instead of one
        per item: every object's customer; a subscription's items and discounts, and whether its customer has
        pending invoice items; an invoice's subscription, locked (the due action reads it for update) and, for a
        draft about to be finalized, its customer, locked (finalization applies the customer's balance). Those
        locks also skip rows another transaction holds: the due action then waits for them, as it would anyway.
        ``renewed_by``: the customers of subscriptions due at or before it are locked too, as a draft's are: their
        renewal's draft may be finalized in this transaction (app/due.py, ``_catch_up``). ``due_by``: only objects
        still due by then are claimed (another worker may have done one since it was found), and nothing is read
        ahead for the others.
        """
        by_type: dict[str, list[str]] = {}
        for object_type, object_id in keys:
            by_type.setdefault(object_type, []).append(object_id)
        claimed: set[tuple[str, str]] = set()
        for object_type, ids in by_type.items():
            claimed.update((object_type, i) for i in self._lock(object_type, ids, due_by=due_by))
        entries = [(key, self._objects[key]) for key in claimed]
        invoices = [e for k, e in entries if k[0] == "invoice" and e.raw is not None]
        self._lock("subscription", sorted({e.index[1] for e in invoices if e.index[1]}))
        finalizing = {e.index[0] for e in invoices if e.index[0] and e.index[4] == "draft"}
        if renewed_by is not None:
            finalizing.update(
                e.index[0]
                for k, e in entries
                if k[0] == "subscription"
                and e.index[0]
                and e.index[7] is not None
                and e.index[7] <= renewed_by
            )
        finalizing_customers = sorted(finalizing)
        self._lock("customer", finalizing_customers)
        self._optimistic = optimistic
        customers = {e.index[0] for _, e in entries if e.index[0]}
        self.get_many("customer", sorted(c for c in customers if ("customer", c) not in self._objects))
        subscriptions = [(k[1], e) for k, e in entries if k[0] == "subscription" and e.raw is not None]
        self._hold_children([i for i, _ in subscriptions], _CLAIMED_CHILDREN)
        self._note_pending_items({e.index[0] for _, e in subscriptions if e.index[0]})
        if optimistic:
            self._hold_sequences(finalizing_customers)
        return [key for key in keys if key in claimed]

    def _hold_sequences(self, customer_ids: Sequence[str]) -> None:
        """Read and lock the invoice-number counters of these customers' prefixes (skipping counters another
        transaction holds: their numbers are then taken one statement at a time, waiting for the lock)."""
        prefixes = set()
        for customer_id in customer_ids:
            entry = self._objects.get(("customer", customer_id))
            if entry is not None and entry.raw is not None:
                prefixes.add(loads_json(entry.raw).get("invoice_prefix") or "INV")
        wanted = sorted(prefixes.difference(self._sequences))
        if not wanted:
            return
        self._flush_ledger()
        self._cur.execute(
            self.sql.sequences
            + self.sql.among(len(wanted))
            + (" FOR UPDATE SKIP LOCKED" if self.sql.postgres else ""),
            (*self._key, *self.sql.values(wanted)),
        )
        for prefix, next_number in self._cur.fetchall():
            self._sequences[prefix] = int(next_number)

    def _lock(self, object_type: str, ids: Sequence[str], *, due_by: int | None = None) -> builtins.list[str]:
        """Hold these objects with their row locks (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), except those this
        transaction already holds locked; returns the ids held locked now (those included). ``due_by``: only
        those whose ``due_at`` is at or before it."""
        held = [
            i
            for i in ids
            if (e := self._objects.get((object_type, i))) is not None
            and e.locked
            and (due_by is None or (e.index[7] is not None and e.index[7] <= due_by))
        ]
        if held:
            already = set(held)
            ids = [i for i in ids if i not in already]
        if not ids:
            return held
        self._flush_type(object_type)
        due = "" if due_by is None else self.sql.q(" AND due_at <= ?")
        self._cur.execute(
            self.sql.get_some
            + self.sql.among(len(ids))
            + due
            + (" FOR UPDATE SKIP LOCKED" if self.sql.postgres else ""),
            (*self._key, object_type, *self.sql.values(ids), *(() if due_by is None else (due_by,))),
        )
        for row in self._cur.fetchall():
            key = (object_type, row[0])
            if key in self._dirty:
                self._dirty[key].locked = True  # what we hold is newer than the row
            else:
                self._objects[key] = _Entry.of_row(row[1:], locked=True)
            held.append(row[0])
        return held

    def _note_pending_items(self, customers: set[str]) -> None:
        """Remember which of these customers have no pending invoice item, so that a renewal's query for them
        (``invoice_items.collect_for_renewal``) is answered without the database until an invoice item is
        written in this transaction."""
        if not customers:
            return
        self._flush_type("invoiceitem")
        ids = sorted(customers)
        self._cur.execute(
            self.sql.pending_items + self.sql.among(len(ids)), (*self._key, *self.sql.values(ids))
        )
        self._no_pending_items = customers.difference(row[0] for row in self._cur.fetchall())

    def _known_empty(self, object_type: str, filters: Mapping[str, Any]) -> bool:
        return (
            object_type == "invoiceitem"
            and filters.get("status") == "pending"
            and isinstance(filters.get("customer"), str)
            and filters["customer"] in self._no_pending_items
        )

    def _hold_children(self, parent_ids: Sequence[str], types: Sequence[str]) -> None:
        if not parent_ids:
            return
        self._cur.execute(
            self.sql.q(f"SELECT type, id, {self.sql.held} FROM objects WHERE account_id = ? AND livemode = ?")
            + " AND parent"
            + self.sql.among(len(parent_ids))
            + " AND type"
            + self.sql.among(len(types)),
            (*self._key, *self.sql.values(parent_ids), *self.sql.values(types)),
        )
        for row in self._cur.fetchall():
            key = (row[0], row[1])
            if key not in self._objects:
                self._hold(key, _Entry.of_row(row[2:], locked=not self.sql.postgres))

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Everything done inside is kept or rolled back together, without ending the transaction."""
        self._flush_objects()
        self._flush_ledger()
        self._optimistic = False  # inside a savepoint, a period already claimed is seen at once
        marks = len(self._events), len(self._audit)
        self._cur.execute("SAVEPOINT billfold_item")
        try:
            yield
            self._flush_objects()
            self._flush_ledger()
        except BaseException:
            self._cur.execute("ROLLBACK TO SAVEPOINT billfold_item")
            del self._events[marks[0] :], self._audit[marks[1] :]
            self._objects.clear()  # documents held may be the rolled-back ones
            self._dirty.clear()
            self._no_pending_items.clear()
            self._sequences.clear()  # the counters as of the savepoint were written; read them again
            self._sequences_taken.clear()
            self._numbers.clear()
            raise
        self._cur.execute("RELEASE SAVEPOINT billfold_item")

    def close(self) -> None:
        self._cur.close()

    def _hold(self, key: tuple[str, str], entry: _Entry) -> None:
        if len(self._objects) >= _HOLD_AT_MOST:
            self._objects = {k: e for k, e in self._objects.items() if e.dirty}
        self._objects[key] = entry

    # -- writing what is held -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every deferred replace, event, audit row, period claim and invoice number (before the commit)."""
        self._flush_objects()
        self._flush_events()
        self._flush_ledger()

    def _flush_ledger(self) -> None:
        """The period claims, invoice numbers and counters taken in memory (``optimistic``)."""
        if self._periods:
            self._write_rows("billing_periods", PERIOD_COLUMNS, self.sql.insert_period, self._periods)
        if self._sequences_taken:
            rows = [(self._sequences[p], *self._key, p) for p in sorted(self._sequences_taken)]
            self._cur.executemany(self.sql.set_sequence, rows)
            self._sequences_taken.clear()
        if self._numbers:
            self._write_rows("invoice_numbers", NUMBER_COLUMNS, self.sql.insert_number, self._numbers)

    def _flush_type(self, object_type: str) -> None:
        """Before a query on a type: write what it could see."""
        if object_type == "event":
            self._flush_events()
        self._flush_objects([k for k in self._dirty if k[0] == object_type])

    def _flush_objects(self, keys: Sequence[tuple[str, str]] | None = None) -> None:
        if not self._dirty:
            return
        chosen = [k for k in (keys if keys is not None else list(self._dirty)) if k in self._dirty]
        by_columns: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
        inserts = []
        for key in chosen:
            entry = self._dirty.pop(key)
            assert entry.raw is not None  # a dirty entry is an insert or a replace, never a tombstone
            if entry.created is not None:
                inserts.append(
                    (key[1], *self._key, key[0], entry.created, False, *entry.index, pack(entry.raw))
                )
                entry.created, entry.dirty, entry.stored = None, False, entry.index
                continue
            new, old = entry.index, entry.stored
            changed = tuple(i for i in range(len(new)) if new[i] != old[i])
            values = tuple(new[i] for i in changed)
            by_columns.setdefault(changed, []).append((pack(entry.raw), *values, *self._key, *key))
            entry.dirty, entry.locked, entry.stored = False, True, new
        if inserts:
            self._write_rows("objects", COLUMNS, self.sql.insert_object, inserts)
        for changed, rows in by_columns.items():
            if len(rows) == 1:
                self._cur.execute(self.sql.update_columns(changed), rows[0])
            else:
                # (On PostgreSQL, one UPDATE ... FROM unnest(arrays) of the rows cost the server 4x this.)
                self._cur.executemany(self.sql.update_columns(changed), rows)

    def _flush_events(self) -> None:
        if self._events:
            self._write_rows("objects", COLUMNS, self.sql.insert_object, self._events)
        if self._audit:
            self._write_rows("audit_log", AUDIT_COLUMNS, self.sql.insert_audit, self._audit)

    def _write_rows(
        self, table: str, columns: str, insert: str, rows: builtins.list[tuple[Any, ...]]
    ) -> None:
        """Append buffered rows: on PostgreSQL with a binary ``COPY`` (one stream instead of a statement per row;
        the packed documents go as bytes, not as hex text for the server to parse)."""
        if len(rows) == 1:
            self._cur.execute(insert, rows[0])
        elif self.sql.postgres:
            with self._cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(copy_types(table, columns))
                for row in rows:
                    copy.write_row(row)
        else:
            self._cur.executemany(insert, rows)
        rows.clear()

    def _raise_conflict(self, doc: Doc, sql: str, row: tuple[Any, ...]) -> None:
        """The insert hit a unique constraint: repeat it where it can fail, to tell the caller which one."""
        self._execute_checked(doc, sql, row)

    def _execute_checked(self, doc: Doc, sql: str, row: tuple[Any, ...]) -> None:
        self._cur.execute("SAVEPOINT billfold_write")
        try:
            self._cur.execute(sql, row)
        except self._dbapi.IntegrityError as exc:
            self._cur.execute("ROLLBACK TO SAVEPOINT billfold_write")
            raise _conflict(doc, exc) from exc
        self._cur.execute("RELEASE SAVEPOINT billfold_write")


def _conflict(doc: Doc, exc: Exception) -> Exception:
    text = str(exc)
    if "uq_objects_price_lookup_key" in text or (doc.get("object") == "price" and "lookup" in text):
        return InvalidRequest(
            f"A price (`{doc.get('id')}`) already uses the lookup key `{doc.get('lookup_key')}`. "
            "Pass `transfer_lookup_key=true` to move it to this price.",
            param="lookup_key",
            code="lookup_key_already_exists",
        )
    if "uq_objects_promotion_code" in text or doc.get("object") == "promotion_code":
        return InvalidRequest(
            f"An active promotion code with `code: {doc.get('code')}` already exists.",
            param="code",
            code="resource_already_exists",
        )
    if doc.get("object") in ("coupon", "product", "price", "tax_rate", "customer"):
        return InvalidRequest(
            f"{str(doc.get('object')).capitalize()} already exists.",
            param="id",
            code="resource_already_exists",
        )
    return exc


class SqlUnitOfWork:
    """``with uow(scope) as store:`` runs one transaction scoped to an account and mode."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    @contextmanager
    def __call__(self, scope: Scope) -> Iterator[SqlStore]:
        with self.engine.begin() as conn:
            store = SqlStore(conn, scope, self.clock)
            try:
                yield store
                store.flush()
            finally:
                store.close()
