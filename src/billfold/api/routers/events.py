"""/v1/events (being written)."""

from __future__ import annotations

from ..framework import StripeRouter

router = StripeRouter()
