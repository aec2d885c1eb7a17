"""Invoices: stored documents in, ``core.invoice.generate`` in the middle, invoice documents out.

The same ``draft_for_period`` feeds the bill run and the preview, so a preview equals the invoice that follows.
Lifecycle (https://docs.stripe.com/invoicing/overview): draft -> open -> paid | void | uncollectible. A renewal
draft is finalized after the draft window (one hour, as Stripe); numbers are gapless per account and prefix.

A draft stays a function of its facts: ``recompute_draft`` rebuilds its lines from the subscription lines' stored
lineage (price, quantity, period, proration seconds) and the invoice items attached to it (each at its stored
amount), and runs the generator again, so an item added during the draft window changes the draft and the totals
always add up. The line of an invoice item has the id ``il_`` + the item's id (``il_ii_...``), so a line names the
item it came from and keeps its id when the draft is recomputed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billfold.core import periods
from billfold.core.discounts import Coupon, Discount
from billfold.core.explain import explain_line
from billfold.core.invoice import (
    DraftLine,
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

from .customers import customer_index
from .errors import InvalidRequest
from .ports import ChargeResult, Doc, Index, PaymentProcessor, Store

DRAFT_WINDOW_SECONDS = 3600
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


def discount_facts(store: Store, discount_ids: list[str]) -> tuple[Discount, ...]:
    found = store.get_many("discount", discount_ids)
    out = []
    for did in discount_ids:
        d = found.get(did)
        if d is None:
            continue
        coupon = store.get("coupon", d["source"]["coupon"])
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
    product = store.get("product", price["product"]) if isinstance(price.get("product"), str) else None
    return str((product or {}).get("name") or price.get("nickname") or price["id"])


def subscription_lines(
    store: Store, sub: Doc, start: int, end: int, *, trial: bool, proration: ProrationFraction | None
) -> list[LineInput]:
    """The lines a subscription bills for the period [start, end): licensed items in advance."""
    lines: list[LineInput] = []
    for item in sub["items"]["data"]:
        price = item["price"]
        name = product_name(store, price)
        if price["recurring"].get("usage_type") == "metered":
            continue  # billed in arrears at the end of the period (usage arrives with meters)
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
        sub_id = ((ii.get("parent") or {}).get("subscription_details") or {}).get("subscription")
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
                quantity_source=f"{'proration ' if info else ''}invoice item {ii['id']}",
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


def _product_label(store: Store, product_id: str | None) -> str:
    product = store.get("product", product_id) if product_id else None
    return str((product or {}).get("name") or "")


def draft_for_items(store: Store, sub: Doc, customer: Doc, items: list[Doc], as_of: int) -> InvoiceDraft:
    """An invoice of pending proration items alone (``proration_behavior=always_invoice``)."""
    facts = InvoiceFacts(
        currency=sub["currency"],
        customer_balance=int(customer.get("balance") or 0),
        period_start=min(ii["period"]["start"] for ii in items),
        period_end=max(ii["period"]["end"] for ii in items),
        lines=tuple(proration_lines(store, sub, items)),
        default_tax_rates=tax_facts(sub.get("default_tax_rates") or []),
    )
    return generate(facts, as_of)


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
) -> InvoiceDraft:
    lines = (extra_lines or []) + subscription_lines(store, sub, start, end, trial=trial, proration=proration)
    facts = InvoiceFacts(
        currency=sub["currency"],
        customer_balance=int(customer.get("balance") or 0),
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
    """A subscription line of a stored invoice as the generator input it was computed from (its lineage)."""
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


def recompute_draft(store: Store, invoice: Doc) -> Doc:
    """Rebuild a draft from its facts (subscription lines' lineage + attached invoice items) and generate it again.

    Updates ``invoice`` in place and returns the previous values of what changed (nothing is saved here).
    """
    if invoice["status"] != "draft":
        raise InvalidRequest(f"Invoice {invoice['id']} is {invoice['status']}; only a draft can change.")
    customer = store.get("customer", invoice["customer"]) or {}
    sub_id = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    sub = store.get("subscription", sub_id) if sub_id else None
    kept = [line for line in invoice["lines"]["data"] if line_item_id(line["id"]) is None]
    lines = item_lines(store, attached_items(store, invoice)) + [
        line_from_doc(store, line, sub, invoice) for line in kept
    ]
    facts = InvoiceFacts(
        currency=invoice["currency"],
        customer_balance=int(customer.get("balance") or 0),
        period_start=invoice["period_start"],
        period_end=invoice["period_end"],
        lines=tuple(lines),
        invoice_discounts=discount_facts(store, invoice.get("discounts") or []),
        default_tax_rates=tax_facts(invoice.get("default_tax_rates") or []),
    )
    computed = computed_fields(store, generate(facts, int(invoice["created"])), invoice["id"], sub)
    previous = {k: invoice.get(k) for k, v in computed.items() if invoice.get(k) != v}
    invoice.update(computed)
    return previous


def refresh_draft(store: Store, invoice: Doc) -> Doc:
    """Recompute a draft after its facts changed and save it with ``invoice.updated`` when anything moved."""
    previous = recompute_draft(store, invoice)
    if previous:
        store.replace(invoice, index(invoice))
        store.record("invoice.updated", invoice, previous_attributes=_public(previous))
    return invoice


def _public(values: Doc) -> Doc:
    return {k: v for k, v in values.items() if not k.startswith("billfold_")}


# -- draft -> documents ------------------------------------------------------------------------------------------
def _tax_amounts(taxes: Any) -> list[Doc]:
    return [
        {
            "amount": t.amount,
            "tax_behavior": "inclusive" if t.inclusive else "exclusive",
            "tax_rate_details": {"tax_rate": t.tax_rate_id},
            "taxability_reason": "standard_rated",
            "taxable_amount": t.taxable_amount,
            "type": "tax_rate_details",
        }
        for t in taxes
    ]


def _line_parent(line: DraftLine, sub_item: str | None, item: Doc | None) -> Doc | None:
    if item is not None and not item.get("billfold_proration"):
        sub_id = ((item.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        return {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": bool(item.get("proration")),
                "proration_details": {"credited_items": None},
                "subscription": sub_id,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    if not line.subscription_id:
        return None
    if item is not None:
        sub_item = item["billfold_proration"].get("subscription_item") or sub_item
    return {
        "invoice_item_details": None,
        "subscription_item_details": {
            "invoice_item": None if item is None else item["id"],
            "proration": line.proration,
            "proration_details": {"credited_items": None},
            "subscription": line.subscription_id,
            "subscription_item": sub_item,
        },
        "type": "subscription_item_details",
    }


def _line_doc(
    line: DraftLine, invoice_id: str, currency: str, livemode: bool, sub_item: str | None, item: Doc | None
) -> Doc:
    if item is not None:
        # Show the item's own (inclusive) period, not the generator's half-open one.
        line = replace(line, period_start=item["period"]["start"], period_end=item["period"]["end"])
    pricing: Doc | None = None
    if item is not None and item.get("pricing") and not item.get("billfold_proration"):
        pricing = item["pricing"]
    elif line.price_id:
        pricing = {
            "price_details": {"price": line.price_id, "product": line.product_id},
            "type": "price_details",
            "unit_amount_decimal": None
            if line.unit_amount_decimal is None
            else str(line.unit_amount_decimal),
        }
    return {
        "id": line.id,
        "object": "line_item",
        "amount": line.amount,
        "currency": currency,
        "description": line.description,
        "discount_amounts": [{"amount": d.amount, "discount": d.discount_id} for d in line.discount_amounts],
        "discountable": line.discountable,
        "discounts": [d.discount_id for d in line.discount_amounts if d.level == "line"],
        "invoice": invoice_id,
        "livemode": livemode,
        "metadata": dict((item or {}).get("metadata") or {}),
        "parent": _line_parent(line, sub_item, item),
        "period": {"end": line.period_end, "start": line.period_start},
        "pretax_credit_amounts": [],
        "pricing": pricing,
        "quantity": line.quantity,
        "subscription": line.subscription_id,
        "subtotal": line.amount,
        "taxes": _tax_amounts(line.taxes),
        "lineage": lineage(line),
        "explanation": explain_line(line, currency),
    }


def lineage(line: DraftLine) -> Doc:
    """How the line was computed (a Billfold extension): the same data the explanation and the PDF use."""
    return {
        "price": line.price_id,
        "product": line.product_id,
        "quantity": line.quantity,
        "quantity_source": line.quantity_source,
        "usage_type": line.usage_type,
        "pricing_model": None if line.pricing_model is None else line.pricing_model.value,
        "unit_amount_decimal": None if line.unit_amount_decimal is None else str(line.unit_amount_decimal),
        "billed_quantity": line.billed_quantity,
        "tiers": [
            {
                "tier": t.tier_index,
                "from": t.from_quantity,
                "up_to": t.up_to,
                "quantity": t.quantity,
                "unit_amount_decimal": str(t.unit_amount_decimal),
                "flat_amount_decimal": str(t.flat_amount_decimal),
                "amount_decimal": str(t.exact_amount),
            }
            for t in line.tiers
        ],
        "period": {"start": line.period_start, "end": line.period_end},
        "proration": None
        if line.proration_fraction is None
        else {
            "seconds": line.proration_fraction.numerator,
            "period_seconds": line.proration_fraction.denominator,
        },
        "amount_decimal": str(line.exact_amount),
        "amount": line.amount,
        "discounts": [
            {
                "discount": d.discount_id,
                "coupon": d.coupon_id,
                "level": str(d.level),
                "amount": d.amount,
                "percent_off": None if d.percent_off is None else str(d.percent_off),
                "amount_off": d.amount_off,
            }
            for d in line.discount_amounts
        ],
        "taxes": [
            {
                "tax_rate": t.tax_rate_id,
                "percentage": str(t.percentage),
                "inclusive": t.inclusive,
                "taxable_amount": t.taxable_amount,
                "amount": t.amount,
            }
            for t in line.taxes
        ],
    }


def computed_fields(
    store: Store,
    draft: InvoiceDraft,
    invoice_id: str,
    sub: Doc | None,
    unstored: dict[str, Doc] | None = None,
) -> Doc:
    """The invoice fields the generator decides: lines, totals, balance. The rest is the caller's.

    ``unstored`` gives invoice items that exist only in a preview (``create_preview``'s ``invoice_items``)."""
    items_by_price = {i["price"]["id"]: i["id"] for i in (sub or {}).get("items", {}).get("data", [])}
    item_ids = [i for i in (line_item_id(line.id) for line in draft.lines) if i and i not in (unstored or {})]
    items = (store.get_many("invoiceitem", item_ids) if item_ids else {}) | (unstored or {})
    lines = [
        _line_doc(
            line,
            invoice_id,
            draft.currency,
            store.scope.livemode,
            items_by_price.get(line.price_id or ""),
            items.get(line_item_id(line.id) or ""),
        )
        for line in draft.lines
    ]
    return {
        "amount_due": draft.amount_due,
        "amount_remaining": draft.amount_due,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "period_end": draft.period_end,
        "period_start": draft.period_start,
        "starting_balance": draft.starting_balance,
        "subtotal": draft.subtotal,
        "subtotal_excluding_tax": draft.subtotal_excluding_tax,
        "total": draft.total,
        "total_discount_amounts": [
            {"amount": d.amount, "discount": d.discount_id} for d in draft.total_discount_amounts
        ],
        "total_excluding_tax": draft.total_excluding_tax,
        "total_taxes": _tax_amounts(draft.total_taxes),
        "billfold_applied_balance": draft.applied_balance,
        "billfold_ending_balance": draft.ending_balance,
    }


def invoice_doc(
    store: Store,
    draft: InvoiceDraft,
    customer: Doc,
    sub: Doc | None,
    *,
    billing_reason: str,
    now: int,
    invoice_id: str | None = None,
    unstored: dict[str, Doc] | None = None,
) -> Doc:
    invoice_id = invoice_id or new_id("invoice")
    collection = (sub or {}).get("collection_method") or "charge_automatically"
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": None,
        "account_name": None,
        "account_tax_ids": None,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": collection,
        "created": now,
        "currency": draft.currency,
        "custom_fields": (customer.get("invoice_settings") or {}).get("custom_fields"),
        "customer": customer["id"],
        "customer_address": customer.get("address"),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": customer.get("shipping"),
        "customer_tax_exempt": customer.get("tax_exempt"),
        "customer_tax_ids": [
            {"type": t["type"], "value": t["value"]} for t in (customer.get("tax_ids") or {}).get("data", [])
        ],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": (sub or {}).get("default_tax_rates") or [],
        "description": None,
        # The subscription's discounts in effect when the invoice is made (an ended one is no longer applied).
        "discounts": [
            d.id for d in discount_facts(store, (sub or {}).get("discounts") or []) if d.is_active(now)
        ],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": (customer.get("invoice_settings") or {}).get("footer"),
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "livemode": store.scope.livemode,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": sub.get("metadata") or {}, "subscription": sub["id"]},
            "type": "subscription_details",
        }
        if sub
        else None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "test_clock": customer.get("test_clock"),
        "webhooks_delivered_at": None,
    } | computed_fields(store, draft, invoice_id, sub, unstored)


