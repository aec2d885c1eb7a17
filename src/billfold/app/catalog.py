"""Catalog use cases: products and prices, checked the way Stripe checks them, persisted with their events.

A price is a small pricing program (``core.pricing``) plus a billing cadence (``core.periods``). This module turns
request values into Stripe-shaped documents: amounts are exact ``Decimal`` minor units, shown as Stripe shows them
(``unit_amount`` an int when whole, else null; ``unit_amount_decimal`` a decimal string). Only Stripe's mutable fields
change after creation: https://docs.stripe.com/products-prices/manage-prices ("After you create a price, you can only
update its metadata, nickname, and active fields", plus lookup keys, tax behavior and currency options).

A lookup key names at most one price per account and mode: the database enforces it (``Index.lookup`` on type price);
the check here only makes the error name the price that holds the key, and moves it on ``transfer_lookup_key``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from billfold.core.money import max_amount
from billfold.core.periods import validate_interval
from billfold.core.pricing import (
    MAX_DECIMAL_PLACES,
    PriceSpec,
    Tier,
    TransformQuantity,
    pricing_model,
    validate_tiers,
)
from billfold.ids import new_id

from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, ListQuery, Page, Store

Namer = Callable[[str], str]
MergeMetadata = Callable[[dict[str, str], Any], dict[str, str]]

_LISTS = ("images", "marketing_features")
# Fields that "" unsets on update (Stripe's ``param=""``): to [] for the lists, else to null.
_UNSET_TO_NULL = ("description", "package_dimensions", "statement_descriptor", "tax_code", "tax_details")
_UNSETTABLE = (*_LISTS, *_UNSET_TO_NULL, "unit_label", "url")
PRODUCT_FIELDS = tuple(sorted(("active", "metadata", "name", "shippable", *_UNSETTABLE)))
_FIXED_TAX_BEHAVIORS = ("inclusive", "exclusive")


def _stripe_order(doc: Doc) -> Doc:
    """Stripe's field order: id, object, then alphabetical."""
    return {"id": doc.pop("id"), "object": doc.pop("object")} | dict(sorted(doc.items()))


def nested(prefix: str) -> Namer:
    """Names a parameter inside ``prefix`` the way Stripe's errors do: ``default_price_data[recurring][interval]``."""

    def name(inner: str) -> str:
        if not prefix:
            return inner
        head, bracket, rest = inner.partition("[")
        return f"{prefix}[{head}]" + (bracket + rest if bracket else "")

    return name


# -- amounts ------------------------------------------------------------------------------------------------------
def decimal_str(value: Decimal) -> str:
    """Stripe's decimal string: plain notation, no trailing zeros (``Decimal('12.50')`` -> ``'12.5'``)."""
    if value == 0:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _whole(value: Decimal | None) -> int | None:
    if value is None or value != value.to_integral_value():
        return None
    return int(value)


def _amount(values: Mapping[str, Any], name: str, currency: str, p: Namer) -> Decimal | None:
    """``name`` (an int) or ``name_decimal`` (at most 12 decimal places), never both, within Stripe's limit."""
    whole, exact = values.get(name), values.get(f"{name}_decimal")
    if whole is not None and exact is not None:
        raise InvalidRequest(
            f"You may only specify one of these parameters: {p(name)}, {p(name + '_decimal')}.",
            param=p(f"{name}_decimal"),
        )
    if whole is None and exact is None:
        return None
    given = p(name) if exact is None else p(f"{name}_decimal")
    value = Decimal(str(whole if exact is None else exact))
    if not value.is_finite():
        raise InvalidRequest(f"Invalid decimal: {exact}", param=given)
    if value < 0:
        raise InvalidRequest(f"Invalid {given}: must be greater than or equal to 0", param=given)
    text = decimal_str(value)
    if "." in text and len(text.split(".", 1)[1]) > MAX_DECIMAL_PLACES:
        raise InvalidRequest(
            f"Invalid {given}: must have at most {MAX_DECIMAL_PLACES} decimal places", param=given
        )
    # https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts
    limit = max_amount(currency)
    if value > limit:
        raise InvalidRequest(f"Invalid {given}: must be less than or equal to {limit}", param=given)
    return value


