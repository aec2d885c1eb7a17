"""``POST /v1/subscription_items``, ``POST /v1/subscription_items/{id}`` and ``DELETE /v1/subscription_items/{id}``
through the official SDK: the seat-count call of a seat-based SaaS (``SubscriptionItem.modify(si, quantity=25)``).

Each is the same change as ``POST /v1/subscriptions/{id}`` with one entry in ``items``
(https://docs.stripe.com/api/subscription_items/update): the same prorations, invoice and payment. So each test
makes the change both ways, on two customers in the same position, and compares the money to the cent."""

from __future__ import annotations

import secrets
from typing import Any

import stripe

from tests.conftest import Tenant
from tests.scenarios.lifecycle_support import JAN1, customer_on_clock, expect_error, monthly_price
from tests.support.clocks import advance

JAN17 = JAN1 + 16 * 86400  # 16 of January's 31 days used, 15 left


def _seats(c: stripe.StripeClient, price: str, quantity: int = 20) -> tuple[str, stripe.Subscription]:
    clock, cus = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": price, "quantity": quantity}]}
    )
    advance(c, clock, JAN17)
    return cus, sub


def _pending_items(c: stripe.StripeClient, customer: str) -> list[tuple[int, int, str]]:
    """The customer's pending invoice items (prorations): (amount, quantity, price), in a stable order."""
    items = c.v1.invoice_items.list(params={"customer": customer, "pending": True}).data
    return sorted((i.amount, i.quantity, str(i.pricing.price_details.price)) for i in items)  # type: ignore[union-attr]


def test_changing_the_seat_count_is_prorated_like_a_subscription_update(tenant: Tenant) -> None:
    c = tenant.client
    price = monthly_price(c, 9900, "Advanced seat")
    cus_a, sub_a = _seats(c, price)
    cus_b, sub_b = _seats(c, price)
    si_a, si_b = sub_a["items"].data[0].id, sub_b["items"].data[0].id

    item = c.v1.subscription_items.update(si_a, params={"quantity": 25})
    c.v1.subscriptions.update(sub_b.id, params={"items": [{"id": si_b, "quantity": 25}]})

    assert (item.id, item.quantity, item.subscription, item.price.id) == (si_a, 25, sub_a.id, price)
    assert c.v1.subscription_items.retrieve(si_a).quantity == 25
    assert c.v1.subscriptions.retrieve(sub_a.id)["items"].data[0].quantity == 25
    via_item, via_sub = _pending_items(c, cus_a), _pending_items(c, cus_b)
    assert via_item == via_sub
    # Credit for 20 unused seats, charge for 25 over the 15 days left of 31: 5 seats x $99 x 15/31 net.
    assert [(q, p) for _, q, p in via_item] == [(20, price), (25, price)]
    assert sum(a for a, _, _ in via_item) in (23_951, 23_952)
    preview = c.v1.invoices.create_preview(params={"subscription": sub_a.id})
    assert preview.total == 25 * 9900 + sum(a for a, _, _ in via_item)
    events = [e.type for e in c.v1.events.list(params={"limit": 20}).data]
    assert "customer.subscription.updated" in events


def test_adding_an_item_with_always_invoice_charges_now(tenant: Tenant) -> None:
    c = tenant.client
    seats = monthly_price(c, 9900, "Advanced seat")
    copilot = monthly_price(c, 3500, "Copilot")
    _, sub_a = _seats(c, seats)
    _, sub_b = _seats(c, seats)

    item = c.v1.subscription_items.create(
        params={
            "subscription": sub_a.id,
            "price": copilot,
            "quantity": 5,
            "proration_behavior": "always_invoice",
        }
    )
    c.v1.subscriptions.update(
        sub_b.id,
        params={"items": [{"price": copilot, "quantity": 5}], "proration_behavior": "always_invoice"},
    )

    assert item.id.startswith("si_") and item.id != sub_a["items"].data[0].id
    assert (item.subscription, item.price.id, item.quantity) == (sub_a.id, copilot, 5)
    a, b = c.v1.subscriptions.retrieve(sub_a.id), c.v1.subscriptions.retrieve(sub_b.id)
    assert sorted(i.price.id for i in a["items"].data) == sorted([seats, copilot])
    inv_a, inv_b = (
        c.v1.invoices.retrieve(str(a.latest_invoice)),
        c.v1.invoices.retrieve(str(b.latest_invoice)),
    )
    assert inv_a.billing_reason == "subscription_update"
    assert (inv_a.status, inv_a.total) == ("paid", inv_b.total)
    assert inv_a.total in (8_467, 8_468)  # 5 x $35 x 15/31
    listed = c.v1.subscription_items.list(params={"subscription": sub_a.id}).data
    assert item.id in [i.id for i in listed]


