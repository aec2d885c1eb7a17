"""Subscription schedules on test clocks, through the official SDK: a three-year ramp deal, a future start, a phase
change mid-period with prorations, a billing-cycle reset, end_behavior cancel and release, from_subscription, release
and cancel — every invoice asserted to the cent, with the ordered event types.

Stripe's behaviour: https://docs.stripe.com/billing/subscriptions/subscription-schedules and its use-cases page
(https://docs.stripe.com/billing/subscriptions/subscription-schedules/use-cases)."""

from __future__ import annotations

import stripe

from tests.conftest import Tenant
from tests.support.clocks import advance

JAN1 = 1_767_225_600  # 2026-01-01T00:00:00Z
JAN10 = 1_768_003_200
JAN17 = 1_768_608_000  # 16 of January's 31 days used, 15 left
FEB1 = 1_769_904_000
MAR1 = 1_772_323_200
APR1 = 1_775_001_600
Y2 = 1_798_761_600  # 2027-01-01
Y3 = 1_830_297_600  # 2028-01-01
Y4 = 1_861_920_000  # 2029-01-01
JAN17_2027 = 1_800_144_000
HOUR = 3600


def customer_on_clock(c: stripe.StripeClient, t0: int) -> tuple[str, str]:
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": t0})
    cus = c.v1.customers.create(
        params={
            "name": "Northwind Support Ltd",
            "test_clock": clock.id,
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    return clock.id, cus.id


def price(c: stripe.StripeClient, product: str, unit_amount: int, interval: str = "month") -> str:
    return c.v1.prices.create(
        params={
            "product": product,
            "currency": "usd",
            "unit_amount": unit_amount,
            "recurring": {"interval": interval},  # type: ignore[typeddict-item]
        }
    ).id


def invoices(c: stripe.StripeClient, sub_id: str) -> list[stripe.Invoice]:
    """The subscription's invoices, oldest first."""
    return list(reversed(c.v1.invoices.list(params={"subscription": sub_id, "limit": 100}).data))


def billing_events(c: stripe.StripeClient) -> list[str]:
    kinds = ("invoice.", "customer.subscription.", "subscription_schedule.", "invoiceitem.")
    types = [e.type for e in c.v1.events.list(params={"limit": 100}).auto_paging_iter()]
    return [t for t in reversed(types) if t.startswith(kinds)]


def test_three_year_ramp_deal(tenant: Tenant) -> None:
    """A sales-led annual ramp: year 1 20 Advanced seats at $85/month billed annually with 20% off for the year,
    year 2 50 seats at a step-up $90, year 3 60 seats at $95; then the subscription continues on its own."""
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = c.v1.products.create(params={"name": "Advanced seat"}).id
    year1, year2, year3 = (price(c, seat, amount, "year") for amount in (102000, 108000, 114000))
    launch = c.v1.coupons.create(params={"percent_off": 20, "duration": "forever", "name": "Launch year"})

    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "start_date": "now",
            "end_behavior": "release",
            "metadata": {"deal": "OPP-2231"},
            "phases": [
                {"items": [{"price": year1, "quantity": 20}], "discounts": [{"coupon": launch.id}]},
                {"items": [{"price": year2, "quantity": 50}], "duration": {"interval": "year"}},
                {"items": [{"price": year3, "quantity": 60}], "end_date": Y4},
            ],
        }
    )
    assert (sched.status, sched.end_behavior) == ("active", "release")
    assert [(p.start_date, p.end_date) for p in sched.phases] == [(JAN1, Y2), (Y2, Y3), (Y3, Y4)]
    assert sched.current_phase is not None
    assert (sched.current_phase.start_date, sched.current_phase.end_date) == (JAN1, Y2)
    sub = c.v1.subscriptions.retrieve(str(sched.subscription))
    assert (sub.status, sub.schedule, sub["items"].data[0].quantity) == ("active", sched.id, 20)

    # Year 1: 20 × $1,020.00 = $20,400.00, 20% off = -$4,080.00: $16,320.00, paid at signature.
    first = invoices(c, sub.id)[0]
    assert (first.billing_reason, first.subtotal, first.total, first.status) == (
        "subscription_create",
        2040000,
        1632000,
        "paid",
    )
    assert [(line.quantity, line.period.start, line.period.end) for line in first.lines.data] == [
        (20, JAN1, Y2)
    ]

    # Year 2 starts at the renewal: the new phase's items are in place before the renewal invoice is made.
    advance(c, clock, Y2 + 2 * HOUR)
    sched = c.v1.subscription_schedules.retrieve(sched.id)
    assert sched.current_phase is not None and sched.current_phase.start_date == Y2
    sub = c.v1.subscriptions.retrieve(sub.id)
    assert [(i.price.id, i.quantity) for i in sub["items"].data] == [(year2, 50)]
    assert sub.discounts == []
    second = invoices(c, sub.id)[1]
    # 50 × $1,080.00 = $54,000.00, no discount after year one.
    assert (second.billing_reason, second.total, second.status, second.period_start) == (
        "subscription_cycle",
        5400000,
        "paid",
        Y2,
    )
    assert [
        (line.quantity, line.amount, line.period.start, line.period.end) for line in second.lines.data
    ] == [(50, 5400000, Y2, Y3)]

    # Year 3: 60 × $1,140.00 = $68,400.00.
    advance(c, clock, Y3 + 2 * HOUR)
    third = invoices(c, sub.id)[2]
    assert (third.total, third.status, third.lines.data[0].quantity) == (6840000, "paid", 60)

    # The schedule ends and releases the subscription, which renews on its own with year 3's configuration.
    advance(c, clock, Y4 + 2 * HOUR)
    sched = c.v1.subscription_schedules.retrieve(sched.id)
    assert (sched.status, sched.released_at, sched.released_subscription, sched.subscription) == (
        "released",
        Y4,
        sub.id,
        None,
    )
    assert sched.current_phase is None
    sub = c.v1.subscriptions.retrieve(sub.id)
    assert (sub.status, sub.schedule) == ("active", None)
    fourth = invoices(c, sub.id)[3]
    assert (fourth.total, fourth.period_start, fourth.status) == (6840000, Y4, "paid")
    assert len(invoices(c, sub.id)) == 4

    cycle = [
        "invoice.upcoming",  # three days before the renewal
        "customer.subscription.updated",  # the phase's items
        "subscription_schedule.updated",
        "invoice.created",
        "customer.subscription.updated",  # the renewal
        "invoice.finalized",
        "invoice.paid",
    ]
    assert billing_events(c) == [
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.updated",
        "subscription_schedule.created",
        *cycle,
        *cycle,
        "invoice.upcoming",
        "customer.subscription.updated",  # released: schedule -> null
        "subscription_schedule.released",
        "invoice.created",
        "customer.subscription.updated",
        "invoice.finalized",
        "invoice.paid",
    ]
    # A second run over the same time finds nothing to do.
    before = tenant.rows()
    advance(c, clock, Y4 + 3 * HOUR)
    assert tenant.rows() == before + 2  # the clock's own advancing/ready events