def _tiers(raw: list[Doc], currency: str, p: Namer) -> list[Tier]:
    tiers = []
    for i, t in enumerate(raw):
        tp = nested(p(f"tiers[{i}]"))
        unit = _amount(t, "unit_amount", currency, tp)
        flat = _amount(t, "flat_amount", currency, tp)
        tiers.append(Tier(None if t["up_to"] == "inf" else t["up_to"], unit, flat))
    problem = validate_tiers(tiers)
    if problem is not None:
        raise InvalidRequest(problem, param=p("tiers"))
    return tiers


def _tier_doc(tier: Tier) -> Doc:
    flat, unit = tier.flat_amount_decimal, tier.unit_amount_decimal
    return {
        "flat_amount": _whole(flat),
        "flat_amount_decimal": None if flat is None else decimal_str(flat),
        "unit_amount": _whole(unit),
        "unit_amount_decimal": None if unit is None else decimal_str(unit),
        "up_to": tier.up_to,
    }


def _missing(param: str, why: str = "") -> InvalidRequest:
    return InvalidRequest(f"Missing required param: {param}.{why}", param=param, code="parameter_missing")


def _pricing(values: Mapping[str, Any], currency: str, p: Namer) -> Doc:
    """The amount fields of a price (or a currency option), checked against core.pricing's models."""
    scheme = values.get("billing_scheme") or "per_unit"
    raw_tiers, mode, transform = (
        values.get("tiers"),
        values.get("tiers_mode"),
        values.get("transform_quantity"),
    )
    unit = _amount(values, "unit_amount", currency, p)
    out: Doc = {"billing_scheme": scheme, "tiers": None, "tiers_mode": None, "transform_quantity": None}
    out |= {"unit_amount": None, "unit_amount_decimal": None}
    if scheme == "tiered":
        if unit is not None:
            name = "unit_amount_decimal" if values.get("unit_amount") is None else "unit_amount"
            raise InvalidRequest(
                f"{p(name)} cannot be set when billing_scheme=tiered; each tier carries its own amounts.",
                param=p(name),
            )
        if transform is not None:
            # https://docs.stripe.com/billing/subscriptions/usage-based/transform-quantities
            raise InvalidRequest(
                "transform_quantity cannot be combined with tiered pricing (billing_scheme=tiered).",
                param=p("transform_quantity"),
            )
        if mode is None:
            raise _missing(p("tiers_mode"))
        if not raw_tiers:
            raise _missing(p("tiers"))
        tiers = _tiers(raw_tiers, currency, p)
        out |= {"tiers": [_tier_doc(t) for t in tiers], "tiers_mode": mode}
        spec = PriceSpec("tiered", tiers_mode=mode, tiers=tuple(tiers))
    else:
        for name in ("tiers", "tiers_mode"):
            if values.get(name) is not None:
                raise InvalidRequest(f"{p(name)} can only be set when billing_scheme=tiered.", param=p(name))
        if unit is None:
            raise _missing(p("unit_amount"), " A per_unit price needs unit_amount or unit_amount_decimal.")
        tq = None if transform is None else TransformQuantity(transform["divide_by"], transform["round"])
        out |= {"unit_amount": _whole(unit), "unit_amount_decimal": decimal_str(unit)}
        if tq is not None:
            out["transform_quantity"] = {"divide_by": tq.divide_by, "round": tq.round}
        spec = PriceSpec("per_unit", unit_amount_decimal=unit, transform_quantity=tq)
    try:
        pricing_model(spec)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param=p("billing_scheme")) from None
    return out


def _recurring(raw: Mapping[str, Any] | None, p: Namer) -> Doc | None:
    if raw is None:
        return None
    count = 1 if raw.get("interval_count") is None else raw["interval_count"]
    problem = validate_interval(raw["interval"], count)
    if problem is not None:
        raise InvalidRequest(problem, param=p("recurring[interval_count]"))
    usage = raw.get("usage_type") or "licensed"
    if raw.get("meter") is not None and usage != "metered":
        raise InvalidRequest(
            "recurring[meter] can only be set when recurring[usage_type]=metered.",
            param=p("recurring[meter]"),
        )
    return {
        "interval": raw["interval"],
        "interval_count": count,
        "meter": raw.get("meter"),
        "trial_period_days": raw.get("trial_period_days"),
        "usage_type": usage,
    }


