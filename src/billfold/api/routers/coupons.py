"""/v1/coupons: create, retrieve, update (name, metadata, currency_options), delete, list.

Parameters and rules: https://docs.stripe.com/api/coupons. ``percent_off`` is parsed as a ``Decimal`` and leaves as
a JSON number with the same digits (``billfold.app.discounts.rate_to_json``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import discounts as uc
from billfold.app.ports import Doc

from ..framework import Ctx, ListResult, StripeRouter
from ..params import (
    Currency,
    EmptyIsNone,
    ListParams,
    Metadata,
    Params,
    given_values,
    merge_metadata,
)

router = StripeRouter()

PositiveInt = Annotated[int, Field(gt=0)]


class CurrencyOption(Params):
    amount_off: PositiveInt


class AppliesTo(Params):
    products: list[Annotated[str, Field(min_length=1, max_length=5000)]] | None = None


class CouponCreate(Params):
    # Custom ids are stored in an 80-character column (Stripe allows longer).
    id: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    amount_off: PositiveInt | None = None
    applies_to: AppliesTo | None = None
    currency: Currency | None = None
    currency_options: dict[Currency, CurrencyOption] | None = None
    duration: Literal["forever", "once", "repeating"] | None = None
    duration_in_months: PositiveInt | None = None
    max_redemptions: PositiveInt | None = None
    metadata: Metadata | None = None
    name: Annotated[str, Field(max_length=40)] | None = None
    percent_off: Annotated[Decimal, Field(gt=0, le=100)] | None = None
    redeem_by: int | None = None


class CouponUpdate(Params):
    currency_options: dict[Currency, CurrencyOption] | None = None
    metadata: Metadata | None = None
    name: Annotated[Annotated[str, Field(max_length=40)] | None, EmptyIsNone] = None


@router.post("/v1/coupons")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = CouponCreate.parse(params)
    return uc.create_coupon(ctx.store, ctx.clock.now(), given_values(p))


@router.get("/v1/coupons/{coupon_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], coupon_id: str) -> Doc:
    Params.parse(params)
    return uc.present_coupon(uc.get_coupon(ctx.store, coupon_id), ctx.clock.now())


@router.post("/v1/coupons/{coupon_id}")
def update(ctx: Ctx, params: dict[str, Any], coupon_id: str) -> Doc:
    p = CouponUpdate.parse(params)
    return uc.update_coupon(ctx.store, ctx.clock.now(), coupon_id, given_values(p), merge_metadata)


@router.delete("/v1/coupons/{coupon_id}")
def delete(ctx: Ctx, params: dict[str, Any], coupon_id: str) -> Doc:
    Params.parse(params)
    return uc.delete_coupon(ctx.store, ctx.clock.now(), coupon_id)


@router.get("/v1/coupons")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = ListParams.parse(params)
    page = ctx.store.list(
        "coupon",
        p.page_query(),
    )
    now = ctx.clock.now()
    for doc in page.data:
        uc.present_coupon(doc, now)
    return ListResult(page, "/v1/coupons")
