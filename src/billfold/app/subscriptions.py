"""Subscription use cases: create, update, cancel — the documents; invoicing is in ``invoicing``.

Periods follow ``core.periods`` (anchor arithmetic with Stripe's month-end rule); time for a customer on a test clock
is the clock's frozen time. Billing mode is "flexible": credits for unused time are based on what was billed
(docs/adr/0007-billing-loop.md).
"""

from __future__ import annotations

from typing import Any

from billfold.core import periods
from billfold.ids import new_id

from . import account_settings
from .customers import get_customer
from .errors import InvalidRequest, ResourceMissing
from .metadata import merge_metadata
from .ports import Doc, Index, Store

ACTIVE_STATUSES = ("trialing", "active", "past_due", "unpaid", "incomplete", "paused")
ENDED_STATUSES = ("canceled", "incomplete_expired")
# Statuses whose subscription renews at its period end (a paused or incomplete one does not).
RENEWING_STATUSES = ("trialing", "active", "past_due", "unpaid")
MAX_TRIAL_DAYS = 730
DAY = 86_400

# Timing rules of the subscription's due actions (all in seconds).
# "Upcoming renewal events" (invoice.upcoming, days before each renewal) are an account setting:
# app/account_settings.py ``upcoming_invoice_notice_days``.
# customer.subscription.trial_will_end: "three days before the trial period is scheduled to end"
# (https://docs.stripe.com/billing/subscriptions/trials#use-webhooks-to-manage-trials).
TRIAL_WILL_END_SECONDS = 3 * DAY
# An incomplete subscription whose first invoice is not paid within 23 hours becomes incomplete_expired
# (the subscription object's `status` documentation); a resumption invoice not paid within 23 hours is voided and
# the subscription stays paused (POST /v1/subscriptions/{id}/resume documentation).
INCOMPLETE_EXPIRY_SECONDS = 23 * 3600

# Due actions, in the order they run when two fall on the same instant.
DUE_ACTION_ORDER = (
    "expire_incomplete",
    "expire_resumption",
    "expire_pending_update",
    "cancel",
    "resume_collection",
    "trial_will_end",
    "upcoming",
    "period_end",
)


def customer_now(store: Store, customer: Doc, wall_now: int) -> int:
    """The current instant for a customer: its test clock's frozen time, or the wall clock."""
    clock_id = customer.get("test_clock")
    if not clock_id:
        return wall_now
    clock = store.get("test_helpers.test_clock", clock_id)
    return int(clock["frozen_time"]) if clock and not clock.get("deleted") else wall_now


def _index(doc: Doc) -> Index:
    return Index(
        customer=doc["customer"],
        status=doc["status"],
        currency=doc["currency"],
        test_clock=doc.get("test_clock"),
        parent=doc.get("schedule"),
        due_at=doc.get("billfold_due_at"),
    )


def period(sub: Doc) -> tuple[int, int]:
    """The current billing period ``[start, end)`` (every item of a subscription shares it)."""
    first = sub["items"]["data"][0]
    return int(first["current_period_start"]), int(first["current_period_end"])


def will_renew(sub: Doc) -> bool:
    """Whether the subscription renews into a new period at its current period end."""
    end = period(sub)[1]
    if sub["status"] not in RENEWING_STATUSES or sub.get("cancel_at_period_end"):
        return False
    return not (sub.get("cancel_at") and sub["cancel_at"] <= end)


def due_actions(sub: Doc, notice_seconds: int | None) -> list[tuple[int, str]]:
    """Every action the worker owes the subscription, as ``(instant, action)``, earliest first. ``notice_seconds``:
    how long before a renewal ``invoice.upcoming`` is sent (the account's setting; None: never).

    This is the one place that knows what a subscription waits for; ``set_due`` keeps the earliest in the indexed
    ``due_at`` column and ``billing.subscription_due`` performs it.
    """
    status = sub["status"]
    if status in ENDED_STATUSES:
        return []
    out: list[tuple[int, str]] = []
    if sub.get("cancel_at"):
        out.append((int(sub["cancel_at"]), "cancel"))
    if status == "incomplete":
        out.append((int(sub["created"]) + INCOMPLETE_EXPIRY_SECONDS, "expire_incomplete"))
    elif status == "paused":
        resumption = sub.get("billfold_resumption") or {}
        if resumption.get("expires_at"):
            out.append((int(resumption["expires_at"]), "expire_resumption"))
    else:
        start, end = period(sub)
        if sub.get("billfold_pending_update"):
            out.append((int(sub["pending_update"]["expires_at"]), "expire_pending_update"))
        pause = sub.get("pause_collection") or {}
        if pause.get("resumes_at"):
            out.append((int(pause["resumes_at"]), "resume_collection"))
        notices = sub.get("billfold_notices") or {}
        trial_end = sub.get("trial_end")
        if status == "trialing" and trial_end and notices.get("trial_will_end") != trial_end:
            out.append((max(int(trial_end) - TRIAL_WILL_END_SECONDS, start), "trial_will_end"))
        notice = None if notice_seconds is None else end - notice_seconds
        if notice is not None and notice > start and will_renew(sub) and notices.get("upcoming") != end:
            out.append((notice, "upcoming"))
        out.append((end, "period_end"))
    return sorted(out, key=lambda a: (a[0], DUE_ACTION_ORDER.index(a[1])))