def test_removing_an_item_without_proration(tenant: Tenant) -> None:
    c = tenant.client
    seats = monthly_price(c, 9900, "Advanced seat")
    copilot = monthly_price(c, 3500, "Copilot")
    cus, sub = _seats(c, seats)
    added = c.v1.subscription_items.create(
        params={"subscription": sub.id, "price": copilot, "quantity": 5, "proration_behavior": "none"}
    )
    gone = c.v1.subscription_items.delete(added.id, params={"proration_behavior": "none"})
    assert (gone.id, gone.object, gone.deleted) == (added.id, "subscription_item", True)
    after = c.v1.subscriptions.retrieve(sub.id)
    assert [i.price.id for i in after["items"].data] == [seats]
    assert _pending_items(c, cus) == []
    try:
        c.v1.subscription_items.retrieve(added.id)
        raise AssertionError("a removed item is gone")
    except stripe.InvalidRequestError as err:
        assert err.http_status == 404


def test_bad_requests_name_the_item_parameter_and_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    price = monthly_price(c, 9900, "Advanced seat")
    _, sub = _seats(c, price)
    si = sub["items"].data[0].id

    def create(params: dict[str, Any]) -> Any:
        return lambda: c.v1.subscription_items.create(params=params)  # type: ignore[arg-type]

    expect_error(tenant, create({"subscription": sub.id, "quantity": 2}), status=400, param="price")
    expect_error(
        tenant, create({"subscription": "sub_missing", "price": price}), status=404, param="subscription"
    )
    expect_error(
        tenant, create({"subscription": sub.id, "price": "price_missing"}), status=404, param="price"
    )
    err = expect_error(
        tenant,
        lambda: c.v1.subscription_items.update(si, params={"quantity": -1}),
        status=400,
        param="quantity",
    )
    assert "items[" not in str(err.user_message)
    expect_error(
        tenant,
        lambda: c.v1.subscription_items.update("si_missing", params={"quantity": 2}),
        status=404,
        param="id",
    )
    expect_error(
        tenant,
        lambda: c.v1.subscription_items.update(si, params={"proration_date": JAN1 - 86400}),
        status=400,
        param="proration_date",
    )
    # The last item can't be removed: cancel the subscription instead.
    expect_error(tenant, lambda: c.v1.subscription_items.delete(si), status=400, param=None)
    assert c.v1.subscription_items.retrieve(si).quantity == 20


def test_a_retried_create_adds_one_item(tenant: Tenant) -> None:
    c = tenant.client
    seats = monthly_price(c, 9900, "Advanced seat")
    copilot = monthly_price(c, 3500, "Copilot")
    _, sub = _seats(c, seats)
    key = secrets.token_hex(8)
    params: dict[str, Any] = {"subscription": sub.id, "price": copilot, "quantity": 3}
    first = c.v1.subscription_items.create(params=params, options={"idempotency_key": key})  # type: ignore[arg-type]
    again = c.v1.subscription_items.create(params=params, options={"idempotency_key": key})  # type: ignore[arg-type]
    assert first.id == again.id
    assert len(c.v1.subscriptions.retrieve(sub.id)["items"].data) == 2


