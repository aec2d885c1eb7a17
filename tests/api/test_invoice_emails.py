"""Invoice e-mails, end to end: ``POST /v1/invoices/{id}/send`` and automatic finalization queue a ``billfold.email``
with ``invoice.sent``; the worker delivers it to a real SMTP server on loopback (aiosmtpd, tests/support/smtp.py);
``/v1/billfold/emails`` shows how delivery went.

Stripe: "Stripe will automatically send invoices to customers according to your subscriptions settings. However,
if you'd like to manually send an invoice to your customer out of the normal schedule, you can do so."
(https://docs.stripe.com/api/invoices/send). Stripe sends no e-mail for test-mode API requests; Billfold delivers in
both modes, to the SMTP server the operator configured (docs/api-compat.md).
"""

from __future__ import annotations

import secrets
import time
from email.message import EmailMessage
from typing import Any

import stripe

from billfold.adapters.db.store import SqlUnitOfWork
from billfold.app import emails
from billfold.app.ports import Scope
from billfold.main import Runtime
from tests.conftest import Tenant
from tests.scenarios.lifecycle_support import (
    DRAFT_WINDOW,
    FEB1,
    JAN1,
    MAR1,
    advance,
    billing_events,
    customer_on_clock,
    expect_error,
    monthly_price,
)
from tests.support.emails import emails_of as _emails
from tests.support.emails import settled_email as _settled
from tests.support.smtp import SmtpServer


def _address(kind: str = "ap") -> str:
    return f"{kind}-{secrets.token_hex(5)}@customer.example"


def _open_invoice(c: stripe.StripeClient, email: str | None, **customer: Any) -> tuple[str, str]:
    """A customer (with ``email``, if any) and a draft ``send_invoice`` invoice of 50.00 USD for them."""
    params: dict[str, Any] = {"name": "Ada Lovelace", **customer}
    if email:
        params["email"] = email
    cus = c.v1.customers.create(params=params).id  # type: ignore[arg-type]
    inv = c.v1.invoices.create(
        params={"customer": cus, "currency": "usd", "collection_method": "send_invoice", "days_until_due": 14}
    )
    c.v1.invoice_items.create(
        params={"customer": cus, "amount": 5000, "invoice": inv.id, "description": "Onboarding workshop"}
    )
    assert inv.id is not None
    return cus, inv.id


def _text(message: EmailMessage) -> str:
    """The plain-text body with the line ends it was written with (SMTP carries CRLF)."""
    return str(message.get_content()).replace("\r\n", "\n")


def _event_types(c: stripe.StripeClient, prefix: str) -> list[str]:
    types = [e.type for e in c.v1.events.list(params={"limit": 100}).auto_paging_iter()]
    return [t for t in reversed(types) if t.startswith(prefix)]


def test_send_emails_the_invoice_to_the_customer(tenant: Tenant, smtp_server: SmtpServer) -> None:
    c = tenant.client
    address = _address()
    _, inv_id = _open_invoice(c, address, preferred_locales=["de-DE"])

    sent = c.v1.invoices.send_invoice(inv_id)

    assert sent.status == "open" and sent.number and sent.customer_email == address
    [message] = smtp_server.inbox.wait_for(address)
    # Amounts and dates in the customer's first preferred locale (Babel): German.
    assert message["Subject"] == f"Invoice {sent.number}: 50,00\xa0$ due"
    body = _text(message)
    assert "Hello Ada Lovelace," in body
    assert "Please pay 50,00\xa0$ by " in body
    line = sent.lines.data[0]
    assert f"- {line['explanation']}\n  50,00\xa0$" in body  # each line says how it was computed
    assert "Amount due: 50,00\xa0$" in body and f"Invoice reference: {inv_id}" in body

    email = _settled(c, inv_id)
    assert (email.object, email.status, email.attempts, email.to) == ("billfold.email", "sent", 1, [address])
    assert email.sent_at is not None and email.last_error is None
    assert message["Message-ID"] == email.message_id
    assert (
        c.deserialize(c.raw_request("get", f"/v1/billfold/emails/{email.id}"), api_mode="V1").id == email.id
    )
    assert _event_types(c, "invoice.")[-2:] == ["invoice.finalized", "invoice.sent"]
    assert _event_types(c, "billfold.email.") == ["billfold.email.sent"]

    # Sending again (a customer asking for another copy) is a second e-mail, also for a paid invoice.
    c.v1.invoices.pay(inv_id, params={"paid_out_of_band": True})
    c.v1.invoices.send_invoice(inv_id)
    first, second = smtp_server.inbox.wait_for(address, count=2)
    assert second["Subject"] == f"Invoice {sent.number}" and "Please pay" not in _text(second)
    assert "Paid: 50,00\xa0$" in _text(second) and "Amount due: 0,00\xa0$" in _text(second)
    assert second["Message-ID"] != first["Message-ID"]
    assert len(_emails(c, customer=sent.customer)) == 2


