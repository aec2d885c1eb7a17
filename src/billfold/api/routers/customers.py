"""/v1/customers, its search and its tax ids."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import customers as uc
from billfold.app.errors import InvalidRequest
from billfold.app.ports import Doc

from ..framework import Ctx, ListResult, SearchResult, StripeRouter
from ..params import EmptyIsNone, ListParams, Metadata, Params, given_values, merge_metadata
from ..search import search_page

router = StripeRouter()


class Address(Params):
    city: str | None = None
    country: str | None = None
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    state: str | None = None


class Shipping(Params):
    address: Address
    name: str
    phone: str | None = None


class CustomField(Params):
    name: Annotated[str, Field(max_length=40, min_length=1)]
    value: Annotated[str, Field(max_length=140, min_length=1)]


class RenderingOptions(Params):
    amount_tax_display: Literal["exclude_tax", "include_inclusive_tax", ""] | None = None
    template: str | None = None


class InvoiceSettings(Params):
    custom_fields: Annotated[Annotated[list[CustomField], Field(max_length=4)] | None, EmptyIsNone] = None
    default_payment_method: str | None = None
    footer: str | None = None
    rendering_options: Annotated[RenderingOptions | None, EmptyIsNone] = None


TaxIdType = Literal[
    "eu_vat",
    "gb_vat",
    "au_abn",
    "au_arn",
    "br_cnpj",
    "br_cpf",
    "us_ein",
    "ca_bn",
    "ch_vat",
    "no_vat",
    "nz_gst",
    "in_gst",
    "jp_cn",
    "sg_gst",
    "za_vat",
    "mx_rfc",
    "eu_oss_vat",
]


class TaxIdData(Params):
    type: TaxIdType
    value: str


class CustomerFields(Params):
    address: Annotated[Address | None, EmptyIsNone] = None
    balance: int | None = None
    business_name: str | None = None
    description: str | None = None
    email: Annotated[str, Field(max_length=512)] | None = None
    individual_name: str | None = None
    invoice_prefix: Annotated[str, Field(min_length=3, max_length=12, pattern=r"^[A-Z0-9]+$")] | None = None
    invoice_settings: InvoiceSettings | None = None
    metadata: Metadata | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    next_invoice_sequence: Annotated[int, Field(ge=1)] | None = None
    phone: Annotated[str, Field(max_length=20)] | None = None
    preferred_locales: list[str] | Literal[""] | None = None
    shipping: Annotated[Shipping | None, EmptyIsNone] = None
    tax_exempt: Literal["none", "exempt", "reverse", ""] | None = None


class CustomerCreate(CustomerFields):
    tax_id_data: list[TaxIdData] | None = None
    test_clock: str | None = None
    payment_method: str | None = None


class CustomerUpdate(CustomerFields):
    default_source: str | None = None


class CustomerList(ListParams):
    email: str | None = None
    test_clock: str | None = None


class TaxIdCreate(Params):
    type: TaxIdType
    value: str


@router.post("/v1/customers")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = CustomerCreate.parse(params)
    values = given_values(p)
    if values.get("payment_method"):
        raise InvalidRequest(
            "Attaching a payment method when creating a customer is not supported yet; "
            "attach it with /v1/payment_methods/{id}/attach.",
            param="payment_method",
        )
    values.pop("payment_method", None)
    return uc.create_customer(ctx.store, ctx.clock.now(), values)


@router.get("/v1/customers/search")
def search(ctx: Ctx, params: dict[str, Any]) -> SearchResult:
    fields = ("email", "name", "phone", "metadata", "created", "description", "currency")
    return search_page(ctx, params, "customer", fields)


@router.get("/v1/customers/{customer_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], customer_id: str) -> Doc:
    Params.parse(params)
    return uc.get_customer(ctx.store, customer_id, allow_deleted=True)


@router.post("/v1/customers/{customer_id}")
def update(ctx: Ctx, params: dict[str, Any], customer_id: str) -> Doc:
    p = CustomerUpdate.parse(params)
    values = given_values(p)
    if "default_source" in values:
        raise InvalidRequest("Sources are not supported; use payment methods.", param="default_source")
    return uc.update_customer(ctx.store, ctx.clock.now(), customer_id, values, merge_metadata)


@router.delete("/v1/customers/{customer_id}")
def delete(ctx: Ctx, params: dict[str, Any], customer_id: str) -> Doc:
    Params.parse(params)
    return uc.delete_customer(ctx.store, customer_id)


@router.get("/v1/customers")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = CustomerList.parse(params)
    filters: dict[str, Any] = {}
    if p.email is not None:
        filters["lookup"] = p.email.lower()
    if p.test_clock is not None:
        filters["test_clock"] = p.test_clock
    page = ctx.store.list(
        "customer",
        p.page_query(filters),
    )
    return ListResult(page, "/v1/customers")


@router.post("/v1/customers/{customer_id}/tax_ids")
def create_tax_id(ctx: Ctx, params: dict[str, Any], customer_id: str) -> Doc:
    p = TaxIdCreate.parse(params)
    return uc.add_tax_id(ctx.store, ctx.clock.now(), customer_id, p.type, p.value)


@router.get("/v1/customers/{customer_id}/tax_ids")
def list_tax_ids(ctx: Ctx, params: dict[str, Any], customer_id: str) -> ListResult:
    p = ListParams.parse(params)
    uc.get_customer(ctx.store, customer_id)
    page = ctx.store.list(
        "tax_id",
        p.page_query({"customer": customer_id}),
    )
    return ListResult(page, f"/v1/customers/{customer_id}/tax_ids")


@router.get("/v1/customers/{customer_id}/tax_ids/{tax_id}")
def retrieve_tax_id(ctx: Ctx, params: dict[str, Any], customer_id: str, tax_id: str) -> Doc:
    Params.parse(params)
    uc.get_customer(ctx.store, customer_id)
    doc = ctx.store.get("tax_id", tax_id)
    if doc is None or doc.get("customer") not in (customer_id, None):
        from billfold.app.errors import ResourceMissing

        raise ResourceMissing("tax_id", tax_id)
    return doc


@router.delete("/v1/customers/{customer_id}/tax_ids/{tax_id}")
def delete_tax_id(ctx: Ctx, params: dict[str, Any], customer_id: str, tax_id: str) -> Doc:
    Params.parse(params)
    return uc.delete_tax_id(ctx.store, customer_id, tax_id)
