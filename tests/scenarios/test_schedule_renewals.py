"""A schedule acting at a renewal, through the official SDK on test clocks: the upcoming invoice shows the phase that
starts then, a metered item the phase removes still bills the usage of the period that ends, a schedule that ends
the subscription bills what it still owes, and the subscription's own cancellation settings are the schedule's.

Stripe's behaviour: phases take effect at their start (https://docs.stripe.com/billing/subscriptions/
subscription-schedules), metered usage is billed in arrears at the end of the period
(https://docs.stripe.com/billing/subscriptions/usage-based), and a subscription managed by a schedule refuses a
direct change of its cancellation ("updating any cancelation behavior directly is not allowed")."""

from __future__ import annotations

from typing import Any

import stripe

from tests.conftest import Tenant
from tests.scenarios.lifecycle_support import (
    DAY,
    FEB1,
    HOUR,
    JAN1,
    MAR1,
    billing_events,
    customer_on_clock,
    expect_error,
    invoices_of,
    monthly_price,
)
from tests.scenarios.test_metered_usage import _metered
from tests.support.clocks import advance


def _resolutions(c: stripe.StripeClient) -> str:
    """A metered price: $0.99 per resolved conversation, summed from meter events named ``resolved``."""
    return _metered(c, "AI resolutions", "resolved", "sum", 99)[1]


def _resolved(c: stripe.StripeClient, customer: str, value: int) -> None:
    c.v1.billing.meter_events.create(
        params={"event_name": "resolved", "payload": {"stripe_customer_id": customer, "value": str(value)}}
    )


def _lines(invoice: Any) -> list[tuple[str, int, int]]:
    return [(line.description, line.quantity, line.amount) for line in invoice.lines.data]


def _upcoming_events(c: stripe.StripeClient, sub_id: str) -> list[dict[str, Any]]:
    return [
        e.data.object.to_dict()
        for e in c.v1.events.list(params={"type": "invoice.upcoming", "limit": 100}).auto_paging_iter()
        if e.data.object["parent"]["subscription_details"]["subscription"] == sub_id
    ]


def test_a_phase_at_the_renewal_is_in_the_upcoming_invoice_and_removed_usage_is_billed(
    tenant: Tenant,
) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = monthly_price(c, 1000, "Advanced seat")
    ai = _resolutions(c)
    # Jan 1: 5 seats and AI resolutions. A schedule moves the customer to 8 seats without AI from Feb 1.
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": seat, "quantity": 5}, {"price": ai}]}
    )
    sched = c.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    c.v1.subscription_schedules.update(
        sched.id,
        params={
            "phases": [
                {
                    "items": [{"price": seat, "quantity": 5}, {"price": ai}],
                    "start_date": JAN1,
                    "end_date": FEB1,
                },
                {"items": [{"price": seat, "quantity": 8}], "duration": {"interval": "month"}},
            ]
        },
    )
    # Jan 10: 7 conversations resolved by the AI in January.
    advance(c, clock, JAN1 + 9 * DAY)
    _resolved(c, cus, 7)

    # The upcoming invoice is the renewal as the phase makes it: 8 seats, and January's 7 resolutions in arrears,
    # though the phase drops the AI price (before: 5 seats, 5,693; the renewal then billed 8,000 and lost the usage).
    expected = [
        ("Usage of 7 × AI resolutions, Jan 1, 2026 to Feb 1, 2026", 7, 693),
        ("Advanced seat", 8, 8000),
    ]
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id})
    assert (preview.total, _lines(preview)) == (8693, expected)
    assert (
        c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data == []
    )  # a preview writes nothing

    # Feb 1 + 2 h: the renewal (finalized and paid after the draft window) equals the preview, line for line.
    advance(c, clock, FEB1 + 2 * HOUR)
    renewal = invoices_of(c, sub.id)[-1]
    assert (renewal.total, renewal.status, _lines(renewal)) == (8693, "paid", expected)
    usage_line = renewal.lines.data[0]
    assert (usage_line.period.start, usage_line.period.end) == (JAN1, FEB1)
    # The invoice.upcoming notice three days before (Jan 29) showed the same invoice.
    [notice] = _upcoming_events(c, sub.id)
    assert (notice["total"], [(x["description"], x["amount"]) for x in notice["lines"]["data"]]) == (
        8693,
        [(d, a) for d, _, a in expected],
    )
    assert [i.price.id for i in c.v1.subscriptions.retrieve(sub.id)["items"].data] == [seat]
    assert c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data == []


