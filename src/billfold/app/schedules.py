"""Subscription schedules: a subscription's future written down in advance, as phases.

Why this module exists: sales-led deals change a subscription on agreed dates (a ramp deal sells 20 seats in year one
and 50 at a step-up price in year two; a deal may start next quarter). A schedule holds phases ``[start_date,
end_date)``, each with its items and settings. At every phase boundary the worker calls ``process_due`` (app/due.py,
before a renewal due at the same instant): it starts the subscription, moves it to the next phase's configuration, or
ends the schedule per ``end_behavior``. https://docs.stripe.com/billing/subscriptions/subscription-schedules
Phase validation and the phase documents are in ``schedule_phases``.
"""

from __future__ import annotations

import copy
from typing import Any, cast

from billfold.core import periods
from billfold.ids import new_id

from . import (
    account_settings,
    billing,
    change_requests,
    changes,
    dunning,
    invoice_documents,
    invoice_facts,
    invoicing,
    lifecycle,
    subscriptions,
    usage_items,
)
from .customers import get_customer
from .errors import BillfoldError, InvalidRequest, ResourceMissing
from .metadata import merge_metadata
from .ports import Doc, Index, PaymentProcessor, Store
from .schedule_phases import (
    build_phases,
    discount_ref,
    from_subscription_phase,
    item_values,
    new_discount,
    setting,
)

OPEN_STATUSES = ("not_started", "active")


def index(doc: Doc) -> Index:
    return Index(
        customer=doc["customer"],
        status=doc["status"],
        test_clock=doc.get("test_clock"),
        parent=doc.get("subscription") or doc.get("released_subscription"),
        due_at=doc.get("billfold_due_at"),
    )


def get_schedule(store: Store, schedule_id: str, *, for_update: bool = False) -> Doc:
    doc = store.get("subscription_schedule", schedule_id, for_update=for_update)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("subscription_schedule", schedule_id)
    return doc


def _default_settings(given: dict[str, Any] | None, current: Doc | None = None) -> Doc:
    out: Doc = current or {
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": "automatic",
        "billing_thresholds": None,
        "collection_method": "charge_automatically",
        "default_payment_method": None,
        "description": None,
        "invoice_settings": {"account_tax_ids": None, "days_until_due": None, "issuer": {"type": "self"}},
        "on_behalf_of": None,
        "transfer_data": None,
    }
    for key, value in (given or {}).items():
        if key == "invoice_settings":
            out["invoice_settings"]["days_until_due"] = (value or {}).get("days_until_due")
        else:
            out[key] = value
    if (
        out["collection_method"] == "charge_automatically"
        and out["invoice_settings"]["days_until_due"] is not None
    ):
        raise InvalidRequest(
            "days_until_due can only be set when collection_method is send_invoice.",
            param="default_settings[invoice_settings][days_until_due]",
        )
    return out


def _phase_at(doc: Doc, t: int) -> int | None:
    for n, phase in enumerate(doc["phases"]):
        if phase["start_date"] <= t < phase["end_date"]:
            return n
    return None


def _due_at_renewal(store: Store, sub: Doc, at: int) -> tuple[Doc, int | None] | None:
    """The subscription's active schedule when it acts at ``at`` (a renewal instant), with the phase it enters
    then (None: its last phase ends then)."""
    doc = store.view("subscription_schedule", sub["schedule"]) if sub.get("schedule") else None
    if doc is None or doc["status"] != "active":
        return None
    if at >= doc["phases"][-1]["end_date"]:
        return doc, None
    n = _phase_at(doc, at)
    return (doc, n) if n is not None and doc["phases"][n]["start_date"] == at else None


def cancels_at(store: Store, sub: Doc, at: int) -> bool:
    """Whether the subscription's schedule ends it at ``at`` (``end_behavior=cancel``): then it does not renew."""
    due = _due_at_renewal(store, sub, at)
    return due is not None and due[1] is None and due[0]["end_behavior"] == "cancel"


class _Scratch(change_requests.Unsaved):
    """The store as a phase entered at the next renewal would leave it, for the upcoming invoice: the items and
    discounts the phase adds, and the usage items of the metered items it removes, stay in memory. Any other
    write is a bug, and refused."""

    def insert(self, doc: Doc, index: Index, *, created: int | None = None, event: str | None = None) -> None:
        self._docs.append(doc)

    def delete(self, object_type: str, object_id: str) -> None:
        pass  # a removed item's row; the subscription's own document is the caller's copy

    def record(self, event_type: str, obj: Doc, *, previous_attributes: Doc | None = None) -> Doc:
        return {}

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("an upcoming invoice writes nothing")

    replace = purge = audit = claim_period = next_invoice_number = _refuse

    def added(self, object_type: str) -> list[Doc]:
        return [d for d in self._docs if d["object"] == object_type]