def set_due(store: Store, sub: Doc) -> None:
    """Store the subscription's next due instant (``billfold_due_at``, promoted to the ``due_at`` column)."""
    actions = due_actions(sub, account_settings.upcoming_notice_seconds(store))
    sub["billfold_due_at"] = actions[0][0] if actions else None


def get_subscription(
    store: Store, subscription_id: str, *, param: str = "id", for_update: bool = False
) -> Doc:
    doc = store.get("subscription", subscription_id, for_update=for_update)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("subscription", subscription_id, param=param)
    return doc


def insert_item_row(store: Store, sub: Doc, item: Doc, *, created: int | None = None) -> None:
    """The row that finds a subscription item by its id: the item itself lives in its subscription's document
    (``items.data``), which every change of the item writes anyway. The row holds only the item's id, its
    subscription and when it was created, so a renewal (which moves every item's period) writes one row, not one
    per item; ``get_item`` reads the item from its subscription."""
    row = {
        "id": item["id"],
        "object": "subscription_item",
        "subscription": sub["id"],
        "created": item["created"],
    }
    store.insert(row, Index(parent=sub["id"], customer=sub["customer"]), created=created)


def get_item(store: Store, item_id: str) -> Doc | None:
    """The subscription item as its subscription holds it now, or None when there is no such item (removed)."""
    row = store.get("subscription_item", item_id)
    if row is None or row.get("deleted"):
        return None
    sub = store.get("subscription", row["subscription"])
    if sub is None or sub.get("deleted"):
        return None
    return next((item for item in sub["items"]["data"] if item["id"] == item_id), None)


def get_price(store: Store, price_id: str, param: str) -> Doc:
    price = store.get("price", price_id)
    if price is None or price.get("deleted"):
        raise ResourceMissing("price", price_id, param=param)
    return price


def tax_rates(store: Store, ids: list[str] | None, param: str) -> list[Doc]:
    out = []
    for i, rid in enumerate(ids or []):
        rate = store.get("tax_rate", rid)
        if rate is None or rate.get("deleted"):
            raise ResourceMissing("tax_rate", rid, param=f"{param}[{i}]")
        out.append(rate)
    return out


def resolve_discounts(
    store: Store, given: list[dict[str, Any]] | None, param: str, now: int, customer_id: str
) -> list[Doc]:
    """Turn ``discounts[i][coupon|promotion_code]`` into ``di_`` discount objects (not yet stored).

    Each carries its coupon snapshot under ``coupon`` for pricing; that key is dropped when stored.
    """
    out: list[Doc] = []
    for i, d in enumerate(given or []):
        coupon_id = d.get("coupon")
        promo_id = d.get("promotion_code")
        if bool(coupon_id) == bool(promo_id):
            raise InvalidRequest(
                "Each discount needs exactly one of coupon or promotion_code.", param=f"{param}[{i}]"
            )
        promo = None
        if promo_id:
            promo = store.get("promotion_code", promo_id)
            if promo is None or promo.get("deleted"):
                raise ResourceMissing("promotion_code", promo_id, param=f"{param}[{i}][promotion_code]")
            if not promo.get("active"):
                raise InvalidRequest(
                    f"Promotion code {promo_id} is inactive.", param=f"{param}[{i}][promotion_code]"
                )
            coupon_ref = (promo.get("promotion") or {}).get("coupon") or promo.get("coupon")
            coupon_id = coupon_ref["id"] if isinstance(coupon_ref, dict) else coupon_ref
        coupon = store.get("coupon", str(coupon_id))
        if coupon is None or coupon.get("deleted"):
            raise ResourceMissing("coupon", str(coupon_id), param=f"{param}[{i}][coupon]")
        if coupon.get("valid") is False or (coupon.get("redeem_by") and coupon["redeem_by"] < now):
            raise InvalidRequest(f"Coupon {coupon['id']} is no longer valid.", param=f"{param}[{i}][coupon]")
        end = None
        if coupon.get("duration") == "repeating":
            end = periods.add_interval(now, "month", 1, int(coupon["duration_in_months"]))
        out.append(
            {
                "id": new_id("discount"),
                "object": "discount",
                "checkout_session": None,
                "customer": customer_id,
                "end": end,
                "invoice": None,
                "invoice_item": None,
                "promotion_code": promo["id"] if promo else None,
                "source": {"coupon": coupon["id"], "type": "coupon"},
                "start": now,
                "subscription": None,
                "subscription_item": None,
                "coupon": coupon,
            }
        )
    return out