def _check_meter(store: Store, meter_id: str | None, p: Namer) -> None:
    """A metered price bills what an active meter of this account aggregates. Since API version 2025-03-31.basil a
    metered price needs ``recurring[meter]`` (https://docs.stripe.com/changelog/basil/2025-03-31/
    deprecate-legacy-usage-based-billing), and a deactivated meter cannot be attached to a price
    (https://docs.stripe.com/api/billing/meter/deactivate)."""
    param = p("recurring[meter]")
    if meter_id is None:
        raise _missing(
            param,
            " A metered price bills the usage a billing meter aggregates: create one with POST /v1/billing/meters"
            " and pass its id.",
        )
    meter = store.get("billing.meter", meter_id)
    if meter is None:
        raise ResourceMissing("billing.meter", meter_id, param=param)
    if meter.get("status") != "active":
        raise InvalidRequest(
            f"The meter `{meter_id}` is inactive; a deactivated meter cannot be attached to a price. "
            "Reactivate it first.",
            param=param,
        )


def _no_custom_unit_amount(values: Mapping[str, Any], p: Namer) -> None:
    if values.get("custom_unit_amount") is not None:
        raise InvalidRequest(
            "custom_unit_amount (customer-chosen amounts for Checkout and Payment Links) is not supported by Billfold.",
            param=p("custom_unit_amount"),
        )


def _check_tax_change(current: str | None, new: str, param: str) -> None:
    if current in _FIXED_TAX_BEHAVIORS and new != current:
        raise InvalidRequest(
            f"{param} is already `{current}`. Once specified as either inclusive or exclusive, it cannot be changed.",
            param=param,
        )


def _currency_option(price: Doc, currency: str, raw: Mapping[str, Any], p: Namer) -> Doc:
    _no_custom_unit_amount(raw, p)
    if price["billing_scheme"] == "tiered":
        for name in ("unit_amount", "unit_amount_decimal"):
            if raw.get(name) is not None:
                raise InvalidRequest(
                    f"{p(name)} cannot be set on a tiered price; give the currency its own tiers.",
                    param=p(name),
                )
        if not raw.get("tiers"):
            raise _missing(p("tiers"))
        tiers = _tiers(raw["tiers"], currency, p)
        if [t.up_to for t in tiers] != [t["up_to"] for t in price["tiers"]]:
            raise InvalidRequest(
                f"{p('tiers')} must have the same up_to values as the price's tiers.", param=p("tiers")
            )
        amounts: Doc = {
            "tiers": [_tier_doc(t) for t in tiers],
            "unit_amount": None,
            "unit_amount_decimal": None,
        }
    else:
        if raw.get("tiers") is not None:
            raise InvalidRequest(f"{p('tiers')} can only be set on a tiered price.", param=p("tiers"))
        unit = _amount(raw, "unit_amount", currency, p)
        if unit is None:
            raise _missing(
                p("unit_amount"), " Each currency option needs unit_amount or unit_amount_decimal."
            )
        amounts = {"unit_amount": _whole(unit), "unit_amount_decimal": decimal_str(unit)}
    option = {"custom_unit_amount": None, "tax_behavior": raw.get("tax_behavior") or price["tax_behavior"]}
    return dict(sorted((option | amounts).items()))


def _own_option(price: Doc) -> Doc:
    """The price's own currency, as Stripe lists it among ``currency_options``."""
    option: Doc = {"custom_unit_amount": None, "tax_behavior": price["tax_behavior"]}
    option |= {"unit_amount": price["unit_amount"], "unit_amount_decimal": price["unit_amount_decimal"]}
    if price["billing_scheme"] == "tiered":
        option["tiers"] = copy.deepcopy(price["tiers"])
    return dict(sorted(option.items()))


