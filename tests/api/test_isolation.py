"""Tenancy: an object of one account and mode does not exist for any other account, nor for the other mode.

Every id is a 404 ``resource_missing`` elsewhere (retrieve, update, delete, nested routes, ids inside a request
body, list cursors), lists never show foreign objects, and nothing is written by a refused request. Also the
401s: a missing, unknown or revoked key.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import httpx
import pytest
import stripe
from sqlalchemy import update

from billfold.adapters.db.accounts import hash_secret
from billfold.adapters.db.schema import api_keys
from billfold.main import Runtime
from tests.conftest import Tenant


def _create(client: stripe.StripeClient, path: str, params: dict[str, Any]) -> str:
    obj = client.deserialize(client.raw_request("post", path, **params), api_mode="V1")
    return str(obj["id"])


@dataclass(frozen=True)
class Resource:
    """A top-level resource: how to make one, and the update it accepts (None: no update or no delete)."""

    name: str
    path: str
    make: Callable[[stripe.StripeClient], str]
    update: dict[str, Any] | None
    deletable: bool


def _coupon(c: stripe.StripeClient) -> str:
    return _create(c, "/v1/coupons", {"percent_off": 10, "duration": "once"})


def _price(c: stripe.StripeClient) -> str:
    return _create(
        c,
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
            "product_data": {"name": "P"},
        },
    )


def _subscription(c: stripe.StripeClient) -> str:
    customer = _create(c, "/v1/customers", {"name": "Subscriber"})
    return _create(
        c,
        "/v1/subscriptions",
        {
            "customer": customer,
            "items": [{"price": _price(c)}],
            "collection_method": "send_invoice",
            "days_until_due": 30,
        },
    )


def _invoice(c: stripe.StripeClient) -> str:
    sub = c.deserialize(c.raw_request("get", f"/v1/subscriptions/{_subscription(c)}"), api_mode="V1")
    return str(sub["latest_invoice"])


RESOURCES = [
    Resource(
        "customer",
        "/v1/customers",
        lambda c: _create(c, "/v1/customers", {"name": "Mine", "email": "mine@x.example"}),
        {"name": "Stolen"},
        True,
    ),
    Resource("coupon", "/v1/coupons", _coupon, {"name": "Stolen"}, True),
    Resource(
        "product",
        "/v1/products",
        lambda c: _create(c, "/v1/products", {"name": "Widget"}),
        {"name": "Stolen"},
        True,
    ),
    Resource("price", "/v1/prices", _price, {"nickname": "Stolen"}, False),
    Resource("subscription", "/v1/subscriptions", _subscription, {"metadata": {"who": "thief"}}, True),
    Resource("invoice", "/v1/invoices", _invoice, None, False),
    Resource(
        "promotion_code",
        "/v1/promotion_codes",
        lambda c: _create(c, "/v1/promotion_codes", {"promotion": {"type": "coupon", "coupon": _coupon(c)}}),
        {"metadata": {"who": "thief"}},
        False,
    ),
    Resource(
        "tax_rate",
        "/v1/tax_rates",
        lambda c: _create(c, "/v1/tax_rates", {"display_name": "VAT", "percentage": 19, "inclusive": False}),
        {"display_name": "Stolen"},
        False,
    ),
    Resource(
        "test_clock",
        "/v1/test_helpers/test_clocks",
        lambda c: _create(c, "/v1/test_helpers/test_clocks", {"frozen_time": int(time.time())}),
        None,
        True,
    ),
]


def _outsiders(tenant: Tenant, other_tenant: Tenant) -> list[tuple[str, stripe.StripeClient]]:
    return [
        ("other account, test mode", other_tenant.client),
        ("other account, live mode", other_tenant.live_client),
        ("same account, live mode", tenant.live_client),
    ]


def _assert_missing(call: Callable[[], object], object_id: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        call()
    assert err.value.http_status == 404, err.value
    assert err.value.code == "resource_missing"
    assert object_id in (err.value.user_message or "")


def _listed_ids(client: stripe.StripeClient, path: str) -> set[str]:
    body = client.deserialize(client.raw_request("get", path, limit=100), api_mode="V1")
    return {str(o["id"]) for o in body["data"]}


def _state(t: Tenant) -> tuple[int, int, int]:
    return (t.rows(), t.rows(livemode=True), t.audit_rows())


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.name)
def test_ids_of_another_account_or_mode_are_missing(
    tenant: Tenant, other_tenant: Tenant, res: Resource
) -> None:
    object_id = res.make(tenant.client)
    url = f"{res.path}/{object_id}"
    original = tenant.client.raw_request("get", url).body
    before = (_state(tenant), _state(other_tenant))
    for label, client in _outsiders(tenant, other_tenant):
        _assert_missing(partial(client.raw_request, "get", url), object_id)
        if res.update is not None:
            _assert_missing(partial(client.raw_request, "post", url, **res.update), object_id)
        if res.deletable:
            _assert_missing(partial(client.raw_request, "delete", url), object_id)
        assert object_id not in _listed_ids(client, res.path), label
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.raw_request("get", res.path, starting_after=object_id)
        assert err.value.http_status == 404 and err.value.param == "starting_after", label
    assert (_state(tenant), _state(other_tenant)) == before
    # The owner still sees it, untouched.
    assert tenant.client.raw_request("get", url).body == original
    assert object_id in _listed_ids(tenant.client, res.path)


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.name)
def test_lists_show_only_their_own_scope(tenant: Tenant, other_tenant: Tenant, res: Resource) -> None:
    if res.name == "test_clock":
        scopes = [(tenant.client, "t"), (other_tenant.client, "o")]
    else:
        scopes = [(tenant.client, "t"), (tenant.live_client, "tl"), (other_tenant.client, "o")]
    made = {label: {res.make(client) for _ in range(2)} for client, label in scopes}
    for client, label in scopes:
        assert _listed_ids(client, res.path) == made[label]


def test_customer_children_and_references_across_scopes(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Owner"})
    tax = c.v1.customers.tax_ids.create(cus.id, params={"type": "gb_vat", "value": "GB123456789"})
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": int(time.time())})
    before = (_state(tenant), _state(other_tenant))
    for label, client in _outsiders(tenant, other_tenant):
        tax_ids = client.v1.customers.tax_ids
        _assert_missing(partial(tax_ids.list, cus.id), cus.id)
        _assert_missing(partial(tax_ids.retrieve, cus.id, tax.id), cus.id)
        _assert_missing(partial(tax_ids.delete, cus.id, tax.id), cus.id)
        _assert_missing(partial(tax_ids.create, cus.id, params={"type": "gb_vat", "value": "GB1"}), cus.id)
        # An id inside a request body is looked up in the caller's scope too.
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.customers.create(params={"name": "x", "test_clock": clock.id})
        assert err.value.http_status == 404 and err.value.param == "test_clock", label
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.customers.list(params={"ending_before": cus.id})
        assert err.value.http_status == 404 and err.value.param == "ending_before", label
        assert client.v1.customers.search(params={"query": "name:'Owner'"}).data == [], label
    assert (_state(tenant), _state(other_tenant)) == before


def test_a_foreign_tax_id_under_ones_own_customer_is_missing(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = other_tenant.client.v1.customers.create(params={"name": "Theirs"})
    their_tax = other_tenant.client.v1.customers.tax_ids.create(
        theirs.id, params={"type": "gb_vat", "value": "GB123456789"}
    )
    mine = tenant.client.v1.customers.create(params={"name": "Mine"})
    before = (_state(tenant), _state(other_tenant))
    tax_ids = tenant.client.v1.customers.tax_ids
    _assert_missing(lambda: tax_ids.retrieve(mine.id, their_tax.id), their_tax.id)
    _assert_missing(lambda: tax_ids.delete(mine.id, their_tax.id), their_tax.id)
    assert (_state(tenant), _state(other_tenant)) == before
    assert other_tenant.client.v1.customers.tax_ids.retrieve(theirs.id, their_tax.id).id == their_tax.id


def test_invoice_actions_and_subscription_items_across_scopes(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    sub = c.deserialize(c.raw_request("get", f"/v1/subscriptions/{_subscription(c)}"), api_mode="V1")
    invoice_id, item_id = str(sub["latest_invoice"]), str(sub["items"]["data"][0]["id"])
    before = (_state(tenant), _state(other_tenant))
    for label, client in _outsiders(tenant, other_tenant):
        for method, path in [
            ("get", f"/v1/invoices/{invoice_id}/lines"),
            ("post", f"/v1/invoices/{invoice_id}/finalize"),
            ("post", f"/v1/invoices/{invoice_id}/pay"),
            ("post", f"/v1/invoices/{invoice_id}/void"),
            ("post", f"/v1/invoices/{invoice_id}/mark_uncollectible"),
        ]:
            _assert_missing(partial(client.raw_request, method, path), invoice_id)
        _assert_missing(partial(client.raw_request, "get", f"/v1/subscription_items/{item_id}"), item_id)
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.raw_request("get", "/v1/subscription_items", subscription=str(sub["id"]))
        assert err.value.http_status == 404, label
        assert _listed_ids(client, f"/v1/invoices?customer={sub['customer']}") == set(), label
    assert (_state(tenant), _state(other_tenant)) == before


def test_events_of_another_account_or_mode_are_missing(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.client.v1.customers.create(params={"name": "Evented"})
    evt = tenant.client.v1.events.list().data[0]
    for label, client in _outsiders(tenant, other_tenant):
        _assert_missing(partial(client.v1.events.retrieve, evt.id), evt.id)
        assert client.v1.events.list().data == [], label


def test_caller_chosen_ids_are_per_account_and_mode(tenant: Tenant, other_tenant: Tenant) -> None:
    params: Any = {"id": "SUMMER25", "percent_off": 25, "duration": "once"}
    mine = tenant.client.v1.coupons.create(params=params)
    live = tenant.live_client.v1.coupons.create(params=params)
    theirs = other_tenant.client.v1.coupons.create(params=params)
    assert mine.id == live.id == theirs.id == "SUMMER25"
    assert live.livemode is True


# -- authentication ---------------------------------------------------------------------------------------------
def test_unknown_key_is_401(server_url: str) -> None:
    for secret in ("sk_test_" + "x" * 40, "sk_live_" + "y" * 40, "pk_test_abc", "nonsense"):
        client = stripe.StripeClient(secret, base_addresses={"api": server_url}, max_network_retries=0)
        with pytest.raises(stripe.AuthenticationError) as err:
            client.v1.customers.list()
        assert err.value.http_status == 401
        body = cast(dict[str, Any], err.value.json_body)
        assert body["error"]["type"] == "invalid_request_error"
        assert "Invalid API Key" in body["error"]["message"]
        assert secret not in body["error"]["message"] or len(secret) <= 12  # never echoed in full


def test_no_key_is_401(server_url: str) -> None:
    for method in ("get", "post", "delete"):
        resp = httpx.request(method, server_url + "/v1/customers/cus_x")
        assert resp.status_code == 401
        assert resp.headers["content-type"] == "application/json"
        err = resp.json()["error"]
        assert err["type"] == "invalid_request_error" and "API key" in err["message"]
    resp = httpx.get(server_url + "/v1/customers", headers={"Authorization": "Bearer"})
    assert resp.status_code == 401


def test_revoked_key_is_401(tenant: Tenant, runtime: Runtime, server_url: str) -> None:
    secret = runtime.services.accounts.create_key(tenant.account_id, livemode=True)
    client = stripe.StripeClient(secret, base_addresses={"api": server_url}, max_network_retries=0)
    made = client.v1.customers.create(params={"name": "Before revocation"})
    assert made.livemode is True
    with tenant.engine.begin() as conn:
        conn.execute(update(api_keys).where(api_keys.c.key_hash == hash_secret(secret)).values(revoked=True))
    before = _state(tenant)
    with pytest.raises(stripe.AuthenticationError) as err:
        client.v1.customers.retrieve(made.id)
    assert err.value.http_status == 401
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.create(params={"name": "After revocation"})
    assert _state(tenant) == before
    # The account's other live key still works and sees the object.
    assert tenant.live_client.v1.customers.retrieve(made.id).id == made.id


def test_basic_auth_with_the_key_as_user_works(tenant: Tenant, server_url: str) -> None:
    # curl -u sk_test_...: is how Stripe's docs show authentication.
    token = base64.b64encode(f"{tenant.test_key}:".encode()).decode()
    resp = httpx.get(server_url + "/v1/customers", headers={"Authorization": f"Basic {token}"})
    assert resp.status_code == 200 and resp.json()["object"] == "list"
    bad = base64.b64encode(b"sk_test_wrong:").decode()
    resp = httpx.get(server_url + "/v1/customers", headers={"Authorization": f"Basic {bad}"})
    assert resp.status_code == 401
