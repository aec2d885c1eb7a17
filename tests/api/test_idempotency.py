"""Idempotency-Key: a retry replays the first response byte for byte and never writes twice.

https://docs.stripe.com/api/idempotent_requests: keys are per account and mode; a key reused with other parameters
is an ``idempotency_error``; a request that failed validation saves no result, so its key can be used again.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any, cast

import httpx
import pytest
import stripe

from billfold.app import customers as customers_uc
from tests.conftest import Tenant


def _post(
    server_url: str, secret: str, path: str, data: dict[str, str], key: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {secret}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(server_url + path, data=data, headers=headers, timeout=30)


def _error_type(exc: stripe.StripeError) -> str:
    body = cast(dict[str, Any], exc.json_body or {})
    return str(body["error"]["type"])


def _key() -> str:
    return "idem-" + secrets.token_hex(8)


def test_same_key_same_params_replays_byte_identical(tenant: Tenant, server_url: str) -> None:
    key = _key()
    form = {"name": "Acme", "metadata[crm]": "42", "preferred_locales[0]": "de"}
    first = _post(server_url, tenant.test_key, "/v1/customers", form, key)
    assert first.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert first.headers["idempotency-key"] == key
    rows = (tenant.rows(), tenant.audit_rows())
    assert tenant.rows("customer") == 1 and tenant.rows("event") == 1

    for _ in range(2):
        again = _post(server_url, tenant.test_key, "/v1/customers", form, key)
        assert again.status_code == 200
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["content-type"] == "application/json"
        assert again.headers["stripe-version"] == first.headers["stripe-version"]
        assert again.headers["request-id"].startswith("req_")
        assert again.headers["request-id"] != first.headers["request-id"]
    assert (tenant.rows(), tenant.audit_rows()) == rows


def test_replay_through_the_sdk_returns_the_first_object(tenant: Tenant) -> None:
    c = tenant.client
    key = _key()
    a = c.v1.customers.create(params={"email": "x@y.example"}, options={"idempotency_key": key})
    b = c.v1.customers.create(params={"email": "x@y.example"}, options={"idempotency_key": key})
    assert a.id == b.id and a.to_dict() == b.to_dict()
    assert b.last_response is not None and b.last_response.headers["Idempotent-Replayed"] == "true"
    assert tenant.rows("customer") == 1


def test_replay_of_an_update_returns_the_old_response_and_changes_nothing(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "v0"})
    k1 = _key()
    first = c.v1.customers.update(cus.id, params={"name": "v1"}, options={"idempotency_key": k1})
    c.v1.customers.update(cus.id, params={"name": "v2"})
    rows = (tenant.rows(), tenant.audit_rows())
    replay = c.v1.customers.update(cus.id, params={"name": "v1"}, options={"idempotency_key": k1})
    assert replay.to_dict() == first.to_dict() and replay.name == "v1"
    assert c.v1.customers.retrieve(cus.id).name == "v2"
    assert (tenant.rows(), tenant.audit_rows()) == rows


@pytest.mark.parametrize(
    ("second_params", "other_endpoint"),
    [
        ({"name": "Other"}, False),
        ({"name": "Acme", "email": "a@b.example"}, False),
        ({"name": "Acme"}, True),
    ],
)
def test_same_key_different_request_is_idempotency_error(
    tenant: Tenant, server_url: str, second_params: dict[str, str], other_endpoint: bool
) -> None:
    key = _key()
    c = tenant.client
    first = c.v1.customers.create(params={"name": "Acme"}, options={"idempotency_key": key})
    rows = (tenant.rows(), tenant.audit_rows())
    if not other_endpoint:
        with pytest.raises(stripe.IdempotencyError) as err:
            c.v1.customers.create(params=cast(Any, second_params), options={"idempotency_key": key})
        assert err.value.http_status == 400
        assert key in (err.value.user_message or "")
        assert _error_type(err.value) == "idempotency_error"
    else:
        # The same parameters on another endpoint are another request.
        resp = _post(server_url, tenant.test_key, f"/v1/customers/{first.id}", second_params, key)
        assert resp.status_code == 400
        assert resp.json()["error"]["type"] == "idempotency_error"
    assert (tenant.rows(), tenant.audit_rows()) == rows


@pytest.mark.parametrize(
    ("bad", "param"),
    [({"balance": "lots"}, "balance"), ({"test_clock": "clock_nope"}, "test_clock")],
)
def test_failed_request_saves_nothing_and_frees_the_key(
    tenant: Tenant, bad: dict[str, str], param: str
) -> None:
    c = tenant.client
    key = _key()
    rows = (tenant.rows(), tenant.audit_rows())
    for _ in range(2):  # the same failure again is evaluated again, not replayed from a saved result
        with pytest.raises(stripe.InvalidRequestError) as err:
            c.v1.customers.create(params=cast(Any, {"name": "N", **bad}), options={"idempotency_key": key})
        assert err.value.param == param
        assert "idempotent-replayed" not in {h.lower() for h in err.value.headers or {}}
    assert (tenant.rows(), tenant.audit_rows()) == rows
    fixed = c.v1.customers.create(params={"name": "N"}, options={"idempotency_key": key})
    assert fixed.name == "N" and tenant.rows("customer") == 1
    again = c.v1.customers.create(params={"name": "N"}, options={"idempotency_key": key})
    assert again.id == fixed.id and tenant.rows("customer") == 1


@pytest.mark.parametrize("slow", [False, True])
def test_concurrent_requests_with_one_key_write_once(
    tenant: Tenant, server_url: str, monkeypatch: pytest.MonkeyPatch, slow: bool
) -> None:
    if slow:
        # Hold the winner inside its transaction (the server runs in this process), so the others arrive while
        # the key is claimed but not completed: PostgreSQL answers them 409; SQLite queues them on its write
        # lock and they replay. Either way exactly one customer is written.
        create = customers_uc.create_customer

        def slow_create(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.4)
            return create(*args, **kwargs)

        monkeypatch.setattr(customers_uc, "create_customer", slow_create)
    n = 8
    key = _key()
    form = {"name": "Race", "email": "race@x.example"}
    barrier = threading.Barrier(n)
    results: list[httpx.Response] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def fire() -> None:
        try:
            with httpx.Client(timeout=60) as http:
                barrier.wait()
                resp = http.post(
                    server_url + "/v1/customers",
                    data=form,
                    headers={"Authorization": f"Bearer {tenant.test_key}", "Idempotency-Key": key},
                )
            with lock:
                results.append(resp)
        except BaseException as exc:  # pragma: no cover - reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=fire) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == n
    ok = [r for r in results if r.status_code == 200]
    busy = [r for r in results if r.status_code != 200]
    assert ok, [r.text for r in results]
    assert len({r.content for r in ok}) == 1
    assert sum(1 for r in ok if "idempotent-replayed" not in r.headers) == 1
    for r in busy:
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.json()["error"]["type"] == "idempotency_error"
    assert tenant.rows("customer") == 1 and tenant.rows("event") == 1
    # Once the winner has committed, every retry replays it.
    late = _post(server_url, tenant.test_key, "/v1/customers", form, key)
    assert late.status_code == 200 and late.content == ok[0].content


def test_concurrent_sdk_clients_with_one_key_write_once(tenant: Tenant, server_url: str) -> None:
    from tests.conftest import make_client

    n = 6
    key = _key()
    barrier = threading.Barrier(n)
    ids: list[str] = []
    failures: list[stripe.StripeError] = []
    lock = threading.Lock()

    def fire() -> None:
        client = make_client(server_url, tenant.test_key)
        barrier.wait()
        try:
            cus = client.v1.customers.create(params={"name": "SDK race"}, options={"idempotency_key": key})
            with lock:
                ids.append(cus.id)
        except stripe.StripeError as exc:
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=fire) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(ids) + len(failures) == n and len(set(ids)) == 1
    for exc in failures:
        assert exc.http_status == 409 and _error_type(exc) == "idempotency_error"
    assert tenant.rows("customer") == 1


def test_keys_are_per_account_and_mode(tenant: Tenant, other_tenant: Tenant) -> None:
    key = _key()
    params: Any = {"name": "Shared key"}
    mine = tenant.client.v1.customers.create(params=params, options={"idempotency_key": key})
    live = tenant.live_client.v1.customers.create(params=params, options={"idempotency_key": key})
    theirs = other_tenant.client.v1.customers.create(params=params, options={"idempotency_key": key})
    assert len({mine.id, live.id, theirs.id}) == 3
    assert live.livemode is True and mine.livemode is False
    for resp in (mine, live, theirs):
        assert resp.last_response is not None and "Idempotent-Replayed" not in resp.last_response.headers
    assert tenant.rows("customer") == 1
    assert tenant.rows("customer", livemode=True) == 1
    assert other_tenant.rows("customer") == 1
    # Each replays its own first response.
    again = other_tenant.client.v1.customers.create(params=params, options={"idempotency_key": key})
    assert again.id == theirs.id
    # Other parameters under the key in one scope conflict only there.
    with pytest.raises(stripe.IdempotencyError):
        tenant.live_client.v1.customers.create(params={"name": "x"}, options={"idempotency_key": key})
    assert tenant.client.v1.customers.create(params=params, options={"idempotency_key": key}).id == mine.id


def test_sdk_sends_a_fresh_key_on_every_post(tenant: Tenant) -> None:
    c = tenant.client
    a = c.v1.customers.create(params={"name": "Twin"})
    b = c.v1.customers.create(params={"name": "Twin"})
    assert a.id != b.id and tenant.rows("customer") == 2
    assert a.last_response is not None and b.last_response is not None
    key_a = a.last_response.headers["Idempotency-Key"]
    assert key_a and key_a != b.last_response.headers["Idempotency-Key"]
    # Retrying with the key the SDK generated replays the first response.
    retry = c.v1.customers.create(params={"name": "Twin"}, options={"idempotency_key": key_a})
    assert retry.id == a.id and tenant.rows("customer") == 2


def test_key_is_ignored_on_get_and_delete(tenant: Tenant, server_url: str) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "G"})
    key = _key()
    headers = {"Authorization": f"Bearer {tenant.test_key}", "Idempotency-Key": key}
    got = httpx.get(f"{server_url}/v1/customers/{cus.id}", headers=headers)
    assert got.status_code == 200 and "idempotent-replayed" not in got.headers
    gone = httpx.delete(f"{server_url}/v1/customers/{cus.id}", headers=headers)
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    # The key was not consumed by the GET or the DELETE.
    made = _post(server_url, tenant.test_key, "/v1/customers", {"name": "After"}, key)
    assert made.status_code == 200 and made.json()["name"] == "After"


def test_overlong_key_is_rejected(tenant: Tenant, server_url: str) -> None:
    rows = (tenant.rows(), tenant.audit_rows())
    resp = _post(server_url, tenant.test_key, "/v1/customers", {"name": "L"}, "k" * 256)
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error" and "255" in err["message"]
    assert (tenant.rows(), tenant.audit_rows()) == rows
    ok = _post(server_url, tenant.test_key, "/v1/customers", {"name": "L"}, "k" * 255)
    assert ok.status_code == 200


def test_replay_of_a_json_body_matches_the_form_body(tenant: Tenant, server_url: str) -> None:
    # Both encodings decode to the same parameters, so a retry in the other encoding is the same request.
    key = _key()
    form = _post(server_url, tenant.test_key, "/v1/customers", {"name": "J", "metadata[a]": "b"}, key)
    again = httpx.post(
        server_url + "/v1/customers",
        content=json.dumps({"name": "J", "metadata": {"a": "b"}}),
        headers={
            "Authorization": f"Bearer {tenant.test_key}",
            "Idempotency-Key": key,
            "Content-Type": "application/json",
        },
    )
    assert again.status_code == 200 and again.content == form.content
    assert again.headers["idempotent-replayed"] == "true"


def test_event_names_the_idempotency_key(tenant: Tenant) -> None:
    key = _key()
    tenant.client.v1.customers.create(params={"name": "E"}, options={"idempotency_key": key})
    evt = tenant.client.v1.events.list().data[0]
    assert evt.request is not None and evt.request.idempotency_key == key