def _set_currency_options(price: Doc, raw: Mapping[str, Any] | None, p: Namer, *, replace: bool) -> None:
    """Adds or replaces the given currencies' options (all of them when ``replace``); None clears them."""
    current: Doc = {} if replace else dict(price.get("currency_options") or {})
    if raw is None:
        current = {}
    for currency, option in sorted((raw or {}).items()):
        op = nested(p(f"currency_options[{currency}]"))
        if currency == price["currency"]:
            raise InvalidRequest(
                f"{p(f'currency_options[{currency}]')} repeats the price's own currency; "
                "its amount is the price's unit_amount.",
                param=p(f"currency_options[{currency}]"),
            )
        before = current.get(currency)
        if before is not None:
            if option.get("tax_behavior") is None:
                option = {**option, "tax_behavior": before["tax_behavior"]}
            _check_tax_change(before["tax_behavior"], option["tax_behavior"], op("tax_behavior"))
        current[currency] = _currency_option(price, currency, option, op)
    current[price["currency"]] = _own_option(price)
    price["currency_options"] = dict(sorted(current.items()))


# -- products -----------------------------------------------------------------------------------------------------
def _product_index(doc: Doc) -> Index:
    return Index(active=bool(doc["active"]), status=doc.get("type"))


def get_product(store: Store, product_id: str, *, param: str = "id") -> Doc:
    doc = store.get("product", product_id)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("product", product_id, param=param)
    return doc


def _statement_descriptor(value: str | None, param: str) -> str | None:
    if not value:
        return None
    # "Non-ASCII characters are automatically stripped"; no <, >, \, ", '; at least one letter (API reference).
    value = value.encode("ascii", "ignore").decode()
    if any(ch in value for ch in "<>\\\"'"):
        raise InvalidRequest(
            f"Invalid {param}: it may not include the characters <, >, \\, \" or '.", param=param
        )
    if not any(ch.isalpha() for ch in value):
        raise InvalidRequest(f"Invalid {param}: it must contain at least one letter.", param=param)
    return value


def _check_product(doc: Doc, p: Namer) -> None:
    details = doc.get("tax_details")
    if details is not None:
        tax_code = details.get("tax_code") or None
        doc["tax_details"] = {
            "performance_location": details.get("performance_location"),
            "tax_code": tax_code,
        }
        doc["tax_code"] = doc.get("tax_code") or tax_code
    doc["statement_descriptor"] = _statement_descriptor(
        doc.get("statement_descriptor"), p("statement_descriptor")
    )
    if doc.get("type") == "good":
        for name in ("statement_descriptor", "unit_label"):
            if doc.get(name) is not None:
                raise InvalidRequest(f"{p(name)} can only be set on products of type service.", param=p(name))


def _new_product(store: Store, now: int, values: Mapping[str, Any], p: Namer) -> Doc:
    product_id = values.get("id") or new_id("product")
    if values.get("id") and store.get("product", product_id) is not None:
        raise InvalidRequest("Product already exists.", param=p("id"), code="resource_already_exists")
    doc: Doc = (
        {"id": product_id, "object": "product"} | dict.fromkeys(PRODUCT_FIELDS) | {k: [] for k in _LISTS}
    )
    doc |= {
        "active": True,
        "created": now,
        "default_price": None,
        "livemode": store.scope.livemode,
        "metadata": {},
    }
    doc |= {"type": values.get("type") or "service", "updated": now}
    doc |= {k: values[k] for k in PRODUCT_FIELDS if values.get(k) is not None}
    _check_product(doc, p)
    return _stripe_order(doc)


def create_product(store: Store, now: int, values: dict[str, Any]) -> Doc:
    price_data = values.pop("default_price_data", None)
    product = _new_product(store, now, values, nested(""))
    price = None
    if price_data is not None:
        price = _build_price(store, now, price_data, product, nested("default_price_data"))
        product["default_price"] = price["id"]
    store.insert(product, _product_index(product), created=now)
    store.record("product.created", product)
    if price is not None:
        _insert_price(store, price, transfer=False)
    return product


