"""Trials and pauses on test clocks, through the official SDK.

- A trial's end without a payment method follows ``trial_settings.end_behavior.missing_payment_method``:
  ``create_invoice`` (renew; the payment fails and dunning starts), ``pause`` (status ``paused``, no invoices) or
  ``cancel`` (https://docs.stripe.com/billing/subscriptions/trials/free-trials#create-free-trials-without-payment).
- ``trial_end`` can be moved, or set to ``now`` to end the trial at once: a new period starts and is invoiced and
  charged right away.
- ``POST /v1/subscriptions/{id}/resume`` (https://docs.stripe.com/billing/subscriptions/pause#resume):
  ``billing_cycle_anchor=now`` invoices a new period at once; ``unchanged`` prorates the rest of the current one.
- ``pause_collection`` (https://docs.stripe.com/billing/subscriptions/pause-payment): renewal invoices during the pause
  stay drafts (``keep_as_draft``), or are finalized and marked uncollectible or voided; ``resumes_at`` ends the pause.
"""

from __future__ import annotations

import pytest
import stripe

from tests.conftest import Tenant
from tests.scenarios.lifecycle_support import (
    DAY,
    DRAFT_WINDOW,
    FEB1,
    JAN1,
    MAR1,
    advance,
    billing_events,
    customer_on_clock,
    events_since,
    expect_error,
    invoices_of,
    monthly_price,
    set_payment_method,
)

JAN15 = JAN1 + 14 * DAY  # the end of a 14-day trial started Jan 1
FEB15 = FEB1 + 14 * DAY
TRIAL_CREATE = [
    "customer.subscription.created",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "customer.subscription.updated",
]


def _trial(c: stripe.StripeClient, behavior: str | None, payment_method: str | None) -> tuple[str, str, str]:
    clock, cus = customer_on_clock(c, JAN1, payment_method)
    price = monthly_price(c, 3000)
    params: dict[str, object] = {"customer": cus, "items": [{"price": price}], "trial_period_days": 14}
    if behavior:
        params["trial_settings"] = {"end_behavior": {"missing_payment_method": behavior}}
    sub = c.v1.subscriptions.create(params=params)  # type: ignore[arg-type]
    assert (sub.status, sub.trial_end, sub.billing_cycle_anchor) == ("trialing", JAN15, JAN15)
    return clock, cus, sub.id


def test_trial_with_a_card_turns_paid_at_its_end(tenant: Tenant) -> None:
    c = tenant.client
    clock, _, sub_id = _trial(c, None, "pm_card_visa")
    advance(c, clock, JAN15 - 3 * DAY + 60)
    assert billing_events(c) == [*TRIAL_CREATE, "customer.subscription.trial_will_end", "invoice.upcoming"]
    upcoming = c.v1.events.list(params={"type": "invoice.upcoming"}).data[0].data.object
    assert (upcoming["total"], upcoming["period_start"], upcoming["billing_reason"]) == (
        3000,
        JAN15,
        "subscription_cycle",
    )
    advance(c, clock, JAN15 + DRAFT_WINDOW + 60)
    first, paid = invoices_of(c, sub_id)
    assert (first.total, first.status) == (0, "paid")
    assert (paid.period_start, paid.period_end, paid.total, paid.status) == (JAN15, FEB15, 3000, "paid")
    assert c.v1.subscriptions.retrieve(sub_id).status == "active"


def test_trial_end_without_card_creates_an_invoice_and_dunning_starts(tenant: Tenant) -> None:
    c = tenant.client
    clock, _, sub_id = _trial(c, "create_invoice", None)
    advance(c, clock, JAN15 + DRAFT_WINDOW + 60)
    renewal = invoices_of(c, sub_id)[-1]
    assert (renewal.status, renewal.amount_due, renewal.attempt_count) == ("open", 3000, 1)
    assert renewal.next_payment_attempt == JAN15 + DRAFT_WINDOW + 3 * DAY
    assert c.v1.subscriptions.retrieve(sub_id).status == "past_due"