def due_at(doc: Doc) -> int | None:
    """When the worker must act on the invoice: finalize a draft after its window, or retry a failed payment."""
    if not doc.get("auto_advance"):
        return None
    if doc["status"] == "draft":
        return doc.get("automatically_finalizes_at")
    if doc["status"] == "open" and doc["collection_method"] == "charge_automatically":
        return doc.get("next_payment_attempt")
    return None


def index(doc: Doc) -> Index:
    due = due_at(doc)
    sub = (doc.get("parent") or {}).get("subscription_details") or {}
    return Index(
        customer=doc["customer"],
        status=doc["status"],
        currency=doc["currency"],
        test_clock=doc.get("test_clock"),
        parent=sub.get("subscription"),
        due_at=due,
    )


def create_draft(store: Store, doc: Doc) -> Doc:
    store.insert(doc, index(doc), created=doc["created"])
    store.record("invoice.created", doc)
    return doc


def save(store: Store, doc: Doc, event: str | None) -> None:
    store.replace(doc, index(doc))
    if event:
        store.record(event, doc)


# -- lifecycle ---------------------------------------------------------------------------------------------------
def finalize(store: Store, doc: Doc, now: int) -> Doc:
    if doc["status"] != "draft":
        raise InvalidRequest(f"This invoice is already finalized (status {doc['status']}).", param="invoice")
    customer = store.get("customer", doc["customer"], for_update=True) or {}  # its balance changes
    prefix = customer.get("invoice_prefix") or "INV"
    doc["number"] = store.next_invoice_number(prefix, doc["id"])
    doc["status"] = "open"
    doc["status_transitions"]["finalized_at"] = now
    doc["effective_at"] = now
    doc["automatically_finalizes_at"] = None
    # Apply the customer balance now, as Stripe does at finalization.
    applied = int(doc.get("billfold_applied_balance") or 0)
    doc["ending_balance"] = int(doc.get("billfold_ending_balance") or 0)
    if customer and applied:
        before = int(customer.get("balance") or 0)
        customer["balance"] = before - applied
        store.replace(customer, customer_index(customer))
        # The balance applied to the invoice is a change of the customer: its event and audit row.
        store.record("customer.updated", customer, previous_attributes={"balance": before})
    if doc["collection_method"] == "send_invoice" and doc.get("due_date") is None:
        sub_id = ((doc.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        sub = store.get("subscription", sub_id) if sub_id else None
        days = doc.get("billfold_days_until_due")
        if days is None:
            days = (sub or {}).get("days_until_due") or 30
        doc["due_date"] = now + int(days) * 86400
    save(store, doc, "invoice.finalized")
    if doc["amount_due"] == 0:
        mark_paid(store, doc, now, out_of_band=False)
    return doc


def mark_paid(store: Store, doc: Doc, now: int, *, out_of_band: bool) -> Doc:
    doc["amount_paid"] = doc["amount_due"]
    doc["amount_remaining"] = 0
    doc["status"] = "paid"
    doc["status_transitions"]["paid_at"] = now
    doc["next_payment_attempt"] = None
    if out_of_band:
        doc["amount_paid_off_stripe"] = doc["amount_due"]
    save(store, doc, "invoice.paid")
    return doc


def payment_method_for(store: Store, doc: Doc) -> str | None:
    if doc.get("default_payment_method"):
        return str(doc["default_payment_method"])
    sub_id = ((doc.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    sub = store.get("subscription", sub_id) if sub_id else None
    if sub and sub.get("default_payment_method"):
        return str(sub["default_payment_method"])
    customer = store.get("customer", doc["customer"]) or {}
    pm = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return str(pm) if pm else None


def attempt_payment(
    store: Store, doc: Doc, now: int, processor: PaymentProcessor, payment_method: str | None = None
) -> ChargeResult:
    if doc["status"] != "open":
        raise InvalidRequest(f"Invoice is {doc['status']}; only open invoices can be paid.", param="invoice")
    pm = payment_method or payment_method_for(store, doc)
    doc["attempt_count"] = int(doc.get("attempt_count") or 0) + 1
    doc["attempted"] = True
    if pm is None:
        result = ChargeResult(
            False,
            decline_code="payment_method_missing",
            message="The customer has no default payment method.",
        )
    else:
        result = processor.charge(
            payment_method=pm,
            amount=doc["amount_remaining"],
            currency=doc["currency"],
            customer=doc["customer"],
            idempotency_key=f"{doc['id']}:{doc['attempt_count']}",
        )
    if result.succeeded:
        # The charge a refund (credit note) goes back to; Stripe keeps it on the invoice's payments.
        doc["billfold_charge"] = result.charge_id
        mark_paid(store, doc, now, out_of_band=False)
    else:
        doc["last_finalization_error"] = None
        doc["next_payment_attempt"] = None
        save(store, doc, "invoice.payment_failed")
    return result


def void(store: Store, doc: Doc, now: int) -> Doc:
    if doc["status"] != "open":
        raise InvalidRequest(
            f"You can only void an open invoice; this one is {doc['status']}.", param="invoice"
        )
    doc["status"] = "void"
    doc["amount_remaining"] = 0
    doc["status_transitions"]["voided_at"] = now
    save(store, doc, "invoice.voided")
    return doc


def send(store: Store, doc: Doc, now: int) -> Doc:
    """Send a ``send_invoice`` invoice to the customer (https://docs.stripe.com/api/invoices/send): a draft is
    finalized first. Billfold records ``invoice.sent``; e-mail delivery arrives with a later issue."""
    if doc["collection_method"] != "send_invoice":
        raise InvalidRequest(
            "You can only manually send an invoice if its collection method is 'send_invoice'.",
            param="collection_method",
        )
    if doc["status"] == "void":
        raise InvalidRequest("This invoice is void and can't be sent.", param="invoice")
    if doc["status"] == "draft":
        finalize(store, doc, now)
    store.record("invoice.sent", doc)
    return doc


def mark_uncollectible(store: Store, doc: Doc, now: int) -> Doc:
    if doc["status"] != "open":
        raise InvalidRequest(
            f"Only an open invoice can be marked uncollectible; this one is {doc['status']}.", param="invoice"
        )
    doc["status"] = "uncollectible"
    doc["status_transitions"]["marked_uncollectible_at"] = now
    save(store, doc, "invoice.marked_uncollectible")
    return doc


def next_period(sub: Doc, start: int) -> tuple[int, int]:
    rec = sub["items"]["data"][0]["price"]["recurring"]
    anchor = int(sub["billing_cycle_anchor"])
    interval, count = rec["interval"], int(rec.get("interval_count", 1))
    return periods.period_containing(anchor, interval, count, start)
