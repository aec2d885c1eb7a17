"""/v1/invoiceitems: pending invoice items and one-off charges (create, retrieve, update, delete, list)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import invoice_items as uc
from billfold.app.ports import Doc

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

router = StripeRouter()
BASE = "/v1/invoiceitems"


class DiscountParam(Params):
    coupon: str | None = None
    promotion_code: str | None = None


class Period(Params):
    start: int
    end: int


class PriceData(Params):
    currency: Currency
    product: str
    tax_behavior: Literal["exclusive", "inclusive", "unspecified"] | None = None
    unit_amount: Annotated[int, Field(ge=0)] | None = None
    unit_amount_decimal: Decimal | None = None


class Pricing(Params):
    price: str | None = None


class ItemFields(Params):
    amount: int | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    discountable: bool | None = None
    discounts: Annotated[list[DiscountParam] | None, EmptyIsNone] = None
    metadata: Metadata | None = None
    period: Period | None = None
    price_data: PriceData | None = None
    pricing: Pricing | None = None
    quantity: Annotated[int, Field(ge=0)] | None = None
    tax_rates: TaxRateIds = None
    unit_amount_decimal: Decimal | None = None


class ItemCreate(ItemFields):
    customer: str
    currency: Currency | None = None
    invoice: str | None = None
    subscription: str | None = None


class ItemList(ListParams):
    customer: str | None = None
    invoice: str | None = None
    pending: bool | None = None


@router.post(BASE)
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = ItemCreate.parse(params)
    return uc.create_item(ctx.store, ctx.clock.now(), given_values(p))


@router.get(BASE + "/{item_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], item_id: str) -> Doc:
    Params.parse(params)
    return uc.get_item(ctx.store, item_id, allow_deleted=True)


@router.post(BASE + "/{item_id}")
def update(ctx: Ctx, params: dict[str, Any], item_id: str) -> Doc:
    p = ItemFields.parse(params)
    return uc.update_item(ctx.store, ctx.clock.now(), item_id, given_values(p), merge_metadata)


@router.delete(BASE + "/{item_id}")
def delete(ctx: Ctx, params: dict[str, Any], item_id: str) -> Doc:
    Params.parse(params)
    return uc.delete_item(ctx.store, item_id)


@router.get(BASE)
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = ItemList.parse(params)
    filters: dict[str, Any] = {}
    if p.customer:
        filters["customer"] = p.customer
    if p.pending is not None:
        filters["status"] = "pending" if p.pending else "invoiced"
    ids = uc.items_on_invoice(ctx.store, p.invoice) if p.invoice else None
    return ListResult(ctx.store.list("invoiceitem", p.page_query(filters, ids)), BASE)
