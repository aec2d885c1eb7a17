"""Failed renewal payments on test clocks, through the official SDK: the subscription goes ``past_due``, the invoice
is retried 3, 5 and 7 days after the first failure (``app/dunning.py``), a retry that succeeds brings the
subscription back to ``active``, and when every retry fails the final actions apply (Stripe's defaults: cancel the
subscription, leave the invoice open).

https://docs.stripe.com/billing/revenue-recovery/smart-retries, and the subscription object's ``status``: "it
becomes past_due when payment to renew it fails and canceled or unpaid (depending on your subscriptions settings)
when Stripe has exhausted all payment retry attempts".
"""

from __future__ import annotations

import stripe

from billfold.main import Runtime
from tests.conftest import Tenant
from tests.scenarios.lifecycle_support import (
    DAY,
    DRAFT_WINDOW,
    FEB1,
    JAN1,
    MAR1,
    advance,
    billing_events,
    customer_on_clock,
    events_since,
    invoices_of,
    monthly_price,
    set_payment_method,
)

FAILED_AT = FEB1 + DRAFT_WINDOW  # the renewal draft is finalized and first charged an hour after the renewal
CREATE = [
    "customer.subscription.created",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "customer.subscription.updated",
]
RENEWAL_DRAFT = ["invoice.upcoming", "invoice.created", "customer.subscription.updated"]
FIRST_FAILURE = ["invoice.finalized", "invoice.payment_failed", "customer.subscription.updated"]


def _past_due_renewal(c: stripe.StripeClient) -> tuple[str, str, str, stripe.Invoice]:
    """Two seats at $99 paid on Jan 1; the card then declines, and the Feb 1 renewal's payment fails."""
    clock, cus = customer_on_clock(c, JAN1)
    price = monthly_price(c, 9900)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price, "quantity": 2}]})
    assert sub.status == "active"
    set_payment_method(c, cus, "pm_card_chargeDeclined")
    advance(c, clock, FAILED_AT + 60)
    renewal = invoices_of(c, sub.id)[-1]
    return clock, cus, sub.id, renewal


