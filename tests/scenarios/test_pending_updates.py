"""``payment_behavior`` on a subscription update whose invoice is charged at once, above all pending updates.

Stripe (https://docs.stripe.com/billing/subscriptions/pending-updates-reference): "If payment succeeds, the invoice
is updated to paid and the changes are applied to the subscription immediately. If payment fails, the updated values
are added to the pending_update hash on the Subscription object. The latest_invoice for the subscription refers to
an unpaid invoice in an open status. The subscription will continue to cycle as if no update request was made." ...
"If you don't take any action after an update fails, the invoice is voided and the pending update is discarded after
the expires_at time [...] either the trial end time or the current period end, whichever comes first. If these times
are greater than 23 hours from the time the update is made, the expires_at time is calculated to 23 hours after the
update call was made."

Timeline of every test: a customer on a test clock subscribes on Jan 1 to one seat at $10.00 a month; on Jan 11
(21 of January's 31 days left) the seats go to 3 with ``always_invoice``, paid by a card that is declined. The
invoice is the unused time of one seat credited and three seats charged for the rest of January (flexible billing:
the credit is what was billed for that time): -$10.00 × 21/31 = -$6.77 and $30.00 × 21/31 = $20.32, $13.55 due.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.conftest import Tenant
from tests.scenarios.lifecycle_support import (
    DAY,
    FEB1,
    HOUR,
    JAN1,
    advance,
    billing_events,
    customer_on_clock,
    events_since,
    expect_error,
    invoices_of,
    monthly_price,
    set_payment_method,
)

JAN11 = JAN1 + 10 * DAY


def _seats(c: stripe.StripeClient) -> tuple[str, str, stripe.Subscription]:
    clock, cus = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": monthly_price(c, 1000)}]})
    advance(c, clock, JAN11)
    set_payment_method(c, cus, "pm_card_chargeDeclined")
    return clock, cus, sub


def _three_seats(
    c: stripe.StripeClient, sub: stripe.Subscription, payment_behavior: str
) -> stripe.Subscription:
    return c.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": sub["items"].data[0].id, "quantity": 3}],
            "proration_behavior": "always_invoice",
            "payment_behavior": payment_behavior,  # type: ignore[typeddict-item]
        },
    )


def _change_invoice(c: stripe.StripeClient, sub_id: str) -> Any:
    first, change = invoices_of(c, sub_id)
    assert first.billing_reason == "subscription_create" and change.billing_reason == "subscription_update"
    assert [line.amount for line in change.lines.data] == [-677, 2032]
    assert change.amount_due == 1355
    return change


def test_a_declined_pending_update_changes_nothing_until_its_invoice_is_paid(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub = _seats(c)
    before = billing_events(c)

    after = _three_seats(c, sub, "pending_if_incomplete")

    change = _change_invoice(c, sub.id)
    assert (change.status, change.attempt_count, change.next_payment_attempt) == ("open", 1, None)
    assert after.status == "active" and after["items"].data[0].quantity == 1
    assert after.latest_invoice == change.id
    pending = after.pending_update
    assert pending is not None and pending.expires_at == JAN11 + 23 * HOUR
    assert [(i.id, i.quantity) for i in pending.subscription_items] == [(sub["items"].data[0].id, 3)]
    assert pending.billing_cycle_anchor is None
    assert events_since(c, before) == [
        "invoiceitem.created",
        "invoiceitem.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    # While it is pending, no other change of items is taken.
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.update(
            sub.id, params={"items": [{"id": sub["items"].data[0].id, "quantity": 2}]}
        ),
        status=400,
        param="items",
    )

    # The customer pays with another card: the change is applied as it was asked for.
    before = billing_events(c)
    paid = c.v1.invoices.pay(change.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid"
    now = c.v1.subscriptions.retrieve(sub.id)
    assert now["items"].data[0].quantity == 3 and now.pending_update is None and now.status == "active"
    assert events_since(c, before) == [
        "invoice.paid",
        "customer.subscription.updated",
        "customer.subscription.pending_update_applied",
    ]

    # The next renewal bills the three seats, and the change is not billed again.
    set_payment_method(c, cus, "pm_card_visa")
    advance(c, clock, FEB1 + HOUR)
    renewal = invoices_of(c, sub.id)[-1]
    assert (renewal.billing_reason, renewal.amount_due, renewal.status) == (
        "subscription_cycle",
        3000,
        "paid",
    )


def test_a_pending_update_expires_after_23_hours(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub = _seats(c)
    _three_seats(c, sub, "pending_if_incomplete")
    change = _change_invoice(c, sub.id)
    before = billing_events(c)

    advance(c, clock, JAN11 + 23 * HOUR - 1)
    assert c.v1.subscriptions.retrieve(sub.id).pending_update is not None
    advance(c, clock, JAN11 + 23 * HOUR)

    assert c.v1.invoices.retrieve(change.id).status == "void"
    now = c.v1.subscriptions.retrieve(sub.id)
    assert now.pending_update is None and now["items"].data[0].quantity == 1 and now.status == "active"
    assert events_since(c, before) == [
        "invoice.voided",
        "customer.subscription.updated",
        "customer.subscription.pending_update_expired",
    ]
    # Paying the void invoice is impossible, and the renewal bills the one seat the subscription kept.
    set_payment_method(c, cus, "pm_card_visa")
    advance(c, clock, FEB1 + HOUR)
    assert invoices_of(c, sub.id)[-1].amount_due == 1000


def test_voiding_the_invoice_discards_the_pending_update(tenant: Tenant) -> None:
    c = tenant.client
    _, _, sub = _seats(c)
    _three_seats(c, sub, "pending_if_incomplete")
    change = _change_invoice(c, sub.id)
    before = billing_events(c)

    c.v1.invoices.void_invoice(change.id)

    now = c.v1.subscriptions.retrieve(sub.id)
    assert now.pending_update is None and now["items"].data[0].quantity == 1
    assert events_since(c, before) == ["invoice.voided", "customer.subscription.updated"]
    # Nothing waits anymore: a new change is taken.
    c.v1.subscriptions.update(sub.id, params={"items": [{"id": sub["items"].data[0].id, "quantity": 2}]})
    assert c.v1.subscriptions.retrieve(sub.id)["items"].data[0].quantity == 2


def test_a_pending_update_that_is_paid_at_once_applies_at_once(tenant: Tenant) -> None:
    c = tenant.client
    _, cus, sub = _seats(c)
    set_payment_method(c, cus, "pm_card_visa")

    after = _three_seats(c, sub, "pending_if_incomplete")

    assert after["items"].data[0].quantity == 3 and after.pending_update is None
    assert _change_invoice(c, sub.id).status == "paid"


def test_error_if_incomplete_refuses_the_change_and_writes_nothing(tenant: Tenant) -> None:
    c = tenant.client
    _, _, sub = _seats(c)

    err = expect_error(
        tenant,
        lambda: _three_seats(c, sub, "error_if_incomplete"),
        status=402,
        param=None,
        type_="card_error",
    )

    assert err.code == "card_declined"
    assert c.v1.subscriptions.retrieve(sub.id)["items"].data[0].quantity == 1
    assert len(invoices_of(c, sub.id)) == 1


def test_default_incomplete_leaves_the_invoice_for_the_customer_to_pay(tenant: Tenant) -> None:
    c = tenant.client
    _, _, sub = _seats(c)

    after = _three_seats(c, sub, "default_incomplete")

    change = _change_invoice(c, sub.id)
    assert (change.status, change.attempt_count) == ("open", 0)  # no payment attempted
    assert after.status == "past_due" and after["items"].data[0].quantity == 3
    c.v1.invoices.pay(change.id, params={"payment_method": "pm_card_visa"})
    assert c.v1.subscriptions.retrieve(sub.id).status == "active"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"metadata": {"plan": "pro"}}, "metadata"),
        ({"description": "Three seats"}, "description"),
        ({"items": [{"id": "{si}", "quantity": 3, "metadata": {"x": "1"}}]}, "items[0][metadata]"),
    ],
)
def test_a_pending_update_takes_only_what_stripe_allows(
    tenant: Tenant, extra: dict[str, Any], param: str
) -> None:
    c = tenant.client
    _, _, sub = _seats(c)
    si = sub["items"].data[0].id
    params: dict[str, Any] = {
        "items": [{"id": si, "quantity": 3}],
        "proration_behavior": "always_invoice",
        "payment_behavior": "pending_if_incomplete",
        **extra,
    }
    if "items" in extra:
        params["items"] = [{**extra["items"][0], "id": si}]
    expect_error(tenant, lambda: c.v1.subscriptions.update(sub.id, params=params), status=400, param=param)


def test_a_pending_update_needs_automatic_collection(tenant: Tenant) -> None:
    c = tenant.client
    _, cus = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": monthly_price(c, 1000)}],
            "collection_method": "send_invoice",
            "days_until_due": 30,
        }
    )
    expect_error(
        tenant, lambda: _three_seats(c, sub, "pending_if_incomplete"), status=400, param="payment_behavior"
    )


# -- add_invoice_items and trial_end in a pending update -------------------------------------------------------------
# Stripe's list of what a pending update can hold includes ``trial_end`` and ``add_invoice_items``
# (https://docs.stripe.com/billing/subscriptions/pending-updates-reference).


def _setup_fee(c: stripe.StripeClient, amount: int) -> dict[str, Any]:
    product = c.v1.products.create(params={"name": "Onboarding"})
    price = c.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": amount})
    return {"price": price.id}


def _three_seats_with_fee(c: stripe.StripeClient, sub: stripe.Subscription) -> stripe.Subscription:
    return c.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": sub["items"].data[0].id, "quantity": 3}],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
            "add_invoice_items": [_setup_fee(c, 5000)],
        },
    )


def test_a_one_time_fee_added_with_a_pending_update_is_paid_with_it(tenant: Tenant) -> None:
    """The fee is a line of the change's invoice (the items already pending come first, then the prorations):
    $50.00 - $6.77 + $20.32 = $63.55. It is held with the change, and applied and paid with it."""
    c = tenant.client
    clock, cus, sub = _seats(c)
    before = billing_events(c)

    after = _three_seats_with_fee(c, sub)

    first, change = invoices_of(c, sub.id)
    assert first.billing_reason == "subscription_create"
    assert [line.amount for line in change.lines.data] == [5000, -677, 2032]
    assert (change.amount_due, change.status, change.attempt_count) == (6355, "open", 1)
    assert after["items"].data[0].quantity == 1 and after.pending_update is not None
    assert after.latest_invoice == change.id
    assert events_since(c, before) == [
        "invoiceitem.created",
        "invoiceitem.created",
        "invoiceitem.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]

    c.v1.invoices.pay(change.id, params={"payment_method": "pm_card_visa"})
    now = c.v1.subscriptions.retrieve(sub.id)
    assert now["items"].data[0].quantity == 3 and now.pending_update is None

    # The renewal bills the three seats and not the fee again.
    set_payment_method(c, cus, "pm_card_visa")
    advance(c, clock, FEB1 + HOUR)
    renewal = invoices_of(c, sub.id)[-1]
    assert (renewal.billing_reason, renewal.amount_due, len(renewal.lines.data)) == (
        "subscription_cycle",
        3000,
        1,
    )


def test_voiding_a_pending_update_s_invoice_drops_its_one_time_fee_too(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub = _seats(c)
    _three_seats_with_fee(c, sub)
    change = invoices_of(c, sub.id)[-1]

    c.v1.invoices.void_invoice(change.id)

    set_payment_method(c, cus, "pm_card_visa")
    advance(c, clock, FEB1 + HOUR)
    renewal = invoices_of(c, sub.id)[-1]
    assert (renewal.billing_reason, renewal.amount_due) == ("subscription_cycle", 1000)
    assert [line.amount for line in renewal.lines.data] == [1000]


JAN5 = JAN1 + 4 * DAY
JAN15 = JAN1 + 14 * DAY
FEB5 = FEB1 + 4 * DAY


def _trialing(c: stripe.StripeClient) -> tuple[str, str, stripe.Subscription]:
    """One seat at $10.00 a month with a 14-day trial from Jan 1; on Jan 5 the card on file is declined."""
    clock, cus = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": monthly_price(c, 1000)}], "trial_period_days": 14}
    )
    assert (sub.status, sub.trial_end) == ("trialing", JAN15)
    advance(c, clock, JAN5)
    set_payment_method(c, cus, "pm_card_chargeDeclined")
    return clock, cus, sub


def _end_trial_now(c: stripe.StripeClient, sub_id: str, payment_behavior: str) -> stripe.Subscription:
    return c.v1.subscriptions.update(
        sub_id,
        params={"trial_end": "now", "payment_behavior": payment_behavior},  # type: ignore[typeddict-item]
    )


def test_ending_a_trial_now_can_wait_for_its_payment(tenant: Tenant) -> None:
    """trial_end=now starts a period on Jan 5 and invoices it at once ($10.00). Declined: the subscription keeps its
    trial until the invoice is paid; paid: the trial ends as it was asked, on Jan 5, and the period is Jan 5 - Feb 5."""
    c = tenant.client
    clock, cus, sub = _trialing(c)
    before = billing_events(c)

    after = _end_trial_now(c, sub.id, "pending_if_incomplete")

    assert (after.status, after.trial_end, after.billing_cycle_anchor) == ("trialing", JAN15, JAN15)
    assert after["items"].data[0].current_period_end == JAN15
    pending = after.pending_update
    assert pending is not None
    assert (pending.trial_end, pending.billing_cycle_anchor, pending.expires_at) == (
        JAN5,
        JAN5,
        JAN5 + 23 * HOUR,
    )
    assert [(i.current_period_start, i.current_period_end) for i in pending.subscription_items] == [
        (JAN5, FEB5)
    ]
    invoice = c.v1.invoices.retrieve(str(after.latest_invoice))
    assert (invoice.status, invoice.amount_due, invoice.period_start, invoice.attempt_count) == (
        "open",
        1000,
        JAN5,
        1,
    )
    assert invoice.next_payment_attempt is None, "a pending update's invoice is not retried automatically"
    assert events_since(c, before) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]

    before = billing_events(c)
    c.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    now = c.v1.subscriptions.retrieve(sub.id)
    assert (now.status, now.trial_end, now.billing_cycle_anchor, now.pending_update) == (
        "active",
        JAN5,
        JAN5,
        None,
    )
    assert (now["items"].data[0].current_period_start, now["items"].data[0].current_period_end) == (
        JAN5,
        FEB5,
    )
    assert events_since(c, before) == [
        "invoice.paid",
        "customer.subscription.trial_will_end",
        "customer.subscription.updated",
        "customer.subscription.pending_update_applied",
    ]

    # Nothing happens at the old trial end; the next invoice is the renewal of Feb 5.
    set_payment_method(c, cus, "pm_card_visa")
    advance(c, clock, FEB5 + HOUR)
    assert [(i.billing_reason, i.period_start, i.amount_due, i.status) for i in invoices_of(c, sub.id)] == [
        ("subscription_create", JAN1, 0, "paid"),
        ("subscription_update", JAN5, 1000, "paid"),
        ("subscription_cycle", FEB5, 1000, "paid"),
    ]


def test_a_pending_trial_end_expires_and_the_trial_runs_its_course(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub = _trialing(c)
    after = _end_trial_now(c, sub.id, "pending_if_incomplete")
    invoice_id = str(after.latest_invoice)
    before = billing_events(c)

    advance(c, clock, JAN5 + 23 * HOUR)

    assert c.v1.invoices.retrieve(invoice_id).status == "void"
    now = c.v1.subscriptions.retrieve(sub.id)
    assert (now.status, now.trial_end, now.pending_update) == ("trialing", JAN15, None)
    assert events_since(c, before) == [
        "invoice.voided",
        "customer.subscription.updated",
        "customer.subscription.pending_update_expired",
    ]
    set_payment_method(c, cus, "pm_card_visa")
    advance(c, clock, JAN15 + HOUR)
    last = invoices_of(c, sub.id)[-1]
    assert (last.billing_reason, last.period_start, last.amount_due, last.status) == (
        "subscription_cycle",
        JAN15,
        1000,
        "paid",
    )
    assert c.v1.subscriptions.retrieve(sub.id).status == "active"


def test_a_pending_trial_end_paid_at_once_ends_the_trial_at_once(tenant: Tenant) -> None:
    c = tenant.client
    _, cus, sub = _trialing(c)
    set_payment_method(c, cus, "pm_card_visa")
    before = billing_events(c)

    after = _end_trial_now(c, sub.id, "pending_if_incomplete")

    assert (after.status, after.trial_end, after.pending_update) == ("active", JAN5, None)
    assert c.v1.invoices.retrieve(str(after.latest_invoice)).status == "paid"
    assert events_since(c, before) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.trial_will_end",
        "customer.subscription.updated",
    ]


def test_ending_a_trial_with_error_if_incomplete_refuses_a_decline_and_writes_nothing(tenant: Tenant) -> None:
    c = tenant.client
    _, _, sub = _trialing(c)

    err = expect_error(
        tenant,
        lambda: _end_trial_now(c, sub.id, "error_if_incomplete"),
        status=402,
        param=None,
        type_="card_error",
    )

    assert err.code == "card_declined"
    assert c.v1.subscriptions.retrieve(sub.id).status == "trialing"
    assert len(invoices_of(c, sub.id)) == 1


def test_ending_a_trial_with_default_incomplete_attempts_no_payment(tenant: Tenant) -> None:
    c = tenant.client
    _, _, sub = _trialing(c)

    after = _end_trial_now(c, sub.id, "default_incomplete")

    invoice = c.v1.invoices.retrieve(str(after.latest_invoice))
    assert (after.status, after.trial_end, invoice.status, invoice.attempt_count) == (
        "past_due",
        JAN5,
        "open",
        0,
    )
    c.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert c.v1.subscriptions.retrieve(sub.id).status == "active"


def test_a_pending_trial_end_takes_no_change_of_items_and_waits_its_turn(tenant: Tenant) -> None:
    c = tenant.client
    _, _, sub = _trialing(c)
    si = sub["items"].data[0].id
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.update(
            sub.id,
            params={
                "trial_end": "now",
                "items": [{"id": si, "quantity": 2}],
                "payment_behavior": "pending_if_incomplete",
            },
        ),
        status=400,
        param="trial_end",
    )
    _end_trial_now(c, sub.id, "pending_if_incomplete")
    # While the end of the trial is pending, the trial can't be moved or ended again.
    expect_error(
        tenant, lambda: _end_trial_now(c, sub.id, "pending_if_incomplete"), status=400, param="trial_end"
    )
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.update(sub.id, params={"trial_end": JAN15 + DAY}),
        status=400,
        param="trial_end",
    )
