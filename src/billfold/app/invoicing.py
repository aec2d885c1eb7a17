"""Invoices: stored documents in, ``core.invoice.generate`` in the middle, invoice documents out.

The same ``draft_for_period`` feeds the bill run and the preview, so a preview equals the invoice that follows.
Lifecycle (https://docs.stripe.com/invoicing/overview): draft -> open -> paid | void | uncollectible. A renewal
draft is finalized after the draft window (one hour, as Stripe); numbers are gapless per account and prefix.

A draft stays a function of its facts: ``recompute_draft`` rebuilds its lines from the subscription lines' stored
lineage (price, quantity, period, proration seconds) and the invoice items attached to it (each at its stored
amount), and runs the generator again, so an item added during the draft window changes the draft and the totals
always add up. The line of an invoice item has the id ``il_`` + the item's id (``il_ii_...``), so a line names the
item it came from and keeps its id when the draft is recomputed.
"""

from __future__ import annotations

from billfold.core import periods
from billfold.core.invoice import InvoiceFacts, generate

from . import customer_balance, emails
from .customers import balance_in
from .errors import InvalidRequest
from .invoice_documents import computed_fields
from .invoice_facts import (
    attached_items,
    discount_facts,
    item_lines,
    line_from_doc,
    line_item_id,
    subscription_id_of,
    tax_facts,
)
from .ports import ChargeResult, Doc, Index, PaymentProcessor, Store

# A one-off invoice with auto_advance finalizes about an hour after it is created (Stripe); a subscription's renewal
# draft waits the account's grace period (account_settings.draft_window_seconds).
DRAFT_WINDOW_SECONDS = 3600


# -- recomputing a draft -------------------------------------------------------------------------------------------
def recompute_draft(store: Store, invoice: Doc) -> Doc:
    """Rebuild a draft from its facts (subscription lines' lineage + attached invoice items) and generate it again.

    Updates ``invoice`` in place and returns the previous values of what changed (nothing is saved here).
    """
    if invoice["status"] != "draft":
        raise InvalidRequest(f"Invoice {invoice['id']} is {invoice['status']}; only a draft can change.")
    customer = store.get("customer", invoice["customer"]) or {}
    sub_id = subscription_id_of(invoice)
    sub = store.get("subscription", sub_id) if sub_id else None
    kept = [line for line in invoice["lines"]["data"] if line_item_id(line["id"]) is None]
    lines = item_lines(store, attached_items(store, invoice)) + [
        line_from_doc(store, line, sub, invoice) for line in kept
    ]
    facts = InvoiceFacts(
        currency=invoice["currency"],
        customer_balance=balance_in(customer, invoice["currency"]),
        period_start=invoice["period_start"],
        period_end=invoice["period_end"],
        lines=tuple(lines),
        invoice_discounts=discount_facts(store, invoice.get("discounts") or []),
        default_tax_rates=tax_facts(invoice.get("default_tax_rates") or []),
    )
    line_items = {
        line["id"]: details["subscription_item"]
        for line in kept
        if (details := (line.get("parent") or {}).get("subscription_item_details") or {}).get(
            "subscription_item"
        )
    }
    computed = computed_fields(
        store, generate(facts, int(invoice["created"])), invoice["id"], sub, line_items=line_items
    )
    previous = {k: invoice.get(k) for k, v in computed.items() if invoice.get(k) != v}
    invoice.update(computed)
    return previous


def refresh_draft(store: Store, invoice: Doc) -> Doc:
    """Recompute a draft after its facts changed and save it with ``invoice.updated`` when anything moved."""
    previous = recompute_draft(store, invoice)
    if previous:
        store.replace(invoice, index(invoice))
        store.record("invoice.updated", invoice, previous_attributes=_public(previous))
    return invoice


def _public(values: Doc) -> Doc:
    return {k: v for k, v in values.items() if not k.startswith("billfold_")}


def due_at(doc: Doc) -> int | None:
    """When the worker must act on the invoice: finalize a draft after its window, retry a failed payment, or mark a
    ``send_invoice`` invoice overdue at its due date."""
    if (
        doc["status"] == "open"
        and doc["collection_method"] == "send_invoice"
        and doc.get("due_date") is not None
        and doc.get("billfold_overdue_at") is None
    ):
        return int(doc["due_date"])
    if not doc.get("auto_advance"):
        return None
    if doc["status"] == "draft":
        return doc.get("automatically_finalizes_at")
    if doc["status"] == "open" and doc["collection_method"] == "charge_automatically":
        return doc.get("next_payment_attempt")
    return None


