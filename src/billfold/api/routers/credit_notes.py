"""/v1/credit_notes: credit notes on open or paid invoices, and their previews."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import credit_notes as uc
from billfold.app.errors import ResourceMissing
from billfold.app.ports import Doc

from ..framework import Ctx, ListResult, StripeRouter
from ..params import ListParams, Metadata, Params, TaxRateIds, given_values, merge_metadata

router = StripeRouter()

Positive = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]


class CreditNoteLine(Params):
    type: Literal["custom_line_item", "invoice_line_item"]
    amount: Positive | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    invoice_line_item: str | None = None
    metadata: Metadata | None = None
    quantity: Positive | None = None
    tax_amounts: Literal[""] | list[dict[str, Any]] | None = None
    tax_rates: TaxRateIds = None
    unit_amount: NonNegative | None = None
    unit_amount_decimal: Annotated[Decimal, Field(ge=0, decimal_places=12)] | None = None


class CreditNoteParams(Params):
    invoice: str
    amount: Positive | None = None
    credit_amount: NonNegative | None = None
    effective_at: NonNegative | None = None
    email_type: Literal["credit_note", "none"] | None = None
    lines: list[CreditNoteLine] | None = None
    memo: Annotated[str, Field(max_length=5000)] | None = None
    metadata: Metadata | None = None
    out_of_band_amount: NonNegative | None = None
    reason: Literal["duplicate", "fraudulent", "order_change", "product_unsatisfactory"] | None = None
    refund_amount: NonNegative | None = None
    refunds: list[dict[str, Any]] | None = None
    shipping_cost: dict[str, Any] | None = None


class PreviewLinesParams(CreditNoteParams):
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    starting_after: str | None = None
    ending_before: str | None = None


class CreditNoteUpdate(Params):
    memo: Annotated[str, Field(max_length=5000)] | None = None
    metadata: Metadata | None = None


class CreditNoteList(ListParams):
    customer: str | None = None
    invoice: str | None = None


_PAGING = ("limit", "starting_after", "ending_before")


def lines_page(
    lines: list[Doc], url: str, limit: int, starting_after: str | None, ending_before: str | None
) -> Doc:
    """A page of a credit note's lines (they live in the credit note's document)."""
    ids = [line["id"] for line in lines]
    for cursor, param in ((starting_after, "starting_after"), (ending_before, "ending_before")):
        if cursor is not None and cursor not in ids:
            raise ResourceMissing("credit_note_line_item", cursor, param=param)
    if ending_before is not None:
        end = ids.index(ending_before)
        start = max(0, end - limit)
        window, has_more = lines[start:end], start > 0
    else:
        start = ids.index(starting_after) + 1 if starting_after is not None else 0
        window, has_more = lines[start : start + limit], start + limit < len(lines)
    return {"object": "list", "data": window, "has_more": has_more, "url": url}


@router.post("/v1/credit_notes")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    values = given_values(CreditNoteParams.parse(params))
    return uc.create(ctx.store, ctx.clock.now(), values, ctx.services.processor)


@router.get("/v1/credit_notes/preview")
def preview(ctx: Ctx, params: dict[str, Any]) -> Doc:
    values = given_values(CreditNoteParams.parse(params))
    return uc.preview(ctx.store, ctx.clock.now(), values)


@router.get("/v1/credit_notes/preview/lines")
def preview_lines(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = PreviewLinesParams.parse(params)
    values = {k: v for k, v in given_values(p).items() if k not in _PAGING}
    doc = uc.preview(ctx.store, ctx.clock.now(), values)
    return lines_page(
        doc["lines"]["data"], "/v1/credit_notes/preview/lines", p.limit, p.starting_after, p.ending_before
    )


@router.get("/v1/credit_notes")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = CreditNoteList.parse(params)
    filters: dict[str, Any] = {}
    if p.customer is not None:
        filters["customer"] = p.customer
    if p.invoice is not None:
        filters["parent"] = p.invoice
    return ListResult(ctx.store.list("credit_note", p.page_query(filters)), "/v1/credit_notes")


@router.get("/v1/credit_notes/{credit_note_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], credit_note_id: str) -> Doc:
    Params.parse(params)
    return uc.get_credit_note(ctx.store, credit_note_id)


@router.post("/v1/credit_notes/{credit_note_id}")
def update(ctx: Ctx, params: dict[str, Any], credit_note_id: str) -> Doc:
    values = given_values(CreditNoteUpdate.parse(params))
    return uc.update(ctx.store, credit_note_id, values, merge_metadata)


@router.post("/v1/credit_notes/{credit_note_id}/void")
def void(ctx: Ctx, params: dict[str, Any], credit_note_id: str) -> Doc:
    Params.parse(params)
    return uc.void(ctx.store, credit_note_id, ctx.clock.now())


@router.get("/v1/credit_notes/{credit_note_id}/lines")
def lines(ctx: Ctx, params: dict[str, Any], credit_note_id: str) -> Doc:
    p = ListParams.parse(params)
    doc = uc.get_credit_note(ctx.store, credit_note_id)
    return lines_page(
        doc["lines"]["data"],
        f"/v1/credit_notes/{credit_note_id}/lines",
        p.limit,
        p.starting_after,
        p.ending_before,
    )
