"""Mid-period changes with prorations, through the SDK on test clocks, asserted to the cent.

Stripe's rule (https://docs.stripe.com/billing/subscriptions/prorations): a change at second t of the period credits
the unused time of what was billed and charges the remaining time of the new configuration, to the second."""

from __future__ import annotations

import stripe

from tests.conftest import Tenant
from tests.support.clocks import advance

JAN1 = 1_767_225_600  # 2026-01-01T00:00:00Z
JAN17 = JAN1 + 16 * 86400  # 16 of January's 31 days used, 15 left
FEB1 = 1_769_904_000
APR1 = 1_775_001_600  # 2026-04-01T00:00:00Z
APR16 = APR1 + 15 * 86400  # exactly half of April's 30 days


def _setup(c: stripe.StripeClient, t0: int, unit_amount: int) -> tuple[str, str]:
    product = c.v1.products.create(params={"name": "Advanced seat"})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": unit_amount,
            "recurring": {"interval": "month"},
        }
    )
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": t0})
    cus = c.v1.customers.create(
        params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    return price.id, cus.id


def test_stripe_example_upgrade_halfway_always_invoice(tenant: Tenant) -> None:
    """$10 -> $20 halfway through the month: credit $5, charge $10, one invoice of $5 now (Stripe's example)."""
    c = tenant.client
    cheap, cus = _setup(c, APR1, 1000)
    product = c.v1.prices.retrieve(cheap).product
    dear = c.v1.prices.create(
        params={
            "product": str(product),
            "currency": "usd",
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
        }
    )
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": cheap, "quantity": 1}]})
    clock_id = str(c.v1.customers.retrieve(cus).test_clock)
    advance(c, clock_id, APR16)
    item = sub["items"].data[0]
    changed = c.v1.subscriptions.update(
        sub.id,
        params={"items": [{"id": item.id, "price": dear.id}], "proration_behavior": "always_invoice"},
    )
    assert changed["items"].data[0].price.id == dear.id
    inv = c.v1.invoices.retrieve(str(changed.latest_invoice))
    assert inv.billing_reason == "subscription_update"
    assert sorted(line.amount for line in inv.lines.data) == [-500, 1000]
    assert (inv.total, inv.status, inv.amount_paid) == (500, "paid", 500)
    pending = c.v1.invoices.create_preview(params={"subscription": sub.id})
    assert [line.amount for line in pending.lines.data] == [
        2000
    ]  # nothing left pending; May at the new price


def test_seat_increase_mid_month_lands_on_the_next_invoice(tenant: Tenant) -> None:
    c = tenant.client
    price, cus = _setup(c, JAN1, 9900)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price, "quantity": 20}]})
    clock_id = str(c.v1.customers.retrieve(cus).test_clock)
    advance(c, clock_id, JAN17)
    item = sub["items"].data[0]
    before = len(c.v1.invoices.list(params={"subscription": sub.id}).data)
    c.v1.subscriptions.update(sub.id, params={"items": [{"id": item.id, "quantity": 25}]})
    assert (
        len(c.v1.invoices.list(params={"subscription": sub.id}).data) == before
    )  # create_prorations: no invoice

    # 15 of 31 days left: credit 20 × $99 × 15/31 = -$958.06 (958.0645), charge 25 × $99 × 15/31 = $1,197.58 (1,197.5806)
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id})
    amounts = [line.amount for line in preview.lines.data]
    assert amounts == [-95806, 119758, 247500]
    assert preview.total == 271452

    advance(c, clock_id, FEB1 + 60)
    renewal = c.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    assert _shape_no_discount(renewal) == _shape_no_discount(preview)
    lineage = renewal.lines.data[0]["lineage"]
    assert lineage["proration"].to_dict() == {"seconds": 15 * 86400, "period_seconds": 31 * 86400}
    # The next preview has no proration lines left: each pending item was invoiced once.
    assert [
        line.amount for line in c.v1.invoices.create_preview(params={"subscription": sub.id}).lines.data
    ] == [247500]


def _shape_no_discount(inv: stripe.Invoice) -> tuple[object, ...]:
    lines = tuple((line.amount, line.quantity, line.period.start, line.period.end) for line in inv.lines.data)
    return (inv.subtotal, inv.total, inv.amount_due, lines)


def test_change_errors_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    price, cus = _setup(c, JAN1, 9900)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price, "quantity": 2}]})
    before = (tenant.rows(), tenant.audit_rows())
    cases = [
        ({"items": [{"id": "si_missing", "quantity": 3}]}, "items[0][id]", 404),
        (
            {"items": [{"id": sub["items"].data[0].id, "quantity": 3}], "proration_date": JAN1 - 10},
            "proration_date",
            400,
        ),
        ({"items": [{"id": sub["items"].data[0].id, "deleted": True}]}, "items[0][deleted]", 400),
        ({"proration_date": JAN1 + 10}, "proration_date", 400),
        ({"items": [{"id": sub["items"].data[0].id, "quantity": -1}]}, "items[0][quantity]", 400),
    ]
    for params, param, status in cases:
        try:
            c.v1.subscriptions.update(sub.id, params=params)  # type: ignore[arg-type]
        except stripe.InvalidRequestError as err:
            assert (err.http_status, err.param) == (status, param), params
        else:
            raise AssertionError(f"{params} should fail")
    assert (tenant.rows(), tenant.audit_rows()) == before
