"""The billing loop: start a subscription, renew it at each period end, end trials, finalize drafts after the draft
window, collect payment and dun when it fails, send the notices due before a renewal — driven by time (a test
clock's or the wall clock's), one due action at a time.

Each due action runs in the caller's unit of work. A period is billed at most once: ``claim_period`` is a unique
database constraint, so a retried or concurrent bill run finds the period taken and moves on. What a subscription
waits for is computed in one place, ``subscriptions.due_actions``; ``subscription_due`` performs the earliest.
"""

from __future__ import annotations

from typing import Any, cast

from billfold.core import periods
from billfold.core.invoice import InvoiceDraft, ProrationFraction

from . import (
    account_settings,
    change_requests,
    changes,
    dunning,
    invoice_documents,
    invoice_facts,
    invoice_items,
    invoicing,
    pending_updates,
    schedules,
    subscriptions,
)
from .customers import customer_index, get_customer
from .errors import CardDeclined, InvalidRequest
from .ports import ChargeResult, Doc, PaymentProcessor, Store

PAYMENT_BEHAVIORS = ("allow_incomplete", "default_incomplete", "error_if_incomplete")


class FirstPaymentFailed(CardDeclined):
    """``payment_behavior=error_if_incomplete``: the first payment failed, so the request fails (HTTP 402) and
    nothing it did is kept — unlike a declined ``/pay``, the unit of work rolls back."""

    commit_first = False


def payment_method(store: Store, sub: Doc, customer: Doc | None = None) -> str | None:
    """The payment method a subscription's invoices are charged to: its own default, else the customer's."""
    if sub.get("default_payment_method"):
        return str(sub["default_payment_method"])
    customer = customer or store.get("customer", sub["customer"]) or {}
    pm = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return str(pm) if pm else None


def subscription_of(store: Store, invoice: Doc) -> Doc | None:
    sub_id = invoice_facts.subscription_id_of(invoice)
    return store.get("subscription", sub_id, for_update=True) if sub_id else None


def subscription_view(store: Store, invoice: Doc) -> Doc | None:
    """The invoice's subscription, read-only (``Store.view``): for checks that change nothing."""
    sub_id = invoice_facts.subscription_id_of(invoice)
    sub = store.view("subscription", sub_id) if sub_id else None
    return None if sub is None or sub.get("deleted") else sub


def set_status(store: Store, sub: Doc, status: str, *, event: str = "customer.subscription.updated") -> None:
    previous: Doc = {"status": sub["status"]}
    sub["status"] = status
    if status != "paused" and sub.get("status_details"):
        previous["status_details"] = sub["status_details"]
        sub["status_details"] = None
    subscriptions.save(store, sub, previous=previous, event=event)


# -- start -------------------------------------------------------------------------------------------------------
def start_subscription(
    store: Store, wall_now: int, values: dict[str, Any], processor: PaymentProcessor
) -> Doc:
    """Create a subscription and its first invoice, finalized at once and charged per ``payment_behavior``
    (https://docs.stripe.com/billing/subscriptions/overview#payment-behavior)."""
    behavior = values.pop("payment_behavior", None) or "allow_incomplete"
    if behavior not in PAYMENT_BEHAVIORS:
        raise InvalidRequest(
            f"payment_behavior={behavior} is only used with updates and cannot be passed when creating a "
            "subscription.",
            param="payment_behavior",
        )
    added = values.pop("add_invoice_items", None) or []
    sub, discounts = subscriptions.create_subscription(store, wall_now, values)
    customer = get_customer(store, sub["customer"], param="customer")
    now = sub["created"]
    subscriptions.persist_new(store, sub, discounts)
    if not customer.get("currency"):
        customer["currency"] = sub["currency"]
        store.replace(customer, customer_index(customer))

    # ``add_invoice_items``: one-time charges on the first invoice (charged at once, also during a trial).
    items = invoice_items.add_for_subscription(store, sub, customer, added, now, subscriptions.period(sub))
    draft = first_invoice_draft(store, sub, customer, items)
    start = subscriptions.period(sub)[0]
    invoice = invoice_documents.invoice_doc(
        store, draft, customer, sub, billing_reason="subscription_create", now=now
    )
    store.claim_period(sub["id"], start, invoice["id"])
    invoicing.create_draft(store, invoice)
    changes.mark_invoiced(store, items, invoice["id"])
    invoicing.finalize(store, invoice, now)
    charge = sub["collection_method"] == "charge_automatically" and behavior != "default_incomplete"
    if invoice["status"] == "open" and charge:
        result = invoicing.attempt_payment(store, invoice, now, processor)
        if not result.succeeded and behavior == "error_if_incomplete":
            raise first_payment_error(result)
    previous = {"status": sub["status"], "latest_invoice": None}
    sub["latest_invoice"] = invoice["id"]
    consume_once_discounts(store, sub, invoice)
    if sub["status"] != "trialing":
        paid = invoice["status"] == "paid"
        sub["status"] = "active" if paid or sub["collection_method"] == "send_invoice" else "incomplete"
    subscriptions.save(store, sub, previous=previous)
    return sub


