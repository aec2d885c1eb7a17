"""/v1/events through the official stripe SDK: every state change is listed, in order, filterable and pageable."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
import stripe

from billfold.api.routers import events as events_router
from tests.conftest import Tenant


def _page(client: stripe.StripeClient, **params: Any) -> stripe.ListObject[stripe.Event]:
    return client.v1.events.list(params=cast(Any, params))


def _types(client: stripe.StripeClient, **params: Any) -> list[str]:
    return [e.type for e in _page(client, limit=100, **params).data]


def test_customer_lifecycle_events_in_order(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme", "email": "a@acme.example"})
    upd = c.v1.customers.update(cus.id, params={"name": "Acme AG", "metadata": {"tier": "gold"}})
    c.v1.customers.delete(cus.id)

    page = c.v1.events.list()
    assert page.to_dict()["object"] == "list" and page.url == "/v1/events" and page.has_more is False
    assert [e.type for e in page.data] == ["customer.deleted", "customer.updated", "customer.created"]
    deleted, updated, created = page.data
    for evt in page.data:
        assert evt.id.startswith("evt_") and evt.object == "event"
        assert evt.livemode is False and evt.pending_webhooks == 0
        assert evt.api_version == "2026-10-28.endive"
        assert evt.data.object["id"] == cus.id
    assert created.data.object["name"] == "Acme"
    assert created.request is not None and cus.last_response is not None
    assert created.request.id == cus.last_response.request_id
    assert updated.data.object["name"] == "Acme AG"
    assert updated.data.previous_attributes is not None
    previous = updated.data.previous_attributes.to_dict()
    assert previous["name"] == "Acme" and set(previous) == {"name", "metadata"}
    assert updated.request is not None and upd.last_response is not None
    assert updated.request.id == upd.last_response.request_id
    assert deleted.data.object["id"] == cus.id
    assert created.created <= updated.created <= deleted.created


def test_update_without_change_writes_no_event(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Same"})
    c.v1.customers.update(cus.id, params={"name": "Same"})
    assert _types(c) == ["customer.created"]


def test_retrieve(tenant: Tenant) -> None:
    c = tenant.client
    c.v1.customers.create(params={"name": "R"})
    listed = c.v1.events.list().data[0]
    got = c.v1.events.retrieve(listed.id)
    assert got.to_dict() == listed.to_dict()
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.events.retrieve("evt_doesnotexist")
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing" and err.value.param == "id"
    assert "No such event: 'evt_doesnotexist'" in (err.value.user_message or "")
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.events.retrieve(listed.id, params=cast(Any, {"colour": "red"}))
    assert err.value.http_status == 400 and err.value.param == "colour"


def _mixed_history(c: stripe.StripeClient) -> str:
    cus = c.v1.customers.create(params={"name": "Mix"})
    c.v1.customers.tax_ids.create(cus.id, params={"type": "gb_vat", "value": "GB123456789"})
    c.v1.customers.update(cus.id, params={"name": "Mix 2"})
    other = c.v1.customers.create(params={"name": "Other"})
    c.v1.customers.delete(other.id)
    return cus.id


def test_filter_by_type_exact_wildcard_and_types(tenant: Tenant) -> None:
    c = tenant.client
    _mixed_history(c)
    everything = [
        "customer.deleted",
        "customer.created",
        "customer.updated",
        "customer.tax_id.created",
        "customer.created",
    ]
    assert _types(c) == everything
    assert _types(c, type="customer.created") == ["customer.created", "customer.created"]
    assert _types(c, type="customer.*") == everything
    assert _types(c, type="*.created") == ["customer.created", "customer.tax_id.created", "customer.created"]
    assert _types(c, type="customer.tax_id.*") == ["customer.tax_id.created"]
    assert _types(c, type="*") == everything
    assert _types(c, type="invoice.*") == []
    assert _types(c, type="customer") == []
    assert _types(c, types=["customer.deleted", "customer.updated"]) == [
        "customer.deleted",
        "customer.updated",
    ]
    assert _types(c, types=["customer.deleted", "invoice.paid"]) == ["customer.deleted"]
    # delivery_success is accepted; nothing is delivered by webhook yet, so it does not narrow the list.
    assert _types(c, delivery_success=True) == everything


def test_filter_by_created(tenant: Tenant) -> None:
    c = tenant.client
    c.v1.customers.create(params={"name": "Old"})
    first = c.v1.events.list().data[0]
    # Event timestamps are whole seconds: wait for the next one so the two events are apart.
    while int(time.time()) <= first.created:
        time.sleep(0.05)
    c.v1.customers.create(params={"name": "New"})
    second = c.v1.events.list().data[0]
    assert second.created > first.created
    assert [e.id for e in _page(c, created={"gt": first.created}).data] == [second.id]
    assert [e.id for e in _page(c, created={"lte": first.created}).data] == [first.id]
    assert [e.id for e in _page(c, created=first.created).data] == [first.id]
    gte = _page(c, created={"gte": first.created}, type="customer.*")
    assert [e.id for e in gte.data] == [second.id, first.id]


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({"type": "customer.created", "types": ["customer.updated"]}, "types", "not both"),
        ({"types": [f"t{i}" for i in range(21)]}, "types", "at most 20"),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"limit": 101}, "limit", "less than or equal to 100"),
        ({"created": {"after": 1}}, "created[after]", "unknown parameter"),
        ({"created": "yesterday"}, "created", "Invalid integer"),
        ({"delivery_success": "maybe"}, "delivery_success", "Invalid boolean"),
        ({"object": "customer"}, "object", "Received unknown parameter"),
    ],
)
def test_bad_list_params(tenant: Tenant, params: dict[str, object], param: str, fragment: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        _page(tenant.client, **params)
    assert err.value.http_status == 400
    assert err.value.param == param
    assert fragment in (err.value.user_message or "")


def test_unknown_cursor_is_404(tenant: Tenant) -> None:
    for cursor in ("starting_after", "ending_before"):
        for extra in ({}, {"type": "customer.*"}):
            with pytest.raises(stripe.InvalidRequestError) as err:
                _page(tenant.client, **{cursor: "evt_nope", **extra})
            assert err.value.http_status == 404 and err.value.param == cursor


@pytest.mark.parametrize("batch", [events_router.SCAN_BATCH, 1, 3])
def test_pagination(tenant: Tenant, monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    # A small scan batch makes the wildcard walk cross many batch boundaries (the server runs in this process).
    monkeypatch.setattr(events_router, "SCAN_BATCH", batch)
    c = tenant.client
    ids = []
    for i in range(9):
        cus = c.v1.customers.create(params={"name": f"c{i}"})
        c.v1.customers.update(cus.id, params={"name": f"c{i}!"})
        ids.append(cus.id)
    newest_first = [e.id for e in c.v1.events.list(params={"limit": 100}).data]
    assert len(newest_first) == 18
    created_only = [e.id for e in c.v1.events.list(params={"limit": 100, "type": "customer.created"}).data]
    assert len(created_only) == 9

    for filt in ({}, {"type": "customer.*"}, {"type": "*.updated"}, {"type": "customer.created"}):
        expected = (
            newest_first
            if filt.get("type") in (None, "customer.*")
            else created_only
            if filt["type"] == "customer.created"
            else [i for i in newest_first if i not in created_only]
        )
        walked = [e.id for e in _page(c, limit=4, **filt).auto_paging_iter()]
        assert walked == expected, filt

        first = _page(c, limit=4, **filt)
        assert [e.id for e in first.data] == expected[:4] and first.has_more is True
        after = _page(c, limit=4, starting_after=expected[3], **filt)
        assert [e.id for e in after.data] == expected[4:8]
        tail = _page(c, limit=100, starting_after=expected[-2], **filt)
        assert [e.id for e in tail.data] == expected[-1:] and tail.has_more is False

        before = _page(c, limit=3, ending_before=expected[5], **filt)
        assert [e.id for e in before.data] == expected[2:5] and before.has_more is True
        head = _page(c, limit=3, ending_before=expected[2], **filt)
        assert [e.id for e in head.data] == expected[:2] and head.has_more is False


def test_wildcard_cursor_may_be_an_event_outside_the_filter(tenant: Tenant) -> None:
    # Stripe's cursors are positions: an event that the filter would not show still marks a place in the list.
    c = tenant.client
    _mixed_history(c)
    every = c.v1.events.list().data
    tax = next(e for e in every if e.type == "customer.tax_id.created")
    after = c.v1.events.list(params={"type": "*.created", "starting_after": every[0].id})
    assert [e.type for e in after.data] == ["customer.created", "customer.tax_id.created", "customer.created"]
    before = c.v1.events.list(params={"type": "customer.c*", "ending_before": tax.id})
    assert [e.type for e in before.data] == ["customer.created"]


def test_events_of_live_mode_are_separate(tenant: Tenant) -> None:
    tenant.live_client.v1.customers.create(params={"name": "Live"})
    tenant.client.v1.customers.create(params={"name": "Test"})
    live = tenant.live_client.v1.events.list().data
    test = tenant.client.v1.events.list().data
    assert [e.data.object["name"] for e in live] == ["Live"] and live[0].livemode is True
    assert [e.data.object["name"] for e in test] == ["Test"]
    with pytest.raises(stripe.InvalidRequestError) as err:
        tenant.client.v1.events.retrieve(live[0].id)
    assert err.value.http_status == 404


def test_events_are_read_only(tenant: Tenant) -> None:
    c = tenant.client
    c.v1.customers.create(params={"name": "RO"})
    evt = c.v1.events.list().data[0]
    before = (tenant.rows(), tenant.audit_rows())
    for method in ("post", "delete"):
        with pytest.raises(stripe.InvalidRequestError) as err:
            c.raw_request(method, f"/v1/events/{evt.id}")
        assert err.value.http_status in (404, 405)
    assert (tenant.rows(), tenant.audit_rows()) == before
