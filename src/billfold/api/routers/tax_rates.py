"""/v1/tax_rates (being written)."""

from __future__ import annotations

from ..framework import StripeRouter

router = StripeRouter()
