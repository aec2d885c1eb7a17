"""One-off invoices (``POST /v1/invoices``) and previews of a customer's next one. A one-off invoice starts as a
draft; with ``auto_advance`` the worker finalizes it after the draft window (``invoicing.due_at``), without it it stays
a draft until finalized by hand. Its invoice items come from ``invoice_items``.
"""

from __future__ import annotations

from typing import Any

from billfold.core.discounts import Discount
from billfold.core.invoice import InvoiceFacts, generate
from billfold.ids import new_id

from . import changes, invoice_documents, invoice_facts, invoicing
from .customers import get_customer
from .errors import InvalidRequest, ResourceMissing
from .invoice_items import (
    MergeMeta,
    charge,
    charge_fields,
    item_period,
    pending_for_customer,
    store_discounts,
    tax_rates,
)
from .ports import Doc, Store
from .subscriptions import customer_now, resolve_discounts


# -- previews of a customer's next one-off invoice -----------------------------------------------------------------
def preview_item(
    store: Store, customer: Doc, now: int, values: dict[str, Any], n: int
) -> tuple[Doc, tuple[Discount, ...]]:
    """An ``invoice_items[n]`` line of ``create_preview`` as an (unstored) invoice item and its discounts."""
    prefix = f"invoice_items[{n}]"
    c = charge(store, values, customer.get("currency"), prefix)
    discounts = resolve_discounts(store, values.get("discounts"), f"{prefix}[discounts]", now, customer["id"])
    facts = tuple(
        Discount(id=d["id"], coupon=invoice_facts.coupon_fact(d["coupon"]), start=d["start"], end=d["end"])
        for d in discounts
    )
    doc: Doc = {
        "id": new_id("invoiceitem"),
        "object": "invoiceitem",
        "customer": customer["id"],
        "description": values.get("description") or None,
        "discounts": [d["id"] for d in discounts],
        "metadata": values.get("metadata") or {},
        "parent": None,
        "period": item_period(values, now, f"{prefix}[period]"),
        "proration": False,
        "tax_rates": tax_rates(store, values.get("tax_rates"), f"{prefix}[tax_rates]"),
    } | charge_fields(c, c.price, values.get("discountable"))
    if c.price_data is not None:
        doc["pricing"]["price_details"] = {"price": None, "product": c.product}
    return doc, facts


# -- one-off invoices -------------------------------------------------------------------------------------------
# What a finalized invoice still lets change (https://docs.stripe.com/api/invoices/update: "Once an invoice is
# finalized, monetary values, as well as collection_method, become uneditable").
AFTER_FINALIZATION = ("custom_fields", "description", "footer", "metadata", "auto_advance")
FIVE_YEARS = 1827 * 86400


def _check_terms(values: dict[str, Any], collection: str, now: int) -> None:
    days, due = values.get("days_until_due"), values.get("due_date")
    if days is not None and due is not None:
        raise InvalidRequest(
            "You may only specify one of these parameters: days_until_due, due_date.", param="due_date"
        )
    for name, value in (("days_until_due", days), ("due_date", due)):
        if value is not None and collection != "send_invoice":
            raise InvalidRequest(
                f"{name} can only be set when collection_method is send_invoice.", param=name
            )
    if due is not None and int(due) <= now:
        raise InvalidRequest("due_date must be in the future.", param="due_date")
    at = values.get("automatically_finalizes_at")
    if at is not None and not now < int(at) <= now + FIVE_YEARS:
        raise InvalidRequest(
            "automatically_finalizes_at must be in the future, at most 5 years ahead.",
            param="automatically_finalizes_at",
        )


