"""Resetting the billing cycle: a change to a price with another interval (monthly → annual) or
``billing_cycle_anchor={type: now}``: the billing cycle anchor moves to the time of the change, the unused time is
credited and the new configuration is charged at once for a full period starting now
(https://docs.stripe.com/billing/subscriptions/billing-cycle, https://docs.stripe.com/billing/subscriptions/change-price)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from billfold.core import periods
from billfold.main import Runtime
from tests.conftest import Tenant
from tests.scenarios.changes_support import (
    APR1,
    APR16,
    FEB1,
    JAN1,
    JAN17,
    MAY1,
    advance,
    change_in_process,
    customer_on_clock,
    lines,
    price,
    totals,
)

JAN17_2027 = periods.add_interval(JAN17, "year", 1, 1)


def _plans(c: stripe.StripeClient) -> tuple[str, str]:
    product = c.v1.products.create(params={"name": "Advanced seat"}).id
    return price(c, product, 9900), price(c, product, 99000, "year")


def test_monthly_to_annual_credits_the_month_and_charges_the_year_now(tenant: Tenant) -> None:
    c = tenant.client
    monthly, annual = _plans(c)
    cus, clock = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": monthly, "quantity": 20}]})
    advance(c, clock, JAN17)
    change: Any = {"items": [{"id": sub["items"].data[0].id, "price": annual, "quantity": 20}]}
    details: Any = {**change, "proration_date": JAN17}
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": details})
    # 20 × $99 × 15/31 of January unused = -$958.06; 20 × $990 for the year from Jan 17 = $19,800.00.
    assert [line.amount for line in preview.lines.data] == [-95806, 1980000]
    assert [(line.period.start, line.period.end) for line in preview.lines.data] == [
        (JAN17, FEB1),
        (JAN17, JAN17_2027),
    ]
    assert (preview.billing_reason, preview.total) == ("subscription_update", 1884194)

    invoices_before = len(c.v1.invoices.list(params={"subscription": sub.id}).data)
    updated = c.v1.subscriptions.update(sub.id, params=details)
    assert updated.billing_cycle_anchor == JAN17
    item = updated["items"].data[0]
    assert (item.price.id, item.quantity) == (annual, 20)
    assert (item.current_period_start, item.current_period_end) == (JAN17, JAN17_2027)
    invoice = c.v1.invoices.retrieve(str(updated.latest_invoice))
    assert lines(invoice) == lines(preview)
    assert totals(invoice) == totals(preview)
    assert (invoice.status, invoice.amount_paid) == ("paid", 1884194)

    # February 1 is no longer a renewal: nothing is billed until Jan 17, 2027.
    advance(c, clock, FEB1 + 7200)
    assert len(c.v1.invoices.list(params={"subscription": sub.id}).data) == invoices_before + 1
    upcoming = c.v1.invoices.create_preview(params={"subscription": sub.id})
    assert (upcoming.period_start, [line.amount for line in upcoming.lines.data]) == (JAN17_2027, [1980000])


def test_annual_to_monthly_credits_the_unused_year(tenant: Tenant) -> None:
    c = tenant.client
    monthly, annual = _plans(c)
    cus, clock = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": annual, "quantity": 2}]})
    advance(c, clock, APR1)
    updated = c.v1.subscriptions.update(
        sub.id, params={"items": [{"id": sub["items"].data[0].id, "price": monthly, "quantity": 2}]}
    )
    invoice = c.v1.invoices.retrieve(str(updated.latest_invoice))
    # 2 × $990 × 275/365 of the year unused = -$1,491.78; April at 2 × $99 = $198.00; the rest is a credit.
    assert [line.amount for line in invoice.lines.data] == [-149178, 19800]
    assert (invoice.total, invoice.amount_due, invoice.status) == (-129378, 0, "paid")
    assert c.v1.customers.retrieve(cus).balance == -129378
    assert updated["items"].data[0].current_period_end == MAY1


def test_interval_change_without_prorations_charges_the_year_only(tenant: Tenant) -> None:
    c = tenant.client
    monthly, annual = _plans(c)
    cus, clock = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": monthly, "quantity": 1}]})
    advance(c, clock, JAN17)
    change: Any = {"items": [{"id": sub["items"].data[0].id, "price": annual}], "proration_behavior": "none"}
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": change})
    updated = c.v1.subscriptions.update(sub.id, params=change)
    invoice = c.v1.invoices.retrieve(str(updated.latest_invoice))
    assert [line.amount for line in invoice.lines.data] == [99000]  # quantity back to 1 with the new price
    assert lines(invoice) == lines(preview)


def test_billing_cycle_anchor_now_restarts_the_period(runtime: Runtime, tenant: Tenant) -> None:
    """Same interval, ``billing_cycle_anchor=now`` halfway through April: half of April back, a month from Apr 16."""
    c = tenant.client
    monthly, _ = _plans(c)
    vat = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 19, "inclusive": False}).id
    cus, clock = customer_on_clock(c, APR1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": monthly, "quantity": 20}], "default_tax_rates": [vat]}
    )
    advance(c, clock, APR16)
    preview = c.v1.invoices.create_preview(
        params={"subscription": sub.id, "subscription_details": {"billing_cycle_anchor": {"type": "now"}}}
    )
    assert [line.amount for line in preview.lines.data] == [-99000, 198000]
    assert (preview.subtotal, preview.total) == (99000, 117810)  # + 19% VAT on $990.00

    changed = change_in_process(runtime, tenant, sub.id, [], billing_cycle_anchor={"type": "now"})
    assert changed["billing_cycle_anchor"] == APR16
    invoice = c.v1.invoices.retrieve(changed["latest_invoice"])
    assert lines(invoice) == lines(preview)
    assert totals(invoice) == totals(preview)
    item = c.v1.subscriptions.retrieve(sub.id)["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (
        APR16,
        periods.add_interval(APR16, "month", 1, 1),
    )
    advance(c, clock, MAY1 + 7200)  # May 1 is not a renewal any more
    assert c.v1.invoices.list(params={"subscription": sub.id}).data[0].id == invoice.id


def test_a_reset_needs_every_item_on_the_new_interval(tenant: Tenant) -> None:
    c = tenant.client
    monthly, annual = _plans(c)
    addon = price(c, c.v1.products.create(params={"name": "Add-on"}).id, 500)
    cus, _ = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": monthly}, {"price": addon}]})
    before = (tenant.rows(), tenant.audit_rows())
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.subscriptions.update(
            sub.id, params={"items": [{"id": sub["items"].data[0].id, "price": annual}]}
        )
    assert (err.value.http_status, err.value.param) == (400, "items[0][price]")
    assert "same billing interval" in str(err.value.user_message)
    assert (tenant.rows(), tenant.audit_rows()) == before
