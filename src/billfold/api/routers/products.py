"""/v1/products (being written)."""

from __future__ import annotations

from ..framework import StripeRouter

router = StripeRouter()
