"""Discounts on prorations, in Stripe's flexible billing mode with ``proration_discounts: included``
(https://docs.stripe.com/billing/subscriptions/billing-mode/compare): a credit gives back what was actually billed
for the unused time, after its discounts; the charge for the remaining time gets the discounts in effect; the
proration's amount is net and its invoice item says what was taken off (``proration_details.discount_amounts``)."""

from __future__ import annotations

from typing import Any

import stripe

from billfold.main import Runtime
from tests.conftest import Tenant
from tests.scenarios.changes_support import (
    APR1,
    APR16,
    MAY1,
    advance,
    change_in_process,
    customer_on_clock,
    lines,
    price,
    totals,
)


def _seats(c: stripe.StripeClient) -> str:
    return price(c, c.v1.products.create(params={"name": "Advanced seat"}).id, 9900)


def test_the_credit_is_what_was_billed_after_the_coupon(tenant: Tenant) -> None:
    """20 seats at $99 with 20% off were billed $1,584.00 for April; halfway, 20 → 25 seats:
    credit -$792.00 (not -$990.00), charge 25 × $99 × 80% × 1/2 = $990.00, $198.00 now."""
    c = tenant.client
    seats = _seats(c)
    coupon = c.v1.coupons.create(params={"percent_off": 20, "duration": "forever"}).id
    cus, clock = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": seats, "quantity": 20}],
            "discounts": [{"coupon": coupon}],
        }
    )
    assert c.v1.invoices.retrieve(str(sub.latest_invoice)).total == 158400
    advance(c, clock, APR16)
    change: Any = {
        "items": [{"id": sub["items"].data[0].id, "quantity": 25}],
        "proration_behavior": "always_invoice",
        "proration_date": APR16,
    }
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": change})
    assert [line.amount for line in preview.lines.data] == [-79200, 99000]
    # Net amounts: the subscription's coupon is not applied to them a second time.
    assert [line.discount_amounts for line in preview.lines.data] == [[], []]
    assert (preview.subtotal, preview.total) == (19800, 19800)

    updated = c.v1.subscriptions.update(sub.id, params=change)
    invoice = c.v1.invoices.retrieve(str(updated.latest_invoice))
    assert lines(invoice) == lines(preview)
    assert (invoice.total, invoice.status) == (19800, "paid")
    # May: 25 × $99 less 20% = $1,980.00.
    assert c.v1.invoices.create_preview(params={"subscription": sub.id}).total == 198000


def test_item_and_subscription_discounts_on_create_prorations(tenant: Tenant) -> None:
    """An item's own 10% applies before the subscription's 20%: 20 seats billed $1,980.00 - $198.00 - $356.40 =
    $1,425.60; half of it is credited; 10 seats get the same two discounts for the remaining half."""
    c = tenant.client
    seats = _seats(c)
    ten = c.v1.coupons.create(params={"percent_off": 10, "duration": "forever"}).id
    twenty = c.v1.coupons.create(params={"percent_off": 20, "duration": "forever"}).id
    cus, clock = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": seats, "quantity": 20, "discounts": [{"coupon": ten}]}],
            "discounts": [{"coupon": twenty}],
        }
    )
    assert c.v1.invoices.retrieve(str(sub.latest_invoice)).total == 142560
    advance(c, clock, APR16)
    change: Any = {"items": [{"id": sub["items"].data[0].id, "quantity": 10}], "proration_date": APR16}
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": change})
    # -$712.80; +$356.40; then May: 10 × $99 = $990.00, -$99.00 (10%), -$178.20 (20%) = $712.80.
    assert [line.amount for line in preview.lines.data] == [-71280, 35640, 99000]
    assert preview.total == -71280 + 35640 + 71280

    c.v1.subscriptions.update(sub.id, params=change)
    advance(c, clock, MAY1 + 7200)
    renewal = c.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert lines(renewal) == lines(preview)
    assert totals(renewal) == totals(preview)