def test_sending_to_a_customer_without_an_email_address_is_refused(tenant: Tenant) -> None:
    c = tenant.client
    _, inv_id = _open_invoice(c, None)

    err = expect_error(tenant, lambda: c.v1.invoices.send_invoice(inv_id), status=400, param="customer")

    assert "has no email address" in str(err.user_message)
    assert c.v1.invoices.retrieve(inv_id).status == "draft"  # not finalized either
    assert _emails(c, invoice=inv_id) == []


def test_a_refused_recipient_fails_at_once(tenant: Tenant, smtp_server: SmtpServer) -> None:
    c = tenant.client
    address = _address("bounce")
    _, inv_id = _open_invoice(c, address)

    c.v1.invoices.send_invoice(inv_id)

    email = _settled(c, inv_id)
    assert (email.status, email.attempts, email.failed_at is not None) == ("failed", 1, True)
    assert "550" in email.last_error and address in email.last_error
    assert _event_types(c, "billfold.email.") == ["billfold.email.failed"]
    assert smtp_server.inbox.to(address) == [] and smtp_server.inbox.attempts(address) == 1
    assert [e.id for e in _emails(c, status="failed")] == [email.id]


def test_a_busy_server_is_tried_again_later(
    tenant: Tenant, runtime: Runtime, smtp_server: SmtpServer
) -> None:
    c = tenant.client
    address = _address("busy1")  # refused (451) the first time only
    _, inv_id = _open_invoice(c, address)
    c.v1.invoices.send_invoice(inv_id)

    email = _settled(c, inv_id)
    assert (email.status, email.attempts) == ("queued", 1) and "451" in email.last_error
    first_try = email.next_attempt_at - emails.RETRY_AFTER[0]
    assert abs(first_try - int(time.time())) < 30
    assert smtp_server.inbox.to(address) == []

    # Not due before its retry time; due at it.
    worker = runtime.worker()
    assert worker.deliver_emails(email.next_attempt_at - 1) == 0
    assert worker.deliver_emails(email.next_attempt_at) == 1

    email = _settled(c, inv_id)
    assert (email.status, email.attempts, email.last_error) == ("sent", 2, None)
    assert len(smtp_server.inbox.to(address)) == 1
    assert _event_types(c, "billfold.email.") == ["billfold.email.delivery_delayed", "billfold.email.sent"]


def test_a_server_busy_on_every_attempt_fails_after_the_last(
    tenant: Tenant, runtime: Runtime, smtp_server: SmtpServer
) -> None:
    c = tenant.client
    address = _address("busy")  # always 451
    _, inv_id = _open_invoice(c, address)
    c.v1.invoices.send_invoice(inv_id)
    email = _settled(c, inv_id)

    worker = runtime.worker()
    waits = []
    while email.status == "queued":
        waits.append(email.next_attempt_at - int(time.time()))
        assert worker.deliver_emails(email.next_attempt_at) == 1
        email = _settled(c, inv_id)

    assert (email.status, email.attempts) == ("failed", emails.MAX_ATTEMPTS)
    assert smtp_server.inbox.attempts(address) == emails.MAX_ATTEMPTS and smtp_server.inbox.to(address) == []
    # The waits after each failure: 1 minute, 5 minutes, 30 minutes, 2 hours, 6 hours (counted from the end of the
    # attempt, so a few seconds of the test's own time may have gone by).
    assert len(waits) == 5 and all(0 <= w - r <= 5 for w, r in zip(emails.RETRY_AFTER, waits, strict=True))
    assert _event_types(c, "billfold.email.") == ["billfold.email.delivery_delayed"] * 5 + [
        "billfold.email.failed"
    ]


