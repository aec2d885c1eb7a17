"""Credit notes on a test clock, through the official SDK: a credit note after payment (part refunded to the card,
part credited to the customer balance that the next renewal uses up), and a credit note before payment (the
customer then pays only what is left). Every amount to the cent, with the ordered event types.

Stripe's rules: https://docs.stripe.com/api/credit_notes/create ("A credit note will first reduce the invoice's
amount_remaining ... The excess amount is indicated by post_payment_amount" — refund, customer balance credit,
outside of Stripe); the customer balance "will be automatically applied to their next invoice when it's finalized"
(same page; https://docs.stripe.com/billing/customer/balance).
"""

from __future__ import annotations

from typing import Any

import stripe

from tests.conftest import Tenant
from tests.support.clocks import advance, advanced_seat_price

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
JAN10 = T0 + 9 * 86400
FEB1 = 1_769_904_000  # 2026-02-01T00:00:00Z


def _subscribe(c: stripe.StripeClient, payment_method: str) -> tuple[str, str, str]:
    """20 seats × $99.00 with 20% off for a year and 19% VAT, on a test clock at 2026-01-01: (clock, customer, sub)."""
    price = advanced_seat_price(c)
    vat = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 19, "inclusive": False})
    coupon = c.v1.coupons.create(
        params={"percent_off": 20, "duration": "repeating", "duration_in_months": 12}
    )
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    cus = c.v1.customers.create(
        params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": payment_method}}
    )
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": price.id, "quantity": 20}],
            "default_tax_rates": [vat.id],
            "discounts": [{"coupon": coupon.id}],
        }
    )
    return clock.id, cus.id, sub.id


def _types(c: stripe.StripeClient) -> list[str]:
    events = reversed(list(c.v1.events.list(params={"limit": 100}).auto_paging_iter()))
    # invoice.upcoming (the renewal reminder) belongs to the subscription timeline, not to this story.
    kept = ("invoice.", "credit_note.", "customer.updated")
    return [e.type for e in events if e.type.startswith(kept) and e.type != "invoice.upcoming"]


def _same(preview: Any, created: Any) -> bool:
    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            skip = ("id", "url", "refunds", "customer_balance_transaction")
            return {k: strip(x) for k, x in v.items() if k not in skip}
        return [strip(x) for x in v] if isinstance(v, list) else v

    return bool(strip(preview.to_dict()) == strip(created.to_dict()))


def test_credit_note_after_payment_refund_and_balance_for_the_next_renewal(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub = _subscribe(c, "pm_card_visa")
    first = c.v1.invoices.retrieve(str(c.v1.subscriptions.retrieve(sub).latest_invoice))
    # 20 × $99.00 = $1,980.00; 20% off = -$396.00; VAT 19% on $1,584.00 = $300.96; paid $1,884.96.
    assert (first.status, first.total, first.amount_paid) == ("paid", 188496, 188496)

    # Jan 10: five seats were never used. Five of twenty: $495.00, less their 20% ($99.00), plus 19% VAT on
    # $396.00 ($75.24) = $471.24 — $200.00 back to the card, $271.24 to the customer balance.
    advance(c, clock, JAN10)
    params: dict[str, Any] = {
        "invoice": first.id,
        "lines": [{"type": "invoice_line_item", "invoice_line_item": first.lines.data[0].id, "quantity": 5}],
        "refund_amount": 20000,
        "credit_amount": 27124,
        "reason": "product_unsatisfactory",
    }
    preview = c.v1.credit_notes.preview(params=params)  # type: ignore[arg-type]
    cn = c.v1.credit_notes.create(params=params)  # type: ignore[arg-type]
    assert _same(preview, cn)
    assert (cn.created, cn.effective_at, cn.number) == (JAN10, JAN10, f"{first.number}-CN-01")
    assert (cn.subtotal, cn.discount_amount, cn.total_excluding_tax, cn.total) == (49500, 9900, 39600, 47124)
    assert [(t.taxable_amount, t.amount) for t in cn.total_taxes or []] == [(39600, 7524)]
    assert (cn.pre_payment_amount, cn.post_payment_amount, cn.type) == (0, 47124, "post_payment")
    assert [r.amount_refunded for r in cn.refunds] == [20000]
    line = cn.lines.data[0]
    assert (line.quantity, line.unit_amount, line.amount, line.discount_amount) == (5, 9900, 49500, 9900)
    assert c.v1.customers.retrieve(cus).balance == -27124
    paid = c.v1.invoices.retrieve(first.id)
    assert (paid.status, paid.amount_paid, paid.post_payment_credit_notes_amount) == ("paid", 188496, 47124)

    # Feb 1: the renewal draft takes the balance: $1,884.96 - $271.24 = $1,613.72 due.
    advance(c, clock, FEB1 + 60)
    renewal = c.v1.invoices.list(params={"subscription": sub}).data[0]
    assert (renewal.status, renewal.total, renewal.starting_balance, renewal.amount_due) == (
        "draft",
        188496,
        -27124,
        161372,
    )
    advance(c, clock, FEB1 + 3600 + 60)
    renewal = c.v1.invoices.retrieve(renewal.id)
    assert (renewal.status, renewal.amount_paid, renewal.ending_balance) == ("paid", 161372, 0)
    assert c.v1.customers.retrieve(cus).balance == 0

    # The refunded credit note can no longer be voided; nothing was written by trying.
    before = (tenant.rows(), tenant.audit_rows())
    try:
        c.v1.credit_notes.void_credit_note(cn.id)
    except stripe.InvalidRequestError as err:
        assert err.http_status == 400 and "refund" in str(err.user_message)
    else:
        raise AssertionError("a refunded credit note must not be voidable")
    assert (tenant.rows(), tenant.audit_rows()) == before

    assert _types(c) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "credit_note.created",
        "invoice.updated",
        "customer.updated",
        "invoice.created",
        "customer.updated",  # the renewal uses the balance credit when it is finalized
        "invoice.finalized",
        "invoice.paid",
    ]


