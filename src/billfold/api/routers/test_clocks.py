"""/v1/test_helpers/test_clocks: create, retrieve, list, delete, advance."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from billfold.app import test_clocks as uc
from billfold.app.ports import Doc

from ..framework import Ctx, ListResult, StripeRouter
from ..params import ListParams, Params

router = StripeRouter()
BASE = "/v1/test_helpers/test_clocks"


class ClockCreate(Params):
    frozen_time: int
    name: Annotated[str, Field(max_length=300)] | None = None


class ClockAdvance(Params):
    frozen_time: int


@router.post(BASE)
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = ClockCreate.parse(params)
    return uc.create_clock(ctx.store, ctx.clock.now(), p.frozen_time, p.name)


@router.get(BASE + "/{clock_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], clock_id: str) -> Doc:
    Params.parse(params)
    return uc.get_clock(ctx.store, clock_id)


@router.get(BASE)
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = ListParams.parse(params)
    page = ctx.store.list(uc.CLOCK, p.page_query())
    return ListResult(page, BASE)


@router.delete(BASE + "/{clock_id}")
def delete(ctx: Ctx, params: dict[str, Any], clock_id: str) -> Doc:
    Params.parse(params)
    return uc.delete_clock(ctx.store, clock_id)


@router.post(BASE + "/{clock_id}/advance")
def advance(ctx: Ctx, params: dict[str, Any], clock_id: str) -> Doc:
    p = ClockAdvance.parse(params)
    return uc.begin_advance(ctx.store, clock_id, p.frozen_time)