def as_scheduled(store: Store, sub: Doc, at: int) -> tuple[Store, Doc, list[Doc]]:
    """The subscription as its schedule will make it at ``at``, its next renewal, for the upcoming invoice
    (``create_preview``, ``invoice.upcoming``): a phase starting then changes the items, discounts and settings
    the renewal bills, and bills the ended period's usage of the metered items it removes. Returns the store to
    price with, the subscription (a copy when it changes) and those usage items. Nothing is stored."""
    due = _due_at_renewal(store, sub, at)
    if due is None or due[1] is None:
        return store, sub, []
    doc, n = due
    scratch = _Scratch(store, [])
    view = copy.deepcopy(sub)
    _sync_items(cast(Store, scratch), view, doc["phases"][n], at)
    _sync_settings(cast(Store, scratch), doc, view, doc["phases"][n], at)
    return cast(Store, scratch), view, scratch.added("invoiceitem")


def _refresh(doc: Doc, at: int) -> None:
    """``current_phase`` and the next due instant (next phase boundary), from the status and the phases."""
    doc["current_phase"] = None
    doc["billfold_due_at"] = None
    if doc["status"] == "not_started":
        doc["billfold_due_at"] = doc["phases"][0]["start_date"]
    elif doc["status"] == "active":
        n = _phase_at(doc, at)
        if n is not None:
            phase = doc["phases"][n]
            doc["current_phase"] = {"end_date": phase["end_date"], "start_date": phase["start_date"]}
        doc["billfold_due_at"] = min(
            (p["end_date"] for p in doc["phases"] if p["end_date"] > at),
            default=doc["phases"][-1]["end_date"],
        )


def _save(store: Store, doc: Doc, event: str, previous: Doc | None = None) -> None:
    store.replace(doc, index(doc))
    store.record(event, doc, previous_attributes=previous)


# -- create -------------------------------------------------------------------------------------------------------
def create_schedule(
    store: Store, wall_now: int, values: dict[str, Any], processor: PaymentProcessor | None = None
) -> Doc:
    """A new schedule from the API's values (``customer`` + ``phases`` [+ ``start_date``], or ``from_subscription``).

    A schedule that starts now starts its subscription at once when a ``processor`` is given (the API always gives
    one); without one (a caller outside a request) it is left ``not_started`` and due now, for the worker.
    """
    if values.get("from_subscription"):
        return _from_subscription(store, wall_now, values)
    if not values.get("customer"):
        raise InvalidRequest("Missing required param: customer.", param="customer", code="parameter_missing")
    if not values.get("phases"):
        raise InvalidRequest("Missing required param: phases.", param="phases", code="parameter_missing")
    customer = get_customer(store, values["customer"], param="customer")
    now = subscriptions.customer_now(store, customer, wall_now)
    start = values.get("start_date", "now")
    start = now if start == "now" else int(start)
    if start < now:
        raise InvalidRequest(
            "start_date must be `now` or in the future; backdated schedules are not supported yet.",
            param="start_date",
        )
    defaults = _default_settings(values.get("default_settings"))
    doc: Doc = {
        "id": new_id("subscription_schedule"),
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": {
            "flexible": {"proration_discounts": "included"},
            "type": "flexible",
            "updated_at": now,
        },
        "canceled_at": None,
        "completed_at": None,
        "created": now,
        "current_phase": None,
        "customer": customer["id"],
        "customer_account": None,
        "default_settings": defaults,
        "end_behavior": values.get("end_behavior") or "release",
        "livemode": store.scope.livemode,
        "metadata": values.get("metadata") or {},
        "pause_schedules": [],
        "phases": build_phases(store, customer, values["phases"], start, now, defaults, current=None),
        "released_at": None,
        "released_subscription": None,
        "status": "not_started",
        "subscription": None,
        "test_clock": customer.get("test_clock"),
    }
    if start <= now and processor is not None:
        _start(store, doc, now, processor)
    _refresh(doc, now)
    store.insert(doc, index(doc), created=now)
    store.record("subscription_schedule.created", doc)
    return doc