MAY1 = 1_777_593_600  # 2026-05-01


def test_future_start_date(tenant: Tenant) -> None:
    """Stripe's use case "Starting a subscription in the future": nothing is billed until the start date."""
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN10)
    plan = price(c, c.v1.products.create(params={"name": "Print edition"}).id, 4900)
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "start_date": FEB1,
            "phases": [{"items": [{"price": plan}], "duration": {"interval": "month", "interval_count": 3}}],
        }
    )
    assert (sched.status, sched.subscription, sched.current_phase) == ("not_started", None, None)
    assert [(p.start_date, p.end_date) for p in sched.phases] == [(FEB1, MAY1)]
    assert sched.phases[0]["items"][0].quantity == 1
    scheduled = c.v1.subscription_schedules.list(params={"customer": cus, "scheduled": True})
    assert [s.id for s in scheduled.data] == [sched.id]
    assert c.v1.subscriptions.list(params={"customer": cus}).data == []

    advance(c, clock, FEB1 + 60)
    sched = c.v1.subscription_schedules.retrieve(sched.id)
    assert sched.status == "active" and sched.current_phase is not None
    sub = c.v1.subscriptions.retrieve(str(sched.subscription))
    assert (sub.start_date, sub.status, sub.schedule, sub.billing_cycle_anchor) == (
        FEB1,
        "active",
        sched.id,
        FEB1,
    )
    first = invoices(c, sub.id)
    assert [(i.total, i.status, i.lines.data[0].period.start, i.lines.data[0].period.end) for i in first] == [
        (4900, "paid", FEB1, MAR1)
    ]
    assert billing_events(c) == [
        "subscription_schedule.created",
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.updated",
        "subscription_schedule.updated",
    ]


