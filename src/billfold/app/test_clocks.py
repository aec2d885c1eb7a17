"""Test clocks: frozen time for a group of customers, moved forward on request.

Advancing is asynchronous as in Stripe: the request marks the clock ``advancing`` toward a target; the worker then
runs every due action of the clock's customers in time order (``advance_clock``) and marks it ``ready``.
https://docs.stripe.com/billing/testing/test-clocks
"""

from __future__ import annotations

from collections.abc import Callable

from billfold.ids import new_id

from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, Store

CLOCK = "test_helpers.test_clock"
# Stripe deletes a test clock 30 days after creation.
RETENTION_SECONDS = 30 * 24 * 3600

# Performs every due billing action of a clock's customers at instants <= ``until``, in time order.
# Supplied by the billing use cases.
DueWork = Callable[[Store, Doc, int], None]


def _index(doc: Doc) -> Index:
    return Index(status=doc["status"], test_clock=doc["id"])


def get_clock(store: Store, clock_id: str, *, param: str = "id") -> Doc:
    doc = store.get(CLOCK, clock_id)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing(CLOCK, clock_id, param=param)
    return doc


def _require_test_mode(store: Store) -> None:
    if store.scope.livemode:
        raise InvalidRequest("Test clocks can only be used in test mode; use a sk_test_ key.")


def create_clock(store: Store, now: int, frozen_time: int, name: str | None) -> Doc:
    _require_test_mode(store)
    doc: Doc = {
        "id": new_id(CLOCK),
        "object": CLOCK,
        "created": now,
        "deletes_after": now + RETENTION_SECONDS,
        "frozen_time": frozen_time,
        "livemode": False,
        "name": name,
        "status": "ready",
        "status_details": {},
    }
    store.insert(doc, _index(doc), created=now)
    store.record("test_helpers.test_clock.created", doc)
    return doc


def begin_advance(store: Store, clock_id: str, frozen_time: int) -> Doc:
    _require_test_mode(store)
    doc = get_clock(store, clock_id)
    if doc["status"] == "advancing":
        raise InvalidRequest("This test clock is already advancing; wait until its status is `ready`.")
    if frozen_time <= doc["frozen_time"]:
        raise InvalidRequest(
            f"The new frozen_time ({frozen_time}) must be after the clock's current frozen_time "
            f"({doc['frozen_time']}).",
            param="frozen_time",
        )
    doc["status"] = "advancing"
    doc["status_details"] = {"advancing": {"target_frozen_time": frozen_time}}
    store.replace(doc, _index(doc))
    store.record("test_helpers.test_clock.advancing", doc)
    return doc


def move_to(store: Store, clock_id: str, at: int) -> None:
    """Move an advancing clock's ``frozen_time`` to the instant being processed (no event).

    While a clock advances, Stripe's clock passes through every instant on the way to its target; use cases that
    read "now" for the clock's customers (``subscriptions.customer_now``) must see the instant of the due action,
    not the time the advance started. The advance still ends at its target with ``test_clock.ready``.
    """
    doc = store.get(CLOCK, clock_id)
    if doc is not None and int(doc["frozen_time"]) < at:
        doc["frozen_time"] = at
        store.replace(doc, _index(doc))


def finish_advance(store: Store, clock_id: str, due_work: DueWork | None) -> Doc:
    """Run the clock's due work up to its target and mark it ready (called by the worker)."""
    doc = get_clock(store, clock_id)
    if doc["status"] != "advancing":
        return doc
    target = int(doc["status_details"]["advancing"]["target_frozen_time"])
    if due_work is not None:
        due_work(store, doc, target)
    doc["frozen_time"] = target
    doc["status"] = "ready"
    doc["status_details"] = {}
    store.replace(doc, _index(doc))
    store.record("test_helpers.test_clock.ready", doc)
    return doc


def delete_clock(store: Store, clock_id: str) -> Doc:
    doc = get_clock(store, clock_id)
    for customer in store.iterate("customer", {"test_clock": clock_id}):
        store.delete("customer", customer["id"])
        store.record("customer.deleted", customer)
    store.delete(CLOCK, clock_id)
    store.record("test_helpers.test_clock.deleted", doc)
    return {"id": clock_id, "object": CLOCK, "deleted": True}
