"""Mid-period changes as timelines on test clocks, through the official SDK: an upgrade, downgrades whose credit
exceeds the charge (the customer balance carries the rest), and seats up then down within one period.

Stripe's rule (https://docs.stripe.com/billing/subscriptions/prorations): a change credits the unused time of the old
configuration and charges the remaining time of the new one, to the second; with ``create_prorations`` both become
pending invoice items collected by the next invoice, with ``always_invoice`` an invoice is issued at once. Every invoice
is asserted to the cent with its customer balance, and the ordered billing events (helpers: test_timelines.py).
"""

from __future__ import annotations

import stripe

from tests.conftest import Tenant
from tests.scenarios.test_timelines import (
    CREATE_EVENTS,
    DRAFT_WINDOW,
    RENEWAL_EVENTS,
    advance,
    assert_nothing_left_to_do,
    billing_events,
    customer_on_clock,
    invoice,
    monthly_price,
    sub_invoices,
    summary,
    utc,
)

# April 2026 has 30 days: a change on Apr 16 leaves exactly half of the period.
APR1, APR11, APR16, APR21 = utc(2026, 4, 1), utc(2026, 4, 11), utc(2026, 4, 16), utc(2026, 4, 21)
MAY1, JUN1, JUL1 = utc(2026, 5, 1), utc(2026, 6, 1), utc(2026, 7, 1)
CHANGE_EVENTS = ["invoiceitem.created", "invoiceitem.created", "customer.subscription.updated"]


def _start(c: stripe.StripeClient, price: str, quantity: int = 1) -> tuple[str, str, stripe.Subscription]:
    clock, cus = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": price, "quantity": quantity}]}
    )
    return clock, cus, sub


def _change_price(
    c: stripe.StripeClient, sub: stripe.Subscription, price: str, behavior: str
) -> stripe.Subscription:
    item = sub["items"].data[0]
    return c.v1.subscriptions.update(
        sub.id,
        params={"items": [{"id": item.id, "price": price}], "proration_behavior": behavior},
    )


# -- 3a. upgrade -------------------------------------------------------------------------------------------------
def test_upgrade_halfway_lands_on_the_renewal_invoice(tenant: Tenant) -> None:
    """Stripe's example (https://docs.stripe.com/billing/subscriptions/prorations): from 10 USD to 20 USD a month
    halfway through the period, "-5 USD for unused time on the initial price, and 10 USD for the remaining time on the
    new price". With the default ``create_prorations`` both lines wait for the next invoice, with May at 20 USD."""
    c = tenant.client
    cheap, dear = monthly_price(c, 1000, "Basic"), monthly_price(c, 2000, "Pro")
    clock, _, sub = _start(c, cheap)
    advance(c, clock, APR16)
    changed = _change_price(c, sub, dear, "create_prorations")
    assert changed["items"].data[0].price.id == dear
    assert len(sub_invoices(c, sub.id)) == 1  # nothing invoiced at the change

    renewal_lines = [
        (-500, 1, APR16, MAY1, True),
        (1000, 1, APR16, MAY1, True),
        (2000, 1, MAY1, JUN1, False),
    ]
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id})
    assert [(line.amount, line.period.start, line.period.end) for line in preview.lines.data] == [
        (amount, start, end) for amount, _, start, end, _ in renewal_lines
    ]
    assert (preview.subtotal, preview.total, preview.amount_due) == (2500, 2500, 2500)

    advance(c, clock, MAY1 + DRAFT_WINDOW + 60)
    assert [summary(inv) for inv in sub_invoices(c, sub.id)] == [
        invoice(
            "subscription_create", [(1000, 1, APR1, MAY1, False)], subtotal=1000, total=1000, amount_due=1000
        ),
        invoice("subscription_cycle", renewal_lines, subtotal=2500, total=2500, amount_due=2500),
    ]
    assert billing_events(c) == CREATE_EVENTS + CHANGE_EVENTS + RENEWAL_EVENTS
    assert_nothing_left_to_do(c, clock, sub.id, MAY1 + DRAFT_WINDOW + 60)


