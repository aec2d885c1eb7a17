"""/v1/customers/{customer}/balance_transactions: the customer balance ledger."""

from __future__ import annotations

from ..framework import StripeRouter

router = StripeRouter()
