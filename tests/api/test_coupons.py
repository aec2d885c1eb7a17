"""Coupons through the official stripe SDK over real HTTP (https://docs.stripe.com/api/coupons)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
import stripe

from tests.conftest import Tenant


def _product(client: stripe.StripeClient, name: str) -> str:
    return client.v1.products.create(params={"name": name}).id


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


def test_reference_coupon_20_percent_off_advanced_seats_for_12_months(tenant: Tenant) -> None:
    c = tenant.client
    seats = _product(c, "Advanced seats")
    coupon = c.v1.coupons.create(
        params={
            "percent_off": 20,
            "duration": "repeating",
            "duration_in_months": 12,
            "applies_to": {"products": [seats]},
            "name": "Advanced 20% for a year",
            "metadata": {"campaign": "launch"},
        }
    )
    assert coupon.object == "coupon" and coupon.livemode is False
    assert len(coupon.id) == 8 and coupon.id.isalnum()
    assert coupon.percent_off == 20 and coupon.amount_off is None and coupon.currency is None
    assert coupon.duration == "repeating" and coupon.duration_in_months == 12
    assert coupon.applies_to is not None and coupon.applies_to.products == [seats]
    assert coupon.times_redeemed == 0 and coupon.valid is True
    assert coupon.max_redemptions is None and coupon.redeem_by is None
    assert coupon.metadata is not None and coupon.metadata.to_dict() == {"campaign": "launch"}
    # The rate is a JSON number with the decimal's own digits: 20, not "20" or 20.0.
    raw = json.loads(coupon.last_response.body if coupon.last_response else "{}")
    assert raw["percent_off"] == 20 and isinstance(raw["percent_off"], int)

    got = c.v1.coupons.retrieve(coupon.id)
    assert got.to_dict() == coupon.to_dict()
    events = c.v1.events.list(params={"type": "coupon.created"}).data
    assert [e.data.object["id"] for e in events] == [coupon.id]


def test_fractional_percent_and_amount_off_in_several_currencies(tenant: Tenant) -> None:
    c = tenant.client
    half = c.v1.coupons.create(params={"percent_off": 12.5, "duration": "forever"})
    raw = json.loads(half.last_response.body if half.last_response else "{}")
    assert raw["percent_off"] == 12.5 and raw["duration_in_months"] is None
    assert c.v1.coupons.retrieve(half.id).percent_off == 12.5

    off = c.v1.coupons.create(
        params={
            "amount_off": 500,
            "currency": "usd",
            "currency_options": {"eur": {"amount_off": 450}},
            "max_redemptions": 100,
            "redeem_by": int(time.time()) + 86400,
        }
    )
    assert off.amount_off == 500 and off.currency == "usd" and off.percent_off is None
    assert off.duration == "once" and off.max_redemptions == 100
    assert off.currency_options is not None
    assert off.currency_options.to_dict() == {"usd": {"amount_off": 500}, "eur": {"amount_off": 450}}


def test_custom_id_and_duplicate_id(tenant: Tenant) -> None:
    c = tenant.client
    custom = f"SUMMER-{tenant.account_id[-10:]}"
    coupon = c.v1.coupons.create(params={"id": custom, "percent_off": 15})
    assert coupon.id == custom
    assert c.v1.coupons.retrieve(custom).percent_off == 15
    err = _rejected(tenant, lambda: c.v1.coupons.create(params={"id": custom, "percent_off": 5}))
    assert err.http_status == 400 and err.param == "id" and err.code == "resource_already_exists"
    assert "already exists" in (err.user_message or "")


def test_custom_id_is_scoped_to_account_and_mode(tenant: Tenant, other_tenant: Tenant) -> None:
    custom = f"SHARED-{tenant.account_id[-10:]}"
    for client in (tenant.client, tenant.live_client, other_tenant.client):
        assert client.v1.coupons.create(params={"id": custom, "percent_off": 10}).id == custom


def test_valid_is_computed_when_read(tenant: Tenant) -> None:
    c = tenant.client
    redeem_by = int(time.time()) + 2
    coupon = c.v1.coupons.create(params={"percent_off": 10, "redeem_by": redeem_by})
    assert coupon.valid is True and coupon.redeem_by == redeem_by
    while time.time() < redeem_by + 1.2:
        time.sleep(0.2)
    assert c.v1.coupons.retrieve(coupon.id).valid is False
    assert c.v1.coupons.list().data[0].valid is False
    err = _rejected(
        tenant,
        lambda: c.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": coupon.id}}),
    )
    assert (
        err.http_status == 400
        and err.param == "promotion[coupon]"
        and "no longer valid" in (err.user_message or "")
    )


def test_update_name_metadata_currency_options(tenant: Tenant) -> None:
    c = tenant.client
    coupon = c.v1.coupons.create(
        params={"amount_off": 1000, "currency": "eur", "name": "Ten off", "metadata": {"a": "1", "b": "2"}}
    )
    upd = c.v1.coupons.update(
        coupon.id,
        params={
            "name": "Ten euro off",
            "metadata": {"a": "", "c": "3"},
            "currency_options": {"gbp": {"amount_off": 900}},
        },
    )
    assert upd.name == "Ten euro off"
    assert upd.metadata is not None and upd.metadata.to_dict() == {"b": "2", "c": "3"}
    assert upd.currency_options is not None
    assert upd.currency_options.to_dict() == {
        "eur": {"amount_off": 1000},
        "gbp": {"amount_off": 900},
    }
    assert upd.amount_off == 1000 and upd.duration == "once"

    updated = c.v1.events.list(params={"type": "coupon.updated"}).data
    assert len(updated) == 1 and updated[0].data.previous_attributes is not None
    assert set(updated[0].data.previous_attributes.to_dict()) == {"name", "metadata", "currency_options"}

    # The coupon's own currency keeps its amount_off.
    err = _rejected(
        tenant,
        lambda: c.v1.coupons.update(coupon.id, params={"currency_options": {"eur": {"amount_off": 1}}}),
    )
    assert err.http_status == 400 and err.param == "currency_options[eur][amount_off]"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"percent_off": 10}, "percent_off"),
        ({"amount_off": 10}, "amount_off"),
        ({"duration": "forever"}, "duration"),
        ({"duration_in_months": 3}, "duration_in_months"),
        ({"redeem_by": 2_000_000_000}, "redeem_by"),
        ({"max_redemptions": 5}, "max_redemptions"),
        ({"applies_to": {"products": ["prod_x"]}}, "applies_to"),
        ({"currency": "usd"}, "currency"),
        ({"id": "NEWID"}, "id"),
    ],
)
def test_update_rejects_create_only_params(tenant: Tenant, params: dict[str, Any], param: str) -> None:
    c = tenant.client
    coupon = c.v1.coupons.create(params={"percent_off": 20})
    err = _rejected(tenant, lambda: c.v1.coupons.update(coupon.id, params=params))  # type: ignore[arg-type]
    assert err.http_status == 400 and err.param == param and err.code == "parameter_unknown"
    assert f"Received unknown parameter: {param}" in (err.user_message or "")
    assert c.v1.coupons.retrieve(coupon.id).percent_off == 20


def test_list_paginates(tenant: Tenant) -> None:
    c = tenant.client
    made = [c.v1.coupons.create(params={"percent_off": i + 1}).id for i in range(23)]
    page = c.v1.coupons.list(params={"limit": 10})
    assert page.url == "/v1/coupons"
    assert [x.id for x in page.data] == list(reversed(made))[:10] and page.has_more is True
    every = [x.id for x in c.v1.coupons.list(params={"limit": 7}).auto_paging_iter()]
    assert every == list(reversed(made))
    before = c.v1.coupons.list(params={"limit": 3, "ending_before": made[10]})
    assert [x.id for x in before.data] == [made[13], made[12], made[11]]
    created = c.v1.coupons.retrieve(made[0]).created
    assert len(c.v1.coupons.list(params={"created": {"gte": created}, "limit": 100}).data) == 23
    assert c.v1.coupons.list(params={"created": {"lt": created}}).data == []


def test_delete(tenant: Tenant) -> None:
    c = tenant.client
    coupon = c.v1.coupons.create(params={"percent_off": 30})
    promo = c.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": coupon.id}})
    assert promo.active is True
    deleted = c.v1.coupons.delete(coupon.id)
    assert deleted.id == coupon.id and deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.coupons.retrieve(coupon.id)
    assert err.value.http_status == 404 and err.value.code == "resource_missing" and err.value.param == "id"
    assert c.v1.coupons.list().data == []
    # "A promotion code is only active if the coupon is also valid."
    assert c.v1.promotion_codes.retrieve(promo.id).active is False
    types = [e.type for e in c.v1.events.list(params={"limit": 100}).data]
    assert types[:2] == ["coupon.deleted", "promotion_code.updated"]
    err2 = _rejected(tenant, lambda: c.v1.coupons.delete(coupon.id))
    assert err2.http_status == 404 and err2.code == "resource_missing"


def test_modes_and_accounts_are_separate(tenant: Tenant, other_tenant: Tenant) -> None:
    live = tenant.live_client.v1.coupons.create(params={"percent_off": 50})
    assert live.livemode is True
    mine = tenant.client.v1.coupons.create(params={"percent_off": 40})
    for client, coupon_id in (
        (tenant.client, live.id),
        (other_tenant.client, mine.id),
        (tenant.live_client, mine.id),
    ):
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.coupons.retrieve(coupon_id)
        assert err.value.http_status == 404 and err.value.param == "id"
    assert [x.id for x in tenant.client.v1.coupons.list().data] == [mine.id]
    assert other_tenant.client.v1.coupons.list().data == []
    # Another account's product cannot be named in applies_to.
    theirs = _product(other_tenant.client, "Theirs")
    err2 = _rejected(
        tenant,
        lambda: tenant.client.v1.coupons.create(
            params={"percent_off": 5, "applies_to": {"products": [theirs]}}
        ),
    )
    assert err2.http_status == 404 and err2.param == "applies_to[products][0]"


PAST = 1_500_000_000


@pytest.mark.parametrize(
    ("params", "status", "param", "fragment"),
    [
        ({"percent_off": 10, "amount_off": 100, "currency": "usd"}, 400, "amount_off", "only specify one"),
        ({"duration": "once"}, 400, "percent_off", "either percent_off or amount_off"),
        ({"amount_off": 100}, 400, "currency", "currency"),
        ({"percent_off": 10, "duration": "repeating"}, 400, "duration_in_months", "duration_in_months"),
        (
            {"percent_off": 10, "duration": "once", "duration_in_months": 3},
            400,
            "duration_in_months",
            "repeating",
        ),
        (
            {"percent_off": 10, "duration": "repeating", "duration_in_months": 0},
            400,
            "duration_in_months",
            "",
        ),
        ({"percent_off": 100.5}, 400, "percent_off", "less than or equal to 100"),
        ({"percent_off": 0}, 400, "percent_off", "greater than 0"),
        ({"percent_off": -5}, 400, "percent_off", "greater than 0"),
        ({"percent_off": 12.345}, 400, "percent_off", "decimal places"),
        ({"percent_off": "lots"}, 400, "percent_off", "Invalid decimal"),
        ({"amount_off": -500, "currency": "usd"}, 400, "amount_off", "greater than 0"),
        ({"amount_off": 100_000_000, "currency": "usd"}, 400, "amount_off", "at most"),
        ({"amount_off": 500, "currency": "xyz"}, 400, "currency", "Invalid currency"),
        ({"percent_off": 10, "currency": "usd"}, 400, "currency", "amount_off"),
        (
            {"percent_off": 10, "currency_options": {"eur": {"amount_off": 5}}},
            400,
            "currency_options",
            "amount_off",
        ),
        (
            {"amount_off": 500, "currency": "usd", "currency_options": {"eur": {"amount_off": -1}}},
            400,
            "currency_options[eur][amount_off]",
            "greater than 0",
        ),
        (
            {"amount_off": 500, "currency": "usd", "currency_options": {"eur": {"amount": 5}}},
            400,
            "currency_options[eur][amount_off]",
            "Missing required param",
        ),
        ({"percent_off": 10, "redeem_by": PAST}, 400, "redeem_by", "future"),
        ({"percent_off": 10, "redeem_by": 4_000_000_000}, 400, "redeem_by", "5 years"),
        ({"percent_off": 10, "duration": "weekly"}, 400, "duration", "must be one of"),
        ({"percent_off": 10, "max_redemptions": 0}, 400, "max_redemptions", "greater than 0"),
        ({"percent_off": 10, "name": "n" * 41}, 400, "name", "at most 40 characters"),
        ({"percent_off": 10, "surprise": "1"}, 400, "surprise", "Received unknown parameter"),
        ({"percent_off": 10, "applies_to": {"prices": ["x"]}}, 400, "applies_to[prices]", "Received unknown"),
        ({"percent_off": 10, "metadata": {f"k{i}": "v" for i in range(51)}}, 400, "metadata", "50 keys"),
        ({"percent_off": 10, "metadata": {"k": "v" * 501}}, 400, "metadata", "500 characters"),
        (
            {"percent_off": 10, "applies_to": {"products": ["prod_nope"]}},
            404,
            "applies_to[products][0]",
            "No such",
        ),
        ({"percent_off": 10, "id": "x" * 81}, 400, "id", "at most 80 characters"),
    ],
)
def test_bad_input_writes_nothing(
    tenant: Tenant, params: dict[str, Any], status: int, param: str, fragment: str
) -> None:
    err = _rejected(tenant, lambda: tenant.client.v1.coupons.create(params=params))  # type: ignore[arg-type]
    assert err.http_status == status
    assert err.param == param
    assert fragment in (err.user_message or "")


def test_currency_option_keys_must_be_currencies(tenant: Tenant) -> None:
    err = _rejected(
        tenant,
        lambda: tenant.client.v1.coupons.create(
            params={"amount_off": 500, "currency": "usd", "currency_options": {"zzz": {"amount_off": 5}}}
        ),
    )
    assert err.http_status == 400 and (err.param or "").startswith("currency_options")
    assert "Invalid currency" in (err.user_message or "")
