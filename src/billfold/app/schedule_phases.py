"""Subscription schedule phases: validating the requested phases and writing them as Stripe's phase objects.

Why this module exists: a phase is checked once, when the schedule is created or updated (prices, coupons, tax rates,
dates), so that entering it later (``schedules.process_due``) cannot fail on input the merchant could have fixed.
https://docs.stripe.com/api/subscription_schedules/object#subscription_schedule_object-phases
"""

from __future__ import annotations

from typing import Any

from billfold.core import periods
from billfold.ids import new_id

from . import subscriptions
from .errors import BillfoldError, InvalidRequest, ResourceMissing
from .ports import Doc, Index, Store


def setting(doc: Doc, phase: Doc, key: str) -> Any:
    """A phase's setting, or the schedule's ``default_settings`` where the phase leaves it unset."""
    if key == "days_until_due":
        value = (phase.get("invoice_settings") or {}).get("days_until_due")
        return value if value is not None else doc["default_settings"]["invoice_settings"]["days_until_due"]
    value = phase.get(key)
    return value if value is not None else doc["default_settings"].get(key)


def _nested(exc: BillfoldError, prefix: str) -> BillfoldError:
    """Name a nested value's error by its full param (``items[0][price]`` -> ``phases[1][items][0][price]``)."""
    if exc.param:
        head, bracket, rest = exc.param.partition("[")
        exc.param = f"{prefix}[{head}]{bracket}{rest}"
    return exc


def _discount_entries(given: list[Doc] | None) -> list[Doc]:
    return [
        {"coupon": d.get("coupon"), "discount": d.get("discount"), "promotion_code": d.get("promotion_code")}
        for d in given or []
    ]


def _check_discounts(store: Store, given: list[Doc] | None, param: str, now: int, customer_id: str) -> None:
    """Coupons and promotion codes must be redeemable now; ``discount`` must name one of this customer's."""
    fresh = []
    for i, d in enumerate(given or []):
        if d.get("discount") and not (d.get("coupon") or d.get("promotion_code")):
            found = store.get("discount", d["discount"])
            if found is None or found.get("customer") != customer_id:
                raise ResourceMissing("discount", d["discount"], param=f"{param}[{i}][discount]")
        else:
            fresh.append(d)
    subscriptions.resolve_discounts(store, fresh, param, now, customer_id)


def item_values(item: Doc) -> dict[str, Any]:
    """A phase item in the shape of the subscription API's ``items[]``."""
    out: dict[str, Any] = {
        "price": item["price"],
        "metadata": {k: v for k, v in item["metadata"].items() if v != ""},
        "tax_rates": [r["id"] for r in item["tax_rates"]],
        "discounts": [{k: v for k, v in d.items() if v} for d in item["discounts"]],
    }
    if item.get("quantity") is not None:
        out["quantity"] = item["quantity"]
    return out


def _phase_items(
    store: Store, customer: Doc, p: Doc, name: str, currency: str | None, now: int
) -> tuple[list[Doc], str, tuple[str, int], Doc]:
    """The phase's items, checked as a subscription's items are (prices, quantities, tax rates, coupons)."""
    given = p.get("items") or []
    plain = [{**i, "discounts": None} for i in given]
    try:
        docs, currency, interval = subscriptions.build_items(
            store, "sub_phase", customer["id"], plain, currency, now, []
        )
        for i, item in enumerate(given):
            _check_discounts(store, item.get("discounts"), f"items[{i}][discounts]", now, customer["id"])
    except BillfoldError as exc:
        raise _nested(exc, name) from None
    items = [
        {
            "billing_thresholds": None,
            "discounts": _discount_entries(given[i].get("discounts")),
            "metadata": given[i].get("metadata") or {},
            "plan": d["price"]["id"],
            "price": d["price"]["id"],
            "quantity": d["quantity"],
            "tax_rates": d["tax_rates"],
        }
        for i, d in enumerate(docs)
    ]
    return items, currency, interval, docs[0]["price"]["recurring"]