def test_a_declined_pending_item_change_leaves_the_item_as_it_was(tenant: Tenant) -> None:
    c = tenant.client
    price = monthly_price(c, 9900, "Advanced seat")
    cus, sub = _seats(c, price)
    si = sub["items"].data[0].id
    c.v1.customers.update(
        cus, params={"invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"}}
    )

    item = c.v1.subscription_items.update(
        si,
        params={
            "quantity": 25,
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        },
    )

    assert item.quantity == 20, "unchanged until the change's invoice is paid"
    after = c.v1.subscriptions.retrieve(sub.id)
    assert after.pending_update is not None
    assert [(i.id, i.quantity) for i in after.pending_update.subscription_items] == [(si, 25)]
    invoice = c.v1.invoices.retrieve(str(after.latest_invoice))
    assert (invoice.status, invoice.billing_reason) == ("open", "subscription_update")
    # While it is pending, another change of the items is refused.
    expect_error(
        tenant, lambda: c.v1.subscription_items.update(si, params={"quantity": 2}), status=400, param=None
    )


def test_an_item_added_as_a_pending_update_exists_once_its_invoice_is_paid(tenant: Tenant) -> None:
    """``POST /v1/subscription_items`` with ``pending_if_incomplete`` and a declined card: the subscription keeps
    its one item, the response is the new item as it will be, and paying the invoice adds that very item."""
    c = tenant.client
    seats = monthly_price(c, 9900, "Advanced seat")
    copilot = monthly_price(c, 3500, "Copilot")
    cus, sub = _seats(c, seats)
    c.v1.customers.update(
        cus, params={"invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"}}
    )

    item = c.v1.subscription_items.create(
        params={
            "subscription": sub.id,
            "price": copilot,
            "quantity": 5,
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        }
    )

    assert (item.price.id, item.quantity, item.subscription) == (copilot, 5, sub.id)
    after = c.v1.subscriptions.retrieve(sub.id)
    assert [i.price.id for i in after["items"].data] == [seats]
    assert after.pending_update is not None
    assert [i.id for i in after.pending_update.subscription_items][-1] == item.id
    invoice = c.v1.invoices.retrieve(str(after.latest_invoice))
    assert (invoice.status, invoice.billing_reason) == ("open", "subscription_update")
    # 5 × $35.00 for the 15 of January's 31 days left after Jan 17 = $84.68 (rounded once).
    assert [line.amount for line in invoice.lines.data] == [8468]

    c.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    now = c.v1.subscriptions.retrieve(sub.id)
    assert [(i.id, i.quantity) for i in now["items"].data][-1] == (item.id, 5)
    assert c.v1.subscription_items.retrieve(item.id).quantity == 5


def test_an_item_read_by_id_or_listed_is_the_subscription_s_item_as_it_is_now(tenant: Tenant) -> None:
    """The item is kept in its subscription's document (a renewal moves every item's period in one write): reading
    it by id or listing it gives that item, including its period after a renewal and its quantity after a change,
    and a removed item is gone from both."""
    c = tenant.client
    price, addon = monthly_price(c, 9900, "Advanced seat"), monthly_price(c, 3500, "Copilot")
    clock, cus = customer_on_clock(c, JAN1)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": price, "quantity": 20}, {"price": addon, "quantity": 5}]}
    )
    seats, copilot = sub["items"].data[0].id, sub["items"].data[1].id
    feb1, mar1 = JAN1 + 31 * 86400, JAN1 + 59 * 86400
    advance(c, clock, feb1 + 2 * 3600)  # renewed on Feb 1, its invoice finalized and paid
    c.v1.subscription_items.update(seats, params={"quantity": 22, "proration_behavior": "none"})

    item = c.v1.subscription_items.retrieve(seats)
    held = c.v1.subscriptions.retrieve(sub.id)["items"].data
    assert (item.current_period_start, item.current_period_end, item.quantity) == (feb1, mar1, 22)
    assert item.to_dict() == held[0].to_dict()
    listed = c.v1.subscription_items.list(params={"subscription": sub.id}).data
    assert sorted((i.id, i.quantity, i.current_period_start) for i in listed) == sorted(
        [(seats, 22, feb1), (copilot, 5, feb1)]
    )

    c.v1.subscription_items.delete(copilot, params={"proration_behavior": "none"})
    expect_error(tenant, lambda: c.v1.subscription_items.retrieve(copilot), status=404, param="id")
    assert [i.id for i in c.v1.subscription_items.list(params={"subscription": sub.id}).data] == [seats]
