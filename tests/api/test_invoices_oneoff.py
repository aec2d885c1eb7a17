"""One-off invoices (POST /v1/invoices) with invoice items, through the official stripe SDK over real HTTP.

Rules: https://docs.stripe.com/api/invoices/create (`pending_invoice_items_behavior` defaults to exclude, `auto_advance`
to false), https://docs.stripe.com/invoicing/integration/automatic-advancement-collection (with auto_advance a draft is
finalized after one hour), https://docs.stripe.com/api/invoices/update ("Once an invoice is finalized, monetary values,
as well as collection_method, become uneditable"), https://docs.stripe.com/api/invoices/delete (one-off drafts only).
"""

from __future__ import annotations

import pytest
import stripe

from tests.conftest import Tenant
from tests.support.clocks import advance
from tests.support.emails import settled_email

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
FEB1 = 1_769_904_000  # 2026-02-01T00:00:00Z
HOUR = 3600


def _adds_up(inv: stripe.Invoice) -> None:
    """Lines - discounts + exclusive taxes = total; amount_due = total + starting balance (never below 0)."""
    lines = inv.lines.data
    amounts = sum(line.amount for line in lines)
    discounts = sum(d.amount for line in lines for d in line.discount_amounts or [])
    taxes = sum(t.amount for line in lines for t in line.taxes or [] if t.tax_behavior == "exclusive")
    assert amounts - discounts + taxes == inv.total
    assert sum(d.amount for d in inv.total_discount_amounts) == discounts
    assert inv.amount_due == max(0, inv.total + inv.starting_balance)


def test_draft_items_discount_tax_finalize_pay(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme GmbH"}).id
    vat = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 19, "inclusive": False})
    coupon = c.v1.coupons.create(params={"percent_off": 10, "duration": "once"})
    a = c.v1.invoice_items.create(params={"customer": cus, "amount": 10000, "currency": "usd"})
    b = c.v1.invoice_items.create(params={"customer": cus, "amount": 2500, "currency": "usd"})
    inv = c.v1.invoices.create(
        params={
            "customer": cus,
            "pending_invoice_items_behavior": "include",
            "discounts": [{"coupon": coupon.id}],
            "default_tax_rates": [vat.id],
            "description": "Consulting, January",
            "metadata": {"order": "42"},
        }
    )
    assert (inv.status, inv.billing_reason, inv.auto_advance, inv.automatically_finalizes_at) == (
        "draft",
        "manual",
        False,
        None,
    )
    assert [line.parent.invoice_item_details.invoice_item for line in inv.lines.data] == [a.id, b.id]
    # 10% off: 1,000 + 250; VAT 19% of 9,000 = 1,710 and of 2,250 = 427.50 -> 428 (half away from zero).
    assert [t.amount for line in inv.lines.data for t in line.taxes] == [1710, 428]
    assert (inv.subtotal, inv.total_discount_amounts[0].amount, inv.total) == (12500, 1250, 13388)
    _adds_up(inv)
    assert c.v1.invoice_items.retrieve(a.id).invoice == inv.id

    # An item added to the draft recomputes it: 1,000 - 100 off + 171 VAT.
    c.v1.invoice_items.create(
        params={"customer": cus, "amount": 1000, "invoice": inv.id, "description": "Travel"}
    )
    inv = c.v1.invoices.retrieve(inv.id)
    assert (inv.subtotal, inv.total) == (13500, 14459)
    assert inv.lines.data[2].description == "Travel"
    _adds_up(inv)
    # Removing the default tax rate recomputes too.
    no_tax = c.v1.invoices.update(inv.id, params={"default_tax_rates": ""})
    assert (no_tax.total, no_tax.total_taxes) == (13500 - 1350, [])
    inv = c.v1.invoices.update(inv.id, params={"default_tax_rates": [vat.id]})
    assert inv.total == 14459

    opened = c.v1.invoices.finalize_invoice(inv.id)
    assert opened.status == "open" and opened.number is not None
    paid = c.v1.invoices.pay(inv.id, params={"payment_method": "pm_card_visa"})
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 14459, 0)

    # After finalization only description-like fields change.
    assert c.v1.invoices.update(inv.id, params={"metadata": {"order": "43"}}).metadata["order"] == "43"
    before = (tenant.rows(), tenant.audit_rows())
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoices.update(inv.id, params={"default_tax_rates": ""})
    assert (err.value.http_status, err.value.param) == (400, "default_tax_rates")
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoices.delete(inv.id)
    assert err.value.http_status == 400
    assert (tenant.rows(), tenant.audit_rows()) == before
    types = [
        e.type
        for e in reversed(c.v1.events.list(params={"limit": 100}).data)
        if e.type.startswith("invoice.")
    ]
    assert types[:1] == ["invoice.created"] and types[-3:] == [
        "invoice.finalized",
        "invoice.paid",
        "invoice.updated",
    ]


