"""Usage-based billing on a test clock, through the official SDK: the reference customer's monthly invoice with
seats in advance and outcome-based AI resolutions plus graduated messages in arrears, each amount to the cent.

Stripe's rules (https://docs.stripe.com/billing/subscriptions/usage-based, .../usage-based/meters/configure,
.../usage-based/configure-grace-period, .../usage-based/manage-billing-setup, https://docs.stripe.com/api/
subscriptions/cancel): a meter aggregates the meter events of a customer (``sum``, ``count``, ``last``); a metered
price bills the aggregate of the period that just ended on the renewal invoice, next to the licensed items of the
new period; usage reported during the draft window (one hour) for that period is included when the invoice
finalizes; a canceled event does not count; usage during a trial is not billed; ``cancel_at_period_end`` bills the
last period's usage on a final invoice; ``invoice_now`` bills usage to date; removing a metered price mid-period
bills its usage so far (flexible billing mode), and ``proration_behavior=none`` does not.
"""

from __future__ import annotations

from typing import Any

import stripe

from tests.conftest import Tenant
from tests.support.clocks import advance

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86400
FEB1 = 1_769_904_000  # 2026-02-01T00:00:00Z
MAR1 = 1_772_323_200  # 2026-03-01T00:00:00Z


class Shop:
    """The reference customer's catalog: Advanced seats, AI resolutions ($0.99 each, outcome-based) and proactive
    messages ($99 flat for the first 500, then $0.10 each to 5,000, $0.05 beyond)."""

    def __init__(self, c: stripe.StripeClient) -> None:
        self.c = c
        seats = c.v1.products.create(params={"name": "Advanced seat"})
        self.seats = c.v1.prices.create(
            params={
                "product": seats.id,
                "currency": "usd",
                "unit_amount": 9900,
                "recurring": {"interval": "month"},
            }
        ).id
        self.resolutions = c.v1.billing.meters.create(
            params={
                "display_name": "AI resolutions",
                "event_name": "ai_resolution",
                "default_aggregation": {"formula": "sum"},
            }
        )
        ai = c.v1.products.create(params={"name": "AI agent resolutions"})
        self.ai = c.v1.prices.create(
            params={
                "product": ai.id,
                "currency": "usd",
                "unit_amount": 99,
                "recurring": {"interval": "month", "usage_type": "metered", "meter": self.resolutions.id},
            }
        ).id
        self.messages = c.v1.billing.meters.create(
            params={
                "display_name": "Proactive messages",
                "event_name": "proactive_message",
                "default_aggregation": {"formula": "sum"},
                "value_settings": {"event_payload_key": "messages"},
            }
        )
        msg = c.v1.products.create(params={"name": "Proactive messages"})
        self.msg = c.v1.prices.create(
            params={
                "product": msg.id,
                "currency": "usd",
                "billing_scheme": "tiered",
                "tiers_mode": "graduated",
                "tiers": [
                    {"up_to": 500, "flat_amount": 9900, "unit_amount": 0},
                    {"up_to": 5000, "unit_amount": 10},
                    {"up_to": "inf", "unit_amount": 5},
                ],
                "recurring": {"interval": "month", "usage_type": "metered", "meter": self.messages.id},
            }
        ).id

    def customer(self, payment_method: str = "pm_card_visa", at: int = T0) -> tuple[str, str]:
        clock = self.c.v1.test_helpers.test_clocks.create(params={"frozen_time": at})
        cus = self.c.v1.customers.create(
            params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": payment_method}}
        )
        return clock.id, cus.id

    def resolved(self, cus: str, at: int, identifier: str, value: int = 1) -> None:
        self.c.v1.billing.meter_events.create(
            params={
                "event_name": "ai_resolution",
                "payload": {"stripe_customer_id": cus, "value": str(value)},
                "timestamp": at,
                "identifier": identifier,
            }
        )

    def sent(self, cus: str, at: int, identifier: str, messages: int) -> None:
        self.c.v1.billing.meter_events.create(
            params={
                "event_name": "proactive_message",
                "payload": {"stripe_customer_id": cus, "messages": str(messages)},
                "timestamp": at,
                "identifier": identifier,
            }
        )

    def reverse(self, identifier: str) -> None:
        self.c.v1.billing.meter_event_adjustments.create(
            params={"event_name": "ai_resolution", "type": "cancel", "cancel": {"identifier": identifier}}
        )


