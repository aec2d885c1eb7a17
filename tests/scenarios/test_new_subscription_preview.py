"""``POST /v1/invoices/create_preview`` with ``customer`` and ``subscription_details`` and no ``subscription``: the first
invoice of a subscription that does not exist yet (a checkout page's "you will pay"), which equals the invoice the
subscription gets when it is created right after with the same parameters
(https://docs.stripe.com/api/invoices/create_preview: "preview the upcoming invoice for a subscription that hasn't
been created yet").

Timeline: a customer on a test clock at Jan 10, 2026. The subscription: 20 Advanced seats at $99.00 and 5 Copilot
seats at $35.00 a month, 20% off for 3 months, 19% VAT on top:
subtotal 1,980.00 + 175.00 = 2,155.00; discount -431.00; VAT 19% of 1,724.00 = 327.56; total 2,051.56.
"""

from __future__ import annotations

from typing import Any

import stripe

from tests.conftest import Tenant
from tests.scenarios.lifecycle_support import DAY, JAN1, customer_on_clock, expect_error, monthly_price

JAN10 = JAN1 + 9 * DAY
FEB1 = JAN1 + 31 * DAY


def _deal(c: stripe.StripeClient) -> tuple[str, dict[str, Any], list[dict[str, str]]]:
    _, cus = customer_on_clock(c, JAN10)
    vat = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 19.0, "inclusive": False})
    coupon = c.v1.coupons.create(
        params={"percent_off": 20.0, "duration": "repeating", "duration_in_months": 3}
    )
    details = {
        "items": [
            {"price": monthly_price(c, 9900, "Advanced seat"), "quantity": 20},
            {"price": monthly_price(c, 3500, "Copilot"), "quantity": 5},
        ],
        "default_tax_rates": [vat.id],
    }
    return cus, details, [{"coupon": coupon.id}]


def _shape(invoice: Any) -> tuple[Any, ...]:
    """Everything a customer is shown, without the ids the preview does not reserve."""
    return (
        invoice.billing_reason,
        invoice.currency,
        invoice.subtotal,
        [(d.amount,) for d in invoice.total_discount_amounts],
        [(t.amount, t.taxable_amount) for t in invoice.total_taxes],
        invoice.total,
        invoice.amount_due,
        invoice.period_start,
        invoice.period_end,
        [
            (
                line.description,
                line.amount,
                line.quantity,
                line.period.start,
                line.period.end,
                [d.amount for d in line.discount_amounts],
                [t.amount for t in line.taxes],
                line["explanation"],
            )
            for line in invoice.lines.data
        ],
    )


def test_the_preview_of_a_new_subscription_is_its_first_invoice(tenant: Tenant) -> None:
    c = tenant.client
    cus, details, discounts = _deal(c)
    before = (tenant.rows(), tenant.audit_rows())

    preview = c.v1.invoices.create_preview(
        params={"customer": cus, "subscription_details": details, "discounts": discounts}  # type: ignore[typeddict-item]
    )

    assert (tenant.rows(), tenant.audit_rows()) == before, "a preview writes nothing"
    assert (preview.subtotal, preview.total, preview.amount_due) == (215_500, 205_156, 205_156)
    assert [d.amount for d in preview.total_discount_amounts] == [43_100]
    assert [(t.amount, t.taxable_amount) for t in preview.total_taxes] == [(32_756, 172_400)]
    assert [(line.amount, line.period.start, line.period.end) for line in preview.lines.data] == [
        (198_000, JAN10, JAN10 + 31 * DAY),
        (17_500, JAN10, JAN10 + 31 * DAY),
    ]
    assert preview.id is not None and preview.id.startswith("upcoming_")
    assert preview.status == "draft" and preview.number is None

    sub = c.v1.subscriptions.create(
        params={"customer": cus, "discounts": discounts, **details}  # type: ignore[typeddict-item]
    )
    first = c.v1.invoices.retrieve(str(sub.latest_invoice))
    assert first.status == "paid"
    assert _shape(first) == _shape(preview)


def test_a_preview_with_a_trial_or_a_later_anchor_equals_the_first_invoice(tenant: Tenant) -> None:
    """A trial's first invoice is $0.00; an anchor on Feb 1 makes a stub period Jan 10 - Feb 1 prorated against
    January (22 of 31 days): 20 × $99.00 × 22/31 = $1,405.16 before discount and tax."""
    c = tenant.client
    cus, details, _ = _deal(c)
    for extra in ({"trial_end": JAN10 + 14 * DAY}, {"billing_cycle_anchor": FEB1}):
        params = {**details, **extra}
        preview = c.v1.invoices.create_preview(params={"customer": cus, "subscription_details": params})  # type: ignore[typeddict-item]
        sub = c.v1.subscriptions.create(params={"customer": cus, **params})  # type: ignore[typeddict-item]
        first = c.v1.invoices.retrieve(str(sub.latest_invoice))
        assert _shape(first) == _shape(preview)
        c.v1.subscriptions.cancel(sub.id)
    assert preview.lines.data[0].amount == 140_516
    assert (preview.lines.data[0].period.start, preview.lines.data[0].period.end) == (JAN10, FEB1)


def test_a_bad_preview_of_a_new_subscription_names_the_parameter_and_writes_nothing(tenant: Tenant) -> None:
    c = tenant.client
    cus, details, _ = _deal(c)

    def preview(params: dict[str, Any]) -> Any:
        return lambda: c.v1.invoices.create_preview(params=params)  # type: ignore[arg-type]

    expect_error(
        tenant,
        preview({"customer": cus, "subscription_details": {"items": [{"price": "price_missing"}]}}),
        status=404,
        param="subscription_details[items][0][price]",
    )
    expect_error(
        tenant,
        preview({"customer": cus, "subscription_details": {**details, "proration_date": JAN10}}),
        status=400,
        param="subscription_details[proration_date]",
    )
    expect_error(
        tenant,
        preview({"customer": cus, "subscription_details": {**details, "trial_end": JAN1}}),
        status=400,
        param="subscription_details[trial_end]",
    )
    expect_error(
        tenant,
        preview(
            {
                "customer": cus,
                "subscription_details": details,
                "invoice_items": [{"amount": 500, "currency": "usd"}],
            }
        ),
        status=400,
        param="invoice_items",
    )
    expect_error(
        tenant,
        preview({"customer": "cus_missing", "subscription_details": details}),
        status=404,
        param="customer",
    )
