"""A subscription that ends at its ``cancel_at``, through the official SDK on test clocks: what it still owes (the
metered usage so far, pending prorations) is billed before it ends, and the unused time after ``cancel_at`` is
credited as Stripe documents for the parameter: "If set to a date before the current period ends, this will cause a
proration if prorations have been enabled using `proration_behavior`. If set during a future period, this will
always cause a proration for that period" (https://docs.stripe.com/api/subscriptions/update#update_subscription-
cancel_at). The credit is of what the seats were billed for that time (flexible billing mode), as for a cancellation
with ``prorate`` (https://docs.stripe.com/billing/subscriptions/cancel).

Every timeline: 10 seats at 10.00 a month (100.00) from Jan 1, 2026; where there is usage, AI resolutions at 0.99.
"""

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
    customer_on_clock,
    expect_error,
    invoices_of,
    monthly_price,
)
from tests.scenarios.test_metered_usage import _metered
from tests.support.clocks import advance

JAN16 = JAN1 + 15 * DAY
FEB15 = FEB1 + 14 * DAY


def _lines(invoice: Any) -> list[tuple[str, int, int]]:
    return [(line.description, line.quantity, line.amount) for line in invoice.lines.data]


def _start(c: stripe.StripeClient, *, usage: bool) -> tuple[str, str, str]:
    """The customer on a clock at Jan 1 and the subscription (first invoice 100.00, paid)."""
    clock, cus = customer_on_clock(c, JAN1)
    items: list[dict[str, Any]] = [{"price": monthly_price(c, 1000, "Advanced seat"), "quantity": 10}]
    if usage:
        items.append({"price": _metered(c, "AI resolutions", "resolved", "sum", 99)[1]})
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": items})  # type: ignore[typeddict-item]
    assert [i.total for i in invoices_of(c, sub.id)] == [10000]
    return clock, cus, sub.id


def _resolved(c: stripe.StripeClient, customer: str, value: int) -> None:
    c.v1.billing.meter_events.create(
        params={"event_name": "resolved", "payload": {"stripe_customer_id": customer, "value": str(value)}}
    )


