"""/v1/subscriptions and /v1/subscription_items."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from pydantic import Field

from billfold.app import billing, changes, lifecycle
from billfold.app import subscriptions as uc
from billfold.app.errors import BillfoldError, InvalidRequest, ResourceMissing
from billfold.app.ports import Doc, Page

from ..framework import Ctx, ListResult, StripeRouter
from ..params import EmptyIsNone, ListParams, Metadata, Params, TaxRateIds, given_values
from .invoice_items import DiscountParam as ItemDiscount
from .invoice_items import PriceData

router = StripeRouter()


class DiscountParam(Params):
    coupon: str | None = None
    promotion_code: str | None = None
    discount: str | None = None


class ItemParam(Params):
    price: str | None = None
    quantity: Annotated[int, Field(ge=0)] | None = None
    metadata: Metadata | None = None
    tax_rates: TaxRateIds = None
    discounts: Annotated[list[DiscountParam] | None, EmptyIsNone] = None


class PeriodStart(Params):
    type: Literal["max_item_period_start", "now", "timestamp"]
    timestamp: int | None = None


class PeriodEnd(Params):
    type: Literal["min_item_period_end", "timestamp"]
    timestamp: int | None = None


class ItemPeriod(Params):
    start: PeriodStart
    end: PeriodEnd


class AddInvoiceItem(Params):
    """One of ``add_invoice_items``: a one-time charge appended to the subscription's next invoice."""

    discountable: bool | None = None
    discounts: Annotated[list[ItemDiscount] | None, EmptyIsNone] = None
    metadata: Metadata | None = None
    period: ItemPeriod | None = None
    price: str | None = None
    price_data: PriceData | None = None
    quantity: Annotated[int, Field(ge=0)] | None = None
    tax_rates: TaxRateIds = None


AddInvoiceItems = Annotated[list[AddInvoiceItem], Field(max_length=20)]


class TrialEndBehavior(Params):
    missing_payment_method: Literal["cancel", "create_invoice", "pause"]


class TrialSettings(Params):
    end_behavior: TrialEndBehavior


class SubscriptionCreate(Params):
    customer: str
    items: Annotated[list[ItemParam], Field(min_length=1, max_length=20)]
    add_invoice_items: AddInvoiceItems | None = None
    billing_cycle_anchor: int | None = None
    cancel_at: int | None = None
    cancel_at_period_end: bool | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] | None = None
    currency: str | None = None
    days_until_due: Annotated[int, Field(ge=0, le=365)] | None = None
    default_payment_method: str | None = None
    default_tax_rates: TaxRateIds = None
    description: Annotated[str, Field(max_length=500)] | None = None
    discounts: Annotated[list[DiscountParam] | None, EmptyIsNone] = None
    metadata: Metadata | None = None
    payment_behavior: (
        Literal["allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"]
        | None
    ) = None
    proration_behavior: Literal["always_invoice", "create_prorations", "none"] | None = None
    trial_end: int | Literal["now"] | None = None
    trial_period_days: Annotated[int, Field(ge=0)] | None = None
    trial_settings: TrialSettings | None = None


class SubscriptionList(ListParams):
    customer: str | None = None
    price: str | None = None
    status: (
        Literal[
            "active",
            "all",
            "canceled",
            "ended",
            "incomplete",
            "incomplete_expired",
            "past_due",
            "paused",
            "trialing",
            "unpaid",
        ]
        | None
    ) = None
    collection_method: Literal["charge_automatically", "send_invoice"] | None = None
    test_clock: str | None = None


@router.post("/v1/subscriptions")
def create(ctx: Ctx, params: dict[str, Any]) -> Doc:
    p = SubscriptionCreate.parse(params)
    return billing.start_subscription(ctx.store, ctx.clock.now(), given_values(p), ctx.services.processor)