def _check_price_fits(price: Doc, currency: str, interval: tuple[str, int] | None, param: str) -> None:
    if not price.get("active", True):
        raise InvalidRequest(f"The price specified ({price['id']}) is inactive.", param=param)
    if price.get("type") != "recurring" or not price.get("recurring"):
        raise InvalidRequest(
            f"The price specified ({price['id']}) is a one-time price; subscriptions need recurring prices. "
            "Use add_invoice_items for one-time charges.",
            param=param,
        )
    if price["currency"] != currency and currency not in (price.get("currency_options") or {}):
        raise InvalidRequest(
            f"The price {price['id']} has no amount in {currency}; all items of a subscription bill in one "
            "currency.",
            param=param,
        )
    rec = price["recurring"]
    if interval is not None and (rec["interval"], rec.get("interval_count", 1)) != interval:
        raise InvalidRequest(
            "All prices of a subscription must have the same billing interval "
            f"({price['id']} is every {rec.get('interval_count', 1)} {rec['interval']}).",
            param=param,
        )


def build_items(
    store: Store,
    sub_id: str,
    customer_id: str,
    items: list[dict[str, Any]],
    currency: str | None,
    now: int,
    new_discounts: list[Doc],
) -> tuple[list[Doc], str, tuple[str, int]]:
    if not items:
        raise InvalidRequest("Missing required param: items.", param="items")
    if len(items) > 20:
        raise InvalidRequest("A subscription can have at most 20 items.", param="items")
    docs: list[Doc] = []
    interval: tuple[str, int] | None = None
    seen: set[str] = set()
    for i, item in enumerate(items):
        price_id = item.get("price")
        if not price_id:
            raise InvalidRequest(f"Missing required param: items[{i}][price].", param=f"items[{i}][price]")
        price = get_price(store, price_id, f"items[{i}][price]")
        cur = currency or price["currency"]
        currency = cur
        _check_price_fits(price, cur, interval, f"items[{i}][price]")
        interval = (price["recurring"]["interval"], price["recurring"].get("interval_count", 1))
        if price_id in seen:
            raise InvalidRequest(
                f"The price {price_id} appears twice; use one item with a quantity instead.",
                param=f"items[{i}][price]",
            )
        seen.add(price_id)
        metered = price["recurring"].get("usage_type") == "metered"
        quantity = item.get("quantity")
        if metered and quantity is not None:
            raise InvalidRequest("Quantity cannot be set on a metered price.", param=f"items[{i}][quantity]")
        docs.append(
            {
                "id": new_id("subscription_item"),
                "object": "subscription_item",
                "created": now,
                "current_period_start": None,
                "current_period_end": None,
                "discounts": [],
                "metadata": item.get("metadata") or {},
                "price": price,
                "quantity": None if metered else (1 if quantity is None else int(quantity)),
                "subscription": sub_id,
                "tax_rates": tax_rates(store, item.get("tax_rates"), f"items[{i}][tax_rates]"),
            }
        )
        for d in resolve_discounts(store, item.get("discounts"), f"items[{i}][discounts]", now, customer_id):
            d["subscription"], d["subscription_item"] = sub_id, docs[-1]["id"]
            docs[-1]["discounts"].append(d["id"])
            new_discounts.append(d)
    assert currency is not None and interval is not None
    return docs, currency, interval