def _metered(
    c: stripe.StripeClient, name: str, event_name: str, formula: str, unit_amount: int
) -> tuple[Any, str]:
    """A meter with ``formula`` and a monthly metered price of ``unit_amount`` per unit on it."""
    meter = c.v1.billing.meters.create(
        params={"display_name": name, "event_name": event_name, "default_aggregation": {"formula": formula}}
    )
    product = c.v1.products.create(params={"name": name})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": unit_amount,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    return meter, price.id


def _lines(invoice: Any) -> list[tuple[str, int, int, int, int]]:
    """(description, quantity, amount, period start, period end) of each line, in order."""
    return [
        (line.description, line.quantity, line.amount, line.period.start, line.period.end)
        for line in invoice.lines.data
    ]


def _invoices(c: stripe.StripeClient, sub: str) -> list[Any]:
    return list(reversed(c.v1.invoices.list(params={"subscription": sub, "limit": 100}).data))


def _types(c: stripe.StripeClient, prefix: str = "invoice.") -> list[str]:
    events = reversed(list(c.v1.events.list(params={"limit": 100}).auto_paging_iter()))
    return [e.type for e in events if e.type.startswith(prefix) and e.type != "invoice.upcoming"]


def _comparable(invoice: Any) -> Any:
    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in ("id", "url", "invoice")}
        return [strip(x) for x in v] if isinstance(v, list) else v

    doc = invoice.to_dict()
    return strip(
        {k: doc[k] for k in ("lines", "subtotal", "total", "amount_due", "period_start", "period_end")}
    )


def test_seats_in_advance_and_usage_in_arrears_on_one_invoice(tenant: Tenant) -> None:
    c = tenant.client
    shop = Shop(c)
    clock, cus = shop.customer()
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": shop.seats, "quantity": 20}, {"price": shop.ai}, {"price": shop.msg}],
        }
    )
    # Jan 1: the seats in advance; no usage yet, so the metered prices add nothing.
    first = _invoices(c, sub.id)
    assert [(i.status, i.total) for i in first] == [("paid", 198000)]
    assert _lines(first[0]) == [("Advanced seat", 20, 198000, T0, FEB1)]

    # January: 40 resolutions, 3 of them reopened within a day (reversed), 6,200 messages in three reports.
    advance(c, clock, T0 + 20 * DAY)
    for n in range(40):
        shop.resolved(cus, T0 + n * 3600, f"res-{n}")
    for n in (3, 17, 29):
        shop.reverse(f"res-{n}")
    shop.sent(cus, T0 + 2 * DAY, "msg-a", 2000)
    shop.sent(cus, T0 + 9 * DAY, "msg-b", 3000)
    shop.sent(cus, T0 + 19 * DAY, "msg-c", 1200)
    # A retried report (same identifier) is refused and counted once.
    try:
        shop.resolved(cus, T0 + 5 * 3600, "res-5")
        raise AssertionError("a duplicate identifier was accepted")
    except stripe.InvalidRequestError as e:
        assert e.http_status == 400

    preview = c.v1.invoices.create_preview(params={"subscription": sub.id})
    # 37 × $0.99 = $36.63; messages: $99.00 flat for 500 + 4,500 × $0.10 + 1,200 × $0.05 = $609.00.
    assert _lines(preview) == [
        ("Advanced seat", 20, 198000, FEB1, MAR1),
        ("AI agent resolutions", 37, 3663, T0, FEB1),
        ("Proactive messages", 6200, 60900, T0, FEB1),
    ]
    assert preview.total == 198000 + 3663 + 60900

    # Feb 1: the renewal draft equals the preview; 30 minutes later (inside the draft window) one more January
    # resolution arrives and is billed when the draft finalizes an hour after the renewal.
    advance(c, clock, FEB1 + 1800)
    [_, renewal] = _invoices(c, sub.id)
    assert renewal.status == "draft"
    assert _comparable(renewal) == _comparable(preview)
    shop.resolved(cus, FEB1 - 60, "res-late")
    advance(c, clock, FEB1 + 2 * 3600)
    renewal = c.v1.invoices.retrieve(renewal.id)
    assert (renewal.status, renewal.amount_paid) == ("paid", 198000 + 3762 + 60900)
    assert _lines(renewal)[1] == ("AI agent resolutions", 38, 3762, T0, FEB1)
    usage = renewal.lines.data[1]
    assert usage.pricing.price_details.price == shop.ai
    assert usage.lineage.usage_type == "metered"
    assert shop.resolutions.id in usage.lineage.quantity_source
    assert "billed in arrears" in usage.explanation
    messages = renewal.lines.data[2].lineage
    assert [(t.quantity, t.amount_decimal) for t in messages.tiers] == [
        (500, "9900"),
        (4500, "45000"),
        (1200, "6000"),
    ]
    assert _types(c) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.created",
        "invoice.updated",  # the late resolution, counted at finalization
        "invoice.finalized",
        "invoice.paid",
    ]

    # A January event reported after that invoice was finalized is not billed again (nor in February).
    shop.resolved(cus, FEB1 - 30, "res-too-late")
    # February: 10 resolutions, then the subscription is set to end with the period: a final invoice bills them.
    for n in range(10):
        shop.resolved(cus, FEB1 + 2 * 3600 + n, f"feb-{n}")
    c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    advance(c, clock, MAR1 + 2 * 3600)
    invoices = _invoices(c, sub.id)
    final = invoices[-1]
    # 10 × $0.99, and February's $99.00 flat fee of the messages add-on (its first tier: no messages sent).
    assert (final.status, final.total, final.billing_reason) == ("paid", 990 + 9900, "subscription_cycle")
    assert _lines(final) == [
        ("AI agent resolutions", 10, 990, FEB1, MAR1),
        ("Proactive messages", 0, 9900, FEB1, MAR1),
    ]
    assert c.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert len(invoices) == 3


