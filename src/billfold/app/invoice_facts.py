"""Invoice facts: stored documents (subscriptions, prices, coupons, tax rates, invoice items, stored lines) as the
inputs of the pure generator ``core.invoice.generate``.

``draft_for_period`` feeds both the bill run and the preview, so a preview equals the invoice that follows. A stored
subscription line is turned back into its input from its lineage (``line_from_doc``), which is how a draft is
recomputed when its facts change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billfold.core.discounts import Coupon, Discount
from billfold.core.invoice import (
    InvoiceDraft,
    InvoiceFacts,
    LineInput,
    PendingItemLine,
    ProrationFraction,
    SubscriptionItemLine,
    generate,
)
from billfold.core.pricing import BillingScheme, PriceSpec, Tier, TransformQuantity
from billfold.core.tax import TaxRate
from billfold.ids import new_id

from .customers import balance_in
from .ports import Doc, Store

ITEM_LINE_PREFIX = "il_ii_"


def item_line_id(item_id: str) -> str:
    """The id of the invoice line an invoice item becomes: stable, so a recomputed draft keeps its line ids."""
    return "il_" + item_id


def line_item_id(line_id: str) -> str | None:
    """The invoice item a line came from, or None for a subscription line."""
    return line_id[3:] if line_id.startswith(ITEM_LINE_PREFIX) else None


# -- documents -> facts ------------------------------------------------------------------------------------------
def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def price_spec(price: Doc, currency: str) -> PriceSpec:
    """The pricing facts of a price in one currency (the price's own, or its ``currency_options`` entry)."""
    src: Doc = price if price["currency"] == currency else (price.get("currency_options") or {})[currency]
    scheme: BillingScheme = "tiered" if price.get("billing_scheme") == "tiered" else "per_unit"
    tq = price.get("transform_quantity")
    tiers = tuple(
        Tier(
            up_to=None if t.get("up_to") in (None, "inf") else int(t["up_to"]),
            unit_amount_decimal=_dec(t.get("unit_amount_decimal", t.get("unit_amount"))),
            flat_amount_decimal=_dec(t.get("flat_amount_decimal", t.get("flat_amount"))),
        )
        for t in (src.get("tiers") or [])
    )
    return PriceSpec(
        billing_scheme=scheme,
        unit_amount_decimal=_dec(src.get("unit_amount_decimal", src.get("unit_amount"))),
        tiers_mode=price.get("tiers_mode"),
        tiers=tiers,
        transform_quantity=TransformQuantity(int(tq["divide_by"]), tq["round"]) if tq else None,
    )


def coupon_fact(coupon: Doc) -> Coupon:
    options = tuple(
        sorted((cur, int(opt["amount_off"])) for cur, opt in (coupon.get("currency_options") or {}).items())
    )
    applies = (coupon.get("applies_to") or {}).get("products")
    return Coupon(
        id=coupon["id"],
        percent_off=_dec(coupon.get("percent_off")),
        amount_off=coupon.get("amount_off"),
        currency=coupon.get("currency"),
        currency_options=options,
        applies_to_products=tuple(applies) if applies else None,
        name=coupon.get("name"),
    )


def subscription_id_of(doc: Doc) -> str | None:
    """The subscription an invoice, invoice item or line belongs to (``parent.subscription_details``), if any."""
    sub_id = ((doc.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    return str(sub_id) if sub_id else None


def discount_facts(store: Store, discount_ids: list[str]) -> tuple[Discount, ...]:
    out = []
    for did in discount_ids:
        d = store.view("discount", did)  # read-only, decoded once per version the unit of work holds
        if d is None or d.get("deleted"):
            continue
        coupon = store.view("coupon", d["source"]["coupon"])
        if coupon is None:
            continue
        out.append(Discount(id=did, coupon=coupon_fact(coupon), start=d.get("start"), end=d.get("end")))
    return tuple(out)


def tax_facts(rates: list[Doc]) -> tuple[TaxRate, ...]:
    return tuple(
        TaxRate(
            id=r["id"],
            percentage=Decimal(str(r["percentage"])),
            inclusive=bool(r["inclusive"]),
            display_name=r.get("display_name") or "Tax",
            jurisdiction=r.get("jurisdiction"),
        )
        for r in rates
    )


def product_name(store: Store, price: Doc) -> str:
    product = store.view("product", price["product"]) if isinstance(price.get("product"), str) else None
    return str((product or {}).get("name") or price.get("nickname") or price["id"])


def subscription_lines(
    store: Store, sub: Doc, start: int, end: int, *, trial: bool, proration: ProrationFraction | None
) -> list[LineInput]:
    """The lines a subscription bills in advance for the period [start, end): its licensed items. Metered items
    are billed in arrears by ``usage_lines``."""
    lines: list[LineInput] = []
    for item in sub["items"]["data"]:
        price = item["price"]
        if is_metered(price):
            continue
        name = product_name(store, price)
        qty = int(item.get("quantity") or 0)
        if trial:
            lines.append(
                PendingItemLine(
                    id=new_id("line_item"),
                    description=f"Trial period for {name}",
                    amount=0,
                    period_start=start,
                    period_end=end,
                    quantity=qty,
                    price_id=price["id"],
                    product_id=price["product"],
                    quantity_source="seats",
                    subscription_id=sub["id"],
                )
            )
            continue
        lines.append(
            SubscriptionItemLine(
                id=new_id("line_item"),
                price_id=price["id"],
                product_id=price["product"],
                description=name,
                spec=price_spec(price, sub["currency"]),
                quantity=qty,
                period_start=start,
                period_end=end,
                quantity_source=f"seats on subscription item {item['id']}",
                proration=proration is not None,
                proration_fraction=proration,
                discounts=discount_facts(store, item.get("discounts") or []),
                tax_rates=tax_facts(item.get("tax_rates") or []),
                subscription_id=sub["id"],
            )
        )
    return lines


# -- metered usage -----------------------------------------------------------------------------------------------
def is_metered(price: Doc) -> bool:
    return bool((price.get("recurring") or {}).get("usage_type") == "metered")


def usage(store: Store, meter_id: str | None, customer_id: str, start: int, end: int) -> tuple[int, str]:
    """The usage a meter aggregated for a customer over [start, end), and where it came from (for the lineage).

    The meter's ``default_aggregation.formula`` decides: ``sum`` of the events' values, ``count`` of events, or the
    ``last`` value reported (https://docs.stripe.com/billing/subscriptions/usage-based/meters/configure). Canceled
    events (a meter event adjustment) do not count. Usage below zero bills nothing."""
    meter = store.get("billing.meter", meter_id) if meter_id else None
    if meter is None:
        return 0, f"no meter {meter_id}" if meter_id else "no meter"
    formula = (meter.get("default_aggregation") or {}).get("formula") or "sum"
    [(_, value)] = store.meter_usage(meter["event_name"], customer_id, start, end, formula)
    what = {"sum": "sum of values", "count": "count", "last": "last value"}.get(formula, formula)
    return max(0, value), f"meter {meter['id']} '{meter['event_name']}', {what}"


# On an invoice whose usage lines are a subscription's last (its final invoice at cancellation or at the end of
# its last period): they count usage through the second the period ends, so a recompute does the same.
USAGE_THROUGH_END = "billfold_usage_through_end"


def usage_line(
    store: Store,
    sub: Doc,
    item_id: str,
    price: Doc,
    start: int,
    end: int,
    *,
    line_id: str | None = None,
    discounts: tuple[Discount, ...] | None = None,
    tax_rates: tuple[TaxRate, ...] | None = None,
    through_end: bool = False,
) -> SubscriptionItemLine:
    """One metered item's usage over [start, end) as a line billed in arrears (its period is the usage's).

    ``through_end``: over [start, end], for usage that no later period will bill (the item or its subscription
    ends at ``end``): an event reported in the very second of a cancellation is billed, not lost."""
    meter = (price.get("recurring") or {}).get("meter")
    quantity, source = usage(store, meter, sub["customer"], start, end + 1 if through_end else end)
    item = next((i for i in sub["items"]["data"] if i["id"] == item_id), None) or {}
    return SubscriptionItemLine(
        id=line_id or new_id("line_item"),
        price_id=price["id"],
        product_id=price["product"],
        description=product_name(store, price),
        spec=price_spec(price, sub["currency"]),
        quantity=quantity,
        period_start=start,
        period_end=end,
        usage_type="metered",
        quantity_source=f"usage on subscription item {item_id}: {source}",
        discounts=discounts if discounts is not None else discount_facts(store, item.get("discounts") or []),
        tax_rates=tax_rates if tax_rates is not None else tax_facts(item.get("tax_rates") or []),
        subscription_id=sub["id"],
    )


def usage_lines(
    store: Store, sub: Doc, start: int, end: int, *, through_end: bool = False
) -> list[LineInput]:
    """The metered items' usage over [start, end) (``through_end``: [start, end]), billed in arrears: each item
    counts from when it was added (an item added mid-period does not bill usage reported before it existed)."""
    lines: list[LineInput] = []
    for item in sub["items"]["data"]:
        if not is_metered(item["price"]):
            continue
        since = max(start, int(item.get("created") or start), int(item.get("billfold_usage_since") or start))
        if since < end or (through_end and since == end):
            lines.append(
                usage_line(store, sub, item["id"], item["price"], since, end, through_end=through_end)
            )
    return lines


def proration_lines(store: Store, sub: Doc, items: list[Doc]) -> list[LineInput]:
    """Pending invoice items of a subscription as generator lines (prorations and items added by hand)."""
    return item_lines(store, items)


def item_lines(
    store: Store, items: list[Doc], discounts: dict[str, tuple[Discount, ...]] | None = None
) -> list[LineInput]:
    """Invoice items as generator lines. An item's ``amount`` is what it charges, so each line has that fixed amount
    (a proration's is based on what was billed for the time, https://docs.stripe.com/billing/subscriptions/
    prorations); price, quantity and a proration's fraction of the period ride along as lineage. ``discounts``
    gives the discounts of items that are not stored (a preview)."""
    lines: list[LineInput] = []
    for ii in items:
        info = ii.get("billfold_proration")
        sub_id = subscription_id_of(ii)
        details = (ii.get("pricing") or {}).get("price_details") or {}
        unit = (ii.get("pricing") or {}).get("unit_amount_decimal")
        own = (discounts or {}).get(ii["id"])
        start, end = int(ii["period"]["start"]), int(ii["period"]["end"])
        lines.append(
            PendingItemLine(
                id=item_line_id(ii["id"]),
                description=ii.get("description") or _product_label(store, details.get("product")),
                amount=int(ii["amount"]),
                # An item's period is inclusive at both ends (Stripe); the generator's is half-open.
                period_start=start,
                period_end=max(end, start + 1),
                quantity=int(ii.get("quantity") or 0),
                unit_amount_decimal=None if unit is None else Decimal(str(unit)),
                price_id=details.get("price"),
                product_id=details.get("product"),
                quantity_source=_item_source(ii),
                proration=bool(ii.get("proration")),
                proration_fraction=None
                if not info
                else ProrationFraction(int(info["seconds"]), int(info["period_seconds"])),
                discounts=own if own is not None else discount_facts(store, ii.get("discounts") or []),
                tax_rates=tax_facts(ii.get("tax_rates") or []),
                discountable=None if ii.get("proration") else bool(ii.get("discountable")),
                subscription_id=sub_id,
            )
        )
    return lines


def _item_source(ii: Doc) -> str:
    used = ii.get("billfold_usage")
    if used:
        return f"usage invoice item {ii['id']} for subscription item {used['subscription_item']}: {used['source']}"
    return f"{'proration ' if ii.get('billfold_proration') else ''}invoice item {ii['id']}"


def _product_label(store: Store, product_id: str | None) -> str:
    product = store.get("product", product_id) if product_id else None
    return str((product or {}).get("name") or "")


def draft_for_items(
    store: Store,
    sub: Doc,
    customer: Doc,
    items: list[Doc],
    as_of: int,
    *,
    usage_period: tuple[int, int] | None = None,
) -> InvoiceDraft:
    """An invoice of pending items (``proration_behavior=always_invoice``, a final invoice at cancellation) and,
    with ``usage_period``, the metered items' usage over it not invoiced yet: the subscription's last, so through
    its end (an event reported in the second it ends is billed here or nowhere)."""
    lines = proration_lines(store, sub, items) + (
        usage_lines(store, sub, *usage_period, through_end=True) if usage_period else []
    )
    starts = [ii["period"]["start"] for ii in items] + ([usage_period[0]] if usage_period else [])
    ends = [ii["period"]["end"] for ii in items] + ([usage_period[1]] if usage_period else [])
    facts = InvoiceFacts(
        currency=sub["currency"],
        customer_balance=balance_in(customer, sub["currency"]),
        period_start=min(starts),
        period_end=max(ends),
        lines=tuple(lines),
        default_tax_rates=tax_facts(sub.get("default_tax_rates") or []),
    )
    return generate(facts, as_of)


def has_metered_items(sub: Doc) -> bool:
    return any(is_metered(item["price"]) for item in sub["items"]["data"])


def format_day(t: int) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%b %-d, %Y")


def draft_for_period(
    store: Store,
    sub: Doc,
    customer: Doc,
    start: int,
    end: int,
    as_of: int,
    *,
    trial: bool = False,
    proration: ProrationFraction | None = None,
    extra_lines: list[LineInput] | None = None,
    usage_period: tuple[int, int] | None = None,
) -> InvoiceDraft:
    """The invoice of a subscription's period [start, end): ``extra_lines`` (pending items), the licensed items in
    advance and, with ``usage_period``, the metered items' usage over that (previous) period in arrears."""
    lines = (extra_lines or []) + subscription_lines(store, sub, start, end, trial=trial, proration=proration)
    if usage_period is not None:
        lines += usage_lines(store, sub, *usage_period)
    facts = InvoiceFacts(
        currency=sub["currency"],
        customer_balance=balance_in(customer, sub["currency"]),
        period_start=start,
        period_end=end,
        lines=tuple(lines),
        invoice_discounts=discount_facts(store, sub.get("discounts") or []),
        default_tax_rates=tax_facts(sub.get("default_tax_rates") or []),
    )
    return generate(facts, as_of)


# -- recomputing a draft -----------------------------------------------------------------------------------------
def attached_items(store: Store, invoice: Doc) -> list[Doc]:
    """The invoice items on an invoice, oldest first (the order a renewal collects pending items in)."""
    found = store.iterate("invoiceitem", {"customer": invoice["customer"], "status": "invoiced"})
    return list(reversed([ii for ii in found if ii.get("invoice") == invoice["id"]]))


def _own_tax_rates(store: Store, line: Doc, sub: Doc | None, invoice: Doc) -> tuple[TaxRate, ...]:
    """A subscription line's own tax rates: its subscription item's; failing that, the rates its lineage shows
    unless those are the invoice's defaults."""
    sub_item = ((line.get("parent") or {}).get("subscription_item_details") or {}).get("subscription_item")
    for item in (sub or {}).get("items", {}).get("data", []):
        if item["id"] == sub_item:
            return tax_facts(item.get("tax_rates") or [])
    ids = [t["tax_rate"] for t in line["lineage"]["taxes"]]
    if ids == [r["id"] for r in invoice.get("default_tax_rates") or []]:
        return ()
    found = store.get_many("tax_rate", ids)
    return tax_facts([found[i] for i in ids if i in found])


def line_from_doc(store: Store, line: Doc, sub: Doc | None, invoice: Doc) -> LineInput:
    """A subscription line of a stored invoice as the generator input it was computed from (its lineage); a
    metered line's usage is aggregated again for its period."""
    lin = line["lineage"]
    details = (line.get("parent") or {}).get("subscription_item_details") or {}
    own = discount_facts(store, [d["discount"] for d in lin["discounts"] if d["level"] == "line"])
    rates = _own_tax_rates(store, line, sub, invoice)
    period = lin["period"]
    price = store.get("price", lin["price"]) if lin.get("price") else None
    proration = lin.get("proration")
    if price is None or price.get("deleted") or lin.get("pricing_model") is None:
        return PendingItemLine(
            id=line["id"],
            description=line["description"] or "",
            amount=int(lin["amount"]),
            period_start=period["start"],
            period_end=period["end"],
            quantity=int(lin["quantity"] or 0),
            price_id=lin.get("price"),
            product_id=lin.get("product"),
            quantity_source=lin.get("quantity_source") or "",
            proration=bool(details.get("proration")),
            discounts=own,
            tax_rates=rates,
            subscription_id=details.get("subscription"),
        )
    if lin.get("usage_type") == "metered" and sub is not None:
        # Usage is counted again: events reported late (during the draft window) for the period are included.
        item_id = details.get("subscription_item") or ""
        start, end = period["start"], period["end"]
        # A final invoice's usage counts through its end again, as when it was made.
        through_end = bool(invoice.get(USAGE_THROUGH_END))
        return usage_line(
            store,
            sub,
            item_id,
            price,
            start,
            end,
            line_id=line["id"],
            discounts=own,
            tax_rates=rates,
            through_end=through_end,
        )
    return SubscriptionItemLine(
        id=line["id"],
        price_id=price["id"],
        product_id=price["product"],
        description=line["description"] or "",
        spec=price_spec(price, invoice["currency"]),
        quantity=int(lin["quantity"]),
        period_start=period["start"],
        period_end=period["end"],
        usage_type="metered" if lin.get("usage_type") == "metered" else "licensed",
        quantity_source=lin.get("quantity_source") or "",
        proration=bool(details.get("proration")),
        proration_fraction=None
        if proration is None
        else ProrationFraction(int(proration["seconds"]), int(proration["period_seconds"])),
        credit=Decimal(str(lin["amount_decimal"])) < 0,
        discounts=own,
        tax_rates=rates,
        subscription_id=details.get("subscription"),
    )
