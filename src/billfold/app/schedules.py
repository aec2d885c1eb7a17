"""Subscription schedules (placeholder until the schedules use cases land): no schedule is ever due yet."""

from __future__ import annotations

from .ports import Doc, PaymentProcessor, Store


def process_due(store: Store, schedule: Doc, at: int, processor: PaymentProcessor) -> None:
    raise NotImplementedError("subscription schedules are not implemented yet")
