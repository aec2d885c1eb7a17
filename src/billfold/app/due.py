"""Due work: every object the worker must act on at an instant, and which use case acts.

Why this module exists: subscriptions renew (and end trials, cancel), schedules move to their next phase, invoices
finalize after the draft window or retry a failed payment. Each of those objects stores its next due instant in the
promoted ``due_at`` column; this module finds them in time order and dispatches each to its handler, for a test clock
(``run_due``, all of the clock's due actions up to its target) or for one object of the wall-clock bill run
(``run_due_object``, re-read under a row lock). At one instant, invoices act first (a draft due now is finalized
before anything else bills), then schedules (a phase that starts at a renewal changes the items before the renewal
invoice is made), then subscriptions.
"""

from __future__ import annotations

from collections.abc import Callable

from . import billing, schedules, test_clocks
from .ports import Doc, PaymentProcessor, Store

Handler = Callable[[Store, Doc, int, PaymentProcessor], object]

# (object type, handler), in the order they act at one instant.
HANDLERS: tuple[tuple[str, Handler], ...] = (
    ("invoice", billing.invoice_due),
    ("subscription_schedule", schedules.process_due),
    ("subscription", billing.subscription_due),
)
DUE_TYPES = tuple(kind for kind, _ in HANDLERS)
_BY_TYPE = dict(HANDLERS)
_ID_PREFIXES = {"in_": "invoice", "sub_sched_": "subscription_schedule", "sub_": "subscription"}

# Safety valve for one clock advance: no timeline needs more due actions than this.
MAX_ACTIONS_PER_ADVANCE = 100_000


def run_due(store: Store, until: int, test_clock: str | None, processor: PaymentProcessor) -> int:
    """Perform every due action with a due instant <= ``until``, earliest first. Returns how many ran."""
    done = 0
    while done < MAX_ACTIONS_PER_ADVANCE:
        best: tuple[int, int, str, Doc] | None = None
        for rank, (kind, _) in enumerate(HANDLERS):
            found = store.due(kind, until, test_clock=test_clock, limit=1)
            if found and (best is None or (found[0][0], rank) < (best[0], best[1])):
                best = (found[0][0], rank, kind, found[0][1])
        if best is None:
            return done
        at, _, kind, doc = best
        if test_clock is not None:
            test_clocks.move_to(store, test_clock, at)
        _BY_TYPE[kind](store, doc, at, processor)
        done += 1
    raise RuntimeError("too many due actions in one advance; is a period empty?")


def object_type(object_id: str) -> str:
    for prefix, kind in _ID_PREFIXES.items():
        if object_id.startswith(prefix):
            return kind
    raise ValueError(f"{object_id} is not an object the worker acts on")


def run_due_object(store: Store, object_id: str, now: int, processor: PaymentProcessor) -> int:
    """Run the due action of one object (the wall-clock bill run), re-checked under a row lock. Returns how many
    actions ran: 0, 1, or 2 when a renewal's draft was already due too (``_catch_up``)."""
    kind = object_type(object_id)
    doc = store.get(kind, object_id, for_update=True)
    if doc is None or doc.get("deleted"):
        return 0
    at = due_instant(kind, doc)
    if at is None or at > now:
        return 0
    made = _BY_TYPE[kind](store, doc, at, processor)
    if kind == "subscription" and isinstance(made, dict):
        return 1 + _catch_up(store, doc, made, now, processor)
    return 1


def _catch_up(store: Store, sub: Doc, draft: Doc, now: int, processor: PaymentProcessor) -> int:
    """A renewal made by a bill run that runs late (the worker was stopped, or is working through a backlog):
    when the draft's window has also passed by ``now``, finalize and collect it in the same transaction, as the
    next due action would, instead of writing the draft and reading it back. Only when nothing else of the
    subscription falls in between: its own next due action (a cancellation, say) and its schedule's (a phase
    change) come later. The renewals of one account all have the same window, so their finalizations keep the
    order of the renewals."""
    at = due_instant("invoice", draft)
    if at is None or at > now:
        return 0
    following = [due_instant("subscription", sub)]
    if sub.get("schedule"):
        schedule = store.view("subscription_schedule", sub["schedule"])
        following.append(due_instant("subscription_schedule", schedule) if schedule else None)
    if any(instant is not None and instant <= at for instant in following):
        return 0
    _BY_TYPE["invoice"](store, draft, at, processor)
    return 1


def due_instant(kind: str, doc: Doc) -> int | None:
    """The object's due instant as its own module computes it (the same value as its ``due_at`` column)."""
    if kind == "invoice":
        from .invoicing import due_at

        return due_at(doc)
    value = doc.get("billfold_due_at")
    return None if value is None else int(value)
