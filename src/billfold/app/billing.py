"""The billing loop: start a subscription, renew it at each period end, finalize drafts after the draft window,
collect payment, cancel — driven by time (a test clock's or the wall clock's), one due action at a time.

Each due action runs in the caller's unit of work. A period is billed at most once: ``claim_period`` is a unique
database constraint, so a retried or concurrent bill run finds the period taken and moves on.
"""

from __future__ import annotations

from typing import Any

from billfold.core import periods
from billfold.core.invoice import ProrationFraction

from . import changes, invoicing, subscriptions
from .customers import customer_index, get_customer
from .ports import Doc, PaymentProcessor, Store


def _set_due(sub: Doc) -> None:
    """The subscription's next due instant: its period end, its cancel_at, or its trial end."""
    if sub["status"] in ("canceled", "incomplete_expired"):
        sub["billfold_due_at"] = None
        return
    end = sub["items"]["data"][0]["current_period_end"]
    due = end
    if sub.get("cancel_at") and sub["cancel_at"] < due:
        due = sub["cancel_at"]
    sub["billfold_due_at"] = due


def start_subscription(
    store: Store, wall_now: int, values: dict[str, Any], processor: PaymentProcessor
) -> Doc:
    sub, discounts = subscriptions.create_subscription(store, wall_now, values)
    customer = get_customer(store, sub["customer"], param="customer")
    now = sub["created"]
    start, end = (
        sub["items"]["data"][0]["current_period_start"],
        sub["items"]["data"][0]["current_period_end"],
    )
    trial = sub["status"] == "trialing"
    proration = None
    anchor = sub["billing_cycle_anchor"]
    if not trial and anchor > start:
        # A stub period to a future anchor is prorated against the full period that ends at the anchor.
        rec = sub["items"]["data"][0]["price"]["recurring"]
        full_start = periods.add_interval(anchor, rec["interval"], int(rec.get("interval_count", 1)), -1)
        proration = ProrationFraction(end - start, end - full_start)
    sub["status"] = "trialing" if trial else "incomplete"
    _set_due(sub)
    subscriptions.persist_new(store, sub, discounts)
    if not customer.get("currency"):
        customer["currency"] = sub["currency"]
        store.replace(customer, customer_index(customer))

    draft = invoicing.draft_for_period(
        store, sub, customer, start, end, now, trial=trial, proration=proration
    )
    invoice = invoicing.invoice_doc(
        store, draft, customer, sub, billing_reason="subscription_create", now=now
    )
    store.claim_period(sub["id"], start, invoice["id"])
    invoicing.create_draft(store, invoice)
    invoicing.finalize(store, invoice, now)
    if invoice["status"] == "open" and sub["collection_method"] == "charge_automatically":
        invoicing.attempt_payment(store, invoice, now, processor)
    previous = {"status": sub["status"], "latest_invoice": None}
    sub["latest_invoice"] = invoice["id"]
    if not trial:
        paid = invoice["status"] == "paid"
        sub["status"] = "active" if paid or sub["collection_method"] == "send_invoice" else "incomplete"
    subscriptions.save(store, sub, previous=previous)
    return sub


def renew(store: Store, sub: Doc, at: int) -> None:
    """Close the period ending at ``at`` and open the next one, invoicing it as a draft."""
    customer = get_customer(store, sub["customer"])
    previous: Doc = {"status": sub["status"]}
    if sub.get("cancel_at_period_end") or (sub.get("cancel_at") and sub["cancel_at"] <= at):
        cancel(store, sub, at, reason="cancellation_requested")
        return
    start, end = invoicing.next_period(sub, at)
    for item in sub["items"]["data"]:
        previous.setdefault("items", {"current_period_start": item["current_period_start"]})
        item["current_period_start"], item["current_period_end"] = start, end
    if sub["status"] == "trialing":
        sub["status"] = "active"
    pending = changes.pending_items(store, sub["id"])
    extra = invoicing.proration_lines(store, sub, pending)
    draft = invoicing.draft_for_period(store, sub, customer, start, end, at, extra_lines=extra)
    invoice = invoicing.invoice_doc(store, draft, customer, sub, billing_reason="subscription_cycle", now=at)
    if store.claim_period(sub["id"], start, invoice["id"]):
        invoice["automatically_finalizes_at"] = at + invoicing.DRAFT_WINDOW_SECONDS
        invoicing.create_draft(store, invoice)
        changes.mark_invoiced(store, pending, invoice["id"])
        sub["latest_invoice"] = invoice["id"]
    _set_due(sub)
    subscriptions.save(store, sub, previous=previous)


def cancel(store: Store, sub: Doc, at: int, *, reason: str = "cancellation_requested") -> Doc:
    previous = {"status": sub["status"]}
    sub["status"] = "canceled"
    sub["canceled_at"] = sub.get("canceled_at") or at
    sub["ended_at"] = at
    sub["cancellation_details"]["reason"] = reason
    _set_due(sub)
    subscriptions.save(store, sub, previous=previous, event="customer.subscription.deleted")
    return sub


def invoice_due(store: Store, invoice: Doc, at: int, processor: PaymentProcessor) -> None:
    """A draft whose window has passed: finalize it and collect payment."""
    if invoice["status"] != "draft":
        return
    invoicing.finalize(store, invoice, at)
    if invoice["status"] == "open" and invoice["collection_method"] == "charge_automatically":
        result = invoicing.attempt_payment(store, invoice, at, processor)
        sub_id = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        if not result.succeeded and sub_id:
            sub = store.get("subscription", sub_id)
            if sub and sub["status"] == "active":
                previous = {"status": sub["status"]}
                sub["status"] = "past_due"
                subscriptions.save(store, sub, previous=previous)


def subscription_due(store: Store, sub: Doc, at: int, processor: PaymentProcessor) -> None:
    """The subscription's due instant: the period end (renew, or cancel if asked to)."""
    renew(store, sub, at)


def preview_next_invoice(store: Store, sub: Doc) -> Doc:
    """The invoice the next renewal will create, computed by the same generator from the same facts.

    Nothing is stored. When nothing changes before the renewal, the real invoice equals this preview line for line.
    """
    customer = get_customer(store, sub["customer"])
    if sub["status"] in ("canceled", "incomplete_expired") or sub.get("cancel_at_period_end"):
        from .errors import InvalidRequest

        raise InvalidRequest(
            f"Subscription {sub['id']} will not renew, so there is no upcoming invoice.",
            code="invoice_upcoming_none",
        )
    at = int(sub["items"]["data"][0]["current_period_end"])
    start, end = invoicing.next_period(sub, at)
    preview = dict(sub)
    preview["items"] = {
        **sub["items"],
        "data": [
            {**i, "current_period_start": start, "current_period_end": end} for i in sub["items"]["data"]
        ],
    }
    extra = invoicing.proration_lines(store, sub, changes.pending_items(store, sub["id"]))
    draft = invoicing.draft_for_period(store, preview, customer, start, end, at, extra_lines=extra)
    doc = invoicing.invoice_doc(
        store,
        draft,
        customer,
        sub,
        billing_reason="subscription_cycle",
        now=at,
        invoice_id="upcoming_" + sub["id"],
    )
    doc["automatically_finalizes_at"] = at + invoicing.DRAFT_WINDOW_SECONDS
    return doc
