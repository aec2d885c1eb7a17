"""/v1/promotion_codes: create, retrieve, update (active, metadata, restrictions[currency_options]), list.

At API version 2026-10-28.endive a promotion code names what it grants as ``promotion[type]=coupon`` and
``promotion[coupon]`` (https://docs.stripe.com/api/promotion_codes/create); the list still filters by ``coupon``.
Stripe has no delete: a code is retired with ``active=false``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import discounts as uc
from billfold.app.errors import InvalidRequest
from billfold.app.ports import Doc

from ..framework import Ctx, ListResult, StripeRouter
from ..params import (
    Currency,
    ListParams,
    Metadata,
    NonNegativeInt,
    Params,
    given_values,
    merge_metadata,
)

router = StripeRouter()


class Promotion(Params):
    type: Literal["coupon"]
    coupon: Annotated[str, Field(max_length=5000)] | None = None


class CurrencyOption(Params):
    minimum_amount: NonNegativeInt | None = None


class RestrictionsCreate(Params):
    currency_options: dict[Currency, CurrencyOption] | None = None
    first_time_transaction: bool | None = None
    minimum_amount: NonNegativeInt | None = None
    minimum_amount_currency: Currency | None = None


class RestrictionsUpdate(Params):
    currency_options: dict[Currency, CurrencyOption] | None = None


class PromotionCodeCreate(Params):
    promotion: Promotion
    active: bool | None = None
    code: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    customer: Annotated[str, Field(max_length=5000)] | None = None
    customer_account: str | None = None
    expires_at: int | None = None
    max_redemptions: Annotated[int, Field(gt=0)] | None = None
    metadata: Metadata | None = None
    restrictions: RestrictionsCreate | None = None


class PromotionCodeUpdate(Params):
    active: bool | None = None
    metadata: Metadata | None = None
    restrictions: RestrictionsUpdate | None = None


class PromotionCodeList(ListParams):
    active: bool | None = None
    code: str | None = None
    coupon: str | None = None
    customer: str | None = None
    customer_account: str | None = None


@router.post("/v1/promotion_codes")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = PromotionCodeCreate.parse(params)
    return uc.create_promotion_code(ctx.store, ctx.clock.now(), given_values(p))


@router.get("/v1/promotion_codes/{promotion_code_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], promotion_code_id: str) -> Doc:
    Params.parse(params)
    return uc.get_promotion_code(ctx.store, promotion_code_id)


@router.post("/v1/promotion_codes/{promotion_code_id}")
def update(ctx: Ctx, params: dict[str, Any], promotion_code_id: str) -> Doc:
    p = PromotionCodeUpdate.parse(params)
    return uc.update_promotion_code(
        ctx.store, ctx.clock.now(), promotion_code_id, given_values(p), merge_metadata
    )


@router.get("/v1/promotion_codes")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = PromotionCodeList.parse(params)
    if p.customer_account is not None:
        raise InvalidRequest(
            "customer_account is not supported by Billfold; filter by customer instead.",
            param="customer_account",
        )
    filters: dict[str, Any] = {}
    if p.active is not None:
        filters["active"] = p.active
    if p.code is not None:
        filters["lookup"] = p.code.upper()  # codes match regardless of case
    if p.coupon is not None:
        filters["parent"] = p.coupon
    if p.customer is not None:
        filters["customer"] = p.customer
    page = ctx.store.list(
        "promotion_code",
        p.page_query(filters),
    )
    return ListResult(page, "/v1/promotion_codes")