def test_trial_end_without_card_pauses_then_resumes_now(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id = _trial(c, "pause", None)
    seen = billing_events(c)
    advance(c, clock, JAN15 + 60)
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "paused"
    assert sub.status_details is not None
    assert sub.status_details.paused.subscription.type == "trial_end_without_payment_method"
    assert sub.status_details.paused.transitioned_at == JAN15
    assert events_since(c, seen) == [
        "customer.subscription.trial_will_end",
        "invoice.upcoming",
        "customer.subscription.updated",
        "customer.subscription.paused",
    ]
    assert len(invoices_of(c, sub_id)) == 1  # a paused subscription makes no invoices
    before = tenant.rows()
    advance(c, clock, FEB15 + DAY)
    assert tenant.rows() == before + 2  # no renewal while paused

    set_payment_method(c, cus, "pm_card_visa")
    seen = billing_events(c)
    resumed = c.v1.subscriptions.resume(sub_id, params={"payment_behavior": "resume_on_payment_success"})
    at = FEB15 + DAY
    assert (resumed.status, resumed.status_details, resumed.billing_cycle_anchor) == ("active", None, at)
    item = resumed["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (at, at + 28 * DAY)  # Feb 16 -> Mar 16
    invoice = c.v1.invoices.retrieve(str(resumed.latest_invoice))
    assert (invoice.billing_reason, invoice.total, invoice.status, invoice.amount_paid) == (
        "subscription_update",
        3000,
        "paid",
        3000,
    )
    assert events_since(c, seen) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.updated",
        "customer.subscription.resumed",
    ]
    advance(c, clock, at + 28 * DAY + DRAFT_WINDOW + 60)
    assert invoices_of(c, sub_id)[-1].period_start == at + 28 * DAY


def test_resume_by_default_waits_for_a_payment_attempt_then_voids_after_23_hours(tenant: Tenant) -> None:
    """``resume_on_payment_attempt`` (the default) attempts no payment in the request: the resumption invoice is open
    and the subscription stays paused; with no attempt within 23 hours the invoice is voided."""
    c = tenant.client
    clock, cus, sub_id = _trial(c, "pause", None)
    advance(c, clock, JAN15 + DAY)
    set_payment_method(c, cus, "pm_card_visa")
    seen = billing_events(c)
    sub = c.v1.subscriptions.resume(sub_id)
    assert sub.status == "paused"
    invoice = c.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (invoice.status, invoice.total, invoice.attempt_count, invoice.next_payment_attempt) == (
        "open",
        3000,
        0,
        None,
    )
    assert events_since(c, seen) == ["invoice.created", "invoice.finalized", "customer.subscription.updated"]
    advance(c, clock, JAN15 + DAY + 23 * 3600 - 60)
    assert c.v1.invoices.retrieve(invoice.id).status == "open"
    advance(c, clock, JAN15 + DAY + 23 * 3600 + 60)
    assert c.v1.invoices.retrieve(invoice.id).status == "void"
    assert c.v1.subscriptions.retrieve(sub_id).status == "paused"
    # It can be resumed again.
    again = c.v1.subscriptions.resume(sub_id, params={"payment_behavior": "resume_on_payment_success"})
    assert again.status == "active"


@pytest.mark.parametrize("card, status", [("pm_card_visa", "active"), ("pm_card_chargeDeclined", "past_due")])
def test_resume_on_payment_attempt_resumes_when_the_invoice_is_paid_by_hand(
    tenant: Tenant, card: str, status: str
) -> None:
    c = tenant.client
    clock, _, sub_id = _trial(c, "pause", None)
    advance(c, clock, JAN15 + DAY)
    sub = c.v1.subscriptions.resume(sub_id)
    try:
        c.v1.invoices.pay(str(sub.latest_invoice), params={"payment_method": card})
    except stripe.CardError:
        assert status == "past_due"
    resumed = c.v1.subscriptions.retrieve(sub_id)
    assert resumed.status == status
    assert billing_events(c)[-1] == "customer.subscription.resumed"
    invoice = c.v1.invoices.retrieve(str(sub.latest_invoice))
    assert invoice.next_payment_attempt is None  # no retries for resume_on_payment_attempt
    advance(c, clock, JAN15 + 2 * DAY)
    assert c.v1.invoices.retrieve(invoice.id).status == ("paid" if status == "active" else "open")


@pytest.mark.parametrize("action, status", [("mark_uncollectible", "active"), ("void_invoice", "paused")])
def test_a_resumption_invoice_closed_by_hand(tenant: Tenant, action: str, status: str) -> None:
    """ "If the invoice is paid or marked uncollectible, the subscription becomes active. If the invoice is manually
    voided, the subscription stays paused." (POST /v1/subscriptions/{id}/resume)"""
    c = tenant.client
    clock, _, sub_id = _trial(c, "pause", None)
    advance(c, clock, JAN15 + DAY)
    invoice = str(c.v1.subscriptions.resume(sub_id).latest_invoice)
    getattr(c.v1.invoices, action)(invoice)
    assert c.v1.subscriptions.retrieve(sub_id).status == status
    before = tenant.rows()
    advance(c, clock, JAN15 + 2 * DAY + 60)  # no expiry action left behind
    assert tenant.rows() == before + 2


def test_resume_unchanged_prorates_the_rest_of_the_period(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id = _trial(c, "pause", None)
    jan25 = JAN15 + 10 * DAY
    advance(c, clock, jan25)
    set_payment_method(c, cus, "pm_card_visa")
    resumed = c.v1.subscriptions.resume(sub_id, params={"billing_cycle_anchor": {"type": "unchanged"}})
    assert (resumed.status, resumed.billing_cycle_anchor) == ("active", JAN15)
    item = resumed["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (JAN15, FEB15)
    # $30.00 × 21 of the period's 31 days = $20.322..., rounded once to $20.32, left pending for the renewal.
    [debit] = c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data
    assert (debit.amount, debit.proration, debit.period.start, debit.period.end) == (2032, True, jan25, FEB15)
    advance(c, clock, FEB15 + DRAFT_WINDOW + 60)
    renewal = invoices_of(c, sub_id)[-1]
    assert sorted(line.amount for line in renewal.lines.data) == [2032, 3000]
    assert (renewal.total, renewal.status) == (5032, "paid")


def test_resume_unchanged_always_invoice_charges_now(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id = _trial(c, "pause", None)
    advance(c, clock, JAN15 + 10 * DAY)
    set_payment_method(c, cus, "pm_card_visa")
    resumed = c.v1.subscriptions.resume(
        sub_id,
        params={
            "billing_cycle_anchor": "unchanged",
            "proration_behavior": "always_invoice",
            "payment_behavior": "resume_on_payment_success",
        },
    )
    invoice = c.v1.invoices.retrieve(str(resumed.latest_invoice))
    assert (invoice.total, invoice.status, invoice.billing_reason) == (2032, "paid", "subscription_update")
    assert resumed.status == "active"


def test_resume_unchanged_without_prorations_is_active_at_once(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id = _trial(c, "pause", None)
    advance(c, clock, JAN15 + 10 * DAY)
    resumed = c.v1.subscriptions.resume(
        sub_id, params={"billing_cycle_anchor": "unchanged", "proration_behavior": "none"}
    )
    assert (resumed.status, resumed.latest_invoice) == ("active", invoices_of(c, sub_id)[0].id)
    assert c.v1.invoice_items.list(params={"customer": cus, "pending": True}).data == []


def test_resume_on_payment_success_declined_stays_paused_until_a_retry_pays(tenant: Tenant) -> None:
    c = tenant.client
    clock, cus, sub_id = _trial(c, "pause", None)
    at = JAN15 + DAY
    advance(c, clock, at)
    set_payment_method(c, cus, "pm_card_chargeDeclined")
    sub = c.v1.subscriptions.resume(sub_id, params={"payment_behavior": "resume_on_payment_success"})
    assert sub.status == "paused"
    invoice = c.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (invoice.status, invoice.attempt_count, invoice.next_payment_attempt) == ("open", 1, at + 3 * DAY)
    advance(c, clock, at + DAY + 60)  # no 23-hour expiry: a payment was attempted
    assert c.v1.invoices.retrieve(invoice.id).status == "open"
    set_payment_method(c, cus, "pm_card_visa")
    seen = billing_events(c)
    advance(c, clock, at + 3 * DAY + 60)
    assert c.v1.invoices.retrieve(invoice.id).status == "paid"
    assert c.v1.subscriptions.retrieve(sub_id).status == "active"
    assert events_since(c, seen) == [
        "invoice.paid",
        "customer.subscription.updated",
        "customer.subscription.resumed",
    ]


def test_trial_end_without_card_cancels(tenant: Tenant) -> None:
    c = tenant.client
    clock, _, sub_id = _trial(c, "cancel", None)
    seen = billing_events(c)
    advance(c, clock, JAN15 + 60)
    sub = c.v1.subscriptions.retrieve(sub_id)
    assert (sub.status, sub.ended_at) == ("canceled", JAN15)
    assert events_since(c, seen) == [
        "customer.subscription.trial_will_end",
        "invoice.upcoming",
        "customer.subscription.deleted",
    ]
    assert len(invoices_of(c, sub_id)) == 1


def test_trial_end_moves_and_now_ends_it(tenant: Tenant) -> None:
    c = tenant.client
    clock, _, sub_id = _trial(c, None, "pm_card_visa")
    jan20 = JAN1 + 19 * DAY
    moved = c.v1.subscriptions.update(sub_id, params={"trial_end": jan20})
    assert (moved.trial_end, moved.billing_cycle_anchor, moved["items"].data[0].current_period_end) == (
        jan20,
        jan20,
        jan20,
    )
    jan5 = JAN1 + 4 * DAY
    advance(c, clock, jan5)
    seen = billing_events(c)
    ended = c.v1.subscriptions.update(sub_id, params={"trial_end": "now"})
    assert (ended.status, ended.trial_end, ended.billing_cycle_anchor) == ("active", jan5, jan5)
    assert ended["items"].data[0].current_period_end == FEB1 + 4 * DAY
    invoice = c.v1.invoices.retrieve(str(ended.latest_invoice))
    assert (invoice.billing_reason, invoice.total, invoice.status, invoice.period_start) == (
        "subscription_update",
        3000,
        "paid",
        jan5,
    )
    assert events_since(c, seen) == [
        "customer.subscription.trial_will_end",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.updated",
    ]
    updated = c.v1.events.list(params={"type": "customer.subscription.updated", "limit": 1}).data[0]
    assert updated.data.previous_attributes is not None
    assert (updated.data.previous_attributes["status"], updated.data.previous_attributes["trial_end"]) == (
        "trialing",
        jan20,
    )
    advance(c, clock, FEB1 + 4 * DAY + DRAFT_WINDOW + 60)
    assert [i.period_start for i in invoices_of(c, sub_id)] == [JAN1, jan5, FEB1 + 4 * DAY]


def test_trial_and_resume_errors_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    clock, _, trialing = _trial(c, "pause", None)
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.update(trialing, params={"trial_end": JAN1 - 1}),
        status=400,
        param="trial_end",
    )
    expect_error(tenant, lambda: c.v1.subscriptions.resume(trialing), status=400, param="subscription")
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.resume(trialing, params={"billing_cycle_anchor": "later"}),  # type: ignore[typeddict-item]
        status=400,
        param="billing_cycle_anchor",
    )
    advance(c, clock, JAN15 + 60)  # paused now
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.resume(trialing, params={"proration_date": JAN15 + 30}),
        status=400,
        param="proration_date",
    )
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.update(trialing, params={"trial_end": "now"}),
        status=400,
        param="trial_end",
    )
    expect_error(tenant, lambda: c.v1.subscriptions.resume("sub_missing"), status=404, param="id")


# -- pause_collection --------------------------------------------------------------------------------------------
def _active(c: stripe.StripeClient) -> tuple[str, str]:
    clock, cus = customer_on_clock(c, JAN1)
    price = monthly_price(c, 3000)
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price}]})
    return clock, sub.id


