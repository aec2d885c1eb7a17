"""/v1/tax_rates: create, retrieve, update, list. No delete: archive a rate with ``active=false``.

``percentage`` and ``inclusive`` are create-only (https://docs.stripe.com/api/tax_rates/update), so sending them on
update is an unknown parameter, as in Stripe.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import tax_rates as uc
from billfold.app.ports import Doc

from ..framework import Ctx, ListResult, StripeRouter
from ..params import EmptyIsNone, ListParams, Metadata, Params, given_values, merge_metadata

router = StripeRouter()

TaxType = Literal[
    "admissions_tax",
    "amusement_tax",
    "attendance_tax",
    "communications_tax",
    "digital_excise_tax",
    "entertainment_tax",
    "get_fund",
    "gross_receipts_tax",
    "gst",
    "hospitality_tax",
    "hst",
    "igst",
    "jct",
    "lease_tax",
    "luxury_tax",
    "mass_transit_parking_tax",
    "nhil",
    "parking_tax",
    "pst",
    "qst",
    "resort_tax",
    "retail_delivery_fee",
    "rst",
    "sales_tax",
    "service_tax",
    "tourism_tax",
    "utility_users_tax",
    "vat",
]
DisplayName = Annotated[str, Field(min_length=1, max_length=50)]


class TaxRateFields(Params):
    active: bool | None = None
    country: Annotated[Annotated[str, Field(max_length=5000)] | None, EmptyIsNone] = None
    description: Annotated[Annotated[str, Field(max_length=5000)] | None, EmptyIsNone] = None
    jurisdiction: Annotated[Annotated[str, Field(max_length=50)] | None, EmptyIsNone] = None
    metadata: Metadata | None = None
    state: Annotated[Annotated[str, Field(max_length=5000)] | None, EmptyIsNone] = None
    tax_type: Annotated[TaxType | None, EmptyIsNone] = None


class TaxRateCreate(TaxRateFields):
    display_name: DisplayName
    inclusive: bool
    percentage: Annotated[Decimal, Field(ge=0, le=100)]


class TaxRateUpdate(TaxRateFields):
    display_name: DisplayName | None = None


class TaxRateList(ListParams):
    active: bool | None = None
    inclusive: bool | None = None


@router.post("/v1/tax_rates")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = TaxRateCreate.parse(params)
    return uc.create_tax_rate(ctx.store, ctx.clock.now(), given_values(p))


@router.get("/v1/tax_rates/{tax_rate_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], tax_rate_id: str) -> Doc:
    Params.parse(params)
    return uc.get_tax_rate(ctx.store, tax_rate_id)


@router.post("/v1/tax_rates/{tax_rate_id}")
def update(ctx: Ctx, params: dict[str, Any], tax_rate_id: str) -> Doc:
    p = TaxRateUpdate.parse(params)
    return uc.update_tax_rate(ctx.store, tax_rate_id, given_values(p), merge_metadata)


@router.get("/v1/tax_rates")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = TaxRateList.parse(params)
    filters: dict[str, Any] = {}
    if p.active is not None:
        filters["active"] = p.active
    if p.inclusive is not None:
        filters["status"] = "inclusive" if p.inclusive else "exclusive"
    page = ctx.store.list(
        "tax_rate",
        p.page_query(filters),
    )
    return ListResult(page, "/v1/tax_rates")