def first_invoice_draft(store: Store, sub: Doc, customer: Doc, items: list[Doc]) -> InvoiceDraft:
    """The first invoice of a new subscription, with its one-time ``items``: what ``start_subscription`` issues and
    what ``preview_new_subscription`` shows, computed by the same generator from the same facts."""
    start, end = subscriptions.period(sub)
    trial = sub["status"] == "trialing"
    proration = None
    anchor = sub["billing_cycle_anchor"]
    if not trial and anchor > start:
        # A stub period to a future anchor is prorated against the full period that ends at the anchor.
        rec = sub["items"]["data"][0]["price"]["recurring"]
        full_start = periods.add_interval(anchor, rec["interval"], int(rec.get("interval_count", 1)), -1)
        proration = ProrationFraction(end - start, end - full_start)
    return invoice_facts.draft_for_period(
        store,
        sub,
        customer,
        start,
        end,
        sub["created"],
        trial=trial,
        proration=proration,
        extra_lines=invoice_facts.item_lines(store, items),
    )


def preview_new_subscription(store: Store, wall_now: int, values: dict[str, Any]) -> Doc:
    """``POST /v1/invoices/create_preview`` with ``customer`` and ``subscription_details`` but no ``subscription``:
    the first invoice the subscription ``values`` describe would get if it were created now (the same checks and
    the same draft as ``start_subscription``). Nothing is stored: its new discounts are seen through an overlay,
    and its ids (the subscription's, its items', the lines') are not reserved."""
    sub, discounts = subscriptions.create_subscription(store, wall_now, values)
    customer = dict(get_customer(store, sub["customer"], param="customer"))
    customer["currency"] = customer.get("currency") or sub["currency"]
    view = cast(Store, change_requests.Unsaved(store, list(discounts)))
    draft = first_invoice_draft(view, sub, customer, [])
    return invoice_documents.invoice_doc(
        view,
        draft,
        customer,
        sub,
        billing_reason="subscription_create",
        now=sub["created"],
        invoice_id="upcoming_" + sub["id"],
    )


def drop_ended_discounts(store: Store, sub: Doc, at: int) -> None:
    """A discount whose ``end`` has passed (a ``repeating`` coupon's months are over) leaves the subscription and its
    items, so the next invoice neither applies nor lists it."""
    holders = [sub, *sub["items"]["data"]]
    ended = set()
    for did in {d for h in holders for d in h.get("discounts") or []}:
        d = store.view("discount", did)  # read-only; the generator reads the same version next
        if d is not None and d.get("end") is not None and int(d["end"]) <= at:
            ended.add(did)
    for holder in holders:
        if ended & set(holder.get("discounts") or []):
            holder["discounts"] = [d for d in holder["discounts"] if d not in ended]


