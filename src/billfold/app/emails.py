"""E-mails to customers: the invoice e-mail of ``POST /v1/invoices/{id}/send`` and of a ``send_invoice`` invoice
finalized automatically, kept in an outbox and delivered by the worker.

Why an outbox: the use case that sends an invoice must not talk to a mail server inside its transaction (a slow
server would hold the transaction, and a rollback cannot take a message back). It stores a ``billfold.email``
object in the same transaction as ``invoice.sent``; the worker delivers it afterwards, in three steps:

1. ``start_attempt`` (one transaction): the e-mail is marked ``sending`` for a lease of ``LEASE_SECONDS`` and its
   attempt counted.
2. The worker hands the message to the ``Mailer``, outside any transaction.
3. ``finish_attempt`` (one transaction): ``sent``; or ``queued`` again for a later attempt (a temporary failure,
   ``billfold.email.delivery_delayed``); or ``failed`` (refused for good, or the last attempt,
   ``billfold.email.failed``).

A worker that dies between 1 and 3 leaves the e-mail ``sending``; when the lease ends it is due again. Delivery is
therefore at least once, never lost: the message keeps its ``Message-ID`` on every attempt, so a second copy can
be recognised. Delivery runs on wall time, also for customers on a test clock (whose clock time may be far ahead).

The message is plain text in English; amounts and dates are formatted with Babel for the customer's first
preferred locale. Each line is the invoice line's own plain-language explanation, so the e-mail says how every
amount was computed, as the invoice does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency

from billfold.core.money import exponent
from billfold.ids import new_id

from . import account_settings
from .ports import Doc, EmailMessage, Index, MailError, Store

OBJECT = "billfold.email"
# A delivery attempt that has not finished after this long (its worker died) may be made again.
LEASE_SECONDS = 300
# Seconds to wait after the 1st, 2nd, ... temporary failure; the attempt after the last wait is the last one.
RETRY_AFTER = (60, 300, 1800, 7200, 21600)
MAX_ATTEMPTS = len(RETRY_AFTER) + 1
STATUSES = ("queued", "sending", "sent", "failed")


@dataclass(frozen=True)
class Attempt:
    email_id: str
    number: int
    message: EmailMessage


def index(doc: Doc) -> Index:
    return Index(customer=doc["customer"], parent=doc["invoice"], status=doc["status"], due_at=_due(doc))


def _due(doc: Doc) -> int | None:
    """When the worker next acts on the e-mail, in wall time: 0 (at once) for a new e-mail, the retry time after a
    temporary failure, the end of the lease while an attempt is under way, never once sent or failed."""
    if doc["status"] == "queued":
        return int(doc.get("next_attempt_at") or 0)
    if doc["status"] == "sending":
        return int(doc["billfold_lease_expires_at"])
    return None


def recipient(store: Store, invoice: Doc) -> str | None:
    """Where the invoice goes: the e-mail address frozen on a finalized invoice, the customer's for a draft."""
    if invoice["status"] != "draft":
        return invoice.get("customer_email") or None
    customer = store.get("customer", invoice["customer"]) or {}
    return customer.get("email") or None


def sends_finalized_invoices(store: Store, invoice: Doc) -> bool:
    """Whether finalizing this invoice automatically e-mails it: an open ``send_invoice`` invoice with
    ``auto_advance`` (Stripe e-mails such invoices when they finalize, per the account's setting)."""
    return (
        invoice["status"] == "open"
        and invoice["collection_method"] == "send_invoice"
        and bool(invoice.get("auto_advance"))
        and bool(invoice.get("customer_email"))
        and account_settings.value(store, "email_finalized_invoices") == "on"
    )


def invoice_sent(store: Store, invoice: Doc, now: int) -> Doc:
    """Queue the invoice's e-mail and record ``invoice.sent`` in this transaction. The caller has checked that the
    invoice has a recipient."""
    to = invoice["customer_email"]
    customer = store.get("customer", invoice["customer"]) or {}
    subject, text = compose_invoice_email(invoice, _locale(customer))
    email_id = new_id(OBJECT)
    doc: Doc = {
        "id": email_id,
        "object": OBJECT,
        "created": now,
        "livemode": store.scope.livemode,
        "customer": invoice["customer"],
        "invoice": invoice["id"],
        "type": "invoice",
        "to": [to],
        "subject": subject,
        "text": text,
        "message_id": f"<{email_id}@billfold.invalid>",
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": None,
        "sent_at": None,
        "failed_at": None,
        "last_error": None,
    }
    store.insert(doc, index(doc), created=now)
    store.audit("billfold.email.queued", OBJECT, email_id, {"invoice": invoice["id"]})
    store.record("invoice.sent", invoice)
    return doc