def test_a_kept_metered_item_is_billed_once_across_a_phase_change(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = monthly_price(c, 1000, "Advanced seat")
    ai = _resolutions(c)
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "phases": [
                {"items": [{"price": seat, "quantity": 2}, {"price": ai}], "end_date": FEB1},
                {"items": [{"price": seat, "quantity": 4}, {"price": ai}], "end_date": MAR1},
            ],
            "end_behavior": "release",
        }
    )
    sub_id = str(sched.subscription)
    advance(c, clock, JAN1 + 20 * DAY)
    _resolved(c, cus, 10)
    preview = c.v1.invoices.create_preview(params={"subscription": sub_id})
    advance(c, clock, FEB1 + 2 * HOUR)
    renewal = invoices_of(c, sub_id)[-1]
    # The AI item is the same item in both phases: its January usage is one line, priced once (10 × 0.99).
    assert _lines(renewal) == [("Advanced seat", 4, 4000), ("AI resolutions", 10, 990)]
    assert (preview.total, _lines(preview)) == (renewal.total, _lines(renewal))
    assert renewal.total == 4990


def test_a_schedule_ending_with_cancel_bills_the_last_period_and_announces_no_renewal(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = monthly_price(c, 1000, "Advanced seat")
    ai = _resolutions(c)
    # A two-month deal that ends the subscription on Mar 1.
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "phases": [{"items": [{"price": seat, "quantity": 3}, {"price": ai}], "end_date": MAR1}],
            "end_behavior": "cancel",
        }
    )
    sub_id = str(sched.subscription)
    advance(c, clock, FEB1 + 2 * HOUR)
    assert [i.total for i in invoices_of(c, sub_id)] == [3000, 3000]
    advance(c, clock, FEB1 + 10 * DAY)
    _resolved(c, cus, 12)
    # No renewal follows Mar 1, so there is no upcoming invoice (as with cancel_at_period_end).
    err = expect_error(
        tenant, lambda: c.v1.invoices.create_preview(params={"subscription": sub_id}), status=400, param=None
    )
    assert err.code == "invoice_upcoming_none"
    # Mar 1 + 2 h: the subscription ends; February's 12 resolutions are billed on a final invoice (12 × 0.99),
    # which the worker finalizes and collects after the draft window. Before, they were never billed.
    advance(c, clock, MAR1 + 2 * HOUR)
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert (sub.status, sub.ended_at) == ("canceled", MAR1)
    final = invoices_of(c, sub_id)[-1]
    assert (final.total, final.status, _lines(final)) == (1188, "paid", [("AI resolutions", 12, 1188)])
    assert (final.lines.data[0].period.start, final.lines.data[0].period.end) == (FEB1, MAR1)
    assert c.v1.subscription_schedules.retrieve(sched.id).status == "completed"
    # No invoice.upcoming was sent for the renewal that does not happen (only January's, for Feb 1).
    assert [n["period_start"] for n in _upcoming_events(c, sub_id)] == [FEB1]
    # Feb 1's renewal (paid), then Mar 1: the final invoice is made before the subscription ends, then collected.
    assert billing_events(c)[-8:] == [
        "invoice.created",
        "customer.subscription.updated",
        "invoice.finalized",
        "invoice.paid",
        "invoice.created",
        "customer.subscription.deleted",
        "invoice.finalized",
        "invoice.paid",
    ]


def test_cancellation_settings_of_a_scheduled_subscription_are_refused(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = monthly_price(c, 1000, "Advanced seat")
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": seat, "quantity": 5}]})
    sched = c.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    for params in (
        {"cancel_at_period_end": True},
        {"cancel_at": JAN1 + 20 * DAY},
        # with a change of items in the same request: refused before the items change
        {"items": [{"id": sub["items"].data[0].id, "quantity": 9}], "cancel_at_period_end": True},
    ):
        err = expect_error(
            tenant,
            lambda params=params: c.v1.subscriptions.update(sub.id, params=params),  # type: ignore[misc]
            status=400,
            param="cancel_at" if "cancel_at" in params else "cancel_at_period_end",
        )
        assert f"managed by the subscription schedule `{sched.id}`" in str(err.user_message)
    assert c.v1.subscriptions.retrieve(sub.id)["items"].data[0].quantity == 5
    # The value it already has changes nothing and is accepted.
    assert (
        c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False}).cancel_at_period_end
        is False
    )
    # Released, the subscription is its own again.
    c.v1.subscription_schedules.release(sched.id)
    assert (
        c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True}).cancel_at_period_end is True
    )
    advance(c, clock, FEB1 + 2 * HOUR)
    assert c.v1.subscriptions.retrieve(sub.id).status == "canceled"
