"""/v1/subscription_schedules: phased subscriptions (ramp deals)."""

from __future__ import annotations

from ..framework import StripeRouter

router = StripeRouter()
