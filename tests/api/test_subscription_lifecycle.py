"""Subscription lifecycle over the official SDK: ``payment_behavior`` on create, incomplete subscriptions expiring after
23 hours, cancel now with ``prorate`` / ``invoice_now`` / ``cancellation_details``, the ``invoice.upcoming`` notice,
and ``send_invoice`` renewals — with the error paths writing nothing.

Stripe's rules: the subscription object's ``status`` (https://docs.stripe.com/api/subscriptions/object#subscription_
object-status), ``payment_behavior`` (https://docs.stripe.com/api/subscriptions/create#create_subscription-payment_
behavior), cancel (https://docs.stripe.com/api/subscriptions/cancel).
"""

from __future__ import annotations

import stripe

from tests.conftest import Tenant
from tests.scenarios.lifecycle_support import (
    APR1,
    DAY,
    DRAFT_WINDOW,
    FEB1,
    JAN1,
    MAR1,
    advance,
    billing_events,
    customer_on_clock,
    events_since,
    expect_error,
    invoices_of,
    monthly_price,
)

JAN17 = JAN1 + 16 * DAY  # 16 of January's 31 days used, 15 left
INCOMPLETE = ["customer.subscription.created", "invoice.created", "invoice.finalized"]


def _seats(c: stripe.StripeClient, payment_method: str | None) -> tuple[str, str, str]:
    clock, cus = customer_on_clock(c, JAN1, payment_method)
    return clock, cus, monthly_price(c, 9900)


# -- payment_behavior --------------------------------------------------------------------------------------------
def test_error_if_incomplete_declined_is_a_card_error_and_writes_nothing(tenant: Tenant) -> None:
    c = tenant.client
    _, cus, price = _seats(c, "pm_card_chargeDeclined")
    err = expect_error(
        tenant,
        lambda: c.v1.subscriptions.create(
            params={
                "customer": cus,
                "items": [{"price": price, "quantity": 2}],
                "payment_behavior": "error_if_incomplete",
            }
        ),
        status=402,
        param=None,
        type_="card_error",
    )
    assert isinstance(err, stripe.CardError) and err.code == "card_declined"
    assert c.v1.subscriptions.list(params={"customer": cus, "status": "all"}).data == []
    assert c.v1.invoices.list(params={"customer": cus}).data == []


def test_error_if_incomplete_without_payment_method_writes_nothing(tenant: Tenant) -> None:
    c = tenant.client
    _, cus, price = _seats(c, None)
    err = expect_error(
        tenant,
        lambda: c.v1.subscriptions.create(
            params={"customer": cus, "items": [{"price": price}], "payment_behavior": "error_if_incomplete"}
        ),
        status=400,
        param=None,
    )
    assert err.code == "resource_missing"


def test_error_if_incomplete_that_pays_is_active(tenant: Tenant) -> None:
    c = tenant.client
    _, cus, price = _seats(c, "pm_card_visa")
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": price}], "payment_behavior": "error_if_incomplete"}
    )
    assert sub.status == "active"
    assert c.v1.invoices.retrieve(str(sub.latest_invoice)).amount_paid == 9900


def test_payment_behavior_errors_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    _, cus, price = _seats(c, "pm_card_visa")
    for value in ("pending_if_incomplete", "sometimes"):
        expect_error(
            tenant,
            lambda v=value: c.v1.subscriptions.create(  # type: ignore[misc]
                params={"customer": cus, "items": [{"price": price}], "payment_behavior": v}
            ),
            status=400,
            param="payment_behavior",
        )


def test_default_incomplete_leaves_the_first_invoice_open_then_expires(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, price = _seats(c, "pm_card_visa")
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": price, "quantity": 3}],
            "payment_behavior": "default_incomplete",
        }
    )
    assert sub.status == "incomplete"
    first = c.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (first.status, first.amount_due, first.attempt_count, first.attempted) == ("open", 29700, 0, False)
    assert billing_events(c) == [*INCOMPLETE, "customer.subscription.updated"]
    seen = billing_events(c)
    advance(c, clock, JAN1 + 23 * 3600 - 60)
    assert c.v1.subscriptions.retrieve(sub.id).status == "incomplete"
    advance(c, clock, JAN1 + 23 * 3600 + 60)
    expired = c.v1.subscriptions.retrieve(sub.id)
    assert (expired.status, expired.ended_at) == ("incomplete_expired", JAN1 + 23 * 3600)
    assert c.v1.invoices.retrieve(first.id).status == "void"
    assert events_since(c, seen) == ["invoice.voided", "customer.subscription.updated"]
    # Terminal: nothing more happens, and it is listed as ended.
    before = tenant.rows()
    advance(c, clock, FEB1 + DRAFT_WINDOW + 60)
    assert tenant.rows() == before + 2
    ended = c.v1.subscriptions.list(params={"customer": cus, "status": "ended"}).data
    assert [s.id for s in ended] == [sub.id]
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.update(sub.id, params={"metadata": {"a": "b"}}),
        status=400,
        param="subscription",
    )