def build_phases(
    store: Store,
    customer: Doc,
    given: list[Doc],
    start: int,
    now: int,
    defaults: Doc,
    *,
    current: Doc | None,
) -> list[Doc]:
    """Validate the requested phases and compute their dates: each starts where the previous one ends, and lasts
    ``end_date``, ``duration`` or (neither given) one billing interval of its prices.

    ``current`` is the phase in progress when an active schedule is updated (``given[0]`` replaces it).
    """
    out: list[Doc] = []
    t = start
    currency = customer.get("currency")
    interval: tuple[str, int] | None = None
    for n, p in enumerate(given):
        name = f"phases[{n}]"
        if n > 0 and p.get("start_date") is not None and p["start_date"] != t:
            raise InvalidRequest(
                f"Phases must be contiguous: phase {n} must start when phase {n - 1} ends ({t}).",
                param=f"{name}[start_date]",
            )
        currency = p.get("currency") or currency
        items, currency, phase_interval, rec = _phase_items(store, customer, p, name, currency, now)
        anchor = p.get("billing_cycle_anchor") or defaults["billing_cycle_anchor"]
        if interval is not None and phase_interval != interval and anchor != "phase_start":
            raise InvalidRequest(
                "A phase whose prices bill on another interval must restart the billing cycle: set "
                "billing_cycle_anchor=phase_start on it.",
                param=f"{name}[items][0][price]",
            )
        interval = phase_interval
        try:
            _check_discounts(store, p.get("discounts"), "discounts", now, customer["id"])
        except BillfoldError as exc:
            raise _nested(exc, name) from None
        end = p.get("end_date")
        duration = p.get("duration")
        if end is not None and duration is not None:
            raise InvalidRequest(
                "Set either end_date or duration on a phase, not both.", param=f"{name}[end_date]"
            )
        if duration is not None:
            end = periods.add_interval(t, duration["interval"], int(duration.get("interval_count") or 1), 1)
        elif end is None:
            end = periods.add_interval(t, rec["interval"], int(rec.get("interval_count", 1)), 1)
        end = now if end == "now" else int(end)
        if end <= t or end <= now:
            raise InvalidRequest(
                "A phase's end_date must be after its start_date and in the future.",
                param=f"{name}[end_date]",
            )
        trial_end = _trial_end(p, n, t, end, current, anchor, name)
        collection = p.get("collection_method")
        days = (p.get("invoice_settings") or {}).get("days_until_due")
        if (collection or defaults["collection_method"]) == "charge_automatically" and days is not None:
            raise InvalidRequest(
                "days_until_due can only be set when collection_method is send_invoice.",
                param=f"{name}[invoice_settings][days_until_due]",
            )
        out.append(
            {
                "add_invoice_items": [],
                "application_fee_percent": None,
                "automatic_tax": None,
                "billing_cycle_anchor": p.get("billing_cycle_anchor"),
                "billing_thresholds": None,
                "collection_method": collection,
                "currency": currency,
                "default_payment_method": p.get("default_payment_method"),
                "default_tax_rates": subscriptions.tax_rates(
                    store, p.get("default_tax_rates"), f"{name}[default_tax_rates]"
                ),
                "description": p.get("description"),
                "discounts": _discount_entries(p.get("discounts")),
                "end_date": end,
                "invoice_settings": (
                    {"account_tax_ids": None, "days_until_due": days, "issuer": None}
                    if "invoice_settings" in p
                    else None
                ),
                "items": items,
                "metadata": p.get("metadata") or {},
                "on_behalf_of": None,
                "proration_behavior": p.get("proration_behavior") or "create_prorations",
                "start_date": t,
                "transfer_data": None,
                "trial": bool(p.get("trial")) or None,
                "trial_end": trial_end,
            }
        )
        t = end
    return out


