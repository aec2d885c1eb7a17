"""Previews of subscription changes (``create_preview`` with ``subscription_details``) equal what the change then
does, line for line and to the cent, over the SDK — the promise of
https://docs.stripe.com/billing/subscriptions/prorations#preview-proration: preview with a ``proration_date``, then
update with the same ``proration_date``."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.conftest import Tenant
from tests.scenarios.changes_support import (
    APR1,
    APR16,
    FEB1,
    JAN1,
    JAN10,
    JAN17,
    MAY1,
    advance,
    customer_on_clock,
    lines,
    price,
    totals,
)


def _seats_and_addon(c: stripe.StripeClient) -> tuple[str, str, str]:
    seat = c.v1.products.create(params={"name": "Advanced seat"}).id
    addon = c.v1.products.create(params={"name": "Audit log"}).id
    support = c.v1.products.create(params={"name": "Priority support"}).id
    return price(c, seat, 9900), price(c, addon, 1500), price(c, support, 4900)


def test_create_prorations_preview_equals_the_next_renewal(tenant: Tenant) -> None:
    """Two changes in January: the second is previewed, made with the same proration_date, and the February
    renewal carries exactly the previewed lines — the first change's prorations included."""
    c = tenant.client
    seats, addon, support = _seats_and_addon(c)
    cus, clock = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": seats, "quantity": 20}, {"price": addon}]}
    )
    seat_item, addon_item = (i.id for i in sub["items"].data)
    advance(c, clock, JAN10)
    c.v1.subscriptions.update(sub.id, params={"items": [{"id": seat_item, "quantity": 22}]})

    advance(c, clock, JAN17)
    details: Any = {
        "items": [
            {"id": seat_item, "quantity": 25},
            {"id": addon_item, "deleted": True},
            {"price": support},
        ],
        "proration_date": JAN17,
    }
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": details})
    # Jan 10 (22 of 31 days left): 20 → 22 seats. Jan 17 (15 left): the 22 seats billed on Jan 10 are credited,
    # 25 charged; the add-on billed on Jan 1 is credited; support is charged. Then February at the new items.
    assert [line.amount for line in preview.lines.data] == [
        -140516,  # 20 × $99 × 22/31 = 1,405.1613
        154568,  # 22 × $99 × 22/31 = 1,545.6774
        -105387,  # 22 × $99 × 15/31 = 1,053.8710 (the Jan 10 debit, from its own rate)
        -726,  # 1 × $15 × 15/31 = 7.2581
        119758,  # 25 × $99 × 15/31 = 1,197.5806
        2371,  # 1 × $49 × 15/31 = 23.7097
        247500,
        4900,
    ]
    assert preview.billing_reason == "subscription_cycle"
    assert (preview.period_start, preview.period_end) == (FEB1, 1_772_323_200)

    c.v1.subscriptions.update(
        sub.id,
        params={
            "items": [
                {"id": seat_item, "quantity": 25},
                {"id": addon_item, "deleted": True},
                {"price": support},
            ],
            "proration_date": JAN17,
        },
    )
    assert c.v1.invoices.create_preview(params={"subscription": sub.id}).total == preview.total
    advance(c, clock, FEB1 + 7200)
    renewal = c.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    assert lines(renewal) == lines(preview)
    assert totals(renewal) == totals(preview)