def _apply_terms(doc: Doc, values: dict[str, Any], now: int) -> None:
    if "collection_method" in values:
        doc["collection_method"] = values["collection_method"]
        if values["collection_method"] == "charge_automatically":
            doc["due_date"], doc["billfold_days_until_due"] = None, None
    if values.get("days_until_due") is not None:
        doc["billfold_days_until_due"], doc["due_date"] = int(values["days_until_due"]), None
    if values.get("due_date") is not None:
        doc["due_date"], doc["billfold_days_until_due"] = int(values["due_date"]), None
    if "auto_advance" in values:
        doc["auto_advance"] = bool(values["auto_advance"])
    if doc["status"] == "draft" and ("auto_advance" in values or "automatically_finalizes_at" in values):
        # https://docs.stripe.com/invoicing/integration/automatic-advancement-collection: with auto_advance, a
        # draft is finalized after the draft window (one hour) unless a time is given.
        at = values.get("automatically_finalizes_at") or doc.get("automatically_finalizes_at")
        doc["automatically_finalizes_at"] = (
            (at or now + invoicing.DRAFT_WINDOW_SECONDS) if doc["auto_advance"] else None
        )
    for key in ("description", "footer", "custom_fields", "default_payment_method"):
        if key in values:
            doc[key] = values[key] or None


def create_invoice(store: Store, wall_now: int, values: dict[str, Any]) -> Doc:
    """A one-off draft invoice for a customer, with its pending items when asked (Stripe's default: exclude)."""
    customer = get_customer(store, values["customer"], param="customer")
    now = customer_now(store, customer, wall_now)
    include = values.get("pending_invoice_items_behavior") == "include"
    currency = values.get("currency") or customer.get("currency")
    if currency is None and include:
        oldest = list(
            store.iterate("invoiceitem", {"customer": customer["id"], "parent": None, "status": "pending"})
        )
        currency = oldest[-1]["currency"] if oldest else None
    currency = currency or "usd"
    collection = values.get("collection_method") or "charge_automatically"
    _check_terms(values, collection, now)
    if values.get("automatically_finalizes_at") is not None and not values.get("auto_advance"):
        raise InvalidRequest(
            "automatically_finalizes_at needs auto_advance=true.", param="automatically_finalizes_at"
        )
    rates = tax_rates(store, values.get("default_tax_rates"), "default_tax_rates")
    discounts = resolve_discounts(store, values.get("discounts"), "discounts", now, customer["id"])
    empty = generate(InvoiceFacts(currency, 0, now, now, ()), now)
    doc = invoice_documents.invoice_doc(store, empty, customer, None, billing_reason="manual", now=now)
    doc.update(auto_advance=False, default_tax_rates=rates, metadata=values.get("metadata") or {})
    doc["billfold_days_until_due"] = None
    _apply_terms(
        doc, {k: v for k, v in values.items() if k != "auto_advance"} | {"collection_method": collection}, now
    )
    _apply_terms(
        doc,
        {"auto_advance": bool(values.get("auto_advance"))} | _only(values, "automatically_finalizes_at"),
        now,
    )
    doc["discounts"] = store_discounts(store, discounts, invoice=doc["id"])
    if include:
        for ii in pending_for_customer(store, customer["id"], currency):
            ii["invoice"] = doc["id"]
            store.replace(ii, changes.item_index(ii))
    invoicing.recompute_draft(store, doc)
    return invoicing.create_draft(store, doc)


def _only(values: dict[str, Any], key: str) -> dict[str, Any]:
    return {key: values[key]} if values.get(key) is not None else {}


def get_invoice(store: Store, invoice_id: str, *, for_update: bool = False) -> Doc:
    doc = store.get("invoice", invoice_id, for_update=for_update)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("invoice", invoice_id)
    return doc


def update_invoice(
    store: Store, wall_now: int, invoice_id: str, values: dict[str, Any], merge_meta: MergeMeta
) -> Doc:
    doc = get_invoice(store, invoice_id, for_update=True)
    customer = get_customer(store, doc["customer"], allow_deleted=True)
    now = customer_now(store, customer, wall_now)
    status = doc["status"]
    if status != "draft":
        frozen = [k for k in values if k not in AFTER_FINALIZATION]
        if frozen:
            raise InvalidRequest(
                f"This invoice is {status}: once finalized, only description, footer, custom_fields, metadata and "
                "auto_advance can change.",
                param=frozen[0],
            )
        if "auto_advance" in values and status != "open":
            raise InvalidRequest(
                f"auto_advance can only change on draft and open invoices; this one is {status}.",
                param="auto_advance",
            )
    collection = values.get("collection_method") or doc["collection_method"]
    _check_terms(values, collection, now)
    before = {k: doc.get(k) for k in doc}
    _apply_terms(doc, values, now)
    if "metadata" in values:
        doc["metadata"] = merge_meta(doc.get("metadata") or {}, values["metadata"])
    if "default_tax_rates" in values:
        doc["default_tax_rates"] = tax_rates(store, values["default_tax_rates"] or [], "default_tax_rates")
    if "discounts" in values:
        found = resolve_discounts(store, values["discounts"] or [], "discounts", now, doc["customer"])
        doc["discounts"] = store_discounts(store, found, invoice=doc["id"])
    if status == "draft" and ("default_tax_rates" in values or "discounts" in values):
        invoicing.recompute_draft(store, doc)
    previous = {k: v for k, v in before.items() if doc.get(k) != v and not k.startswith("billfold_")}
    if previous:
        store.replace(doc, invoicing.index(doc))
        store.record("invoice.updated", doc, previous_attributes=previous)
    return doc