def index(doc: Doc) -> Index:
    due = due_at(doc)
    sub = (doc.get("parent") or {}).get("subscription_details") or {}
    return Index(
        customer=doc["customer"],
        status=doc["status"],
        currency=doc["currency"],
        test_clock=doc.get("test_clock"),
        parent=sub.get("subscription"),
        due_at=due,
    )


def create_draft(store: Store, doc: Doc) -> Doc:
    store.insert(doc, index(doc), created=doc["created"], event="invoice.created")
    return doc


def save(store: Store, doc: Doc, event: str | None) -> None:
    store.replace(doc, index(doc), event=event)


# -- lifecycle ---------------------------------------------------------------------------------------------------
def finalize(store: Store, doc: Doc, now: int, *, email: bool = True) -> Doc:
    """Number the draft and make it ``open`` (``paid`` when nothing is due). ``email``: a ``send_invoice`` invoice
    with ``auto_advance`` is then e-mailed to its customer (``emails.sends_finalized_invoices``)."""
    if doc["status"] != "draft":
        raise InvalidRequest(f"This invoice is already finalized (status {doc['status']}).", param="invoice")
    customer = store.get("customer", doc["customer"], for_update=True) or {}  # its balance changes
    metered = any(line["lineage"].get("usage_type") == "metered" for line in doc["lines"]["data"])
    # Usage reported during the draft window for the period it bills is included: count it again now. The
    # balance is the one at finalization ("The invoice balance automatically applies toward the next invoice
    # finalized", https://docs.stripe.com/billing/customer/balance): a draft made before another invoice used the
    # credit, or before an adjustment, is computed again so a credit is never applied twice.
    if metered or (
        customer and int(doc.get("starting_balance") or 0) != balance_in(customer, doc["currency"])
    ):
        refresh_draft(store, doc)
    prefix = customer.get("invoice_prefix") or "INV"
    doc["number"] = store.next_invoice_number(prefix, doc["id"])
    doc["status"] = "open"
    doc["status_transitions"]["finalized_at"] = now
    doc["effective_at"] = now
    doc["automatically_finalizes_at"] = None
    # Apply the customer balance now, as Stripe does at finalization.
    applied = int(doc.get("billfold_applied_balance") or 0)
    doc["ending_balance"] = int(doc.get("billfold_ending_balance") or 0)
    if customer and applied:
        previous: Doc = {"balance": int(customer.get("balance") or 0)}
        if customer.get("currency") is None:  # a balance set directly before the customer had a currency
            previous["currency"] = None
            customer["currency"] = doc["currency"]
        # ``applied`` is what the balance added to the total (negative: a credit used), so the balance moves by
        # ``-applied`` = ending_balance - starting_balance: an ``applied_to_invoice`` transaction of +500 for a
        # 5.00 credit used (Stripe's sign: positive is a debit to the balance;
        # https://docs.stripe.com/api/customer_balance_transactions/object).
        customer_balance.record(
            store,
            customer,
            -applied,
            type="applied_to_invoice",
            currency=doc["currency"],
            now=now,
            invoice=doc["id"],
        )
        # The balance applied to the invoice is a change of the customer: its event and audit row.
        store.record("customer.updated", customer, previous_attributes=previous)
    if doc["collection_method"] == "send_invoice" and doc.get("due_date") is None:
        sub_id = subscription_id_of(doc)
        sub = store.get("subscription", sub_id) if sub_id else None
        days = doc.get("billfold_days_until_due")
        if days is None:
            days = (sub or {}).get("days_until_due") or 30
        doc["due_date"] = now + int(days) * 86400
    if customer:  # the customer's details are frozen on the invoice when it is finalized
        doc["customer_email"] = customer.get("email")
        doc["customer_name"] = customer.get("name")
    save(store, doc, "invoice.finalized")
    if doc["amount_due"] == 0:
        mark_paid(store, doc, now, out_of_band=False)
    elif email and emails.sends_finalized_invoices(store, doc):
        emails.invoice_sent(store, doc, now)
    return doc


def mark_paid(store: Store, doc: Doc, now: int, *, out_of_band: bool) -> Doc:
    doc["amount_paid"] = doc["amount_due"]
    doc["amount_remaining"] = 0
    doc["status"] = "paid"
    doc["status_transitions"]["paid_at"] = now
    doc["next_payment_attempt"] = None
    if out_of_band:
        doc["amount_paid_off_stripe"] = doc["amount_due"]
    save(store, doc, "invoice.paid")
    return doc