def test_renewal_fails_then_a_retry_succeeds(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id, renewal = _past_due_renewal(c)
    # 2 × $99.00 = $198.00, open, one failed attempt, the first retry three days after the failure.
    assert (renewal.billing_reason, renewal.status, renewal.amount_due, renewal.amount_remaining) == (
        "subscription_cycle",
        "open",
        19800,
        19800,
    )
    assert (renewal.attempt_count, renewal.attempted) == (1, True)
    assert renewal.next_payment_attempt == FAILED_AT + 3 * DAY
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert (sub.status, sub.latest_invoice) == ("past_due", renewal.id)
    assert billing_events(c) == CREATE + RENEWAL_DRAFT + FIRST_FAILURE
    seen = billing_events(c)

    advance(c, clock, FAILED_AT + 3 * DAY - 60)  # nothing is due before the retry
    assert c.v1.invoices.retrieve(renewal.id).attempt_count == 1
    advance(c, clock, FAILED_AT + 3 * DAY + 60)  # retry 1 fails
    renewal = c.v1.invoices.retrieve(renewal.id)
    assert (renewal.status, renewal.attempt_count) == ("open", 2)
    assert renewal.next_payment_attempt == FAILED_AT + 5 * DAY
    assert c.v1.subscriptions.retrieve(sub_id).status == "past_due"

    set_payment_method(c, cus, "pm_card_visa")  # the customer fixes the card
    advance(c, clock, FAILED_AT + 5 * DAY + 60)  # retry 2 succeeds
    renewal = c.v1.invoices.retrieve(renewal.id)
    assert (renewal.status, renewal.amount_paid, renewal.amount_remaining) == ("paid", 19800, 0)
    assert (renewal.attempt_count, renewal.next_payment_attempt) == (3, None)
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "active"
    assert events_since(c, seen) == [
        "invoice.payment_failed",
        "invoice.paid",
        "customer.subscription.updated",
    ]
    updated = c.v1.events.list(params={"type": "customer.subscription.updated", "limit": 1}).data[0]
    assert updated.data.previous_attributes.to_dict() == {"status": "past_due"}

    # The next renewal is charged normally; a second advance over the same time finds nothing.
    advance(c, clock, MAR1 + DRAFT_WINDOW + 60)
    march = invoices_of(c, sub_id)[-1]
    assert (march.period_start, march.status, march.amount_paid) == (MAR1, "paid", 19800)
    before = tenant.rows()
    advance(c, clock, MAR1 + DRAFT_WINDOW + 120)
    assert tenant.rows() == before + 2  # the clock's own advancing/ready events


def test_every_retry_fails_and_the_subscription_is_canceled(tenant: Tenant) -> None:
    c = tenant.client
    clock, _, sub_id, renewal = _past_due_renewal(c)
    seen = billing_events(c)
    advance(c, clock, FAILED_AT + 7 * DAY + 60)
    renewal = c.v1.invoices.retrieve(renewal.id)
    # Four attempts (at the failure, +3, +5, +7 days); the invoice is left open but no longer collected.
    assert (renewal.status, renewal.attempt_count, renewal.next_payment_attempt) == ("open", 4, None)
    assert (renewal.auto_advance, renewal.amount_remaining) == (False, 19800)
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert (sub.status, sub.ended_at, sub.canceled_at) == (
        "canceled",
        FAILED_AT + 7 * DAY,
        FAILED_AT + 7 * DAY,
    )
    assert sub.cancellation_details is not None and sub.cancellation_details.reason == "payment_failed"
    assert events_since(c, seen) == [
        "invoice.payment_failed",
        "invoice.payment_failed",
        "invoice.payment_failed",
        "customer.subscription.deleted",
        "invoice.updated",
    ]
    # Nothing more happens: no retry, no renewal on Mar 1.
    before = tenant.rows()
    advance(c, clock, MAR1 + DRAFT_WINDOW + 60)
    assert tenant.rows() == before + 2
    assert len(invoices_of(c, sub_id)) == 2


def test_final_actions_unpaid_and_uncollectible(tenant: Tenant, runtime: Runtime) -> None:
    """The other settings of the account: mark the subscription ``unpaid`` and the invoice ``uncollectible``. An
    unpaid subscription keeps renewing, but its invoices stay drafts that are not finalized or charged."""
    accounts = runtime.services.accounts
    accounts.set_account_setting(tenant.account_id, "failed_payment_subscription_action", "unpaid")
    accounts.set_account_setting(tenant.account_id, "failed_payment_invoice_action", "mark_uncollectible")
    c = tenant.client
    clock, _, sub_id, renewal = _past_due_renewal(c)
    seen = billing_events(c)
    advance(c, clock, FAILED_AT + 7 * DAY + 60)
    renewal = c.v1.invoices.retrieve(renewal.id)
    assert (renewal.status, renewal.attempt_count, renewal.amount_paid) == ("uncollectible", 4, 0)
    assert c.v1.subscriptions.retrieve(sub_id).status == "unpaid"
    assert events_since(c, seen) == [
        "invoice.payment_failed",
        "invoice.payment_failed",
        "invoice.payment_failed",
        "invoice.marked_uncollectible",
        "customer.subscription.updated",
    ]
    advance(c, clock, MAR1 + DRAFT_WINDOW + 60)
    march = invoices_of(c, sub_id)[-1]
    assert (march.period_start, march.status, march.auto_advance, march.attempt_count) == (
        MAR1,
        "draft",
        False,
        0,
    )
    assert march.total == 19800
    assert c.v1.subscriptions.retrieve(sub_id).status == "unpaid"


def test_final_action_leave_past_due(tenant: Tenant, runtime: Runtime) -> None:
    runtime.services.accounts.set_account_setting(
        tenant.account_id, "failed_payment_subscription_action", "past_due"
    )
    c = tenant.client
    clock, _, sub_id, renewal = _past_due_renewal(c)
    advance(c, clock, FAILED_AT + 7 * DAY + 60)
    renewal = c.v1.invoices.retrieve(renewal.id)
    assert (renewal.status, renewal.attempt_count, renewal.next_payment_attempt) == ("open", 4, None)
    assert c.v1.subscriptions.retrieve(sub_id).status == "past_due"


def test_paying_a_past_due_invoice_by_hand_reactivates(tenant: Tenant) -> None:
    c = tenant.client
    clock, _, sub_id, renewal = _past_due_renewal(c)
    seen = billing_events(c)
    paid = c.v1.invoices.pay(renewal.id, params={"payment_method": "pm_card_visa"})
    assert (paid.status, paid.amount_paid, paid.next_payment_attempt) == ("paid", 19800, None)
    assert c.v1.subscriptions.retrieve(sub_id).status == "active"
    assert events_since(c, seen) == ["invoice.paid", "customer.subscription.updated"]
    before = tenant.rows()
    advance(c, clock, FAILED_AT + 3 * DAY + 60)  # no retry of a paid invoice
    assert tenant.rows() == before + 2


def test_a_declined_payment_by_hand_keeps_the_retry_schedule(tenant: Tenant) -> None:
    c = tenant.client
    clock, _, sub_id, renewal = _past_due_renewal(c)
    try:
        c.v1.invoices.pay(renewal.id)
    except stripe.CardError as err:
        assert err.http_status == 402
    else:
        raise AssertionError("the declined card must fail")
    again = c.v1.invoices.retrieve(renewal.id)
    assert (again.attempt_count, again.next_payment_attempt) == (2, FAILED_AT + 3 * DAY)
    advance(c, clock, FAILED_AT + 3 * DAY + 60)
    assert c.v1.invoices.retrieve(renewal.id).attempt_count == 3
    assert c.v1.subscriptions.retrieve(sub_id).status == "past_due"


def test_a_declined_always_invoice_upgrade_puts_the_subscription_past_due(tenant: Tenant) -> None:
    c = tenant.client
    _clock, cus = customer_on_clock(c, JAN1)
    price = monthly_price(c, 9900)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price, "quantity": 2}]})
    set_payment_method(c, cus, "pm_card_chargeDeclined")
    # Two more seats on Jan 16 (16 of 31 days left), invoiced at once: a credit of 2 × $99.00 × 16/31 = -$102.19
    # and a charge of 4 × $99.00 × 16/31 = +$204.39, each rounded once: $102.20.
    updated = c.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": sub["items"].data[0].id, "quantity": 4}],
            "proration_behavior": "always_invoice",
            "proration_date": JAN1 + 15 * DAY,
        },
    )
    invoice = c.v1.invoices.retrieve(str(updated.latest_invoice))
    assert (invoice.billing_reason, invoice.status, invoice.amount_remaining) == (
        "subscription_update",
        "open",
        10220,
    )
    # Charged like any automatic payment: the decline starts dunning.
    assert updated.status == "past_due"
    assert invoice.next_payment_attempt == invoice.status_transitions.finalized_at + 3 * DAY


