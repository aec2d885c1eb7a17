"""Customers through the official stripe SDK over real HTTP."""

from __future__ import annotations

import pytest
import stripe

from tests.conftest import Tenant


def test_create_retrieve_update_delete(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(
        params={
            "email": "ops@acme.example",
            "name": "Acme GmbH",
            "address": {"country": "DE", "city": "Berlin", "line1": "Hauptstr. 1", "postal_code": "10115"},
            "preferred_locales": ["de-DE", "en"],
            "metadata": {"crm_id": "0015g00000XYZ"},
            "tax_id_data": [{"type": "eu_vat", "value": "DE123456789"}],
            "invoice_settings": {"footer": "Thank you", "custom_fields": [{"name": "PO", "value": "4711"}]},
        }
    )
    assert cus.id.startswith("cus_")
    assert cus.object == "customer"
    assert cus.livemode is False
    assert cus.address is not None and cus.address.country == "DE"
    assert cus.preferred_locales == ["de-DE", "en"]
    assert cus.balance == 0
    assert cus.tax_ids is not None and cus.tax_ids.data[0].country == "DE"
    assert cus.invoice_settings is not None and cus.invoice_settings.footer == "Thank you"

    got = c.v1.customers.retrieve(cus.id)
    assert got.to_dict() == cus.to_dict()

    upd = c.v1.customers.update(
        cus.id, params={"name": "Acme AG", "metadata": {"crm_id": "", "tier": "gold"}}
    )
    assert upd.name == "Acme AG"
    assert upd.metadata.to_dict() == {"tier": "gold"}

    cleared = c.v1.customers.update(cus.id, params={"metadata": ""})
    assert cleared.metadata.to_dict() == {}

    deleted = c.v1.customers.delete(cus.id)
    assert deleted.deleted is True
    assert c.v1.customers.retrieve(cus.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.customers.update(cus.id, params={"name": "x"})
    assert err.value.http_status == 404 and err.value.code == "resource_missing"


def test_list_paginates_and_filters(tenant: Tenant) -> None:
    c = tenant.client
    made = [c.v1.customers.create(params={"email": f"u{i}@x.example"}).id for i in range(23)]
    page = c.v1.customers.list(params={"limit": 10})
    assert page.object == "list" and page.url == "/v1/customers"
    assert len(page.data) == 10 and page.has_more is True
    assert [cu.id for cu in page.data] == list(reversed(made))[:10]
    every = [cu.id for cu in c.v1.customers.list(params={"limit": 7}).auto_paging_iter()]
    assert every == list(reversed(made))
    before = c.v1.customers.list(params={"limit": 3, "ending_before": made[10]})
    assert [cu.id for cu in before.data] == [made[13], made[12], made[11]]
    only = c.v1.customers.list(params={"email": "U5@x.example"})
    assert [cu.id for cu in only.data] == [made[5]]


def test_search(tenant: Tenant) -> None:
    c = tenant.client
    a = c.v1.customers.create(
        params={"email": "jane@shop.example", "name": "Jane Doe", "metadata": {"plan": "pro"}}
    )
    b = c.v1.customers.create(
        params={"email": "john@shop.example", "name": "John Roe", "metadata": {"plan": "free"}}
    )
    r = c.v1.customers.search(params={"query": "email:'jane@shop.example'"})
    assert [x.id for x in r.data] == [a.id]
    r = c.v1.customers.search(params={"query": "metadata['plan']:'free'"})
    assert [x.id for x in r.data] == [b.id]
    r = c.v1.customers.search(params={"query": "name~'Roe' OR name~'Doe'"})
    assert {x.id for x in r.data} == {a.id, b.id}
    r = c.v1.customers.search(params={"query": "-email:'jane@shop.example' AND name~'Roe'"})
    assert [x.id for x in r.data] == [b.id]
    pages = list(c.v1.customers.search(params={"query": "email~'shop'", "limit": 1}).auto_paging_iter())
    assert {x.id for x in pages} == {a.id, b.id}
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.customers.search(params={"query": "bogus:'x'"})
    assert err.value.http_status == 400 and err.value.param == "query"


def test_tax_ids(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "UK Ltd"})
    tid = c.v1.customers.tax_ids.create(cus.id, params={"type": "gb_vat", "value": "GB123456789"})
    assert tid.id.startswith("txi_") and tid.country == "GB" and tid.customer == cus.id
    assert [t.id for t in c.v1.customers.tax_ids.list(cus.id).data] == [tid.id]
    assert c.v1.customers.retrieve(cus.id).tax_ids.data[0].value == "GB123456789"
    assert c.v1.customers.tax_ids.delete(cus.id, tid.id).deleted is True
    assert c.v1.customers.tax_ids.list(cus.id).data == []


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({"unknown_thing": "1"}, "unknown_thing", "Received unknown parameter"),
        ({"balance": "lots"}, "balance", "Invalid integer"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", "50 keys"),
        ({"metadata": {"k" * 41: "v"}}, "metadata", "40 characters"),
        ({"metadata": {"k": "v" * 501}}, "metadata", "500 characters"),
        ({"tax_exempt": "sometimes"}, "tax_exempt", "must be one of"),
        ({"tax_id_data": [{"type": "eu_vat"}]}, "tax_id_data[0][value]", "Missing required param"),
        ({"address": {"planet": "Mars"}}, "address[planet]", "Received unknown parameter"),
        ({"test_clock": "clock_missing"}, "test_clock", "No such"),
        (
            {"invoice_settings": {"custom_fields": [{"name": "a", "value": "b"}] * 5}},
            "invoice_settings[custom_fields]",
            "",
        ),
    ],
)
def test_bad_input_writes_nothing(
    tenant: Tenant, params: dict[str, object], param: str, fragment: str
) -> None:
    before = (tenant.rows(), tenant.audit_rows())
    with pytest.raises(stripe.InvalidRequestError) as err:
        tenant.client.v1.customers.create(params=params)  # type: ignore[arg-type]
    assert err.value.param == param
    assert fragment in (err.value.user_message or "")
    assert err.value.http_status in (400, 404)
    body = err.value.json_body or {}
    assert body["error"]["type"] == "invalid_request_error"
    assert (tenant.rows(), tenant.audit_rows()) == before
