"""Billing timelines on test clocks, through the official SDK: the anchor on the 31st, a trial that turns paid,
coupons with a duration, and inclusive and exclusive tax.

Each timeline asserts every invoice to the cent (lines, subtotal, discounts, taxes, total, amount due, customer
balance), that its lines add up to its totals, the ordered billing event types (``GET /v1/events``), and that one more
advance finds nothing left to do. Amounts are Stripe's published examples where a page has one (cited at the test).
Mid-period changes (upgrade, downgrade, seats) are in test_timelines_changes.py, which reuses the helpers here.
"""

from __future__ import annotations

import calendar
from typing import Any

import pytest
import stripe

from tests.conftest import Tenant
from tests.support.clocks import advance

HOUR = 3600
DAY = 86400
DRAFT_WINDOW = HOUR  # a renewal invoice stays a draft for an hour, then is finalized and charged


def utc(year: int, month: int, day: int, hour: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, 0, 0))


# -- helpers (test_timelines_changes.py imports these) ---------------------------------------------------------------
def customer_on_clock(c: stripe.StripeClient, t0: int) -> tuple[str, str]:
    """A test clock frozen at ``t0`` and a customer on it who pays with a card that succeeds."""
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": t0})
    cus = c.v1.customers.create(
        params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    return clock.id, cus.id


def monthly_price(c: stripe.StripeClient, unit_amount: int, name: str = "Plan", currency: str = "usd") -> str:
    product = c.v1.products.create(params={"name": name})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": currency,
            "unit_amount": unit_amount,
            "recurring": {"interval": "month"},
        }
    )
    return price.id


def _proration(line: Any) -> bool:
    parent = line.parent
    details = parent.subscription_item_details or parent.invoice_item_details
    return bool(details and details.proration)


def summary(inv: stripe.Invoice) -> dict[str, Any]:
    """What a customer is billed: every line (amount, quantity, service period, proration) and every total."""
    return {
        "billing_reason": inv.billing_reason,
        "status": inv.status,
        "lines": [
            (line.amount, line.quantity, line.period.start, line.period.end, _proration(line))
            for line in inv.lines.data
        ],
        "subtotal": inv.subtotal,
        "discounts": [d.amount for d in inv.total_discount_amounts or []],
        "taxes": [(t.amount, t.tax_behavior, t.taxable_amount) for t in inv.total_taxes or []],
        "total_excluding_tax": inv.total_excluding_tax,
        "total": inv.total,
        "amount_due": inv.amount_due,
        "amount_paid": inv.amount_paid,
        "starting_balance": inv.starting_balance,
        "ending_balance": inv.ending_balance,
    }


def invoice(
    reason: str,
    lines: list[tuple[int, int, int, int, bool]],
    *,
    subtotal: int,
    total: int,
    amount_due: int,
    discounts: list[int] | None = None,
    taxes: list[tuple[int, str, int]] | None = None,
    total_excluding_tax: int | None = None,
    starting_balance: int = 0,
    ending_balance: int | None = 0,
    status: str = "paid",
) -> dict[str, Any]:
    """The expected ``summary`` of an invoice, every amount given literally by the test."""
    return {
        "billing_reason": reason,
        "status": status,
        "lines": lines,
        "subtotal": subtotal,
        "discounts": discounts or [],
        "taxes": taxes or [],
        "total_excluding_tax": total if total_excluding_tax is None else total_excluding_tax,
        "total": total,
        "amount_due": amount_due,
        "amount_paid": amount_due if status == "paid" else 0,
        "starting_balance": starting_balance,
        "ending_balance": ending_balance,
    }