def _from_subscription(store: Store, wall_now: int, values: dict[str, Any]) -> Doc:
    for key in ("customer", "phases", "start_date", "default_settings"):
        if key in values:
            raise InvalidRequest(
                f"You cannot set `{key}` together with `from_subscription`; create the schedule, then update it.",
                param=key,
            )
    sub = subscriptions.get_subscription(store, values["from_subscription"], param="from_subscription")
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequest(
            f"Subscription {sub['id']} is canceled; only a live subscription can be managed by a schedule.",
            param="from_subscription",
        )
    if sub.get("schedule"):
        raise InvalidRequest(
            f"Subscription {sub['id']} is already managed by subscription schedule {sub['schedule']}.",
            param="from_subscription",
        )
    customer = get_customer(store, sub["customer"])
    now = subscriptions.customer_now(store, customer, wall_now)
    defaults = _default_settings({"collection_method": sub["collection_method"]})
    doc: Doc = {
        "id": new_id("subscription_schedule"),
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": copy.deepcopy(sub["billing_mode"]),
        "canceled_at": None,
        "completed_at": None,
        "created": now,
        "current_phase": None,
        "customer": sub["customer"],
        "customer_account": None,
        "default_settings": defaults,
        "end_behavior": values.get("end_behavior") or "release",
        "livemode": store.scope.livemode,
        "metadata": values.get("metadata") or {},
        "pause_schedules": [],
        "phases": [from_subscription_phase(sub)],
        "released_at": None,
        "released_subscription": None,
        "status": "active",
        "subscription": sub["id"],
        "test_clock": sub.get("test_clock"),
    }
    _refresh(doc, now)
    store.insert(doc, index(doc), created=now)
    sub["schedule"] = doc["id"]
    subscriptions.save(store, sub, previous={"schedule": None})
    store.record("subscription_schedule.created", doc)
    return doc


def _start(store: Store, doc: Doc, at: int, processor: PaymentProcessor) -> Doc:
    """Create the subscription of the first phase at ``at`` (invoiced and charged as any new subscription)."""
    phase = doc["phases"][0]
    values = {
        "customer": doc["customer"],
        "schedule": doc["id"],
        "currency": phase["currency"],
        "items": [item_values(i) for i in phase["items"]],
        "discounts": [{k: v for k, v in d.items() if v} for d in phase["discounts"]],
        "default_tax_rates": [r["id"] for r in phase["default_tax_rates"]],
        "metadata": {k: v for k, v in phase["metadata"].items() if v != ""},
        "collection_method": setting(doc, phase, "collection_method") or "charge_automatically",
    }
    if values["collection_method"] == "send_invoice":
        values["days_until_due"] = setting(doc, phase, "days_until_due")
    for key in ("description", "default_payment_method"):
        if setting(doc, phase, key) is not None:
            values[key] = setting(doc, phase, key)
    if phase.get("trial_end"):
        values["trial_end"] = phase["trial_end"]
    sub = billing.start_subscription(store, at, values, processor)
    if sub.get("schedule") != doc["id"]:
        previous = {"schedule": sub.get("schedule")}
        sub["schedule"] = doc["id"]
        subscriptions.save(store, sub, previous=previous)
    doc["status"] = "active"
    doc["subscription"] = sub["id"]
    return sub


# -- the phases over time -----------------------------------------------------------------------------------------
def process_due(store: Store, schedule: Doc, at: int, processor: PaymentProcessor) -> None:
    """The schedule's due instant: start, enter the next phase, or end (app/due.py calls this)."""
    doc = get_schedule(store, schedule["id"], for_update=True)
    before = {
        "status": doc["status"],
        "current_phase": doc["current_phase"],
        "subscription": doc["subscription"],
    }
    event = "subscription_schedule.updated"
    if doc["status"] == "not_started":
        try:
            _start(store, doc, at, processor)
        except BillfoldError as exc:  # validated at creation, but a price or coupon may have changed since
            store.audit(
                "subscription_schedule.start_failed",
                "subscription_schedule",
                doc["id"],
                {"error": exc.message},
            )
            doc["status"], doc["canceled_at"], event = "canceled", at, "subscription_schedule.canceled"
    elif doc["status"] == "active":
        sub = store.get("subscription", doc["subscription"], for_update=True)
        if sub is None or sub["status"] in ("canceled", "incomplete_expired"):
            # The subscription ended on its own (canceled directly): the schedule ended with it.
            ended = (sub or {}).get("ended_at") or at
            doc["status"], doc["canceled_at"], event = "canceled", ended, "subscription_schedule.canceled"
        elif at >= doc["phases"][-1]["end_date"]:
            event = _finish(store, doc, sub, at)
        else:
            n = _phase_at(doc, at)
            if n is not None and doc["phases"][n]["start_date"] == at:
                _enter_phase(store, doc, n, at, processor)
    _refresh(doc, at)
    previous = {k: v for k, v in before.items() if doc.get(k) != v}
    _save(store, doc, event, previous)