def payment_method_for(store: Store, doc: Doc) -> str | None:
    if doc.get("default_payment_method"):
        return str(doc["default_payment_method"])
    sub_id = subscription_id_of(doc)
    sub = store.view("subscription", sub_id) if sub_id else None
    if sub and sub.get("default_payment_method"):
        return str(sub["default_payment_method"])
    customer = store.view("customer", doc["customer"]) or {}
    pm = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return str(pm) if pm else None


def attempt_payment(
    store: Store, doc: Doc, now: int, processor: PaymentProcessor, payment_method: str | None = None
) -> ChargeResult:
    if doc["status"] != "open":
        raise InvalidRequest(f"Invoice is {doc['status']}; only open invoices can be paid.", param="invoice")
    pm = payment_method or payment_method_for(store, doc)
    doc["attempt_count"] = int(doc.get("attempt_count") or 0) + 1
    doc["attempted"] = True
    if pm is None:
        result = ChargeResult(
            False,
            decline_code="payment_method_missing",
            message="The customer has no default payment method.",
        )
    else:
        result = processor.charge(
            payment_method=pm,
            amount=doc["amount_remaining"],
            currency=doc["currency"],
            customer=doc["customer"],
            idempotency_key=f"{doc['id']}:{doc['attempt_count']}",
        )
    if result.succeeded:
        # The charge a refund (credit note) goes back to; Stripe keeps it on the invoice's payments.
        doc["billfold_charge"] = result.charge_id
        mark_paid(store, doc, now, out_of_band=False)
    else:
        doc["last_finalization_error"] = None
        doc["next_payment_attempt"] = None
        save(store, doc, "invoice.payment_failed")
    return result


def void(store: Store, doc: Doc, now: int) -> Doc:
    if doc["status"] != "open":
        raise InvalidRequest(
            f"You can only void an open invoice; this one is {doc['status']}.", param="invoice"
        )
    doc["status"] = "void"
    doc["amount_remaining"] = 0
    doc["status_transitions"]["voided_at"] = now
    save(store, doc, "invoice.voided")
    used = int(doc.get("starting_balance") or 0) - int(doc.get("ending_balance") or 0)
    if used:
        # The balance the invoice used goes back to the customer, as a transaction of type unapplied_from_invoice
        # (https://docs.stripe.com/api/customer_balance_transactions/object).
        customer = store.get("customer", doc["customer"], for_update=True)
        if customer is not None:
            before = int(customer.get("balance") or 0)
            customer_balance.record(
                store,
                customer,
                used,
                type="unapplied_from_invoice",
                currency=doc["currency"],
                now=now,
                invoice=doc["id"],
            )
            store.record("customer.updated", customer, previous_attributes={"balance": before})
    return doc


def send(store: Store, doc: Doc, now: int) -> Doc:
    """E-mail a ``send_invoice`` invoice to its customer (https://docs.stripe.com/api/invoices/send): a draft is
    finalized first. The e-mail is queued with ``invoice.sent`` in this transaction and delivered by the worker
    (app/emails.py). An invoice whose customer has no e-mail address is refused: it could not be delivered."""
    if doc["collection_method"] != "send_invoice":
        raise InvalidRequest(
            "You can only manually send an invoice if its collection method is 'send_invoice'.",
            param="collection_method",
        )
    if doc["status"] == "void":
        raise InvalidRequest("This invoice is void and can't be sent.", param="invoice")
    if emails.recipient(store, doc) is None:
        raise InvalidRequest(
            f"This invoice can't be sent: its customer {doc['customer']} has no email address. Set the customer's "
            "`email` first (a finalized invoice keeps the address it had when it was finalized).",
            param="customer",
        )
    if doc["status"] == "draft":
        finalize(store, doc, now, email=False)
    emails.invoice_sent(store, doc, now)
    return doc


def mark_uncollectible(store: Store, doc: Doc, now: int) -> Doc:
    if doc["status"] != "open":
        raise InvalidRequest(
            f"Only an open invoice can be marked uncollectible; this one is {doc['status']}.", param="invoice"
        )
    doc["status"] = "uncollectible"
    doc["status_transitions"]["marked_uncollectible_at"] = now
    save(store, doc, "invoice.marked_uncollectible")
    return doc


def next_period(sub: Doc, start: int) -> tuple[int, int]:
    rec = sub["items"]["data"][0]["price"]["recurring"]
    anchor = int(sub["billing_cycle_anchor"])
    interval, count = rec["interval"], int(rec.get("interval_count", 1))
    return periods.period_containing(anchor, interval, count, start)
