"""Metered usage billed before the period ends: when a metered item is removed or changes price mid-period, the
usage reported for it so far becomes a pending invoice item at the price it had (Stripe's flexible billing mode:
https://docs.stripe.com/billing/subscriptions/usage-based/manage-billing-setup), collected by the next invoice — or
at once with ``always_invoice`` or a reset billing cycle. The item's new price counts usage from the change on
(``billfold_usage_since`` on the subscription item)."""

from __future__ import annotations

from billfold.core.pricing import rate
from billfold.ids import new_id

from . import invoice_facts
from .ports import Doc, Store

USAGE_SINCE = "billfold_usage_since"


def usage_start(item: Doc, period_start: int) -> int:
    """Where an item's usage starts counting in a period: the period's start, or later when the item was added or
    changed price within it."""
    return max(
        period_start, int(item.get("created") or period_start), int(item.get(USAGE_SINCE) or period_start)
    )


def usage_item(
    store: Store, sub: Doc, item: Doc, period_start: int, until: int, now: int, *, removed: bool = False
) -> Doc | None:
    """The pending invoice item for ``item``'s usage over [its usage start, until), or None when nothing was used.

    ``removed``: the item ends at ``until``, so its usage counts through ``until`` (an event reported in the second
    the item is removed is billed, not lost); a new price's usage starts at ``until`` instead."""
    start = usage_start(item, period_start)
    price = item["price"]
    meter = (price.get("recurring") or {}).get("meter")
    last = until if removed else until - 1  # the last second counted
    quantity, source = invoice_facts.usage(store, meter, sub["customer"], start, last + 1)
    if start > last or quantity == 0:
        return None
    spec = invoice_facts.price_spec(price, sub["currency"])
    result = rate(spec, quantity)
    name = invoice_facts.product_name(store, price)
    days = f"{invoice_facts.format_day(start)} to {invoice_facts.format_day(until)}"
    per_unit = spec.billing_scheme == "per_unit" and spec.transform_quantity is None
    unit = spec.unit_amount_decimal if per_unit else None
    return {
        "id": new_id("invoiceitem"),
        "object": "invoiceitem",
        "amount": result.amount,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "date": now,
        "description": f"Usage of {quantity:,} × {name}, {days}",
        "discountable": True,
        "discounts": [],
        "invoice": None,
        "livemode": store.scope.livemode,
        "metadata": {},
        "net_amount": result.amount,
        "parent": {
            "subscription_details": {"subscription": sub["id"], "subscription_item": item["id"]},
            "type": "subscription_details",
        },
        # An invoice item's period is inclusive at both ends (Stripe).
        "period": {"end": last, "start": start},
        "pricing": {
            "price_details": {"price": price["id"], "product": price.get("product")},
            "type": "price_details",
            "unit_amount_decimal": None if unit is None else str(unit),
        },
        "proration": False,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": list(item.get("tax_rates") or []),
        "test_clock": sub.get("test_clock"),
        "billfold_usage": {"subscription_item": item["id"], "source": source, "start": start, "end": until},
    }