def _finish(store: Store, doc: Doc, sub: Doc, at: int) -> str:
    """The last phase has ended: ``cancel`` cancels the subscription (status ``completed``); ``release`` lets it
    continue on its own (status ``released``)."""
    if doc["end_behavior"] == "cancel":
        # As a subscription ending at ``cancel_at``: what it still owes (the ended period's metered usage, in
        # arrears, and pending prorations) goes on a final invoice before it ends, with a credit for the unused
        # time when the last phase ends inside a billed period.
        billing.end_at_cancel_at(store, sub, at)
        doc["status"], doc["completed_at"] = "completed", at
        return "subscription_schedule.completed"
    _detach(store, doc, sub, at)
    return "subscription_schedule.released"


def _detach(store: Store, doc: Doc, sub: Doc | None, at: int) -> None:
    doc["status"], doc["released_at"] = "released", at
    doc["released_subscription"], doc["subscription"] = doc["subscription"], None
    if sub is not None and sub.get("schedule") == doc["id"]:
        sub["schedule"] = None
        subscriptions.save(store, sub, previous={"schedule": doc["id"]})


def _billing(items: list[tuple[str, Any]]) -> list[tuple[str, int]]:
    return sorted((price, int(qty or 0)) for price, qty in items)


def _enter_phase(store: Store, doc: Doc, n: int, at: int, processor: PaymentProcessor) -> None:
    phase = doc["phases"][n]
    anchor_reset = setting(doc, phase, "billing_cycle_anchor") == "phase_start"
    apply_phase(
        store, doc, phase, at, processor, phase["proration_behavior"], entering=True, reset=anchor_reset
    )


def apply_phase(
    store: Store,
    doc: Doc,
    phase: Doc,
    at: int,
    processor: PaymentProcessor,
    behavior: str,
    *,
    entering: bool,
    reset: bool = False,
) -> Doc:
    """Configure the subscription as ``phase`` says, at ``at``.

    At a period boundary the items simply change (the renewal that follows bills the new phase). Mid-period, a
    change of prices or quantities is prorated per ``behavior`` (changes.change_items). ``reset``
    (``billing_cycle_anchor=phase_start``) restarts the billing cycle at ``at``: unused time of the old items is
    credited (unless ``behavior`` is none) and the new period is invoiced at once.
    https://docs.stripe.com/billing/subscriptions/subscription-schedules#phase-billing-cycle
    """
    sub = subscriptions.get_subscription(store, doc["subscription"], for_update=True)
    start, end = subscriptions.period(sub)
    mid_period = start <= at < end
    reset = reset and at != start
    old = _billing([(i["price"]["id"], i.get("quantity")) for i in sub["items"]["data"]])
    new = _billing([(i["price"], i.get("quantity")) for i in phase["items"]])
    if mid_period and behavior != "none" and (reset or old != new):
        if reset:  # credit the unused time of every item; the new period is billed in full below
            item_changes = [{"id": i["id"], "quantity": 0} for i in sub["items"]["data"] if i.get("quantity")]
        else:
            item_changes = _item_changes(sub, phase)
        if item_changes:
            mode = "create_prorations" if reset else behavior
            changes.change_items(store, at, sub["id"], item_changes, mode, at, processor)
            sub = subscriptions.get_subscription(store, sub["id"], for_update=True)
        if reset:  # the metered items' usage of the old cycle, in arrears, as a billing-cycle reset bills it
            _bill_usage_so_far(store, sub, start, at)
    before = copy.deepcopy(sub)
    _sync_items(store, sub, phase, at)
    _sync_settings(store, doc, sub, phase, at)
    if reset and entering:
        rec = sub["items"]["data"][0]["price"]["recurring"]
        period_end = periods.add_interval(at, rec["interval"], int(rec.get("interval_count", 1)), 1)
        sub["billing_cycle_anchor"] = at
        for item in sub["items"]["data"]:
            item["current_period_start"], item["current_period_end"] = at, period_end
        _invoice_new_period(store, sub, at, period_end, processor)
    elif entering and setting(doc, phase, "billing_cycle_anchor") == "phase_start":
        sub["billing_cycle_anchor"] = at  # already on a boundary: the next period starts here anyway
    previous = {k: before.get(k) for k in sub if k != "billfold_due_at" and before.get(k) != sub.get(k)}
    if previous:
        subscriptions.save(store, sub, previous=previous)
    return sub