def test_pending_items_are_excluded_by_default_and_delete_releases_them(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "B"}).id
    ii = c.v1.invoice_items.create(params={"customer": cus, "amount": 900, "currency": "eur"})
    empty = c.v1.invoices.create(params={"customer": cus, "currency": "eur"})
    assert (empty.total, empty.lines.data) == (0, [])
    assert c.v1.invoice_items.retrieve(ii.id).invoice is None

    inv = c.v1.invoices.create(params={"customer": cus, "pending_invoice_items_behavior": "include"})
    assert (inv.currency, inv.total) == ("eur", 900)
    assert [i.id for i in c.v1.invoice_items.list(params={"pending": True}).data] == []
    deleted = c.v1.invoices.delete(inv.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoices.retrieve(inv.id)
    assert err.value.http_status == 404
    assert c.v1.invoice_items.retrieve(ii.id).invoice is None
    assert [i.id for i in c.v1.invoice_items.list(params={"pending": True}).data] == [ii.id]
    assert [i.id for i in c.v1.invoices.list(params={"customer": cus}).data] == [empty.id]


def test_send_invoice(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"email": "ap@b.example"}).id
    inv = c.v1.invoices.create(
        params={"customer": cus, "currency": "usd", "collection_method": "send_invoice", "days_until_due": 14}
    )
    c.v1.invoice_items.create(params={"customer": cus, "amount": 5000, "invoice": inv.id})
    sent = c.v1.invoices.send_invoice(inv.id)
    assert sent.status == "open" and sent.amount_due == 5000
    assert sent.due_date == sent.status_transitions.finalized_at + 14 * 86400
    assert [e.type for e in c.v1.events.list(params={"type": "invoice.sent"}).data] == ["invoice.sent"]
    assert (
        settled_email(c, inv.id).status == "sent"
    )  # delivered by the worker (tests/api/test_invoice_emails.py)

    auto = c.v1.invoices.create(params={"customer": cus, "currency": "usd"})
    before = (tenant.rows(), tenant.audit_rows())
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoices.send_invoice(auto.id)
    assert (err.value.http_status, err.value.param) == (400, "collection_method")
    assert (tenant.rows(), tenant.audit_rows()) == before


def test_update_draft_terms(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "C"}).id
    coupon = c.v1.coupons.create(params={"amount_off": 500, "currency": "usd", "duration": "once"})
    inv = c.v1.invoices.create(
        params={"customer": cus, "currency": "usd", "discounts": [{"coupon": coupon.id}]}
    )
    c.v1.invoice_items.create(params={"customer": cus, "amount": 2000, "invoice": inv.id})
    assert c.v1.invoices.retrieve(inv.id).total == 1500
    upd = c.v1.invoices.update(
        inv.id,
        params={
            "discounts": "",
            "collection_method": "send_invoice",
            "days_until_due": 7,
            "footer": "Bank: DE89 3704 0044 0532 0130 00",
            "custom_fields": [{"name": "PO", "value": "4711"}],
            "auto_advance": True,
        },
    )
    assert (upd.total, upd.discounts, upd.collection_method) == (2000, [], "send_invoice")
    assert upd.custom_fields is not None and upd.custom_fields[0].value == "4711"
    assert upd.auto_advance is True and upd.automatically_finalizes_at is not None
    off = c.v1.invoices.update(inv.id, params={"auto_advance": False})
    assert off.automatically_finalizes_at is None


