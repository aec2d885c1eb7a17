"""/v1/prices and its search. Prices are never deleted: archive one with ``active=false``.

Only Stripe's mutable fields are accepted on update; anything else (``unit_amount``, ``recurring``...) is rejected as
"Received unknown parameter", as Stripe does. The parameter models here (tiers, currency options, recurring) are
shared with ``/v1/products`` (``default_price_data``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import catalog as uc
from billfold.app.ports import Doc

from ..framework import Ctx, ListResult, SearchResult, StripeRouter
from ..params import (
    Currency,
    EmptyIsNone,
    ListParams,
    Metadata,
    NonNegativeInt,
    Params,
    given_values,
    merge_metadata,
)
from ..search import search_page

router = StripeRouter()

TaxBehavior = Literal["exclusive", "inclusive", "unspecified"]
Interval = Literal["day", "week", "month", "year"]
# Custom product ids: letters, digits, "_" and "-" (they appear in URLs), at most the stored id length.
ProductId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_\-]+$")]


class TierParams(Params):
    up_to: int | Literal["inf"]
    flat_amount: NonNegativeInt | None = None
    flat_amount_decimal: Decimal | None = None
    unit_amount: NonNegativeInt | None = None
    unit_amount_decimal: Decimal | None = None


class CustomUnitAmount(Params):
    enabled: bool
    maximum: NonNegativeInt | None = None
    minimum: NonNegativeInt | None = None
    preset: NonNegativeInt | None = None


class CurrencyOption(Params):
    custom_unit_amount: CustomUnitAmount | None = None
    tax_behavior: TaxBehavior | None = None
    tiers: list[TierParams] | None = None
    unit_amount: NonNegativeInt | None = None
    unit_amount_decimal: Decimal | None = None


CurrencyOptions = dict[Currency, CurrencyOption]


class Recurring(Params):
    interval: Interval
    interval_count: int | None = None
    meter: str | None = None
    trial_period_days: Annotated[int, Field(ge=0, le=730)] | None = None
    usage_type: Literal["licensed", "metered"] | None = None


class TransformQuantity(Params):
    divide_by: Annotated[int, Field(ge=1)]
    round: Literal["down", "up"]


class TaxDetails(Params):
    performance_location: str | None = None
    tax_code: str | None = None


class ProductData(Params):
    active: bool | None = None
    id: ProductId | None = None
    metadata: Metadata | None = None
    name: Annotated[str, Field(min_length=1, max_length=5000)]
    statement_descriptor: Annotated[str, Field(max_length=22)] | None = None
    tax_code: str | None = None
    tax_details: TaxDetails | None = None
    unit_label: Annotated[str, Field(max_length=12)] | None = None


LookupKey = Annotated[str, Field(max_length=200)]
Nickname = Annotated[str, Field(max_length=5000)]


class PriceCreate(Params):
    active: bool | None = None
    billing_scheme: Literal["per_unit", "tiered"] | None = None
    currency: Currency
    currency_options: CurrencyOptions | None = None
    custom_unit_amount: CustomUnitAmount | None = None
    lookup_key: LookupKey | None = None
    metadata: Metadata | None = None
    nickname: Nickname | None = None
    product: str | None = None
    product_data: ProductData | None = None
    recurring: Recurring | None = None
    tax_behavior: TaxBehavior | None = None
    tiers: list[TierParams] | None = None
    tiers_mode: Literal["graduated", "volume"] | None = None
    transfer_lookup_key: bool | None = None
    transform_quantity: TransformQuantity | None = None
    unit_amount: NonNegativeInt | None = None
    unit_amount_decimal: Decimal | None = None


class PriceUpdate(Params):
    active: bool | None = None
    currency_options: Annotated[CurrencyOptions | None, EmptyIsNone] = None
    lookup_key: LookupKey | None = None
    metadata: Metadata | None = None
    nickname: Nickname | None = None
    tax_behavior: TaxBehavior | None = None
    transfer_lookup_key: bool | None = None


class RecurringFilter(Params):
    interval: Interval | None = None
    meter: str | None = None
    usage_type: Literal["licensed", "metered"] | None = None


class PriceList(ListParams):
    active: bool | None = None
    currency: Currency | None = None
    lookup_keys: Annotated[list[str], Field(max_length=10)] | None = None
    product: str | None = None
    recurring: RecurringFilter | None = None
    type: Literal["one_time", "recurring"] | None = None


@router.post("/v1/prices")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = PriceCreate.parse(params)
    return uc.create_price(ctx.store, ctx.clock.now(), given_values(p))


@router.get("/v1/prices/search")
def search(ctx: Ctx, params: dict[str, Any]) -> SearchResult:
    fields = ("active", "currency", "lookup_key", "metadata", "product", "type", "created")
    return search_page(ctx, params, "price", fields)


@router.get("/v1/prices/{price_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], price_id: str) -> Doc:
    Params.parse(params)
    return uc.get_price(ctx.store, price_id)


@router.post("/v1/prices/{price_id}")
def update(ctx: Ctx, params: dict[str, Any], price_id: str) -> Doc:
    p = PriceUpdate.parse(params)
    return uc.update_price(ctx.store, price_id, given_values(p), merge_metadata)


@router.get("/v1/prices")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = PriceList.parse(params)
    filters: dict[str, Any] = {}
    for name, column in (
        ("active", "active"),
        ("currency", "currency"),
        ("product", "parent"),
        ("type", "status"),
    ):
        if getattr(p, name) is not None:
            filters[column] = getattr(p, name)
    if p.lookup_keys is not None:
        filters["lookup"] = tuple(p.lookup_keys)
    wanted = {k: v for k, v in given_values(p.recurring).items() if v is not None} if p.recurring else {}

    def keep(doc: Doc) -> bool:
        recurring = doc.get("recurring") or {}
        return bool(recurring) and all(recurring.get(k) == v for k, v in wanted.items())

    query = p.page_query(filters)
    page = uc.list_catalog(ctx.store, "price", query, keep if p.recurring is not None else None)
    return ListResult(page, "/v1/prices")
