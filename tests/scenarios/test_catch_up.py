"""A bill run that runs late finalizes a renewal's draft in the renewal's own transaction, with the same outcome as
acting on time (app/due.py, ``_catch_up``).

When the worker was stopped, or works through a backlog, a renewal and its draft's finalization (one draft window
later) can both be due when the worker reaches them. The worker then finalizes and collects the draft right after
making it, instead of writing it and reading it back in a later batch, except when something else of the
subscription falls inside the window (a cancellation, a schedule).

Two accounts get the same subscriptions through the official SDK: one of every shape whose renewal the catch-up
touches (paid by card, declined, ``send_invoice``, a customer credit balance, a trial ending, ``keep_as_draft``,
a cancellation inside the draft window, a schedule with a phase change at the renewal and one with a phase change
inside the window). A worker on a fixed clock
runs the first account's bill run on time (the renewals, then the drafts once their window has passed) and the
second's late (everything at once, two hours after the renewals). Every invoice, every subscription and every
subscription's ordered events must come out the same, and the late run must have found less due work (the drafts
it finalized at once were never handed to it again).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import stripe

from billfold.adapters.clock import FixedClock
from billfold.adapters.db.scheduler import SqlScheduler
from billfold.adapters.db.store import SqlUnitOfWork
from billfold.app.ports import DueItem
from billfold.main import Runtime
from billfold.worker.loop import Worker
from tests.conftest import Tenant
from tests.scenarios.lifecycle_support import DAY, HOUR, monthly_price

LABELS = (
    "card",
    "declined",
    "send_invoice",
    "credit_balance",
    "trial",
    "keep_as_draft",
    "cancel_in_window",
    "schedule",
    "schedule_in_window",
)


class AccountScheduler:
    """The real scheduler, limited to one account (the session's other tests keep their own due work), counting
    the due items it hands out."""

    def __init__(self, runtime: Runtime, account_id: str) -> None:
        self.inner, self.account_id = SqlScheduler(runtime.engine), account_id
        self.handed_out = 0

    def advancing_clocks(self) -> list[DueItem]:
        return []

    def due_subscriptions(self, until: int, limit: int) -> list[DueItem]:
        # Other accounts' work due by ``until`` (a month from now) is left alone: ask for all of it, keep ours.
        found = [d for d in self.inner.due_subscriptions(until, 100_000) if d.account_id == self.account_id]
        self.handed_out += len(found[:limit])
        return found[:limit]

    def due_emails(self, until: int, limit: int) -> list[DueItem]:
        return []


def _subscriptions(c: stripe.StripeClient) -> tuple[dict[str, str], int]:
    """One subscription of every shape, all renewing within a minute; label -> subscription id, and the last
    renewal's instant."""
    seat = monthly_price(c, 2000, "Seat")
    pro = monthly_price(c, 5000, "Pro seat")
    vat = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 19.0, "inclusive": False})
    subs: dict[str, str] = {}

    def customer(**extra: Any) -> str:
        params = {"invoice_settings": {"default_payment_method": "pm_card_visa"}, **extra}
        return c.v1.customers.create(params=params).id  # type: ignore[arg-type]

    def subscribe(label: str, **extra: Any) -> Any:
        params: dict[str, Any] = {
            "customer": customer(),
            "items": [{"price": seat, "quantity": 3}],
            "default_tax_rates": [vat.id],
            "metadata": {"label": label},
            **extra,
        }
        sub = c.v1.subscriptions.create(params=params)  # type: ignore[arg-type]
        subs[label] = sub.id
        return sub

    renews_at = subscribe("card")["items"]["data"][0]["current_period_end"]
    declined = subscribe("declined")
    c.v1.customers.update(
        declined.customer,
        params={"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}},
    )
    subscribe("send_invoice", collection_method="send_invoice", days_until_due=30)
    credit = subscribe("credit_balance")
    c.v1.customers.balance_transactions.create(credit.customer, params={"amount": -2500, "currency": "usd"})
    subscribe("trial", trial_end=renews_at)
    kept = subscribe("keep_as_draft")
    c.v1.subscriptions.update(kept.id, params={"pause_collection": {"behavior": "keep_as_draft"}})
    canceled = subscribe("cancel_in_window")
    c.v1.subscriptions.update(
        canceled.id, params={"cancel_at": renews_at + HOUR // 2, "proration_behavior": "none"}
    )
    for label, phase_ends in (("schedule", renews_at), ("schedule_in_window", renews_at + HOUR // 2)):
        schedule = c.v1.subscription_schedules.create(
            params={
                "customer": customer(),
                "start_date": "now",
                "end_behavior": "release",
                "phases": [
                    {
                        "items": [{"price": seat, "quantity": 3}],
                        "end_date": phase_ends,
                        "default_tax_rates": [vat.id],
                    },
                    {
                        "items": [{"price": pro, "quantity": 2}],
                        "duration": {"interval": "month"},
                        "default_tax_rates": [vat.id],
                    },
                ],
                "metadata": {"label": label},
            }  # type: ignore[typeddict-item]
        )
        subs[label] = str(schedule.subscription)
    assert sorted(subs) == sorted(LABELS)
    ends = [c.v1.subscriptions.retrieve(s)["items"]["data"][0]["current_period_end"] for s in subs.values()]
    assert renews_at <= min(ends) and max(ends) < renews_at + 60, ends  # created within a minute
    return subs, max(ends)


def _run(runtime: Runtime, scheduler: AccountScheduler, clock: FixedClock, now: int) -> int:
    """The wall-clock bill run at ``now``, called until nothing is due (as ``billfold worker`` does)."""
    clock.t = now
    uow = SqlUnitOfWork(runtime.engine, clock)
    worker = Worker(uow, scheduler, runtime.services.processor, clock, runtime.services.mailer)
    done = 0
    while ran := worker.bill_run(now):
        done += ran
    return done


def _outcome(c: stripe.StripeClient, subs: dict[str, str]) -> dict[str, Any]:
    """Per subscription: its status, its invoices' amounts and states, and the types of its events in order."""
    label_of = {sub_id: label for label, sub_id in subs.items()}
    events: dict[str, list[str]] = {label: [] for label in subs}
    for event in reversed(list(c.v1.events.list(params={"limit": 100}).auto_paging_iter())):
        obj = event.to_dict()["data"]["object"]
        if obj.get("object") == "subscription":
            sub_id = obj["id"]
        elif obj.get("object") == "invoice":
            sub_id = ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        else:
            continue
        if sub_id in label_of:
            events[label_of[sub_id]].append(event.type)
    outcome: dict[str, Any] = {}
    for label, sub_id in subs.items():
        sub = c.v1.subscriptions.retrieve(sub_id)
        invoices = [
            {
                "status": i.status,
                "billing_reason": i.billing_reason,
                "number": (i.number or "").rsplit("-", 1)[-1],
                "amounts": (
                    i.subtotal,
                    i.total_excluding_tax,
                    i.total,
                    i.amount_due,
                    i.amount_paid,
                    i.amount_remaining,
                ),
                "starting_balance": i.starting_balance,
                "attempt_count": i.attempt_count,
                # Instants relative to the invoice's creation: the two accounts' renewals are seconds apart.
                "retry_after": i.next_payment_attempt and i.next_payment_attempt - i.created,
                "lines": sorted((line.amount, line.description) for line in i.lines.data),
            }
            for i in reversed(list(c.v1.invoices.list(params={"subscription": sub_id}).auto_paging_iter()))
        ]
        outcome[label] = {"status": sub.status, "invoices": invoices, "events": events[label]}
    return outcome


def test_a_late_bill_run_finalizes_drafts_at_once_with_the_outcome_of_an_on_time_one(
    runtime: Runtime, make_tenant: Any
) -> None:
    on_time, late = make_tenant(), make_tenant()
    on_time_subs, renewed = _subscriptions(on_time.client)
    late_subs, late_renewed = _subscriptions(late.client)

    def bill(tenant: Tenant, instants: list[int]) -> tuple[int, int]:
        scheduler = AccountScheduler(runtime, tenant.account_id)
        clock = FixedClock(instants[0])
        done = sum(_run(runtime, scheduler, clock, at) for at in instants)
        return done, scheduler.handed_out

    notice = 3 * DAY - 2 * HOUR  # the invoice.upcoming notices, three days before the renewals
    # On time: the notices, the renewals (drafts made), then the drafts once their one-hour window has passed.
    on_time_done, on_time_items = bill(on_time, [renewed - notice, renewed + 60, renewed + 2 * HOUR])
    # Late: the notices, then everything else at once, two hours after the renewals.
    late_done, late_items = bill(late, [late_renewed - notice, late_renewed + 2 * HOUR])

    expected = _outcome(on_time.client, on_time_subs)
    got = _outcome(late.client, late_subs)
    for label in LABELS:
        assert got[label] == expected[label], label
    assert late_done == on_time_done

    # What the on-time run shows happened: each shape's renewal made its invoice, and the drafts were acted on.
    statuses = {label: [i["status"] for i in expected[label]["invoices"]] for label in LABELS}
    assert statuses["card"][-1] == "paid"
    assert statuses["declined"][-1] == "open" and expected["declined"]["status"] == "past_due"
    assert statuses["send_invoice"][-1] == "open"
    assert expected["credit_balance"]["invoices"][-1]["starting_balance"] == -2500
    assert statuses["trial"] == ["paid", "paid"]  # the trial's zero invoice, then its first paid period
    assert statuses["keep_as_draft"][-1] == "draft"
    assert expected["cancel_in_window"]["status"] == "canceled"
    assert expected["schedule"]["invoices"][-1]["lines"] == [(10000, "Pro seat")]  # the second phase
    # Two invoices for every shape: the first one and the renewal; and a third for the cancellation inside the
    # window, whose cancel_at lay in a later period when it was set, so its unused time is credited ("always").
    created = Counter(e for label in LABELS for e in expected[label]["events"])["invoice.created"]
    assert created == 2 * len(LABELS) + 1
    assert expected["cancel_in_window"]["invoices"][-1]["amounts"][2] < 0

    # The late run finalized drafts without being handed them again: card, declined, send_invoice, the credit
    # balance, the trial and the schedule whose phase changed at the renewal (six); keep_as_draft's draft stays a
    # draft and is not due; the cancellation and the phase change inside the window come before the drafts'
    # finalization, so those drafts were handed out as due items of their own.
    assert on_time_items - late_items == 6, (on_time_items, late_items)