@pytest.mark.parametrize(
    ("params", "param", "status"),
    [
        ({"currency": "usd"}, "customer", 400),
        ({"customer": "cus_missing"}, "customer", 404),
        ({"customer": "{cus}", "days_until_due": 3}, "days_until_due", 400),
        ({"customer": "{cus}", "collection_method": "send_invoice", "due_date": 1}, "due_date", 400),
        ({"customer": "{cus}", "default_tax_rates": ["txr_missing"]}, "default_tax_rates[0]", 404),
        ({"customer": "{cus}", "discounts": [{"coupon": "missing"}]}, "discounts[0][coupon]", 404),
        (
            {"customer": "{cus}", "pending_invoice_items_behavior": "sometimes"},
            "pending_invoice_items_behavior",
            400,
        ),
        ({"customer": "{cus}", "subscription": "sub_x"}, "subscription", 400),
        ({"customer": "{cus}", "number": "X-1"}, "number", 400),
    ],
)
def test_create_bad_input_writes_nothing(
    tenant: Tenant, params: dict[str, object], param: str, status: int
) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "D"}).id
    filled = {k: cus if v == "{cus}" else v for k, v in params.items()}
    before = (tenant.rows(), tenant.audit_rows())
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoices.create(params=filled)  # type: ignore[arg-type]
    assert (err.value.http_status, err.value.param) == (status, param)
    assert err.value.user_message
    assert (tenant.rows(), tenant.audit_rows()) == before


def test_auto_advance_on_a_test_clock(tenant: Tenant) -> None:
    c = tenant.client
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    cus = c.v1.customers.create(
        params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    ).id
    c.v1.invoice_items.create(params={"customer": cus, "amount": 4200, "currency": "usd"})
    auto = c.v1.invoices.create(
        params={"customer": cus, "auto_advance": True, "pending_invoice_items_behavior": "include"}
    )
    manual = c.v1.invoices.create(params={"customer": cus, "currency": "usd"})
    c.v1.invoice_items.create(params={"customer": cus, "amount": 100, "invoice": manual.id})
    assert (auto.created, auto.automatically_finalizes_at) == (T0, T0 + HOUR)
    advance(c, clock.id, T0 + HOUR - 1)
    assert c.v1.invoices.retrieve(auto.id).status == "draft"
    advance(c, clock.id, T0 + 2 * HOUR)
    done = c.v1.invoices.retrieve(auto.id)
    assert (done.status, done.amount_paid, done.status_transitions.finalized_at) == ("paid", 4200, T0 + HOUR)
    assert c.v1.invoices.retrieve(manual.id).status == "draft"


