"""API fuzzing: requests generated from Stripe's own description of each endpoint, sent over real HTTP.

Why this exists: "bad input gets a clear Stripe-shaped error and nothing is written" has to hold for every parameter
of every endpoint, including the ones no scenario test thought of. Schemathesis generates the requests from Stripe's
published OpenAPI description (trimmed to the operations Billfold serves by scripts/trim_openapi_for_fuzz.py; the
operations that older description lacks are described from Billfold's own parameter models), both
valid-looking ones (``positive``) and ones that break the schema (``negative``: wrong types, missing required
parameters, values out of range). Path parameters are a real object of a small world set up for each test about
half of the time, so updates, deletes and actions reach the use cases instead of stopping at "No such ...".

Every response must be:
- never a 5xx;
- JSON: on success an object (``object`` or ``deleted``), on failure Stripe's error shape with a known ``type``, a
  message a person can read, ``param`` a string when given, and a status that goes with the type;
- when it is a failure: nothing written by that request (no audit row carries its request id);
- a POST sent again with its Idempotency-Key: a success replayed byte for byte, a failure failing the same way,
  and the retry writing nothing either way.

``BILLFOLD_FUZZ_EXAMPLES`` sets the examples per operation and mode (default 12); runs are derandomized (the same
requests every run) unless ``BILLFOLD_FUZZ_SEED`` is set, for deeper runs by hand.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from sqlalchemy import func, select

from billfold.adapters.db.schema import audit_log
from tests.conftest import Tenant

SPEC = json.loads(Path(__file__).with_name("stripe-billing-requests.json").read_text())
SCHEMA = schemathesis.openapi.from_dict(SPEC)
OPERATIONS = sorted((path, method) for path, item in SPEC["paths"].items() for method in item)
EXAMPLES = int(os.environ.get("BILLFOLD_FUZZ_EXAMPLES", "12"))
SEED = os.environ.get("BILLFOLD_FUZZ_SEED")
# A file to append "METHOD path mode status" to for every request (to see how deep the requests reach).
STATS = os.environ.get("BILLFOLD_FUZZ_STATS")

ERROR_STATUS = {
    "invalid_request_error": {400, 404, 409},
    "card_error": {402},
    "idempotency_error": {400, 409},
    "authentication_error": {401},
    "rate_limit_error": {429},
}


def stripe_encode(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested hashes and arrays as ``a[b][0]=v``; booleans as ``true``/``false``."""
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            out += stripe_encode(item, f"{prefix}[{key}]" if prefix else str(key))
        return out
    if isinstance(value, list):
        if not value and prefix:
            return [(prefix, "")]
        out = []
        for index, item in enumerate(value):
            out += stripe_encode(item, f"{prefix}[{index}]")
        return out
    if value is None:
        return [(prefix, "")]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, str(value))]