def assert_lines_sum_to_totals(inv: stripe.Invoice) -> None:
    """The invoice's totals are its lines added up (https://docs.stripe.com/api/invoices/object)."""
    lines = inv.lines.data
    line_discounts = sum(int(d.amount) for line in lines for d in line.discount_amounts or [])
    line_taxes = [t for line in lines for t in line.taxes or []]
    assert sum(int(d.amount) for d in inv.total_discount_amounts or []) == line_discounts
    assert sum(int(t.amount) for t in inv.total_taxes or []) == sum(int(t.amount) for t in line_taxes)
    inclusive = sum(int(t.amount) for t in line_taxes if t.tax_behavior == "inclusive")
    exclusive = sum(int(t.amount) for t in line_taxes if t.tax_behavior == "exclusive")
    assert inv.total_excluding_tax == sum(line.amount for line in lines) - line_discounts - inclusive
    assert inv.total == inv.total_excluding_tax + inclusive + exclusive
    assert inv.amount_due == max(0, inv.total + inv.starting_balance)
    if inv.status != "draft":
        assert inv.ending_balance == inv.starting_balance + inv.total - inv.amount_due
    assert inv.amount_remaining == (0 if inv.status in ("paid", "void") else inv.amount_due)


def sub_invoices(c: stripe.StripeClient, sub_id: str) -> list[stripe.Invoice]:
    """The subscription's invoices, oldest first; each checked to add up."""
    found = list(reversed(c.v1.invoices.list(params={"subscription": sub_id, "limit": 100}).data))
    for inv in found:
        assert_lines_sum_to_totals(inv)
    return found


def billing_events(c: stripe.StripeClient) -> list[str]:
    """The account's subscription, invoice and invoice item event types, oldest first.

    ``invoice.upcoming`` is left out: when it is sent is an account setting (X days before a renewal).
    """
    types = [e.type for e in c.v1.events.list(params={"limit": 100}).auto_paging_iter()]
    wanted = ("customer.subscription.", "invoice.", "invoiceitem.")
    return [t for t in reversed(types) if t.startswith(wanted) and t != "invoice.upcoming"]


def assert_nothing_left_to_do(c: stripe.StripeClient, clock_id: str, sub_id: str, now: int) -> None:
    """A second bill run over the same time finds nothing: no invoice, no billing event."""
    before = (len(sub_invoices(c, sub_id)), billing_events(c))
    advance(c, clock_id, now + 60)
    assert (len(sub_invoices(c, sub_id)), billing_events(c)) == before


CREATE = ["customer.subscription.created", "invoice.created", "invoice.finalized", "invoice.paid"]
CREATE_EVENTS = [*CREATE, "customer.subscription.updated"]
# A renewal: the draft and the period change now, finalization and payment after the draft window.
RENEWAL_EVENTS = ["invoice.created", "customer.subscription.updated", "invoice.finalized", "invoice.paid"]