def consume_once_discounts(store: Store, sub: Doc, invoice: Doc) -> None:
    """A ``duration=once`` coupon applies to one invoice: once an invoice used it, the subscription (or its item)
    no longer carries the discount (https://docs.stripe.com/billing/subscriptions/coupons)."""
    used = {d["discount"] for d in invoice.get("total_discount_amounts") or [] if d.get("amount")}
    for line in invoice["lines"]["data"]:
        used |= {d["discount"] for d in line.get("discount_amounts") or [] if d.get("amount")}
    if not used:
        return
    holders = [sub, *sub["items"]["data"]]
    found = store.get_many("discount", [d for h in holders for d in h.get("discounts") or [] if d in used])
    once = set()
    for did, discount in found.items():
        coupon = store.get("coupon", discount["source"]["coupon"])
        if coupon is not None and coupon.get("duration") == "once":
            once.add(did)
    for holder in holders:
        if once & set(holder.get("discounts") or []):
            holder["discounts"] = [d for d in holder["discounts"] if d not in once]


def first_payment_error(result: ChargeResult) -> Exception:
    if result.decline_code == "payment_method_missing":
        return InvalidRequest(
            "This customer has no attached payment source or default payment method. Add a default payment "
            "method (invoice_settings[default_payment_method]) or pass default_payment_method.",
            code="resource_missing",
        )
    return FirstPaymentFailed(result.message or "Your card was declined.", code="card_declined")


# -- due actions -------------------------------------------------------------------------------------------------
def subscription_due(store: Store, sub: Doc, at: int, processor: PaymentProcessor) -> Doc | None:
    """Perform the subscription's earliest due action (``subscriptions.due_actions``) at instant ``at``. Returns
    the renewal's draft invoice when the action made one (app/due.py may finalize it at once when catching up)."""
    notice = account_settings.upcoming_notice_seconds(store)
    due = [action for instant, action in subscriptions.due_actions(sub, notice) if instant <= at]
    if not due:
        subscriptions.save(store, sub, event=None)  # a stale due instant: store the current one
        return None
    action = due[0]
    if action == "period_end":
        return renew(store, sub, at)
    if action == "cancel":
        end_at_cancel_at(store, sub, at)
    elif action == "expire_incomplete":
        expire_incomplete(store, sub, at)
    elif action == "expire_resumption":
        expire_resumption(store, sub, at)
    elif action == "expire_pending_update":
        pending_updates.discard(store, sub, at, expired=True)
    elif action == "resume_collection":
        previous = {"pause_collection": sub["pause_collection"]}
        sub["pause_collection"] = None
        subscriptions.save(store, sub, previous=previous)
    elif action == "trial_will_end":
        send_trial_will_end(store, sub)
    elif action == "upcoming":
        send_upcoming(store, sub)
    return None


def renew(store: Store, sub: Doc, at: int) -> Doc | None:
    """Close the period ending at ``at`` and open the next one, invoicing it as a draft (returned; None when no
    renewal invoice was made).

    At a trial's end without a payment method, ``trial_settings.end_behavior.missing_payment_method`` decides:
    ``create_invoice`` (renew; the payment will fail and dunning starts), ``pause`` or ``cancel``
    (https://docs.stripe.com/billing/subscriptions/trials/free-trials#create-free-trials-without-payment).
    """
    if sub.get("cancel_at_period_end") or (sub.get("cancel_at") and sub["cancel_at"] <= at):
        end_at_cancel_at(store, sub, at)  # at the period's end: what is still owed, no unused time
        return None
    customer = get_customer(store, sub["customer"])
    if sub["status"] == "trialing" and not trial_may_end(store, sub, customer, at):
        return None
    previous: Doc = {"status": sub["status"]}
    # Metered usage of the period that ends now is billed in arrears on this invoice; usage during a trial is not.
    used = None if sub["status"] == "trialing" else subscriptions.period(sub)
    start, end = invoicing.next_period(sub, at)
    for item in sub["items"]["data"]:
        previous.setdefault("items", {"current_period_start": item["current_period_start"]})
        item["current_period_start"], item["current_period_end"] = start, end
    if sub["status"] == "trialing":
        sub["status"] = "active"
    drop_ended_discounts(store, sub, at)
    pending = invoice_items.collect_for_renewal(store, sub)
    extra = invoice_facts.proration_lines(store, sub, pending)
    draft = invoice_facts.draft_for_period(
        store, sub, customer, start, end, at, extra_lines=extra, usage_period=used
    )
    invoice = invoice_documents.invoice_doc(
        store, draft, customer, sub, billing_reason="subscription_cycle", now=at
    )
    made = store.claim_period(sub["id"], start, invoice["id"])
    if made:
        pause = sub.get("pause_collection") or {}
        if sub["status"] == "unpaid" or pause.get("behavior") == "keep_as_draft":
            # An unpaid subscription's invoices, and those made while collection is paused with keep_as_draft,
            # stay drafts that are never finalized automatically (https://docs.stripe.com/billing/subscriptions/
            # overview#unpaid, https://docs.stripe.com/billing/subscriptions/pause-payment).
            invoice["auto_advance"] = False
        else:
            invoice["automatically_finalizes_at"] = at + account_settings.draft_window_seconds(store)
        invoicing.create_draft(store, invoice)
        changes.mark_invoiced(store, pending, invoice["id"])
        sub["latest_invoice"] = invoice["id"]
        consume_once_discounts(store, sub, invoice)
    subscriptions.save(store, sub, previous=previous)
    return invoice if made else None


