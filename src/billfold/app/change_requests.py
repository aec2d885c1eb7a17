"""What a subscription change asks for, checked and applied to a copy of the subscription — the same way wherever
it comes from: ``items[]`` of ``POST /v1/subscriptions/{id}`` (already typed by the router) and
``subscription_details`` of ``POST /v1/invoices/create_preview`` (raw wire strings). Errors name the parameter as
Stripe does (``subscription_details[items][0][price]``), so a preview refuses exactly what the change itself would.
What the change costs is ``changes``' business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from billfold.core import periods
from billfold.ids import new_id

from . import subscriptions
from .catalog import Namer, nested
from .errors import BillfoldError, InvalidRequest, ResourceMissing
from .metadata import merge_metadata
from .ports import Doc, Store

BEHAVIORS = ("always_invoice", "create_prorations", "none")
_ITEM_KEYS = {"id", "price", "quantity", "deleted", "discounts", "tax_rates", "metadata", "clear_usage"}
_ITEM_UNSUPPORTED = {"price_data", "plan", "billing_thresholds", "current_trial"}
_DETAILS_KEYS = {
    "items",
    "proration_behavior",
    "proration_date",
    "billing_cycle_anchor",
    "cancel_at_period_end",
}
_DETAILS_IGNORED = {"metadata", "billing_mode"}  # no effect on the invoice (billing_mode is checked)
_DETAILS_UNSUPPORTED = {
    *("billing_schedules", "cancel_at", "cancel_now", "default_tax_rates", "pause", "resume_at"),
    *("start_date", "trial_end"),
}


@dataclass(frozen=True)
class ItemChange:
    """One ``items[n]`` entry; ``*_given`` tells "leave as is" from "set" (an empty list clears)."""

    param: str
    id: str | None = None
    price: str | None = None
    quantity: int | None = None
    deleted: bool = False
    discounts: list[dict[str, Any]] = field(default_factory=list)
    discounts_given: bool = False
    tax_rates: list[str] = field(default_factory=list)
    tax_rates_given: bool = False
    metadata: dict[str, str] | None = None


@dataclass(frozen=True)
class PreviewRequest:
    """``subscription_details`` of a preview of a change to an existing subscription."""

    items: list[ItemChange]
    behavior: str
    proration_date: int | None
    anchor: str | None
    cancel_at_period_end: bool | None


def as_int(value: Any, param: str) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise InvalidRequest(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer")


def as_bool(value: Any, param: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidRequest(f"Invalid boolean: {value}", param=param)


def _str(value: Any, param: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise InvalidRequest(f"Invalid string: {param} must be a string", param=param)


def _list(value: Any, param: str) -> list[Any]:
    if value is None or value == "":
        return []  # "" (an unset, typed as null by the router) clears
    if not isinstance(value, list):
        raise InvalidRequest(f"Invalid array: {param} must be an array", param=param)
    return value


def as_hash(value: Any, param: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid object: {param} must be a hash (e.g. {param}[key]=value)", param=param)
    for key in value:
        if key not in keys:
            inner = f"{param}[{key}]"
            raise InvalidRequest(
                f"Received unknown parameter: {inner}", param=inner, code="parameter_unknown"
            )
    return value


def item_changes(raw: Any, param: str) -> list[ItemChange]:
    """``items[]``: each entry's keys, types and ranges (prices, items and coupons are checked by the plan)."""
    entries = _list(raw, param)
    if len(entries) > 20:
        raise InvalidRequest(f"Invalid array: {param} can have at most 20 items", param=param)
    return [_item_change(entry, f"{param}[{n}]") for n, entry in enumerate(entries)]


def _item_change(entry: Any, p: str) -> ItemChange:
    for key in entry if isinstance(entry, dict) else {}:
        if key in _ITEM_UNSUPPORTED:
            raise InvalidRequest(
                f"{p}[{key}] is not supported; create the price first and pass its id as {p}[price].",
                param=f"{p}[{key}]",
            )
    entry = as_hash(entry, p, _ITEM_KEYS)
    quantity = as_int(entry.get("quantity"), f"{p}[quantity]")
    if quantity is not None and quantity < 0:
        raise InvalidRequest(
            f"Invalid {p}[quantity]: must be greater than or equal to 0",
            param=f"{p}[quantity]",
            code="parameter_invalid_integer",
        )
    discounts = [
        as_hash(d, f"{p}[discounts][{i}]", {"coupon", "promotion_code", "discount"})
        for i, d in enumerate(_list(entry.get("discounts"), f"{p}[discounts]"))
    ]
    rates = [
        _str(r, f"{p}[tax_rates][{i}]")
        for i, r in enumerate(_list(entry.get("tax_rates"), f"{p}[tax_rates]"))
    ]
    metadata = entry.get("metadata")
    if metadata not in (None, "") and not isinstance(metadata, dict):
        raise InvalidRequest(f"Invalid object: {p}[metadata] must be a hash", param=f"{p}[metadata]")
    return ItemChange(
        param=p,
        id=_str(entry.get("id"), f"{p}[id]"),
        price=_str(entry.get("price"), f"{p}[price]"),
        quantity=quantity,
        deleted=bool(as_bool(entry.get("deleted"), f"{p}[deleted]")),
        discounts=discounts,
        discounts_given="discounts" in entry,
        tax_rates=[r for r in rates if r],
        tax_rates_given="tax_rates" in entry,
        metadata=None if metadata is None else (metadata or {}),
    )