def update_product(
    store: Store, now: int, product_id: str, values: dict[str, Any], merge_meta: MergeMetadata
) -> Doc:
    doc = get_product(store, product_id)
    before = copy.deepcopy(doc)
    if "default_price" in values:
        price_id = values.pop("default_price") or None
        if price_id is not None:
            price = store.get("price", price_id)
            if price is None:
                raise ResourceMissing("price", price_id, param="default_price")
            if price["product"] != product_id:
                raise InvalidRequest(
                    f"The price `{price_id}` belongs to another product; a product's default_price must be "
                    "one of its own prices.",
                    param="default_price",
                )
        doc["default_price"] = price_id
    for k in PRODUCT_FIELDS:
        if k not in values or (values[k] is None and k not in _UNSETTABLE):
            continue
        v = values[k]
        if k == "metadata":
            v = merge_meta(doc.get("metadata") or {}, v)
        elif k in _UNSETTABLE and (v == "" or v is None):
            v = [] if k in _LISTS else None
        doc[k] = v
    _check_product(doc, nested(""))
    previous = {k: before.get(k) for k in doc if before.get(k) != doc.get(k)}
    if previous:
        doc["updated"] = now
        previous["updated"] = before["updated"]
        store.replace(doc, _product_index(doc))
        store.record("product.updated", doc, previous_attributes=previous)
    return doc


def delete_product(store: Store, product_id: str) -> Doc:
    doc = get_product(store, product_id)
    # "Deleting a product is only possible if it has no prices associated with it." https://docs.stripe.com/api/products/delete
    if store.list("price", ListQuery(filters={"parent": product_id}, limit=1)).data:
        raise InvalidRequest(
            f"The product `{product_id}` cannot be deleted because it has one or more prices. "
            "Archive it instead (active=false).",
        )
    store.delete("product", product_id)
    store.record("product.deleted", doc)
    return {"id": product_id, "object": "product", "deleted": True}


# -- prices -------------------------------------------------------------------------------------------------------
def _price_index(doc: Doc) -> Index:
    return Index(
        parent=doc["product"],
        lookup=doc.get("lookup_key"),
        active=bool(doc["active"]),
        status=doc["type"],
        currency=doc["currency"],
    )


def get_price(store: Store, price_id: str, *, param: str = "id") -> Doc:
    doc = store.get("price", price_id)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("price", price_id, param=param)
    return doc


def _build_price(store: Store, now: int, values: Mapping[str, Any], product: Doc, p: Namer) -> Doc:
    """A new price document for ``product``, fully validated; nothing is written."""
    _no_custom_unit_amount(values, p)
    currency = values["currency"]
    recurring = _recurring(values.get("recurring"), p)
    if recurring is not None and recurring["usage_type"] == "metered":
        _check_meter(store, recurring["meter"], p)
    doc: Doc = {
        "id": new_id("price"),
        "object": "price",
        "active": values.get("active") is not False,
        "created": now,
        "currency": currency,
        "currency_options": None,
        "custom_unit_amount": None,
        "livemode": store.scope.livemode,
        "lookup_key": values.get("lookup_key") or None,
        "metadata": values.get("metadata") or {},
        "nickname": values.get("nickname") or None,
        "product": product["id"],
        "recurring": recurring,
        "tax_behavior": values.get("tax_behavior") or "unspecified",
        "type": "one_time" if recurring is None else "recurring",
    }
    doc |= _pricing(values, currency, p)
    _set_currency_options(doc, values.get("currency_options") or {}, p, replace=True)
    return _stripe_order(doc)


def _claim_lookup_key(store: Store, key: str, price_id: str, *, transfer: bool) -> None:
    holders = store.list("price", ListQuery(filters={"lookup": key}, limit=1)).data
    if not holders or holders[0]["id"] == price_id:
        return
    holder = holders[0]
    if not transfer:
        raise InvalidRequest(
            f"A price (`{holder['id']}`) already uses the lookup key `{key}`. "
            "Pass `transfer_lookup_key=true` to move it to this price.",
            param="lookup_key",
            code="lookup_key_already_exists",
        )
    holder["lookup_key"] = None
    store.replace(holder, _price_index(holder))
    store.record("price.updated", holder, previous_attributes={"lookup_key": key})


def _insert_price(store: Store, price: Doc, *, transfer: bool) -> None:
    if price["lookup_key"]:
        _claim_lookup_key(store, price["lookup_key"], price["id"], transfer=transfer)
    store.insert(price, _price_index(price), created=price["created"])
    store.record("price.created", price)