# -- 1. the anchor on the 31st -----------------------------------------------------------------------------------
@pytest.mark.parametrize("year, feb_end", [(2026, 28), (2028, 29)], ids=["2026", "leap-2028"])
def test_anchor_on_the_31st_renews_on_each_months_last_day(tenant: Tenant, year: int, feb_end: int) -> None:
    """https://docs.stripe.com/billing/subscriptions/billing-cycle: "A monthly subscription with a billing cycle anchor
    date of January 31 bills the last day of the month closest to the anchor date, so February 28 (or February 29 in a
    leap year), then March 31, April 30, and so on." """
    c = tenant.client
    jan31, feb, mar31, apr30, may31 = (
        utc(year, 1, 31),
        utc(year, 2, feb_end),
        utc(year, 3, 31),
        utc(year, 4, 30),
        utc(year, 5, 31),
    )
    clock, cus = customer_on_clock(c, jan31)
    price = monthly_price(c, 3000)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price, "quantity": 2}]})
    assert (sub.status, sub.billing_cycle_anchor) == ("active", jan31)
    assert (sub["items"].data[0].current_period_start, sub["items"].data[0].current_period_end) == (
        jan31,
        feb,
    )

    advance(c, clock, feb + 60)
    draft = sub_invoices(c, sub.id)[-1]
    assert summary(draft) == invoice(
        "subscription_cycle",
        [(6000, 2, feb, mar31, False)],
        subtotal=6000,
        total=6000,
        amount_due=6000,
        ending_balance=None,
        status="draft",
    )
    assert draft.automatically_finalizes_at == feb + DRAFT_WINDOW
    for boundary in (mar31, apr30):
        advance(c, clock, boundary + 60)
    advance(c, clock, apr30 + DRAFT_WINDOW + 60)

    assert [summary(inv) for inv in sub_invoices(c, sub.id)] == [
        invoice(
            "subscription_create", [(6000, 2, jan31, feb, False)], subtotal=6000, total=6000, amount_due=6000
        ),
        invoice(
            "subscription_cycle", [(6000, 2, feb, mar31, False)], subtotal=6000, total=6000, amount_due=6000
        ),
        invoice(
            "subscription_cycle", [(6000, 2, mar31, apr30, False)], subtotal=6000, total=6000, amount_due=6000
        ),
        invoice(
            "subscription_cycle", [(6000, 2, apr30, may31, False)], subtotal=6000, total=6000, amount_due=6000
        ),
    ]
    sub = c.v1.subscriptions.retrieve(sub.id)
    assert (sub.billing_cycle_anchor, sub["items"].data[0].current_period_start) == (jan31, apr30)
    assert sub["items"].data[0].current_period_end == may31
    assert billing_events(c) == CREATE_EVENTS + RENEWAL_EVENTS * 3
    assert_nothing_left_to_do(c, clock, sub.id, apr30 + DRAFT_WINDOW + 60)


# -- 2. trial to paid --------------------------------------------------------------------------------------------
def test_trial_of_14_days_then_paid_then_renewed(tenant: Tenant) -> None:
    """https://docs.stripe.com/billing/subscriptions/trials: "An immediate invoice is still created, but for $0." When the
    trial ends "we generate an invoice ... Approximately 1 hour later, we attempt to charge that invoice. A new billing
    cycle also begins for the customer when the trial ends." ``customer.subscription.trial_will_end`` "Occurs three days
    before a subscription's trial period is scheduled to end" (https://docs.stripe.com/api/events/types)."""
    c = tenant.client
    jan1 = utc(2026, 1, 1)
    jan15 = jan1 + 14 * DAY
    feb15, mar15 = utc(2026, 2, 15), utc(2026, 3, 15)
    clock, cus = customer_on_clock(c, jan1)
    price = monthly_price(c, 2900)
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": price}], "trial_period_days": 14}
    )
    assert (sub.status, sub.trial_start, sub.trial_end, sub.billing_cycle_anchor) == (
        "trialing",
        jan1,
        jan15,
        jan15,
    )
    [trial] = sub_invoices(c, sub.id)
    assert summary(trial) == invoice(
        "subscription_create", [(0, 1, jan1, jan15, False)], subtotal=0, total=0, amount_due=0
    )

    advance(c, clock, jan15 - 3 * DAY + 60)  # the trial-will-end notice
    assert c.v1.subscriptions.retrieve(sub.id).status == "trialing"
    advance(c, clock, jan15 + 60)
    sub = c.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "active"
    assert (sub["items"].data[0].current_period_start, sub["items"].data[0].current_period_end) == (
        jan15,
        feb15,
    )
    advance(c, clock, jan15 + DRAFT_WINDOW + 60)
    advance(c, clock, feb15 + DRAFT_WINDOW + 60)

    assert [summary(inv) for inv in sub_invoices(c, sub.id)] == [
        invoice("subscription_create", [(0, 1, jan1, jan15, False)], subtotal=0, total=0, amount_due=0),
        invoice(
            "subscription_cycle", [(2900, 1, jan15, feb15, False)], subtotal=2900, total=2900, amount_due=2900
        ),
        invoice(
            "subscription_cycle", [(2900, 1, feb15, mar15, False)], subtotal=2900, total=2900, amount_due=2900
        ),
    ]
    assert_nothing_left_to_do(c, clock, sub.id, feb15 + DRAFT_WINDOW + 60)
    assert billing_events(c) == [
        *CREATE_EVENTS,
        "customer.subscription.trial_will_end",
        *RENEWAL_EVENTS,
        *RENEWAL_EVENTS,
    ]


