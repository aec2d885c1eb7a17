"""``expand[]``: replace an id with the object it names, along dotted paths (``data.customer``, ``a.b.c``).

Which fields may be expanded, and to what type, is declared per object type here (Stripe's "Expandable" fields).
"""

from __future__ import annotations

from typing import Any

from billfold.app.errors import InvalidRequest
from billfold.app.ports import Doc, Store

MAX_DEPTH = 4

# object type -> {field: target object type}
EXPANDABLE: dict[str, dict[str, str]] = {
    "customer": {"default_source": "source", "test_clock": "test_helpers.test_clock"},
    "product": {"default_price": "price"},
    "price": {"product": "product"},
    "coupon": {},
    "promotion_code": {"customer": "customer"},
    "tax_rate": {},
    "tax_id": {"customer": "customer"},
    "event": {},
    "discount": {"customer": "customer", "promotion_code": "promotion_code"},
    "promotion_code.promotion": {"coupon": "coupon"},
    "subscription": {
        "customer": "customer",
        "latest_invoice": "invoice",
        "schedule": "subscription_schedule",
        "test_clock": "test_helpers.test_clock",
        "default_payment_method": "payment_method",
    },
    "subscription_item": {},
    "subscription_schedule": {
        "customer": "customer",
        "subscription": "subscription",
        "test_clock": "test_helpers.test_clock",
    },
    "invoice": {
        "customer": "customer",
        "test_clock": "test_helpers.test_clock",
        "default_payment_method": "payment_method",
    },
    "invoiceitem": {"customer": "customer", "invoice": "invoice", "test_clock": "test_helpers.test_clock"},
    "credit_note": {
        "customer": "customer",
        "invoice": "invoice",
        "customer_balance_transaction": "customer_balance_transaction",
    },
    "credit_note_line_item": {},
    "customer_balance_transaction": {
        "customer": "customer",
        "credit_note": "credit_note",
        "invoice": "invoice",
    },
}


# Fields Stripe includes only when asked (``expand[]=tiers``) and Billfold always includes: expanding them is a no-op.
INCLUDABLE: dict[str, frozenset[str]] = {
    "price": frozenset({"tiers", "currency_options"}),
    "coupon": frozenset({"applies_to", "currency_options"}),
    "customer": frozenset(
        {"tax_ids", "sources", "subscriptions", "invoice_credit_balance", "cash_balance", "tax"}
    ),
    "invoice": frozenset({"total_tax_amounts"}),
}


def expand(store: Store, doc: Doc, paths: list[str]) -> Doc:
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_DEPTH:
            raise InvalidRequest(
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}",
                param="expand",
            )
        _expand_path(store, doc, parts, path)
    return doc


def _expand_path(store: Store, node: Any, parts: list[str], full: str, context: str | None = None) -> None:
    if isinstance(node, list):
        for item in node:
            _expand_path(store, item, parts, full, context)
        return
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head == "data" and node.get("object") in ("list", "search_result"):
        for item in node.get("data", []):
            if rest:
                _expand_path(store, item, rest, full)
        return
    if not rest and head in INCLUDABLE.get(str(node.get("object")), frozenset()):
        return
    if head not in node:
        raise InvalidRequest(f"This property cannot be expanded ({full}).", param="expand")
    # A nested hash without its own ``object`` (e.g. a promotion code's ``promotion``) is named by its path.
    obj_type = str(node.get("object") or context)
    value = node[head]
    target = EXPANDABLE.get(obj_type, {}).get(head)
    if target is None and not rest:
        raise InvalidRequest(f"This property cannot be expanded ({full}).", param="expand")
    if isinstance(value, str):
        if target is None:
            raise InvalidRequest(f"This property cannot be expanded ({full}).", param="expand")
        found = store.get(target, value)
        if found is not None:
            node[head] = found
            value = found
    if rest and value is not None:
        child = None if isinstance(value, dict) and value.get("object") else f"{obj_type}.{head}"
        _expand_path(store, value, rest, full, child)
