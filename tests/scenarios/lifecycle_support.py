"""Helpers for the subscription lifecycle timelines (dunning, trials, pauses, incomplete payments, cancellation):
a test clock with a customer, a monthly price, advancing the clock, and the ordered billing event types."""

from __future__ import annotations

import calendar
from typing import Any

import stripe

from tests.conftest import Tenant
from tests.support.clocks import advance as advance  # re-exported for the scenario tests

HOUR = 3600
DAY = 86_400
DRAFT_WINDOW = HOUR


def utc(year: int, month: int, day: int, hour: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, 0, 0))


JAN1 = utc(2026, 1, 1)
FEB1 = utc(2026, 2, 1)
MAR1 = utc(2026, 3, 1)
APR1 = utc(2026, 4, 1)


def customer_on_clock(
    c: stripe.StripeClient, t0: int, payment_method: str | None = "pm_card_visa"
) -> tuple[str, str]:
    """A test clock frozen at ``t0`` and a customer on it (with ``payment_method`` as its default, if any)."""
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": t0})
    params: dict[str, Any] = {"test_clock": clock.id}
    if payment_method:
        params["invoice_settings"] = {"default_payment_method": payment_method}
    cus = c.v1.customers.create(params=params)  # type: ignore[arg-type]
    return clock.id, cus.id


def set_payment_method(c: stripe.StripeClient, customer: str, payment_method: str) -> None:
    c.v1.customers.update(customer, params={"invoice_settings": {"default_payment_method": payment_method}})


def monthly_price(c: stripe.StripeClient, unit_amount: int, name: str = "Seat", currency: str = "usd") -> str:
    product = c.v1.products.create(params={"name": name})
    return c.v1.prices.create(
        params={
            "product": product.id,
            "currency": currency,
            "unit_amount": unit_amount,
            "recurring": {"interval": "month"},
        }
    ).id


def billing_events(c: stripe.StripeClient) -> list[str]:
    """The account's subscription, invoice and invoice item event types, oldest first."""
    types = [e.type for e in c.v1.events.list(params={"limit": 100}).auto_paging_iter()]
    wanted = ("customer.subscription.", "invoice.", "invoiceitem.")
    return [t for t in reversed(types) if t.startswith(wanted)]


def events_since(c: stripe.StripeClient, before: list[str]) -> list[str]:
    now = billing_events(c)
    assert now[: len(before)] == before
    return now[len(before) :]


def invoices_of(c: stripe.StripeClient, sub_id: str) -> list[stripe.Invoice]:
    """The subscription's invoices, oldest first."""
    return list(reversed(c.v1.invoices.list(params={"subscription": sub_id, "limit": 100}).data))


def expect_error(
    tenant: Tenant, call: Any, *, status: int, param: str | None, type_: str = "invalid_request_error"
) -> stripe.StripeError:
    """Run ``call``; it must fail with this status, error type and param, and write nothing."""
    before = (tenant.rows(), tenant.audit_rows())
    try:
        call()
    except stripe.StripeError as err:
        assert err.http_status == status, err
        assert err.error is not None and err.error.type == type_, err
        assert err.error.param == param, err
        assert err.user_message, "the error must say what was wrong"
        assert (tenant.rows(), tenant.audit_rows()) == before, "a failed request must write nothing"
        return err
    raise AssertionError("the call should have failed")
