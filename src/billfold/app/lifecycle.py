"""Subscription transitions asked for through the API that issue invoices or prorations: changing or ending a trial
(``trial_end``), resuming a paused subscription, and canceling now with a credit for unused time and a final invoice.

The time-driven transitions (renewals, trial ends, dunning, expiries) are in ``billing``; these reuse its pieces so a
trial ended by hand or by the clock bills the same way. Prorations come from ``changes``' flexible-mode helpers:
a credit is based on what was billed for the unused time (docs/adr/0007-billing-loop.md).
"""

from __future__ import annotations

import copy
from typing import Any

from billfold.core import periods
from billfold.core.invoice import InvoiceDraft

from . import (
    billing,
    changes,
    invoice_documents,
    invoice_facts,
    invoice_items,
    invoicing,
    pending_updates,
    subscriptions,
    usage_items,
)
from .customers import get_customer
from .errors import InvalidRequest
from .ports import Doc, PaymentProcessor, Store

RESUME_PAYMENT_BEHAVIORS = ("resume_on_payment_attempt", "resume_on_payment_success")


def _interval(sub: Doc) -> tuple[periods.Interval, int]:
    rec = sub["items"]["data"][0]["price"]["recurring"]
    return rec["interval"], int(rec.get("interval_count", 1))


def _set_period(sub: Doc, start: int, end: int) -> None:
    for item in sub["items"]["data"]:
        item["current_period_start"], item["current_period_end"] = start, end


def _issue_now(
    store: Store,
    sub: Doc,
    customer: Doc,
    draft: InvoiceDraft,
    at: int,
    items: list[Doc],
    *,
    claim: int | None = None,
    final_usage: bool = False,
) -> Doc:
    """Create the invoice of ``draft`` for the subscription and finalize it at once (not after a draft window).
    ``final_usage``: its usage lines are the subscription's last (``invoice_facts.USAGE_THROUGH_END``)."""
    invoice = invoice_documents.invoice_doc(
        store, draft, customer, sub, billing_reason="subscription_update", now=at
    )
    if final_usage:
        invoice[invoice_facts.USAGE_THROUGH_END] = True
    if claim is not None:
        store.claim_period(sub["id"], claim, invoice["id"])
    invoicing.create_draft(store, invoice)
    changes.mark_invoiced(store, items, invoice["id"])
    invoicing.finalize(store, invoice, at)
    sub["latest_invoice"] = invoice["id"]
    billing.consume_once_discounts(store, sub, invoice)
    return invoice


def _bill_new_period(store: Store, sub: Doc, customer: Doc, at: int) -> Doc:
    """Start a new billing period at ``at`` (the anchor moves to ``at``) and invoice it at once with the pending
    items, as Stripe does when a trial is ended early or a paused subscription resumes with ``billing_cycle_anchor=now``
    (https://docs.stripe.com/billing/subscriptions/billing-cycle)."""
    interval, count = _interval(sub)
    start, end = at, periods.add_interval(at, interval, count, 1)
    sub["billing_cycle_anchor"] = at
    _set_period(sub, start, end)
    for item in sub["items"]["data"]:
        item.pop("billfold_billed", None)
    pending = invoice_items.collect_for_renewal(store, sub)
    extra = invoice_facts.proration_lines(store, sub, pending)
    draft = invoice_facts.draft_for_period(store, sub, customer, start, end, at, extra_lines=extra)
    return _issue_now(store, sub, customer, draft, at, pending, claim=start)


