"""Changing a subscription's items mid-period: quantities, prices, new and removed items, with prorations.

Stripe's flexible billing mode (https://docs.stripe.com/billing/subscriptions/prorations): a change at second ``t`` of
the period [start, end) credits the unused time [t, end) of what was billed and charges the remaining time of the new
configuration. The proration lines become pending invoice items (``ii_``) that the next invoice collects
(``create_prorations``), or an invoice issued at once (``always_invoice``); ``none`` changes without prorating.
"""

from __future__ import annotations

from typing import Any

from billfold.core.invoice import InvoiceFacts, ProrationFraction, SubscriptionItemLine, generate
from billfold.ids import new_id

from . import invoicing, subscriptions
from .customers import get_customer
from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, PaymentProcessor, Store


def _proration_item(store: Store, sub: Doc, item: Doc, quantity: int, t: int, *, credit: bool) -> Doc:
    """A pending invoice item for the unused (credit) or remaining (debit) time of one item configuration."""
    price = item["price"]
    start, end = item["current_period_start"], item["current_period_end"]
    fraction = ProrationFraction(end - t, end - start)
    name = invoicing.product_name(store, price)
    line = SubscriptionItemLine(
        id=new_id("line_item"),
        price_id=price["id"],
        product_id=price["product"],
        description=name,
        spec=invoicing.price_spec(price, sub["currency"]),
        quantity=quantity,
        period_start=t,
        period_end=end,
        quantity_source=f"seats on subscription item {item['id']} {'before' if credit else 'after'} the change",
        proration=True,
        proration_fraction=fraction,
        credit=credit,
        subscription_id=sub["id"],
        tax_rates=invoicing.tax_facts(item.get("tax_rates") or []),
    )
    amount = generate(InvoiceFacts(sub["currency"], 0, t, end, (line,)), t).lines[0].amount
    verb = "Unused time on" if credit else "Remaining time on"
    return {
        "id": new_id("invoiceitem"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "date": t,
        "description": f"{verb} {quantity} × {name} after {invoicing.format_day(t)}",
        "discountable": False,
        "discounts": [],
        "invoice": None,
        "livemode": store.scope.livemode,
        "metadata": {},
        "parent": {
            "subscription_details": {"subscription": sub["id"], "subscription_item": item["id"]},
            "type": "subscription_details",
        },
        "period": {"end": end, "start": t},
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": None,
        },
        "proration": True,
        "quantity": quantity,
        "test_clock": sub.get("test_clock"),
        "billfold_proration": {
            "credit": credit,
            "seconds": end - t,
            "period_seconds": end - start,
            "price": price["id"],
            "subscription_item": item["id"],
        },
    }