def test_usage_during_a_trial_is_not_billed(tenant: Tenant) -> None:
    c = tenant.client
    shop = Shop(c)
    clock, cus = shop.customer()
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": shop.ai}], "trial_end": T0 + 14 * DAY}
    )
    advance(c, clock, T0 + 10 * DAY)
    shop.resolved(cus, T0 + 5 * DAY, "trial-1", value=25)
    advance(c, clock, T0 + 21 * DAY)
    shop.resolved(cus, T0 + 20 * DAY, "paid-1", value=7)
    advance(c, clock, T0 + 14 * DAY + 31 * DAY + 2 * 3600)
    totals = [(i.billing_reason, i.total) for i in _invoices(c, sub.id)]
    # The trial's $0 invoice, the $0 invoice at the trial's end (no usage billed for the trial), then the first
    # paid month's 7 resolutions.
    assert totals == [("subscription_create", 0), ("subscription_cycle", 0), ("subscription_cycle", 693)]


def test_cancel_now_with_invoice_now_bills_usage_to_date(tenant: Tenant) -> None:
    """The final invoice bills the usage to date, including usage reported in the very second of the cancellation:
    it was the subscription's, and the final invoice is the only one that can bill it, so it counts through the
    second the subscription ends (found by the stateful property in tests/properties/test_billing_state_machine.py)."""
    c = tenant.client
    shop = Shop(c)
    clock, cus = shop.customer()
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": shop.ai}]})
    advance(c, clock, T0 + 10 * DAY)
    shop.resolved(cus, T0 + 3 * DAY, "a", value=12)
    shop.resolved(cus, T0 + 10 * DAY, "b", value=3)  # the clock's time, the second of the cancellation
    canceled = c.v1.subscriptions.cancel(sub.id, params={"invoice_now": True})
    assert canceled.status == "canceled"
    final = c.v1.invoices.retrieve(str(canceled.latest_invoice))
    assert (final.status, final.total) == ("paid", 15 * 99)
    assert _lines(final) == [("AI agent resolutions", 15, 15 * 99, T0, T0 + 10 * DAY)]


def _seats_and_resolutions(shop: Shop) -> tuple[str, str, Any, str]:
    """A customer on a clock at T0 subscribed to 2 seats and to AI resolutions: (clock, customer, subscription,
    the resolutions' subscription item)."""
    clock, cus = shop.customer()
    sub = shop.c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": shop.seats, "quantity": 2}, {"price": shop.ai}]}
    )
    return clock, cus, sub, next(i.id for i in sub["items"].data if i.price.id == shop.ai)


def test_usage_reported_in_the_second_a_metered_item_is_removed_is_billed(tenant: Tenant) -> None:
    c = tenant.client
    shop = Shop(c)
    clock, cus, _, ai_item = _seats_and_resolutions(shop)
    advance(c, clock, T0 + 16 * DAY)
    shop.resolved(cus, T0 + 16 * DAY, "now", value=4)
    c.v1.subscription_items.delete(ai_item)
    [pending] = c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data
    assert (pending.amount, pending.quantity) == (4 * 99, 4)
    assert (pending.period.start, pending.period.end) == (T0, T0 + 16 * DAY)


