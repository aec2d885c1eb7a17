"""The unit of work over SQLAlchemy: one transaction, one account and mode, documents in and out.

Every query is filtered by the scope's account and mode, so an id that belongs elsewhere is indistinguishable from
an id that does not exist (a 404 for the caller).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from billfold.app.errors import InvalidRequest
from billfold.app.ports import INDEX_COLUMNS, Clock, Doc, Index, ListQuery, Page, Scope, StoredResponse
from billfold.ids import new_id
from billfold.version import API_VERSION

from .schema import audit_log, billing_periods, idempotency_keys, invoice_numbers, invoice_sequences, objects

_O = objects.c


class SqlStore:
    def __init__(self, conn: Connection, scope: Scope, clock: Clock) -> None:
        self.conn = conn
        self.scope = scope
        self.clock = clock
        self._for_update = conn.dialect.name == "postgresql"

    # -- reads ------------------------------------------------------------------------------------------------
    def _scoped(self, object_type: str) -> Any:
        return and_(
            _O.account_id == self.scope.account_id, _O.livemode == self.scope.livemode, _O.type == object_type
        )

    def get(self, object_type: str, object_id: str, *, for_update: bool = False) -> Doc | None:
        stmt = select(_O.doc, _O.deleted).where(self._scoped(object_type), _O.id == object_id)
        if for_update and self._for_update:
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        if row is None:
            return None
        if row.deleted:
            return {"id": object_id, "object": object_type, "deleted": True}
        return dict(row.doc)

    def get_many(self, object_type: str, object_ids: Sequence[str]) -> dict[str, Doc]:
        if not object_ids:
            return {}
        rows = self.conn.execute(
            select(_O.id, _O.doc).where(
                self._scoped(object_type), _O.id.in_(list(object_ids)), _O.deleted.is_(False)
            )
        )
        return {r.id: dict(r.doc) for r in rows}

    def _where(self, object_type: str, filters: Mapping[str, Any]) -> list[Any]:
        conds: list[Any] = [self._scoped(object_type), _O.deleted.is_(False)]
        for name, value in filters.items():
            if name not in INDEX_COLUMNS:
                raise ValueError(f"not an index column: {name}")
            col = _O[name]
            if isinstance(value, tuple | list):
                conds.append(col.in_(list(value)))
            elif value is None:
                conds.append(col.is_(None))
            else:
                conds.append(col == value)
        return conds

    def list(self, object_type: str, query: ListQuery) -> Page:
        conds = self._where(object_type, query.filters)
        if query.ids is not None:
            conds.append(_O.id.in_(list(query.ids)))
        ops = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
        for op, value in query.created.items():
            conds.append(getattr(_O.created, ops[op])(value))
        reverse = False
        cursor_id = query.starting_after or query.ending_before
        if cursor_id:
            cur = self.conn.execute(
                select(_O.created, _O.seq).where(self._scoped(object_type), _O.id == cursor_id)
            ).first()
            if cur is None:
                from billfold.app.errors import ResourceMissing

                param = "starting_after" if query.starting_after else "ending_before"
                raise ResourceMissing(object_type, cursor_id, param=param)
            if query.starting_after:
                conds.append(or_(_O.created < cur.created, and_(_O.created == cur.created, _O.seq < cur.seq)))
            else:
                reverse = True
                conds.append(or_(_O.created > cur.created, and_(_O.created == cur.created, _O.seq > cur.seq)))
        order = (_O.created.asc(), _O.seq.asc()) if reverse else (_O.created.desc(), _O.seq.desc())
        rows = self.conn.execute(select(_O.doc).where(*conds).order_by(*order).limit(query.limit + 1)).all()
        has_more = len(rows) > query.limit
        docs = [dict(r.doc) for r in rows[: query.limit]]
        if reverse:
            docs.reverse()
        return Page(docs, has_more)

    def iterate(self, object_type: str, filters: Mapping[str, Any]) -> Iterator[Doc]:
        stmt = (
            select(_O.doc)
            .where(*self._where(object_type, filters))
            .order_by(_O.created.desc(), _O.seq.desc())
        )
        for row in self.conn.execute(stmt):
            yield dict(row.doc)

    # -- writes -----------------------------------------------------------------------------------------------
    def _index_values(self, index: Index) -> dict[str, Any]:
        return {name: getattr(index, name) for name in INDEX_COLUMNS}

    def insert(self, doc: Doc, index: Index, *, created: int | None = None) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    insert(objects).values(
                        id=doc["id"],
                        account_id=self.scope.account_id,
                        livemode=self.scope.livemode,
                        type=doc["object"],
                        created=created if created is not None else doc.get("created", self.clock.now()),
                        deleted=False,
                        doc=doc,
                        **self._index_values(index),
                    )
                )
        except IntegrityError as exc:
            raise _conflict(doc, exc) from exc

    def replace(self, doc: Doc, index: Index) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    update(objects)
                    .where(self._scoped(doc["object"]), _O.id == doc["id"])
                    .values(doc=doc, **self._index_values(index))
                )
        except IntegrityError as exc:
            raise _conflict(doc, exc) from exc

    def delete(self, object_type: str, object_id: str) -> None:
        self.conn.execute(
            update(objects)
            .where(self._scoped(object_type), _O.id == object_id)
            .values(deleted=True, lookup=None, active=False)
        )

    def purge(self, object_type: str, object_id: str) -> None:
        self.conn.execute(delete(objects).where(self._scoped(object_type), _O.id == object_id))

    def record(self, event_type: str, obj: Doc, *, previous_attributes: Doc | None = None) -> Doc:
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
        self.insert(event, Index(parent=obj.get("id"), status=event_type), created=now)
        self.audit(event_type, str(obj.get("object")), str(obj.get("id")), {"event": event["id"]})
        return event

    def audit(self, action: str, object_type: str, object_id: str, data: Doc | None = None) -> None:
        self.conn.execute(
            insert(audit_log).values(
                account_id=self.scope.account_id,
                livemode=self.scope.livemode,
                at=self.clock.now(),
                actor=self.scope.actor,
                request_id=self.scope.request_id,
                action=action,
                object_type=object_type,
                object_id=object_id,
                data=data,
            )
        )

    def claim_period(self, subscription_id: str, period_start: int, invoice_id: str) -> bool:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    insert(billing_periods).values(
                        account_id=self.scope.account_id,
                        livemode=self.scope.livemode,
                        subscription_id=subscription_id,
                        period_start=period_start,
                        invoice_id=invoice_id,
                    )
                )
        except IntegrityError:
            return False
        return True

    def next_invoice_number(self, prefix: str, invoice_id: str) -> str:
        c = invoice_sequences.c
        where = and_(
            c.account_id == self.scope.account_id, c.livemode == self.scope.livemode, c.prefix == prefix
        )
        stmt = select(c.next_number).where(where)
        if self._for_update:
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        if row is None:
            try:
                with self.conn.begin_nested():
                    self.conn.execute(
                        insert(invoice_sequences).values(
                            account_id=self.scope.account_id,
                            livemode=self.scope.livemode,
                            prefix=prefix,
                            next_number=1,
                        )
                    )
            except IntegrityError:
                pass
            row = self.conn.execute(stmt).one()
        number = int(row.next_number)
        self.conn.execute(update(invoice_sequences).where(where).values(next_number=number + 1))
        formatted = f"{prefix}-{number:04d}"
        self.conn.execute(
            insert(invoice_numbers).values(
                account_id=self.scope.account_id,
                livemode=self.scope.livemode,
                number=formatted,
                invoice_id=invoice_id,
            )
        )
        return formatted

    def due(
        self, object_type: str, until: int, *, test_clock: str | None, limit: int | None = None
    ) -> Sequence[tuple[int, Doc]]:
        conds = [self._scoped(object_type), _O.deleted.is_(False), _O.due_at.is_not(None), _O.due_at <= until]
        conds.append(_O.test_clock == test_clock if test_clock else _O.test_clock.is_(None))
        stmt = select(_O.due_at, _O.doc).where(*conds).order_by(_O.due_at, _O.seq).limit(limit)
        return [(int(r.due_at), dict(r.doc)) for r in self.conn.execute(stmt)]

    def remember_response(self, idempotency_key: str, response: StoredResponse) -> None:
        c = idempotency_keys.c
        self.conn.execute(
            update(idempotency_keys)
            .where(
                c.account_id == self.scope.account_id,
                c.livemode == self.scope.livemode,
                c.key == idempotency_key,
            )
            .values(status_code=response.status_code, body=response.body)
        )


def _conflict(doc: Doc, exc: IntegrityError) -> InvalidRequest:
    text = str(exc.orig)
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
    raise exc


class SqlUnitOfWork:
    """``with uow(scope) as store:`` runs one transaction scoped to an account and mode."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    @contextmanager
    def __call__(self, scope: Scope) -> Iterator[SqlStore]:
        with self.engine.begin() as conn:
            yield SqlStore(conn, scope, self.clock)
