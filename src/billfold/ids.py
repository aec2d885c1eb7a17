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
    """A fresh id for an object of the given Stripe ``object`` type."""
    prefix = PREFIXES[object_type]
    # One draw from the OS per id (24 ``secrets.choice`` calls cost a sixth of a bill run): a random integer below
    # 62**length written in base 62 — uniform over all ids of that length.
    n = secrets.randbelow(62**length)
    digits = []
    for _ in range(length):
        n, r = divmod(n, 62)
        digits.append(_ALPHABET[r])
    body = "".join(digits)
    return f"{prefix}_{body}"


def random_token(length: int = 32) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