# -- trials ------------------------------------------------------------------------------------------------------
def change_trial_end(
    store: Store,
    wall_now: int,
    sub_id: str,
    trial_end: int | str,
    processor: PaymentProcessor,
    *,
    payment_behavior: str = "allow_incomplete",
) -> Doc:
    """``trial_end`` on update: move the trial's end (the billing cycle anchor moves with it), or ``now`` to end it
    at once — a new period starts now and its invoice is charged right away
    (https://docs.stripe.com/billing/subscriptions/trials/free-trials#end-trial-early).

    ``payment_behavior`` decides what a declined charge of that invoice does, as for a change of items
    (``changes.change_items``): ``allow_incomplete`` (default) ends the trial and the subscription goes
    ``past_due`` with dunning; ``error_if_incomplete`` fails the request (402) and writes nothing;
    ``default_incomplete`` attempts no payment and the subscription is ``past_due`` until the invoice is paid;
    ``pending_if_incomplete`` leaves the subscription trialing with a pending update until the invoice is paid
    (app/pending_updates.py). A new ``trial_end`` in the future issues no invoice and applies at once."""
    sub = subscriptions.get_subscription(store, sub_id, for_update=True)
    pending_updates.refuse_while_pending(sub, param="trial_end")
    if payment_behavior == "pending_if_incomplete":
        pending_updates.check_request(sub, [])
    if sub["status"] != "trialing":
        raise InvalidRequest(
            f"trial_end can only be changed while the subscription is trialing; it is {sub['status']}.",
            param="trial_end",
        )
    customer = get_customer(store, sub["customer"])
    now = subscriptions.customer_now(store, customer, wall_now)
    if trial_end == "now":
        return _end_trial_now(store, sub, customer, now, processor, payment_behavior)
    end = int(trial_end)
    if end <= now:
        raise InvalidRequest("trial_end must be in the future (or `now`).", param="trial_end")
    if end > now + subscriptions.MAX_TRIAL_DAYS * subscriptions.DAY:
        raise InvalidRequest(
            f"trial_end can be at most {subscriptions.MAX_TRIAL_DAYS} days from now.", param="trial_end"
        )
    previous = {"trial_end": sub["trial_end"], "billing_cycle_anchor": sub["billing_cycle_anchor"]}
    sub["trial_end"] = sub["billing_cycle_anchor"] = end
    _set_period(sub, subscriptions.period(sub)[0], end)
    subscriptions.save(store, sub, previous=previous)
    return sub


def _end_trial_now(
    store: Store, sub: Doc, customer: Doc, now: int, processor: PaymentProcessor, payment_behavior: str
) -> Doc:
    previous = {
        "status": sub["status"],
        "trial_end": sub["trial_end"],
        "latest_invoice": sub["latest_invoice"],
    }
    pending = payment_behavior == "pending_if_incomplete"
    stored = copy.deepcopy(sub) if pending else sub
    sub["trial_end"] = now
    if not pending:
        # Stripe sends trial_will_end "when a trial is ended immediately (using trial_end=now)" too. A pending
        # update sends it when the trial does end (pending_updates.apply).
        billing.send_trial_will_end(store, sub)
        if not billing.trial_may_end(store, sub, customer, now):
            return sub
    sub["status"] = "active"
    invoice = _bill_new_period(store, sub, customer, now)
    charge = invoice["status"] == "open" and sub["collection_method"] == "charge_automatically"
    if charge and payment_behavior in ("pending_if_incomplete", "error_if_incomplete"):
        # Paid before the trial ends: a decline fails the request (nothing is kept) or leaves the end pending,
        # as for a change of items (changes.change_items).
        result = invoicing.attempt_payment(store, invoice, now, processor)
        if not result.succeeded:
            if payment_behavior == "error_if_incomplete":
                raise billing.first_payment_error(result)
            return pending_updates.hold(store, stored, sub, invoice, now)
        charge = False
        if pending:
            billing.send_trial_will_end(store, sub)
    if charge and payment_behavior == "default_incomplete":
        sub["status"] = "past_due"  # until the invoice is paid (billing.after_invoice_paid)
    elif charge and not billing.collect(store, invoice, now, processor).succeeded:
        sub["status"] = "past_due"
    subscriptions.save(store, sub, previous=previous)
    return sub


