"""/v1/invoiceitems: pending invoice items and one-off charges."""

from __future__ import annotations

from ..framework import StripeRouter

router = StripeRouter()
