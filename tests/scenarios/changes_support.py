"""Shared set-up for the subscription-change scenarios (previews, interval changes, proration discounts)."""

from __future__ import annotations

import time
from typing import Any, Literal

import stripe

from billfold.app import changes
from billfold.app.ports import Doc, Scope
from billfold.main import Runtime
from tests.conftest import Tenant
from tests.support.clocks import advance as advance  # re-exported for the scenario tests

JAN1 = 1_767_225_600  # 2026-01-01T00:00:00Z
JAN10 = JAN1 + 9 * 86400  # 22 of January's 31 days left
JAN17 = JAN1 + 16 * 86400  # 15 of January's 31 days left
FEB1 = 1_769_904_000
APR1 = 1_775_001_600  # 2026-04-01T00:00:00Z
APR16 = APR1 + 15 * 86400  # exactly half of April's 30 days
MAY1 = APR1 + 30 * 86400


def price(
    c: stripe.StripeClient, product: str, amount: int, interval: Literal["month", "year"] = "month"
) -> str:
    return c.v1.prices.create(
        params={
            "product": product,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": interval},
        }
    ).id


def customer_on_clock(c: stripe.StripeClient, t0: int) -> tuple[str, str]:
    """A customer paying by card, on a new test clock frozen at ``t0``: (customer id, clock id)."""
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": t0})
    cus = c.v1.customers.create(
        params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    return cus.id, clock.id


def lines(inv: stripe.Invoice) -> list[tuple[object, ...]]:
    """An invoice's lines as what a customer is billed: amount, quantity, period, proration, text, taxes."""
    return [
        (
            line.amount,
            line.quantity,
            line.period.start,
            line.period.end,
            line.parent.subscription_item_details.proration
            if line.parent and line.parent.subscription_item_details
            else bool(
                line.parent
                and line.parent.invoice_item_details
                and line.parent.invoice_item_details.proration
            ),
            line.description,
            [t.amount for t in line.taxes or []],
            [d.amount for d in line.discount_amounts or []],
        )
        for line in inv.lines.data
    ]


def totals(inv: stripe.Invoice) -> tuple[int, int, int, int]:
    return inv.subtotal, inv.total, inv.amount_due, sum(t.amount for t in inv.total_taxes or [])


def change_in_process(
    runtime: Runtime,
    tenant: Tenant,
    sub_id: str,
    items: list[dict[str, Any]],
    behavior: str = "create_prorations",
    proration_date: int | None = None,
    **extra: Any,
) -> Doc:
    """``changes.change_items`` in one unit of work, for parameters the subscriptions router does not take yet
    (``billing_cycle_anchor``, ``discounts``): the customer is on a test clock, so the wall clock is not used."""
    scope = Scope(account_id=tenant.account_id, livemode=False, actor="test")
    with runtime.services.uow(scope) as store:
        return changes.change_items(
            store,
            int(time.time()),
            sub_id,
            items,
            behavior,
            proration_date,
            runtime.services.processor,
            **extra,
        )
