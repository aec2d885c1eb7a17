"""One router per Stripe resource."""

from ..framework import StripeRouter
from . import (
    coupons,
    credit_notes,
    customer_balance_transactions,
    customers,
    emails,
    events,
    invoice_items,
    invoices,
    meters,
    prices,
    products,
    promotion_codes,
    subscription_schedules,
    subscriptions,
    tax_rates,
    test_clocks,
)

ROUTERS: list[StripeRouter] = [
    customers.router,
    products.router,
    prices.router,
    coupons.router,
    promotion_codes.router,
    tax_rates.router,
    events.router,
    test_clocks.router,
    subscriptions.router,
    invoices.router,
    invoice_items.router,
    credit_notes.router,
    subscription_schedules.router,
    meters.router,
    customer_balance_transactions.router,
    emails.router,
]