def create_subscription(store: Store, wall_now: int, values: dict[str, Any]) -> tuple[Doc, list[Doc]]:
    """Build a new subscription and its discount objects (not stored yet: invoicing decides the status)."""
    customer = get_customer(store, values["customer"], param="customer")
    now = customer_now(store, customer, wall_now)
    sub_id = new_id("subscription")
    new_discounts: list[Doc] = []
    items, currency, (interval, count) = build_items(
        store, sub_id, customer["id"], values.get("items") or [], values.get("currency"), now, new_discounts
    )
    for d in resolve_discounts(store, values.get("discounts"), "discounts", now, customer["id"]):
        d["subscription"] = sub_id
        new_discounts.append(d)
    if customer.get("currency") and customer["currency"] != currency:
        raise InvalidRequest(
            f"The customer already bills in {customer['currency']}; this subscription would bill in {currency}.",
            param="items",
        )
    trial_end = _trial_end(values, now)
    anchor = values.get("billing_cycle_anchor")
    if anchor is not None and anchor <= now:
        raise InvalidRequest("billing_cycle_anchor must be in the future.", param="billing_cycle_anchor")
    start = now
    if trial_end is not None:
        anchor = anchor or trial_end
    anchor = anchor or start
    # The first period runs from the start to the first anchor boundary after it (a shorter, prorated stub when
    # the anchor is in the future — https://docs.stripe.com/billing/subscriptions/billing-cycle).
    if anchor > start:
        period = (start, anchor)
    else:
        period = (start, periods.add_interval(anchor, interval, count, 1))  # type: ignore[arg-type]
    for item in items:
        item["current_period_start"], item["current_period_end"] = period
    collection = values.get("collection_method") or "charge_automatically"
    days_until_due = values.get("days_until_due")
    if collection == "send_invoice" and days_until_due is None:
        days_until_due = 30
    if collection == "charge_automatically" and days_until_due is not None:
        raise InvalidRequest(
            "days_until_due can only be set when collection_method is send_invoice.", param="days_until_due"
        )
    cancel_at = values.get("cancel_at")
    if cancel_at is not None and cancel_at <= now:
        raise InvalidRequest("cancel_at must be in the future.", param="cancel_at")
    doc: Doc = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": None,
        "billing_mode": {
            "type": "flexible",
            "flexible": {"proration_discounts": "included"},
            "updated_at": now,
        },
        "cancel_at": cancel_at,
        "cancel_at_period_end": bool(values.get("cancel_at_period_end", False)),
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": collection,
        "created": now,
        "currency": currency,
        "customer": customer["id"],
        "days_until_due": days_until_due,
        "default_payment_method": values.get("default_payment_method"),
        "default_tax_rates": tax_rates(store, values.get("default_tax_rates"), "default_tax_rates"),
        "description": values.get("description"),
        "discounts": [d["id"] for d in new_discounts if d["subscription_item"] is None],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": store.scope.livemode,
        "metadata": values.get("metadata") or {},
        "pause_collection": None,
        "pending_update": None,
        "schedule": values.get("schedule"),  # set by a schedule that starts this subscription
        "start_date": start,
        "status": "trialing" if trial_end is not None else "incomplete",
        "status_details": None,
        "test_clock": customer.get("test_clock"),
        "trial_end": trial_end,
        "trial_settings": values.get("trial_settings")
        or {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": start if trial_end is not None else None,
    }
    note_cancel_at_credit(doc, values.get("proration_behavior"))
    return doc, new_discounts


def _trial_end(values: dict[str, Any], now: int) -> int | None:
    days = values.get("trial_period_days")
    end = values.get("trial_end")
    if days is not None and end is not None:
        raise InvalidRequest("Pass either trial_end or trial_period_days, not both.", param="trial_end")
    if days is not None:
        if not 0 <= days <= MAX_TRIAL_DAYS:
            raise InvalidRequest(
                f"trial_period_days must be between 0 and {MAX_TRIAL_DAYS}.", param="trial_period_days"
            )
        return now + days * 86400 if days else None
    if end is None or end == "now":
        return None
    end = int(end)
    if end <= now:
        raise InvalidRequest("trial_end must be in the future (or `now`).", param="trial_end")
    return end


def persist_new(store: Store, doc: Doc, discounts: list[Doc]) -> None:
    set_due(store, doc)
    store.insert(doc, _index(doc), created=doc["created"])
    for item in doc["items"]["data"]:
        insert_item_row(store, doc, item, created=item["created"])
    for d in discounts:
        stored = {k: v for k, v in d.items() if k != "coupon"}
        store.insert(stored, Index(customer=d["customer"], parent=d["subscription"]), created=d["start"])
    store.record("customer.subscription.created", doc)