def delete_invoice(store: Store, invoice_id: str) -> Doc:
    """Delete a one-off draft (https://docs.stripe.com/api/invoices/delete): its invoice items become pending."""
    doc = get_invoice(store, invoice_id, for_update=True)
    if doc["status"] != "draft":
        raise InvalidRequest(
            f"You can only delete draft invoices; this one is {doc['status']}. Void it instead.", param="id"
        )
    if (doc.get("parent") or {}).get("subscription_details"):
        raise InvalidRequest(
            "Invoices created by a subscription can't be deleted; set auto_advance=false to keep it a draft, "
            "or void it once finalized.",
            param="id",
        )
    for ii in invoice_facts.attached_items(store, doc):
        ii["invoice"] = None
        store.replace(ii, changes.item_index(ii))
    store.delete("invoice", invoice_id)
    store.record("invoice.deleted", doc)
    return {"id": invoice_id, "object": "invoice", "deleted": True}


def preview_customer_invoice(store: Store, wall_now: int, customer_id: str, values: dict[str, Any]) -> Doc:
    """The one-off invoice a customer without a subscription would get now: pending customer-level items plus
    ``invoice_items``, through the same generator as ``create_invoice``. Nothing is stored."""
    customer = get_customer(store, customer_id, param="customer")
    now = customer_now(store, customer, wall_now)
    currency = values.get("currency") or customer.get("currency")
    if currency is None:
        oldest = list(
            store.iterate("invoiceitem", {"customer": customer_id, "parent": None, "status": "pending"})
        )
        currency = oldest[-1]["currency"] if oldest else None
    extra: list[Doc] = []
    own: dict[str, tuple[Discount, ...]] = {}
    for n, given in enumerate(values.get("invoice_items") or []):
        doc, item_discounts = preview_item(store, customer | {"currency": currency}, now, given, n)
        if currency is not None and doc["currency"] != currency:
            raise InvalidRequest(
                f"invoice_items[{n}] is in {doc['currency']}; the preview is in {currency}.",
                param=f"invoice_items[{n}][currency]",
            )
        currency = doc["currency"]
        extra.append(doc)
        own[doc["id"]] = item_discounts
    pending = pending_for_customer(store, customer_id, currency) if currency else []
    if not pending and not extra:
        raise InvalidRequest(
            f"No upcoming invoices for customer: {customer_id}",
            param="customer",
            code="invoice_upcoming_none",
        )
    assert currency is not None
    discounts = resolve_discounts(store, values.get("discounts"), "discounts", now, customer_id)
    facts = InvoiceFacts(
        currency=currency,
        customer_balance=int(customer.get("balance") or 0),
        period_start=now,
        period_end=now,
        lines=tuple(invoice_facts.item_lines(store, pending) + invoice_facts.item_lines(store, extra, own)),
        invoice_discounts=tuple(
            Discount(
                id=d["id"], coupon=invoice_facts.coupon_fact(d["coupon"]), start=d["start"], end=d["end"]
            )
            for d in discounts
        ),
    )
    draft = generate(facts, now)
    doc = invoice_documents.invoice_doc(
        store,
        draft,
        customer,
        None,
        billing_reason="manual",
        now=now,
        invoice_id="upcoming_" + customer_id,
        unstored={ii["id"]: ii for ii in extra},
    )
    doc.update(auto_advance=False, discounts=[d["id"] for d in discounts])
    return doc