def test_allow_incomplete_declined_first_payment_expires_after_23_hours(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, price = _seats(c, "pm_card_chargeDeclined")
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price}]})
    assert sub.status == "incomplete"
    first = c.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (first.status, first.attempt_count, first.next_payment_attempt) == ("open", 1, None)
    assert billing_events(c) == [*INCOMPLETE, "invoice.payment_failed", "customer.subscription.updated"]
    advance(c, clock, JAN1 + DAY)
    assert c.v1.subscriptions.retrieve(sub.id).status == "incomplete_expired"
    assert c.v1.invoices.retrieve(first.id).status == "void"


def test_paying_the_first_invoice_by_hand_activates(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, price = _seats(c, "pm_card_visa")
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": price}], "payment_behavior": "default_incomplete"}
    )
    c.v1.invoices.pay(str(sub.latest_invoice))
    assert c.v1.subscriptions.retrieve(sub.id).status == "active"
    advance(c, clock, JAN1 + DAY)  # no expiry once paid
    assert c.v1.subscriptions.retrieve(sub.id).status == "active"


# -- cancel now --------------------------------------------------------------------------------------------------
def test_cancel_now_with_prorate_and_invoice_now_credits_unused_time(tenant: Tenant) -> None:
    """20 seats × $99.00 billed for January; canceled on Jan 17 with 15 of 31 days unused:
    -$1,980.00 × 15/31 = -$958.0645..., credited -$958.06 on a final invoice; the credit goes to the balance."""
    c = tenant.client
    clock, cus, price = _seats(c, "pm_card_visa")
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price, "quantity": 20}]})
    advance(c, clock, JAN17)
    seen = billing_events(c)
    canceled = c.v1.subscriptions.cancel(
        sub.id,
        params={
            "prorate": True,
            "invoice_now": True,
            "cancellation_details": {"comment": "Moving to another tool", "feedback": "switched_service"},
        },
    )
    assert (canceled.status, canceled.canceled_at, canceled.ended_at) == ("canceled", JAN17, JAN17)
    assert canceled.cancellation_details is not None
    assert (
        canceled.cancellation_details.reason,
        canceled.cancellation_details.comment,
        canceled.cancellation_details.feedback,
    ) == ("cancellation_requested", "Moving to another tool", "switched_service")
    final = c.v1.invoices.retrieve(str(canceled.latest_invoice))
    [line] = final.lines.data
    assert (line.amount, line.period.start, line.period.end) == (-95806, JAN17, FEB1)
    assert (final.total, final.amount_due, final.status) == (-95806, 0, "paid")
    assert (final.starting_balance, final.ending_balance) == (0, -95806)
    assert c.v1.customers.retrieve(cus).balance == -95806
    assert events_since(c, seen) == [
        "invoiceitem.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.deleted",
    ]
    before = tenant.rows()
    advance(c, clock, FEB1 + DRAFT_WINDOW + 60)  # no renewal after cancellation
    assert tenant.rows() == before + 2


def test_cancel_now_invoice_now_collects_pending_prorations(tenant: Tenant) -> None:
    """20 -> 25 seats on Jan 17 leaves a pending debit of 5 × $99.00 × 15/31 = $239.516... -> $239.52; canceling with
    invoice_now (no prorate) invoices and charges it at once."""
    c = tenant.client
    clock, cus, price = _seats(c, "pm_card_visa")
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price, "quantity": 20}]})
    advance(c, clock, JAN17)
    item = sub["items"].data[0]
    c.v1.subscriptions.update(sub.id, params={"items": [{"id": item.id, "quantity": 25}]})
    canceled = c.v1.subscriptions.cancel(sub.id, params={"invoice_now": True})
    final = c.v1.invoices.retrieve(str(canceled.latest_invoice))
    assert sorted(line.amount for line in final.lines.data) == [-95806, 119758]
    assert (final.total, final.status, final.amount_paid) == (23952, "paid", 23952)
    assert canceled.status == "canceled"