# -- 3b. downgrades: the credit exceeds the charge ---------------------------------------------------------------
def test_downgrade_invoiced_at_once_leaves_a_credit_for_the_next_invoice(tenant: Tenant) -> None:
    """From 50 USD to 20 USD halfway through April with ``always_invoice``: credit -25.00 for the unused half, charge
    10.00 for the remaining half. The invoice total is -15.00: nothing is due and the 15.00 goes to the customer's
    balance, which "automatically applies toward the next invoice finalized to a customer" — "Prorations from
    downgrading a subscription can indirectly create credits to reduce the amount due on the next invoice"
    (https://docs.stripe.com/billing/customer/balance). May's 20.00 then costs 5.00."""
    c = tenant.client
    dear, cheap = monthly_price(c, 5000, "Pro"), monthly_price(c, 2000, "Basic")
    clock, cus, sub = _start(c, dear)
    advance(c, clock, APR16)
    changed = _change_price(c, sub, cheap, "always_invoice")
    credit_invoice = c.v1.invoices.retrieve(str(changed.latest_invoice))
    assert summary(credit_invoice) == invoice(
        "subscription_update",
        [(-2500, 1, APR16, MAY1, True), (1000, 1, APR16, MAY1, True)],
        subtotal=-1500,
        total=-1500,
        amount_due=0,
        ending_balance=-1500,
    )
    assert c.v1.customers.retrieve(cus).balance == -1500

    advance(c, clock, MAY1 + 60)
    draft = sub_invoices(c, sub.id)[-1]
    # A draft's starting balance is the customer's current balance; its ending balance is set at finalization.
    assert (draft.status, draft.starting_balance, draft.amount_due, draft.ending_balance) == (
        "draft",
        -1500,
        500,
        None,
    )
    advance(c, clock, MAY1 + DRAFT_WINDOW + 60)
    assert [summary(inv) for inv in sub_invoices(c, sub.id)] == [
        invoice(
            "subscription_create", [(5000, 1, APR1, MAY1, False)], subtotal=5000, total=5000, amount_due=5000
        ),
        summary(credit_invoice),
        invoice(
            "subscription_cycle",
            [(2000, 1, MAY1, JUN1, False)],
            subtotal=2000,
            total=2000,
            amount_due=500,
            starting_balance=-1500,
            ending_balance=0,
        ),
    ]
    assert c.v1.customers.retrieve(cus).balance == 0
    assert billing_events(c) == [
        *CREATE_EVENTS,
        "invoiceitem.created",
        "invoiceitem.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.updated",
        *RENEWAL_EVENTS,
    ]
    assert_nothing_left_to_do(c, clock, sub.id, MAY1 + DRAFT_WINDOW + 60)


def test_downgrade_credit_larger_than_the_renewal_carries_over_two_invoices(tenant: Tenant) -> None:
    """From 100 USD to 10 USD halfway through April with ``create_prorations``: May's invoice has the credit -50.00,
    the charge 5.00 and May at 10.00 — a total of -35.00, so nothing is due and 35.00 goes to the balance. June's 10.00
    is paid from it (25.00 left), and so on (https://docs.stripe.com/billing/customer/balance)."""
    c = tenant.client
    dear, cheap = monthly_price(c, 10000, "Pro"), monthly_price(c, 1000, "Basic")
    clock, cus, sub = _start(c, dear)
    advance(c, clock, APR16)
    _change_price(c, sub, cheap, "create_prorations")
    for boundary in (MAY1, JUN1):
        advance(c, clock, boundary + DRAFT_WINDOW + 60)
    assert [summary(inv) for inv in sub_invoices(c, sub.id)] == [
        invoice(
            "subscription_create",
            [(10000, 1, APR1, MAY1, False)],
            subtotal=10000,
            total=10000,
            amount_due=10000,
        ),
        invoice(
            "subscription_cycle",
            [(-5000, 1, APR16, MAY1, True), (500, 1, APR16, MAY1, True), (1000, 1, MAY1, JUN1, False)],
            subtotal=-3500,
            total=-3500,
            amount_due=0,
            ending_balance=-3500,
        ),
        invoice(
            "subscription_cycle",
            [(1000, 1, JUN1, JUL1, False)],
            subtotal=1000,
            total=1000,
            amount_due=0,
            starting_balance=-3500,
            ending_balance=-2500,
        ),
    ]
    assert c.v1.customers.retrieve(cus).balance == -2500
    assert billing_events(c) == CREATE_EVENTS + CHANGE_EVENTS + RENEWAL_EVENTS * 2
    assert_nothing_left_to_do(c, clock, sub.id, JUN1 + DRAFT_WINDOW + 60)


