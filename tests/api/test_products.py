"""Products through the official stripe SDK over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from sqlalchemy import select

from billfold.adapters.db.schema import objects
from tests.conftest import Tenant


def event_types(tenant: Tenant) -> list[str]:
    """The types of the events this account's test mode recorded, oldest first."""
    with tenant.engine.connect() as conn:
        rows = conn.execute(
            select(objects.c.status)
            .where(
                objects.c.account_id == tenant.account_id,
                objects.c.livemode.is_(False),
                objects.c.type == "event",
            )
            .order_by(objects.c.seq)
        )
        return [r.status for r in rows]


def rejected(tenant: Tenant, call: Any, status: int, param: str | None, fragment: str) -> stripe.StripeError:
    """Run ``call``; assert Stripe's error shape and that nothing was written (objects, events, audit rows)."""
    before = (tenant.rows(), tenant.rows(livemode=True), tenant.audit_rows())
    with pytest.raises(stripe.StripeError) as err:
        call()
    assert err.value.http_status == status
    body = (err.value.json_body or {})["error"]
    assert body["type"] == "invalid_request_error"
    assert body.get("param") == param
    assert fragment in body["message"], body["message"]
    assert (tenant.rows(), tenant.rows(livemode=True), tenant.audit_rows()) == before
    return err.value


def test_create_retrieve_update_delete(tenant: Tenant) -> None:
    c = tenant.client
    prod = c.v1.products.create(
        params={
            "name": "Essential",
            "description": "Seats for the helpdesk",
            "metadata": {"plan": "essential"},
            "images": ["https://cdn.example/essential.png"],
            "marketing_features": [{"name": "Shared inbox"}, {"name": "Ticketing"}],
            "url": "https://example.com/essential",
            "unit_label": "seat",
            "statement_descriptor": "HELPDESK SEATS",
            "tax_code": "txcd_10103001",
            "shippable": False,
        }
    )
    assert prod.id.startswith("prod_") and prod.object == "product"
    assert prod.active is True and prod.livemode is False
    assert prod.default_price is None and prod.type == "service"
    assert prod.created == prod.updated
    assert [f.name for f in prod.marketing_features] == ["Shared inbox", "Ticketing"]
    assert prod.images == ["https://cdn.example/essential.png"]
    assert prod.unit_label == "seat" and prod.tax_code == "txcd_10103001"
    assert c.v1.products.retrieve(prod.id).to_dict() == prod.to_dict()

    upd = c.v1.products.update(
        prod.id,
        params={
            "name": "Essential seats",
            "metadata": {"plan": "", "tier": "1"},
            "description": "",
            "url": "",
        },
    )
    assert upd.name == "Essential seats"
    assert upd.metadata.to_dict() == {"tier": "1"}
    assert upd.description is None and upd.url is None
    archived = c.v1.products.update(prod.id, params={"active": False})
    assert archived.active is False

    deleted = c.v1.products.delete(prod.id)
    assert deleted.deleted is True and deleted.id == prod.id
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.products.retrieve(prod.id)
    assert err.value.http_status == 404 and err.value.code == "resource_missing"
    assert event_types(tenant) == ["product.created", "product.updated", "product.updated", "product.deleted"]


def test_update_without_change_records_nothing(tenant: Tenant) -> None:
    prod = tenant.client.v1.products.create(params={"name": "Copilot"})
    before = tenant.rows("event")
    tenant.client.v1.products.update(prod.id, params={"name": "Copilot"})
    assert tenant.rows("event") == before