def save(
    store: Store,
    doc: Doc,
    *,
    previous: Doc | None = None,
    event: str | None = "customer.subscription.updated",
) -> None:
    """Store the subscription (its items are in its document) with a fresh due instant, and record ``event``
    (when given)."""
    set_due(store, doc)
    store.replace(doc, _index(doc), event=event, previous_attributes=previous)


def refuse_cancellation_if_scheduled(doc: Doc, values: dict[str, Any]) -> None:
    """A subscription managed by a schedule ends as its schedule says (``end_behavior``): Stripe refuses a change of
    ``cancel_at`` or ``cancel_at_period_end`` on the subscription itself. (Sending the value it already has is
    accepted: it changes nothing.)"""
    if not doc.get("schedule"):
        return
    for key in ("cancel_at_period_end", "cancel_at"):
        current = bool(doc.get(key)) if key == "cancel_at_period_end" else doc.get(key)
        if key in values and values[key] != current:
            raise InvalidRequest(
                f"The subscription is managed by the subscription schedule `{doc['schedule']}`, and updating any "
                "cancelation behavior directly is not allowed. Please update the schedule instead.",
                param=key,
            )


def note_cancel_at_credit(doc: Doc, behavior: str | None) -> None:
    """Whether the unused time after ``cancel_at`` is credited when the subscription ends then
    (``billfold_cancel_at_credit``; ``billing.end_at_cancel_at`` gives the credit). Stripe: a ``cancel_at`` "before
    the current period ends ... will cause a proration if prorations have been enabled using
    ``proration_behavior``. If set during a future period, this will always cause a proration for that period"
    (https://docs.stripe.com/api/subscriptions/update#update_subscription-cancel_at)."""
    cancel_at = doc.get("cancel_at")
    if cancel_at is None:
        doc.pop("billfold_cancel_at_credit", None)
    else:
        doc["billfold_cancel_at_credit"] = behavior != "none" or cancel_at >= period(doc)[1]


def update_subscription(
    store: Store,
    wall_now: int,
    subscription_id: str,
    values: dict[str, Any],
    *,
    proration_behavior: str | None = None,
) -> Doc:
    """Changes that need no invoice: cancellation settings, pause_collection, metadata, description, payment method.
    ``proration_behavior`` decides whether a ``cancel_at`` credits the unused time after it."""
    doc = get_subscription(store, subscription_id, for_update=True)
    if doc["status"] in ENDED_STATUSES:
        raise InvalidRequest(
            f"A subscription with status {doc['status']} can't be updated.", param="subscription"
        )
    refuse_cancellation_if_scheduled(doc, values)
    customer = get_customer(store, doc["customer"])
    now = customer_now(store, customer, wall_now)
    before = {k: doc.get(k) for k in values}
    if "cancel_at" in values and values["cancel_at"] is not None and values["cancel_at"] <= now:
        raise InvalidRequest("cancel_at must be in the future.", param="cancel_at")
    if values.get("pause_collection"):
        values["pause_collection"] = _pause_collection(values["pause_collection"], now)
    if values.get("days_until_due") is not None and doc["collection_method"] != "send_invoice":
        raise InvalidRequest(
            "days_until_due can only be set when collection_method is send_invoice.", param="days_until_due"
        )
    for key, value in values.items():
        if key == "metadata":
            doc["metadata"] = merge_metadata(doc.get("metadata") or {}, value)
        else:
            doc[key] = value
    if "cancel_at_period_end" in values:
        # Stripe records when the cancellation was requested, and forgets it when the request is withdrawn.
        doc["canceled_at"] = now if values["cancel_at_period_end"] else None
    if "cancel_at" in values and before.get("cancel_at") != doc.get("cancel_at"):
        note_cancel_at_credit(doc, proration_behavior or "create_prorations")
    previous = {k: v for k, v in before.items() if doc.get(k) != v}
    save(store, doc, previous=previous)
    return doc


def _pause_collection(given: dict[str, Any], now: int) -> Doc:
    """``pause_collection[behavior|resumes_at]``: invoices keep being made but are not collected
    (https://docs.stripe.com/billing/subscriptions/pause-payment)."""
    if not given.get("behavior"):
        raise InvalidRequest(
            "Missing required param: pause_collection[behavior].",
            param="pause_collection[behavior]",
            code="parameter_missing",
        )
    resumes_at = given.get("resumes_at")
    if resumes_at is not None and resumes_at <= now:
        raise InvalidRequest("resumes_at must be in the future.", param="pause_collection[resumes_at]")
    return {"behavior": given["behavior"], "resumes_at": resumes_at}