def test_an_accounts_own_retry_schedule(tenant: Tenant, other_tenant: Tenant, runtime: Runtime) -> None:
    """``payment_retry_days`` per account: retries 1 and 2 days after the first failure here, the default 3, 5 and
    7 days for another account. An invoice already in dunning keeps the schedule it started with."""
    accounts = runtime.services.accounts
    accounts.set_account_setting(tenant.account_id, "payment_retry_days", [1, 2])
    c = tenant.client
    clock, _, sub_id, renewal = _past_due_renewal(c)
    assert renewal.next_payment_attempt == FAILED_AT + 1 * DAY
    # A change of the setting now applies to dunning that starts later, not to this invoice.
    accounts.set_account_setting(tenant.account_id, "payment_retry_days", [10, 20, 30])
    advance(c, clock, FAILED_AT + 1 * DAY + 60)
    renewal = c.v1.invoices.retrieve(renewal.id)
    assert (renewal.attempt_count, renewal.next_payment_attempt) == (2, FAILED_AT + 2 * DAY)
    advance(c, clock, FAILED_AT + 2 * DAY + 60)
    renewal = c.v1.invoices.retrieve(renewal.id)
    # Three attempts in all, then the default final actions: the invoice left open, the subscription canceled.
    assert (renewal.status, renewal.attempt_count, renewal.next_payment_attempt) == ("open", 3, None)
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert (sub.status, sub.ended_at) == ("canceled", FAILED_AT + 2 * DAY)

    o = other_tenant.client
    _, _, other_sub, other_renewal = _past_due_renewal(o)
    assert other_renewal.next_payment_attempt == FAILED_AT + 3 * DAY
    assert o.v1.subscriptions.retrieve(other_sub).status == "past_due"


def test_a_send_invoice_subscription_goes_past_due_at_the_due_date(tenant: Tenant) -> None:
    """ "If subscription collection_method=send_invoice it becomes past_due when its invoice is not paid by the due
    date" (https://docs.stripe.com/api/subscriptions/object#subscription_object-status)."""
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1, payment_method=None)
    price = monthly_price(c, 9900)
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": price, "quantity": 2}],
            "collection_method": "send_invoice",
            "days_until_due": 10,
        }
    )
    first = c.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (sub.status, first.status, first.due_date) == ("active", "open", JAN1 + 10 * DAY)
    seen = billing_events(c)
    advance(c, clock, JAN1 + 10 * DAY - 60)  # not yet due
    assert c.v1.subscriptions.retrieve(sub.id).status == "active"
    assert events_since(c, seen) == []
    advance(c, clock, JAN1 + 10 * DAY + 60)
    assert c.v1.subscriptions.retrieve(sub.id).status == "past_due"
    assert events_since(c, seen) == ["invoice.overdue", "customer.subscription.updated"]
    overdue = c.v1.events.list(params={"type": "invoice.overdue", "limit": 1}).data[0]
    assert (overdue.data.object["id"], overdue.data.object["status"]) == (first.id, "open")
    # Once only: advancing further writes nothing more for it.
    before = tenant.rows()
    advance(c, clock, JAN1 + 20 * DAY)
    assert tenant.rows() == before + 2  # the clock's own advancing/ready events
    # Paid (here out of band, as a bank transfer would be recorded): the subscription is active again.
    paid = c.v1.invoices.pay(first.id, params={"paid_out_of_band": True})
    assert paid.status == "paid"
    assert c.v1.subscriptions.retrieve(sub.id).status == "active"
    # An invoice paid before its due date never goes overdue.
    advance(c, clock, FEB1 + DRAFT_WINDOW + 60)
    february = invoices_of(c, sub.id)[-1]
    assert (february.status, february.due_date) == ("open", FEB1 + DRAFT_WINDOW + 10 * DAY)
    c.v1.invoices.pay(february.id, params={"paid_out_of_band": True})
    seen = billing_events(c)
    advance(c, clock, FEB1 + DRAFT_WINDOW + 11 * DAY)
    assert events_since(c, seen) == []
    assert c.v1.subscriptions.retrieve(sub.id).status == "active"
