"""Outcome reversal (a Billfold extension): usage canceled after the invoice that billed it was finalized is credited
on the subscription's next invoice.

The reference customer bills AI resolutions per outcome; a resolution reopened within 24 hours is reversed with a
meter event adjustment (``cancel``). While the period's invoice is a draft, the cancel simply stops the event
counting (the draft is counted again when it finalizes). Once the invoice is finalized, Stripe bills the usage as
it was; Billfold instead adds a pending credit invoice item for the subscription, collected by its next invoice.

The credit is what the reversed units added to the billed line: ``rate(q) - rate(q - v)`` for the line's billed
quantity ``q`` (less the units reversed from it before) and the event's ``v`` units (1 for a ``count`` meter) — for
a graduated price, the top tiers' units; for a volume price, the whole line repriced. The line's own discounts
apply in the same proportion, and its tax rates go with the credit. For a ``last`` meter the reversed units are
the billed quantity less the period's last value without the canceled event; when that value is higher (the
canceled event was lower than the one before it) nothing is credited, and nothing more is charged.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, localcontext

from billfold.core.money import round_minor
from billfold.core.pricing import rate
from billfold.ids import new_id

from . import changes, invoice_facts
from .ports import Doc, ListQuery, MeterEvent, Store

FINALIZED = ("open", "paid", "uncollectible")


def _billed_lines(store: Store, event: MeterEvent, meter: Doc) -> list[tuple[Doc, Doc, Doc]]:
    """(subscription, invoice, line) of each finalized metered line of this meter that counted the event."""
    found = []
    for sub in store.iterate("subscription", {"customer": event.customer}):
        for invoice in _invoices_since(store, sub["id"], event.timestamp):
            if invoice["status"] not in FINALIZED:
                continue
            for line in invoice["lines"]["data"]:
                lin = line.get("lineage") or {}
                period = lin.get("period") or {}
                if lin.get("usage_type") != "metered" or not period.get(
                    "start", 0
                ) <= event.timestamp < period.get("end", 0):
                    continue
                price = store.get("price", lin.get("price") or "")
                if price is not None and (price.get("recurring") or {}).get("meter") == meter["id"]:
                    found.append((sub, invoice, line))
    return found


def _invoices_since(store: Store, sub_id: str, since: int) -> Iterator[Doc]:
    """The subscription's invoices created at or after ``since``: an invoice that billed usage reported at ``since``
    was made after it (at its period's end), so older invoices need not be read."""
    after = None
    while True:
        page = store.list(
            "invoice",
            ListQuery(filters={"parent": sub_id}, created={"gte": since}, limit=100, starting_after=after),
        )
        yield from page.data
        if not page.has_more or not page.data:
            return
        after = page.data[-1]["id"]


def _reversed_before(store: Store, sub_id: str, line_id: str) -> int:
    items = store.iterate("invoiceitem", {"parent": sub_id})
    return sum(
        int(ii["quantity"]) for ii in items if (ii.get("billfold_reversal") or {}).get("line") == line_id
    )


def _own_tax_rates(store: Store, invoice: Doc, line: Doc) -> list[Doc]:
    """The billed line's tax rates when they were its own; none when they were the invoice's defaults (the next
    invoice's defaults apply to the credit as they did to the charge)."""
    ids = [t["tax_rate"] for t in line["lineage"]["taxes"]]
    if ids == [r["id"] for r in invoice.get("default_tax_rates") or []]:
        return []
    found = store.get_many("tax_rate", ids)
    return [found[i] for i in ids if i in found]


def credit_invoiced_usage(store: Store, event: MeterEvent, meter: Doc, now: int) -> list[Doc]:
    """Pending credit invoice items for a canceled event whose usage was already invoiced (stored and recorded)."""
    formula = (meter.get("default_aggregation") or {}).get("formula") or "sum"
    credits = []
    for sub, invoice, line in _billed_lines(store, event, meter):
        billed = int(line["quantity"] or 0) - _reversed_before(store, sub["id"], line["id"])
        if formula == "last":
            # The line's quantity is the last value reported; without the canceled event it is the value before.
            period = line["lineage"]["period"]
            now_last, _ = invoice_facts.usage(
                store, meter["id"], sub["customer"], period["start"], period["end"]
            )
            units = billed - now_last
        else:
            units = min(billed, 1 if formula == "count" else event.value)
        if units <= 0:
            continue
        price = store.get("price", line["lineage"]["price"]) or {}
        spec = invoice_facts.price_spec(price, invoice["currency"])
        added = rate(spec, billed).amount - rate(spec, billed - units).amount
        discounted = sum(int(d["amount"]) for d in line["discount_amounts"])
        with localcontext() as ctx:
            ctx.prec = 50  # the share of a line's discounts: a quotient, rounded once to minor units
            kept = (
                Decimal(added * (line["amount"] - discounted)) / line["amount"]
                if line["amount"]
                else Decimal(0)
            )
            amount = -round_minor(kept)
        if amount == 0:
            continue
        credits.append(_credit_item(store, sub, invoice, line, price, units, amount, event, now))
    for ii in credits:
        store.insert(ii, changes.item_index(ii), created=now)
        store.record("invoiceitem.created", ii)
    return credits


def _credit_item(
    store: Store,
    sub: Doc,
    invoice: Doc,
    line: Doc,
    price: Doc,
    units: int,
    amount: int,
    event: MeterEvent,
    now: int,
) -> Doc:
    name = invoice_facts.product_name(store, price)
    item_id = ((line.get("parent") or {}).get("subscription_item_details") or {}).get("subscription_item")
    return {
        "id": new_id("invoiceitem"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": invoice["currency"],
        "customer": sub["customer"],
        "date": now,
        "description": f"Reversed usage: {units:,} × {name} (meter event {event.identifier}), "
        f"billed on invoice {invoice.get('number') or invoice['id']}",
        "discountable": False,
        "discounts": [],
        "invoice": None,
        "livemode": store.scope.livemode,
        "metadata": {},
        "net_amount": amount,
        "parent": {
            "subscription_details": {"subscription": sub["id"], "subscription_item": item_id},
            "type": "subscription_details",
        },
        "period": dict(line["period"]),
        "pricing": {
            "price_details": {"price": price.get("id"), "product": price.get("product")},
            "type": "price_details",
            "unit_amount_decimal": None,
        },
        "proration": False,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": units,
        "quantity_decimal": str(units),
        "tax_rates": _own_tax_rates(store, invoice, line),
        "test_clock": sub.get("test_clock"),
        "billfold_reversal": {
            "invoice": invoice["id"],
            "line": line["id"],
            "meter": event.event_name,
            "identifier": event.identifier,
            "units": units,
        },
    }
