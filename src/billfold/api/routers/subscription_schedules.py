"""/v1/subscription_schedules: phased subscriptions (ramp deals, future starts), with cancel and release."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import schedules as uc
from billfold.app.errors import InvalidRequest
from billfold.app.ports import Doc

from ..framework import Ctx, ListResult, StripeRouter
from ..params import (
    Currency,
    EmptyIsNone,
    ListParams,
    Metadata,
    Params,
    TaxRateIds,
    created_filter,
    given_values,
)

router = StripeRouter()

CollectionMethod = Literal["charge_automatically", "send_invoice"]
ProrationBehavior = Literal["always_invoice", "create_prorations", "none"]


class DiscountParam(Params):
    coupon: str | None = None
    discount: str | None = None
    promotion_code: str | None = None


class Duration(Params):
    interval: Literal["day", "week", "month", "year"]
    interval_count: Annotated[int, Field(ge=1)] | None = None


class InvoiceSettings(Params):
    days_until_due: Annotated[int, Field(ge=0, le=365)] | None = None


class PhaseItem(Params):
    price: str
    quantity: Annotated[int, Field(ge=0)] | None = None
    metadata: Metadata | None = None
    tax_rates: TaxRateIds = None
    discounts: Annotated[list[DiscountParam] | None, EmptyIsNone] = None


class Phase(Params):
    items: Annotated[list[PhaseItem], Field(min_length=1, max_length=20)]
    billing_cycle_anchor: Literal["automatic", "phase_start"] | None = None
    collection_method: CollectionMethod | None = None
    currency: Currency | None = None
    default_payment_method: str | None = None
    default_tax_rates: TaxRateIds = None
    description: Annotated[str | None, EmptyIsNone] = None
    discounts: Annotated[list[DiscountParam] | None, EmptyIsNone] = None
    duration: Duration | None = None
    end_date: int | None = None
    invoice_settings: InvoiceSettings | None = None
    metadata: Metadata | None = None
    proration_behavior: ProrationBehavior | None = None
    trial: bool | None = None
    trial_end: int | None = None


class PhaseUpdate(Phase):
    start_date: int | Literal["now"] | None = None
    end_date: int | Literal["now"] | None = None  # type: ignore[assignment]


class DefaultSettings(Params):
    billing_cycle_anchor: Literal["automatic", "phase_start"] | None = None
    collection_method: CollectionMethod | None = None
    default_payment_method: str | None = None
    description: Annotated[str | None, EmptyIsNone] = None
    invoice_settings: InvoiceSettings | None = None


class BillingModeFlexible(Params):
    proration_discounts: Literal["included", "itemized"] | None = None


class BillingMode(Params):
    type: Literal["classic", "flexible"]
    flexible: BillingModeFlexible | None = None


class ScheduleCreate(Params):
    customer: str | None = None
    from_subscription: str | None = None
    start_date: int | Literal["now"] | None = None
    end_behavior: Literal["release", "cancel"] | None = None
    phases: Annotated[list[Phase], Field(min_length=1, max_length=50)] | None = None
    default_settings: DefaultSettings | None = None
    metadata: Metadata | None = None
    billing_mode: BillingMode | None = None


class ScheduleUpdate(Params):
    phases: Annotated[list[PhaseUpdate], Field(min_length=1, max_length=50)] | None = None
    end_behavior: Literal["release", "cancel"] | None = None
    default_settings: DefaultSettings | None = None
    metadata: Metadata | None = None
    proration_behavior: ProrationBehavior | None = None


class ScheduleList(ListParams):
    customer: str | None = None
    scheduled: bool | None = None
    canceled_at: Any = None
    completed_at: Any = None
    released_at: Any = None


class ScheduleCancel(Params):
    invoice_now: bool | None = None
    prorate: bool | None = None


class ScheduleRelease(Params):
    preserve_cancel_date: bool | None = None


@router.post("/v1/subscription_schedules")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = ScheduleCreate.parse(params)
    values = given_values(p)
    mode = values.pop("billing_mode", None)
    if mode and mode["type"] != "flexible":
        raise InvalidRequest(
            "Billfold bills in flexible mode only: credits for unused time are based on what was billed.",
            param="billing_mode[type]",
        )
    return uc.create_schedule(ctx.store, ctx.clock.now(), values, ctx.services.processor)


@router.get("/v1/subscription_schedules")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = ScheduleList.parse(params)
    filters: dict[str, Any] = {}
    if p.customer:
        filters["customer"] = p.customer
    else:
        # Stripe leaves out schedules of test-clock customers unless a customer is named.
        filters["test_clock"] = None
    if p.scheduled is True:
        filters["status"] = "not_started"
    elif p.scheduled is False:
        filters["status"] = ("active", "completed", "released", "canceled")
    ids: set[str] | None = None
    for field, status in (
        ("canceled_at", "canceled"),
        ("completed_at", "completed"),
        ("released_at", "released"),
    ):
        bounds = _bounds(getattr(p, field), field)
        if bounds is None:
            continue
        found = {
            doc["id"]
            for doc in ctx.store.iterate("subscription_schedule", {**filters, "status": status})
            if doc.get(field) is not None and _within(int(doc[field]), bounds)
        }
        ids = found if ids is None else ids & found
    page = ctx.store.list(
        "subscription_schedule", p.page_query(filters, sorted(ids) if ids is not None else None)
    )
    return ListResult(page, "/v1/subscription_schedules")


def _bounds(value: Any, name: str) -> dict[str, int] | None:
    if value is None:
        return None
    try:
        return created_filter(value)
    except InvalidRequest as exc:
        exc.param = name if exc.param == "created" else (exc.param or "").replace("created", name, 1)
        exc.message = exc.message.replace("created", name)
        raise


def _within(value: int, bounds: dict[str, int]) -> bool:
    checks = {
        "gt": value > bounds.get("gt", value - 1),
        "gte": value >= bounds.get("gte", value),
        "lt": value < bounds.get("lt", value + 1),
        "lte": value <= bounds.get("lte", value),
    }
    return all(checks.values())


@router.get("/v1/subscription_schedules/{schedule_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], schedule_id: str) -> Doc:
    Params.parse(params)
    return uc.get_schedule(ctx.store, schedule_id)


@router.post("/v1/subscription_schedules/{schedule_id}")
def update(ctx: Ctx, params: dict[str, Any], schedule_id: str) -> Doc:
    p = ScheduleUpdate.parse(params)
    values = given_values(p)
    if "proration_behavior" in values and "phases" not in values:
        raise InvalidRequest(
            "proration_behavior only applies to a change of phases.", param="proration_behavior"
        )
    return uc.update_schedule(ctx.store, ctx.clock.now(), schedule_id, values, ctx.services.processor)


@router.post("/v1/subscription_schedules/{schedule_id}/cancel")
def cancel(ctx: Ctx, params: dict[str, Any], schedule_id: str) -> Doc:
    p = ScheduleCancel.parse(params)
    return uc.cancel_schedule(
        ctx.store,
        ctx.clock.now(),
        schedule_id,
        ctx.services.processor,
        invoice_now=p.invoice_now is not False,
        prorate=p.prorate is not False,
    )


@router.post("/v1/subscription_schedules/{schedule_id}/release")
def release(ctx: Ctx, params: dict[str, Any], schedule_id: str) -> Doc:
    p = ScheduleRelease.parse(params)
    return uc.release_schedule(
        ctx.store, ctx.clock.now(), schedule_id, preserve_cancel_date=bool(p.preserve_cancel_date)
    )