def test_item_added_to_a_renewal_draft_lands_on_the_finalized_invoice(tenant: Tenant) -> None:
    c = tenant.client
    product = c.v1.products.create(params={"name": "Team plan"})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 9900,
            "recurring": {"interval": "month"},
        }
    )
    vat = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 20, "inclusive": False})
    coupon = c.v1.coupons.create(params={"percent_off": 50, "duration": "forever"})
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    cus = c.v1.customers.create(
        params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    ).id
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": price.id, "quantity": 2}],
            "default_tax_rates": [vat.id],
            "discounts": [{"coupon": coupon.id}],
        }
    )
    # A pending item for the subscription waits for its next invoice.
    c.v1.invoice_items.create(params={"customer": cus, "amount": 700, "subscription": sub.id})
    advance(c, clock.id, FEB1 + 60)
    draft = c.v1.invoices.list(params={"subscription": sub.id, "status": "draft"}).data[0]
    assert draft.billing_reason == "subscription_cycle"
    # 2 × 99.00 = 198.00 + 7.00 = 205.00; 50% off = 102.50; VAT 20% = 20.50.
    assert (draft.subtotal, draft.total) == (20500, 12300)
    seats = [line for line in draft.lines.data if line.parent.type == "subscription_item_details"]

    # Inside the draft window: add a charge, add and remove another; the draft is recomputed each time.
    setup = c.v1.invoice_items.create(
        params={"customer": cus, "amount": 1500, "invoice": draft.id, "description": "Extra setup"}
    )
    oops = c.v1.invoice_items.create(params={"customer": cus, "amount": 999, "invoice": draft.id})
    assert c.v1.invoices.retrieve(draft.id).subtotal == 20500 + 1500 + 999
    c.v1.invoice_items.delete(oops.id)
    mid = c.v1.invoices.retrieve(draft.id)
    assert (mid.subtotal, mid.total) == (22000, 13200)
    _adds_up(mid)
    # The subscription line is rebuilt from its lineage, unchanged.
    again = [line for line in mid.lines.data if line.parent.type == "subscription_item_details"]
    assert [(x.id, x.amount, x["explanation"]) for x in again] == [
        (x.id, x.amount, x["explanation"]) for x in seats
    ]
    before = (tenant.rows(), tenant.audit_rows())
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoices.delete(draft.id)
    assert err.value.http_status == 400
    assert (tenant.rows(), tenant.audit_rows()) == before

    advance(c, clock.id, FEB1 + 2 * HOUR)
    final = c.v1.invoices.retrieve(draft.id)
    assert (final.status, final.total, final.amount_paid) == ("paid", 13200, 13200)
    assert setup.id in [
        line.parent.invoice_item_details.invoice_item
        for line in final.lines.data
        if line.parent.invoice_item_details
    ]
    _adds_up(final)


def test_preview_for_a_customer_equals_the_invoice_that_follows(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "E", "balance": -300}).id
    product = c.v1.products.create(params={"name": "Audit"})
    price = c.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 12345})
    gst = c.v1.tax_rates.create(params={"display_name": "GST", "percentage": "7.5", "inclusive": True})
    coupon = c.v1.coupons.create(params={"percent_off": "12.5", "duration": "once"})
    c.v1.invoice_items.create(params={"customer": cus, "pricing": {"price": price.id}, "quantity": 3})
    c.v1.invoice_items.create(
        params={
            "customer": cus,
            "currency": "usd",
            "unit_amount_decimal": "33.3",
            "quantity": 7,
            "tax_rates": [gst.id],
        }
    )
    extra = {"amount": 999, "currency": "usd", "description": "Rush fee"}
    preview = c.v1.invoices.create_preview(
        params={"customer": cus, "discounts": [{"coupon": coupon.id}], "invoice_items": [extra]}
    )
    c.v1.invoice_items.create(params={"customer": cus, **extra})
    inv = c.v1.invoices.create(
        params={
            "customer": cus,
            "pending_invoice_items_behavior": "include",
            "discounts": [{"coupon": coupon.id}],
        }
    )

    def shape(i: stripe.Invoice) -> tuple[object, ...]:
        lines = [
            (
                x.amount,
                x.quantity,
                x.description,
                [d.amount for d in x.discount_amounts],
                [t.amount for t in x.taxes],
            )
            for x in i.lines.data
        ]
        totals = (i.subtotal, i.total, i.amount_due, i.starting_balance, i.total_excluding_tax)
        return (*totals, [t.amount for t in i.total_taxes], lines)

    assert shape(preview) == shape(inv)
    assert (
        preview.lines.data[0].amount == 3 * 12345 and preview.lines.data[1].amount == 233
    )  # 7 × 33.3 = 233.1
    _adds_up(inv)
    nothing = c.v1.customers.create(params={"name": "F"}).id
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoices.create_preview(params={"customer": nothing})
    assert (err.value.code, err.value.param) == ("invoice_upcoming_none", "customer")
