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


def advanced_seat_price(c: stripe.StripeClient) -> stripe.Price:
    """The reference customer's seat: a new "Advanced seat" product at USD 99.00 a month."""
    product = c.v1.products.create(params={"name": "Advanced seat"})
    return c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 9900,
            "recurring": {"interval": "month"},
        }
    )


def seats_on_clock(c: stripe.StripeClient, at: int, quantity: int) -> tuple[str, str, str]:
    """A customer on a new test clock at ``at`` (card ``pm_card_visa``) subscribed to ``quantity`` Advanced seats at
    $99.00 a month: (clock, customer, subscription)."""
    price = advanced_seat_price(c)
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": at})
    cus = c.v1.customers.create(
        params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    sub = c.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id, "quantity": quantity}]}
    )
    return clock.id, cus.id, sub.id
