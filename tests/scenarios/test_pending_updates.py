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