# -- 5. coupons with a duration ----------------------------------------------------------------------------------
def test_coupon_repeating_3_months_discounts_3_invoices_then_full_price(tenant: Tenant) -> None:
    """The coupon of Stripe's Coupon object example: 25.5% off, ``duration=repeating``, ``duration_in_months=3``
    (https://docs.stripe.com/api/coupons/object). A repeating coupon applies to the invoices of the months it lasts
    ("for a certain length of time", https://docs.stripe.com/billing/subscriptions/coupons): Jan, Feb and Mar are
    discounted, the renewal on Apr 1 — when the discount ends — is full price."""
    c = tenant.client
    jan1, feb1, mar1, apr1, may1 = (utc(2026, m, 1) for m in (1, 2, 3, 4, 5))
    clock, cus = customer_on_clock(c, jan1)
    price = monthly_price(c, 4999)
    coupon = c.v1.coupons.create(
        params={"percent_off": 25.5, "duration": "repeating", "duration_in_months": 3}
    )
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": price}], "discounts": [{"coupon": coupon.id}]}
    )
    for boundary in (feb1, mar1, apr1):
        advance(c, clock, boundary + DRAFT_WINDOW + 60)

    # 25.5% of $49.99 = $12.74745, rounded once to $12.75; $49.99 - $12.75 = $37.24.
    def discounted(reason: str, start: int, end: int) -> dict[str, Any]:
        return invoice(
            reason,
            [(4999, 1, start, end, False)],
            subtotal=4999,
            discounts=[1275],
            total=3724,
            amount_due=3724,
        )

    invoices = sub_invoices(c, sub.id)
    assert [summary(inv) for inv in invoices] == [
        discounted("subscription_create", jan1, feb1),
        discounted("subscription_cycle", feb1, mar1),
        discounted("subscription_cycle", mar1, apr1),
        invoice(
            "subscription_cycle", [(4999, 1, apr1, may1, False)], subtotal=4999, total=4999, amount_due=4999
        ),
    ]
    assert billing_events(c) == CREATE_EVENTS + RENEWAL_EVENTS * 3
    assert_nothing_left_to_do(c, clock, sub.id, apr1 + DRAFT_WINDOW + 60)
    # The full-price invoice lists no discount ("The discounts applied to the invoice").
    assert invoices[-1].discounts == [] and invoices[-1].lines.data[0].discount_amounts == []


def test_coupon_once_discounts_only_the_first_invoice(tenant: Tenant) -> None:
    """``duration=once`` applies to a single invoice, the first (https://docs.stripe.com/billing/subscriptions/coupons:
    coupons "Apply to every invoice, just one invoice, or for a certain length of time")."""
    c = tenant.client
    jan1, feb1, mar1 = utc(2026, 1, 1), utc(2026, 2, 1), utc(2026, 3, 1)
    clock, cus = customer_on_clock(c, jan1)
    price = monthly_price(c, 4999)
    coupon = c.v1.coupons.create(params={"amount_off": 2000, "currency": "usd", "duration": "once"})
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": price}], "discounts": [{"coupon": coupon.id}]}
    )
    advance(c, clock, feb1 + DRAFT_WINDOW + 60)
    assert [summary(inv) for inv in sub_invoices(c, sub.id)] == [
        invoice(
            "subscription_create",
            [(4999, 1, jan1, feb1, False)],
            subtotal=4999,
            discounts=[2000],
            total=2999,
            amount_due=2999,
        ),
        invoice(
            "subscription_cycle", [(4999, 1, feb1, mar1, False)], subtotal=4999, total=4999, amount_due=4999
        ),
    ]
    assert billing_events(c) == CREATE_EVENTS + RENEWAL_EVENTS