def test_cancel_now_without_invoice_now_discards_usage(tenant: Tenant) -> None:
    c = tenant.client
    shop = Shop(c)
    clock, cus = shop.customer()
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": shop.ai}]})
    advance(c, clock, T0 + 10 * DAY)
    shop.resolved(cus, T0 + 3 * DAY, "a", value=12)
    c.v1.subscriptions.cancel(sub.id)
    advance(c, clock, FEB1 + 2 * 3600)
    assert [i.total for i in _invoices(c, sub.id)] == [0]


def test_removing_a_metered_price_mid_period_bills_its_usage_so_far(tenant: Tenant) -> None:
    c = tenant.client
    shop = Shop(c)
    clock, cus, sub, ai_item = _seats_and_resolutions(shop)
    advance(c, clock, T0 + 16 * DAY)
    shop.resolved(cus, T0 + DAY, "a", value=100)
    c.v1.subscriptions.update(sub.id, params={"items": [{"id": ai_item, "deleted": True}]})
    advance(c, clock, T0 + 18 * DAY)
    shop.resolved(cus, T0 + 17 * DAY, "after-removal", value=50)  # no item bills it any more
    [pending] = c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data
    assert (pending.amount, pending.quantity, pending.period.start) == (9900, 100, T0)
    advance(c, clock, FEB1 + 2 * 3600)
    renewal = _invoices(c, sub.id)[-1]
    assert renewal.total == 2 * 9900 + 9900
    assert [line.amount for line in renewal.lines.data] == [9900, 19800]


def test_a_metered_price_change_with_proration_none_starts_counting_afresh(tenant: Tenant) -> None:
    c = tenant.client
    shop = Shop(c)
    clock, cus = shop.customer()
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": shop.ai}]})
    item = sub["items"].data[0].id
    cheaper = c.v1.prices.create(
        params={
            "product": c.v1.prices.retrieve(shop.ai).product,
            "currency": "usd",
            "unit_amount": 50,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": shop.resolutions.id},
        }
    )
    advance(c, clock, T0 + 10 * DAY)
    shop.resolved(cus, T0 + DAY, "before", value=100)
    c.v1.subscriptions.update(
        sub.id, params={"items": [{"id": item, "price": cheaper.id}], "proration_behavior": "none"}
    )
    advance(c, clock, T0 + 12 * DAY)
    shop.resolved(cus, T0 + 11 * DAY, "after", value=20)
    assert c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data == []
    advance(c, clock, FEB1 + 2 * 3600)
    renewal = _invoices(c, sub.id)[-1]
    # Only the 20 resolutions since the change, at $0.50.
    assert _lines(renewal) == [("AI agent resolutions", 20, 1000, T0 + 10 * DAY, FEB1)]


def test_a_billing_cycle_reset_bills_usage_so_far_on_its_invoice(tenant: Tenant) -> None:
    c = tenant.client
    shop = Shop(c)
    clock, cus = shop.customer()
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": shop.seats, "quantity": 1}, {"price": shop.ai}]}
    )
    jan16 = T0 + 15 * DAY
    advance(c, clock, jan16)
    shop.resolved(cus, T0 + 2 * DAY, "before-reset", value=40)
    updated = c.v1.subscriptions.update(sub.id, params={"billing_cycle_anchor": "now"})
    reset = c.v1.invoices.retrieve(str(updated.latest_invoice))
    amounts = sorted(line.amount for line in reset.lines.data)
    # -$99.00 × 16/31 unused (-$51.10), the 40 resolutions so far ($39.60), the new month in advance ($99.00).
    assert amounts == [-5110, 3960, 9900]
    usage = next(line for line in reset.lines.data if line.amount == 3960)
    assert (usage.quantity, usage.period.start) == (40, T0)
    # The next renewal bills only what came after the reset.
    advance(c, clock, jan16 + 2 * DAY)
    shop.resolved(cus, jan16 + DAY, "after-reset", value=5)
    advance(c, clock, jan16 + 31 * DAY + 2 * 3600)
    renewal = _invoices(c, sub.id)[-1]
    assert [(line.quantity, line.amount) for line in renewal.lines.data if line.amount != 9900] == [(5, 495)]


