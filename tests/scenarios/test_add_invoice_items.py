"""One-time charges on a subscription's invoices (``add_invoice_items``), through the official SDK on test clocks.

Stripe: "A list of prices and quantities that will generate invoice items appended to the next invoice for this
subscription. You may pass up to 20 items." (https://docs.stripe.com/api/subscriptions/create#create_subscription-
add_invoice_items). On create, the next invoice is the first one: a setup fee is charged with the first period, or
at once when the subscription starts with a trial. On update, the items wait for the next invoice (the renewal).
Each timeline asserts every invoice to the cent, that its lines add up, and the ordered events.
"""

from __future__ import annotations

import stripe

from tests.conftest import Tenant
from tests.scenarios.test_timelines import (
    DAY,
    DRAFT_WINDOW,
    billing_events,
    customer_on_clock,
    invoice,
    monthly_price,
    sub_invoices,
    summary,
    utc,
)
from tests.support.clocks import advance

JAN1, FEB1, MAR1 = utc(2026, 1, 1), utc(2026, 2, 1), utc(2026, 3, 1)


def one_time_price(c: stripe.StripeClient, unit_amount: int, name: str) -> str:
    product = c.v1.products.create(params={"name": name})
    return c.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": unit_amount}
    ).id


def _fee_lines(inv: stripe.Invoice) -> list[tuple[str, int, int]]:
    """The invoice-item lines: (description, amount, quantity)."""
    return [
        (line.description, line.amount, line.quantity)
        for line in inv.lines.data
        if line.parent.type == "invoice_item_details"
    ]


def test_a_setup_fee_is_charged_on_the_first_invoice_with_the_first_period_and_taxed_like_it(
    tenant: Tenant,
) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seats = monthly_price(c, 9900, "Advanced seat")
    setup = one_time_price(c, 50000, "Onboarding")
    vat = c.v1.tax_rates.create(
        params={"display_name": "VAT", "percentage": 19, "inclusive": False, "country": "DE"}
    )
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": seats, "quantity": 20}],
            "add_invoice_items": [{"price": setup, "metadata": {"kind": "setup"}}],
            "default_tax_rates": [vat.id],
        }
    )
    assert sub.status == "active"
    (first,) = sub_invoices(c, sub.id)
    # 20 x 99.00 = 1,980.00 and the 500.00 fee, both with 19% VAT: 376.20 + 95.00 = 471.20 on 2,480.00.
    assert summary(first) == invoice(
        "subscription_create",
        [(50000, 1, JAN1, FEB1, False), (198000, 20, JAN1, FEB1, False)],
        subtotal=248000,
        taxes=[(47120, "exclusive", 248000)],
        total_excluding_tax=248000,
        total=295120,
        amount_due=295120,
    )
    assert _fee_lines(first) == [("Onboarding", 50000, 1)]
    assert [[t.amount for t in line.taxes] for line in first.lines.data] == [[9500], [37620]]
    (item,) = c.v1.invoice_items.list(params={"customer": cus}).data
    assert (item.invoice, item.amount, item.metadata.to_dict(), item.period.start, item.period.end) == (
        first.id,
        50000,
        {"kind": "setup"},
        JAN1,
        FEB1,
    )
    assert item.parent.subscription_details.subscription == sub.id

    advance(c, clock, FEB1 + DRAFT_WINDOW + 60)
    renewal = sub_invoices(c, sub.id)[-1]
    assert summary(renewal) == invoice(
        "subscription_cycle",
        [(198000, 20, FEB1, MAR1, False)],
        subtotal=198000,
        taxes=[(37620, "exclusive", 198000)],
        total_excluding_tax=198000,
        total=235620,
        amount_due=235620,
    )
    assert billing_events(c) == [
        "customer.subscription.created",
        "invoiceitem.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.updated",
        "invoice.created",
        "customer.subscription.updated",
        "invoice.finalized",
        "invoice.paid",
    ]


def test_a_setup_fee_during_a_trial_is_charged_at_once(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seats = monthly_price(c, 9900, "Advanced seat")
    setup = one_time_price(c, 25000, "Onboarding")
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": seats, "quantity": 3}],
            "add_invoice_items": [{"price": setup, "quantity": 2}],
            "trial_period_days": 14,
        }
    )
    assert sub.status == "trialing"
    trial_end = JAN1 + 14 * DAY
    (first,) = sub_invoices(c, sub.id)
    assert summary(first) == invoice(
        "subscription_create",
        [(50000, 2, JAN1, trial_end, False), (0, 3, JAN1, trial_end, False)],
        subtotal=50000,
        total=50000,
        amount_due=50000,
    )
    advance(c, clock, trial_end + DRAFT_WINDOW + 60)
    after_trial = sub_invoices(c, sub.id)[-1]
    assert _fee_lines(after_trial) == []
    assert after_trial.amount_paid == 3 * 9900


