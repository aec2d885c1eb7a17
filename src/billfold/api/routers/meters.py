"""/v1/billing/meters, /v1/billing/meter_events and /v1/billing/meter_event_adjustments: usage-based billing.

Stripe's reference: https://docs.stripe.com/api/billing/meter, .../meter-event, .../meter-event-adjustment and
.../meter-event-summary. The use cases are in ``billfold.app.meters``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import meters as uc
from billfold.app.errors import InvalidRequest
from billfold.app.ports import Doc, Page

from ..framework import Ctx, ListResult, StripeRouter
from ..params import ListParams, Params, given_values

router = StripeRouter()

Name = Annotated[str, Field(min_length=1, max_length=100)]
PayloadKey = Annotated[str, Field(min_length=1, max_length=100)]
Window = Literal["day", "hour"]


class CustomerMapping(Params):
    event_payload_key: PayloadKey
    type: Literal["by_id"]


class DefaultAggregation(Params):
    formula: Literal["count", "last", "sum"]


class ValueSettings(Params):
    event_payload_key: PayloadKey


class MeterCreate(Params):
    customer_mapping: CustomerMapping | None = None
    default_aggregation: DefaultAggregation
    display_name: Annotated[str, Field(min_length=1, max_length=250)]
    event_name: Name
    event_time_window: Window | None = None
    value_settings: ValueSettings | None = None


class MeterUpdate(Params):
    display_name: Annotated[str, Field(min_length=1, max_length=250)] | None = None


class MeterList(ListParams):
    status: Literal["active", "inactive"] | None = None


class MeterEventCreate(Params):
    event_name: Name
    identifier: Name | None = None
    payload: dict[str, Any]
    timestamp: int | None = None


class Cancel(Params):
    identifier: Name


class AdjustmentCreate(Params):
    cancel: Cancel | None = None
    event_name: Name
    type: Literal["cancel"]


class SummaryList(Params):
    customer: Annotated[str, Field(min_length=1)]
    end_time: int
    start_time: int
    value_grouping_window: Window | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    starting_after: str | None = None
    ending_before: str | None = None


@router.post("/v1/billing/meters")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = MeterCreate.parse(params)
    return uc.create_meter(ctx.store, ctx.clock.now(), given_values(p))


@router.get("/v1/billing/meters")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = MeterList.parse(params)
    filters: dict[str, Any] = {} if p.status is None else {"status": p.status}
    return ListResult(ctx.store.list(uc.METER, p.page_query(filters)), "/v1/billing/meters")


@router.get("/v1/billing/meters/{meter_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], meter_id: str) -> Doc:
    Params.parse(params)
    return uc.get_meter(ctx.store, meter_id)


@router.post("/v1/billing/meters/{meter_id}")
def update(ctx: Ctx, params: dict[str, Any], meter_id: str) -> Doc:
    p = MeterUpdate.parse(params)
    return uc.update_meter(ctx.store, ctx.clock.now(), meter_id, given_values(p))


@router.post("/v1/billing/meters/{meter_id}/deactivate")
def deactivate(ctx: Ctx, params: dict[str, Any], meter_id: str) -> Doc:
    Params.parse(params)
    return uc.deactivate_meter(ctx.store, ctx.clock.now(), meter_id)


@router.post("/v1/billing/meters/{meter_id}/reactivate")
def reactivate(ctx: Ctx, params: dict[str, Any], meter_id: str) -> Doc:
    Params.parse(params)
    return uc.reactivate_meter(ctx.store, ctx.clock.now(), meter_id)


@router.get("/v1/billing/meters/{meter_id}/event_summaries")
def event_summaries(ctx: Ctx, params: dict[str, Any], meter_id: str) -> ListResult:
    p = SummaryList.parse(params)
    data = uc.event_summaries(
        ctx.store, meter_id, p.customer, p.start_time, p.end_time, p.value_grouping_window
    )
    return ListResult(_page(data, p), f"/v1/billing/meters/{meter_id}/event_summaries")


def _page(data: list[Doc], p: SummaryList) -> Page:
    """Summaries newest first; the cursors are summary ids, which carry their window's start."""
    if p.starting_after is not None:
        after = uc.cursor_start(p.starting_after, "starting_after")
        older = [d for d in data if d["start_time"] < after]
        return Page(older[: p.limit], len(older) > p.limit)
    if p.ending_before is not None:
        before = uc.cursor_start(p.ending_before, "ending_before")
        newer = [d for d in data if d["start_time"] > before]
        return Page(newer[-p.limit :], len(newer) > p.limit)
    return Page(data[: p.limit], len(data) > p.limit)


@router.post("/v1/billing/meter_events")
def create_meter_event(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = MeterEventCreate.parse(params)
    return uc.record_meter_event(ctx.store, ctx.clock.now(), given_values(p))


@router.post("/v1/billing/meter_event_adjustments")
def create_adjustment(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = AdjustmentCreate.parse(params)
    if p.cancel is None:
        raise InvalidRequest(
            "Missing required param: cancel[identifier]. A cancel adjustment names the event to cancel.",
            param="cancel[identifier]",
            code="parameter_missing",
        )
    return uc.cancel_meter_event(ctx.store, ctx.clock.now(), p.event_name, p.cancel.identifier)
