"""Object ids in Stripe's style: a type prefix and 24 base-62 characters.

Ids are opaque to clients; the prefix tells a person (and a support agent) what the id names. The first 7 characters
after the prefix are the creation time in milliseconds (since 2020-01-01, in base 62 with the digits in ASCII order,
so ids of one type sort roughly by creation time); the other 17 are random (about 101 bits). Like Stripe's ids, a
new id therefore lands at the end of an index on ids instead of at a random place: in a database of millions of
objects, inserting into a unique index on random ids touches (and rewrites) a random index page per row, while
time-ordered ids keep the pages being written few and hot (docs/benchmarks.md). Ids name objects, they are not
secrets; secrets (API keys) come from ``random_token``, which is uniform over its alphabet.
"""

from __future__ import annotations

import os
import secrets
import string
import threading
import time

_ALPHABET = string.ascii_letters + string.digits
# Base 62 in ASCII order, so that the time part of ids sorts in time order in a byte-wise (C) collation.
_SORTED = string.digits + string.ascii_uppercase + string.ascii_lowercase

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
    "charge": "ch",
    "refund": "re",
    "api_key": "key",
    "account": "acct",
    "discount": "di",
    "customer_balance_transaction": "cbtxn",
    "billing.meter": "mtr",
    "billfold.email": "email",
}

_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
_TIME_CHARS = 7  # 62**7 ms is 111 years
# Random bytes to characters: byte b names _ALPHABET[b % 62]. 256 is not a multiple of 62, so the first 8 characters
# are a little more likely (5/256 instead of 4/256): 5.947 bits a character instead of 5.954, which costs an id
# nothing as a name and lets one C call (bytes.translate) make 17 characters.
_BYTE_TO_CHAR = bytes(ord(_ALPHABET[b % 62]) for b in range(256))
_last_ms = -1
_last_time_part = ""


def _time_part() -> str:
    global _last_ms, _last_time_part
    ms = time.time_ns() // 1_000_000 - _EPOCH_MS
    if ms != _last_ms:
        digits = []
        n = ms
        for _ in range(_TIME_CHARS):
            n, r = divmod(n, 62)
            digits.append(_SORTED[r])
        _last_ms, _last_time_part = ms, "".join(reversed(digits))
    return _last_time_part


class _RandomPool(threading.local):
    """Random bytes from the OS taken 4 KB at a time: one system call for about 240 ids instead of one each (a
    bill run makes seven ids a subscription). Per thread; a forked child starts a pool of its own
    (``_new_pool_after_fork``), so parent and child never hand out the same bytes."""

    def __init__(self) -> None:
        self.buffer = b""
        self.position = 0


_POOL_BYTES = 4096
_pool = _RandomPool()


def _new_pool_after_fork() -> None:
    global _pool
    _pool = _RandomPool()


os.register_at_fork(after_in_child=_new_pool_after_fork)


def _random_bytes(n: int) -> bytes:
    pool = _pool
    end = pool.position + n
    if end > len(pool.buffer):
        pool.buffer, end = os.urandom(max(_POOL_BYTES, n)), n
        pool.position = 0
    taken = pool.buffer[pool.position : end]
    pool.position = end
    return taken


def new_id(object_type: str, length: int = 24) -> str:
    """The type's prefix, ``_``, and ``length`` characters: 7 of time, the rest random (17 by default)."""
    random_part = _random_bytes(length - _TIME_CHARS).translate(_BYTE_TO_CHAR).decode("ascii")
    return f"{PREFIXES[object_type]}_{_time_part()}{random_part}"


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
