"""Tax rates through the official stripe SDK over real HTTP (https://docs.stripe.com/api/tax_rates)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import pytest
import stripe

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


GOOD: dict[str, Any] = {"display_name": "VAT", "percentage": 19, "inclusive": False}


def test_reference_rates(tenant: Tenant) -> None:
    c = tenant.client
    de = c.v1.tax_rates.create(
        params={
            "display_name": "VAT",
            "description": "VAT Germany",
            "percentage": 19,
            "inclusive": False,
            "country": "de",
            "jurisdiction": "DE",
            "tax_type": "vat",
            "metadata": {"ledger": "1776"},
        }
    )
    assert de.id.startswith("txr_") and de.object == "tax_rate" and de.livemode is False
    assert de.percentage == 19 and de.effective_percentage == 19
    assert de.inclusive is False and de.active is True
    assert de.country == "DE" and de.jurisdiction == "DE" and de.tax_type == "vat"
    assert de.display_name == "VAT" and de.description == "VAT Germany" and de.state is None
    assert de.flat_amount is None and de.jurisdiction_level is None and de.rate_type is None
    assert de.metadata is not None and de.metadata.to_dict() == {"ledger": "1776"}
    raw = json.loads(de.last_response.body if de.last_response else "{}")
    assert raw["percentage"] == 19 and isinstance(raw["percentage"], int)

    uk = c.v1.tax_rates.create(
        params={
            "display_name": "VAT",
            "percentage": 20,
            "inclusive": True,
            "country": "GB",
            "tax_type": "vat",
        }
    )
    assert uk.percentage == 20 and uk.inclusive is True and uk.country == "GB"
    au = c.v1.tax_rates.create(
        params={
            "display_name": "GST",
            "percentage": 10,
            "inclusive": False,
            "country": "AU",
            "tax_type": "gst",
        }
    )
    assert au.percentage == 10 and au.tax_type == "gst" and au.country == "AU"
    nyc = c.v1.tax_rates.create(
        params={
            "display_name": "Sales tax",
            "percentage": 8.875,
            "inclusive": False,
            "country": "US",
            "state": "ny",
            "tax_type": "sales_tax",
        }
    )
    raw = json.loads(nyc.last_response.body if nyc.last_response else "{}")
    assert raw["percentage"] == 8.875 and raw["effective_percentage"] == 8.875
    assert nyc.state == "NY"
    assert c.v1.tax_rates.retrieve(nyc.id).to_dict() == nyc.to_dict()

    created = [e.data.object["id"] for e in c.v1.events.list(params={"type": "tax_rate.created"}).data]
    assert created == [nyc.id, au.id, uk.id, de.id]


def test_update_and_archive(tenant: Tenant) -> None:
    c = tenant.client
    rate = c.v1.tax_rates.create(params={**GOOD, "description": "old", "metadata": {"a": "1"}})  # type: ignore[typeddict-item]
    upd = c.v1.tax_rates.update(
        rate.id,
        params={"display_name": "MwSt", "description": "", "jurisdiction": "DE-BY", "metadata": {"b": "2"}},
    )
    assert upd.display_name == "MwSt" and upd.description is None and upd.jurisdiction == "DE-BY"
    assert upd.metadata is not None and upd.metadata.to_dict() == {"a": "1", "b": "2"}
    assert upd.percentage == 19 and upd.inclusive is False
    archived = c.v1.tax_rates.update(rate.id, params={"active": False})
    assert archived.active is False
    events = c.v1.events.list(params={"type": "tax_rate.updated"}).data
    assert len(events) == 2
    assert events[0].data.previous_attributes is not None
    assert events[0].data.previous_attributes.to_dict() == {"active": True}
    assert c.v1.tax_rates.update(rate.id, params={"active": True}).active is True


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"percentage": 7}, "percentage"),
        ({"inclusive": True}, "inclusive"),
        ({"effective_percentage": 7}, "effective_percentage"),
    ],
)
def test_update_rejects_immutable_params(tenant: Tenant, params: dict[str, Any], param: str) -> None:
    c = tenant.client
    rate = c.v1.tax_rates.create(params=GOOD)  # type: ignore[arg-type]
    err = _rejected(tenant, lambda: c.v1.tax_rates.update(rate.id, params=params))  # type: ignore[arg-type]
    assert err.http_status == 400 and err.param == param and err.code == "parameter_unknown"
    assert f"Received unknown parameter: {param}" in (err.user_message or "")
    got = c.v1.tax_rates.retrieve(rate.id)
    assert got.percentage == 19 and got.inclusive is False


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({"display_name": ""}, "display_name", "must not be empty"),
        ({"country": "Germany"}, "country", "ISO 3166-1"),
        ({"tax_type": "income_tax"}, "tax_type", "must be one of"),
        ({"active": "sometimes"}, "active", "Invalid boolean"),
    ],
)
def test_bad_update_writes_nothing(tenant: Tenant, params: dict[str, Any], param: str, fragment: str) -> None:
    c = tenant.client
    rate = c.v1.tax_rates.create(params=GOOD)  # type: ignore[arg-type]
    err = _rejected(tenant, lambda: c.v1.tax_rates.update(rate.id, params=params))  # type: ignore[arg-type]
    assert err.http_status == 400 and err.param == param and fragment in (err.user_message or "")


def test_list_filters_and_paginates(tenant: Tenant) -> None:
    c = tenant.client
    made = []
    for i in range(15):
        made.append(
            c.v1.tax_rates.create(
                params={"display_name": f"Rate {i}", "percentage": i, "inclusive": i % 3 == 0}
            ).id
        )
    c.v1.tax_rates.update(made[4], params={"active": False})
    page = c.v1.tax_rates.list(params={"limit": 6})
    assert page.url == "/v1/tax_rates" and page.has_more is True
    assert [t.id for t in page.data] == list(reversed(made))[:6]
    assert [t.id for t in c.v1.tax_rates.list(params={"limit": 4}).auto_paging_iter()] == list(reversed(made))
    inclusive = [t.id for t in c.v1.tax_rates.list(params={"inclusive": True, "limit": 100}).data]
    assert inclusive == [made[i] for i in (12, 9, 6, 3, 0)]
    exclusive = c.v1.tax_rates.list(params={"inclusive": False, "limit": 100}).data
    assert len(exclusive) == 10 and all(t.inclusive is False for t in exclusive)
    assert [t.id for t in c.v1.tax_rates.list(params={"active": False}).data] == [made[4]]
    assert len(c.v1.tax_rates.list(params={"active": True, "limit": 100}).data) == 14
    first = c.v1.tax_rates.retrieve(made[0]).created
    assert c.v1.tax_rates.list(params={"created": {"lt": first}}).data == []


def test_other_account_or_mode_is_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    rate = tenant.client.v1.tax_rates.create(params=GOOD)  # type: ignore[arg-type]
    for client in (other_tenant.client, tenant.live_client):
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.tax_rates.retrieve(rate.id)
        assert (
            err.value.http_status == 404 and err.value.code == "resource_missing" and err.value.param == "id"
        )
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.tax_rates.update(rate.id, params={"active": False})
        assert err.value.http_status == 404
        assert client.v1.tax_rates.list().data == []
    assert tenant.client.v1.tax_rates.retrieve(rate.id).active is True


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({"percentage": 19, "inclusive": False}, "display_name", "Missing required param"),
        ({"display_name": "VAT", "inclusive": False}, "percentage", "Missing required param"),
        ({"display_name": "VAT", "percentage": 19}, "inclusive", "Missing required param"),
        ({**GOOD, "percentage": 100.5}, "percentage", "less than or equal to 100"),
        ({**GOOD, "percentage": -1}, "percentage", "greater than or equal to 0"),
        ({**GOOD, "percentage": 7.12345}, "percentage", "decimal places"),
        ({**GOOD, "percentage": "high"}, "percentage", "Invalid decimal"),
        ({**GOOD, "inclusive": "perhaps"}, "inclusive", "Invalid boolean"),
        ({**GOOD, "display_name": "V" * 51}, "display_name", "at most 50 characters"),
        ({**GOOD, "jurisdiction": "J" * 51}, "jurisdiction", "at most 50 characters"),
        ({**GOOD, "country": "ZZ"}, "country", "ISO 3166-1"),
        ({**GOOD, "country": "DEU"}, "country", "ISO 3166-1"),
        ({**GOOD, "state": "NEW YORK"}, "state", "ISO 3166-2"),
        ({**GOOD, "tax_type": "income_tax"}, "tax_type", "must be one of"),
        ({**GOOD, "effective_percentage": 5}, "effective_percentage", "Received unknown parameter"),
        ({**GOOD, "metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", "50 keys"),
        ({**GOOD, "metadata": {"k": "v" * 501}}, "metadata", "500 characters"),
    ],
)
def test_bad_input_writes_nothing(tenant: Tenant, params: dict[str, Any], param: str, fragment: str) -> None:
    err = _rejected(tenant, lambda: tenant.client.v1.tax_rates.create(params=params))  # type: ignore[arg-type]
    assert err.http_status == 400
    assert err.param == param
    assert fragment in (err.user_message or "")