def final_invoice(store: Store, sub: Doc, customer: Doc, at: int) -> None:
    """A subscription ending at its period's end (``cancel_at_period_end``, ``cancel_at``): what it still owes is
    invoiced once more — the metered usage of the period that ends (in arrears) and the pending prorations, which
    Stripe leaves in place to be "collected at the end of the period" (https://docs.stripe.com/api/subscriptions/
    cancel). The invoice is a draft finalized and collected after the draft window, like a renewal; nothing is
    created when nothing is owed. Claimed as the period starting at ``at``, so it is made once."""
    billed = sub["status"] not in ("trialing", "paused", "incomplete", "incomplete_expired")
    start, end = subscriptions.period(sub)
    used = (start, min(end, at)) if billed and invoice_facts.has_metered_items(sub) and start < at else None
    pending = invoice_items.collect_for_renewal(store, sub)
    if used is None and not pending:
        return
    draft = invoice_facts.draft_for_items(store, sub, customer, pending, at, usage_period=used)
    invoice = invoice_documents.invoice_doc(
        store, draft, customer, sub, billing_reason="subscription_cycle", now=at
    )
    if used is not None:
        invoice[invoice_facts.USAGE_THROUGH_END] = True
    if store.claim_period(sub["id"], at, invoice["id"]):
        invoice["automatically_finalizes_at"] = at + account_settings.draft_window_seconds(store)
        invoicing.create_draft(store, invoice)
        changes.mark_invoiced(store, pending, invoice["id"])
        sub["latest_invoice"] = invoice["id"]


def end_at_cancel_at(store: Store, sub: Doc, at: int) -> None:
    """The subscription's ``cancel_at`` has come. Before it ends, what it still owes is invoiced as at a period's
    end (``final_invoice``: the metered usage so far, pending prorations) together with, when ``cancel_at`` falls
    inside a billed period and ``billfold_cancel_at_credit`` says so, a proration credit for the unused time after
    it — of what each licensed item was actually billed for that time, as an immediate cancellation with
    ``prorate`` credits it. Stripe makes that proration when ``cancel_at`` is set; Billfold makes it when the
    subscription ends, so a ``cancel_at`` changed or withdrawn before then leaves nothing to reverse."""
    customer = get_customer(store, sub["customer"])
    start, end = subscriptions.period(sub)
    billed = sub["status"] not in ("trialing", "paused", "incomplete", "incomplete_expired")
    if billed and start <= at < end and sub.get("billfold_cancel_at_credit", True):
        changes.record_items(store, changes.unused_time_credits(store, sub, customer, at), at)
    final_invoice(store, sub, customer, at)
    cancel(store, sub, at, reason="cancellation_requested")


def trial_may_end(store: Store, sub: Doc, customer: Doc, at: int) -> bool:
    """Whether a trial ending at ``at`` goes on to a paid period; if not, pause or cancel the subscription."""
    if payment_method(store, sub, customer):
        return True
    end_behavior = (sub.get("trial_settings") or {}).get("end_behavior") or {}
    behavior = end_behavior.get("missing_payment_method") or "create_invoice"
    if behavior == "cancel":
        cancel(store, sub, at, reason="cancellation_requested")
        return False
    if behavior == "pause":
        pause(store, sub, at, "trial_end_without_payment_method")
        return False
    return True


