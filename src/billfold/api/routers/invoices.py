"""/v1/invoices: retrieve, list, lines, finalize, pay, void, mark_uncollectible; and the lineage explanation."""

from __future__ import annotations

from typing import Any, Literal

from billfold.app import billing, changes, invoicing
from billfold.app.errors import CardDeclined, InvalidRequest, ResourceMissing
from billfold.app.ports import Doc
from billfold.app.subscriptions import customer_now, get_subscription

from ..framework import Ctx, ListResult, StripeRouter
from ..params import ListParams, Params

router = StripeRouter()


def _get(ctx: Ctx, invoice_id: str, *, lock: bool = False) -> Doc:
    doc = ctx.store.get("invoice", invoice_id, for_update=lock)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("invoice", invoice_id)
    return doc


def _now(ctx: Ctx, doc: Doc) -> int:
    customer = ctx.store.get("customer", doc["customer"]) or {}
    return customer_now(ctx.store, customer, ctx.clock.now())


class InvoiceList(ListParams):
    customer: str | None = None
    subscription: str | None = None
    status: Literal["draft", "open", "paid", "uncollectible", "void"] | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] | None = None
    due_date: Any = None


@router.get("/v1/invoices")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = InvoiceList.parse(params)
    filters: dict[str, Any] = {}
    if p.customer:
        filters["customer"] = p.customer
    if p.subscription:
        filters["parent"] = p.subscription
    if p.status:
        filters["status"] = p.status
    page = ctx.store.list(
        "invoice",
        p.page_query(filters),
    )
    return ListResult(page, "/v1/invoices")


class Preview(Params):
    customer: str | None = None
    subscription: str | None = None
    subscription_details: dict[str, Any] | None = None


@router.post("/v1/invoices/create_preview")
def create_preview(ctx: Ctx, params: dict[str, Any]) -> Doc:
    """The upcoming invoice of a subscription (proposed changes are not supported yet)."""
    p = Preview.parse(params)
    if not p.subscription:
        raise InvalidRequest(
            "Pass `subscription`: previews of a subscription's next invoice are supported; previews of proposed "
            "changes and of one-off invoices are not yet.",
            param="subscription",
        )
    sub = get_subscription(ctx.store, p.subscription, param="subscription")
    if p.customer and p.customer != sub["customer"]:
        raise InvalidRequest("The subscription belongs to another customer.", param="customer")
    if p.subscription_details:
        return changes.preview_invoice(ctx.store, ctx.clock.now(), sub["id"], p.subscription_details)
    return billing.preview_next_invoice(ctx.store, sub)


@router.get("/v1/invoices/{invoice_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    Params.parse(params)
    return _get(ctx, invoice_id)


@router.get("/v1/invoices/{invoice_id}/lines")
def lines(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    p = ListParams.parse(params)
    doc = _get(ctx, invoice_id)
    data = doc["lines"]["data"]
    start = 0
    if p.starting_after:
        ids = [line["id"] for line in data]
        if p.starting_after not in ids:
            raise ResourceMissing("line_item", p.starting_after, param="starting_after")
        start = ids.index(p.starting_after) + 1
    window = data[start : start + p.limit]
    return {
        "object": "list",
        "data": window,
        "has_more": start + p.limit < len(data),
        "url": f"/v1/invoices/{invoice_id}/lines",
    }


@router.get("/v1/invoices/{invoice_id}/explanation")
def explanation(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    """Billfold extension: every line's plain-language explanation and lineage."""
    Params.parse(params)
    doc = _get(ctx, invoice_id)
    return {
        "object": "billfold.invoice_explanation",
        "invoice": invoice_id,
        "currency": doc["currency"],
        "lines": [
            {"line": line["id"], "text": line.get("explanation"), "lineage": line.get("lineage")}
            for line in doc["lines"]["data"]
        ],
        "totals": {k: doc[k] for k in ("subtotal", "total", "amount_due", "starting_balance")},
    }


class Finalize(Params):
    auto_advance: bool | None = None


@router.post("/v1/invoices/{invoice_id}/finalize")
def finalize(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    Finalize.parse(params)
    doc = _get(ctx, invoice_id, lock=True)
    return invoicing.finalize(ctx.store, doc, _now(ctx, doc))


class Pay(Params):
    paid_out_of_band: bool | None = None
    payment_method: str | None = None
    forgive: bool | None = None
    off_session: bool | None = None


@router.post("/v1/invoices/{invoice_id}/pay")
def pay(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    p = Pay.parse(params)
    doc = _get(ctx, invoice_id, lock=True)
    now = _now(ctx, doc)
    if doc["status"] == "draft":
        invoicing.finalize(ctx.store, doc, now)
        if doc["status"] == "paid":
            return doc
    if doc["status"] != "open":
        raise InvalidRequest(f"Invoice is already {doc['status']}.", code="invoice_not_open")
    if p.paid_out_of_band:
        return invoicing.mark_paid(ctx.store, doc, now, out_of_band=True)
    result = invoicing.attempt_payment(ctx.store, doc, now, ctx.services.processor, p.payment_method)
    if not result.succeeded:
        # The failed attempt is recorded (invoice.payment_failed) and committed; the caller gets a card error.
        raise CardDeclined(result.message or "Your card was declined.", code="card_declined")
    return doc


@router.post("/v1/invoices/{invoice_id}/void")
def void(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    Params.parse(params)
    doc = _get(ctx, invoice_id, lock=True)
    return invoicing.void(ctx.store, doc, _now(ctx, doc))


@router.post("/v1/invoices/{invoice_id}/mark_uncollectible")
def mark_uncollectible(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    Params.parse(params)
    doc = _get(ctx, invoice_id, lock=True)
    return invoicing.mark_uncollectible(ctx.store, doc, _now(ctx, doc))
