"""Invoice documents: a generated ``InvoiceDraft`` as Stripe-shaped invoice and line documents, each line with its
lineage (how it was computed, a Billfold extension) and a plain-language explanation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from billfold.core.explain import explain_line
from billfold.core.invoice import DraftLine, InvoiceDraft
from billfold.ids import new_id

from .invoice_facts import discount_facts, line_item_id, subscription_id_of
from .ports import Doc, Store


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
        sub_id = subscription_id_of(item)
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
    line_items: dict[str, str] | None = None,
) -> Doc:
    """The invoice fields the generator decides: lines, totals, balance. The rest is the caller's.

    ``unstored`` gives invoice items that exist only in a preview (``create_preview``'s ``invoice_items``).
    ``line_items`` gives the subscription item of lines a stored draft already has (by line id): a line keeps its
    item when the subscription's items change during the draft window; new lines find theirs by price."""
    items_by_price = {i["price"]["id"]: i["id"] for i in (sub or {}).get("items", {}).get("data", [])}
    line_items = line_items or {}
    item_ids = [i for i in (line_item_id(line.id) for line in draft.lines) if i and i not in (unstored or {})]
    items = (store.get_many("invoiceitem", item_ids) if item_ids else {}) | (unstored or {})
    lines = [
        _line_doc(
            line,
            invoice_id,
            draft.currency,
            store.scope.livemode,
            line_items.get(line.id) or items_by_price.get(line.price_id or ""),
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