def test_a_coupon_added_mid_period_is_not_credited_but_discounts_the_new_charge(
    runtime: Runtime, tenant: Tenant
) -> None:
    """Flexible mode's point: the credit uses what was billed ($1,980.00 without a coupon), not today's terms;
    the charge for the remaining time gets the 50% coupon that is now in effect."""
    c = tenant.client
    seats = _seats(c)
    half = c.v1.coupons.create(params={"percent_off": 50, "duration": "forever"}).id
    cus, clock = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": seats, "quantity": 20}]})
    advance(c, clock, APR16)
    change_in_process(runtime, tenant, sub.id, [], discounts=[{"coupon": half}])
    stored = c.v1.subscriptions.retrieve(sub.id)
    assert len(stored.discounts or []) == 1
    updated = c.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": sub["items"].data[0].id, "quantity": 30}],
            "proration_behavior": "always_invoice",
        },
    )
    invoice = c.v1.invoices.retrieve(str(updated.latest_invoice))
    # -20 × $99 × 1/2 = -$990.00 (no coupon was billed); +30 × $99 × 50% × 1/2 = +$742.50.
    assert [line.amount for line in invoice.lines.data] == [-99000, 74250]
    assert c.v1.customers.retrieve(cus).balance == -24750


def test_an_amount_off_coupon_is_shared_in_proportion(tenant: Tenant) -> None:
    """$100 off the subscription is shared by the items in proportion to their amounts
    ("discounts are applied proportionally to each subscription item"): seats $1,980.00 carry $99.00 of it, the
    $20.00 add-on $1.00. Halfway, 20 → 10 seats: the seats' $1,881.00 is half credited; 10 seats ($990.00) now
    carry $98.02 of the $100 (largest remainder), so $891.98 is half charged."""
    c = tenant.client
    seats = _seats(c)
    addon = price(c, c.v1.products.create(params={"name": "Audit log"}).id, 2000)
    hundred = c.v1.coupons.create(params={"amount_off": 10000, "currency": "usd", "duration": "forever"}).id
    cus, clock = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": seats, "quantity": 20}, {"price": addon}],
            "discounts": [{"coupon": hundred}],
        }
    )
    advance(c, clock, APR16)
    change: Any = {
        "items": [{"id": sub["items"].data[0].id, "quantity": 10}],
        "proration_behavior": "always_invoice",
    }
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": change})
    assert [line.amount for line in preview.lines.data] == [-94050, 44599]
    updated = c.v1.subscriptions.update(sub.id, params=change)
    invoice = c.v1.invoices.retrieve(str(updated.latest_invoice))
    assert lines(invoice) == lines(preview)


def test_prorations_without_discounts_are_to_the_second(tenant: Tenant) -> None:
    """Without a discount the stored amount and a rebuild from the price agree, to the second."""
    c = tenant.client
    seats = _seats(c)
    cus, clock = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": seats, "quantity": 3}]})
    advance(c, clock, APR16 + 3600)
    change: Any = {
        "items": [{"id": sub["items"].data[0].id, "quantity": 4}],
        "proration_behavior": "always_invoice",
    }
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": change})
    updated = c.v1.subscriptions.update(sub.id, params=change)
    invoice = c.v1.invoices.retrieve(str(updated.latest_invoice))
    # 3 × $99 × 1,292,400/2,592,000 s = $148.09 (148.0875); 4 seats: $197.45 (197.4500)
    assert [line.amount for line in invoice.lines.data] == [-14809, 19745]
    assert lines(invoice) == lines(preview)


def test_an_items_new_coupon_applies_to_its_charge_for_the_remaining_time(tenant: Tenant) -> None:
    """10 seats, then halfway 20 seats with 50% off the item: -$495.00 back, +20 × $99 × 50% × 1/2 = $495.00."""
    c = tenant.client
    seats = _seats(c)
    half = c.v1.coupons.create(params={"percent_off": 50, "duration": "forever"}).id
    cus, clock = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": seats, "quantity": 10}]})
    advance(c, clock, APR16)
    change: Any = {
        "items": [{"id": sub["items"].data[0].id, "quantity": 20, "discounts": [{"coupon": half}]}],
        "proration_behavior": "always_invoice",
    }
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": change})
    updated = c.v1.subscriptions.update(sub.id, params=change)
    invoice = c.v1.invoices.retrieve(str(updated.latest_invoice))
    assert [line.amount for line in invoice.lines.data] == [-49500, 49500]
    assert lines(invoice) == lines(preview)
    assert len(updated["items"].data[0].discounts or []) == 1
    may = c.v1.invoices.create_preview(params={"subscription": sub.id})
    assert (may.subtotal, may.total) == (99000, 99000)  # 20 × $99 less the item's 50%
