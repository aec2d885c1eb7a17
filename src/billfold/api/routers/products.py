"""/v1/products and its search. A product can be deleted only while it has no prices; otherwise archive it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from billfold.app import catalog as uc
from billfold.app.errors import InvalidRequest
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
from .prices import (
    CurrencyOptions,
    CustomUnitAmount,
    Interval,
    ProductId,
    TaxBehavior,
    TaxDetails,
)

router = StripeRouter()


MAX_DIMENSION = Decimal("99999999.99")


def _inches(value: Decimal) -> float:
    # Package dimensions are measurements, not money: "Maximum precision is 2 decimal places" (API reference).
    # They go out as JSON numbers, which is the one place a float is right.
    if not value.is_finite() or value <= 0 or value > MAX_DIMENSION:
        raise ValueError(
            f"Invalid package_dimensions: each dimension must be a positive number up to {MAX_DIMENSION}"
        )
    _sign, digits, exponent = value.as_tuple()
    places = -int(exponent)
    while places > 0 and digits and digits[-1] == 0:  # 1.500 has two places, not three
        digits, places = digits[:-1], places - 1
    if places > 2:
        raise ValueError("Invalid package_dimensions: maximum precision is 2 decimal places")
    return float(value)


Dimension = Annotated[Decimal, AfterValidator(_inches)]


class PackageDimensions(Params):
    height: Dimension
    length: Dimension
    weight: Dimension
    width: Dimension


class MarketingFeature(Params):
    name: Annotated[str, Field(min_length=1, max_length=80)]


class DefaultPriceRecurring(Params):
    interval: Interval
    interval_count: int | None = None


class DefaultPriceData(Params):
    currency: Currency
    currency_options: CurrencyOptions | None = None
    custom_unit_amount: CustomUnitAmount | None = None
    metadata: Metadata | None = None
    recurring: DefaultPriceRecurring | None = None
    tax_behavior: TaxBehavior | None = None
    unit_amount: NonNegativeInt | None = None
    unit_amount_decimal: Decimal | None = None


Url = Annotated[str, Field(max_length=2048)]
Images = Annotated[list[Url], Field(max_length=8)]
Features = Annotated[list[MarketingFeature], Field(max_length=15)]
Descriptor = Annotated[str, Field(max_length=22)]
UnitLabel = Annotated[str, Field(max_length=12)]
Name = Annotated[str, Field(min_length=1, max_length=5000)]
Description = Annotated[str, Field(max_length=40000)]


class ProductCreate(Params):
    active: bool | None = None
    default_price_data: DefaultPriceData | None = None
    description: Description | None = None
    id: ProductId | None = None
    images: Images | None = None
    marketing_features: Features | None = None
    metadata: Metadata | None = None
    name: Name
    package_dimensions: PackageDimensions | None = None
    shippable: bool | None = None
    statement_descriptor: Descriptor | None = None
    tax_code: str | None = None
    tax_details: TaxDetails | None = None
    type: Literal["good", "service"] | None = None
    unit_label: UnitLabel | None = None
    url: Url | None = None


class ProductUpdate(Params):
    """Fields that Stripe lets ``""`` unset are ``X | ""``; EmptyIsNone turns the ``""`` into None (unset)."""

    active: bool | None = None
    default_price: str | None = None
    description: Annotated[Description | None, EmptyIsNone] = None
    images: Annotated[Images | None, EmptyIsNone] = None
    marketing_features: Annotated[Features | None, EmptyIsNone] = None
    metadata: Metadata | None = None
    name: Name | None = None
    package_dimensions: Annotated[PackageDimensions | None, EmptyIsNone] = None
    shippable: bool | None = None
    statement_descriptor: Annotated[Descriptor | None, EmptyIsNone] = None
    tax_code: Annotated[str | None, EmptyIsNone] = None
    tax_details: Annotated[TaxDetails | None, EmptyIsNone] = None
    unit_label: Annotated[UnitLabel | None, EmptyIsNone] = None
    url: Annotated[Url | None, EmptyIsNone] = None


class ProductList(ListParams):
    active: bool | None = None
    ids: list[str] | None = None
    shippable: bool | None = None
    type: Literal["good", "service"] | None = None
    url: str | None = None


@router.post("/v1/products")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = ProductCreate.parse(params)
    return uc.create_product(ctx.store, ctx.clock.now(), given_values(p))


@router.get("/v1/products/search")
def search(ctx: Ctx, params: dict[str, Any]) -> SearchResult:
    fields = ("active", "name", "description", "metadata", "created", "url", "shippable")
    return search_page(ctx, params, "product", fields)


@router.get("/v1/products/{product_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], product_id: str) -> Doc:
    Params.parse(params)
    return uc.get_product(ctx.store, product_id)


@router.post("/v1/products/{product_id}")
def update(ctx: Ctx, params: dict[str, Any], product_id: str) -> Doc:
    p = ProductUpdate.parse(params)
    if "name" in p.model_fields_set and p.name is None:
        raise InvalidRequest("Invalid name: must not be empty", param="name")
    return uc.update_product(ctx.store, ctx.clock.now(), product_id, given_values(p), merge_metadata)


@router.delete("/v1/products/{product_id}")
def delete(ctx: Ctx, params: dict[str, Any], product_id: str) -> Doc:
    Params.parse(params)
    return uc.delete_product(ctx.store, product_id)


@router.get("/v1/products")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = ProductList.parse(params)
    if p.ids is not None and (p.starting_after or p.ending_before):
        raise InvalidRequest("ids cannot be used with starting_after or ending_before.", param="ids")
    filters: dict[str, Any] = {}
    if p.active is not None:
        filters["active"] = p.active
    if p.type is not None:
        filters["status"] = p.type
    query = p.page_query(filters, ids=p.ids)

    def keep(doc: Doc) -> bool:
        return (p.shippable is None or doc.get("shippable") == p.shippable) and (
            p.url is None or doc.get("url") == p.url
        )

    python_filters = p.shippable is not None or p.url is not None
    return ListResult(
        uc.list_catalog(ctx.store, "product", query, keep if python_filters else None), "/v1/products"
    )
