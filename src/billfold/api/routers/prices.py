"""/v1/prices (being written)."""

from __future__ import annotations

from ..framework import StripeRouter

router = StripeRouter()
