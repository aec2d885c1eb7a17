"""Promotion codes through the official stripe SDK over real HTTP (https://docs.stripe.com/api/promotion_codes).

At the pinned API version a promotion code names its coupon as ``promotion: {type: "coupon", coupon}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import pytest
import stripe
from stripe.params import PromotionCodeCreateParamsPromotion

from tests.conftest import Tenant


def _rejected(tenant: Tenant, call: Callable[[], Any]) -> stripe.InvalidRequestError:
    """Run a request that must fail, and prove it wrote nothing (no object, no event, no audit row)."""
    before = (tenant.rows(), tenant.rows(livemode=True), tenant.audit_rows())
    with pytest.raises(stripe.InvalidRequestError) as err:
        call()
    assert (tenant.rows(), tenant.rows(livemode=True), tenant.audit_rows()) == before
    body = cast(dict[str, Any], err.value.json_body or {})
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"]
    return err.value


def _coupon(client: stripe.StripeClient, **params: Any) -> str:
    return client.v1.coupons.create(params={"percent_off": 20, **params}).id  # type: ignore[arg-type]


def _promotion(coupon_id: str) -> PromotionCodeCreateParamsPromotion:
    return {"type": "coupon", "coupon": coupon_id}


def test_create_retrieve_with_every_restriction(tenant: Tenant) -> None:
    c = tenant.client
    coupon_id = _coupon(c, max_redemptions=50)
    alice = c.v1.customers.create(params={"email": "alice@example.com"})
    expires = int(time.time()) + 30 * 86400
    promo = c.v1.promotion_codes.create(
        params={
            "promotion": _promotion(coupon_id),
            "code": "ALICE20",
            "customer": alice.id,
            "expires_at": expires,
            "max_redemptions": 5,
            "restrictions": {
                "first_time_transaction": True,
                "minimum_amount": 10000,
                "minimum_amount_currency": "usd",
                "currency_options": {"eur": {"minimum_amount": 9000}},
            },
            "metadata": {"channel": "newsletter"},
        }
    )
    assert promo.id.startswith("promo_") and promo.object == "promotion_code"
    assert promo.promotion.type == "coupon" and promo.promotion.coupon == coupon_id
    assert promo.code == "ALICE20" and promo.active is True and promo.livemode is False
    assert promo.customer == alice.id and promo.customer_account is None
    assert promo.expires_at == expires and promo.max_redemptions == 5 and promo.times_redeemed == 0
    r = promo.restrictions
    assert r.first_time_transaction is True
    assert r.minimum_amount == 10000 and r.minimum_amount_currency == "usd"
    assert r.currency_options is not None
    eur = cast(dict[str, Any], r.currency_options)
    assert {k: v.minimum_amount for k, v in eur.items()} == {"eur": 9000}
    assert promo.metadata is not None and promo.metadata.to_dict() == {"channel": "newsletter"}
    assert c.v1.promotion_codes.retrieve(promo.id).to_dict() == promo.to_dict()
    assert [
        e.data.object["id"] for e in c.v1.events.list(params={"type": "promotion_code.created"}).data
    ] == [promo.id]

    expanded = c.v1.promotion_codes.retrieve(promo.id, params={"expand": ["customer"]})
    assert isinstance(expanded.customer, stripe.Customer) and expanded.customer.email == "alice@example.com"


def test_expand_coupon_through_promotion(tenant: Tenant) -> None:
    c = tenant.client
    coupon_id = _coupon(c, name="Twenty")
    promo = c.v1.promotion_codes.create(params={"promotion": _promotion(coupon_id)})
    got = c.v1.promotion_codes.retrieve(promo.id, params={"expand": ["promotion.coupon"]})
    assert isinstance(got.promotion.coupon, stripe.Coupon)
    assert got.promotion.coupon.id == coupon_id and got.promotion.coupon.name == "Twenty"
    listed = c.v1.promotion_codes.list(params={"expand": ["data.promotion.coupon"]}).data
    assert isinstance(listed[0].promotion.coupon, stripe.Coupon)


def test_generated_code_and_defaults(tenant: Tenant) -> None:
    c = tenant.client
    promo = c.v1.promotion_codes.create(params={"promotion": _promotion(_coupon(c))})
    assert len(promo.code) == 8 and promo.code.isalnum() and promo.code.upper() == promo.code
    assert promo.customer is None and promo.expires_at is None and promo.max_redemptions is None
    assert promo.restrictions.first_time_transaction is False
    assert promo.restrictions.minimum_amount is None and promo.restrictions.minimum_amount_currency is None
    assert promo.metadata is not None and promo.metadata.to_dict() == {}
    inactive = c.v1.promotion_codes.create(params={"promotion": _promotion(_coupon(c)), "active": False})
    assert inactive.active is False


def test_code_unique_among_active_codes_regardless_of_case(tenant: Tenant) -> None:
    c = tenant.client
    coupon_id = _coupon(c)
    first = c.v1.promotion_codes.create(params={"promotion": _promotion(coupon_id), "code": "SPRING"})
    other = _coupon(c)
    err = _rejected(
        tenant, lambda: c.v1.promotion_codes.create(params={"promotion": _promotion(other), "code": "spring"})
    )
    assert err.http_status == 400 and err.param == "code" and err.code == "resource_already_exists"
    assert "already exists" in (err.user_message or "")

    # Once the first is inactive the code is free again; reactivating the first is then refused.
    c.v1.promotion_codes.update(first.id, params={"active": False})
    second = c.v1.promotion_codes.create(params={"promotion": _promotion(other), "code": "spring"})
    assert second.active is True and second.code == "spring"
    err = _rejected(tenant, lambda: c.v1.promotion_codes.update(first.id, params={"active": True}))
    assert err.http_status == 400 and err.param == "code" and err.code == "resource_already_exists"
    assert c.v1.promotion_codes.retrieve(first.id).active is False

    # Another account, and live mode, may use the same code.
    live_coupon = _coupon(tenant.live_client)
    assert tenant.live_client.v1.promotion_codes.create(
        params={"promotion": _promotion(live_coupon), "code": "SPRING"}
    ).livemode


def test_update_active_metadata_currency_options(tenant: Tenant) -> None:
    c = tenant.client
    promo = c.v1.promotion_codes.create(
        params={
            "promotion": _promotion(_coupon(c)),
            "metadata": {"a": "1"},
            "restrictions": {"minimum_amount": 5000, "minimum_amount_currency": "usd"},
        }
    )
    upd = c.v1.promotion_codes.update(
        promo.id,
        params={
            "active": False,
            "metadata": {"b": "2"},
            "restrictions": {"currency_options": {"gbp": {"minimum_amount": 4000}}},
        },
    )
    assert upd.active is False
    assert upd.metadata is not None and upd.metadata.to_dict() == {"a": "1", "b": "2"}
    options = upd.restrictions.currency_options
    gbp = cast(dict[str, Any], options)
    assert {k: v.minimum_amount for k, v in gbp.items()} == {"gbp": 4000}
    assert upd.restrictions.minimum_amount == 5000
    again = c.v1.promotion_codes.update(promo.id, params={"active": True})
    assert again.active is True
    events = c.v1.events.list(params={"type": "promotion_code.updated"}).data
    assert len(events) == 2
    assert events[1].data.previous_attributes is not None
    assert set(events[1].data.previous_attributes.to_dict()) == {"active", "metadata", "restrictions"}


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"code": "NEWCODE"}, "code"),
        ({"customer": "cus_x"}, "customer"),
        ({"expires_at": 2_000_000_000}, "expires_at"),
        ({"max_redemptions": 3}, "max_redemptions"),
        ({"promotion": {"type": "coupon", "coupon": "X"}}, "promotion"),
        ({"restrictions": {"minimum_amount": 5}}, "restrictions[minimum_amount]"),
        ({"restrictions": {"first_time_transaction": True}}, "restrictions[first_time_transaction]"),
    ],
)
def test_update_rejects_create_only_params(tenant: Tenant, params: dict[str, Any], param: str) -> None:
    c = tenant.client
    promo = c.v1.promotion_codes.create(params={"promotion": _promotion(_coupon(c)), "code": "KEEP"})
    err = _rejected(tenant, lambda: c.v1.promotion_codes.update(promo.id, params=params))  # type: ignore[arg-type]
    assert err.http_status == 400 and err.param == param and err.code == "parameter_unknown"
    assert "Received unknown parameter" in (err.user_message or "")
    assert c.v1.promotion_codes.retrieve(promo.id).code == "KEEP"


def test_list_filters_and_paginates(tenant: Tenant) -> None:
    c = tenant.client
    a, b = _coupon(c), _coupon(c)
    bob = c.v1.customers.create(params={"name": "Bob"}).id
    made = [
        c.v1.promotion_codes.create(
            params={"promotion": _promotion(a if i % 2 else b), "code": f"CODE-{i}"}
        ).id
        for i in range(12)
    ]
    bobs = c.v1.promotion_codes.create(params={"promotion": _promotion(a), "customer": bob}).id
    off = c.v1.promotion_codes.create(params={"promotion": _promotion(b), "active": False}).id
    everything = [*made, bobs, off]

    page = c.v1.promotion_codes.list(params={"limit": 5})
    assert page.url == "/v1/promotion_codes" and page.has_more is True
    assert [p.id for p in page.data] == list(reversed(everything))[:5]
    assert [p.id for p in c.v1.promotion_codes.list(params={"limit": 4}).auto_paging_iter()] == list(
        reversed(everything)
    )
    assert [p.id for p in c.v1.promotion_codes.list(params={"code": "code-3"}).data] == [made[3]]
    assert [p.id for p in c.v1.promotion_codes.list(params={"customer": bob}).data] == [bobs]
    assert [p.id for p in c.v1.promotion_codes.list(params={"active": False}).data] == [off]
    active = [p.id for p in c.v1.promotion_codes.list(params={"active": True, "limit": 100}).data]
    assert off not in active and len(active) == 13
    of_a = [p.id for p in c.v1.promotion_codes.list(params={"coupon": a, "limit": 100}).data]
    assert of_a == list(reversed([m for i, m in enumerate(made) if i % 2] + [bobs]))
    first = c.v1.promotion_codes.retrieve(made[0]).created
    assert c.v1.promotion_codes.list(params={"created": {"lt": first}}).data == []


def test_other_account_or_mode_is_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    theirs = _coupon(other_tenant.client)
    live = _coupon(tenant.live_client)
    for coupon_id in (theirs, live):
        err = _rejected(
            tenant, partial(c.v1.promotion_codes.create, params={"promotion": _promotion(coupon_id)})
        )
        assert err.http_status == 404 and err.code == "resource_missing"
        assert err.param == "promotion[coupon]" and coupon_id in (err.user_message or "")

    mine = _coupon(c)
    their_customer = other_tenant.client.v1.customers.create(params={"name": "Other"}).id
    live_customer = tenant.live_client.v1.customers.create(params={"name": "Live"}).id
    for customer_id in (their_customer, live_customer):
        err = _rejected(
            tenant,
            partial(
                c.v1.promotion_codes.create, params={"promotion": _promotion(mine), "customer": customer_id}
            ),
        )
        assert err.http_status == 404 and err.code == "resource_missing" and err.param == "customer"

    promo = c.v1.promotion_codes.create(params={"promotion": _promotion(mine)})
    for client in (other_tenant.client, tenant.live_client):
        with pytest.raises(stripe.InvalidRequestError) as exc:
            client.v1.promotion_codes.retrieve(promo.id)
        assert exc.value.http_status == 404 and exc.value.param == "id"
    assert other_tenant.client.v1.promotion_codes.list().data == []


def test_coupon_limits_bound_the_code(tenant: Tenant) -> None:
    c = tenant.client
    soon = int(time.time()) + 3600
    coupon_id = _coupon(c, max_redemptions=3, redeem_by=soon)
    err = _rejected(
        tenant,
        lambda: c.v1.promotion_codes.create(
            params={"promotion": _promotion(coupon_id), "max_redemptions": 4}
        ),
    )
    assert err.http_status == 400 and err.param == "max_redemptions"
    err = _rejected(
        tenant,
        lambda: c.v1.promotion_codes.create(
            params={"promotion": _promotion(coupon_id), "expires_at": soon + 60}
        ),
    )
    assert err.http_status == 400 and err.param == "expires_at" and "redeem_by" in (err.user_message or "")
    c.v1.coupons.delete(coupon_id)
    err = _rejected(tenant, lambda: c.v1.promotion_codes.create(params={"promotion": _promotion(coupon_id)}))
    assert err.http_status == 404 and err.param == "promotion[coupon]"


@pytest.mark.parametrize(
    ("params", "status", "param", "fragment"),
    [
        ({}, 400, "promotion", "Missing required param"),
        # The coupon is named under promotion[coupon] at this API version; the old top-level param is unknown.
        ({"promotion": {"type": "coupon", "coupon": "C"}, "coupon": "C"}, 400, "coupon", "Received unknown"),
        ({"promotion": {"type": "coupon"}}, 400, "promotion[coupon]", "Missing required param"),
        ({"promotion": {"type": "gift", "coupon": "C"}}, 400, "promotion[type]", "must be one of"),
        ({"promotion": {"type": "coupon", "coupon": "missing1"}}, 404, "promotion[coupon]", "No such coupon"),
        ({"code": "TWO WORDS"}, 400, "code", "letters"),
        ({"code": "x" * 501}, 400, "code", "at most 500 characters"),
        ({"expires_at": 1_500_000_000}, 400, "expires_at", "future"),
        ({"max_redemptions": 0}, 400, "max_redemptions", "greater than 0"),
        ({"customer": "cus_missing"}, 404, "customer", "No such customer"),
        ({"customer_account": "acct_1"}, 400, "customer_account", "not supported"),
        ({"active": "maybe"}, 400, "active", "Invalid boolean"),
        (
            {"restrictions": {"minimum_amount": 1000}},
            400,
            "restrictions[minimum_amount_currency]",
            "minimum_amount_currency",
        ),
        (
            {"restrictions": {"minimum_amount_currency": "usd"}},
            400,
            "restrictions[minimum_amount]",
            "minimum_amount",
        ),
        (
            {"restrictions": {"minimum_amount": -1, "minimum_amount_currency": "usd"}},
            400,
            "restrictions[minimum_amount]",
            "greater than or equal to 0",
        ),
        (
            {"restrictions": {"minimum_amount": 1, "minimum_amount_currency": "usx"}},
            400,
            "restrictions[minimum_amount_currency]",
            "Invalid currency",
        ),
        (
            {
                "restrictions": {
                    "minimum_amount": 100,
                    "minimum_amount_currency": "usd",
                    "currency_options": {"usd": {"minimum_amount": 90}},
                }
            },
            400,
            "restrictions[currency_options][usd]",
            "differ",
        ),
        ({"restrictions": {"maximum_amount": 5}}, 400, "restrictions[maximum_amount]", "Received unknown"),
        ({"surprise": "1"}, 400, "surprise", "Received unknown parameter"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, 400, "metadata", "50 keys"),
        ({"metadata": {"k" * 41: "v"}}, 400, "metadata", "40 characters"),
    ],
)
def test_bad_input_writes_nothing(
    tenant: Tenant, params: dict[str, Any], status: int, param: str, fragment: str
) -> None:
    coupon_id = _coupon(tenant.client)
    if params and "promotion" not in params:
        params = {"promotion": _promotion(coupon_id), **params}
    err = _rejected(tenant, lambda: tenant.client.v1.promotion_codes.create(params=params))  # type: ignore[arg-type]
    assert err.http_status == status
    assert err.param == param
    assert fragment in (err.user_message or "")
