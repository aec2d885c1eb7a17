"""Test clock helpers shared by the SDK scenario tests."""

from __future__ import annotations

import time

import stripe


def advance(c: stripe.StripeClient, clock_id: str, to: int, *, timeout: float = 30) -> None:
    """Advance a test clock to ``to`` and wait until the worker has run its due work (status ``ready``)."""
    c.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": to})
    deadline = time.monotonic() + timeout
    while c.v1.test_helpers.test_clocks.retrieve(clock_id).status != "ready":
        assert time.monotonic() < deadline, "clock did not finish advancing"
        time.sleep(0.05)
