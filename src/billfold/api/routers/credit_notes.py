"""/v1/credit_notes: credit notes on open or paid invoices, and their previews."""

from __future__ import annotations

from ..framework import StripeRouter

router = StripeRouter()
