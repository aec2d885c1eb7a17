"""A subscription's life on a test clock, through the official SDK: start, renew, finalize after the draft window,
pay, cancel at period end — each invoice asserted to the cent, with the ordered event types."""

from __future__ import annotations

import stripe

from tests.conftest import Tenant
from tests.support.clocks import advance, advanced_seat_price

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
FEB1 = 1_769_904_000  # 2026-02-01T00:00:00Z
MAR1 = 1_772_323_200  # 2026-03-01T00:00:00Z


def _shape(inv: stripe.Invoice) -> tuple[object, ...]:
    lines = tuple(
        (line.amount, line.quantity, line.period.start, line.period.end, line["explanation"])
        for line in inv.lines.data
    )
    totals = (inv.subtotal, inv.total, inv.amount_due, [t.amount for t in inv.total_taxes])
    return (*totals, inv.total_discount_amounts[0].amount, lines)


def catalog(c: stripe.StripeClient) -> tuple[str, str]:
    price = advanced_seat_price(c)
    vat = c.v1.tax_rates.create(
        params={"display_name": "VAT", "percentage": 19, "inclusive": False, "country": "DE"}
    )
    return price.id, vat.id


def test_monthly_seats_with_coupon_and_vat_renew_and_cancel(tenant: Tenant) -> None:
    c = tenant.client
    price, vat = catalog(c)
    coupon = c.v1.coupons.create(
        params={"percent_off": 20, "duration": "repeating", "duration_in_months": 12}
    )
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    cus = c.v1.customers.create(
        params={
            "name": "Acme GmbH",
            "test_clock": clock.id,
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": price, "quantity": 20}],
            "default_tax_rates": [vat],
            "discounts": [{"coupon": coupon.id}],
        }
    )
    assert sub.status == "active"
    assert sub["items"].data[0].current_period_start == T0
    assert sub["items"].data[0].current_period_end == FEB1

    first = c.v1.invoices.retrieve(str(sub.latest_invoice))
    # 20 × $99.00 = $1,980.00; 20% off = -$396.00; VAT 19% on $1,584.00 = $300.96; total $1,884.96.
    assert (first.subtotal, first.total_excluding_tax, first.total) == (198000, 158400, 188496)
    assert first.total_discount_amounts[0].amount == 39600
    assert first.total_taxes[0].amount == 30096
    assert (first.status, first.amount_paid, first.billing_reason) == ("paid", 188496, "subscription_create")
    assert first.number is not None
    line = first.lines.data[0]
    assert (line.amount, line.quantity, line.pricing.price_details.price) == (198000, 20, price)
    assert line["lineage"]["quantity_source"].startswith("seats on subscription item si_")
    assert line["lineage"]["discounts"][0]["amount"] == 39600
    assert line["explanation"].startswith("20 × Advanced seat at 99.00 USD")
    assert "20% off" in line["explanation"] and "VAT 19%" in line["explanation"]

    preview = c.v1.invoices.create_preview(params={"subscription": sub.id})
    assert (preview.period_start, preview.total, preview.billing_reason) == (
        FEB1,
        188496,
        "subscription_cycle",
    )

    advance(c, clock.id, FEB1 + 60)
    renewal_list = c.v1.invoices.list(params={"subscription": sub.id}).data
    assert len(renewal_list) == 2
    renewal = renewal_list[0]
    assert (renewal.status, renewal.billing_reason, renewal.period_start) == (
        "draft",
        "subscription_cycle",
        FEB1,
    )
    assert renewal.total == 188496
    # The preview equals the invoice that followed, line for line (only ids differ).
    assert _shape(preview) == _shape(renewal)

    advance(c, clock.id, FEB1 + 3600 + 60)
    renewal = c.v1.invoices.retrieve(renewal.id)
    assert renewal.status == "paid" and renewal.amount_paid == 188496
    assert renewal.number is not None and renewal.number != first.number

    c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    advance(c, clock.id, MAR1 + 60)
    ended = c.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.ended_at == MAR1
    assert len(c.v1.invoices.list(params={"subscription": sub.id}).data) == 2

    events = [e.type for e in c.v1.events.list(params={"limit": 100}).auto_paging_iter()]
    billing_events = [t for t in reversed(events) if t.startswith(("invoice.", "customer.subscription."))]
    assert billing_events == [
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.updated",
        "invoice.upcoming",  # three days before the renewal
        "invoice.created",
        "customer.subscription.updated",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]


def test_declined_card_leaves_subscription_incomplete(tenant: Tenant) -> None:
    c = tenant.client
    price, _ = catalog(c)
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    cus = c.v1.customers.create(
        params={
            "test_clock": clock.id,
            "invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"},
        }
    )
    sub = c.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price, "quantity": 2}]})
    assert sub.status == "incomplete"
    inv = c.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (inv.status, inv.amount_due, inv.attempt_count) == ("open", 19800, 1)


def test_a_second_bill_run_finds_nothing(tenant: Tenant) -> None:
    c = tenant.client
    price, _ = catalog(c)
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    cus = c.v1.customers.create(
        params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    sub = c.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price, "quantity": 1}]})
    advance(c, clock.id, FEB1 + 7200)
    before = tenant.rows()
    advance(c, clock.id, FEB1 + 7300)
    # Only the clock's own advancing/ready events were added: no invoice, no subscription change.
    assert tenant.rows() == before + 2
    assert len(c.v1.invoices.list(params={"subscription": sub.id}).data) == 2


def test_preview_errors_write_nothing(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    price, _ = catalog(c)
    cus = c.v1.customers.create(params={"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    sub = c.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price, "quantity": 1}]})
    before = (tenant.rows(), tenant.audit_rows())
    for params, param, status in [
        ({}, "subscription", 400),
        ({"subscription": "sub_missing"}, "subscription", 404),
    ]:
        try:
            c.v1.invoices.create_preview(params=params)  # type: ignore[arg-type]
        except stripe.InvalidRequestError as err:
            assert (err.http_status, err.param) == (status, param)
        else:
            raise AssertionError(f"preview with {params} should fail")
    try:
        other_tenant.client.v1.invoices.create_preview(params={"subscription": sub.id})
    except stripe.InvalidRequestError as err:
        assert err.http_status == 404
    else:
        raise AssertionError("another account's subscription must be a 404")
    c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    mid = (tenant.rows(), tenant.audit_rows())
    assert mid[0] == before[0] + 1  # the update's event
    try:
        c.v1.invoices.create_preview(params={"subscription": sub.id})
    except stripe.InvalidRequestError as err:
        assert err.code == "invoice_upcoming_none"
    else:
        raise AssertionError("a subscription that will not renew has no upcoming invoice")
    assert (tenant.rows(), tenant.audit_rows()) == mid


def test_withdrawn_cancellation_renews(tenant: Tenant) -> None:
    c = tenant.client
    price, _ = catalog(c)
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    cus = c.v1.customers.create(
        params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    sub = c.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price, "quantity": 1}]})
    asked = c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert asked.cancel_at_period_end is True and asked.canceled_at == T0
    withdrawn = c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert withdrawn.cancel_at_period_end is False and withdrawn.canceled_at is None
    advance(c, clock.id, FEB1 + 60)
    renewed = c.v1.subscriptions.retrieve(sub.id)
    assert renewed.status == "active" and renewed["items"].data[0].current_period_start == FEB1