@pytest.mark.parametrize(
    "behavior, status, event",
    [
        ("keep_as_draft", "draft", None),
        ("mark_uncollectible", "uncollectible", "invoice.marked_uncollectible"),
        ("void", "void", "invoice.voided"),
    ],
)
def test_pause_collection(tenant: Tenant, behavior: str, status: str, event: str | None) -> None:
    c = tenant.client
    clock, sub_id = _active(c)
    resumes = FEB1 + 10 * DAY
    paused = c.v1.subscriptions.update(
        sub_id, params={"pause_collection": {"behavior": behavior, "resumes_at": resumes}}
    )
    assert paused.pause_collection is not None
    assert (paused.pause_collection.behavior, paused.pause_collection.resumes_at) == (behavior, resumes)
    assert paused.status == "active"
    seen = billing_events(c)
    advance(c, clock, FEB1 + DRAFT_WINDOW + 60)
    feb = invoices_of(c, sub_id)[-1]
    assert (feb.period_start, feb.status, feb.attempt_count, feb.amount_paid, feb.total) == (
        FEB1,
        status,
        0,
        0,
        3000,
    )
    assert c.v1.subscriptions.retrieve(sub_id).status == "active"
    expected = ["invoice.upcoming", "invoice.created", "customer.subscription.updated"]
    if event:
        expected += ["invoice.finalized", event]
    assert events_since(c, seen) == expected

    advance(c, clock, resumes + 60)  # the pause ends by itself
    assert c.v1.subscriptions.retrieve(sub_id).pause_collection is None
    advance(c, clock, MAR1 + DRAFT_WINDOW + 60)
    march = invoices_of(c, sub_id)[-1]
    assert (march.period_start, march.status, march.amount_paid) == (MAR1, "paid", 3000)