def start_attempt(store: Store, email_id: str, now: int) -> Attempt | None:
    """Take the e-mail for a delivery attempt at ``now`` (wall time), or None when it is not due (anymore)."""
    doc = store.get(OBJECT, email_id, for_update=True)
    if doc is None:
        return None
    due = _due(doc)
    if due is None or due > now:
        return None
    doc["attempts"] = int(doc["attempts"]) + 1
    doc["status"] = "sending"
    doc["billfold_lease_expires_at"] = now + LEASE_SECONDS
    store.replace(doc, index(doc))
    store.audit("billfold.email.attempt", OBJECT, email_id, {"attempt": doc["attempts"]})
    message = EmailMessage(
        message_id=doc["message_id"], to=tuple(doc["to"]), subject=doc["subject"], text=doc["text"]
    )
    return Attempt(email_id, int(doc["attempts"]), message)


def finish_attempt(store: Store, attempt: Attempt, now: int, error: MailError | None) -> Doc | None:
    """Record the outcome of ``attempt``; None when the e-mail has moved on since (its lease ended and another
    attempt began)."""
    doc = store.get(OBJECT, attempt.email_id, for_update=True)
    if doc is None or doc["status"] != "sending" or int(doc["attempts"]) != attempt.number:
        return None
    doc.pop("billfold_lease_expires_at", None)
    if error is None:
        doc.update(status="sent", sent_at=now, next_attempt_at=None, last_error=None)
        event = "billfold.email.sent"
    elif error.permanent or attempt.number >= MAX_ATTEMPTS:
        doc.update(status="failed", failed_at=now, next_attempt_at=None, last_error=str(error))
        event = "billfold.email.failed"
    else:
        doc.update(
            status="queued", next_attempt_at=now + RETRY_AFTER[attempt.number - 1], last_error=str(error)
        )
        event = "billfold.email.delivery_delayed"
    store.replace(doc, index(doc))
    store.record(event, doc)
    return doc


# -- the message ---------------------------------------------------------------------------------------------------
def _locale(customer: Doc) -> Locale:
    for tag in customer.get("preferred_locales") or []:
        try:
            return Locale.parse(str(tag).replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            continue
    return Locale.parse("en_US")


def _money(amount: int, currency: str, locale: Locale) -> str:
    major = Decimal(amount).scaleb(-exponent(currency))
    return str(format_currency(major, currency.upper(), locale=locale))


def _day(t: int, locale: Locale) -> str:
    return str(format_date(datetime.fromtimestamp(t, UTC).date(), format="long", locale=locale))


def compose_invoice_email(invoice: Doc, locale: Locale) -> tuple[str, str]:
    """Subject and plain-text body of an invoice's e-mail."""
    currency = invoice["currency"]
    number = invoice.get("number") or invoice["id"]
    due = int(invoice.get("amount_remaining") or 0)
    subject = f"Invoice {number}: {_money(due, currency, locale)} due"
    if invoice["status"] == "paid":
        subject = f"Invoice {number}"
    out: list[str] = []
    name = invoice.get("customer_name")
    out.append(f"Hello {name}," if name else "Hello,")
    out.append("")
    out.append(f"Here is invoice {number} of {_day(int(invoice['created']), locale)}.")
    if invoice["status"] == "open" and due > 0:
        when = f" by {_day(int(invoice['due_date']), locale)}" if invoice.get("due_date") else ""
        out.append(f"Please pay {_money(due, currency, locale)}{when}.")
    out.append("")
    for line in invoice["lines"]["data"]:
        out.append(f"- {line.get('explanation') or line.get('description') or ''}")
        out.append(f"  {_money(int(line['amount']), currency, locale)}")
    out.append("")
    rows: list[tuple[str, Any]] = [("Subtotal", invoice.get("subtotal"))]
    for tax in invoice.get("total_taxes") or []:
        rows.append(("Tax", tax.get("amount")))
    rows += [("Total", invoice.get("total"))]
    applied = int(invoice.get("starting_balance") or 0) - int(invoice.get("ending_balance") or 0)
    if applied:
        rows.append(("Customer balance applied", applied))
    if int(invoice.get("amount_paid") or 0):
        rows.append(("Paid", invoice.get("amount_paid")))
    rows.append(("Amount due", due))
    for label, amount in rows:
        out.append(f"{label}: {_money(int(amount or 0), currency, locale)}")
    out.append("")
    out.append(f"Invoice reference: {invoice['id']}")
    return subject, "\n".join(out) + "\n"