def test_an_attempt_whose_worker_died_is_made_again_after_its_lease(
    tenant: Tenant, runtime: Runtime, smtp_server: SmtpServer
) -> None:
    c = tenant.client
    address = _address()
    _, inv_id = _open_invoice(c, address)
    c.v1.invoices.finalize_invoice(inv_id, params={"auto_advance": False})  # finalizing e-mails nothing
    uow = SqlUnitOfWork(runtime.engine, runtime.services.clock)
    now = int(time.time())
    # A worker takes the e-mail for an attempt and dies before handing it to the mail server.
    with uow(Scope(tenant.account_id, livemode=False, actor="test")) as store:
        invoice = store.get("invoice", inv_id, for_update=True)
        assert invoice is not None
        email = emails.invoice_sent(store, invoice, now)
        lost = emails.start_attempt(store, email["id"], now)
    assert lost is not None and lost.number == 1

    worker = runtime.worker()
    assert worker.deliver_emails(now + emails.LEASE_SECONDS - 1) == 0  # still leased to the dead worker
    assert worker.deliver_emails(now + emails.LEASE_SECONDS) == 1

    [message] = smtp_server.inbox.wait_for(address)
    assert message["Message-ID"] == email["message_id"]
    after = _settled(c, inv_id)
    assert (after.status, after.attempts) == ("sent", 2)
    # The dead worker's outcome, had it come back, no longer counts.
    with uow(Scope(tenant.account_id, livemode=False, actor="test")) as store:
        assert emails.finish_attempt(store, lost, now, None) is None
    assert _settled(c, inv_id).attempts == 2


def test_send_invoice_subscription_invoices_are_emailed_when_finalized(
    tenant: Tenant, runtime: Runtime, smtp_server: SmtpServer
) -> None:
    c = tenant.client
    address = _address()
    clock, cus = customer_on_clock(c, JAN1, payment_method=None)
    c.v1.customers.update(cus, params={"email": address})
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": monthly_price(c, 2000)}],
            "collection_method": "send_invoice",
            "days_until_due": 30,
        }
    )
    # The first invoice is finalized at once, the renewal after its draft window: each is e-mailed.
    advance(c, clock, FEB1 + DRAFT_WINDOW)
    first, renewal = smtp_server.inbox.wait_for(address, count=2)
    invoices = list(reversed(c.v1.invoices.list(params={"subscription": sub.id}).data))
    assert [m["Subject"] for m in (first, renewal)] == [f"Invoice {i.number}: $20.00 due" for i in invoices]
    assert "by January 31, 2026" in _text(first) and "by March 3, 2026" in _text(renewal)
    events = billing_events(c)
    assert [t for t in events if t in ("invoice.finalized", "invoice.sent")] == [
        "invoice.finalized",
        "invoice.sent",
    ] * 2

    # The account turns the setting off: the next renewal is finalized and not e-mailed.
    runtime.services.accounts.set_account_setting(tenant.account_id, "email_finalized_invoices", "off")
    advance(c, clock, MAR1 + DRAFT_WINDOW)
    assert c.v1.invoices.list(params={"subscription": sub.id}).data[0].status == "open"
    later = billing_events(c)[len(events) :]
    assert [t for t in later if t in ("invoice.finalized", "invoice.sent")] == ["invoice.finalized"]
    time.sleep(0.3)  # the worker runs every 0.05 s: long enough for an e-mail to arrive, were one queued
    assert len(smtp_server.inbox.to(address)) == 2
    assert len(_emails(c, customer=cus)) == 2