@router.get("/v1/subscriptions/{subscription_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], subscription_id: str) -> Doc:
    Params.parse(params)
    return uc.get_subscription(ctx.store, subscription_id)


@router.get("/v1/subscriptions")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = SubscriptionList.parse(params)
    filters: dict[str, Any] = {}
    if p.customer:
        filters["customer"] = p.customer
    if p.test_clock:
        filters["test_clock"] = p.test_clock
    if p.status is None:
        filters["status"] = uc.ACTIVE_STATUSES
    elif p.status == "ended":
        filters["status"] = ("canceled", "incomplete_expired")
    elif p.status != "all":
        filters["status"] = p.status
    page = ctx.store.list(
        "subscription",
        p.page_query(filters),
    )
    return ListResult(page, "/v1/subscriptions")


@router.get("/v1/subscription_items/{item_id}")
def retrieve_item(ctx: Ctx, params: dict[str, Any], item_id: str) -> Doc:
    Params.parse(params)
    return _stored_item(ctx, item_id)


class ItemList(ListParams):
    subscription: str


@router.get("/v1/subscription_items")
def list_items(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = ItemList.parse(params)
    sub = uc.get_subscription(ctx.store, p.subscription, param="subscription")
    rows = ctx.store.list("subscription_item", p.page_query({"parent": p.subscription}))
    # The rows give the order and the page; the items are as the subscription holds them (uc.insert_item_row).
    held = {item["id"]: item for item in sub["items"]["data"]}
    return ListResult(
        Page([held[row["id"]] for row in rows.data if row["id"] in held], rows.has_more),
        "/v1/subscription_items",
    )


PaymentBehavior = Literal[
    "allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"
]
ProrationBehavior = Literal["always_invoice", "create_prorations", "none"]


class ItemCreate(ItemParam):
    subscription: str
    payment_behavior: PaymentBehavior | None = None
    proration_behavior: ProrationBehavior | None = None
    proration_date: int | None = None


class ItemUpdate(ItemParam):
    payment_behavior: PaymentBehavior | None = None
    proration_behavior: ProrationBehavior | None = None
    proration_date: int | None = None
    off_session: bool | None = None  # accepted: every payment the worker makes is off session


class ItemDelete(Params):
    proration_behavior: ProrationBehavior | None = None
    proration_date: int | None = None
    clear_usage: bool | None = None


_ITEM_FIELDS = ("price", "quantity", "metadata", "tax_rates", "discounts")


def _rename_item_param(param: str | None) -> str | None:
    """``items[0][quantity]`` -> ``quantity``: the subscription change names the item endpoints' own parameters."""
    if param is None or param == "items" or param.startswith("items[0][deleted]"):
        return None
    if param.startswith("items[0]["):
        name, _, rest = param.removeprefix("items[0][").partition("]")
        return name + rest
    return param


@contextmanager
def _item_errors() -> Iterator[None]:
    """Errors of the subscription change an item endpoint makes, in that endpoint's terms."""
    try:
        yield
    except BillfoldError as exc:
        exc.param = _rename_item_param(exc.param)
        exc.message = re.sub(r"items\[0\]\[([^\]]+)\]", r"\1", exc.message)
        exc.args = (exc.message,)
        raise


def _change_one_item(ctx: Ctx, sub_id: str, change: dict[str, Any], values: dict[str, Any]) -> Doc:
    """``POST /v1/subscriptions/{id}`` with ``items=[change]``: the same plan, prorations and payment."""
    with _item_errors():
        return changes.change_items(
            ctx.store,
            ctx.clock.now(),
            sub_id,
            [change],
            values.pop("proration_behavior", None) or "create_prorations",
            values.pop("proration_date", None),
            ctx.services.processor,
            payment_behavior=values.pop("payment_behavior", None) or "allow_incomplete",
        )


def _stored_item(ctx: Ctx, item_id: str) -> Doc:
    doc = uc.get_item(ctx.store, item_id)
    if doc is None:
        raise ResourceMissing("subscription_item", item_id)
    return doc


@router.post("/v1/subscription_items")
def create_item(ctx: Ctx, params: dict[str, Any]) -> Doc:
    """Add an item to a subscription (https://docs.stripe.com/api/subscription_items/create)."""
    p = ItemCreate.parse(params)
    if p.price is None:
        raise InvalidRequest("Missing required param: price.", param="price")
    values = given_values(p)
    sub_id = values.pop("subscription")
    known = {i["id"] for i in uc.get_subscription(ctx.store, sub_id, param="subscription")["items"]["data"]}
    item: dict[str, Any] = {k: values.pop(k) for k in _ITEM_FIELDS if k in values}
    sub = _change_one_item(ctx, sub_id, item, values)
    # With pending_if_incomplete and a declined payment, the item exists only in the pending update until its
    # invoice is paid: it is returned as it will be.
    pending = (sub.get("pending_update") or {}).get("subscription_items") or []
    return next(i for i in [*sub["items"]["data"], *pending] if i["id"] not in known)


@router.post("/v1/subscription_items/{item_id}")
def update_item(ctx: Ctx, params: dict[str, Any], item_id: str) -> Doc:
    """Change an item's price, quantity, tax rates, discounts or metadata, prorated like a subscription update
    (https://docs.stripe.com/api/subscription_items/update). With ``pending_if_incomplete`` the item is returned
    unchanged until the change's invoice is paid."""
    p = ItemUpdate.parse(params)
    values = given_values(p)
    values.pop("off_session", None)
    stored = _stored_item(ctx, item_id)
    change: dict[str, Any] = {k: values.pop(k) for k in _ITEM_FIELDS if k in values}
    _change_one_item(ctx, stored["subscription"], {"id": item_id, **change}, values)
    return _stored_item(ctx, item_id)


@router.delete("/v1/subscription_items/{item_id}")
def delete_item(ctx: Ctx, params: dict[str, Any], item_id: str) -> Doc:
    """Remove an item from its subscription, prorated like a subscription update
    (https://docs.stripe.com/api/subscription_items/delete)."""
    p = ItemDelete.parse(params)
    values = given_values(p)
    stored = _stored_item(ctx, item_id)
    change: dict[str, Any] = {"id": item_id, "deleted": True}
    if "clear_usage" in values:
        change["clear_usage"] = values.pop("clear_usage")
    _change_one_item(ctx, stored["subscription"], change, values)
    return {"id": item_id, "object": "subscription_item", "deleted": True}


class ItemChange(ItemParam):
    id: str | None = None
    deleted: bool | None = None
    clear_usage: bool | None = None


class AnchorParam(Params):
    type: Literal["now", "unchanged"]


class PauseCollection(Params):
    behavior: Literal["keep_as_draft", "mark_uncollectible", "void"]
    resumes_at: int | None = None


class SubscriptionUpdate(Params):
    items: Annotated[list[ItemChange], Field(max_length=20)] | None = None
    add_invoice_items: AddInvoiceItems | None = None
    payment_behavior: (
        Literal["allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"]
        | None
    ) = None
    proration_behavior: Literal["always_invoice", "create_prorations", "none"] | None = None
    proration_date: int | None = None
    billing_cycle_anchor: Literal["now", "unchanged"] | AnchorParam | None = None
    discounts: Annotated[list[DiscountParam] | None, EmptyIsNone] = None
    cancel_at_period_end: bool | None = None
    cancel_at: Annotated[int | None, EmptyIsNone] = None
    description: Annotated[str | None, EmptyIsNone] = None
    metadata: Metadata | None = None
    default_payment_method: Annotated[str | None, EmptyIsNone] = None
    days_until_due: Annotated[int, Field(ge=0, le=365)] | None = None
    pause_collection: Annotated[PauseCollection | None, EmptyIsNone] = None
    trial_end: int | Literal["now"] | None = None
    trial_settings: TrialSettings | None = None


@router.post("/v1/subscriptions/{subscription_id}")
def update(ctx: Ctx, params: dict[str, Any], subscription_id: str) -> Doc:
    p = SubscriptionUpdate.parse(params)
    values = given_values(p)
    item_changes = values.pop("items", None)
    anchor = values.pop("billing_cycle_anchor", None)
    change_discounts = "discounts" in values
    discounts = values.pop("discounts", None)
    behavior = values.pop("proration_behavior", None) or "create_prorations"
    proration_date = values.pop("proration_date", None)
    payment_behavior = values.pop("payment_behavior", None) or "allow_incomplete"
    if payment_behavior == "pending_if_incomplete":
        # Only what a pending update can hold (https://docs.stripe.com/billing/subscriptions/pending-updates-reference)
        allowed = ("trial_end", "add_invoice_items")
        other = sorted(
            [*(k for k in values if k not in allowed), *(["discounts"] if change_discounts else [])]
        )
        if other:
            raise InvalidRequest(
                "payment_behavior=pending_if_incomplete can only be used with items (price, quantity), "
                "proration_behavior, proration_date, billing_cycle_anchor, trial_end and add_invoice_items; "
                f"`{other[0]}` can't be part of a pending update.",
                param=other[0],
            )
        if "trial_end" in values and (item_changes or anchor is not None):
            raise InvalidRequest(
                "A pending update either changes items (and the billing cycle anchor) or ends the trial, not both "
                "in one request: send trial_end in a request of its own.",
                param="trial_end",
            )
    if "cancel_at" in values or "cancel_at_period_end" in values:  # refused before anything is changed
        uc.refuse_cancellation_if_scheduled(uc.get_subscription(ctx.store, subscription_id), values)
    trial_end = values.pop("trial_end", None)
    if proration_date is not None and not item_changes and _anchor_type(anchor) != "now":
        raise InvalidRequest("proration_date only applies to a change of items.", param="proration_date")
    sub = None
    added = values.pop("add_invoice_items", None)
    if added:
        # Pending items of the subscription, made first: a change invoiced at once in this request collects them.
        changes.add_invoice_items(ctx.store, ctx.clock.now(), subscription_id, added)
        if not (values or item_changes or anchor is not None or change_discounts or trial_end is not None):
            return uc.get_subscription(ctx.store, subscription_id)
    if item_changes or anchor is not None or change_discounts:
        sub = changes.change_items(
            ctx.store,
            ctx.clock.now(),
            subscription_id,
            item_changes or [],
            behavior,
            proration_date,
            ctx.services.processor,
            billing_cycle_anchor=anchor,
            discounts=(discounts or []) if change_discounts else None,
            payment_behavior=payment_behavior,
        )
    if values or (sub is None and trial_end is None):
        sub = uc.update_subscription(
            ctx.store, ctx.clock.now(), subscription_id, values, proration_behavior=behavior
        )
    if trial_end is not None:
        sub = lifecycle.change_trial_end(
            ctx.store,
            ctx.clock.now(),
            subscription_id,
            trial_end,
            ctx.services.processor,
            payment_behavior=payment_behavior,
        )
    assert sub is not None
    return sub


def _anchor_type(anchor: Any) -> str | None:
    return str(anchor.get("type")) if isinstance(anchor, dict) else anchor


class CancellationDetails(Params):
    comment: Annotated[str | None, EmptyIsNone, Field(max_length=5000)] = None
    feedback: Annotated[
        Literal[
            "customer_service",
            "low_quality",
            "missing_features",
            "other",
            "switched_service",
            "too_complex",
            "too_expensive",
            "unused",
        ]
        | None,
        EmptyIsNone,
    ] = None


class SubscriptionCancel(Params):
    invoice_now: bool | None = None
    prorate: bool | None = None
    cancellation_details: CancellationDetails | None = None


@router.delete("/v1/subscriptions/{subscription_id}")
def cancel(ctx: Ctx, params: dict[str, Any], subscription_id: str) -> Doc:
    p = SubscriptionCancel.parse(params)
    return lifecycle.cancel_now(
        ctx.store, ctx.clock.now(), subscription_id, given_values(p), ctx.services.processor
    )


class SubscriptionResume(Params):
    billing_cycle_anchor: Literal["now", "unchanged"] | AnchorParam | None = None
    payment_behavior: Literal["resume_on_payment_attempt", "resume_on_payment_success"] | None = None
    proration_behavior: Literal["always_invoice", "create_prorations", "none"] | None = None
    proration_date: int | None = None


@router.post("/v1/subscriptions/{subscription_id}/resume")
def resume(ctx: Ctx, params: dict[str, Any], subscription_id: str) -> Doc:
    p = SubscriptionResume.parse(params)
    return lifecycle.resume(
        ctx.store, ctx.clock.now(), subscription_id, given_values(p), ctx.services.processor
    )


class PauseUnusedTime(Params):
    type: Literal["item_current_period_start", "none", "now"]


class PauseOutstandingUsage(Params):
    type: Literal["none", "now"]


class PauseBillFor(Params):
    outstanding_usage_through: PauseOutstandingUsage | None = None
    unused_time_from: PauseUnusedTime | None = None


class SubscriptionPause(Params):
    bill_for: PauseBillFor | None = None
    invoicing_behavior: Literal["invoice", "pending_invoice_item"] | None = None
    type: Literal["subscription"] | None = None


@router.post("/v1/subscriptions/{subscription_id}/pause")
def pause(ctx: Ctx, params: dict[str, Any], subscription_id: str) -> Doc:
    p = SubscriptionPause.parse(params)
    return lifecycle.pause_now(
        ctx.store, ctx.clock.now(), subscription_id, given_values(p), ctx.services.processor
    )