def create_price(store: Store, now: int, values: dict[str, Any]) -> Doc:
    product_id, product_data = values.get("product"), values.get("product_data")
    if product_id is not None and product_data is not None:
        raise InvalidRequest(
            "You may only specify one of these parameters: product, product_data.", param="product_data"
        )
    if product_id is not None:
        product = get_product(store, product_id, param="product")
    elif product_data is not None:
        product = _new_product(store, now, product_data, nested("product_data"))
    else:
        raise _missing("product", " Give the id of a product, or product_data to create one.")
    price = _build_price(store, now, values, product, nested(""))
    if product_data is not None:
        store.insert(product, _product_index(product), created=now)
        store.record("product.created", product)
    _insert_price(store, price, transfer=bool(values.get("transfer_lookup_key")))
    return price


def update_price(store: Store, price_id: str, values: dict[str, Any], merge_meta: MergeMetadata) -> Doc:
    doc = get_price(store, price_id)
    before = copy.deepcopy(doc)
    p = nested("")
    # A JSON null means "not given", except for currency_options, where it is the unset ("").
    values = {k: v for k, v in values.items() if v is not None or k == "currency_options"}
    if "active" in values:
        doc["active"] = values["active"]
    if "metadata" in values:
        doc["metadata"] = merge_meta(doc.get("metadata") or {}, values["metadata"])
    if "nickname" in values:
        doc["nickname"] = values["nickname"] or None
    if "tax_behavior" in values:
        _check_tax_change(doc["tax_behavior"], values["tax_behavior"], "tax_behavior")
        doc["tax_behavior"] = values["tax_behavior"]
    if "currency_options" in values:
        _set_currency_options(doc, values["currency_options"], p, replace=False)
    else:
        _set_currency_options(doc, {}, p, replace=False)  # keeps the own-currency entry in step
    if "lookup_key" in values:
        key = values["lookup_key"] or None
        if key is not None and key != doc.get("lookup_key"):
            _claim_lookup_key(store, key, price_id, transfer=bool(values.get("transfer_lookup_key")))
        doc["lookup_key"] = key
    previous = {k: before.get(k) for k in doc if before.get(k) != doc.get(k)}
    if previous:
        store.replace(doc, _price_index(doc))
        store.record("price.updated", doc, previous_attributes=previous)
    return doc


# -- lists --------------------------------------------------------------------------------------------------------
_INDEXES: dict[str, Callable[[Doc], Index]] = {"product": _product_index, "price": _price_index}


def _selected(doc: Doc, index: Index, query: ListQuery) -> bool:
    for name, want in query.filters.items():
        have = getattr(index, name)
        if (have not in want) if isinstance(want, tuple | list) else (have != want):
            return False
    ops = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
    if not all(ops[op](int(doc["created"]), bound) for op, bound in query.created.items()):
        return False
    return query.ids is None or doc["id"] in query.ids


def list_catalog(
    store: Store, object_type: str, query: ListQuery, keep: Callable[[Doc], bool] | None = None
) -> Page:
    """A page of products or prices. Filters on fields without an index column (``keep``: a product's url or
    shippable, a price's recurring interval) walk the account's objects of that type, newest first, and page
    over the matches with the same cursors the store uses; catalogs are small enough for that."""
    if keep is None:
        return store.list(object_type, query)
    index_of = _INDEXES[object_type]
    position: dict[str, int] = {}
    matched: list[Doc] = []
    for n, doc in enumerate(store.iterate(object_type, {})):
        position[doc["id"]] = n
        if _selected(doc, index_of(doc), query) and keep(doc):
            matched.append(doc)
    cursor = query.starting_after or query.ending_before
    if cursor is None:
        return Page(matched[: query.limit], len(matched) > query.limit)
    if cursor not in position:
        param = "starting_after" if query.starting_after else "ending_before"
        raise ResourceMissing(object_type, cursor, param=param)
    at = position[cursor]
    if query.starting_after:
        after = [d for d in matched if position[d["id"]] > at]
        return Page(after[: query.limit], len(after) > query.limit)
    ahead = [d for d in matched if position[d["id"]] < at]
    return Page(ahead[-query.limit :], len(ahead) > query.limit)