def _bill_usage_so_far(store: Store, sub: Doc, start: int, at: int) -> None:
    """Pending invoice items for the metered items' usage over [start, at): the restarted cycle's invoice collects
    them (``_invoice_new_period``), and the new cycle counts usage from ``at``."""
    for item in sub["items"]["data"]:
        if invoice_facts.is_metered(item["price"]):
            _add_usage_item(store, sub, item, start, at, removed=False)


def _add_usage_item(store: Store, sub: Doc, item: Doc, start: int, at: int, *, removed: bool) -> None:
    """A pending invoice item for a metered item's usage over [start, at) (through ``at`` when ``removed``)."""
    used = usage_items.usage_item(store, sub, item, start, at, at, removed=removed)
    if used is not None:
        store.insert(used, changes.item_index(used), created=at)
        store.record("invoiceitem.created", used)


def _item_changes(sub: Doc, phase: Doc) -> list[dict[str, Any]]:
    """changes.change_items input turning the subscription's items into the phase's (adds before removals)."""
    by_price = {i["price"]["id"]: i for i in sub["items"]["data"]}
    out: list[dict[str, Any]] = []
    for pi in phase["items"]:
        item = by_price.pop(pi["price"], None)
        if item is None:
            out.append({k: v for k, v in item_values(pi).items() if k != "discounts"})
        elif pi.get("quantity") is not None and pi["quantity"] != item.get("quantity"):
            out.append({"id": item["id"], "quantity": pi["quantity"]})
    out.extend({"id": item["id"], "deleted": True} for item in by_price.values())
    return out


def _sync_items(store: Store, sub: Doc, phase: Doc, at: int) -> None:
    """Make the subscription's items exactly the phase's: same price keeps its ``si_``, others are added/removed."""
    start, end = subscriptions.period(sub)
    by_price = {i["price"]["id"]: i for i in sub["items"]["data"]}
    items: list[Doc] = []
    for pi in phase["items"]:
        item = by_price.pop(pi["price"], None)
        if item is None:
            price = store.get("price", pi["price"])
            if price is None:
                raise ResourceMissing("price", pi["price"])
            item = {
                "id": new_id("subscription_item"),
                "object": "subscription_item",
                "created": at,
                "current_period_start": start,
                "current_period_end": end,
                "discounts": [],
                "metadata": {},
                "price": price,
                "quantity": pi.get("quantity"),
                "subscription": sub["id"],
                "tax_rates": [],
            }
            subscriptions.insert_item_row(store, sub, item, created=at)
        if item["price"]["recurring"].get("usage_type") != "metered":
            item["quantity"] = int(pi.get("quantity") or 0)
        if pi["metadata"]:
            item["metadata"] = merge_metadata(item.get("metadata") or {}, pi["metadata"])
        item["tax_rates"] = list(pi["tax_rates"])
        item["discounts"] = _sync_discounts(store, sub, item["discounts"], pi["discounts"], at, item["id"])
        items.append(item)
    _bill_removed_usage(store, sub, list(by_price.values()), items, at)
    for gone in by_price.values():
        store.delete("subscription_item", gone["id"])
    sub["items"]["data"] = items
    sub["items"]["total_count"] = len(items)