def test_always_invoice_preview_equals_the_invoice_it_issues(tenant: Tenant) -> None:
    """Stripe's example, $10 → $20 halfway through April, with 19% VAT: credit $5, charge $10, invoice $5.95 now."""
    c = tenant.client
    product = c.v1.products.create(params={"name": "Plan"}).id
    cheap, dear = price(c, product, 1000), price(c, product, 2000)
    vat = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 19, "inclusive": False}).id
    cus, clock = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": cheap}], "default_tax_rates": [vat]}
    )
    advance(c, clock, APR16)
    change: Any = {
        "items": [{"id": sub["items"].data[0].id, "price": dear}],
        "proration_behavior": "always_invoice",
        "proration_date": APR16,
    }
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": change})
    assert [line.amount for line in preview.lines.data] == [-500, 1000]
    assert (preview.billing_reason, preview.subtotal, preview.total) == ("subscription_update", 500, 595)
    assert [(line.period.start, line.period.end) for line in preview.lines.data] == [(APR16, MAY1)] * 2

    updated = c.v1.subscriptions.update(sub.id, params=change)
    invoice = c.v1.invoices.retrieve(str(updated.latest_invoice))
    assert invoice.id != preview.id
    assert lines(invoice) == lines(preview)
    assert totals(invoice) == totals(preview)
    assert (invoice.status, invoice.amount_paid) == ("paid", 595)
    events = c.v1.events.list(params={"limit": 6}).data
    assert [e.type for e in reversed(events)] == [
        "invoiceitem.created",
        "invoiceitem.created",
        "invoice.created",
        "invoice.finalized",
        "customer.subscription.updated",  # the change is saved, then the invoice is charged
        "invoice.paid",
    ]
    # Nothing is left pending: May at the new price.
    assert [
        line.amount for line in c.v1.invoices.create_preview(params={"subscription": sub.id}).lines.data
    ] == [2000]


def test_preview_with_none_is_the_renewal_at_the_new_quantity(tenant: Tenant) -> None:
    c = tenant.client
    seats, _, _ = _seats_and_addon(c)
    cus, clock = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": seats, "quantity": 20}]})
    advance(c, clock, JAN17)
    change: Any = {"items": [{"id": sub["items"].data[0].id, "quantity": 25}], "proration_behavior": "none"}
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": change})
    assert [line.amount for line in preview.lines.data] == [247500]
    c.v1.subscriptions.update(sub.id, params=change)
    advance(c, clock, FEB1 + 7200)
    renewal = c.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert lines(renewal) == lines(preview)


def test_a_preview_writes_nothing(tenant: Tenant) -> None:
    c = tenant.client
    seats, addon, _ = _seats_and_addon(c)
    coupon = c.v1.coupons.create(params={"percent_off": 10, "duration": "forever"}).id
    cus, clock = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": seats, "quantity": 3}]})
    advance(c, clock, JAN17)
    before = (tenant.rows(), tenant.audit_rows())
    details: Any = {
        "items": [
            {"id": sub["items"].data[0].id, "quantity": 4, "discounts": [{"coupon": coupon}]},
            {"price": addon, "quantity": 2},
        ],
        "proration_behavior": "always_invoice",
    }
    c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": details})
    c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": {"items": []}})
    assert (tenant.rows(), tenant.audit_rows()) == before
    assert len(c.v1.subscriptions.retrieve(sub.id)["items"].data) == 1


