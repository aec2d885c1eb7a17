"""/v1/invoices: create (one-off), retrieve, update, delete (drafts), list, lines, finalize, pay, send, void,
mark_uncollectible, create_preview; and the lineage explanation."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import billing, changes, invoicing
from billfold.app import one_off_invoices as oneoff
from billfold.app.errors import BillfoldError, CardDeclined, InvalidRequest, ResourceMissing
from billfold.app.ports import Doc
from billfold.app.subscriptions import ACTIVE_STATUSES, customer_now, get_subscription

from ..framework import Ctx, ListResult, StripeRouter
from ..params import (
    Currency,
    EmptyIsNone,
    ListParams,
    Metadata,
    Params,
    TaxRateIds,
    given_values,
    merge_metadata,
)
from .customers import CustomField
from .invoice_items import DiscountParam, Period, PriceData
from .subscriptions import SubscriptionCreate

router = StripeRouter()


class InvoiceFields(Params):
    auto_advance: bool | None = None
    automatically_finalizes_at: int | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] | None = None
    custom_fields: Annotated[Annotated[list[CustomField], Field(max_length=4)] | None, EmptyIsNone] = None
    days_until_due: Annotated[int, Field(ge=0, le=36500)] | None = None
    default_payment_method: str | None = None
    default_tax_rates: TaxRateIds = None
    description: Annotated[str, Field(max_length=1500)] | None = None
    discounts: Annotated[list[DiscountParam] | None, EmptyIsNone] = None
    due_date: int | None = None
    footer: Annotated[str, Field(max_length=5000)] | None = None
    metadata: Metadata | None = None


class InvoiceCreate(InvoiceFields):
    customer: str
    currency: Currency | None = None
    pending_invoice_items_behavior: Literal["exclude", "include"] | None = None
    subscription: str | None = None


@router.post("/v1/invoices")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    """A one-off draft invoice (https://docs.stripe.com/api/invoices/create)."""
    p = InvoiceCreate.parse(params)
    if p.subscription:
        raise InvalidRequest(
            "Invoicing a subscription's pending items on demand (`subscription`) is not supported yet; they are "
            "collected by its next renewal.",
            param="subscription",
        )
    return oneoff.create_invoice(ctx.store, ctx.clock.now(), given_values(p))


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


class PreviewItem(Params):
    amount: int | None = None
    currency: Currency | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    discountable: bool | None = None
    discounts: Annotated[list[DiscountParam] | None, EmptyIsNone] = None
    metadata: Metadata | None = None
    period: Period | None = None
    price: str | None = None
    price_data: PriceData | None = None
    quantity: Annotated[int, Field(ge=0)] | None = None
    tax_rates: TaxRateIds = None
    unit_amount: int | None = None
    unit_amount_decimal: Decimal | None = None


class Preview(Params):
    customer: str | None = None
    subscription: str | None = None
    subscription_details: dict[str, Any] | None = None
    currency: Currency | None = None
    discounts: Annotated[list[DiscountParam] | None, EmptyIsNone] = None
    invoice_items: Annotated[list[PreviewItem], Field(max_length=250)] | None = None


@router.post("/v1/invoices/create_preview")
def create_preview(ctx: Ctx, params: dict[str, Any]) -> Doc:
    """The upcoming invoice of a subscription, or the one-off invoice a customer without one would get now."""
    p = Preview.parse(params)
    sub_id = p.subscription
    if not sub_id and p.customer and not p.subscription_details:
        running = [
            s
            for s in ctx.store.iterate("subscription", {"customer": p.customer, "status": ACTIVE_STATUSES})
            if not s.get("cancel_at_period_end")
        ]
        if not running:
            values = given_values(p)
            return oneoff.preview_customer_invoice(ctx.store, ctx.clock.now(), p.customer, values)
        sub_id = min(running, key=lambda s: s["items"]["data"][0]["current_period_end"])["id"]
    if not sub_id and p.customer and p.subscription_details is not None:
        return _preview_new_subscription(ctx, p)
    if not sub_id:
        raise InvalidRequest(
            "Pass `subscription` (its next invoice), `customer` (the customer's next invoice) or `customer` with "
            "`subscription_details` (the first invoice of a new subscription).",
            param="subscription",
        )
    for name in ("invoice_items", "discounts", "currency"):
        if getattr(p, name) is not None:
            raise InvalidRequest(
                f"`{name}` is supported in previews of a customer without a subscription only, so far.",
                param=name,
            )
    sub = get_subscription(ctx.store, sub_id, param="subscription")
    if p.customer and p.customer != sub["customer"]:
        raise InvalidRequest("The subscription belongs to another customer.", param="customer")
    if p.subscription_details:
        return changes.preview_invoice(ctx.store, ctx.clock.now(), sub["id"], p.subscription_details)
    return billing.preview_next_invoice(ctx.store, sub)


# What a preview of a new subscription takes from ``subscription_details`` (as for POST /v1/subscriptions); the
# rest of Stripe's list describes changes of an existing subscription.
_NEW_SUBSCRIPTION_DETAILS = frozenset(
    {"items", "billing_cycle_anchor", "cancel_at", "cancel_at_period_end", "default_tax_rates", "trial_end"}
)
_NO_EFFECT_DETAILS = frozenset({"metadata", "billing_mode", "proration_behavior"})


def _preview_new_subscription(ctx: Ctx, p: Preview) -> Doc:
    """The first invoice of the subscription ``subscription_details`` describes, for ``customer``, if it were
    created now (``billing.preview_new_subscription``). Errors name the preview's parameters."""
    details = p.subscription_details
    if not isinstance(details, dict):
        raise InvalidRequest("Invalid subscription_details: must be a hash.", param="subscription_details")
    for key in sorted(details):
        if key not in _NEW_SUBSCRIPTION_DETAILS | _NO_EFFECT_DETAILS:
            raise InvalidRequest(
                f"subscription_details[{key}] is not supported in a preview of a new subscription (there is no "
                "subscription yet).",
                param=f"subscription_details[{key}]",
            )
    for name in ("invoice_items", "currency"):
        if getattr(p, name) is not None:
            raise InvalidRequest(
                f"`{name}` is not supported in a preview of a new subscription, so far.", param=name
            )
    params: dict[str, Any] = {k: v for k, v in details.items() if k in _NEW_SUBSCRIPTION_DETAILS}
    if params.get("billing_cycle_anchor") in ("now", "unchanged"):
        params.pop(
            "billing_cycle_anchor"
        )  # the anchor of a new subscription is its start unless a time is given
    params["customer"] = p.customer
    if p.discounts is not None:
        params["discounts"] = [d.model_dump(exclude_none=True) for d in p.discounts]
    try:
        values = given_values(SubscriptionCreate.parse(params))
        return billing.preview_new_subscription(ctx.store, ctx.clock.now(), values)
    except BillfoldError as err:
        head = (err.param or "").split("[", 1)[0]
        if head in _NEW_SUBSCRIPTION_DETAILS | {"trial_period_days"}:
            err.param = f"subscription_details[{head}]{(err.param or '')[len(head) :]}"
        raise


@router.get("/v1/invoices/{invoice_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    Params.parse(params)
    return _get(ctx, invoice_id)


@router.post("/v1/invoices/{invoice_id}")
def update(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    p = InvoiceFields.parse(params)
    return oneoff.update_invoice(ctx.store, ctx.clock.now(), invoice_id, given_values(p), merge_metadata)


@router.delete("/v1/invoices/{invoice_id}")
def delete(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    Params.parse(params)
    return oneoff.delete_invoice(ctx.store, invoice_id)


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
    p = Finalize.parse(params)
    doc = _get(ctx, invoice_id, lock=True)
    if p.auto_advance is not None and doc["status"] == "draft":
        doc["auto_advance"] = p.auto_advance
    return invoicing.finalize(ctx.store, doc, _now(ctx, doc))


@router.post("/v1/invoices/{invoice_id}/send")
def send(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    """Records ``invoice.sent`` (finalizing a draft first); e-mail delivery comes with a later issue."""
    Params.parse(params)
    doc = _get(ctx, invoice_id, lock=True)
    return invoicing.send(ctx.store, doc, _now(ctx, doc))


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
    if doc["status"] not in ("draft", "open"):
        raise InvalidRequest(f"Invoice is already {doc['status']}.", code="invoice_not_open")
    if doc["status"] == "draft":
        invoicing.finalize(ctx.store, doc, now)  # a zero amount is paid at finalization
    if doc["status"] == "open":
        if p.paid_out_of_band:
            invoicing.mark_paid(ctx.store, doc, now, out_of_band=True)
        else:
            result = invoicing.attempt_payment(ctx.store, doc, now, ctx.services.processor, p.payment_method)
            if not result.succeeded:
                # The failed attempt is recorded (invoice.payment_failed) and committed; the caller gets a card
                # error. A renewal keeps its retry schedule (dunning, billing.after_payment_failed).
                billing.after_payment_failed(ctx.store, doc, now)
                raise CardDeclined(result.message or "Your card was declined.", code="card_declined")
    # Paid now (by card, out of band, or a zero amount at finalization): the subscription may come back.
    billing.after_invoice_paid(ctx.store, doc, now)
    return doc


@router.post("/v1/invoices/{invoice_id}/void")
def void(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    Params.parse(params)
    doc = _get(ctx, invoice_id, lock=True)
    now = _now(ctx, doc)
    invoicing.void(ctx.store, doc, now)
    billing.after_invoice_closed(ctx.store, doc, now)  # a paused subscription's resumption invoice
    return doc


@router.post("/v1/invoices/{invoice_id}/mark_uncollectible")
def mark_uncollectible(ctx: Ctx, params: dict[str, Any], invoice_id: str) -> Doc:
    Params.parse(params)
    doc = _get(ctx, invoice_id, lock=True)
    now = _now(ctx, doc)
    invoicing.mark_uncollectible(ctx.store, doc, now)
    billing.after_invoice_closed(ctx.store, doc, now)
    return doc