def item_index(doc: Doc) -> Index:
    sub_id = ((doc.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    return Index(
        customer=doc["customer"],
        parent=sub_id,
        status="invoiced" if doc.get("invoice") else "pending",
        currency=doc["currency"],
        test_clock=doc.get("test_clock"),
    )


def change_items(
    store: Store,
    wall_now: int,
    sub_id: str,
    changes: list[dict[str, Any]],
    behavior: str,
    proration_date: int | None,
    processor: PaymentProcessor,
) -> Doc:
    sub = subscriptions.get_subscription(store, sub_id, for_update=True)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequest("A canceled subscription's items can't be changed.", param="items")
    customer = get_customer(store, sub["customer"])
    now = subscriptions.customer_now(store, customer, wall_now)
    first = sub["items"]["data"][0]
    start, end = first["current_period_start"], first["current_period_end"]
    t = now if proration_date is None else proration_date
    if not start <= t < end:
        raise InvalidRequest(
            "proration_date must fall within the current billing period.", param="proration_date"
        )
    by_id = {i["id"]: i for i in sub["items"]["data"]}
    interval = (first["price"]["recurring"]["interval"], first["price"]["recurring"].get("interval_count", 1))
    pending: list[Doc] = []
    previous_items = [dict(i) for i in sub["items"]["data"]]
    for n, change in enumerate(changes):
        item = by_id.get(change.get("id") or "")
        if change.get("id") and item is None:
            raise ResourceMissing("subscription_item", change["id"], param=f"items[{n}][id]")
        if item is None:  # a new item from its price
            new_items, _, _ = subscriptions.build_items(
                store, sub["id"], sub["customer"], [change], sub["currency"], now, []
            )
            added = new_items[0]
            if (
                added["price"]["recurring"]["interval"],
                added["price"]["recurring"].get("interval_count", 1),
            ) != interval:
                raise InvalidRequest(
                    "A new item must bill on the subscription's interval.", param=f"items[{n}][price]"
                )
            added["current_period_start"], added["current_period_end"] = start, end
            sub["items"]["data"].append(added)
            store.insert(added, Index(parent=sub["id"], customer=sub["customer"]), created=now)
            if behavior != "none" and added["quantity"]:
                pending.append(_proration_item(store, sub, added, added["quantity"], t, credit=False))
            continue
        old_qty = int(item.get("quantity") or 0)
        metered = item["price"]["recurring"].get("usage_type") == "metered"
        if change.get("deleted"):
            if len(sub["items"]["data"]) == 1:
                raise InvalidRequest(
                    "A subscription needs at least one item; cancel it instead.", param=f"items[{n}][deleted]"
                )
            if behavior != "none" and old_qty and not metered:
                pending.append(_proration_item(store, sub, item, old_qty, t, credit=True))
            sub["items"]["data"].remove(item)
            store.delete("subscription_item", item["id"])
            continue
        new_price = item["price"]
        if change.get("price") and change["price"] != item["price"]["id"]:
            new_price = subscriptions.get_price(store, change["price"], f"items[{n}][price]")
            rec = new_price.get("recurring") or {}
            if (rec.get("interval"), rec.get("interval_count", 1)) != interval:
                raise InvalidRequest(
                    "Changing to a price with another billing interval is not supported yet.",
                    param=f"items[{n}][price]",
                )
        new_qty = old_qty if change.get("quantity") is None else int(change["quantity"])
        if new_qty == old_qty and new_price["id"] == item["price"]["id"]:
            continue
        if behavior != "none" and not metered:
            if old_qty:
                pending.append(_proration_item(store, sub, item, old_qty, t, credit=True))
            item["price"], item["quantity"] = new_price, new_qty
            if new_qty:
                pending.append(_proration_item(store, sub, item, new_qty, t, credit=False))
        else:
            item["price"], item["quantity"] = new_price, new_qty
    sub["items"]["total_count"] = len(sub["items"]["data"])
    for ii in pending:
        store.insert(ii, item_index(ii), created=t)
        store.record("invoiceitem.created", ii)
    if pending and behavior == "always_invoice":
        draft = invoicing.draft_for_items(store, sub, customer, pending, t)
        invoice = invoicing.invoice_doc(
            store, draft, customer, sub, billing_reason="subscription_update", now=t
        )
        invoicing.create_draft(store, invoice)
        mark_invoiced(store, pending, invoice["id"])
        invoicing.finalize(store, invoice, t)
        if invoice["status"] == "open" and sub["collection_method"] == "charge_automatically":
            invoicing.attempt_payment(store, invoice, t, processor)
        sub["latest_invoice"] = invoice["id"]
    subscriptions.save(store, sub, previous={"items": {"data": previous_items}})
    return sub


def pending_items(store: Store, sub_id: str) -> list[Doc]:
    return list(reversed(list(store.iterate("invoiceitem", {"parent": sub_id, "status": "pending"}))))


def mark_invoiced(store: Store, items: list[Doc], invoice_id: str) -> None:
    for ii in items:
        ii["invoice"] = invoice_id
        store.replace(ii, item_index(ii))


def preview_invoice(store: Store, wall_now: int, sub_id: str, details: dict[str, Any]) -> Doc:
    """The invoice a proposed change (``subscription_details``) would produce; nothing is stored."""
    raise InvalidRequest(
        "Previews of proposed subscription changes are not supported yet.", param="subscription_details"
    )