def test_items_added_by_an_update_wait_for_the_renewal(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seats = monthly_price(c, 9900, "Advanced seat")
    training = one_time_price(c, 12000, "Training session")
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": seats, "quantity": 5}]})
    advance(c, clock, JAN1 + 10 * DAY)

    updated = c.v1.subscriptions.update(
        sub.id,
        params={
            "add_invoice_items": [
                {"price": training, "quantity": 3},
                {
                    "price_data": {
                        "currency": "usd",
                        "product": c.v1.prices.retrieve(training).product,
                        "unit_amount": 1500,
                    },
                    "period": {"start": {"type": "now"}, "end": {"type": "min_item_period_end"}},
                },
            ]
        },
    )
    # The subscription itself does not change, and nothing is invoiced now.
    assert updated["items"].data[0].quantity == 5
    assert len(sub_invoices(c, sub.id)) == 1
    pending = c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data
    assert sorted((ii.amount, ii.quantity, ii.period.start, ii.period.end) for ii in pending) == [
        (1500, 1, JAN1 + 10 * DAY, FEB1),
        (36000, 3, JAN1, FEB1),
    ]

    advance(c, clock, FEB1 + DRAFT_WINDOW + 60)
    renewal = sub_invoices(c, sub.id)[-1]
    assert summary(renewal) == invoice(
        "subscription_cycle",
        [
            (36000, 3, JAN1, FEB1, False),
            (1500, 1, JAN1 + 10 * DAY, FEB1, False),
            (49500, 5, FEB1, MAR1, False),
        ],
        subtotal=87000,
        total=87000,
        amount_due=87000,
    )
    assert not c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data
    advance(c, clock, MAR1 + DRAFT_WINDOW + 60)
    assert _fee_lines(sub_invoices(c, sub.id)[-1]) == []


def test_bad_add_invoice_items_are_refused_and_nothing_is_written(tenant: Tenant) -> None:
    c = tenant.client
    _, cus = customer_on_clock(c, JAN1)
    seats = monthly_price(c, 9900, "Advanced seat")
    eur = c.v1.prices.create(
        params={
            "product": c.v1.prices.retrieve(seats).product,
            "currency": "eur",
            "unit_amount": 100,
        }
    )
    before = tenant.rows()
    cases = [
        ({"price": seats}, 400, "type=one_time"),
        ({"price": eur.id}, 400, "must match the subscription's (usd)"),
        ({"quantity": 2}, 400, "Missing required param"),
        ({"price": "price_missing"}, 404, "No such price"),  # resource_missing, as for items[0][price]
    ]
    for entry, status, message in cases:
        try:
            c.v1.subscriptions.create(
                params={"customer": cus, "items": [{"price": seats}], "add_invoice_items": [entry]}
            )
        except stripe.InvalidRequestError as e:
            assert (e.http_status, e.param) == (status, "add_invoice_items[0][price]"), entry
            assert message in str(e.user_message), (entry, e.user_message)
        else:
            raise AssertionError(f"{entry} was accepted")
    try:
        c.v1.subscriptions.create(
            params={
                "customer": cus,
                "items": [{"price": seats}],
                "add_invoice_items": [{"price": seats}] * 21,
            }
        )
    except stripe.InvalidRequestError as e:
        assert (e.http_status, e.param) == (400, "add_invoice_items")
    else:
        raise AssertionError("21 items were accepted")
    assert tenant.rows() == before

    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": seats}]})
    c.v1.subscriptions.cancel(sub.id)
    written = tenant.rows()
    try:
        c.v1.subscriptions.update(sub.id, params={"add_invoice_items": [{"price": eur.id}]})
    except stripe.InvalidRequestError as e:
        assert (e.http_status, e.param) == (400, "add_invoice_items")
    else:
        raise AssertionError("an ended subscription took add_invoice_items")
    assert tenant.rows() == written


def test_a_declined_setup_fee_during_a_trial_leaves_the_trial_running_and_the_invoice_open(
    tenant: Tenant,
) -> None:
    """As a first invoice's payment: attempted once, not retried automatically (docs/api-compat.md); the trial runs
    on and the fee invoice stays open to be paid by hand."""
    c = tenant.client
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN1})
    cus = c.v1.customers.create(
        params={
            "test_clock": clock.id,
            "invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"},
        }
    )
    seats = monthly_price(c, 9900, "Advanced seat")
    setup = one_time_price(c, 25000, "Onboarding")
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": seats}],
            "add_invoice_items": [{"price": setup}],
            "trial_period_days": 14,
        }
    )
    (first,) = sub_invoices(c, sub.id)
    assert (sub.status, first.status, first.amount_remaining, first.attempt_count) == (
        "trialing",
        "open",
        25000,
        1,
    )
    assert first.next_payment_attempt is None
    paid = c.v1.invoices.pay(first.id, params={"payment_method": "pm_card_visa"})
    assert (paid.status, paid.amount_paid) == ("paid", 25000)
    assert c.v1.subscriptions.retrieve(sub.id).status == "trialing"