# -- 4. seats up, then down, in one period -----------------------------------------------------------------------
def test_seats_up_then_down_in_one_period(tenant: Tenant) -> None:
    """10 seats at 30 USD a month from Apr 1 (30 days, so one seat-day is 1.00). Apr 11, 20 days left: 15 seats —
    credit 10 seats x 20 days = -200.00, charge 15 x 20 = 300.00. Apr 21, 10 days left: 12 seats — credit for the
    15 seats billed for that time, 15 x 10 = -150.00, charge 12 x 10 = 120.00. May 1: the four prorations and
    12 x 30.00 = 360.00, a total of 430.00 (https://docs.stripe.com/billing/subscriptions/prorations)."""
    c = tenant.client
    price = monthly_price(c, 3000, "Seat")
    clock, _, sub = _start(c, price, quantity=10)
    item = sub["items"].data[0].id
    advance(c, clock, APR11)
    c.v1.subscriptions.update(
        sub.id, params={"items": [{"id": item, "quantity": 15}], "proration_behavior": "create_prorations"}
    )
    advance(c, clock, APR21)
    c.v1.subscriptions.update(
        sub.id, params={"items": [{"id": item, "quantity": 12}], "proration_behavior": "create_prorations"}
    )
    assert len(sub_invoices(c, sub.id)) == 1
    assert c.v1.subscriptions.retrieve(sub.id)["items"].data[0].quantity == 12

    renewal = invoice(
        "subscription_cycle",
        [
            (-20000, 10, APR11, MAY1, True),
            (30000, 15, APR11, MAY1, True),
            (-15000, 15, APR21, MAY1, True),
            (12000, 12, APR21, MAY1, True),
            (36000, 12, MAY1, JUN1, False),
        ],
        subtotal=43000,
        total=43000,
        amount_due=43000,
    )
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id})
    assert [(line.amount, line.quantity) for line in preview.lines.data] == [
        (amount, qty) for amount, qty, *_ in renewal["lines"]
    ]
    assert preview.total == 43000

    advance(c, clock, MAY1 + DRAFT_WINDOW + 60)
    assert [summary(inv) for inv in sub_invoices(c, sub.id)] == [
        invoice(
            "subscription_create",
            [(30000, 10, APR1, MAY1, False)],
            subtotal=30000,
            total=30000,
            amount_due=30000,
        ),
        renewal,
    ]
    assert billing_events(c) == CREATE_EVENTS + CHANGE_EVENTS * 2 + RENEWAL_EVENTS
    assert_nothing_left_to_do(c, clock, sub.id, MAY1 + DRAFT_WINDOW + 60)


# -- 3d. changes in the draft window ---------------------------------------------------------------------------
def test_renewal_lines_keep_their_items_when_items_change_in_the_draft_window(tenant: Tenant) -> None:
    """The renewal's draft is finalized an hour after it is made, and recomputed whenever its facts change (late
    invoice items, usage). Items changed in that hour — the add-on removed with its unused May time invoiced at once,
    the seat moved to the Pro price from June (``proration_behavior=none``) — must not cut the draft's lines off
    their subscription items: each line is what its item was billed for May, and a credit for unused May time is
    based on it (flexible billing mode). Halfway through May (31 days), 1 Basic seat (10 USD) becomes 3 Pro seats
    (20 USD): -5.00 for half of what May's line billed, +30.00 for 3 Pro seats for half of May.

    (Found by the stateful property in tests/properties/test_billing_state_machine.py.)"""
    c = tenant.client
    basic, pro, addon = (
        monthly_price(c, 1000, "Basic"),
        monthly_price(c, 2000, "Pro"),
        monthly_price(c, 300, "Add-on"),
    )
    clock, cus = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": basic, "quantity": 1}, {"price": addon, "quantity": 2}]}
    )
    seat, extra = (i.id for i in sub["items"].data)
    advance(c, clock, MAY1 + 600)  # May's draft exists, not yet finalized
    c.v1.subscription_items.delete(extra, params={"proration_behavior": "always_invoice"})
    c.v1.subscription_items.update(seat, params={"price": pro, "quantity": 1, "proration_behavior": "none"})
    advance(c, clock, MAY1 + DRAFT_WINDOW + 60)
    renewal = next(i for i in sub_invoices(c, sub.id) if i.billing_reason == "subscription_cycle")
    assert (renewal.status, renewal.total) == ("paid", 1600)
    assert [
        (line.amount, line.parent.subscription_item_details.subscription_item) for line in renewal.lines.data
    ] == [
        (1000, seat),
        (600, extra),
    ]

    advance(c, clock, utc(2026, 5, 16, 12))
    c.v1.subscription_items.update(seat, params={"quantity": 3, "proration_behavior": "create_prorations"})
    pending = c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data
    assert sorted(i.amount for i in pending) == [-500, 3000]
