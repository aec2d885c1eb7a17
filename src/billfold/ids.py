"""Object ids in Stripe's style: a type prefix and 24 random base62 characters.

Ids are opaque to clients; the prefix tells a person (and a support agent) what the id names.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

PREFIXES: dict[str, str] = {
    "customer": "cus",
    "product": "prod",
    "price": "price",
    "coupon": "coupon",  # coupons default to a short random id when the caller names none
    "promotion_code": "promo",
    "tax_rate": "txr",
    "tax_id": "txi",
    "event": "evt",
    "subscription": "sub",
    "subscription_item": "si",
    "subscription_schedule": "sub_sched",
    "invoice": "in",
    "invoiceitem": "ii",
    "line_item": "il",
    "credit_note": "cn",
    "credit_note_line_item": "cnli",
    "test_helpers.test_clock": "clock",
    "payment_method": "pm",
    "payment_intent": "pi",
    "api_key": "key",
    "account": "acct",
    "discount": "di",
    "customer_balance_transaction": "cbtxn",
    "billing.meter": "mtr",
}


def new_id(object_type: str, length: int = 24) -> str:
    return f"{PREFIXES[object_type]}_{_base62(length)}"


def random_token(length: int = 32) -> str:
    return _base62(length)


# Two base-62 characters per step: every pair of characters, in order of its value below 62**2.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def _base62(length: int) -> str:
    """``length`` random base-62 characters from one draw from the OS: a random integer below 62**length written
    in base 62, uniform over all strings of that length (24 ``secrets.choice`` calls cost a sixth of a bill run)."""
    n = secrets.randbelow(62**length)
    parts = []
    for _ in range(length // 2):
        n, r = divmod(n, 3844)
        parts.append(_PAIRS[r])
    if length % 2:
        parts.append(_ALPHABET[n % 62])
    return "".join(parts)
