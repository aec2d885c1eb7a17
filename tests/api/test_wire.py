"""The wire, byte by byte (raw httpx): Stripe's encodings, its error shape on every failure, its headers.

Clients that are not the official SDK (curl, other languages' SDKs, hand-written HTTP) rely on these details:
bracketed form keys, JSON bodies, a JSON error for every bad request (never an HTML page), Request-Id and
Stripe-Version on every response. https://docs.stripe.com/api/errors, https://docs.stripe.com/api/request_ids
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from billfold.version import API_VERSION
from tests.conftest import Tenant


def _auth(t: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {t.test_key}"}


def _form(t: Tenant) -> dict[str, str]:
    return {**_auth(t), "Content-Type": "application/x-www-form-urlencoded"}


def _assert_error(resp: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    err: dict[str, Any] = resp.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert isinstance(err["message"], str) and err["message"]
    if param is not None:
        assert err.get("param") == param, err
    return err


def _state(t: Tenant) -> tuple[int, int]:
    return (t.rows(), t.audit_rows())


# -- routes -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize(
    "path", ["/v1/nothing_here", "/v1/customers/cus_1/nothing", "/", "/v2/core/accounts"]
)
@pytest.mark.parametrize("authenticated", [True, False])
def test_unknown_route_is_a_json_404(
    tenant: Tenant, server_url: str, method: str, path: str, authenticated: bool
) -> None:
    headers = _auth(tenant) if authenticated else {}
    resp = httpx.request(method, server_url + path, headers=headers)
    err = _assert_error(resp, 404)
    assert "Unrecognized request URL" in err["message"] and path in err["message"]
    assert resp.headers["stripe-version"] == API_VERSION


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/customers"),
        ("PATCH", "/v1/customers/cus_1"),
        ("DELETE", "/v1/customers"),
        ("POST", "/v1/events"),
        ("DELETE", "/v1/events/evt_1"),
    ],
)
def test_wrong_method_on_a_known_path_is_a_json_error(
    tenant: Tenant, server_url: str, method: str, path: str
) -> None:
    before = _state(tenant)
    resp = httpx.request(method, server_url + path, headers=_form(tenant), content=b"name=x")
    _assert_error(resp, 404)
    assert _state(tenant) == before


# -- encodings --------------------------------------------------------------------------------------------------
def test_nested_bracket_form_encoding(tenant: Tenant, server_url: str) -> None:
    body = (
        "name=Bracket+%26+Co"
        "&metadata[a]=b&metadata[empty]="
        "&preferred_locales[]=de&preferred_locales[]=en"
        "&tax_id_data[0][type]=eu_vat&tax_id_data[0][value]=DE123456789"
        "&tax_id_data[1][type]=gb_vat&tax_id_data[1][value]=GB123456789"
        "&invoice_settings[custom_fields][0][name]=PO&invoice_settings[custom_fields][0][value]=4711"
        "&expand[]=test_clock"
    )
    resp = httpx.post(server_url + "/v1/customers", headers=_form(tenant), content=body.encode())
    assert resp.status_code == 200, resp.text
    cus = resp.json()
    assert cus["name"] == "Bracket & Co"
    assert cus["metadata"] == {"a": "b", "empty": ""}
    assert cus["preferred_locales"] == ["de", "en"]
    assert [(t["type"], t["value"]) for t in cus["tax_ids"]["data"]] == [
        ("eu_vat", "DE123456789"),
        ("gb_vat", "GB123456789"),
    ]
    assert cus["invoice_settings"]["custom_fields"] == [{"name": "PO", "value": "4711"}]


def test_percent_encoded_brackets_decode_the_same(tenant: Tenant, server_url: str) -> None:
    # Strict form encoders (browsers, urllib) escape the brackets; the SDK does not.
    body = "metadata%5Bk%5D=v&preferred_locales%5B0%5D=fr"
    resp = httpx.post(server_url + "/v1/customers", headers=_form(tenant), content=body.encode())
    assert resp.status_code == 200, resp.text
    assert resp.json()["metadata"] == {"k": "v"} and resp.json()["preferred_locales"] == ["fr"]


def test_query_string_brackets_on_get(tenant: Tenant, server_url: str) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Q"})
    c.v1.customers.update(cus.id, params={"name": "Q2"})
    created = c.v1.events.list().data[-1].created
    resp = httpx.get(
        server_url + "/v1/events",
        params=[
            ("types[]", "customer.updated"),
            ("types[]", "customer.deleted"),
            ("created[gte]", str(created)),
        ],
        headers=_auth(tenant),
    )
    assert resp.status_code == 200, resp.text
    assert [e["type"] for e in resp.json()["data"]] == ["customer.updated"]


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8"])
def test_json_body_is_accepted(tenant: Tenant, server_url: str, ctype: str) -> None:
    payload = {
        "name": "Jason",
        "balance": 250,
        "metadata": {"source": "json"},
        "preferred_locales": ["en"],
        "invoice_settings": {"custom_fields": [{"name": "PO", "value": "1"}]},
        "expand": ["test_clock"],
    }
    resp = httpx.post(
        server_url + "/v1/customers",
        headers={**_auth(tenant), "Content-Type": ctype},
        content=json.dumps(payload).encode(),
    )
    assert resp.status_code == 200, resp.text
    cus = resp.json()
    assert (cus["name"], cus["balance"], cus["metadata"]) == ("Jason", 250, {"source": "json"})
    assert cus["invoice_settings"]["custom_fields"] == [{"name": "PO", "value": "1"}]
    assert tenant.client.v1.customers.retrieve(cus["id"]).name == "Jason"


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'"name"', b'{"name": "\xff"}'],
    ids=["broken", "array", "string", "utf8"],
)
def test_bad_json_body_is_400(tenant: Tenant, server_url: str, body: bytes) -> None:
    before = _state(tenant)
    resp = httpx.post(
        server_url + "/v1/customers",
        headers={**_auth(tenant), "Content-Type": "application/json"},
        content=body,
    )
    _assert_error(resp, 400)
    assert _state(tenant) == before


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("metadata[a=b", "metadata[a"),
        ("[a]=b", "[a]"),
        ("metadata[a]x=1", "metadata[a]x"),
        ("metadata[a]=1&metadata[a][b]=2", "metadata[a][b]"),
        ("metadata[a][b]=2&metadata[a]=1", "metadata[a]"),
        ("name=x&name[first]=y", "name[first]"),
    ],
)
def test_malformed_bracket_key_is_400_with_param(
    tenant: Tenant, server_url: str, body: str, param: str
) -> None:
    before = _state(tenant)
    resp = httpx.post(server_url + "/v1/customers", headers=_form(tenant), content=body.encode())
    _assert_error(resp, 400, param)
    assert _state(tenant) == before


def test_invalid_utf8_body_is_400(tenant: Tenant, server_url: str) -> None:
    before = _state(tenant)
    resp = httpx.post(server_url + "/v1/customers", headers=_form(tenant), content=b"name=\xff\xfe")
    err = _assert_error(resp, 400)
    assert "UTF-8" in err["message"]
    assert _state(tenant) == before


def test_percent_encoded_invalid_utf8_is_400(tenant: Tenant, server_url: str) -> None:
    before = _state(tenant)
    resp = httpx.post(server_url + "/v1/customers", headers=_form(tenant), content=b"name=%FF%FE")
    _assert_error(resp, 400)
    assert _state(tenant) == before


# -- list and expand parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/v1/customers", "/v1/events"])
@pytest.mark.parametrize(
    ("limit", "fragment"), [("0", "greater than"), ("101", "less than"), ("ten", "integer")]
)
def test_limit_out_of_range_is_400(
    tenant: Tenant, server_url: str, path: str, limit: str, fragment: str
) -> None:
    resp = httpx.get(server_url + path, params={"limit": limit}, headers=_auth(tenant))
    err = _assert_error(resp, 400, "limit")
    assert fragment in err["message"]


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
def test_unknown_cursor_is_404(tenant: Tenant, server_url: str, cursor: str) -> None:
    resp = httpx.get(server_url + "/v1/customers", params={cursor: "cus_unknown"}, headers=_auth(tenant))
    err = _assert_error(resp, 404, cursor)
    assert err["code"] == "resource_missing" and "cus_unknown" in err["message"]


@pytest.mark.parametrize("path", ["email", "nope", "metadata.x", "data.email"])
def test_expand_of_a_non_expandable_field_is_400(tenant: Tenant, server_url: str, path: str) -> None:
    cus = tenant.client.v1.customers.create(params={"email": "e@x.example", "metadata": {"x": "y"}})
    url = "/v1/customers" if path.startswith("data.") else f"/v1/customers/{cus.id}"
    resp = httpx.get(server_url + url, params={"expand[]": path}, headers=_auth(tenant))
    err = _assert_error(resp, 400, "expand")
    assert path in err["message"]


def test_expand_on_create_fails_before_anything_is_written(tenant: Tenant, server_url: str) -> None:
    before = _state(tenant)
    resp = httpx.post(
        server_url + "/v1/customers", headers=_form(tenant), content=b"email=e@x.example&expand[]=email"
    )
    _assert_error(resp, 400, "expand")
    assert _state(tenant) == before


def test_expand_of_a_null_non_expandable_field_is_400(tenant: Tenant, server_url: str) -> None:
    cus = tenant.client.v1.customers.create(params={"name": "No description"})
    resp = httpx.get(
        server_url + f"/v1/customers/{cus.id}", params={"expand[]": "description"}, headers=_auth(tenant)
    )
    _assert_error(resp, 400, "expand")


# -- headers ----------------------------------------------------------------------------------------------------
def _requests(tenant: Tenant, server_url: str) -> dict[str, httpx.Response]:
    ok = httpx.post(server_url + "/v1/customers", headers=_form(tenant), content=b"name=H")
    return {
        "create": ok,
        "retrieve": httpx.get(server_url + f"/v1/customers/{ok.json()['id']}", headers=_auth(tenant)),
        "list": httpx.get(server_url + "/v1/customers", headers=_auth(tenant)),
        "400": httpx.post(server_url + "/v1/customers", headers=_form(tenant), content=b"bogus=1"),
        "404": httpx.get(server_url + "/v1/customers/cus_missing", headers=_auth(tenant)),
        "401": httpx.get(server_url + "/v1/customers", headers={"Authorization": "Bearer sk_test_nope"}),
    }


def test_every_response_carries_request_id_and_stripe_version(tenant: Tenant, server_url: str) -> None:
    seen = set()
    for name, resp in _requests(tenant, server_url).items():
        assert resp.headers["stripe-version"] == API_VERSION, name
        assert resp.headers["request-id"].startswith("req_"), name
        assert resp.headers["content-type"] == "application/json", name
        seen.add(resp.headers["request-id"])
    assert len(seen) == 6


def test_error_bodies_have_stripes_shape(tenant: Tenant, server_url: str) -> None:
    for name, resp in _requests(tenant, server_url).items():
        if resp.status_code == 200:
            continue
        body = resp.json()
        assert set(body) == {"error"}, name
        assert set(body["error"]) <= {"type", "code", "message", "param", "doc_url", "decline_code"}, name
        assert body["error"]["type"] == "invalid_request_error", name


def test_unknown_route_carries_a_request_id(tenant: Tenant, server_url: str) -> None:
    resp = httpx.get(server_url + "/v1/nothing_here", headers=_auth(tenant))
    assert resp.headers["request-id"].startswith("req_")


# -- keys the decoder must survive ------------------------------------------------------------------------------
HOSTILE = [
    (b"0=a&1=b", 400),  # top-level integer keys: unknown parameters, not a list
    (b"metadata[\xc2\xb2]=x", 200),  # "superscript two": a digit to str.isdigit(), not to int()
    (b"metadata[__append__]=abc", 200),  # once the decoder's own sentinel name
    (b"metadata[]=a&metadata[0]=b", 400),  # append and index forms mixed
    (b"metadata[a][]=x&metadata[a][b]=y", 400),
]


@pytest.mark.parametrize(("body", "status"), HOSTILE)
def test_hostile_keys_answer_json_and_write_nothing_on_error(
    tenant: Tenant, server_url: str, body: bytes, status: int
) -> None:
    before = _state(tenant)
    resp = httpx.post(server_url + "/v1/customers", headers=_form(tenant), content=body)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    if status == 200:
        assert tenant.rows("customer") == 1
    else:
        _assert_error(resp, status)
        assert _state(tenant) == before


def test_all_digit_top_level_keys_are_unknown_parameters(tenant: Tenant, server_url: str) -> None:
    resp = httpx.post(server_url + "/v1/customers", headers=_form(tenant), content=b"0=a&1=b")
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] in ("0", "1")


def test_non_ascii_digit_keys_are_names_not_indexes(tenant: Tenant, server_url: str) -> None:
    # '\u00b2' is a digit to str.isdigit() but no list index: it stays an ordinary metadata key.
    resp = httpx.post(
        server_url + "/v1/customers", headers=_form(tenant), content="metadata[\u00b2]=x".encode()
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["metadata"] == {"\u00b2": "x"}


# -- found by the API fuzz tests (tests/api/test_fuzz.py) -------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/coupons", "duration=once&amount_off=9223372036854775808&currency=usd", "amount_off"),
        ("/v1/invoiceitems", "customer=cus_x&currency=usd&amount=-9223372036854775809", "amount"),
        ("/v1/test_helpers/test_clocks", "frozen_time=99999999999999999999999", "frozen_time"),
    ],
)
def test_an_integer_beyond_64_bits_is_invalid_not_a_server_error(
    tenant: Tenant, server_url: str, path: str, body: str, param: str
) -> None:
    before = _state(tenant)
    resp = httpx.post(server_url + path, headers=_form(tenant), content=body.encode())
    err = _assert_error(resp, 400, param)
    assert err["code"] == "parameter_invalid_integer"
    assert err["message"].startswith("Invalid integer: ")
    assert _state(tenant) == before


@pytest.mark.parametrize(
    ("query", "param"),
    [("created=9223372036854775808", "created"), ("created[gte]=-9223372036854775809", "created[gte]")],
)
def test_a_created_bound_beyond_64_bits_is_invalid(
    tenant: Tenant, server_url: str, query: str, param: str
) -> None:
    resp = httpx.get(server_url + "/v1/customers?" + query, headers=_auth(tenant))
    _assert_error(resp, 400, param)


def test_a_created_bound_at_the_64_bit_limit_lists(tenant: Tenant, server_url: str) -> None:
    resp = httpx.get(server_url + "/v1/customers?created[lte]=9223372036854775807", headers=_auth(tenant))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == []


@pytest.mark.parametrize("body", [b"=x", b"=&expand=&email=a@example.com", b"[a]=b&name=x"])
def test_a_parameter_without_a_name_is_400(tenant: Tenant, server_url: str, body: bytes) -> None:
    before = _state(tenant)
    resp = httpx.post(server_url + "/v1/customers", headers=_form(tenant), content=body)
    err = _assert_error(resp, 400)
    assert "name" in err["message"]
    assert _state(tenant) == before


@pytest.mark.parametrize(
    ("value", "ok"),
    [("1E+30", False), ("123456789012345678901234567890.125", False), ("2.125", False), ("2.500", True)],
)
def test_package_dimensions_out_of_range_or_too_precise_are_400(
    tenant: Tenant, server_url: str, value: str, ok: bool
) -> None:
    dims = f"package_dimensions[height]={value}&package_dimensions[length]=1&package_dimensions[weight]=1"
    resp = httpx.post(
        server_url + "/v1/products",
        headers=_form(tenant),
        content=f"name=Box&{dims}&package_dimensions[width]=1".encode(),
    )
    if ok:
        assert resp.status_code == 200, resp.text
        assert resp.json()["package_dimensions"]["height"] == 2.5
    else:
        _assert_error(resp, 400, "package_dimensions[height]")


def test_a_tax_rate_listed_twice_is_400_and_writes_nothing(tenant: Tenant, server_url: str) -> None:
    client = tenant.client
    customer = client.v1.customers.create({"email": "twice@example.com"})
    rate = client.v1.tax_rates.create({"display_name": "VAT", "percentage": 19.0, "inclusive": False})
    invoice = client.v1.invoices.create({"customer": customer.id})
    twice = f"default_tax_rates[0]={rate.id}&default_tax_rates[1]={rate.id}"
    cases = [
        (f"/v1/invoices/{invoice.id}", twice, "default_tax_rates"),
        ("/v1/invoices", f"customer={customer.id}&{twice}", "default_tax_rates"),
        (
            "/v1/invoiceitems",
            f"customer={customer.id}&amount=100&currency=usd&tax_rates[0]={rate.id}&tax_rates[1]={rate.id}",
            "tax_rates",
        ),
    ]
    for path, body, param in cases:
        before = _state(tenant)
        resp = httpx.post(server_url + path, headers=_form(tenant), content=body.encode())
        err = _assert_error(resp, 400, param)
        assert rate.id in err["message"] and "more than once" in err["message"]
        assert _state(tenant) == before


@pytest.mark.parametrize(
    ("method", "target", "body", "ctype"),
    [
        ("POST", "/v1/customers", b"name=a%00b", "application/x-www-form-urlencoded"),
        ("POST", "/v1/customers", b"metadata[k%00]=v", "application/x-www-form-urlencoded"),
        ("POST", "/v1/customers", b'{"name": "a\\u0000b"}', "application/json"),
        ("POST", "/v1/credit_notes", b"invoice=%00", "application/x-www-form-urlencoded"),
        ("GET", "/v1/events?ending_before=%00", b"", None),
        ("GET", "/v1/invoices?customer=%00", b"", None),
        ("GET", "/v1/customers/cus_%00", b"", None),
        ("POST", "/v1/customers/cus_%00", b"name=x", "application/x-www-form-urlencoded"),
    ],
)
def test_the_nul_character_is_400_on_every_database(
    tenant: Tenant, server_url: str, method: str, target: str, body: bytes, ctype: str | None
) -> None:
    # PostgreSQL cannot store NUL in text: before this was refused up front, it was a 500 there (API fuzz tests).
    before = _state(tenant)
    headers = _auth(tenant) | ({"Content-Type": ctype} if ctype else {})
    resp = httpx.request(method, server_url + target, headers=headers, content=body or None)
    err = _assert_error(resp, 400)
    assert "NUL" in err["message"]
    assert _state(tenant) == before