# -- 6. inclusive and exclusive tax ------------------------------------------------------------------------------
TAX_CASES = [
    # https://support.stripe.com/questions/inclusive-and-exclusive-tax-options-in-the-tax-rate-api-and-stripe-tax:
    # "if the price is €600 and you set an inclusive tax rate of 10%, the invoice total will still be €600" and "An
    # exclusive tax rate of 10% on a €600 price will result in an invoice total of €660."
    # €600 / 1.10 = €545.4545... -> net €545.45, tax €54.55 inside the amount.
    pytest.param("eur", 60000, 10, True, "default", (5455, 54545, 60000), id="inclusive-10%-on-600-eur"),
    pytest.param("eur", 60000, 10, False, "default", (6000, 60000, 66000), id="exclusive-10%-on-600-eur"),
    # German VAT, 19%: 119.00 with the tax inside is 100.00 + 19.00; 100.00 with the tax on top is 119.00.
    pytest.param("eur", 11900, 19, True, "item", (1900, 10000, 11900), id="inclusive-19%-on-119-eur"),
    pytest.param("eur", 10000, 19, False, "item", (1900, 10000, 11900), id="exclusive-19%-on-100-eur"),
]


@pytest.mark.parametrize("currency, unit_amount, pct, inclusive, where, expected", TAX_CASES)
def test_tax_rate_on_every_invoice_of_the_timeline(
    tenant: Tenant,
    currency: str,
    unit_amount: int,
    pct: int,
    inclusive: bool,
    where: str,
    expected: tuple[int, int, int],
) -> None:
    """A tax rate as the subscription's ``default_tax_rates`` or the item's ``tax_rates``
    (https://docs.stripe.com/billing/taxes/tax-rates): the same tax on the first invoice and on the renewal."""
    c = tenant.client
    tax, net, total = expected
    behavior = "inclusive" if inclusive else "exclusive"
    jan1, feb1, mar1 = utc(2026, 1, 1), utc(2026, 2, 1), utc(2026, 3, 1)
    clock, cus = customer_on_clock(c, jan1)
    price = monthly_price(c, unit_amount, currency=currency)
    rate = c.v1.tax_rates.create(
        params={"display_name": "VAT", "percentage": pct, "inclusive": inclusive, "country": "DE"}
    )
    item: dict[str, Any] = {"price": price}
    params: dict[str, Any] = {"customer": cus, "items": [item]}
    if where == "item":
        item["tax_rates"] = [rate.id]
    else:
        params["default_tax_rates"] = [rate.id]
    sub = c.v1.subscriptions.create(params=params)  # type: ignore[arg-type]
    advance(c, clock, feb1 + DRAFT_WINDOW + 60)

    def taxed(reason: str, start: int, end: int) -> dict[str, Any]:
        return invoice(
            reason,
            [(unit_amount, 1, start, end, False)],
            subtotal=unit_amount,
            taxes=[(tax, behavior, net)],
            total_excluding_tax=net,
            total=total,
            amount_due=total,
        )

    invoices = sub_invoices(c, sub.id)
    assert [summary(inv) for inv in invoices] == [
        taxed("subscription_create", jan1, feb1),
        taxed("subscription_cycle", feb1, mar1),
    ]
    for inv in invoices:
        [line_tax] = inv.lines.data[0].taxes or []
        [total_tax] = inv.total_taxes or []
        assert line_tax.amount == tax
        assert (
            line_tax["tax_rate_details"]["tax_rate"] == total_tax["tax_rate_details"]["tax_rate"] == rate.id
        )
    assert billing_events(c) == CREATE_EVENTS + RENEWAL_EVENTS
    assert_nothing_left_to_do(c, clock, sub.id, feb1 + DRAFT_WINDOW + 60)