class World:
    """A tenant with one object of each kind the fuzzed paths name, set up through the API."""

    def __init__(self, tenant: Tenant, http: httpx.Client) -> None:
        self.tenant, self.http = tenant, http
        ids: dict[str, str] = {}
        ids["customer"] = self.post(
            "/v1/customers",
            {"email": "fuzz@example.com", "invoice_settings": {"default_payment_method": "pm_card_visa"}},
        )
        ids["product"] = self.post("/v1/products", {"name": "Seat"})
        ids["price"] = self.post(
            "/v1/prices",
            {
                "product": ids["product"],
                "currency": "usd",
                "unit_amount": 1000,
                "recurring": {"interval": "month"},
            },
        )
        ids["coupon"] = self.post("/v1/coupons", {"percent_off": 10, "duration": "once"})
        ids["promotion_code"] = self.post(
            "/v1/promotion_codes",
            {"promotion": {"type": "coupon", "coupon": ids["coupon"]}, "code": "FUZZ10"},
        )
        ids["tax_rate"] = self.post(
            "/v1/tax_rates", {"display_name": "VAT", "percentage": 19, "inclusive": False}
        )
        subscription = self.request(
            "POST", "/v1/subscriptions", {"customer": ids["customer"], "items": [{"price": ids["price"]}]}
        )
        ids["subscription"] = subscription["id"]
        ids["item"] = subscription["items"]["data"][0]["id"]
        ids["paid_invoice"] = subscription["latest_invoice"]
        ids["invoiceitem"] = self.post(
            "/v1/invoiceitems", {"customer": ids["customer"], "amount": 500, "currency": "usd"}
        )
        ids["invoice"] = self.post(
            "/v1/invoices", {"customer": ids["customer"], "pending_invoice_items_behavior": "include"}
        )
        ids["credit_note"] = self.post(
            "/v1/credit_notes", {"invoice": ids["paid_invoice"], "amount": 100, "credit_amount": 100}
        )
        ids["transaction"] = self.post(
            f"/v1/customers/{ids['customer']}/balance_transactions", {"amount": -200, "currency": "usd"}
        )
        ids["schedule"] = self.post(
            "/v1/subscription_schedules",
            {
                "customer": ids["customer"],
                "start_date": "now",
                "phases": [{"items": [{"price": ids["price"]}]}],
            },
        )
        ids["test_clock"] = self.post("/v1/test_helpers/test_clocks", {"frozen_time": 1_800_000_000})
        ids["meter_event_name"] = "fuzz_calls"
        ids["meter"] = self.post(
            "/v1/billing/meters",
            {"display_name": "Calls", "event_name": "fuzz_calls", "default_aggregation": {"formula": "sum"}},
        )
        events = self.request("GET", "/v1/events", {"limit": 1})
        ids["event"] = events["data"][0]["id"]
        self.ids = ids

    def request(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        encoded = stripe_encode(params)
        if method == "GET":
            response = self.http.get(path, params=encoded)
        else:
            response = self.http.request(method, path, data=dict(encoded) if encoded else None)
        assert response.status_code == 200, (path, response.text)
        body: dict[str, Any] = response.json()
        return body

    def post(self, path: str, params: dict[str, Any]) -> str:
        return str(self.request("POST", path, params)["id"])

    def value_for(self, path: str, name: str) -> str | None:
        """The real object a path parameter names, where the world has one."""
        if name == "id":
            kind = {
                "/v1/products/{id}": "product",
                "/v1/credit_notes/{id}": "credit_note",
                "/v1/credit_notes/{id}/void": "credit_note",
                "/v1/events/{id}": "event",
            }.get(path)
            return self.ids.get(kind) if kind else None
        if name in ("subscription_exposed_id", "subscription_id"):
            return self.ids["subscription"]
        if name == "invoice_id":
            return self.ids["paid_invoice"]
        if name == "meter_id":
            return self.ids["meter"]
        if name == "invoice" and path.endswith(("/pay", "/void", "/mark_uncollectible", "/send")):
            return self.ids["paid_invoice"] if "void" not in path else self.ids["invoice"]
        return self.ids.get(name)


# Body and query parameters that name an object, and the world's object to name.
REFERENCES = {
    "customer": "customer",
    "price": "price",
    "product": "product",
    "coupon": "coupon",
    "promotion_code": "promotion_code",
    "invoice": "paid_invoice",
    "subscription": "subscription",
    "subscription_item": "item",
    "from_subscription": "subscription",
    "test_clock": "test_clock",
    "invoiceitem": "invoiceitem",
    "event_name": "meter_event_name",
    "stripe_customer_id": "customer",
}
TAX_RATE_LISTS = ("tax_rates", "default_tax_rates", "dynamic_tax_rates")


def with_references(value: Any, ids: dict[str, str]) -> Any:
    """The generated parameters with every reference to an object replaced by a real one of the world."""
    if isinstance(value, list):
        return [with_references(v, ids) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in REFERENCES and isinstance(item, str) and item:
            out[key] = ids[REFERENCES[key]]
        elif key in TAX_RATE_LISTS and isinstance(item, list) and item:
            out[key] = [ids["tax_rate"] for _ in item]
        else:
            out[key] = with_references(item, ids)
    return out


@pytest.fixture
def world(tenant: Tenant, server_url: str) -> Iterator[World]:
    with httpx.Client(
        base_url=server_url, headers={"Authorization": f"Bearer {tenant.test_key}"}, timeout=30
    ) as http:
        yield World(tenant, http)


def written_by(tenant: Tenant, request_id: str) -> int:
    with tenant.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(audit_log).where(audit_log.c.request_id == request_id)
            ).scalar_one()
        )