def test_cancel_at_mid_period_bills_the_usage_and_credits_the_unused_time(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id = _start(c, usage=True)
    # Jan 10: the customer will leave on Jan 16 (proration_behavior: the default, create_prorations).
    advance(c, clock, JAN1 + 9 * DAY)
    sub = c.v1.subscriptions.update(sub_id, params={"cancel_at": JAN16})
    assert (sub.cancel_at, sub.status, sub["billfold_cancel_at_credit"]) == (JAN16, "active", True)
    err = expect_error(
        tenant, lambda: c.v1.invoices.create_preview(params={"subscription": sub_id}), status=400, param=None
    )
    assert err.code == "invoice_upcoming_none"  # it will not renew
    advance(c, clock, JAN1 + 11 * DAY)
    _resolved(c, cus, 5)

    # Jan 16 + 2 h: the subscription has ended. Its final invoice bills the 5 resolutions (5 × 0.99) and credits
    # the 16 unused days of the 31 paid for: 100.00 × 16/31 = 51.6129 -> 51.61. Before, the usage was lost and
    # nothing was credited.
    advance(c, clock, JAN16 + 2 * HOUR)
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert (sub.status, sub.ended_at) == ("canceled", JAN16)
    first, final = invoices_of(c, sub_id)
    assert first.total == 10000
    assert _lines(final) == [
        ("Unused time on 10 × Advanced seat after Jan 16, 2026", 10, -5161),
        ("AI resolutions", 5, 495),
    ]
    credit = final.lines.data[0]
    assert (credit.period.start, credit.period.end) == (JAN16, FEB1)
    assert (final.total, final.amount_due, final.status) == (-4666, 0, "paid")
    # The negative total is the customer's credit balance (https://docs.stripe.com/invoicing/customer/balance).
    assert c.v1.customers.retrieve(cus).balance == -4666
    assert c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data == []


def test_cancel_at_on_the_period_end_bills_the_last_periods_usage(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id = _start(c, usage=True)
    c.v1.subscriptions.update(sub_id, params={"cancel_at": FEB1})
    advance(c, clock, JAN1 + 20 * DAY)
    _resolved(c, cus, 12)
    # Feb 1 + 2 h: no renewal; January's 12 resolutions are billed (11.88), nothing is credited (no unused time).
    # Before, the cancellation ran first at Feb 1 and the usage was never billed.
    advance(c, clock, FEB1 + 2 * HOUR)
    assert c.v1.subscriptions.retrieve(sub_id).status == "canceled"
    first, final = invoices_of(c, sub_id)  # and no renewal invoice for February
    assert first.total == 10000
    assert (final.total, final.status, _lines(final)) == (1188, "paid", [("AI resolutions", 12, 1188)])
    assert (final.lines.data[0].period.start, final.lines.data[0].period.end) == (JAN1, FEB1)


def test_cancel_at_with_proration_behavior_none_credits_nothing(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id = _start(c, usage=True)
    sub = c.v1.subscriptions.update(sub_id, params={"cancel_at": JAN16, "proration_behavior": "none"})
    assert sub["billfold_cancel_at_credit"] is False
    advance(c, clock, JAN1 + 11 * DAY)
    _resolved(c, cus, 5)
    advance(c, clock, JAN16 + 2 * HOUR)
    first, final = invoices_of(c, sub_id)
    assert first.total == 10000
    assert (final.total, _lines(final)) == (495, [("AI resolutions", 5, 495)])
    assert c.v1.customers.retrieve(cus).balance == 0


def test_cancel_at_in_a_later_period_always_credits_its_unused_time(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id = _start(c, usage=False)
    # Jan 10: cancel on Feb 15, in the next period, even with proration_behavior=none ("always").
    advance(c, clock, JAN1 + 9 * DAY)
    sub = c.v1.subscriptions.update(sub_id, params={"cancel_at": FEB15, "proration_behavior": "none"})
    assert sub["billfold_cancel_at_credit"] is True
    # It renews on Feb 1 for the whole of February (the upcoming invoice said so), then ends on Feb 15 with a
    # credit of February's 14 unused days of 28: 100.00 × 14/28 = 50.00.
    preview = c.v1.invoices.create_preview(params={"subscription": sub_id})
    advance(c, clock, FEB15 + 2 * HOUR)
    first, renewal, final = invoices_of(c, sub_id)
    assert (renewal.total, _lines(renewal)) == (preview.total, _lines(preview)) == (10000, _lines(first))
    assert (final.total, _lines(final)) == (
        -5000,
        [("Unused time on 10 × Advanced seat after Feb 15, 2026", 10, -5000)],
    )
    assert c.v1.customers.retrieve(cus).balance == -5000
    assert c.v1.subscriptions.retrieve(sub_id).ended_at == FEB15


def test_a_withdrawn_cancel_at_leaves_nothing_behind(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id = _start(c, usage=False)
    advance(c, clock, JAN1 + 9 * DAY)
    c.v1.subscriptions.update(sub_id, params={"cancel_at": JAN16})
    sub = c.v1.subscriptions.update(sub_id, params={"cancel_at": ""})
    assert sub.cancel_at is None and "billfold_cancel_at_credit" not in sub
    advance(c, clock, FEB1 + 2 * HOUR)
    assert [(i.total, i.status) for i in invoices_of(c, sub_id)] == [(10000, "paid"), (10000, "paid")]
    assert c.v1.subscriptions.retrieve(sub_id).status == "active"
    assert c.v1.invoice_items.list(params={"customer": cus}).data == []


def test_a_schedule_ending_mid_period_with_cancel_credits_the_unused_time(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = monthly_price(c, 1000, "Advanced seat")
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "phases": [{"items": [{"price": seat, "quantity": 10}], "end_date": JAN16}],
            "end_behavior": "cancel",
        }
    )
    sub_id = str(sched.subscription)
    advance(c, clock, MAR1)
    first, final = invoices_of(c, sub_id)
    assert first.total == 10000
    assert (final.total, _lines(final)) == (
        -5161,
        [("Unused time on 10 × Advanced seat after Jan 16, 2026", 10, -5161)],
    )
    assert c.v1.subscriptions.retrieve(sub_id).ended_at == JAN16
    assert c.v1.subscription_schedules.retrieve(sched.id).status == "completed"
    assert c.v1.customers.retrieve(cus).balance == -5161