def _bill_removed_usage(store: Store, sub: Doc, gone: list[Doc], kept: list[Doc], at: int) -> None:
    """A phase entered at a period's end removes metered items: the usage of the period that ends is still owed
    (billed in arrears, as a renewal bills a kept item's), so each becomes a pending invoice item that the renewal
    at the same instant collects. (Mid-period, ``change_items`` has already removed them with their usage, or
    ``proration_behavior=none`` leaves it unbilled.) An item whose meter no phase item counts any more is counted
    through ``at``, as a removed item is; otherwise the new item counts from ``at``."""
    start, end = subscriptions.period(sub)
    if at != end or sub["status"] in subscriptions.ENDED_STATUSES or sub["status"] in ("trialing", "paused"):
        return
    counted = {i["price"]["recurring"].get("meter") for i in kept if invoice_facts.is_metered(i["price"])}
    for item in gone:
        if invoice_facts.is_metered(item["price"]):
            meter = item["price"]["recurring"].get("meter")
            _add_usage_item(store, sub, item, start, at, removed=meter not in counted)


def _sync_discounts(
    store: Store, sub: Doc, current: list[str], wanted: list[Doc], at: int, item_id: str | None
) -> list[str]:
    """The phase's discounts: an existing discount for the same coupon is kept (a repeating coupon runs on),
    others are redeemed as the phase starts."""
    held: dict[tuple[str, str | None], str] = {}
    for did in current:
        ref = discount_ref(store, {"discount": did})
        if ref is not None:
            held.setdefault(ref, did)
    out: list[str] = []
    for entry in wanted:
        ref = discount_ref(store, entry)
        if ref is None:
            continue
        if entry.get("discount"):
            out.append(entry["discount"])
        elif ref in held:
            out.append(held.pop(ref))
        else:
            made = new_discount(store, sub, ref[0], ref[1], at, item_id)
            if made is not None:
                out.append(made["id"])
    return out


def _sync_settings(store: Store, doc: Doc, sub: Doc, phase: Doc, at: int) -> None:
    collection = setting(doc, phase, "collection_method") or "charge_automatically"
    sub["collection_method"] = collection
    days = setting(doc, phase, "days_until_due")
    sub["days_until_due"] = (30 if days is None else days) if collection == "send_invoice" else None
    sub["default_tax_rates"] = list(phase["default_tax_rates"])
    sub["discounts"] = _sync_discounts(store, sub, sub.get("discounts") or [], phase["discounts"], at, None)
    if phase["metadata"]:
        sub["metadata"] = merge_metadata(sub.get("metadata") or {}, phase["metadata"])
    for key in ("description", "default_payment_method"):
        value = setting(doc, phase, key)
        if value is not None:
            sub[key] = value


def _invoice_new_period(store: Store, sub: Doc, start: int, end: int, processor: PaymentProcessor) -> None:
    """A billing cycle restarted at ``start``: invoice the new period now, with the pending proration credits."""
    customer = get_customer(store, sub["customer"])
    pending = changes.pending_items(store, sub["id"])
    extra = invoice_facts.proration_lines(store, sub, pending)
    draft = invoice_facts.draft_for_period(store, sub, customer, start, end, start, extra_lines=extra)
    invoice = invoice_documents.invoice_doc(
        store, draft, customer, sub, billing_reason="subscription_update", now=start
    )
    if not store.claim_period(sub["id"], start, invoice["id"]):
        return
    invoicing.create_draft(store, invoice)
    changes.mark_invoiced(store, pending, invoice["id"])
    invoicing.finalize(store, invoice, start)
    if invoice["status"] == "open" and sub["collection_method"] == "charge_automatically":
        result = invoicing.attempt_payment(store, invoice, start, processor)
        if not result.succeeded:
            # Dunning, as for a renewal (billing.payment_failed), on the caller's copy of the subscription, which
            # the caller saves: retries from now, and the subscription past_due until the invoice is paid.
            retry_days = account_settings.payment_retry_days(store)
            dunning.record_failure(invoice, start, automatic=True, retry_days=retry_days)
            invoicing.save(store, invoice, None)
            if sub["status"] == "active":
                sub["status"] = "past_due"
    sub["latest_invoice"] = invoice["id"]


# -- API actions ----------------------------------------------------------------------------------------------------
def _require_open(doc: Doc, action: str) -> None:
    if doc["status"] not in OPEN_STATUSES:
        raise InvalidRequest(
            f"You cannot {action} a subscription schedule that is currently in the `{doc['status']}` status. "
            "Only `not_started` and `active` schedules can be changed."
        )


def _now(store: Store, doc: Doc, wall_now: int) -> int:
    return subscriptions.customer_now(store, get_customer(store, doc["customer"]), wall_now)