# -- resume ------------------------------------------------------------------------------------------------------
def _anchor(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("type")
    return str(value or "now")


def resume(
    store: Store, wall_now: int, sub_id: str, values: dict[str, Any], processor: PaymentProcessor
) -> Doc:
    """``POST /v1/subscriptions/{id}/resume`` (https://docs.stripe.com/billing/subscriptions/pause#resume).

    ``billing_cycle_anchor=now`` (default): a new period starts now and is invoiced at once. ``unchanged``: the
    period the anchor puts ``now`` in continues, and its remaining time is prorated per ``proration_behavior``
    (``create_prorations`` leaves pending items for the next renewal, ``always_invoice`` invoices them now, ``none``
    charges nothing). Without a resumption invoice to pay the subscription is active at once. With one (finalized at
    once), ``payment_behavior`` decides (https://docs.stripe.com/changelog/dahlia/2026-05-27/pause-subscriptions):
    ``resume_on_payment_attempt`` (default) attempts nothing in the request; the subscription resumes when a payment
    is attempted (``/pay``: ``active`` if it succeeds, ``past_due`` without retries if not), and with no attempt
    within 23 hours the invoice is voided and the subscription stays paused. ``resume_on_payment_success`` charges
    in the request and stays paused until the invoice is paid, retrying on the dunning schedule.
    """
    sub = subscriptions.get_subscription(store, sub_id, for_update=True)
    if sub["status"] != "paused":
        raise InvalidRequest(
            f"Only a paused subscription can be resumed; {sub_id} is {sub['status']}.", param="subscription"
        )
    if sub.get("billfold_resumption"):
        raise InvalidRequest(
            f"This subscription is already resuming: invoice {sub['billfold_resumption']['invoice']} awaits "
            "payment.",
            param="subscription",
        )
    if sub["collection_method"] != "charge_automatically":
        raise InvalidRequest(
            "Resume is only available for subscriptions that use charge_automatically collection.",
            param="subscription",
        )
    anchor = _anchor(values.get("billing_cycle_anchor"))
    behavior = values.get("proration_behavior") or "create_prorations"
    pay_behavior = values.get("payment_behavior") or "resume_on_payment_attempt"
    proration_date = values.get("proration_date")
    if anchor == "now" and proration_date is not None:
        raise InvalidRequest(
            "proration_date only applies when billing_cycle_anchor is unchanged.", param="proration_date"
        )
    customer = get_customer(store, sub["customer"])
    now = subscriptions.customer_now(store, customer, wall_now)
    previous: Doc = {
        "status": sub["status"],
        "status_details": sub.get("status_details"),
        "billing_cycle_anchor": sub["billing_cycle_anchor"],
        "latest_invoice": sub.get("latest_invoice"),
    }
    invoice: Doc | None = None
    if anchor == "now":
        invoice = _bill_new_period(store, sub, customer, now)
    else:
        invoice = _resume_unchanged(store, sub, customer, now, behavior, proration_date)
    if invoice is not None and invoice["status"] == "open":
        resumption: Doc = {"invoice": invoice["id"], "payment_behavior": pay_behavior}
        if pay_behavior == "resume_on_payment_attempt":
            # No payment in the request; the subscription resumes when a payment of the invoice is attempted.
            resumption["expires_at"] = now + subscriptions.INCOMPLETE_EXPIRY_SECONDS
        elif invoicing.attempt_payment(store, invoice, now, processor).succeeded:
            resumption = {}
        else:
            # Paused until the invoice is paid; it is retried on the dunning schedule.
            billing.payment_failed(store, invoice, now, automatic=True)
        if resumption:
            sub["billfold_resumption"] = resumption
            subscriptions.save(store, sub, previous=previous)
            return sub
    sub["status"] = "active"
    sub["status_details"] = None
    subscriptions.save(store, sub, previous=previous)
    store.record("customer.subscription.resumed", sub)
    return sub


def _resume_unchanged(
    store: Store, sub: Doc, customer: Doc, now: int, behavior: str, proration_date: int | None
) -> Doc | None:
    interval, count = _interval(sub)
    start, end = periods.period_containing(int(sub["billing_cycle_anchor"]), interval, count, now)
    t = now if proration_date is None else proration_date
    if not start <= t < end:
        raise InvalidRequest(
            "proration_date must fall within the current billing period.", param="proration_date"
        )
    _set_period(sub, start, end)
    if behavior == "none":
        return None
    debits = changes.remaining_time_debits(store, sub, customer, now, t)
    changes.record_items(store, debits, now)
    if behavior != "always_invoice" or not debits:
        return None
    pending = changes.pending_items(store, sub["id"])
    draft = invoice_facts.draft_for_items(store, sub, customer, pending, now)
    return _issue_now(store, sub, customer, draft, now, pending)


# -- pause ---------------------------------------------------------------------------------------------------------
PAUSABLE = ("active", "trialing", "past_due")


def pause_now(
    store: Store, wall_now: int, sub_id: str, values: dict[str, Any], processor: PaymentProcessor
) -> Doc:
    """``POST /v1/subscriptions/{id}/pause`` (https://docs.stripe.com/billing/subscriptions/pausing): status
    ``paused`` now (no invoices, no new periods until ``resume``). ``bill_for[unused_time_from]`` credits the licensed
    items' unused time from ``now`` (default), from the period's start, or not at all (``none``);
    ``bill_for[outstanding_usage_through]`` bills the metered usage to date (``now``, default) or discards it
    (``none``). ``invoicing_behavior``: ``pending_invoice_item`` (default) leaves those for the next invoice,
    ``invoice`` issues them on an invoice at once. A subscription with a schedule can't be paused."""
    sub = subscriptions.get_subscription(store, sub_id, for_update=True)
    if sub["status"] not in PAUSABLE:
        raise InvalidRequest(
            f"Only an active, trialing or past_due subscription can be paused; {sub_id} is {sub['status']}.",
            param="subscription",
        )
    if sub.get("schedule"):
        raise InvalidRequest(
            f"Subscription {sub_id} is managed by schedule {sub['schedule']}; release the schedule to pause it.",
            param="subscription",
        )
    bill_for = values.get("bill_for") or {}
    unused_from = (bill_for.get("unused_time_from") or {}).get("type") or "now"
    usage_through = (bill_for.get("outstanding_usage_through") or {}).get("type") or "now"
    customer = get_customer(store, sub["customer"])
    now = subscriptions.customer_now(store, customer, wall_now)
    start, end = subscriptions.period(sub)
    billed = sub["status"] != "trialing" and start <= now < end
    items: list[Doc] = []
    if billed and unused_from != "none":
        t = start if unused_from == "item_current_period_start" else now
        items += changes.unused_time_credits(store, sub, customer, t)
    for item in sub["items"]["data"]:
        if invoice_facts.is_metered(item["price"]):
            if billed and usage_through == "now":
                used = usage_items.usage_item(store, sub, item, start, now, now)
                items += [used] if used else []
            item[usage_items.USAGE_SINCE] = now  # what came before is billed above, or discarded
    changes.record_items(store, items, now)
    previous = {"latest_invoice": sub.get("latest_invoice")}
    if items and values.get("invoicing_behavior") == "invoice":
        draft = invoice_facts.draft_for_items(store, sub, customer, items, now)
        invoice = _issue_now(store, sub, customer, draft, now, items)
        if invoice["status"] == "open" and sub["collection_method"] == "charge_automatically":
            invoicing.attempt_payment(store, invoice, now, processor)
    if sub.get("latest_invoice") == previous["latest_invoice"]:
        previous = {}
    billing.pause(store, sub, now, "pause_requested", previous=previous)
    return sub


# -- cancel now --------------------------------------------------------------------------------------------------
def cancel_now(
    store: Store, wall_now: int, sub_id: str, values: dict[str, Any], processor: PaymentProcessor
) -> Doc:
    """``DELETE /v1/subscriptions/{id}`` (https://docs.stripe.com/api/subscriptions/cancel): ``prorate`` credits
    the unused time of the current period (pending invoice items); ``invoice_now`` issues a final invoice of the
    subscription's pending items and its metered usage to date at once; ``cancellation_details`` records the
    customer's comment and feedback."""
    sub = subscriptions.get_subscription(store, sub_id, for_update=True)
    if sub["status"] in subscriptions.ENDED_STATUSES:
        raise InvalidRequest(
            f"Subscription {sub_id} has already ended (status {sub['status']}).", param="subscription"
        )
    customer = get_customer(store, sub["customer"])
    now = subscriptions.customer_now(store, customer, wall_now)
    return end_now(store, sub, customer, now, values, processor)


def end_now(
    store: Store, sub: Doc, customer: Doc, now: int, values: dict[str, Any], processor: PaymentProcessor
) -> Doc:
    """End a live subscription at ``now`` with ``prorate`` / ``invoice_now`` / ``cancellation_details`` (the
    subscription cancel endpoint, and a subscription schedule's cancel)."""
    previous = {"latest_invoice": sub.get("latest_invoice")}
    start, end = subscriptions.period(sub)
    billed = sub["status"] not in ("trialing", "paused", "incomplete")
    if values.get("prorate") and billed and start <= now < end:
        changes.record_items(store, changes.unused_time_credits(store, sub, customer, now), now)
    if values.get("invoice_now"):
        # "A final invoice that invoices for any un-invoiced metered usage and new/pending proration invoice items"
        # (https://docs.stripe.com/api/subscriptions/cancel#cancel_subscription-invoice_now).
        pending = changes.pending_items(store, sub["id"])
        metered = billed and invoice_facts.has_metered_items(sub) and start <= now  # usage through `now`
        if pending or metered:
            used = (start, min(now, end)) if metered else None
            draft = invoice_facts.draft_for_items(store, sub, customer, pending, now, usage_period=used)
            invoice = _issue_now(store, sub, customer, draft, now, pending, final_usage=metered)
            if invoice["status"] == "open" and sub["collection_method"] == "charge_automatically":
                invoicing.attempt_payment(store, invoice, now, processor)
    billing.cancel(
        store,
        sub,
        now,
        reason="cancellation_requested",
        details=values.get("cancellation_details"),
        previous=previous if sub.get("latest_invoice") != previous["latest_invoice"] else None,
    )
    return sub
