"""Subscription schedules through the official stripe SDK over real HTTP: create, retrieve, list, update, cancel,
release, and every bad input answered in Stripe's error shape with nothing written."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe

from tests.conftest import Tenant

DAY = 86_400


def _catalog(c: stripe.StripeClient) -> dict[str, str]:
    product = c.v1.products.create(params={"name": "Advanced seat"}).id

    def price(amount: int, **extra: Any) -> str:
        params = {"product": product, "currency": "usd", "unit_amount": amount, **extra}
        return c.v1.prices.create(params=params).id  # type: ignore[arg-type]

    return {
        "monthly": price(9900, recurring={"interval": "month"}),
        "step_up": price(10900, recurring={"interval": "month"}),
        "annual": price(102000, recurring={"interval": "year"}),
        "one_time": price(5000),
        "eur": c.v1.prices.create(
            params={
                "product": product,
                "currency": "eur",
                "unit_amount": 9000,
                "recurring": {"interval": "month"},
            }
        ).id,
        "vat": c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 19, "inclusive": False}).id,
        "coupon": c.v1.coupons.create(params={"percent_off": 10, "duration": "forever"}).id,
    }


def _customer(c: stripe.StripeClient) -> str:
    return c.v1.customers.create(
        params={"name": "Acme GmbH", "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    ).id


def test_create_retrieve_update_a_future_schedule(tenant: Tenant) -> None:
    c = tenant.client
    cat, cus = _catalog(c), _customer(c)
    start = int(time.time()) + 30 * DAY
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "start_date": start,
            "metadata": {"deal": "OPP-1"},
            "default_settings": {
                "collection_method": "send_invoice",
                "invoice_settings": {"days_until_due": 30},
            },
            "phases": [
                {
                    "items": [{"price": cat["monthly"], "quantity": 20, "tax_rates": [cat["vat"]]}],
                    "discounts": [{"coupon": cat["coupon"]}],
                    "duration": {"interval": "month", "interval_count": 12},
                    "metadata": {"year": "1"},
                },
                {"items": [{"price": cat["step_up"], "quantity": 50}], "proration_behavior": "none"},
            ],
        }
    )
    assert sched.id.startswith("sub_sched_") and sched.object == "subscription_schedule"
    assert (sched.status, sched.subscription, sched.current_phase, sched.end_behavior) == (
        "not_started",
        None,
        None,
        "release",
    )
    assert (sched.customer, sched.livemode, sched.test_clock, sched.released_at) == (cus, False, None, None)
    assert sched.billing_mode.type == "flexible"
    assert sched.default_settings.collection_method == "send_invoice"
    assert sched.default_settings.invoice_settings.days_until_due == 30
    first, second = sched.phases
    assert first.start_date == start and first.end_date == second.start_date
    assert first.end_date - start in range(365 * DAY, 366 * DAY + 1)  # twelve calendar months
    assert second.end_date - second.start_date in range(28 * DAY, 31 * DAY + 1)  # one billing interval
    item = first["items"][0]
    assert (item.price, item.plan, item.quantity) == (cat["monthly"], cat["monthly"], 20)
    assert [t.id for t in item.tax_rates or []] == [cat["vat"]]
    assert first.discounts[0].coupon == cat["coupon"]
    assert (first.proration_behavior, second.proration_behavior) == ("create_prorations", "none")
    assert (first.currency, first.metadata.to_dict()) == ("usd", {"year": "1"})

    got = c.v1.subscription_schedules.retrieve(sched.id)
    assert got.to_dict() == sched.to_dict()
    expanded = c.v1.subscription_schedules.retrieve(sched.id, params={"expand": ["customer"]})
    assert expanded.customer.id == cus  # type: ignore[union-attr]

    updated = c.v1.subscription_schedules.update(
        sched.id,
        params={
            "metadata": {"deal": "", "owner": "ae-7"},
            "end_behavior": "cancel",
            "phases": [
                {
                    "items": [{"price": cat["monthly"], "quantity": 25}],
                    "start_date": start + DAY,
                    "end_date": start + 40 * DAY,
                }
            ],
        },
    )
    assert updated.metadata.to_dict() == {"owner": "ae-7"}
    assert updated.end_behavior == "cancel" and updated.status == "not_started"
    assert [(p.start_date, p.end_date) for p in updated.phases] == [(start + DAY, start + 40 * DAY)]
    types = [e.type for e in c.v1.events.list(params={"limit": 5}).data]
    assert types[:2] == ["subscription_schedule.updated", "subscription_schedule.created"]
    event = c.v1.events.list(params={"limit": 1}).data[0]
    assert event.data.previous_attributes is not None
    assert event.data.previous_attributes["end_behavior"] == "release"


def test_a_schedule_starting_now_creates_its_subscription(tenant: Tenant) -> None:
    c = tenant.client
    cat, cus = _catalog(c), _customer(c)
    sched = c.v1.subscription_schedules.create(
        params={"customer": cus, "phases": [{"items": [{"price": cat["annual"], "quantity": 3}]}]}
    )
    assert sched.status == "active" and sched.current_phase is not None
    sub = c.v1.subscriptions.retrieve(str(sched.subscription), params={"expand": ["schedule"]})
    assert sub.schedule.id == sched.id  # type: ignore[union-attr]
    assert sub.status == "active" and sub["items"].data[0].quantity == 3
    assert sched.phases[0].end_date == sub["items"].data[0].current_period_end
    again = c.v1.subscription_schedules.retrieve(sched.id, params={"expand": ["subscription"]})
    assert again.subscription.id == sub.id  # type: ignore[union-attr]


def test_list_filters_and_paginates(tenant: Tenant) -> None:
    c = tenant.client
    cat, cus, other = _catalog(c), _customer(c), _customer(c)
    future = int(time.time()) + 10 * DAY
    phases = [{"items": [{"price": cat["monthly"]}]}]
    made = [
        c.v1.subscription_schedules.create(
            params={"customer": cus, "start_date": future, "phases": phases}
        ).id
        for _ in range(3)
    ]
    active = c.v1.subscription_schedules.create(params={"customer": other, "phases": phases}).id
    page = c.v1.subscription_schedules.list(params={"limit": 2})
    assert (page.object, page.url, len(page.data), page.has_more) == (
        "list",
        "/v1/subscription_schedules",
        2,
        True,
    )
    every = [s.id for s in c.v1.subscription_schedules.list(params={"limit": 2}).auto_paging_iter()]
    assert every == [active, *reversed(made)]
    assert [s.id for s in c.v1.subscription_schedules.list(params={"customer": other}).data] == [active]
    scheduled = c.v1.subscription_schedules.list(params={"scheduled": True}).data
    assert sorted(s.id for s in scheduled) == sorted(made)
    assert [s.id for s in c.v1.subscription_schedules.list(params={"scheduled": False}).data] == [active]

    released = c.v1.subscription_schedules.release(made[0])
    canceled = c.v1.subscription_schedules.cancel(made[1])
    in_range = {"gte": int(time.time()) - 60}
    assert [s.id for s in c.v1.subscription_schedules.list(params={"released_at": in_range}).data] == [
        released.id
    ]
    assert [s.id for s in c.v1.subscription_schedules.list(params={"canceled_at": in_range}).data] == [
        canceled.id
    ]
    assert c.v1.subscription_schedules.list(params={"completed_at": in_range}).data == []


def _fails(call: Any, status: int, param: str | None) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as info:
        call()
    err = info.value
    assert err.http_status == status, (err.http_status, err.user_message)
    assert err.error is not None and err.error.type == "invalid_request_error"
    assert err.param == param, (err.param, err.user_message)
    assert err.user_message
    return err


def test_bad_input_writes_nothing(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    cat, cus = _catalog(c), _customer(c)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": cat["monthly"]}]})
    now = int(time.time())

    def phase(price: str = cat["monthly"], **extra: Any) -> dict[str, Any]:
        return {"items": [{"price": price}], **extra}

    cases: list[tuple[dict[str, Any], int, str]] = [
        ({}, 400, "customer"),
        ({"customer": cus}, 400, "phases"),
        ({"customer": "cus_missing", "phases": [phase()]}, 404, "customer"),
        ({"customer": cus, "phases": [phase("price_missing")]}, 404, "phases[0][items][0][price]"),
        ({"customer": cus, "phases": [phase(), phase(cat["one_time"])]}, 400, "phases[1][items][0][price]"),
        ({"customer": cus, "phases": [phase(), phase(cat["annual"])]}, 400, "phases[1][items][0][price]"),
        ({"customer": cus, "phases": [phase(), phase(cat["eur"])]}, 400, "phases[1][items][0][price]"),
        (
            {"customer": cus, "phases": [phase(end_date=now + DAY, duration={"interval": "month"})]},
            400,
            "phases[0][end_date]",
        ),
        (
            {"customer": cus, "start_date": now + DAY, "phases": [phase(end_date=now)]},
            400,
            "phases[0][end_date]",
        ),
        ({"customer": cus, "start_date": now - 10 * DAY, "phases": [phase()]}, 400, "start_date"),
        ({"customer": cus, "phases": [phase(), phase(trial=True)]}, 400, "phases[1][trial]"),
        (
            {"customer": cus, "phases": [phase(trial=True, billing_cycle_anchor="phase_start")]},
            400,
            "phases[0][billing_cycle_anchor]",
        ),
        ({"customer": cus, "end_behavior": "renew", "phases": [phase()]}, 400, "end_behavior"),
        (
            {"customer": cus, "phases": [phase(discounts=[{"coupon": "nope"}])]},
            404,
            "phases[0][discounts][0][coupon]",
        ),
        (
            {
                "customer": cus,
                "phases": [{"items": [{"price": cat["monthly"], "tax_rates": ["txr_missing"]}]}],
            },
            404,
            "phases[0][items][0][tax_rates][0]",
        ),
        (
            {"customer": cus, "phases": [phase(default_tax_rates=["txr_missing"])]},
            404,
            "phases[0][default_tax_rates][0]",
        ),
        (
            {"customer": cus, "phases": [{"items": [{"price": cat["monthly"], "quantity": -1}]}]},
            400,
            "phases[0][items][0][quantity]",
        ),
        (
            {"customer": cus, "phases": [phase(invoice_settings={"days_until_due": 10})]},
            400,
            "phases[0][invoice_settings][days_until_due]",
        ),
        ({"customer": cus, "phases": [phase(bogus=1)]}, 400, "phases[0][bogus]"),
        (
            {"customer": cus, "billing_mode": {"type": "classic"}, "phases": [phase()]},
            400,
            "billing_mode[type]",
        ),
        ({"from_subscription": sub.id, "phases": [phase()]}, 400, "phases"),
        ({"from_subscription": "sub_missing"}, 404, "from_subscription"),
    ]
    before = (tenant.rows(), tenant.audit_rows())
    for params, status, param in cases:
        _fails(lambda p=params: c.v1.subscription_schedules.create(params=p), status, param)  # type: ignore[misc]
    assert (tenant.rows(), tenant.audit_rows()) == before

    unknown = _fails(
        lambda: c.v1.subscription_schedules.create(params={"customer": cus, "phases": [phase(bogus=1)]}),  # type: ignore[typeddict-unknown-key]
        400,
        "phases[0][bogus]",
    )
    assert unknown.user_message == "Received unknown parameter: phases[0][bogus]"
    missing = _fails(lambda: c.v1.subscription_schedules.retrieve("sub_sched_missing"), 404, "id")
    assert missing.code == "resource_missing"

    # A schedule made from a subscription: its current phase can't move, and it can't be made twice.
    sched = c.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    _fails(
        lambda: c.v1.subscription_schedules.create(params={"from_subscription": sub.id}),
        400,
        "from_subscription",
    )
    before = (tenant.rows(), tenant.audit_rows())
    start = sched.phases[0].start_date
    update_cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"proration_behavior": "none"}, 400, "proration_behavior"),
        ({"phases": [phase(start_date=start + 10)]}, 400, "phases[0][start_date]"),
        (
            {"phases": [phase(start_date=start), phase(start_date=start + 3 * DAY)]},
            400,
            "phases[1][start_date]",
        ),
        ({"phases": [phase(start_date=start, trial_end=now + 3 * DAY)]}, 400, "phases[0][trial_end]"),
        (
            {"default_settings": {"invoice_settings": {"days_until_due": 5}}},
            400,
            "default_settings[invoice_settings][days_until_due]",
        ),
    ]
    for params, status, param in update_cases:
        _fails(lambda p=params: c.v1.subscription_schedules.update(sched.id, params=p), status, param)  # type: ignore[misc]
    _fails(lambda: other_tenant.client.v1.subscription_schedules.retrieve(sched.id), 404, "id")
    _fails(lambda: other_tenant.client.v1.subscription_schedules.cancel(sched.id), 404, "id")
    assert (tenant.rows(), tenant.audit_rows()) == before

    c.v1.subscription_schedules.release(sched.id)
    before = (tenant.rows(), tenant.audit_rows())
    for call in (
        lambda: c.v1.subscription_schedules.release(sched.id),
        lambda: c.v1.subscription_schedules.cancel(sched.id),
        lambda: c.v1.subscription_schedules.update(sched.id, params={"metadata": {"a": "b"}}),
    ):
        err = _fails(call, 400, None)
        assert "`released` status" in (err.user_message or "")
    assert (tenant.rows(), tenant.audit_rows()) == before