def anchor(value: Any, param: str) -> str | None:
    """``billing_cycle_anchor``: ``{type: now|unchanged}`` (API 2026-09-30 and later) or the older plain string."""
    if isinstance(value, dict):
        value = as_hash(value, param, {"type", "timestamp"}).get("type")
        param = f"{param}[type]"
    if value is None or value in ("now", "unchanged"):
        return None if value is None else str(value)
    if value == "timestamp":
        raise InvalidRequest(
            "An existing subscription's billing cycle anchor can only be reset to `now` or left `unchanged`.",
            param=param,
        )
    raise InvalidRequest(f"Invalid {param}: must be one of now, unchanged", param=param)


def _billing_mode(value: Any, param: str) -> None:
    if value is None:
        return
    mode = as_hash(value, param, {"type", "flexible"})
    flexible = as_hash(mode.get("flexible") or {}, f"{param}[flexible]", {"proration_discounts"})
    if mode.get("type") not in (None, "flexible") or flexible.get("proration_discounts") not in (
        None,
        "included",
    ):
        raise InvalidRequest(
            "Billfold bills in flexible mode with proration_discounts=included only.", param=param
        )


def preview_request(details: Any) -> tuple[PreviewRequest, Namer]:
    """``subscription_details`` for an existing subscription, checked before anything is read."""
    name = nested("subscription_details")
    details = as_hash(
        details, "subscription_details", _DETAILS_KEYS | _DETAILS_IGNORED | _DETAILS_UNSUPPORTED
    )
    for key in sorted(details.keys() & _DETAILS_UNSUPPORTED):
        raise InvalidRequest(f"Previews with {name(key)} are not supported yet.", param=name(key))
    _billing_mode(details.get("billing_mode"), name("billing_mode"))
    behavior = details.get("proration_behavior") or "create_prorations"
    if behavior not in BEHAVIORS:
        param = name("proration_behavior")
        raise InvalidRequest(f"Invalid {param}: must be one of {', '.join(BEHAVIORS)}", param=param)
    proration_date = as_int(details.get("proration_date"), name("proration_date"))
    items = item_changes(details.get("items"), name("items"))
    reset = anchor(details.get("billing_cycle_anchor"), name("billing_cycle_anchor"))
    if proration_date is not None and behavior == "none":
        raise InvalidRequest(
            "proration_date can't be used with proration_behavior=none.", param=name("proration_date")
        )
    if proration_date is not None and not items and reset != "now":
        raise InvalidRequest(
            "proration_date only applies to a change of items.", param=name("proration_date")
        )
    cancel = as_bool(details.get("cancel_at_period_end"), name("cancel_at_period_end"))
    return PreviewRequest(items, behavior, proration_date, reset, cancel), name