def check(world: World, method: str, path: str, response: httpx.Response) -> None:
    where = f"{method} {response.request.url}\nbody: {response.request.content[:2000]!r}"
    assert response.status_code < 500, f"{where}\n-> {response.status_code} {response.text[:2000]}"
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{where}\n-> not JSON: {response.text[:500]!r}") from None
    assert isinstance(body, dict), f"{where}\n-> {body!r}"
    if response.status_code < 400:
        assert "object" in body or body.get("deleted") is True, f"{where}\n-> {body!r}"
        return
    error = body.get("error")
    assert isinstance(error, dict), f"{where}\n-> no error object: {body!r}"
    assert error.get("type") in ERROR_STATUS, f"{where}\n-> unknown type: {error!r}"
    assert response.status_code in ERROR_STATUS[error["type"]], (
        f"{where}\n-> {response.status_code} {error!r}"
    )
    message = error.get("message")
    assert isinstance(message, str) and len(message.strip()) >= 10, f"{where}\n-> message: {error!r}"
    assert error.get("param") is None or isinstance(error["param"], str), f"{where}\n-> {error!r}"
    request_id = response.headers.get("Request-Id")
    assert request_id, f"{where}\n-> no Request-Id"
    if error["type"] != "card_error":  # a declined payment is recorded (invoice.payment_failed), as on Stripe
        assert written_by(world.tenant, request_id) == 0, f"{where}\n-> {error!r}, but it wrote audit rows"


def check_retry(world: World, first: httpx.Response, retry: httpx.Response) -> None:
    """The same POST again with the same Idempotency-Key: a success is replayed byte for byte and writes nothing;
    a failure saved no result (Stripe), so the retry runs again and fails the same way, again writing nothing."""
    where = f"retry of POST {first.request.url}\nbody: {first.request.content[:2000]!r}"
    assert retry.status_code == first.status_code, (
        f"{where}\n-> {first.status_code}, then {retry.text[:2000]}"
    )
    request_id = retry.headers.get("Request-Id")
    assert request_id, where
    if first.status_code == 200:
        assert retry.headers.get("Idempotent-Replayed") == "true", where
        assert retry.content == first.content, f"{where}\n-> {first.text[:500]}\n-> {retry.text[:500]}"
    elif first.json()["error"]["type"] != "card_error":
        assert retry.json()["error"]["type"] == first.json()["error"]["type"], f"{where}\n-> {retry.text}"
    assert written_by(world.tenant, request_id) == 0, f"{where}\n-> the retry wrote audit rows"


def fuzz_settings(test: Any) -> Any:
    test = settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )(test)
    return seed(int(SEED))(test) if SEED is not None else test


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_every_response_is_stripe_shaped_and_failures_write_nothing(
    world: World, path: str, method: str, mode: GenerationMode
) -> None:
    operation = SCHEMA[path][method.upper()]
    names = [p["name"] for p in SPEC["paths"][path][method].get("parameters", []) if p["in"] == "path"]

    @fuzz_settings
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        fixed = {}
        for name in names:
            real = world.value_for(path, name)
            if real is not None and data.draw(st.booleans(), label=f"real {name}"):
                fixed[name] = real
        case = data.draw(operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
        url = case.formatted_path
        assume(len(url) < 4_000)  # the client refuses longer URLs before sending them
        query_params = case.query if isinstance(case.query, dict) else {}
        body = case.body if isinstance(case.body, dict) else {}
        if data.draw(st.booleans(), label="real references"):
            query_params = with_references(query_params, world.ids)
            body = with_references(body, world.ids)
        query = stripe_encode(query_params)
        assume(len(str(httpx.QueryParams(query))) < 8_000)  # longer URLs are refused by the client, not us
        idempotency = {"Idempotency-Key": "fuzz-" + secrets.token_hex(8)} if method == "post" else {}
        content = str(httpx.QueryParams(stripe_encode(body))).encode() if body else None
        headers = (
            {"Content-Type": "application/x-www-form-urlencoded", **idempotency} if body else idempotency
        )

        def send() -> httpx.Response:
            return world.http.request(method.upper(), url, params=query, content=content, headers=headers)

        response = send()
        if STATS:
            with open(STATS, "a") as f:
                f.write(f"{method.upper()} {path} {mode.value} {response.status_code}\n")
        check(world, method, path, response)
        if idempotency:
            check_retry(world, response, send())

    run()
    run()