def _trial_end(
    p: Doc, n: int, start: int, end: int, current: Doc | None, anchor: str, name: str
) -> int | None:
    if p.get("trial") and p.get("trial_end") is not None:
        raise InvalidRequest("Pass either trial or trial_end on a phase, not both.", param=f"{name}[trial]")
    trial_end = end if p.get("trial") else p.get("trial_end")
    if trial_end is None:
        return None
    if n > 0 or (current is not None and current.get("trial_end") != trial_end):
        raise InvalidRequest(
            "A trial can only be set on the first phase, before the schedule starts.",
            param=f"{name}[{'trial' if p.get('trial') else 'trial_end'}]",
        )
    if not start < int(trial_end) <= end:
        raise InvalidRequest("trial_end must fall within the phase.", param=f"{name}[trial_end]")
    if anchor == "phase_start":
        raise InvalidRequest(
            "billing_cycle_anchor can't be phase_start on a phase with a trial.",
            param=f"{name}[billing_cycle_anchor]",
        )
    return int(trial_end)


def from_subscription_phase(sub: Doc) -> Doc:
    """The one phase of a schedule made from a subscription: its items and settings for its current period."""
    start, end = subscriptions.period(sub)

    def existing(ids: list[str]) -> list[Doc]:
        return [{"coupon": None, "discount": d, "promotion_code": None} for d in ids]

    send = sub["collection_method"] == "send_invoice"
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "automatic_tax": None,
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": sub["collection_method"],
        "currency": sub["currency"],
        "default_payment_method": sub.get("default_payment_method"),
        "default_tax_rates": list(sub.get("default_tax_rates") or []),
        "description": sub.get("description"),
        "discounts": existing(sub.get("discounts") or []),
        "end_date": end,
        "invoice_settings": (
            {"account_tax_ids": None, "days_until_due": sub["days_until_due"], "issuer": None}
            if send
            else None
        ),
        "items": [
            {
                "billing_thresholds": None,
                "discounts": existing(i.get("discounts") or []),
                "metadata": dict(i.get("metadata") or {}),
                "plan": i["price"]["id"],
                "price": i["price"]["id"],
                "quantity": i.get("quantity"),
                "tax_rates": list(i.get("tax_rates") or []),
            }
            for i in sub["items"]["data"]
        ],
        "metadata": {},
        "on_behalf_of": None,
        "proration_behavior": "create_prorations",
        "start_date": start,
        "transfer_data": None,
        "trial": None,
        "trial_end": sub["trial_end"] if sub["status"] == "trialing" else None,
    }


def discount_ref(store: Store, entry: Doc) -> tuple[str, str | None] | None:
    """(coupon, promotion code) a phase discount entry redeems."""
    if entry.get("discount"):
        found = store.get("discount", entry["discount"])
        return (found["source"]["coupon"], found.get("promotion_code")) if found else None
    if entry.get("promotion_code"):
        promo = store.get("promotion_code", entry["promotion_code"]) or {}
        coupon = (promo.get("promotion") or {}).get("coupon") or promo.get("coupon")
        coupon_id = coupon["id"] if isinstance(coupon, dict) else coupon
        return (str(coupon_id), entry["promotion_code"]) if coupon_id else None
    return (entry["coupon"], None) if entry.get("coupon") else None


def new_discount(
    store: Store, sub: Doc, coupon_id: str, promo_id: str | None, at: int, item_id: str | None
) -> Doc | None:
    """A discount redeemed when a phase is entered (the coupon was checked when the schedule was made)."""
    coupon = store.get("coupon", coupon_id)
    if coupon is None or coupon.get("deleted"):
        return None
    end = None
    if coupon.get("duration") == "repeating":
        end = periods.add_interval(at, "month", 1, int(coupon["duration_in_months"]))
    doc: Doc = {
        "id": new_id("discount"),
        "object": "discount",
        "checkout_session": None,
        "customer": sub["customer"],
        "end": end,
        "invoice": None,
        "invoice_item": None,
        "promotion_code": promo_id,
        "source": {"coupon": coupon_id, "type": "coupon"},
        "start": at,
        "subscription": sub["id"],
        "subscription_item": item_id,
    }
    store.insert(doc, Index(customer=sub["customer"], parent=sub["id"]), created=at)
    return doc
