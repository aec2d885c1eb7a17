"""Cross-account queries that find due background work for the worker."""

from __future__ import annotations

from sqlalchemy import Engine, case, select

from billfold.app.due import DUE_TYPES
from billfold.app.ports import DueItem

from .engine import READONLY
from .schema import objects

_O = objects.c
_RANK = case({kind: rank for rank, kind in enumerate(DUE_TYPES)}, value=_O.type, else_=len(DUE_TYPES))


class SqlScheduler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def advancing_clocks(self) -> list[DueItem]:
        stmt = (
            select(_O.account_id, _O.livemode, _O.id)
            .where(_O.type == "test_helpers.test_clock", _O.status == "advancing", _O.deleted.is_(False))
            .order_by(_O.seq)
        )
        with self.engine.connect().execution_options(**{READONLY: True}) as conn:
            return [DueItem(r.account_id, bool(r.livemode), r.id) for r in conn.execute(stmt)]

    def due_subscriptions(self, until: int, limit: int) -> list[DueItem]:
        stmt = (
            select(_O.account_id, _O.livemode, _O.id)
            .where(
                _O.type.in_(DUE_TYPES),
                _O.due_at.is_not(None),
                _O.due_at <= until,
                _O.test_clock.is_(None),
                _O.deleted.is_(False),
            )
            # At one instant, in app/due.py's order: invoices, then schedules, then subscriptions (a phase that
            # starts at a renewal changes the items before the renewal invoice is made).
            .order_by(_O.due_at, _RANK, _O.seq)
            .limit(limit)
        )
        with self.engine.connect().execution_options(**{READONLY: True}) as conn:
            return [DueItem(r.account_id, bool(r.livemode), r.id) for r in conn.execute(stmt)]
