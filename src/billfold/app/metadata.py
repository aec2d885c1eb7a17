"""Stripe's metadata update rule, shared by every resource: keys merge; a key sent as "" is removed;
``metadata=""`` (decoded to an empty hash) clears all. https://docs.stripe.com/api/metadata"""

from __future__ import annotations

from .errors import InvalidRequest

MAX_KEYS = 50


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    if update is None:
        return current
    if update == {}:
        return {}
    merged = dict(current)
    for k, v in update.items():
        if v == "":
            merged.pop(k, None)
        else:
            merged[k] = v
    if len(merged) > MAX_KEYS:
        raise InvalidRequest(f"Invalid metadata: metadata can have up to {MAX_KEYS} keys", param="metadata")
    return merged