# -- applying the request to a copy of the subscription ------------------------------------------------------------
class Unsaved:
    """The store as the change would leave it: the change's own unsaved documents (new discounts) are found first,
    so the plan and the preview price with them although nothing is stored."""

    def __init__(self, store: Store, docs: list[Doc]) -> None:
        self._store = store
        self._docs = docs  # grows while the plan is made

    def _own(self, object_type: str) -> dict[str, Doc]:
        return {d["id"]: d for d in self._docs if d["object"] == object_type}

    def get(self, object_type: str, object_id: str, *, for_update: bool = False) -> Doc | None:
        return self._own(object_type).get(object_id) or self._store.get(object_type, object_id)

    def view(self, object_type: str, object_id: str) -> Doc | None:
        return self._own(object_type).get(object_id) or self._store.view(object_type, object_id)

    def get_many(self, object_type: str, object_ids: list[str]) -> dict[str, Doc]:
        own = self._own(object_type)
        return self._store.get_many(object_type, [i for i in object_ids if i not in own]) | {
            i: own[i] for i in object_ids if i in own
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class Edit(Protocol):
    """A subscription being changed (a copy; nothing is stored) and the discount objects the change redeems."""

    view: Store  # the store as the change would leave it (an ``Unsaved`` over ``discounts``)
    sub: Doc
    now: int
    period: tuple[int, int]  # the current period before the change
    discounts: list[Doc]


def interval_of(price: Doc) -> tuple[periods.Interval, int]:
    rec = price["recurring"]
    return cast(periods.Interval, rec["interval"]), int(rec.get("interval_count", 1))


def metered(price: Doc) -> bool:
    return bool(price["recurring"].get("usage_type") == "metered")


def check_price(store: Store, price_id: str, currency: str, param: str) -> Doc:
    price = subscriptions.get_price(store, price_id, param)
    if not price.get("active", True):
        raise InvalidRequest(f"The price specified ({price_id}) is inactive.", param=param)
    if price.get("type") != "recurring" or not price.get("recurring"):
        raise InvalidRequest(
            f"The price specified ({price_id}) is a one-time price; subscription items need recurring prices.",
            param=param,
        )
    if price["currency"] != currency and currency not in (price.get("currency_options") or {}):
        raise InvalidRequest(
            f"The price {price_id} has no amount in {currency}, the currency this subscription bills in.",
            param=param,
        )
    return price


def redeem_discounts(
    edit: Edit, given: list[dict[str, Any]], param: str, current: list[str], item_id: str | None
) -> list[str]:
    """Discount ids for ``discounts[]``: existing ones by ``discount``, new ones from a coupon or promotion code."""
    ids = []
    for i, entry in enumerate(given):
        p = f"{param}[{i}]"
        if entry.get("discount"):
            if entry.get("coupon") or entry.get("promotion_code"):
                raise InvalidRequest("Pass one of coupon, promotion_code or discount per discount.", param=p)
            if entry["discount"] not in current:
                raise ResourceMissing("discount", entry["discount"], param=f"{p}[discount]")
            ids.append(entry["discount"])
            continue
        try:
            (doc,) = subscriptions.resolve_discounts(edit.view, [entry], "\0", edit.now, edit.sub["customer"])
        except BillfoldError as err:
            err.param = (err.param or "").replace("\0[0]", p, 1)
            raise
        doc["subscription"], doc["subscription_item"] = edit.sub["id"], item_id
        ids.append(doc["id"])
        edit.discounts.append(doc)
    return ids


def tax_rates_of(store: Store, ids: list[str], param: str) -> list[Doc]:
    found = store.get_many("tax_rate", ids)
    for i, rid in enumerate(ids):
        if rid not in found or found[rid].get("deleted"):
            raise ResourceMissing("tax_rate", rid, param=f"{param}[{i}]")
    return [found[rid] for rid in ids]


def apply_item(edit: Edit, item: Doc, ch: ItemChange) -> None:
    if ch.price and ch.price != item["price"].get("id"):
        item["price"] = check_price(edit.view, ch.price, edit.sub["currency"], f"{ch.param}[price]")
        # "When changing a subscription item's price, quantity is set to 1 unless a quantity parameter is provided."
        item["quantity"] = None if metered(item["price"]) else (1 if ch.quantity is None else ch.quantity)
    elif ch.quantity is not None:
        item["quantity"] = ch.quantity
    if ch.quantity is not None and metered(item["price"]):
        raise InvalidRequest("Quantity cannot be set on a metered price.", param=f"{ch.param}[quantity]")
    if ch.tax_rates_given:
        item["tax_rates"] = tax_rates_of(edit.view, ch.tax_rates, f"{ch.param}[tax_rates]")
    if ch.discounts_given:
        current = list(item.get("discounts") or [])
        item["discounts"] = redeem_discounts(
            edit, ch.discounts, f"{ch.param}[discounts]", current, item["id"]
        )
    if ch.metadata is not None:
        item["metadata"] = merge_metadata(item.get("metadata") or {}, ch.metadata)


def new_item(edit: Edit, ch: ItemChange) -> Doc:
    if ch.deleted:
        raise InvalidRequest(f"Pass {ch.param}[id] to say which item to delete.", param=f"{ch.param}[id]")
    if not ch.price:
        raise InvalidRequest(
            f"Missing required param: {ch.param}[price].",
            param=f"{ch.param}[price]",
            code="parameter_missing",
        )
    start, end = edit.period
    item: Doc = {
        "id": new_id("subscription_item"),
        "object": "subscription_item",
        "created": edit.now,
        "current_period_start": start,
        "current_period_end": end,
        "discounts": [],
        "metadata": {},
        "price": {},
        "quantity": None,
        "subscription": edit.sub["id"],
        "tax_rates": [],
    }
    apply_item(edit, item, ch)
    if item["quantity"] is None and not metered(item["price"]):
        item["quantity"] = 1
    return item


def check_shape(items: list[Doc], price_params: dict[str, str], fallback: str) -> None:
    """One billing interval and each price once, as at creation; the error names the item that broke it."""
    untouched = [i for i in items if i["id"] not in price_params]
    target = interval_of((untouched or items)[0]["price"])
    seen: set[str] = set()
    for item in items:
        param = price_params.get(item["id"], fallback)
        if interval_of(item["price"]) != target:
            raise InvalidRequest(
                "All prices of a subscription must have the same billing interval "
                f"({item['price']['id']} is every {target[1]} {target[0]} apart from the others).",
                param=param,
            )
        if item["price"]["id"] in seen:
            raise InvalidRequest(
                f"The price {item['price']['id']} appears twice; use one item with a quantity instead.",
                param=param,
            )
        seen.add(item["price"]["id"])