def test_custom_id_and_package_dimensions(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    prod = c.v1.products.create(
        params={
            "id": "essential-seat",
            "name": "Essential",
            "type": "good",
            "shippable": True,
            "package_dimensions": {"height": 1.5, "length": 10, "weight": 2.25, "width": 3},
            "tax_details": {"tax_code": "txcd_99999999"},
        }
    )
    assert prod.id == "essential-seat" and prod.type == "good"
    assert prod.tax_details is not None and prod.tax_details.performance_location is None
    assert prod.tax_code == "txcd_99999999"
    assert prod.package_dimensions is not None and prod.package_dimensions.weight == 2.25
    assert c.v1.products.retrieve("essential-seat").name == "Essential"
    rejected(
        tenant,
        lambda: c.v1.products.create(params={"id": "essential-seat", "name": "Again"}),
        400,
        "id",
        "Product already exists",
    )
    # Custom ids are per account and mode: another account may use the same one.
    assert (
        other_tenant.client.v1.products.create(params={"id": "essential-seat", "name": "Theirs"}).name
        == "Theirs"
    )


def test_default_price_data_creates_the_default_price(tenant: Tenant) -> None:
    c = tenant.client
    prod = c.v1.products.create(
        params={
            "name": "Advanced",
            "default_price_data": {
                "currency": "usd",
                "unit_amount": 9900,
                "recurring": {"interval": "month"},
                "currency_options": {"eur": {"unit_amount": 9900}, "gbp": {"unit_amount": 8500}},
                "tax_behavior": "exclusive",
            },
            "expand": ["default_price"],
        }
    )
    price = prod.default_price
    assert isinstance(price, stripe.Price)
    assert price.product == prod.id and price.unit_amount == 9900 and price.type == "recurring"
    assert price.recurring is not None and price.recurring.interval == "month"
    assert price.currency_options is not None
    assert price.currency_options["gbp"].unit_amount == 8500
    assert price.tax_behavior == "exclusive"
    again = c.v1.prices.retrieve(price.id, params={"expand": ["product.default_price"]})
    assert isinstance(again.product, stripe.Product)
    assert (
        isinstance(again.product.default_price, stripe.Price) and again.product.default_price.id == price.id
    )
    assert event_types(tenant) == ["product.created", "price.created"]
    # A product with a price cannot be deleted (https://docs.stripe.com/api/products/delete).
    rejected(tenant, lambda: c.v1.products.delete(prod.id), 400, None, "has one or more prices")


def test_set_default_price(tenant: Tenant) -> None:
    c = tenant.client
    prod = c.v1.products.create(params={"name": "Expert"})
    other = c.v1.products.create(params={"name": "Copilot"})
    monthly = c.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 13900,
            "recurring": {"interval": "month"},
        }
    )
    foreign = c.v1.prices.create(params={"product": other.id, "currency": "usd", "unit_amount": 3500})
    upd = c.v1.products.update(prod.id, params={"default_price": monthly.id, "expand": ["default_price"]})
    assert isinstance(upd.default_price, stripe.Price) and upd.default_price.unit_amount == 13900
    rejected(
        tenant,
        lambda: c.v1.products.update(prod.id, params={"default_price": foreign.id}),
        400,
        "default_price",
        "belongs to another product",
    )
    rejected(
        tenant,
        lambda: c.v1.products.update(prod.id, params={"default_price": "price_missing"}),
        404,
        "default_price",
        "No such price",
    )


def test_list_paginates_and_filters(tenant: Tenant) -> None:
    c = tenant.client
    made = [c.v1.products.create(params={"name": f"P{i}", "shippable": i % 2 == 0}).id for i in range(23)]
    page = c.v1.products.list(params={"limit": 10})
    assert page.url == "/v1/products" and page.has_more is True
    assert [p.id for p in page.data] == list(reversed(made))[:10]
    assert [p.id for p in c.v1.products.list(params={"limit": 7}).auto_paging_iter()] == list(reversed(made))
    c.v1.products.update(made[3], params={"active": False, "url": "https://example.com/p3"})
    assert [p.id for p in c.v1.products.list(params={"active": False}).data] == [made[3]]
    assert len(list(c.v1.products.list(params={"active": True, "limit": 100}).auto_paging_iter())) == 22
    ids = c.v1.products.list(params={"ids": [made[0], made[5], "prod_nope"]})
    assert [p.id for p in ids.data] == [made[5], made[0]]
    assert [p.id for p in c.v1.products.list(params={"url": "https://example.com/p3"}).data] == [made[3]]
    shippable = [p.id for p in c.v1.products.list(params={"shippable": True, "limit": 4}).auto_paging_iter()]
    assert shippable == [m for i, m in reversed(list(enumerate(made))) if i % 2 == 0]
    before = c.v1.products.list(params={"shippable": False, "limit": 2, "ending_before": made[5]})
    assert [p.id for p in before.data] == [made[9], made[7]] and before.has_more is True
    expanded = c.v1.products.list(params={"limit": 1, "expand": ["data.default_price"]})
    assert expanded.data[0].default_price is None
    rejected(
        tenant,
        lambda: c.v1.products.list(params={"ids": [made[0]], "starting_after": made[1]}),
        400,
        "ids",
        "cannot be used with starting_after",
    )


def test_search(tenant: Tenant) -> None:
    c = tenant.client
    a = c.v1.products.create(params={"name": "Essential seat", "metadata": {"family": "seats"}})
    b = c.v1.products.create(params={"name": "Copilot seat", "url": "https://example.com/copilot"})
    c.v1.products.update(b.id, params={"active": False})
    r = c.v1.products.search(params={"query": "name~'seat' AND active:'true'"})
    assert [x.id for x in r.data] == [a.id]
    r = c.v1.products.search(
        params={"query": "metadata['family']:'seats' OR url:'https://example.com/copilot'"}
    )
    assert {x.id for x in r.data} == {a.id, b.id}
    pages = list(c.v1.products.search(params={"query": "name~'seat'", "limit": 1}).auto_paging_iter())
    assert {x.id for x in pages} == {a.id, b.id}
    rejected(
        tenant, lambda: c.v1.products.search(params={"query": "tax_code:'x'"}), 400, "query", "unsupported"
    )


