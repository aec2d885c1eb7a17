"""Invoice items (/v1/invoiceitems) through the official stripe SDK over real HTTP.

Rules from https://docs.stripe.com/api/invoiceitems: an item is pending until an invoice collects it; `amount` is the
whole amount (it can't be combined with `quantity`); `unit_amount_decimal` × `quantity` is rounded once; it can change
or be deleted only while pending or on a draft invoice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import stripe

from tests.conftest import Tenant


def _customer(c: stripe.StripeClient) -> str:
    return c.v1.customers.create(params={"name": "Acme", "email": "ap@acme.example"}).id


def _event_types(c: stripe.StripeClient, object_id: str) -> list[str]:
    events = c.v1.events.list(params={"limit": 100}).data
    return [e.type for e in reversed(events) if e.data.object.to_dict().get("id") == object_id]


def test_create_retrieve_update_delete(tenant: Tenant) -> None:
    c = tenant.client
    cus = _customer(c)
    ii = c.v1.invoice_items.create(
        params={
            "customer": cus,
            "amount": 2500,
            "currency": "usd",
            "description": "Onboarding workshop",
            "metadata": {"po": "4711"},
            "period": {"start": 1_767_225_600, "end": 1_769_904_000},
        }
    )
    assert ii.id.startswith("ii_") and ii.object == "invoiceitem"
    assert (ii.amount, ii.currency, ii.quantity, ii.customer) == (2500, "usd", 1, cus)
    assert ii.invoice is None and ii.proration is False and ii.discountable is True
    assert ii.pricing is not None and ii.pricing.unit_amount_decimal == Decimal(2500)
    assert (ii.period.start, ii.period.end) == (1_767_225_600, 1_769_904_000)
    assert c.v1.invoice_items.retrieve(ii.id).to_dict() == ii.to_dict()

    upd = c.v1.invoice_items.update(
        ii.id, params={"amount": 3000, "description": "Workshop (2 days)", "metadata": {"po": "", "x": "1"}}
    )
    assert (upd.amount, upd.description, upd.metadata.to_dict()) == (3000, "Workshop (2 days)", {"x": "1"})
    # A negative item is a credit, not discountable by default.
    credit = c.v1.invoice_items.create(params={"customer": cus, "amount": -500, "currency": "usd"})
    assert credit.discountable is False

    assert [i.id for i in c.v1.invoice_items.list(params={"customer": cus}).data] == [credit.id, ii.id]
    assert [i.id for i in c.v1.invoice_items.list(params={"pending": False}).data] == []

    gone = c.v1.invoice_items.delete(ii.id)
    assert gone.deleted is True
    assert c.v1.invoice_items.retrieve(ii.id).deleted is True
    assert [i.id for i in c.v1.invoice_items.list(params={"pending": True}).data] == [credit.id]
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoice_items.update(ii.id, params={"amount": 1})
    assert err.value.http_status == 404 and err.value.code == "resource_missing"
    assert _event_types(c, ii.id) == ["invoiceitem.created", "invoiceitem.updated", "invoiceitem.deleted"]


def test_unit_amount_decimal_price_and_price_data(tenant: Tenant) -> None:
    c = tenant.client
    cus = _customer(c)
    # 3 × 12.5 cents = 37.5 cents, rounded once, half away from zero: 38.
    frac = c.v1.invoice_items.create(
        params={"customer": cus, "currency": "usd", "unit_amount_decimal": "12.5", "quantity": 3}
    )
    assert (frac.amount, frac.quantity, frac.pricing.unit_amount_decimal) == (38, 3, Decimal("12.5"))

    product = c.v1.products.create(params={"name": "Training day"})
    price = c.v1.prices.create(params={"product": product.id, "currency": "eur", "unit_amount": 80000})
    priced = c.v1.invoice_items.create(
        params={"customer": cus, "pricing": {"price": price.id}, "quantity": 2}
    )
    assert (priced.amount, priced.currency) == (160000, "eur")
    assert priced.pricing.price_details.price == price.id
    assert priced.pricing.price_details.product == product.id

    inline = c.v1.invoice_items.create(
        params={
            "customer": cus,
            "price_data": {"currency": "eur", "product": product.id, "unit_amount": 250},
            "quantity": 4,
        }
    )
    assert inline.amount == 1000
    made = c.v1.prices.retrieve(str(inline.pricing.price_details.price))
    assert (made.active, made.unit_amount, made.product) == (False, 250, product.id)

    # Changing only the quantity re-prices from the same price.
    assert c.v1.invoice_items.update(priced.id, params={"quantity": 3}).amount == 240000


def test_item_on_a_subscription_waits_for_it(tenant: Tenant) -> None:
    c = tenant.client
    product = c.v1.products.create(params={"name": "Seat"})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
        }
    )
    cus = c.v1.customers.create(params={"invoice_settings": {"default_payment_method": "pm_card_visa"}}).id
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price.id}]})
    ii = c.v1.invoice_items.create(params={"customer": cus, "amount": 700, "subscription": sub.id})
    assert ii.currency == "usd"  # the subscription's
    assert ii.parent is not None and ii.parent.subscription_details.subscription == sub.id
    preview = c.v1.invoices.create_preview(params={"subscription": sub.id})
    assert sorted(line.amount for line in preview.lines.data) == [700, 1000]
    line = next(line for line in preview.lines.data if line.amount == 700)
    assert line.parent.invoice_item_details.invoice_item == ii.id


@pytest.mark.parametrize(
    ("params", "param", "fragment", "status"),
    [
        ({"amount": 100, "currency": "usd"}, "customer", "Missing required param", 400),
        ({"customer": "cus_missing", "amount": 100, "currency": "usd"}, "customer", "No such customer", 404),
        (
            {"customer": "{cus}", "amount": 100, "unit_amount_decimal": "5", "currency": "usd"},
            "unit_amount_decimal",
            "only specify one",
            400,
        ),
        (
            {"customer": "{cus}", "amount": 100, "quantity": 2, "currency": "usd"},
            "quantity",
            "amount, quantity",
            400,
        ),
        ({"customer": "{cus}", "currency": "usd"}, "amount", "Missing required param", 400),
        ({"customer": "{cus}", "amount": 100}, "currency", "Missing required param: currency", 400),
        ({"customer": "{cus}", "amount": 100, "currency": "xyz"}, "currency", "Invalid currency", 400),
        ({"customer": "{cus}", "amount": 100_000_000, "currency": "usd"}, "amount", "must be between", 400),
        (
            {"customer": "{cus}", "unit_amount_decimal": "1.0000000000001", "currency": "usd"},
            "unit_amount_decimal",
            "12 decimal places",
            400,
        ),
        (
            {"customer": "{cus}", "pricing": {"price": "price_missing"}},
            "pricing[price]",
            "No such price",
            404,
        ),
        ({"customer": "{cus}", "pricing": {"price": "{recurring}"}}, "pricing[price]", "type=one_time", 400),
        (
            {
                "customer": "{cus}",
                "price_data": {"currency": "usd", "product": "prod_missing", "unit_amount": 5},
            },
            "price_data[product]",
            "No such product",
            404,
        ),
        (
            {"customer": "{cus}", "amount": 100, "currency": "usd", "tax_rates": ["txr_missing"]},
            "tax_rates[0]",
            "No such tax rate",
            404,
        ),
        (
            {"customer": "{cus}", "amount": 100, "currency": "usd", "period": {"start": 20, "end": 10}},
            "period[end]",
            "greater than or equal",
            400,
        ),
        (
            {"customer": "{cus}", "amount": 100, "currency": "usd", "discounts": [{"coupon": "nope"}]},
            "discounts[0][coupon]",
            "No such coupon",
            404,
        ),
        (
            {"customer": "{cus}", "amount": 100, "currency": "usd", "invoice": "in_missing"},
            "invoice",
            "No such",
            404,
        ),
        (
            {"customer": "{cus}", "amount": 100, "currency": "usd", "subscription": "sub_missing"},
            "subscription",
            "No such",
            404,
        ),
        (
            {"customer": "{cus}", "amount": 100, "currency": "usd", "quantity_decimal": "1.5"},
            "quantity_decimal",
            "Received unknown parameter",
            400,
        ),
        ({"customer": "{cus}", "amount": "lots", "currency": "usd"}, "amount", "Invalid integer", 400),
    ],
)
def test_bad_input_writes_nothing(
    tenant: Tenant, params: dict[str, Any], param: str, fragment: str, status: int
) -> None:
    c = tenant.client
    cus = _customer(c)
    product = c.v1.products.create(params={"name": "Seat"})
    recurring = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 100,
            "recurring": {"interval": "month"},
        }
    )
    subst = {"{cus}": cus, "{recurring}": recurring.id}

    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return subst.get(value, value) if isinstance(value, str) else value

    before = (tenant.rows(), tenant.audit_rows())
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoice_items.create(params=fill(params))
    assert (err.value.http_status, err.value.param) == (status, param)
    assert fragment in (err.value.user_message or "")
    assert (err.value.json_body or {})["error"]["type"] == "invalid_request_error"
    assert (tenant.rows(), tenant.audit_rows()) == before


def test_items_on_a_finalized_invoice_are_frozen(tenant: Tenant) -> None:
    c = tenant.client
    cus = _customer(c)
    inv = c.v1.invoices.create(params={"customer": cus, "currency": "usd"})
    ii = c.v1.invoice_items.create(params={"customer": cus, "amount": 1200, "invoice": inv.id})
    assert [i.id for i in c.v1.invoice_items.list(params={"invoice": inv.id}).data] == [ii.id]
    c.v1.invoices.finalize_invoice(inv.id)
    before = (tenant.rows(), tenant.audit_rows())
    for call in (
        lambda: c.v1.invoice_items.update(ii.id, params={"amount": 1}),
        lambda: c.v1.invoice_items.delete(ii.id),
        lambda: c.v1.invoice_items.create(params={"customer": cus, "amount": 5, "invoice": inv.id}),
    ):
        with pytest.raises(stripe.InvalidRequestError) as err:
            call()
        assert err.value.http_status == 400 and "draft" in (err.value.user_message or "")
    assert (tenant.rows(), tenant.audit_rows()) == before
    other = _customer(c)
    draft = c.v1.invoices.create(params={"customer": other, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoice_items.create(params={"customer": cus, "amount": 5, "invoice": draft.id})
    assert err.value.param == "invoice"
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.invoice_items.create(
            params={"customer": other, "amount": 5, "currency": "eur", "invoice": draft.id}
        )
    assert err.value.param == "currency"