def update_schedule(
    store: Store, wall_now: int, schedule_id: str, values: dict[str, Any], processor: PaymentProcessor
) -> Doc:
    doc = get_schedule(store, schedule_id, for_update=True)
    _require_open(doc, "update")
    now = _now(store, doc, wall_now)
    before = copy.deepcopy(doc)
    if "end_behavior" in values:
        doc["end_behavior"] = values["end_behavior"]
    if "metadata" in values:
        doc["metadata"] = merge_metadata(doc.get("metadata") or {}, values["metadata"])
    if "default_settings" in values:
        doc["default_settings"] = _default_settings(values["default_settings"], doc["default_settings"])
    if values.get("phases") is not None:
        _update_phases(store, doc, values["phases"], now, values.get("proration_behavior"), processor)
    _refresh(doc, now)
    previous = {k: before[k] for k in before if before[k] != doc.get(k) and k != "billfold_due_at"}
    _save(store, doc, "subscription_schedule.updated", previous)
    return doc


def _update_phases(
    store: Store, doc: Doc, given: list[Doc], now: int, behavior: str | None, processor: PaymentProcessor
) -> None:
    customer = get_customer(store, doc["customer"])
    if doc["status"] == "not_started":
        first = given[0].get("start_date", doc["phases"][0]["start_date"]) if given else None
        start = now if first in ("now", None) else int(first)
        if start < now:
            raise InvalidRequest(
                "The first phase must start `now` or in the future.", param="phases[0][start_date]"
            )
        doc["phases"] = build_phases(
            store, customer, given, start, now, doc["default_settings"], current=None
        )
        if start <= now:
            _start(store, doc, now, processor)
        return
    n = _phase_at(doc, now)
    if n is None:
        raise InvalidRequest("This schedule has no current phase to update.", param="phases")
    current = doc["phases"][n]
    # Past phases may be omitted, or sent back unchanged (they are kept as they were).
    past = {p["start_date"] for p in doc["phases"][:n]}
    while given and given[0].get("start_date") in past:
        given = given[1:]
    if not given:
        raise InvalidRequest("phases must include the current phase.", param="phases")
    first = given[0].get("start_date")
    if first is not None and first != current["start_date"]:
        raise InvalidRequest(
            f"The current phase's start_date can't be changed (it started at {current['start_date']}).",
            param="phases[0][start_date]",
        )
    built = build_phases(
        store, customer, given, current["start_date"], now, doc["default_settings"], current=current
    )
    doc["phases"] = doc["phases"][:n] + built
    apply_phase(store, doc, built[0], now, processor, behavior or "create_prorations", entering=False)


def cancel_schedule(
    store: Store,
    wall_now: int,
    schedule_id: str,
    processor: PaymentProcessor,
    *,
    invoice_now: bool,
    prorate: bool,
) -> Doc:
    """Cancel the schedule and its subscription now (https://docs.stripe.com/api/subscription_schedules/cancel):
    ``prorate`` (default true) credits the unused time; ``invoice_now`` (default true) issues a final invoice of the
    pending items and the metered usage to date, as ``DELETE /v1/subscriptions/{id}`` does."""
    doc = get_schedule(store, schedule_id, for_update=True)
    _require_open(doc, "cancel")
    now = _now(store, doc, wall_now)
    before = {"status": doc["status"], "current_phase": doc["current_phase"]}
    if doc["subscription"]:
        sub = subscriptions.get_subscription(store, doc["subscription"], for_update=True)
        if sub["status"] not in ("canceled", "incomplete_expired"):
            customer = get_customer(store, sub["customer"])
            lifecycle.end_now(
                store, sub, customer, now, {"invoice_now": invoice_now, "prorate": prorate}, processor
            )
    doc["status"], doc["canceled_at"] = "canceled", now
    _refresh(doc, now)
    _save(store, doc, "subscription_schedule.canceled", before)
    return doc


def release_schedule(store: Store, wall_now: int, schedule_id: str, *, preserve_cancel_date: bool) -> Doc:
    """Stop applying phases; the subscription (if started) continues on its own."""
    doc = get_schedule(store, schedule_id, for_update=True)
    _require_open(doc, "release")
    now = _now(store, doc, wall_now)
    before = {
        "status": doc["status"],
        "current_phase": doc["current_phase"],
        "subscription": doc["subscription"],
    }
    sub = store.get("subscription", doc["subscription"], for_update=True) if doc["subscription"] else None
    _detach(store, doc, sub, now)
    _refresh(doc, now)
    _save(store, doc, "subscription_schedule.released", before)
    return doc