def test_other_account_and_mode_are_invisible(tenant: Tenant, other_tenant: Tenant) -> None:
    mine = tenant.client.v1.products.create(params={"name": "Mine"})
    live = tenant.live_client.v1.products.create(params={"name": "Live"})
    for client, product_id in ((other_tenant.client, mine.id), (tenant.client, live.id)):
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.products.retrieve(product_id)
        assert err.value.http_status == 404 and err.value.param == "id"
    assert [p.id for p in tenant.live_client.v1.products.list().data] == [live.id]
    rejected(
        other_tenant,
        lambda: other_tenant.client.v1.products.update(mine.id, params={"name": "x"}),
        404,
        "id",
        "No such product",
    )


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({}, "name", "Missing required param: name"),
        ({"name": ""}, "name", "must not be empty"),
        ({"name": "x", "colour": "red"}, "colour", "Received unknown parameter"),
        ({"name": "x", "metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", "50 keys"),
        ({"name": "x", "metadata": {"k": "v" * 501}}, "metadata", "500 characters"),
        ({"name": "x", "active": "maybe"}, "active", "Invalid boolean"),
        ({"name": "x", "images": [f"https://i.example/{i}.png" for i in range(9)]}, "images", "at most 8"),
        ({"name": "x", "marketing_features": [{"name": "f" * 81}]}, "marketing_features[0][name]", "80"),
        ({"name": "x", "unit_label": "thirteen-char"}, "unit_label", "at most 12"),
        ({"name": "x", "statement_descriptor": "A" * 23}, "statement_descriptor", "at most 22"),
        ({"name": "x", "statement_descriptor": "<ACME>"}, "statement_descriptor", "may not include"),
        ({"name": "x", "statement_descriptor": "1234"}, "statement_descriptor", "at least one letter"),
        ({"name": "x", "type": "good", "unit_label": "kg"}, "unit_label", "type service"),
        ({"name": "x", "id": "has space"}, "id", "expected format"),
        ({"name": "x", "package_dimensions": {"height": 1}}, "package_dimensions[length]", "Missing"),
        (
            {"name": "x", "package_dimensions": {"height": 1.234, "length": 1, "weight": 1, "width": 1}},
            "package_dimensions[height]",
            "2 decimal places",
        ),
        (
            {"name": "x", "default_price_data": {"unit_amount": 100}},
            "default_price_data[currency]",
            "Missing",
        ),
        (
            {"name": "x", "default_price_data": {"currency": "usd", "unit_amount": -1}},
            "default_price_data[unit_amount]",
            "greater than or equal to 0",
        ),
        (
            {"name": "x", "default_price_data": {"currency": "usd"}},
            "default_price_data[unit_amount]",
            "Missing required param",
        ),
        (
            {
                "name": "x",
                "default_price_data": {"currency": "usd", "unit_amount": 1, "unit_amount_decimal": "1"},
            },
            "default_price_data[unit_amount_decimal]",
            "only specify one",
        ),
        (
            {
                "name": "x",
                "default_price_data": {
                    "currency": "usd",
                    "unit_amount": 100,
                    "recurring": {"interval": "month", "interval_count": 37},
                },
            },
            "default_price_data[recurring][interval_count]",
            "maximum for interval=month is 36",
        ),
        (
            {
                "name": "x",
                "default_price_data": {"currency": "usd", "unit_amount": 1, "tiers_mode": "volume"},
            },
            "default_price_data[tiers_mode]",
            "Received unknown parameter",
        ),
        (
            {
                "name": "x",
                "default_price_data": {
                    "currency": "usd",
                    "unit_amount": 1,
                    "currency_options": {"xyz": {"unit_amount": 1}},
                },
            },
            "default_price_data[currency_options][xyz]",
            "Invalid currency",
        ),
    ],
)
def test_bad_create_writes_nothing(tenant: Tenant, params: dict[str, Any], param: str, fragment: str) -> None:
    rejected(tenant, lambda: tenant.client.v1.products.create(params=params), 400, param, fragment)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({"type": "good"}, "type", "Received unknown parameter"),
        ({"name": ""}, "name", "must not be empty"),
        ({"default_price_data": {"currency": "usd"}}, "default_price_data", "Received unknown parameter"),
        ({"images": "not-a-list"}, "images", "must be an array"),
        ({"metadata": {"k" * 41: "v"}}, "metadata", "40 characters"),
    ],
)
def test_bad_update_writes_nothing(tenant: Tenant, params: dict[str, Any], param: str, fragment: str) -> None:
    prod = tenant.client.v1.products.create(params={"name": "Essential"})
    rejected(tenant, lambda: tenant.client.v1.products.update(prod.id, params=params), 400, param, fragment)  # type: ignore[arg-type]