def test_phase_change_mid_period_prorates_then_end_behavior_cancel(tenant: Tenant) -> None:
    """10 seats, 15 from Jan 17 (15 of January's 31 days left), until Mar 1; then the subscription is canceled."""
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = price(c, c.v1.products.create(params={"name": "Essential seat"}).id, 1000)
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "end_behavior": "cancel",
            "phases": [
                {"items": [{"price": seat, "quantity": 10}], "end_date": JAN17},
                {"items": [{"price": seat, "quantity": 15}], "end_date": MAR1},
            ],
        }
    )
    sub_id = str(sched.subscription)
    item_id = c.v1.subscriptions.retrieve(sub_id)["items"].data[0].id
    assert invoices(c, sub_id)[0].total == 10000

    advance(c, clock, JAN17 + 60)
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert [(i.id, i.quantity) for i in sub["items"].data] == [(item_id, 15)]  # same price: same item
    assert len(invoices(c, sub_id)) == 1  # create_prorations: collected by the next invoice

    # Credit 10 × $10 × 15/31 = -$48.39 (48.387), charge 15 × $10 × 15/31 = $72.58 (72.581); February 15 × $10.
    advance(c, clock, FEB1 + 2 * HOUR)
    renewal = invoices(c, sub_id)[1]
    assert [line.amount for line in renewal.lines.data] == [-4839, 7258, 15000]
    assert (renewal.total, renewal.status) == (17419, "paid")

    advance(c, clock, MAR1 + 2 * HOUR)
    sched = c.v1.subscription_schedules.retrieve(sched.id)
    assert (sched.status, sched.completed_at, sched.current_phase) == ("completed", MAR1, None)
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert (sub.status, sub.ended_at) == ("canceled", MAR1)
    assert len(invoices(c, sub_id)) == 2  # no March invoice
    events = billing_events(c)
    start = events.index("subscription_schedule.created") + 1
    assert events[start:] == [
        "invoiceitem.created",
        "invoiceitem.created",
        "customer.subscription.updated",
        "subscription_schedule.updated",
        "invoice.upcoming",
        "invoice.created",
        "customer.subscription.updated",
        "invoice.finalized",
        "invoice.paid",
        # (no invoice.upcoming before Mar 1: the schedule ends the subscription then, so no renewal is coming)
        "customer.subscription.deleted",
        "subscription_schedule.completed",
    ]


def test_phase_start_anchor_restarts_the_cycle_on_an_annual_plan(tenant: Tenant) -> None:
    """Monthly until Jan 17, then annual from Jan 17 with billing_cycle_anchor=phase_start: January's unused 15/31 is
    credited and the first year is invoiced at once."""
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    product = c.v1.products.create(params={"name": "Expert seat"}).id
    monthly, annual = price(c, product, 1000), price(c, product, 10000, "year")
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "phases": [
                {"items": [{"price": monthly, "quantity": 10}], "end_date": JAN17},
                {
                    "items": [{"price": annual, "quantity": 10}],
                    "billing_cycle_anchor": "phase_start",
                    "end_date": JAN17_2027,
                },
            ],
        }
    )
    sub_id = str(sched.subscription)
    advance(c, clock, JAN17 + 60)
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert sub.billing_cycle_anchor == JAN17
    item = sub["items"].data[0]
    assert (item.price.id, item.current_period_start, item.current_period_end) == (annual, JAN17, JAN17_2027)
    upgrade = invoices(c, sub_id)[1]
    # -10 × $10 × 15/31 = -$48.39; 10 × $100 = $1,000.00; total $951.61.
    assert sorted(line.amount for line in upgrade.lines.data) == [-4839, 100000]
    assert (upgrade.billing_reason, upgrade.total, upgrade.status) == ("subscription_update", 95161, "paid")
    advance(c, clock, FEB1 + 2 * HOUR)
    assert len(invoices(c, sub_id)) == 2  # no monthly renewal any more


