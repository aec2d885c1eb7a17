"""/v1/promotion_codes (being written)."""

from __future__ import annotations

from ..framework import StripeRouter

router = StripeRouter()