def test_a_schedule_phase_that_restarts_the_cycle_bills_usage_so_far(tenant: Tenant) -> None:
    """A phase with ``billing_cycle_anchor=phase_start`` mid-period restarts the cycle like
    ``billing_cycle_anchor=now``: the old cycle's usage is billed on the phase's invoice, not lost."""
    c = tenant.client
    shop = Shop(c)
    clock, cus = shop.customer()
    jan16 = T0 + 15 * DAY
    schedule = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "start_date": T0,
            "end_behavior": "release",
            "phases": [
                {"items": [{"price": shop.seats, "quantity": 1}, {"price": shop.ai}], "end_date": jan16},
                {
                    "items": [{"price": shop.seats, "quantity": 2}, {"price": shop.ai}],
                    "billing_cycle_anchor": "phase_start",
                    "duration": {"interval": "month", "interval_count": 2},
                },
            ],
        }
    )
    sub = str(schedule.subscription)
    advance(c, clock, T0 + 3 * DAY)
    shop.resolved(cus, T0 + 2 * DAY, "before-phase", value=40)
    advance(c, clock, jan16)
    reset = _invoices(c, sub)[-1]
    assert reset.billing_reason == "subscription_update"
    # -$99.00 × 16/31 unused (-$51.10), the 40 resolutions of the old cycle ($39.60), two seats for the new
    # month ($198.00).
    assert sorted(line.amount for line in reset.lines.data) == [-5110, 3960, 19800]
    usage = next(line for line in reset.lines.data if line.amount == 3960)
    assert (usage.quantity, usage.period.start, usage.period.end) == (40, T0, jan16 - 1)
    assert reset.status == "paid" and reset.amount_paid == 19800 + 3960 - 5110
    # The next renewal bills only the usage after the phase started.
    advance(c, clock, jan16 + 2 * DAY)
    shop.resolved(cus, jan16 + DAY, "after-phase", value=5)
    advance(c, clock, jan16 + 31 * DAY + 2 * 3600)
    renewal = _invoices(c, sub)[-1]
    assert renewal.billing_reason == "subscription_cycle"
    assert sorted((line.quantity, line.amount) for line in renewal.lines.data) == [(2, 19800), (5, 495)]


def test_usage_reversed_after_its_invoice_was_finalized_is_credited_on_the_next(tenant: Tenant) -> None:
    """The reference customer's outcome reversal: a resolution reopened within 24 hours must not be billed — or, if
    its period was already invoiced, is credited on the next invoice (a Billfold extension; Stripe bills it)."""
    c = tenant.client
    shop = Shop(c)
    clock, cus = shop.customer()
    sub = c.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": shop.ai}, {"price": shop.msg}]}
    )
    jan31 = FEB1 - 2 * 3600
    advance(c, clock, jan31)
    shop.resolved(cus, T0 + DAY, "bulk", value=9)
    shop.resolved(cus, jan31, "late-night")
    shop.sent(cus, T0 + DAY, "m-1", 5000)
    shop.sent(cus, jan31, "m-2", 1200)
    advance(c, clock, FEB1 + 2 * 3600)
    february = _invoices(c, sub.id)[-1]
    # 10 × $0.99 = $9.90; messages $99.00 + 4,500 × $0.10 + 1,200 × $0.05 = $609.00.
    assert (february.status, february.total) == ("paid", 990 + 60900)

    # Four hours after it was reported (within Stripe's 24 hours), the late-night resolution is reopened, and the
    # last message batch turns out to be a duplicate send.
    adjustment = c.v1.billing.meter_event_adjustments.create(
        params={"event_name": "ai_resolution", "type": "cancel", "cancel": {"identifier": "late-night"}}
    )
    [credit_id] = adjustment["billfold_credits"]
    credit = c.v1.invoice_items.retrieve(credit_id)
    assert (credit.amount, credit.quantity, credit.invoice) == (-99, 1, None)
    assert february.number in str(credit.description)
    c.v1.billing.meter_event_adjustments.create(
        params={"event_name": "proactive_message", "type": "cancel", "cancel": {"identifier": "m-2"}}
    )
    pending = c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data
    # The 1,200 messages were the top of the graduated price: 1,200 × $0.05 = $60.00 back.
    assert sorted(ii.amount for ii in pending) == [-6000, -99]

    # March 1: February had no usage (the messages' $99.00 flat fee still applies); the credits are collected.
    advance(c, clock, MAR1 + 2 * 3600)
    march = _invoices(c, sub.id)[-1]
    assert sorted(line.amount for line in march.lines.data) == [-6000, -99, 0, 9900]
    assert march.total == 9900 - 6000 - 99
    assert c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data == []