def test_bad_subscription_details_are_refused_and_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    seats, addon, _ = _seats_and_addon(c)
    product = c.v1.products.create(params={"name": "Yearly"}).id
    yearly = price(c, product, 99000, "year")
    cus, clock = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": seats, "quantity": 2}, {"price": addon}]}
    )
    one = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": seats}]})
    item = sub["items"].data[0].id
    before = (tenant.rows(), tenant.audit_rows())
    d = "subscription_details"
    cases: list[tuple[str, dict[str, Any], str, int]] = [
        (sub.id, {"items": [{"id": item, "quantity": "many"}]}, f"{d}[items][0][quantity]", 400),
        (sub.id, {"items": [{"id": item, "quantity": -1}]}, f"{d}[items][0][quantity]", 400),
        (sub.id, {"items": [{"id": item, "colour": "red"}]}, f"{d}[items][0][colour]", 400),
        (sub.id, {"items": [{"id": "si_missing", "quantity": 2}]}, f"{d}[items][0][id]", 404),
        (sub.id, {"items": [{"quantity": 2}]}, f"{d}[items][0][price]", 400),
        (sub.id, {"items": [{"price": "price_missing"}]}, f"{d}[items][0][price]", 404),
        (sub.id, {"items": [{"id": item, "price": yearly}]}, f"{d}[items][0][price]", 400),  # mixed intervals
        (sub.id, {"items": [{"price": seats}]}, f"{d}[items][0][price]", 400),  # the same price twice
        (
            one.id,
            {"items": [{"id": one["items"].data[0].id, "deleted": True}]},
            f"{d}[items][0][deleted]",
            400,
        ),
        (sub.id, {"proration_behavior": "sometimes"}, f"{d}[proration_behavior]", 400),
        (
            sub.id,
            {"items": [{"id": item, "quantity": 3}], "proration_date": JAN1 - 10},
            f"{d}[proration_date]",
            400,
        ),
        (
            sub.id,
            {"items": [{"id": item, "quantity": 3}], "proration_date": JAN17, "proration_behavior": "none"},
            f"{d}[proration_date]",
            400,
        ),
        (
            sub.id,
            {"billing_cycle_anchor": {"type": "timestamp", "timestamp": FEB1}},
            f"{d}[billing_cycle_anchor][type]",
            400,
        ),
        (
            one.id,
            {
                "items": [{"id": one["items"].data[0].id, "price": yearly}],
                "billing_cycle_anchor": {"type": "unchanged"},
            },
            f"{d}[billing_cycle_anchor]",
            400,
        ),
        (sub.id, {"trial_end": "now"}, f"{d}[trial_end]", 400),
        (sub.id, {"billing_mode": {"type": "classic"}}, f"{d}[billing_mode]", 400),
        (
            sub.id,
            {"items": [{"id": item, "price_data": {"currency": "usd"}}]},
            f"{d}[items][0][price_data]",
            400,
        ),
    ]
    for sub_id, details, param, status in cases:
        with pytest.raises(stripe.InvalidRequestError) as err:
            c.v1.invoices.create_preview(params={"subscription": sub_id, "subscription_details": details})  # type: ignore[arg-type]
        assert (err.value.http_status, err.value.param) == (status, param), details
        assert err.value.user_message, details
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoices.create_preview(
            params={"subscription": sub.id, "subscription_details": {"cancel_at_period_end": True}}
        )
    assert (err.value.http_status, err.value.code) == (400, "invoice_upcoming_none")
    assert (tenant.rows(), tenant.audit_rows()) == before
    advance(c, clock, JAN17)  # the clock still works: nothing was left half-done


def test_update_errors_name_the_item_and_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    seats, addon, _ = _seats_and_addon(c)
    product = c.v1.products.create(params={"name": "Yearly"}).id
    yearly = price(c, product, 99000, "year")
    cus, _ = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": seats, "quantity": 2}, {"price": addon}]}
    )
    first, second = (i.id for i in sub["items"].data)
    before = (tenant.rows(), tenant.audit_rows())
    cases: list[tuple[dict[str, Any], str, int]] = [
        ({"items": [{"id": second, "price": yearly}]}, "items[0][price]", 400),
        ({"items": [{"id": first, "quantity": 3}, {"id": first, "quantity": 4}]}, "items[1][id]", 400),
        ({"items": [{"id": first, "tax_rates": ["txr_missing"]}]}, "items[0][tax_rates][0]", 404),
        (
            {"items": [{"id": first, "discounts": [{"coupon": "nope"}]}]},
            "items[0][discounts][0][coupon]",
            404,
        ),
        ({"items": [{"price": addon}]}, "items[0][price]", 400),
    ]
    for params, param, status in cases:
        with pytest.raises(stripe.InvalidRequestError) as err:
            c.v1.subscriptions.update(sub.id, params=params)  # type: ignore[arg-type]
        assert (err.value.http_status, err.value.param) == (status, param), params
    assert (tenant.rows(), tenant.audit_rows()) == before


def test_a_change_during_a_trial_prorates_nothing_and_the_trial_end_bills_it(tenant: Tenant) -> None:
    c = tenant.client
    seats, _, _ = _seats_and_addon(c)
    cus, clock = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": seats, "quantity": 2}], "trial_period_days": 14}
    )
    trial_end = APR1 + 14 * 86400
    advance(c, clock, APR1 + 5 * 86400)
    change: Any = {
        "items": [{"id": sub["items"].data[0].id, "quantity": 5}],
        "proration_behavior": "always_invoice",
    }
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": change})
    assert (preview.billing_reason, preview.period_start) == ("subscription_cycle", trial_end)
    assert [line.amount for line in preview.lines.data] == [49500]
    updated = c.v1.subscriptions.update(sub.id, params=change)
    assert (updated.status, updated.latest_invoice) == ("trialing", sub.latest_invoice)
    advance(c, clock, trial_end + 7200)
    first_paid = c.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert lines(first_paid) == lines(preview)
