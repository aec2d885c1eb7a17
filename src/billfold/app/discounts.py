"""Coupons and promotion codes: the discounts a merchant defines, and the customer-facing codes that grant them.

A coupon says how much is taken off (``percent_off`` or ``amount_off`` in a currency) and for how long
(``duration``); a promotion code is a code a customer types that grants one coupon, optionally restricted to one
customer, a first purchase or a minimum amount. Rules follow https://docs.stripe.com/api/coupons and
https://docs.stripe.com/api/promotion_codes at API version 2026-10-28.endive, where a promotion code names its coupon
under ``promotion: {type: "coupon", coupon}``.

Rates are ``Decimal``. A stored document is JSON, so a rate is written with ``rate_to_json`` (an ``int`` when
integral, else the float whose shortest repr is the decimal's own digits) and read back with ``rate_from_json``.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from billfold.core.money import max_amount
from billfold.ids import new_id

from .customers import get_customer
from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, ListQuery, Store

MergeMeta = Callable[[dict[str, str], Any], dict[str, str]]

# Stripe stores percent_off "with a precision of two decimal places"
# (https://docs.stripe.com/changelog/2018-07-27/coupons-use-floats-specify-percent-off).
PERCENT_OFF_PLACES = 2
# redeem_by "cannot be set to more than 5 years in the future" (coupon create params); 5 years incl. leap days.
REDEEM_BY_MAX_SECONDS = 1827 * 24 * 3600
# Generated coupon ids and promotion codes: 8 upper-case letters and digits, like Stripe's.
_GENERATED = string.ascii_uppercase + string.digits
_CODE = re.compile(r"^[A-Za-z0-9-]+$")
# A float repr gives back a decimal's digits exactly when it has at most this many significant digits (DBL_DIG).
_FLOAT_SAFE_DIGITS = 15


# -- rates on the wire ------------------------------------------------------------------------------------------
def rate_to_json(value: Decimal) -> int | float:
    """A JSON number with exactly the decimal's digits: ``20`` for 20.00, ``12.5`` for 12.50.

    The float is made from the decimal's string and only at this boundary; callers keep at most 15 significant
    digits (``check_rate_digits``), so ``repr`` of the float is the decimal's own text and nothing is lost.
    """
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return int(normal)
    return float(str(normal))


def rate_from_json(value: int | float | str) -> Decimal:
    """The exact ``Decimal`` a stored rate stands for (the inverse of ``rate_to_json``)."""
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(value) if isinstance(value, float) else value)


def check_rate_digits(value: Decimal, places: int, param: str) -> None:
    exponent = int(value.normalize().as_tuple().exponent)
    if -exponent > places:
        raise InvalidRequest(f"Invalid {param}: {value} has more than {places} decimal places.", param=param)
    if len(value.normalize().as_tuple().digits) > _FLOAT_SAFE_DIGITS:
        raise InvalidRequest(f"Invalid {param}: {value} has too many digits.", param=param)


def _generated(length: int = 8) -> str:
    return "".join(secrets.choice(_GENERATED) for _ in range(length))


def _previous(before: Doc, after: Doc) -> Doc:
    return {k: before.get(k) for k in after if before.get(k) != after.get(k)}


# -- coupons ----------------------------------------------------------------------------------------------------
def get_coupon(store: Store, coupon_id: str, *, param: str = "id") -> Doc:
    """A coupon of this account and mode; deleted coupons are gone, as in Stripe (404)."""
    doc = store.get("coupon", coupon_id)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("coupon", coupon_id, param=param)
    return doc


def coupon_is_valid(doc: Doc, now: int) -> bool:
    """Stripe's ``valid``: not deleted, not past ``redeem_by``, not redeemed ``max_redemptions`` times."""
    if doc.get("deleted"):
        return False
    redeem_by = doc.get("redeem_by")
    if redeem_by is not None and now > int(redeem_by):
        return False
    limit = doc.get("max_redemptions")
    return not (limit is not None and int(doc.get("times_redeemed") or 0) >= int(limit))


def present_coupon(doc: Doc, now: int) -> Doc:
    """The coupon as of ``now``: ``valid`` depends on the clock, so it is computed when read."""
    if doc.get("object") == "coupon" and not doc.get("deleted"):
        doc["valid"] = coupon_is_valid(doc, now)
    return doc