def test_a_declined_phase_start_invoice_goes_to_dunning(tenant: Tenant) -> None:
    """The invoice of a restarted cycle is collected like a renewal: a decline makes the subscription past_due and
    the invoice is retried 3 days later (https://docs.stripe.com/billing/revenue-recovery/smart-retries)."""
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    product = c.v1.products.create(params={"name": "Expert seat"}).id
    monthly, annual = price(c, product, 1000), price(c, product, 10000, "year")
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "phases": [
                {"items": [{"price": monthly, "quantity": 10}], "end_date": JAN17},
                {"items": [{"price": annual, "quantity": 10}], "billing_cycle_anchor": "phase_start"},
            ],
        }
    )
    sub_id = str(sched.subscription)
    advance(c, clock, JAN10)
    c.v1.customers.update(
        cus, params={"invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"}}
    )
    advance(c, clock, JAN17 + 60)
    upgrade = invoices(c, sub_id)[1]
    assert (upgrade.status, upgrade.attempt_count, upgrade.amount_remaining) == ("open", 1, 95161)
    assert upgrade.next_payment_attempt == JAN17 + 3 * 86400
    assert c.v1.subscriptions.retrieve(sub_id).status == "past_due"
    c.v1.customers.update(cus, params={"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    advance(c, clock, JAN17 + 3 * 86400 + HOUR)
    upgrade = c.v1.invoices.retrieve(upgrade.id)
    assert (upgrade.status, upgrade.attempt_count, upgrade.amount_paid) == ("paid", 2, 95161)
    assert c.v1.subscriptions.retrieve(sub_id).status == "active"


def test_from_subscription_then_add_a_phase(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = price(c, c.v1.products.create(params={"name": "Advanced seat"}).id, 1000)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": seat, "quantity": 5}]})
    sched = c.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    assert (sched.status, sched.subscription, sched.end_behavior) == ("active", sub.id, "release")
    assert [(p.start_date, p.end_date) for p in sched.phases] == [(JAN1, FEB1)]
    assert [(i.price, i.quantity) for i in sched.phases[0]["items"]] == [(seat, 5)]
    assert c.v1.subscriptions.retrieve(sub.id).schedule == sched.id

    sched = c.v1.subscription_schedules.update(
        sched.id,
        params={
            "phases": [
                {"items": [{"price": seat, "quantity": 5}], "start_date": JAN1, "end_date": FEB1},
                {"items": [{"price": seat, "quantity": 8}], "duration": {"interval": "month"}},
            ]
        },
    )
    assert [(p.start_date, p.end_date) for p in sched.phases] == [(JAN1, FEB1), (FEB1, MAR1)]
    advance(c, clock, FEB1 + 2 * HOUR)
    assert [(i.total, i.lines.data[0].quantity) for i in invoices(c, sub.id)] == [(5000, 5), (8000, 8)]
    advance(c, clock, MAR1 + 2 * HOUR)
    sched = c.v1.subscription_schedules.retrieve(sched.id)
    assert (sched.status, sched.released_subscription) == ("released", sub.id)
    assert [(i.total, i.lines.data[0].period.start) for i in invoices(c, sub.id)][2] == (8000, MAR1)


def test_release_stops_the_phases_and_the_subscription_continues(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = price(c, c.v1.products.create(params={"name": "Advanced seat"}).id, 1000)
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "phases": [
                {"items": [{"price": seat, "quantity": 5}], "end_date": FEB1},
                {"items": [{"price": seat, "quantity": 9}], "end_date": APR1},
            ],
        }
    )
    sub_id = str(sched.subscription)
    advance(c, clock, JAN10)
    released = c.v1.subscription_schedules.release(sched.id)
    assert (released.status, released.released_at, released.released_subscription) == (
        "released",
        JAN10,
        sub_id,
    )
    assert (released.subscription, released.current_phase) == (None, None)
    assert c.v1.subscriptions.retrieve(sub_id).schedule is None
    advance(c, clock, FEB1 + 2 * HOUR)
    assert [(i.total, i.lines.data[0].quantity) for i in invoices(c, sub_id)] == [(5000, 5), (5000, 5)]
    events = billing_events(c)
    assert events[events.index("subscription_schedule.created") + 1 :] == [
        "customer.subscription.updated",  # schedule -> null
        "subscription_schedule.released",
        "invoice.upcoming",
        "invoice.created",
        "customer.subscription.updated",
        "invoice.finalized",
        "invoice.paid",
    ]


def test_cancel_ends_the_schedule_and_its_subscription(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = price(c, c.v1.products.create(params={"name": "Advanced seat"}).id, 1000)
    sched = c.v1.subscription_schedules.create(
        params={"customer": cus, "phases": [{"items": [{"price": seat, "quantity": 3}], "end_date": MAR1}]}
    )
    later = c.v1.subscription_schedules.create(
        params={"customer": cus, "start_date": MAR1, "phases": [{"items": [{"price": seat}]}]}
    )
    advance(c, clock, JAN10)
    canceled = c.v1.subscription_schedules.cancel(sched.id)
    assert (canceled.status, canceled.canceled_at, canceled.current_phase) == ("canceled", JAN10, None)
    sub = c.v1.subscriptions.retrieve(str(sched.subscription))
    assert (sub.status, sub.ended_at) == ("canceled", JAN10)
    assert billing_events(c)[-2:] == ["customer.subscription.deleted", "subscription_schedule.canceled"]
    not_started = c.v1.subscription_schedules.cancel(later.id)
    assert (not_started.status, not_started.subscription) == ("canceled", None)
    # Stripe's defaults for a schedule's cancel, prorate=true and invoice_now=true: the unused 22 of January's 31 days
    # of 3 × $10.00 are credited on a final invoice at once (-$21.29), which goes to the customer balance.
    _, final = invoices(c, sub.id)
    assert (final.total, final.status, final.period_end) == (-2129, "paid", FEB1)
    assert c.v1.customers.retrieve(cus).balance == -2129
    advance(c, clock, MAR1 + 2 * HOUR)
    assert len(invoices(c, sub.id)) == 2
    assert c.v1.subscriptions.list(params={"customer": cus}).data == []


def test_cancel_without_invoice_now_or_prorate_leaves_no_final_invoice(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = price(c, c.v1.products.create(params={"name": "Advanced seat"}).id, 1000)
    sched = c.v1.subscription_schedules.create(
        params={"customer": cus, "phases": [{"items": [{"price": seat, "quantity": 3}], "end_date": MAR1}]}
    )
    advance(c, clock, JAN10)
    c.v1.subscription_schedules.cancel(sched.id, params={"invoice_now": False, "prorate": False})
    sub = c.v1.subscriptions.retrieve(str(sched.subscription))
    assert sub.status == "canceled"
    assert len(invoices(c, sub.id)) == 1
    assert c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data == []


def test_update_the_current_phase_prorates_per_request(tenant: Tenant) -> None:
    """Changing the current phase's quantity (10 -> 12 on Jan 17) with proration_behavior=always_invoice invoices at
    once: credit 10 × $10 × 15/31 = -$48.39, charge 12 × $10 × 15/31 = $58.06 (each line rounded), $9.67."""
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = price(c, c.v1.products.create(params={"name": "Advanced seat"}).id, 1000)
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "phases": [
                {"items": [{"price": seat, "quantity": 10}], "end_date": FEB1},
                {"items": [{"price": seat, "quantity": 20}], "end_date": MAR1},
            ],
        }
    )
    advance(c, clock, JAN17)
    sched = c.v1.subscription_schedules.update(
        sched.id,
        params={
            "proration_behavior": "always_invoice",
            "phases": [
                {"items": [{"price": seat, "quantity": 12}], "start_date": JAN1, "end_date": FEB1},
                {"items": [{"price": seat, "quantity": 20}], "end_date": MAR1},
            ],
        },
    )
    assert [p["items"][0].quantity for p in sched.phases] == [12, 20]
    sub_id = str(sched.subscription)
    now_invoice = invoices(c, sub_id)[1]
    assert sorted(line.amount for line in now_invoice.lines.data) == [-4839, 5806]
    assert (now_invoice.billing_reason, now_invoice.total, now_invoice.status) == (
        "subscription_update",
        967,
        "paid",
    )
    advance(c, clock, FEB1 + 2 * HOUR)
    assert invoices(c, sub_id)[2].total == 20000


JAN15 = JAN1 + 14 * 86_400
FEB15 = JAN15 + 31 * 86_400


def test_trial_phase_then_paid_phase_with_its_own_tax(tenant: Tenant) -> None:
    """A 14-day trial phase (`trial: true`), then 5 seats with VAT 19% as the phase's default tax rate."""
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = price(c, c.v1.products.create(params={"name": "Advanced seat"}).id, 9900)
    vat = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 19, "inclusive": False}).id
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "phases": [
                {"items": [{"price": seat, "quantity": 5}], "trial": True, "end_date": JAN15},
                {
                    "items": [{"price": seat, "quantity": 5, "metadata": {"tier": "advanced"}}],
                    "default_tax_rates": [vat],
                    "metadata": {"contract": "C-9"},
                },
            ],
        }
    )
    assert (sched.phases[0].trial, sched.phases[0].trial_end) == (True, JAN15)
    assert sched.phases[1].end_date == FEB15  # one billing interval by default
    sub = c.v1.subscriptions.retrieve(str(sched.subscription))
    assert (sub.status, sub.trial_end, sub.billing_cycle_anchor) == ("trialing", JAN15, JAN15)
    assert invoices(c, sub.id)[0].total == 0

    advance(c, clock, JAN15 + 2 * HOUR)
    sub = c.v1.subscriptions.retrieve(sub.id)
    assert (sub.status, sub.metadata.to_dict()) == ("active", {"contract": "C-9"})
    assert [t.id for t in sub.default_tax_rates or []] == [vat]
    assert sub["items"].data[0].metadata.to_dict() == {"tier": "advanced"}
    first_paid = invoices(c, sub.id)[1]
    # 5 × $99.00 = $495.00, VAT 19% = $94.05: $589.05.
    assert (first_paid.subtotal, first_paid.total_taxes[0].amount, first_paid.total) == (49500, 9405, 58905)
    assert (first_paid.period_start, first_paid.status) == (JAN15, "paid")