def test_cancel_with_prorate_only_leaves_the_credit_pending(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, price = _seats(c, "pm_card_visa")
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price, "quantity": 20}]})
    advance(c, clock, JAN17)
    canceled = c.v1.subscriptions.cancel(sub.id, params={"prorate": True})
    assert canceled.latest_invoice == sub.latest_invoice
    [credit] = c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data
    assert (credit.amount, credit.proration) == (-95806, True)


def test_cancel_plain_and_cancel_errors_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    _, cus, price = _seats(c, "pm_card_visa")
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price}]})
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.cancel(sub.id, params={"cancellation_details": {"feedback": "meh"}}),  # type: ignore[typeddict-item]
        status=400,
        param="cancellation_details[feedback]",
    )
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.cancel(sub.id, params={"prorate": "maybe"}),  # type: ignore[typeddict-item]
        status=400,
        param="prorate",
    )
    expect_error(tenant, lambda: c.v1.subscriptions.cancel("sub_missing"), status=404, param="id")
    canceled = c.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.cancellation_details is not None
    assert canceled.cancellation_details.reason == "cancellation_requested"
    assert len(invoices_of(c, sub.id)) == 1
    expect_error(tenant, lambda: c.v1.subscriptions.cancel(sub.id), status=400, param="subscription")


# -- invoice.upcoming --------------------------------------------------------------------------------------------
def test_invoice_upcoming_three_days_before_each_renewal_once(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, price = _seats(c, "pm_card_visa")
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price, "quantity": 2}]})
    assert sub["billfold_due_at"] == FEB1 - 3 * DAY
    advance(c, clock, FEB1 - 3 * DAY - 60)
    assert c.v1.events.list(params={"type": "invoice.upcoming"}).data == []
    advance(c, clock, FEB1 - 3 * DAY + 60)
    [notice] = c.v1.events.list(params={"type": "invoice.upcoming"}).data
    upcoming = notice.data.object
    assert (upcoming["total"], upcoming["period_start"], upcoming["period_end"]) == (19800, FEB1, MAR1)
    assert upcoming["parent"]["subscription_details"]["subscription"] == sub.id
    advance(c, clock, FEB1 - DAY)  # still one notice for this renewal
    assert len(c.v1.events.list(params={"type": "invoice.upcoming"}).data) == 1
    advance(c, clock, FEB1 + DRAFT_WINDOW + 60)
    renewal = invoices_of(c, sub.id)[-1]
    assert (renewal.total, renewal.period_start) == (upcoming["total"], FEB1)
    advance(c, clock, MAR1 - 3 * DAY + 60)
    assert len(c.v1.events.list(params={"type": "invoice.upcoming"}).data) == 2
    # A subscription that will not renew gets no notice.
    c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    advance(c, clock, APR1 - 3 * DAY + 60)
    assert len(c.v1.events.list(params={"type": "invoice.upcoming"}).data) == 2


# -- send_invoice ------------------------------------------------------------------------------------------------
def test_send_invoice_renewals_are_due_after_days_until_due_and_not_charged(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, price = _seats(c, "pm_card_visa")
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": price}],
            "collection_method": "send_invoice",
            "days_until_due": 14,
        }
    )
    assert sub.status == "active"
    first = c.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (first.status, first.due_date, first.attempt_count, first.collection_method) == (
        "open",
        JAN1 + 14 * DAY,
        0,
        "send_invoice",
    )
    advance(c, clock, FEB1 + DRAFT_WINDOW + 60)
    renewal = invoices_of(c, sub.id)[-1]
    assert (renewal.status, renewal.due_date, renewal.attempt_count, renewal.amount_remaining) == (
        "open",
        FEB1 + DRAFT_WINDOW + 14 * DAY,
        0,
        9900,
    )
    assert renewal.next_payment_attempt is None
    # Nothing was charged; the first invoice, unpaid at its due date (Jan 15), made the subscription past_due
    # ("If subscription collection_method=send_invoice it becomes past_due when its invoice is not paid by the due
    # date", https://docs.stripe.com/api/subscriptions/object#subscription_object-status).
    assert c.v1.subscriptions.retrieve(sub.id).status == "past_due"
    assert c.v1.invoices.retrieve(first.id).status == "open"