def pause(store: Store, sub: Doc, at: int, reason: str, *, previous: Doc | None = None) -> None:
    """Status ``paused``: no new periods and no invoices until resumed (https://docs.stripe.com/billing/
    subscriptions/pause). ``previous``: earlier values of fields the caller changed in the same step."""
    previous = {**(previous or {}), "status": sub["status"], "status_details": sub.get("status_details")}
    sub["status"] = "paused"
    sub["status_details"] = {
        "paused": {"subscription": {"type": reason}, "transitioned_at": at, "type": "subscription"}
    }
    subscriptions.save(store, sub, previous=previous)
    store.record("customer.subscription.paused", sub)


def cancel(
    store: Store,
    sub: Doc,
    at: int,
    *,
    reason: str = "cancellation_requested",
    details: dict[str, Any] | None = None,
    previous: Doc | None = None,
) -> Doc:
    """End the subscription now and stop automatic collection of its open invoices (Stripe's default on
    cancellation: https://docs.stripe.com/api/subscriptions/cancel). ``previous``: earlier values of fields the
    caller changed in the same step, for the event's ``previous_attributes``."""
    previous = {**(previous or {}), "status": sub["status"]}
    if sub.pop("billfold_pending_update", None):  # a change waiting for payment can't apply anymore
        previous["pending_update"] = sub["pending_update"]
        sub["pending_update"] = None
    sub["status"] = "canceled"
    sub["canceled_at"] = sub.get("canceled_at") or at
    sub["ended_at"] = at
    cancellation = sub["cancellation_details"]
    cancellation["reason"] = reason
    for key in ("comment", "feedback"):
        if details and key in details:
            cancellation[key] = details[key] or None
    subscriptions.save(store, sub, previous=previous, event="customer.subscription.deleted")
    for invoice in list(store.iterate("invoice", {"parent": sub["id"], "status": "open"})):
        if invoice.get("auto_advance") and invoice["collection_method"] == "charge_automatically":
            invoice["auto_advance"] = False
            invoice["next_payment_attempt"] = None
            invoicing.save(store, invoice, "invoice.updated")
    return sub


def expire_incomplete(store: Store, sub: Doc, at: int) -> None:
    """23 hours without a paid first invoice: void it; the subscription is ``incomplete_expired`` (terminal)."""
    latest = store.get("invoice", sub["latest_invoice"]) if sub.get("latest_invoice") else None
    if latest and latest["status"] == "open":
        invoicing.void(store, latest, at)
    sub["canceled_at"] = sub.get("canceled_at") or at
    sub["ended_at"] = at
    set_status(store, sub, "incomplete_expired")


def expire_resumption(store: Store, sub: Doc, at: int) -> None:
    """A resumption invoice with no payment attempt within 23 hours is voided; the subscription stays paused."""
    resumption = sub.pop("billfold_resumption")
    invoice = store.get("invoice", resumption["invoice"])
    if invoice and invoice["status"] == "open":
        invoicing.void(store, invoice, at)
    subscriptions.save(store, sub, event=None)


def send_trial_will_end(store: Store, sub: Doc) -> None:
    sub.setdefault("billfold_notices", {})["trial_will_end"] = sub["trial_end"]
    subscriptions.save(store, sub, event="customer.subscription.trial_will_end")


def send_upcoming(store: Store, sub: Doc) -> None:
    """``invoice.upcoming``: the renewal invoice as a preview, once per period, the account's
    ``upcoming_invoice_notice_days`` early."""
    end = subscriptions.period(sub)[1]
    if not schedules.cancels_at(store, sub, end):  # a schedule that ends the subscription then: no renewal
        store.record("invoice.upcoming", preview_next_invoice(store, sub))
    sub.setdefault("billfold_notices", {})["upcoming"] = end
    subscriptions.save(store, sub, event=None)