def test_credit_note_before_payment_then_the_customer_pays_the_rest(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub = _subscribe(c, "pm_card_chargeDeclined")
    inv = c.v1.invoices.retrieve(str(c.v1.subscriptions.retrieve(sub).latest_invoice))
    assert (inv.status, inv.amount_remaining, inv.attempt_count) == ("open", 188496, 1)

    # A goodwill credit of $100.00 (untaxed custom line) plus two seats (2 × $99.00 - 20% + VAT = $188.50):
    # $288.50 off what is owed, all of it pre-payment.
    advance(c, clock, T0 + 3600)  # (an incomplete subscription expires after 23 hours, voiding its invoice)
    params: dict[str, Any] = {
        "invoice": inv.id,
        "lines": [
            {"type": "invoice_line_item", "invoice_line_item": inv.lines.data[0].id, "quantity": 2},
            {"type": "custom_line_item", "unit_amount": 10000, "description": "Goodwill"},
        ],
    }
    preview = c.v1.credit_notes.preview(params=params)  # type: ignore[arg-type]
    cn = c.v1.credit_notes.create(params=params)  # type: ignore[arg-type]
    assert _same(preview, cn)
    assert [line.amount for line in cn.lines.data] == [19800, 10000]
    assert (cn.total, cn.pre_payment_amount, cn.type) == (28850, 28850, "pre_payment")
    inv = c.v1.invoices.retrieve(inv.id)
    assert (inv.status, inv.total, inv.amount_due, inv.amount_remaining) == ("open", 188496, 159646, 159646)
    assert inv.pre_payment_credit_notes_amount == 28850

    paid = c.v1.invoices.pay(inv.id, params={"payment_method": "pm_card_visa"})
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 159646, 0)
    assert c.v1.customers.retrieve(cus).balance == 0

    # Paid now: the pre-payment credit note can no longer be voided.
    before = (tenant.rows(), tenant.audit_rows())
    try:
        c.v1.credit_notes.void_credit_note(cn.id)
    except stripe.InvalidRequestError as err:
        assert err.http_status == 400 and "while the invoice is open" in str(err.user_message)
    else:
        raise AssertionError("a pre-payment credit note on a paid invoice must not be voidable")
    assert (tenant.rows(), tenant.audit_rows()) == before
    assert _types(c) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "credit_note.created",
        "invoice.updated",
        "invoice.paid",
    ]


def test_credit_note_settling_the_first_invoice_activates_the_incomplete_subscription(tenant: Tenant) -> None:
    c = tenant.client
    clock, _, sub = _subscribe(c, "pm_card_chargeDeclined")
    assert c.v1.subscriptions.retrieve(sub).status == "incomplete"
    inv = c.v1.invoices.retrieve(str(c.v1.subscriptions.retrieve(sub).latest_invoice))
    advance(c, clock, T0 + 3600)

    # All 20 seats credited before payment: nothing is left to pay, so the invoice is paid and the subscription,
    # which only waited for it, becomes active (Stripe: "If a credit note reduces the balance of an open invoice to
    # zero, the invoice is paid").
    line = inv.lines.data[0]
    cn = c.v1.credit_notes.create(
        params={
            "invoice": inv.id,
            "lines": [{"type": "invoice_line_item", "invoice_line_item": line.id, "quantity": 20}],
        }
    )
    assert (cn.total, cn.pre_payment_amount) == (188496, 188496)
    assert c.v1.invoices.retrieve(inv.id).status == "paid"
    assert c.v1.subscriptions.retrieve(sub).status == "active"