def test_a_reversal_credits_what_was_paid_after_discounts_on_a_count_meter(tenant: Tenant) -> None:
    c = tenant.client
    _, price = _metered(c, "Human handoffs", "handoff", "count", 99)
    coupon = c.v1.coupons.create(params={"percent_off": 50, "duration": "forever"})
    clock_id = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0}).id
    cus_id = c.v1.customers.create(
        params={"test_clock": clock_id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    ).id
    sub = c.v1.subscriptions.create(
        params={"customer": cus_id, "items": [{"price": price}], "discounts": [{"coupon": coupon.id}]}
    )
    advance(c, clock_id, FEB1 - 3600)
    for n in range(10):
        c.v1.billing.meter_events.create(
            params={
                "event_name": "handoff",
                "payload": {"stripe_customer_id": cus_id},
                "timestamp": FEB1 - 3600 - n,
                "identifier": f"h-{n}",
            }
        )
    advance(c, clock_id, FEB1 + 2 * 3600)
    february = _invoices(c, sub.id)[-1]
    assert (february.status, february.total) == ("paid", 495)  # 10 × $0.99, 50% off
    adjustment = c.v1.billing.meter_event_adjustments.create(
        params={"event_name": "handoff", "type": "cancel", "cancel": {"identifier": "h-3"}}
    )
    credit = c.v1.invoice_items.retrieve(adjustment["billfold_credits"][0])
    # One handoff of the ten: $0.99 less its 50% = $0.495, rounded half away from zero: $0.50 back.
    assert (credit.amount, credit.quantity, credit.discountable) == (-50, 1, False)


def test_a_reversal_on_a_last_meter_credits_the_drop_to_the_value_before(tenant: Tenant) -> None:
    """A ``last`` meter bills the last value reported in the period. Canceling that event after the invoice was
    finalized leaves the value reported before it: the credit is the price of the difference."""
    c = tenant.client
    _, price = _metered(c, "Connected inboxes", "inboxes", "last", 500)
    clock_id = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0}).id
    cus_id = c.v1.customers.create(
        params={"test_clock": clock_id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    ).id
    sub = c.v1.subscriptions.create(params={"customer": cus_id, "items": [{"price": price}]})
    advance(c, clock_id, FEB1 - 3600)

    def report(identifier: str, value: int, at: int) -> None:
        c.v1.billing.meter_events.create(
            params={
                "event_name": "inboxes",
                "payload": {"stripe_customer_id": cus_id, "value": str(value)},
                "timestamp": at,
                "identifier": identifier,
            }
        )

    report("jan-10", 12, T0 + 9 * DAY)
    report("jan-20", 4, T0 + 19 * DAY)
    report("jan-30", 7, T0 + 29 * DAY)
    advance(c, clock_id, FEB1 + 2 * 3600)
    february = _invoices(c, sub.id)[-1]
    assert (february.status, february.total) == ("paid", 3500)  # the last value, 7 × $5.00

    # Canceling an event that was not the last one changes nothing that was billed.
    earlier = c.v1.billing.meter_event_adjustments.create(
        params={"event_name": "inboxes", "type": "cancel", "cancel": {"identifier": "jan-10"}}
    )
    assert earlier["billfold_credits"] == []
    # Canceling the last one: the value before it was 4, so 3 inboxes × $5.00 come back.
    last = c.v1.billing.meter_event_adjustments.create(
        params={"event_name": "inboxes", "type": "cancel", "cancel": {"identifier": "jan-30"}}
    )
    [credit_id] = last["billfold_credits"]
    credit = c.v1.invoice_items.retrieve(credit_id)
    assert (credit.amount, credit.quantity) == (-1500, 3)
    assert credit["billfold_reversal"]["invoice"] == february.id
    # Canceling the value before it too: down to nothing left in the period, 4 more × $5.00.
    again = c.v1.billing.meter_event_adjustments.create(
        params={"event_name": "inboxes", "type": "cancel", "cancel": {"identifier": "jan-20"}}
    )
    assert [c.v1.invoice_items.retrieve(i).amount for i in again["billfold_credits"]] == [-2000]
    # The next invoice collects both credits, next to February's usage line (nothing reported: $0.00).
    advance(c, clock_id, MAR1 + 2 * 3600)
    march = _invoices(c, sub.id)[-1]
    assert sorted(line.amount for line in march.lines.data) == [-2000, -1500, 0]
    assert march.total == -3500 and march.ending_balance == -3500