# -- invoices ----------------------------------------------------------------------------------------------------
def invoice_due(store: Store, invoice: Doc, at: int, processor: PaymentProcessor) -> None:
    """A draft whose window has passed (finalize and collect), or an open invoice whose retry is due."""
    if invoice["status"] == "draft":
        pause = (subscription_view(store, invoice) or {}).get("pause_collection") or {}
        if pause.get("behavior") == "keep_as_draft":  # collection was paused during the draft window
            invoice["auto_advance"] = False
            invoice["automatically_finalizes_at"] = None
            invoicing.save(store, invoice, "invoice.updated")
            return
        invoicing.finalize(store, invoice, at)
        if invoice["status"] == "paid":
            after_invoice_paid(store, invoice, at)
            return
        if pause.get("behavior") == "void":
            invoicing.void(store, invoice, at)
        elif pause.get("behavior") == "mark_uncollectible":
            invoicing.mark_uncollectible(store, invoice, at)
        elif invoice["collection_method"] == "charge_automatically":
            collect(store, invoice, at, processor)
    elif invoice["status"] == "open" and invoice["collection_method"] == "send_invoice":
        overdue(store, invoice, at)
    elif invoice["status"] == "open" and invoice.get("next_payment_attempt"):
        collect(store, invoice, at, processor)


def overdue(store: Store, invoice: Doc, at: int) -> None:
    """A ``send_invoice`` invoice still open at its due date: ``invoice.overdue``, and its subscription goes
    ``past_due`` ("If subscription collection_method=send_invoice it becomes past_due when its invoice is not paid
    by the due date", https://docs.stripe.com/api/subscriptions/object#subscription_object-status). Paying it brings
    the subscription back (``after_invoice_paid``)."""
    invoice["billfold_overdue_at"] = at
    invoicing.save(store, invoice, "invoice.overdue")
    sub = subscription_of(store, invoice)
    if sub is not None and sub["status"] == "active":
        set_status(store, sub, "past_due")


def collect(store: Store, invoice: Doc, at: int, processor: PaymentProcessor) -> ChargeResult:
    """An automatic payment attempt; on failure the subscription goes ``past_due`` and dunning takes over."""
    result = invoicing.attempt_payment(store, invoice, at, processor)
    if result.succeeded:
        after_invoice_paid(store, invoice, at)
    else:
        payment_failed(store, invoice, at, automatic=True)
    return result


def payment_failed(store: Store, invoice: Doc, at: int, *, automatic: bool) -> None:
    exhausted = dunning.record_failure(
        invoice, at, automatic=automatic, retry_days=account_settings.payment_retry_days(store)
    )
    invoicing.save(store, invoice, None)
    sub = subscription_of(store, invoice)
    if sub is not None and sub["status"] == "active" and automatic:
        set_status(store, sub, "past_due")
    if not exhausted:
        return
    if account_settings.failed_payment_invoice_action(store) == "mark_uncollectible":
        invoicing.mark_uncollectible(store, invoice, at)
    if sub is not None and sub["status"] == "past_due":
        final = account_settings.failed_payment_subscription_action(store)
        if final == "cancel":
            cancel(store, sub, at, reason="payment_failed")
        elif final == "unpaid":
            set_status(store, sub, "unpaid")


def after_invoice_paid(store: Store, invoice: Doc, at: int) -> None:
    """Bring the invoice's subscription back once what it owed is paid: ``incomplete`` / ``past_due`` /
    ``unpaid`` become ``active`` when no open invoice of the subscription remains, and a subscription paused until
    its resumption invoice is paid resumes. Call it after every payment of an invoice (automatic, ``/pay``, out of
    band)."""
    seen = subscription_view(store, invoice)
    if seen is None or not (
        pending_updates.settles(seen, invoice)
        or (seen["status"] == "paused" and seen.get("billfold_resumption"))
        or seen["status"] in ("incomplete", "past_due", "unpaid")
    ):
        return  # nothing to bring back (the common case: an active subscription's renewal was paid)
    sub = subscription_of(store, invoice)
    if sub is None:
        return
    if pending_updates.settles(sub, invoice):
        pending_updates.apply(store, sub)
        return
    resumption = sub.get("billfold_resumption")
    if sub["status"] == "paused" and resumption and resumption["invoice"] == invoice["id"]:
        sub.pop("billfold_resumption")
        set_status(store, sub, "active")
        store.record("customer.subscription.resumed", sub)
        return
    if sub["status"] not in ("incomplete", "past_due", "unpaid"):
        return
    still_open = [
        i
        for i in store.iterate("invoice", {"parent": sub["id"], "status": "open"})
        if i["id"] != invoice["id"]
    ]
    if not still_open:
        set_status(store, sub, "active")