def _coupon_currency_options(
    given: dict[str, Any], currency: str, amount_off: int, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    options: dict[str, Any] = dict(current or {currency: {"amount_off": amount_off}})
    for code, option in given.items():
        amount = int(option["amount_off"])
        param = f"currency_options[{code}][amount_off]"
        if code == currency and amount != amount_off:
            raise InvalidRequest(
                f"currency_options[{code}] must match the coupon's amount_off ({amount_off}) in its own "
                f"currency {currency}.",
                param=param,
            )
        if amount > max_amount(code):
            raise InvalidRequest(f"Invalid {param}: must be at most {max_amount(code)}.", param=param)
        options[code] = {"amount_off": amount}
    return options


def create_coupon(store: Store, now: int, values: dict[str, Any]) -> Doc:
    percent_off: Decimal | None = values.get("percent_off")
    amount_off: int | None = values.get("amount_off")
    currency: str | None = values.get("currency")
    if percent_off is not None and amount_off is not None:
        raise InvalidRequest(
            "You may only specify one of these parameters: amount_off, percent_off.", param="amount_off"
        )
    if percent_off is None and amount_off is None:
        raise InvalidRequest(
            "You must specify either percent_off or amount_off (with currency).", param="percent_off"
        )
    if amount_off is not None:
        if currency is None:
            raise InvalidRequest("You must specify currency when you specify amount_off.", param="currency")
        if amount_off > max_amount(currency):
            raise InvalidRequest(
                f"Invalid amount_off: must be at most {max_amount(currency)}.", param="amount_off"
            )
    else:
        if currency is not None:
            raise InvalidRequest(
                "currency can only be specified with amount_off; a percent_off coupon applies to every "
                "currency.",
                param="currency",
            )
        if values.get("currency_options") is not None:
            raise InvalidRequest(
                "currency_options is only supported for coupons with amount_off.", param="currency_options"
            )
    if percent_off is not None:
        check_rate_digits(percent_off, PERCENT_OFF_PLACES, "percent_off")

    duration = values.get("duration") or "once"
    months: int | None = values.get("duration_in_months")
    if duration == "repeating" and months is None:
        raise InvalidRequest(
            "You must specify duration_in_months when duration is repeating.",
            param="duration_in_months",
            code="parameter_missing",
        )
    if duration != "repeating" and months is not None:
        raise InvalidRequest(
            f"duration_in_months can only be specified when duration is repeating, not {duration}.",
            param="duration_in_months",
        )

    redeem_by: int | None = values.get("redeem_by")
    if redeem_by is not None:
        if redeem_by <= now:
            raise InvalidRequest(
                f"Invalid redeem_by: {redeem_by} is in the past; it must be a future timestamp.",
                param="redeem_by",
            )
        if redeem_by > now + REDEEM_BY_MAX_SECONDS:
            raise InvalidRequest(
                "Invalid redeem_by: it cannot be more than 5 years in the future.", param="redeem_by"
            )

    applies_to = None
    if values.get("applies_to") is not None:
        products: list[str] = list(values["applies_to"].get("products") or [])
        found = store.get_many("product", products)
        for i, product_id in enumerate(products):
            if product_id not in found:
                raise ResourceMissing("product", product_id, param=f"applies_to[products][{i}]")
        applies_to = {"products": products}

    coupon_id = values.get("id")
    if coupon_id is not None:
        if store.get("coupon", coupon_id) is not None:
            raise InvalidRequest(
                f"Coupon already exists: a coupon with id '{coupon_id}' exists or existed in this account.",
                param="id",
                code="resource_already_exists",
            )
    else:
        coupon_id = _generated()
        while store.get("coupon", coupon_id) is not None:  # pragma: no cover - 36**8 ids
            coupon_id = _generated()

    currency_options = None
    if amount_off is not None and currency is not None:
        currency_options = _coupon_currency_options(
            values.get("currency_options") or {}, currency, amount_off
        )
    doc: Doc = {
        "id": coupon_id,
        "object": "coupon",
        "amount_off": amount_off,
        "applies_to": applies_to,
        "created": now,
        "currency": currency,
        "currency_options": currency_options,
        "duration": duration,
        "duration_in_months": months,
        "livemode": store.scope.livemode,
        "max_redemptions": values.get("max_redemptions"),
        "metadata": values.get("metadata") or {},
        "name": values.get("name"),
        "percent_off": rate_to_json(percent_off) if percent_off is not None else None,
        "redeem_by": redeem_by,
        "times_redeemed": 0,
        "valid": True,
    }
    store.insert(doc, Index(currency=currency), created=now)
    store.record("coupon.created", doc)
    return doc


def update_coupon(
    store: Store, now: int, coupon_id: str, values: dict[str, Any], merge_meta: MergeMeta
) -> Doc:
    """Only ``name``, ``metadata`` and ``currency_options`` change after creation (Stripe's update params)."""
    doc = present_coupon(get_coupon(store, coupon_id), now)
    before = dict(doc)
    if "name" in values:
        doc["name"] = values["name"] or None
    if "metadata" in values:
        doc["metadata"] = merge_meta(doc.get("metadata") or {}, values["metadata"])
    if values.get("currency_options") is not None:
        if doc.get("amount_off") is None:
            raise InvalidRequest(
                "currency_options is only supported for coupons with amount_off.", param="currency_options"
            )
        doc["currency_options"] = _coupon_currency_options(
            values["currency_options"],
            str(doc["currency"]),
            int(doc["amount_off"]),
            doc.get("currency_options"),
        )
    previous = _previous(before, doc)
    if previous:
        store.replace(doc, Index(currency=doc.get("currency")))
        store.record("coupon.updated", doc, previous_attributes=previous)
    return doc


def delete_coupon(store: Store, now: int, coupon_id: str) -> Doc:
    """Delete a coupon. Its promotion codes stop being active: "a promotion code is only active if the coupon is
    also valid" (promotion code object), and a deleted coupon is not valid.
    """
    doc = get_coupon(store, coupon_id)
    codes = store.iterate("promotion_code", {"parent": coupon_id, "active": True})
    for code in list(codes):
        code["active"] = False
        store.replace(code, _promotion_index(code))
        store.record("promotion_code.updated", code, previous_attributes={"active": True})
    store.delete("coupon", coupon_id)
    doc["valid"] = False
    store.record("coupon.deleted", doc)
    return {"id": coupon_id, "object": "coupon", "deleted": True}


# -- promotion codes --------------------------------------------------------------------------------------------
def _promotion_index(doc: Doc) -> Index:
    # The code is unique among active codes of an account and mode, regardless of case: a partial unique index on
    # (account, mode, lookup) where active (schema.uq_objects_promotion_code).
    return Index(
        lookup=str(doc["code"]).upper(),
        active=bool(doc["active"]),
        parent=doc["promotion"]["coupon"],
        customer=doc.get("customer"),
    )


def get_promotion_code(store: Store, promotion_code_id: str, *, param: str = "id") -> Doc:
    doc = store.get("promotion_code", promotion_code_id)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("promotion_code", promotion_code_id, param=param)
    return doc


def _restriction_options(given: dict[str, Any], minimum_currency: str | None, current: Doc | None) -> Doc:
    options: Doc = dict(current or {})
    for code, option in given.items():
        param = f"restrictions[currency_options][{code}]"
        if code == minimum_currency:
            raise InvalidRequest(
                f"Invalid {param}: each currency option must differ from "
                f"restrictions[minimum_amount_currency] ({minimum_currency}).",
                param=param,
            )
        amount = option.get("minimum_amount")
        if amount is not None and amount > max_amount(code):
            raise InvalidRequest(
                f"Invalid {param}[minimum_amount]: must be at most {max_amount(code)}.",
                param=f"{param}[minimum_amount]",
            )
        options[code] = {"minimum_amount": amount}
    return options


def _restrictions(given: dict[str, Any]) -> Doc:
    minimum = given.get("minimum_amount")
    currency = given.get("minimum_amount_currency")
    if minimum is not None and currency is None:
        raise InvalidRequest(
            "You must specify restrictions[minimum_amount_currency] with restrictions[minimum_amount].",
            param="restrictions[minimum_amount_currency]",
        )
    if currency is not None and minimum is None:
        raise InvalidRequest(
            "You must specify restrictions[minimum_amount] with restrictions[minimum_amount_currency].",
            param="restrictions[minimum_amount]",
        )
    if minimum is not None and currency is not None and minimum > max_amount(currency):
        raise InvalidRequest(
            f"Invalid restrictions[minimum_amount]: must be at most {max_amount(currency)}.",
            param="restrictions[minimum_amount]",
        )
    return {
        "currency_options": _restriction_options(given.get("currency_options") or {}, currency, None),
        "first_time_transaction": bool(given.get("first_time_transaction") or False),
        "minimum_amount": minimum,
        "minimum_amount_currency": currency,
    }


def _check_code(code: str) -> None:
    if not _CODE.match(code):
        raise InvalidRequest(
            f"Invalid code: '{code}'. A promotion code may contain only letters (a-z, A-Z), digits (0-9) and "
            "dashes (-).",
            param="code",
        )


def _code_taken(store: Store, code: str) -> bool:
    page = store.list("promotion_code", ListQuery(filters={"lookup": code.upper(), "active": True}, limit=1))
    return bool(page.data)


def create_promotion_code(store: Store, now: int, values: dict[str, Any]) -> Doc:
    promotion = values["promotion"]
    coupon_id = promotion.get("coupon")
    if not coupon_id:
        raise InvalidRequest(
            "Missing required param: promotion[coupon].", param="promotion[coupon]", code="parameter_missing"
        )
    coupon = present_coupon(get_coupon(store, coupon_id, param="promotion[coupon]"), now)
    if not coupon["valid"]:
        raise InvalidRequest(
            f"Coupon '{coupon_id}' is no longer valid (past its redeem_by or fully redeemed).",
            param="promotion[coupon]",
        )
    if values.get("customer_account") is not None:
        raise InvalidRequest(
            "customer_account is not supported by Billfold; restrict the code with customer instead.",
            param="customer_account",
        )
    customer_id = values.get("customer")
    if customer_id is not None:
        get_customer(store, customer_id, param="customer")

    expires_at: int | None = values.get("expires_at")
    if expires_at is not None:
        if expires_at <= now:
            raise InvalidRequest(
                f"Invalid expires_at: {expires_at} is in the past; it must be a future timestamp.",
                param="expires_at",
            )
        if coupon.get("redeem_by") is not None and expires_at > int(coupon["redeem_by"]):
            raise InvalidRequest(
                f"Invalid expires_at: it cannot be after the coupon's redeem_by ({coupon['redeem_by']}).",
                param="expires_at",
            )
    max_redemptions: int | None = values.get("max_redemptions")
    if (
        max_redemptions is not None
        and coupon.get("max_redemptions") is not None
        and max_redemptions > int(coupon["max_redemptions"])
    ):
        raise InvalidRequest(
            "Invalid max_redemptions: it cannot be greater than the coupon's max_redemptions "
            f"({coupon['max_redemptions']}).",
            param="max_redemptions",
        )
    restrictions = _restrictions(values.get("restrictions") or {})

    code = values.get("code")
    if code is not None:
        _check_code(code)
    else:
        code = _generated()
        while _code_taken(store, code):  # pragma: no cover - 36**8 codes
            code = _generated()
    active = values.get("active")
    doc: Doc = {
        "id": new_id("promotion_code"),
        "object": "promotion_code",
        "active": True if active is None else bool(active),
        "code": code,
        "created": now,
        "customer": customer_id,
        "customer_account": None,
        "expires_at": expires_at,
        "livemode": store.scope.livemode,
        "max_redemptions": max_redemptions,
        "metadata": values.get("metadata") or {},
        "promotion": {"coupon": coupon_id, "type": "coupon"},
        "restrictions": restrictions,
        "times_redeemed": 0,
    }
    # A duplicate active code is refused by the unique index, inside this transaction (store._conflict).
    store.insert(doc, _promotion_index(doc), created=now)
    store.record("promotion_code.created", doc)
    return doc


def update_promotion_code(
    store: Store, now: int, promotion_code_id: str, values: dict[str, Any], merge_meta: MergeMeta
) -> Doc:
    """``active``, ``metadata`` and ``restrictions[currency_options]`` change; nothing else does."""
    doc = get_promotion_code(store, promotion_code_id)
    before = {**doc, "restrictions": dict(doc["restrictions"])}
    active = values.get("active")
    if active is not None and bool(active) and not doc["active"]:
        # "A promotion code can only be reactivated when the coupon is still valid and the promotion code is
        # otherwise redeemable" (promotion code update params).
        coupon = store.get("coupon", doc["promotion"]["coupon"])
        expires_at = doc.get("expires_at")
        limit = doc.get("max_redemptions")
        if (
            coupon is None
            or not coupon_is_valid(coupon, now)
            or (expires_at is not None and now >= int(expires_at))
            or (limit is not None and int(doc.get("times_redeemed") or 0) >= int(limit))
        ):
            raise InvalidRequest(
                "This promotion code cannot be reactivated: its coupon is no longer valid or the code is expired "
                "or fully redeemed.",
                param="active",
            )
    if active is not None:
        doc["active"] = bool(active)
    if "metadata" in values:
        doc["metadata"] = merge_meta(doc.get("metadata") or {}, values["metadata"])
    given_options = (values.get("restrictions") or {}).get("currency_options")
    if given_options is not None:
        restrictions = dict(doc["restrictions"])
        restrictions["currency_options"] = _restriction_options(
            given_options, restrictions.get("minimum_amount_currency"), restrictions.get("currency_options")
        )
        doc["restrictions"] = restrictions
    previous = _previous(before, doc)
    if previous:
        store.replace(doc, _promotion_index(doc))
        store.record("promotion_code.updated", doc, previous_attributes=previous)
    return doc