def test_pause_collection_can_be_lifted_and_bad_values_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    _, sub_id = _active(c)
    c.v1.subscriptions.update(sub_id, params={"pause_collection": {"behavior": "void"}})
    lifted = c.v1.subscriptions.update(sub_id, params={"pause_collection": ""})
    assert lifted.pause_collection is None
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.update(sub_id, params={"pause_collection": {"behavior": "later"}}),  # type: ignore[typeddict-item]
        status=400,
        param="pause_collection[behavior]",
    )
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.update(
            sub_id, params={"pause_collection": {"behavior": "void", "resumes_at": JAN1 - 1}}
        ),
        status=400,
        param="pause_collection[resumes_at]",
    )
    expect_error(
        tenant,
        lambda: c.v1.subscriptions.update(sub_id, params={"pause_collection": {"resumes_at": FEB1}}),  # type: ignore[typeddict-item]
        status=400,
        param="pause_collection[behavior]",
    )


def test_keep_as_draft_set_during_the_draft_window_keeps_the_renewal_a_draft(tenant: Tenant) -> None:
    c = tenant.client
    clock, sub_id = _active(c)
    advance(c, clock, FEB1 + 60)  # the renewal draft exists, its window is open
    c.v1.subscriptions.update(sub_id, params={"pause_collection": {"behavior": "keep_as_draft"}})
    advance(c, clock, FEB1 + DRAFT_WINDOW + 60)
    feb = invoices_of(c, sub_id)[-1]
    assert (feb.period_start, feb.status, feb.auto_advance, feb.attempt_count) == (FEB1, "draft", False, 0)
    assert billing_events(c)[-1] == "invoice.updated"