def after_payment_failed(store: Store, invoice: Doc, at: int) -> None:
    """A payment attempt by hand failed (``POST /v1/invoices/{id}/pay``): keep the invoice's retry schedule
    (``attempt_payment`` clears ``next_payment_attempt``); a subscription resuming on this attempt resumes
    ``past_due`` (without retries)."""
    sub = subscription_of(store, invoice)
    resumption = (sub or {}).get("billfold_resumption") or {}
    resuming = sub is not None and sub["status"] == "paused" and resumption.get("invoice") == invoice["id"]
    if sub is not None and resuming and resumption.get("payment_behavior") == "resume_on_payment_attempt":
        sub.pop("billfold_resumption")
        set_status(store, sub, "past_due")
        store.record("customer.subscription.resumed", sub)
        return
    payment_failed(store, invoice, at, automatic=False)


def after_invoice_closed(store: Store, invoice: Doc, at: int) -> None:
    """An invoice was voided or marked uncollectible by hand (``POST /v1/invoices/{id}/void`` or
    ``/mark_uncollectible``). A resumption invoice marked uncollectible resumes its subscription; a voided one
    leaves it paused (POST /v1/subscriptions/{id}/resume documentation)."""
    sub = subscription_of(store, invoice)
    if sub is not None and invoice["status"] == "void" and pending_updates.settles(sub, invoice):
        # Voiding the invoice of a pending update discards the update.
        pending_updates.discard(store, sub, at, expired=False)
        return
    resumption = (sub or {}).get("billfold_resumption") or {}
    if sub is None or sub["status"] != "paused" or resumption.get("invoice") != invoice["id"]:
        return
    sub.pop("billfold_resumption")
    if invoice["status"] == "uncollectible":
        set_status(store, sub, "active")
        store.record("customer.subscription.resumed", sub)
    else:
        subscriptions.save(store, sub, event=None)


# -- preview -----------------------------------------------------------------------------------------------------
def preview_next_invoice(store: Store, sub: Doc) -> Doc:
    """The invoice the next renewal will create, computed by the same generator from the same facts.

    Nothing is stored. When nothing changes before the renewal, the real invoice equals this preview line for line.
    """
    customer = get_customer(store, sub["customer"])
    at = subscriptions.period(sub)[1]
    if (
        sub["status"] in subscriptions.ENDED_STATUSES
        or sub.get("cancel_at_period_end")
        or (sub.get("cancel_at") and sub["cancel_at"] <= at)
        or schedules.cancels_at(store, sub, at)
    ):
        raise InvalidRequest(
            f"Subscription {sub['id']} will not renew, so there is no upcoming invoice.",
            code="invoice_upcoming_none",
        )
    used = None if sub["status"] == "trialing" else subscriptions.period(sub)
    # A schedule's phase starting at the renewal changes what it bills (and bills the usage of metered items it
    # removes): the preview shows the subscription as the phase will make it.
    store, sub, removed_usage = schedules.as_scheduled(store, sub, at)
    start, end = invoicing.next_period(sub, at)
    preview = dict(sub)
    preview["items"] = {
        **sub["items"],
        "data": [
            {**i, "current_period_start": start, "current_period_end": end} for i in sub["items"]["data"]
        ],
    }
    drop_ended_discounts(store, preview, at)  # on the copy, as the renewal will on the subscription
    pending = invoice_items.collect_for_renewal(store, sub) + removed_usage
    extra = invoice_facts.proration_lines(store, sub, pending)
    draft = invoice_facts.draft_for_period(
        store, preview, customer, start, end, at, extra_lines=extra, usage_period=used
    )
    doc = invoice_documents.invoice_doc(
        store,
        draft,
        customer,
        preview,
        billing_reason="subscription_cycle",
        now=at,
        invoice_id="upcoming_" + sub["id"],
    )
    doc["automatically_finalizes_at"] = at + account_settings.draft_window_seconds(store)
    return doc