def test_a_subscription_canceled_directly_ends_its_schedule(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus = customer_on_clock(c, JAN1)
    seat = price(c, c.v1.products.create(params={"name": "Advanced seat"}).id, 1000)
    sched = c.v1.subscription_schedules.create(
        params={
            "customer": cus,
            "phases": [
                {"items": [{"price": seat, "quantity": 2}], "end_date": FEB1},
                {"items": [{"price": seat, "quantity": 4}], "end_date": MAR1},
            ],
        }
    )
    c.v1.subscriptions.cancel(str(sched.subscription))
    advance(c, clock, FEB1 + HOUR)
    sched = c.v1.subscription_schedules.retrieve(sched.id)
    # Noticed at the next phase boundary; dated when the subscription ended.
    assert (sched.status, sched.canceled_at, sched.current_phase) == ("canceled", JAN1, None)
    assert billing_events(c)[-1] == "subscription_schedule.canceled"


def test_a_not_started_schedule_updated_to_start_now(tenant: Tenant) -> None:
    c = tenant.client
    _, cus = customer_on_clock(c, JAN1)
    seat = price(c, c.v1.products.create(params={"name": "Advanced seat"}).id, 1000)
    sched = c.v1.subscription_schedules.create(
        params={"customer": cus, "start_date": FEB1, "phases": [{"items": [{"price": seat}]}]}
    )
    started = c.v1.subscription_schedules.update(
        sched.id, params={"phases": [{"items": [{"price": seat, "quantity": 2}], "start_date": "now"}]}
    )
    assert (started.status, started.phases[0].start_date, started.phases[0].end_date) == (
        "active",
        JAN1,
        FEB1,
    )
    assert invoices(c, str(started.subscription))[0].total == 2000


def test_the_subscription_names_its_schedule_from_creation(tenant: Tenant) -> None:
    c = tenant.client
    _, cus = customer_on_clock(c, JAN1)
    seat = price(c, c.v1.products.create(params={"name": "Advanced seat"}).id, 1000)
    sched = c.v1.subscription_schedules.create(
        params={"customer": cus, "phases": [{"items": [{"price": seat, "quantity": 3}], "end_date": MAR1}]}
    )
    created = next(
        e
        for e in c.v1.events.list(
            params={"limit": 100, "type": "customer.subscription.created"}
        ).auto_paging_iter()
        if e.data.object["id"] == sched.subscription
    )
    # One creation event already carrying the schedule; no second update just to set it.
    assert created.data.object["schedule"] == sched.id
