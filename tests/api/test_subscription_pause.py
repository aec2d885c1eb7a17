"""``POST /v1/subscriptions/{id}/pause`` through the official SDK, on test clocks.

Stripe's rules (https://docs.stripe.com/billing/subscriptions/pausing, https://docs.stripe.com/api/subscriptions/pause):
a paused subscription has status ``paused`` with ``status_details.paused.subscription.type = pause_requested``,
makes no invoices and does not advance to new periods until resumed; ``bill_for[unused_time_from]`` (default
``now``) credits unused time of licensed items, ``bill_for[outstanding_usage_through]`` (default ``now``) bills
metered usage to date; ``invoicing_behavior`` (default ``pending_invoice_item``) or ``invoice``; a subscription with
a schedule can't be paused.
"""

from __future__ import annotations

import pytest
import stripe

from tests.conftest import Tenant
from tests.support.clocks import advance, seats_on_clock

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86400
FEB1 = 1_769_904_000
MID = T0 + 15 * DAY + DAY // 2  # half of January's 31 days


def _setup(c: stripe.StripeClient, quantity: int = 10) -> tuple[str, str, str]:
    return seats_on_clock(c, T0, quantity)


def test_pause_credits_unused_time_and_stops_invoicing(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub = _setup(c)
    advance(c, clock, MID)
    paused = c.v1.subscriptions.pause(sub, params={"type": "subscription"})
    assert paused.status == "paused"
    assert paused.status_details.paused.subscription.type == "pause_requested"
    assert paused.status_details.paused.transitioned_at == MID
    # Half of the $990.00 period is unused: a pending credit of -$495.00.
    [credit] = c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data
    assert (credit.amount, credit.proration) == (-49500, True)
    # No invoice while paused, across two renewals.
    advance(c, clock, FEB1 + 40 * DAY)
    assert len(c.v1.invoices.list(params={"subscription": sub}).data) == 1
    types = [e.type for e in c.v1.events.list(params={"limit": 100}).data]
    assert "customer.subscription.paused" in types


def test_pause_with_invoice_issues_the_credit_at_once(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub = _setup(c)
    advance(c, clock, MID)
    paused = c.v1.subscriptions.pause(sub, params={"invoicing_behavior": "invoice"})
    invoice = c.v1.invoices.retrieve(str(paused.latest_invoice))
    # A credit invoice: nothing to pay, the credit goes to the customer balance.
    assert (invoice.status, invoice.total, invoice.billing_reason) == ("paid", -49500, "subscription_update")
    assert c.v1.customers.retrieve(cus).balance == -49500
    assert c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data == []


def test_pause_without_credit_and_resume(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub = _setup(c)
    advance(c, clock, MID)
    c.v1.subscriptions.pause(sub, params={"bill_for": {"unused_time_from": {"type": "none"}}})
    assert c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data == []
    resumed = c.v1.subscriptions.resume(
        sub, params={"billing_cycle_anchor": "now", "payment_behavior": "resume_on_payment_success"}
    )
    # A new period starts at the resumption and is paid in the request.
    assert resumed.status == "active"
    invoice = c.v1.invoices.retrieve(str(resumed.latest_invoice))
    assert (invoice.status, invoice.amount_paid, invoice.period_start) == ("paid", 99000, MID)


def test_pause_from_period_start_credits_the_whole_period(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub = _setup(c)
    advance(c, clock, MID)
    c.v1.subscriptions.pause(
        sub, params={"bill_for": {"unused_time_from": {"type": "item_current_period_start"}}}
    )
    [credit] = c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data
    assert credit.amount == -99000


def test_pause_refusals_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    _, _, sub = _setup(c)
    c.v1.subscriptions.pause(sub)
    rows, audit = tenant.rows(), tenant.audit_rows()
    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.subscriptions.pause(sub)
    assert e.value.http_status == 400 and e.value.param == "subscription"
    assert "paused" in str(e.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.subscriptions.pause(sub, params={"invoicing_behavior": "later"})  # type: ignore[typeddict-item]
    assert e.value.http_status == 400 and e.value.param == "invoicing_behavior"
    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.subscriptions.pause("sub_missing")
    assert e.value.http_status == 404
    assert (tenant.rows(), tenant.audit_rows()) == (rows, audit)


def test_a_subscription_with_a_schedule_cannot_be_paused(tenant: Tenant) -> None:
    c = tenant.client
    _, _, sub = _setup(c)
    c.v1.subscription_schedules.create(params={"from_subscription": sub})
    rows = tenant.rows()
    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.subscriptions.pause(sub)
    assert e.value.http_status == 400 and "schedule" in str(e.value.user_message)
    assert tenant.rows() == rows
