"""Billing meters through the official stripe SDK over real HTTP: create, retrieve, update, list, deactivate,
reactivate, one active meter per event name, isolation, and metered prices that must name a meter.

https://docs.stripe.com/api/billing/meter and https://docs.stripe.com/billing/subscriptions/usage-based/meters/configure
"""

from __future__ import annotations

from typing import Any, cast

import pytest
import stripe

from billfold.app import meters as meters_uc
from billfold.app.errors import InvalidRequest
from billfold.app.ports import Scope
from billfold.main import Runtime
from tests.api.test_products import event_types, rejected
from tests.conftest import Tenant


def make_meter(
    c: stripe.StripeClient, event_name: str = "api_requests", **extra: Any
) -> stripe.billing.Meter:
    params: dict[str, Any] = {
        "display_name": "API requests",
        "event_name": event_name,
        "default_aggregation": {"formula": "sum"},
        **extra,
    }
    return c.v1.billing.meters.create(params=params)  # type: ignore[arg-type]


def test_create_retrieve_update(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(c)
    assert meter.id.startswith("mtr_") and meter.object == "billing.meter"
    assert meter.livemode is False and meter.status == "active"
    assert meter.customer_mapping.event_payload_key == "stripe_customer_id"
    assert meter.customer_mapping.type == "by_id"
    assert meter.value_settings.event_payload_key == "value"
    assert meter.default_aggregation.formula == "sum"
    assert meter.event_time_window is None
    assert meter.status_transitions.deactivated_at is None
    assert meter.updated == meter.created

    got = c.v1.billing.meters.retrieve(meter.id)
    assert got.to_dict() == meter.to_dict()

    renamed = c.v1.billing.meters.update(meter.id, params={"display_name": "Search API calls"})
    assert renamed.display_name == "Search API calls" and renamed.event_name == "api_requests"
    assert renamed.updated >= meter.updated
    # The same name again changes nothing and records nothing.
    c.v1.billing.meters.update(meter.id, params={"display_name": "Search API calls"})
    assert event_types(tenant) == ["billing.meter.created", "billing.meter.updated"]
    updated = c.v1.events.list(params={"type": "billing.meter.updated"}).data[0]
    assert updated.data.object["display_name"] == "Search API calls"
    assert updated.data.previous_attributes is not None
    assert updated.data.previous_attributes["display_name"] == "API requests"


def test_custom_payload_keys_and_formulas(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(
        c,
        "tokens",
        customer_mapping={"type": "by_id", "event_payload_key": "account"},
        value_settings={"event_payload_key": "tokens"},
        default_aggregation={"formula": "last"},
    )
    assert meter.customer_mapping.event_payload_key == "account"
    assert meter.value_settings.event_payload_key == "tokens"
    assert meter.default_aggregation.formula == "last"
    assert (
        make_meter(c, "logins", default_aggregation={"formula": "count"}).default_aggregation.formula
        == "count"
    )


def test_list_filters_by_status_and_paginates(tenant: Tenant) -> None:
    c = tenant.client
    made = [make_meter(c, f"event_{i}").id for i in range(5)]
    c.v1.billing.meters.deactivate(made[1])
    page = c.v1.billing.meters.list(params={"limit": 2})
    assert page.url == "/v1/billing/meters" and page.has_more is True
    assert [m.id for m in page.data] == [made[4], made[3]]
    every = [m.id for m in c.v1.billing.meters.list(params={"limit": 2}).auto_paging_iter()]
    assert every == list(reversed(made))
    active = c.v1.billing.meters.list(params={"status": "active"})
    assert [m.id for m in active.data] == [made[4], made[3], made[2], made[0]]
    inactive = c.v1.billing.meters.list(params={"status": "inactive"})
    assert [m.id for m in inactive.data] == [made[1]]


def test_deactivate_and_reactivate(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(c)
    off = c.v1.billing.meters.deactivate(meter.id)
    assert off.status == "inactive" and off.status_transitions.deactivated_at is not None
    assert off.updated >= meter.updated
    rejected(tenant, lambda: c.v1.billing.meters.deactivate(meter.id), 400, "id", "already inactive")

    on = c.v1.billing.meters.reactivate(meter.id)
    assert on.status == "active" and on.status_transitions.deactivated_at is None
    rejected(tenant, lambda: c.v1.billing.meters.reactivate(meter.id), 400, "id", "already active")
    assert event_types(tenant) == [
        "billing.meter.created",
        "billing.meter.deactivated",
        "billing.meter.reactivated",
    ]
    deactivated = c.v1.events.list(params={"type": "billing.meter.deactivated"}).data[0]
    assert deactivated.data.previous_attributes is not None
    assert deactivated.data.previous_attributes["status"] == "active"


def test_one_active_meter_per_event_name(tenant: Tenant) -> None:
    c = tenant.client
    first = make_meter(c)
    err = rejected(
        tenant, lambda: make_meter(c), 400, "event_name", "already uses the event name `api_requests`"
    )
    assert first.id in str(err.user_message)

    # Once the first is inactive the name is free; the first cannot come back while the second holds it.
    c.v1.billing.meters.deactivate(first.id)
    second = make_meter(c)
    rejected(tenant, lambda: c.v1.billing.meters.reactivate(first.id), 400, "event_name", second.id)
    assert c.v1.billing.meters.retrieve(first.id).status == "inactive"
    # The same event name is free in live mode and in another account.
    assert make_meter(tenant.live_client).livemode is True


BAD_CREATE: list[tuple[dict[str, Any], str, str]] = [
    ({"display_name": "x", "event_name": "e"}, "default_aggregation", "Missing required param: default_aggregation"),
    ({"event_name": "e", "default_aggregation": {"formula": "sum"}}, "display_name", "Missing required param"),
    ({"display_name": "x", "default_aggregation": {"formula": "sum"}}, "event_name", "Missing required param"),
    ({"display_name": "x", "event_name": "e", "default_aggregation": {"formula": "max"}}, "default_aggregation[formula]", "must be one of"),
    ({"display_name": "x", "event_name": "", "default_aggregation": {"formula": "sum"}}, "event_name", "must not be empty"),
    ({"display_name": "x", "event_name": "e" * 101, "default_aggregation": {"formula": "sum"}}, "event_name", "at most 100"),
    ({"display_name": "x" * 251, "event_name": "e", "default_aggregation": {"formula": "sum"}}, "display_name", "at most 250"),
    ({"display_name": "x", "event_name": "e", "default_aggregation": {"formula": "sum"}, "customer_mapping": {"type": "by_email", "event_payload_key": "c"}}, "customer_mapping[type]", "must be one of"),
    ({"display_name": "x", "event_name": "e", "default_aggregation": {"formula": "sum"}, "customer_mapping": {"type": "by_id"}}, "customer_mapping[event_payload_key]", "Missing required param"),
    ({"display_name": "x", "event_name": "e", "default_aggregation": {"formula": "sum"}, "value_settings": {"event_payload_key": "stripe_customer_id"}}, "value_settings[event_payload_key]", "one key for the customer"),
    ({"display_name": "x", "event_name": "e", "default_aggregation": {"formula": "sum"}, "event_time_window": "hour"}, "event_time_window", "not supported"),
    ({"display_name": "x", "event_name": "e", "default_aggregation": {"formula": "sum"}, "event_time_window": "week"}, "event_time_window", "must be one of"),
    ({"display_name": "x", "event_name": "e", "default_aggregation": {"formula": "sum"}, "status": "inactive"}, "status", "Received unknown parameter"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "param", "fragment"), BAD_CREATE)
def test_bad_create_writes_nothing(tenant: Tenant, params: dict[str, Any], param: str, fragment: str) -> None:
    rejected(tenant, lambda: tenant.client.v1.billing.meters.create(params=params), 400, param, fragment)  # type: ignore[arg-type]


def test_bad_update_and_unknown_meter_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    meter = make_meter(c)
    rejected(
        tenant,
        lambda: c.v1.billing.meters.update(meter.id, params=cast(Any, {"event_name": "other"})),
        400,
        "event_name",
        "Received unknown parameter: event_name",
    )
    rejected(
        tenant,
        lambda: c.v1.billing.meters.update(meter.id, params={"display_name": ""}),
        400,
        "display_name",
        "must not be empty",
    )
    for call in (
        lambda: c.v1.billing.meters.retrieve("mtr_missing"),
        lambda: c.v1.billing.meters.update("mtr_missing", params={"display_name": "x"}),
        lambda: c.v1.billing.meters.deactivate("mtr_missing"),
        lambda: c.v1.billing.meters.reactivate("mtr_missing"),
    ):
        err = rejected(tenant, call, 404, "id", "No such billing.meter: 'mtr_missing'")
        assert err.code == "resource_missing"
    rejected(
        tenant,
        lambda: c.v1.billing.meters.list(params={"status": "archived"}),
        400,
        "status",
        "must be one of",
    )


def test_other_account_and_mode_cannot_see_meter(tenant: Tenant, other_tenant: Tenant) -> None:
    meter = make_meter(tenant.client)
    for client in (other_tenant.client, tenant.live_client):
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.billing.meters.retrieve(meter.id)
        assert err.value.http_status == 404
        assert client.v1.billing.meters.list().data == []
    before = (tenant.rows(), tenant.audit_rows())
    with pytest.raises(stripe.InvalidRequestError):
        other_tenant.client.v1.billing.meters.deactivate(meter.id)
    assert (tenant.rows(), tenant.audit_rows()) == before
    assert tenant.client.v1.billing.meters.retrieve(meter.id).status == "active"


# -- metered prices name a meter ----------------------------------------------------------------------------------
def _metered(product: str, meter: str | None) -> dict[str, Any]:
    recurring: dict[str, Any] = {"interval": "month", "usage_type": "metered"}
    if meter is not None:
        recurring["meter"] = meter
    return {"product": product, "currency": "usd", "unit_amount": 5, "recurring": recurring}


def test_metered_price_needs_an_active_meter_of_this_account(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    product = c.v1.products.create(params={"name": "API"})
    meter = make_meter(c)
    price = c.v1.prices.create(params=_metered(product.id, meter.id))  # type: ignore[arg-type]
    assert price.recurring is not None and price.recurring.meter == meter.id
    assert price.recurring.usage_type == "metered"

    rejected(
        tenant,
        lambda: c.v1.prices.create(params=_metered(product.id, None)),  # type: ignore[arg-type]
        400,
        "recurring[meter]",
        "Missing required param: recurring[meter]",
    )
    err = rejected(
        tenant,
        lambda: c.v1.prices.create(params=_metered(product.id, "mtr_nope")),  # type: ignore[arg-type]
        404,
        "recurring[meter]",
        "No such billing.meter: 'mtr_nope'",
    )
    assert err.code == "resource_missing"
    theirs = make_meter(other_tenant.client)
    rejected(
        tenant,
        lambda: c.v1.prices.create(params=_metered(product.id, theirs.id)),  # type: ignore[arg-type]
        404,
        "recurring[meter]",
        "No such billing.meter",
    )
    c.v1.billing.meters.deactivate(meter.id)
    rejected(
        tenant,
        lambda: c.v1.prices.create(params=_metered(product.id, meter.id)),  # type: ignore[arg-type]
        400,
        "recurring[meter]",
        "inactive",
    )


def test_database_refuses_a_second_active_meter_for_an_event_name(tenant: Tenant, runtime: Runtime) -> None:
    """The check before the write only words the error; the partial unique index is what holds under concurrency.
    Write a clashing meter past the check (as a concurrent request would) and get the same clear 400."""
    first = make_meter(tenant.client)
    scope = Scope(account_id=tenant.account_id, livemode=False)
    clash = {**first.to_dict(), "id": "mtr_racing", "display_name": "Racer"}
    before = (tenant.rows(), tenant.audit_rows())
    with pytest.raises(InvalidRequest) as err, runtime.services.uow(scope) as store:
        meters_uc._save(store, clash, new=True)
    assert err.value.status == 400 and err.value.param == "event_name"
    assert (tenant.rows(), tenant.audit_rows()) == before
