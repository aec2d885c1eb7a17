"""Stateful property: any sequence of billing operations, sent through the official SDK over real HTTP, keeps the
money right.

Hypothesis plays a support team and its customers against a running server: subscriptions start on test clocks
in USD, EUR or JPY (a zero-decimal currency), with seats, an optional add-on, optional metered calls, an optional 19%
exclusive VAT, an optional 20%-off-forever coupon and an optional trial, paid by card or by invoice, anchored on any
day of the month; usage is reported, seats change up and down with each ``proration_behavior``, plans are swapped,
one-off charges are added, a schedule made from a subscription changes its seats (and maybe drops the add-on) from
its next renewal for one period, then releases it or ends it, subscriptions are set to cancel at period end or
canceled now (with or without a credit for the unused time, with or without a final invoice), credit notes are
issued on paid and open invoices, cards start
declining and recover, POSTs are retried with their idempotency key, and clocks are advanced by up to 45 days at a
time, so renewals, finalization, payment and dunning run in between.

A model written from Stripe's documented rules (not from Billfold's code) follows along:

- a subscription is billed in advance for each period it begins, at the rates its items have then; metered usage
  is billed in arrears when a paid period ends, on the final invoice of a subscription canceled at period end or
  with ``invoice_now``, and not at all in a trial or when dunning cancels the subscription;
- a change with ``create_prorations`` or ``always_invoice`` at second ``t`` of the period ``[start, end)`` credits
  what was last billed for the item (flexible billing mode: the rate of the last debit, not the item's current
  price) for ``(end - t) / (end - start)`` of the period and debits the new rate for the same share; ``none`` bills
  the new rate from the next period on; an update that changes nothing prorates nothing; a new price without a
  quantity sets the quantity to 1 (so the machine always sends it); canceling with ``prorate`` credits what was
  billed for the rest of the period;
- a forever 20%-off coupon makes every amount 80% of it;
- a schedule's phase starting at a renewal sets the items the renewal bills (the seats' price as the phase says,
  whatever changed in between; a dropped add-on is gone with nothing to credit, as its period has ended); at the
  phase's end the schedule releases the subscription (it renews on) or ends it like ``cancel_at_period_end``; while
  it is attached, the subscription's own ``cancel_at_period_end`` is refused.

After every step these must hold (``invariant`` methods below):

1. every invoice adds up: its lines to its subtotal, the subtotal less discounts plus exclusive tax to its total,
   ``amount_paid + amount_remaining`` to ``amount_due``; a paid invoice has nothing remaining;
2. what each subscription has been billed (its lines on every invoice that is not void, net of discounts, plus its
   pending proration items) equals the model to within one minor unit per line (and two with the coupon);
3. no period of a subscription item is billed twice, and no one-off charge is billed twice or lost;
4. credit notes never exceed their invoice, and the invoice's pre- and post-payment credit note amounts add up to
   them; the customer's balance equals the sum of its balance transactions;
5. finalized invoices have unique numbers; a preview equals the renewal invoice that follows it.

At the end, each invoice has exactly one ``invoice.created`` event and each paid one exactly one ``invoice.paid``.

``BILLFOLD_STATEFUL_EXAMPLES`` sets the number of sequences (default 40) and ``BILLFOLD_STATEFUL_STEPS`` their
longest (default 20); runs are derandomized (the same sequences every run) unless ``BILLFOLD_STATEFUL_SEED`` is set,
for deeper runs by hand; ``BILLFOLD_STATEFUL_SHRINK=0`` reports a failure without shrinking it (shrinking a
sequence of HTTP calls can take minutes). With ``-s`` the test prints how often each operation ran.
"""

from __future__ import annotations

import calendar
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import stripe
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import Tenant
from tests.scenarios.lifecycle_support import monthly_price
from tests.support.clocks import advance

EXAMPLES = int(os.environ.get("BILLFOLD_STATEFUL_EXAMPLES", "40"))
STEPS = int(os.environ.get("BILLFOLD_STATEFUL_STEPS", "20"))
SEED = os.environ.get("BILLFOLD_STATEFUL_SEED")
RULES_RUN: Counter[str] = Counter()  # how often each operation ran (not skipped), shown with -s
SCHEDULES: Counter[str] = Counter()  # how schedules went (a phase entered, released, ended it), shown with -s

DAY = 86_400
HOUR = 3_600
T0 = calendar.timegm((2026, 1, 1, 0, 0, 0))
UNIT = {
    "seat": 9900,
    "pro": 14900,
    "addon": 3500,
}  # minor units a month (cents; yen are their own minor unit)
CURRENCIES = ["usd", "eur", "jpy"]
USAGE_UNIT = 5  # minor units a call, billed in arrears from a Billing Meter (sum of the events' values)
COUPON_KEEPS = Fraction(4, 5)  # 20% off, forever
OPERATIONS = {
    "subscribe",
    "change_quantity",
    "swap_plan",
    "add_or_remove_addon",
    "pay_open_invoice",
    "one_off_charge",
    "report_usage",
    "set_cancel_at_period_end",
    "cancel_now",
    "set_card",
    "advance_clock",
    "preview_then_renew",
    "credit_note",
    "schedule_next_period",
}
BEHAVIORS = ["create_prorations", "none", "always_invoice"]


def add_months(anchor: int, months: int) -> int:
    """The start of the period ``months`` after the one anchored at ``anchor``: the same day of the month and time of
    day, or the month's last day when it has no such day (an anchor on the 31st renews on 28 or 29 February, then on
    31 March: https://docs.stripe.com/billing/subscriptions/billing-cycle)."""
    y, m, d, hh, mm, ss = time.gmtime(anchor)[:6]
    m0 = m - 1 + months
    year, month = y + m0 // 12, m0 % 12 + 1
    return calendar.timegm((year, month, min(d, calendar.monthrange(year, month)[1]), hh, mm, ss))


def as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if isinstance(obj, stripe.StripeObject) else dict(obj)


@dataclass
class Item:
    id: str
    price: str  # a key of UNIT
    quantity: int
    billed: int  # the rate (cents a full period) last billed for it: what a credit is based on

    @property
    def rate(self) -> int:
        return UNIT[self.price] * self.quantity


@dataclass
class Scheduled:
    """A schedule made from the subscription: from ``starts`` (a renewal) for one period, ``seats`` at ``seat_price``
    and the add-on only when ``addon`` is not None; then released, or the subscription ends when ``cancel``."""

    id: str
    starts: int
    ends: int
    seat_price: str  # a key of UNIT
    seats: int
    addon: int | None
    cancel: bool
    entered: bool = False


@dataclass
class Sub:
    """The model of one subscription, alone on its customer and test clock."""

    id: str
    customer: str
    clock: str
    started: int
    anchor: int  # the first paid period's start: the start, or the trial's end
    now: int
    items: dict[str, Item]  # "seats" and maybe "addon"
    coupon: bool
    periods: int  # paid periods begun (0 in the trial)
    expected: Fraction = Fraction(0)  # gross: before the coupon
    ended: bool = False
    cancel_at_period_end: bool = False
    failing: bool = False
    metered: bool = False  # has the usage item
    currency: str = "usd"
    used: int = 0  # calls reported in the current period
    tax: bool = False
    invoiced: bool = False  # send_invoice
    schedule: Scheduled | None = None  # the schedule attached to it, if any

    @property
    def period(self) -> tuple[int, int]:
        if self.periods == 0:
            return self.started, self.anchor
        return add_months(self.anchor, self.periods - 1), add_months(self.anchor, self.periods)

    def share_left(self) -> Fraction:
        start, end = self.period
        return Fraction(end - self.now, end - start)

    def expected_net(self) -> Fraction:
        return self.expected * COUPON_KEEPS if self.coupon else self.expected

    def bill_usage(self) -> None:
        """The current period's usage, billed in arrears when a paid period ends (usage in a trial is free)."""
        if self.periods > 0:
            self.expected += self.used * USAGE_UNIT
        self.used = 0

    def renew(self) -> None:
        self.bill_usage()
        self.periods += 1
        for item in self.items.values():  # billed in advance
            self.expected += item.rate
            item.billed = item.rate


@dataclass
class Preview:
    sub: str
    period_start: int
    doc: dict[str, Any]


class BillingMachine(RuleBasedStateMachine):
    """One account, up to three subscriptions; see the module's docstring."""

    subs = Bundle("subs")

    def __init__(self, make_tenant: Callable[[], Tenant]) -> None:
        super().__init__()
        self.tenant = make_tenant()
        c = self.c = self.tenant.client
        meter = c.v1.billing.meters.create(
            params={"display_name": "Calls", "event_name": "calls", "default_aggregation": {"formula": "sum"}}
        )
        usage_product = c.v1.products.create(params={"name": "Calls"})
        self.prices: dict[str, dict[str, str]] = {}  # currency -> key -> price
        for currency in CURRENCIES:
            prices = {
                key: monthly_price(c, amount, f"{key.title()} plan", currency) for key, amount in UNIT.items()
            }
            prices["usage"] = c.v1.prices.create(
                params={
                    "product": usage_product.id,
                    "currency": currency,
                    "unit_amount": USAGE_UNIT,
                    "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
                }
            ).id
            self.prices[currency] = prices
        self.vat = c.v1.tax_rates.create(
            params={"display_name": "VAT", "percentage": 19, "inclusive": False}
        ).id
        self.coupon = c.v1.coupons.create(params={"percent_off": 20, "duration": "forever"}).id
        self.model: dict[str, Sub] = {}
        self.one_offs: dict[str, str] = {}  # invoice item -> customer
        self.previews: list[Preview] = []

    # -- operations ------------------------------------------------------------------------------------------------
    @precondition(lambda self: len(self.model) < 3)
    @rule(
        target=subs,
        day=st.integers(0, 30),
        hour=st.integers(0, 23),
        seats=st.integers(1, 40),
        addon=st.integers(0, 40),
        tax=st.booleans(),
        coupon=st.booleans(),
        trial_days=st.sampled_from([0, 0, 7, 30]),
        invoiced=st.booleans(),
        metered=st.booleans(),
        currency=st.sampled_from(CURRENCIES),
        retried=st.booleans(),
    )
    def subscribe(
        self,
        day: int,
        hour: int,
        seats: int,
        addon: int,
        tax: bool,
        coupon: bool,
        trial_days: int,
        invoiced: bool,
        metered: bool,
        currency: str,
        retried: bool,
    ) -> str:
        """A customer on a new clock subscribes in January (any day: the 29th-31st renew at month end), with or
        without a trial, paying by card or by invoice (``send_invoice``, due in 14 days)."""
        c = self.c
        at = T0 + day * DAY + hour * HOUR
        self._ran("subscribe")
        clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": at}).id
        customer = c.v1.customers.create(
            params={"test_clock": clock, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
        ).id
        prices = self.prices[currency]
        items: list[dict[str, Any]] = [{"price": prices["seat"], "quantity": seats}]
        if addon:
            items.append({"price": prices["addon"], "quantity": addon})
        if metered:
            items.append({"price": prices["usage"]})
        params: dict[str, Any] = {"customer": customer, "items": items}
        if tax:
            params["default_tax_rates"] = [self.vat]
        if coupon:
            params["discounts"] = [{"coupon": self.coupon}]
        if trial_days:
            params["trial_period_days"] = trial_days
        if invoiced:
            params |= {"collection_method": "send_invoice", "days_until_due": 14}
        sub = self._send(c.v1.subscriptions.create, params=params, retried=retried)
        assert sub.status == ("trialing" if trial_days else "active")
        by_price = {i.price.id: i for i in sub["items"].data}
        model = Sub(
            id=sub.id,
            customer=customer,
            clock=clock,
            started=at,
            anchor=at + trial_days * DAY,
            now=at,
            items={"seats": Item(by_price[prices["seat"]].id, "seat", seats, 0)},
            coupon=coupon,
            periods=0,
            metered=metered,
            currency=currency,
            tax=tax,
            invoiced=invoiced,
        )
        if addon:
            model.items["addon"] = Item(by_price[prices["addon"]].id, "addon", addon, 0)
        if not trial_days:  # the first period is billed now; a trial's is free
            model.renew()
        assert (
            sub["items"].data[0].current_period_start,
            sub["items"].data[0].current_period_end,
        ) == model.period
        self.model[sub.id] = model
        return sub.id

    def _send(self, call: Callable[..., Any], *args: Any, params: dict[str, Any], retried: bool) -> Any:
        """A POST with an idempotency key; when ``retried``, the same request again, as a client whose connection
        dropped would send it: the answer must be the first one replayed, and nothing happens twice."""
        options = {"idempotency_key": f"machine-{secrets.token_hex(8)}"}
        first = call(*args, params=params, options=options)
        if retried:
            again = call(*args, params=params, options=options)
            assert again.last_response is not None
            assert again.last_response.headers.get("Idempotent-Replayed") == "true"
            assert again.to_dict() == first.to_dict()
        return first

    def _refused(self, call: Callable[[], Any], param: str, accepted: str) -> None:
        """``call`` must fail with a 400 naming ``param`` and write nothing (``accepted``: the failure if it
        succeeds)."""
        before = (self.tenant.rows(), self.tenant.audit_rows())
        try:
            call()
        except stripe.InvalidRequestError as e:
            assert (e.http_status, e.param) == (400, param)
        else:
            raise AssertionError(accepted)
        assert (self.tenant.rows(), self.tenant.audit_rows()) == before

    @staticmethod
    def _ran(rule: str) -> None:
        RULES_RUN[rule] += 1

    def _live(self, sub_id: str, rule: str | None = None) -> Sub | None:
        """The subscription's model, or None when it has ended (the rule is then skipped); ``rule`` is counted as
        run when it is not."""
        model = self.model[sub_id]
        if model.ended:
            return None
        if rule is not None:
            self._ran(rule)
        return model

    def _prorate(self, model: Sub, item: Item, new_rate: int, behavior: str) -> None:
        if behavior != "none" and model.periods > 0:  # (a change in a trial costs nothing)
            model.expected += (new_rate - item.billed) * model.share_left()
            item.billed = new_rate

    @rule(
        sub_id=subs,
        which=st.sampled_from(["seats", "addon"]),
        quantity=st.integers(0, 60),
        behavior=st.sampled_from(BEHAVIORS),
        retried=st.booleans(),
    )
    def change_quantity(self, sub_id: str, which: str, quantity: int, behavior: str, retried: bool) -> None:
        model = self._live(sub_id)
        if model is None or which not in model.items:
            return
        self._ran("change_quantity")
        item = model.items[which]
        params: dict[str, Any] = {"quantity": quantity, "proration_behavior": behavior}
        updated = self._send(self.c.v1.subscription_items.update, item.id, params=params, retried=retried)
        assert updated.quantity == quantity
        if quantity != item.quantity:  # an update that changes nothing prorates nothing
            self._prorate(model, item, UNIT[item.price] * quantity, behavior)
        item.quantity = quantity

    @rule(sub_id=subs, behavior=st.sampled_from(BEHAVIORS), retried=st.booleans())
    def swap_plan(self, sub_id: str, behavior: str, retried: bool) -> None:
        """Seats move between the standard and the pro price (an upgrade or a downgrade), same quantity (given: a new
        price without a quantity sets it to 1, as in Stripe)."""
        model = self._live(sub_id, "swap_plan")
        if model is None:
            return
        item = model.items["seats"]
        new = "pro" if item.price == "seat" else "seat"
        updated = self._send(
            self.c.v1.subscription_items.update,
            item.id,
            params={
                "price": self.prices[model.currency][new],
                "quantity": item.quantity,
                "proration_behavior": behavior,
            },
            retried=retried,
        )
        assert updated.price.id == self.prices[model.currency][new] and updated.quantity == item.quantity
        self._prorate(model, item, UNIT[new] * item.quantity, behavior)
        item.price = new

    @rule(
        sub_id=subs, quantity=st.integers(1, 40), behavior=st.sampled_from(BEHAVIORS), retried=st.booleans()
    )
    def add_or_remove_addon(self, sub_id: str, quantity: int, behavior: str, retried: bool) -> None:
        """The add-on is added when the subscription has none and removed when it has one."""
        model = self._live(sub_id, "add_or_remove_addon")
        if model is None:
            return
        item = model.items.get("addon")
        if item is None:
            created = self._send(
                self.c.v1.subscription_items.create,
                params={
                    "subscription": sub_id,
                    "price": self.prices[model.currency]["addon"],
                    "quantity": quantity,
                    "proration_behavior": behavior,
                },
                retried=retried,
            )
            item = model.items["addon"] = Item(created.id, "addon", quantity, 0)  # nothing billed for it yet
            self._prorate(model, item, item.rate, behavior)
            return
        deleted = self.c.v1.subscription_items.delete(item.id, params={"proration_behavior": behavior})  # type: ignore[typeddict-item]
        assert deleted.deleted is True
        self._prorate(model, item, 0, behavior)
        del model.items["addon"]

    @rule(data=st.data())
    def pay_open_invoice(self, data: st.DataObject) -> None:
        """An open invoice paid by hand: with a working card it is paid; with a declining one it stays open."""
        invoices = [
            i for i in self.c.v1.invoices.list(params={"status": "open", "limit": 100}).auto_paging_iter()
        ]
        if not invoices:
            return
        self._ran("pay_open_invoice")
        inv = data.draw(st.sampled_from(sorted(invoices, key=lambda i: i.id)), label="invoice")
        failing = next(m.failing for m in self.model.values() if m.customer == inv.customer)
        try:
            paid = self.c.v1.invoices.pay(inv.id)
        except stripe.CardError as e:
            assert failing and e.http_status == 402
            assert self.c.v1.invoices.retrieve(inv.id).status == "open"
        else:
            assert not failing or inv.amount_remaining == 0
            assert paid.status == "paid" and paid.amount_remaining == 0

    @precondition(lambda self: any(m.metered and not m.ended for m in self.model.values()))
    @rule(data=st.data(), value=st.integers(1, 5_000))
    def report_usage(self, data: st.DataObject, value: int) -> None:
        """Calls reported to the meter now (the customer's clock time): billed at the end of the period."""
        metered = sorted(m.id for m in self.model.values() if m.metered and not m.ended)
        model = self.model[data.draw(st.sampled_from(metered), label="subscription")]
        self._ran("report_usage")
        self.c.v1.billing.meter_events.create(
            params={
                "event_name": "calls",
                "payload": {"stripe_customer_id": model.customer, "value": str(value)},
            }
        )
        model.used += value

    @rule(sub_id=subs, amount=st.integers(1, 50_000), retried=st.booleans())
    def one_off_charge(self, sub_id: str, amount: int, retried: bool) -> None:
        """A pending charge on the customer: the next invoice of the customer collects it."""
        model = self.model[sub_id]
        self._ran("one_off_charge")
        item = self._send(
            self.c.v1.invoice_items.create,
            params={"customer": model.customer, "amount": amount, "currency": model.currency},
            retried=retried,
        )
        self.one_offs[item.id] = model.customer

    @rule(sub_id=subs, flag=st.booleans())
    def set_cancel_at_period_end(self, sub_id: str, flag: bool) -> None:
        model = self._live(sub_id, "set_cancel_at_period_end")
        if model is None:
            return
        if model.schedule is not None and flag != model.cancel_at_period_end:
            # The schedule decides how the subscription ends: refused, nothing written.
            self._refused(
                lambda: self.c.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": flag}),
                "cancel_at_period_end",
                "a scheduled subscription's cancel_at_period_end was changed directly",
            )
            return
        sub = self.c.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": flag})
        assert sub.cancel_at_period_end is flag
        model.cancel_at_period_end = flag

    @rule(
        sub_id=subs,
        seats=st.integers(1, 60),
        keep_addon=st.booleans(),
        cancel=st.booleans(),
        renew=st.booleans(),
    )
    def schedule_next_period(
        self, sub_id: str, seats: int, keep_addon: bool, cancel: bool, renew: bool
    ) -> None:
        """A schedule made from the subscription (``from_subscription``), then given a second phase: from the next
        renewal, for one month, ``seats`` seats (and the add-on only when ``keep_addon``); then ``release`` or
        ``cancel``. With ``renew``, the clock then moves to two hours after the phase starts."""
        model = self._live(sub_id)
        if model is None or model.periods == 0 or model.cancel_at_period_end or model.schedule is not None:
            return
        self._ran("schedule_next_period")
        c = self.c
        made = c.v1.subscription_schedules.create(params={"from_subscription": sub_id})
        [current] = made.phases
        assert (current.start_date, current.end_date) == model.period
        settings_: dict[str, Any] = {
            "default_tax_rates": [self.vat] if model.tax else [],
            "discounts": [{"discount": d.discount} for d in current.discounts],
        }
        if model.invoiced:
            settings_ |= {"collection_method": "send_invoice", "invoice_settings": {"days_until_due": 14}}

        def item(i: Any) -> dict[str, Any]:
            return {"price": i.price} if i.quantity is None else {"price": i.price, "quantity": i.quantity}

        prices = self.prices[model.currency]
        seat_item = model.items["seats"]
        addon = model.items.get("addon")
        nxt: list[dict[str, Any]] = [{"price": prices[seat_item.price], "quantity": seats}]
        if addon is not None and keep_addon:
            nxt.append({"price": prices["addon"], "quantity": addon.quantity})
        if model.metered:
            nxt.append({"price": prices["usage"]})
        phases = [
            {
                "items": [item(i) for i in current["items"]],
                "start_date": current.start_date,
                "end_date": current.end_date,
                **settings_,
            },
            # (an end date, not a month's duration: from Feb 28 a month is Mar 28, but an anchor on the 31st renews
            # on Mar 31)
            {"items": nxt, "end_date": add_months(model.anchor, model.periods + 1), **settings_},
        ]
        updated = c.v1.subscription_schedules.update(
            made.id,
            params={"phases": phases, "end_behavior": "cancel" if cancel else "release"},  # type: ignore[typeddict-item]
        )
        starts = model.period[1]
        ends = add_months(model.anchor, model.periods + 1)
        assert [(p.start_date, p.end_date) for p in updated.phases] == [model.period, (starts, ends)]
        model.schedule = Scheduled(
            made.id,
            starts,
            ends,
            seat_item.price,
            seats,
            addon.quantity if addon is not None and keep_addon else None,
            cancel,
        )
        if renew:
            self._advance(model, starts + 2 * HOUR)

    @rule(sub_id=subs, prorate=st.booleans(), invoice_now=st.booleans())
    def cancel_now(self, sub_id: str, prorate: bool, invoice_now: bool) -> None:
        model = self._live(sub_id, "cancel_now")
        if model is None:
            return
        # (a DELETE: Stripe takes no idempotency key for it)
        sub = self.c.v1.subscriptions.cancel(sub_id, params={"prorate": prorate, "invoice_now": invoice_now})
        assert sub.status == "canceled" and sub.ended_at == model.now
        if prorate:
            for item in model.items.values():
                model.expected -= item.billed * model.share_left()
        if invoice_now:  # the final invoice bills the usage to date
            model.bill_usage()
        model.ended = True

    @rule(sub_id=subs, failing=st.booleans())
    def set_card(self, sub_id: str, failing: bool) -> None:
        """The customer's card starts declining (or works again): renewals go to dunning."""
        model = self._live(sub_id, "set_card")
        if model is None:
            return
        card = "pm_card_chargeDeclined" if failing else "pm_card_visa"
        self.c.v1.customers.update(
            model.customer, params={"invoice_settings": {"default_payment_method": card}}
        )
        model.failing = failing

    @rule(sub_id=subs, seconds=st.integers(1, 45 * DAY))
    def advance_clock(self, sub_id: str, seconds: int) -> None:
        self._ran("advance_clock")
        self._advance(self.model[sub_id], self.model[sub_id].now + seconds)

    def _advance(self, model: Sub, to: int) -> None:
        advance(self.c, model.clock, to)
        sub = self.c.v1.subscriptions.retrieve(model.id)
        ended_at = sub.ended_at
        while not model.ended and model.period[1] <= to:
            boundary = model.period[1]
            scheduled = model.schedule
            if scheduled is not None and ended_at is not None and ended_at < boundary:
                pass  # dunning ended it first (below)
            elif scheduled is not None and boundary == scheduled.starts:
                self._enter_phase(model, scheduled)
            elif scheduled is not None and boundary == scheduled.ends:
                model.schedule = None
                SCHEDULES["ended" if scheduled.cancel else "released"] += 1
                if scheduled.cancel:  # like cancel_at_period_end: the period's usage on a final invoice
                    assert ended_at == boundary, "a schedule with end_behavior=cancel ends it at its end"
                    model.bill_usage()
                    model.ended = True
                    continue
            if model.cancel_at_period_end:
                assert ended_at == boundary, "a subscription set to cancel at period end ends at its end"
                model.bill_usage()  # on its final invoice
                model.ended = True
            elif ended_at is not None and ended_at <= boundary:
                # ended by dunning (its last retry failed) before this renewal
                assert model.failing and sub.status == "canceled"
                model.ended = True
            else:
                model.renew()
        if ended_at is not None and not model.ended:
            assert model.failing and sub.status == "canceled"  # dunning ended it within the current period
            model.ended = True
        if model.ended:
            model.schedule = None
        else:  # a phase may have replaced items (a new price is a new item): take their ids
            ids = {i.price.id: i.id for i in sub["items"].data}
            for it in model.items.values():
                it.id = ids[self.prices[model.currency][it.price]]
        model.now = to
        if not model.ended:
            assert sub["items"].data[0].current_period_start == model.period[0]
            assert sub["items"].data[0].current_period_end == model.period[1]

    @staticmethod
    def _enter_phase(model: Sub, scheduled: Scheduled) -> None:
        """The items as the phase says, before the renewal at its start bills them (nothing prorated: a boundary)."""
        scheduled.entered = True
        SCHEDULES["phase entered"] += 1
        seats = model.items["seats"]
        seats.price, seats.quantity = scheduled.seat_price, scheduled.seats
        if scheduled.addon is None:
            model.items.pop("addon", None)
        else:
            model.items["addon"] = Item("", "addon", scheduled.addon, 0)

    @rule(sub_id=subs)
    def preview_then_renew(self, sub_id: str) -> None:
        """The upcoming invoice, then the clock moved to the renewal: the renewal invoice is the preview."""
        model = self._live(sub_id)
        if model is None or model.cancel_at_period_end:
            return
        if model.schedule is not None and model.schedule.cancel and model.period[1] == model.schedule.ends:
            return  # no renewal follows: the schedule ends the subscription then
        self._ran("preview_then_renew")
        preview = self.c.v1.invoices.create_preview(params={"subscription": sub_id})
        end, periods = model.period[1], model.periods
        self._advance(model, end)
        if model.periods > periods:  # renewed (not ended by dunning on the way)
            self.previews.append(Preview(sub_id, end, preview.to_dict()))

    @rule(data=st.data())
    def credit_note(self, data: st.DataObject) -> None:
        """A credit note for part of a finalized invoice's remaining creditable amount, refunded, credited to the
        balance or settled out of band when it was paid."""
        invoices = [
            i
            for i in self.c.v1.invoices.list(params={"limit": 100}).auto_paging_iter()
            if i.status in ("open", "paid") and i.total > 0
        ]
        if not invoices:
            return
        inv = data.draw(st.sampled_from(sorted(invoices, key=lambda i: i.id)), label="invoice")
        credited = inv.pre_payment_credit_notes_amount + inv.post_payment_credit_notes_amount
        room = inv.total - credited
        if room <= 0:
            return
        amount = data.draw(st.integers(1, room), label="amount")
        params: dict[str, Any] = {"invoice": inv.id, "amount": amount}
        # Stripe's split: the credit first reduces what is still due; the rest (post-payment) is refunded to the
        # card, credited to the balance or settled out of band, as the request says.
        post = amount - min(amount, inv.amount_remaining if inv.status == "open" else 0)
        refundable = inv.amount_paid - sum(
            r.amount_refunded
            for n in self.c.v1.credit_notes.list(params={"invoice": inv.id, "limit": 100}).auto_paging_iter()
            for r in n.refunds
        )
        if post:
            how = data.draw(
                st.sampled_from(["refund_amount", "credit_amount", "out_of_band_amount"]), label="how"
            )
            params[how] = post
            if (
                how == "refund_amount" and post > refundable
            ):  # more than the card paid: refused, nothing written
                self._refused(
                    lambda: self.c.v1.credit_notes.create(params=params),  # type: ignore[arg-type]
                    "refund_amount",
                    "a refund beyond the invoice's payment was accepted",
                )
                return
        self._ran("credit_note")
        note = self._send(self.c.v1.credit_notes.create, params=params, retried=data.draw(st.booleans()))
        assert (note.total, note.pre_payment_amount + note.post_payment_amount) == (amount, amount)
        too_much = {"invoice": inv.id, "amount": room - amount + 1, "credit_amount": room - amount + 1}
        try:
            self.c.v1.credit_notes.create(params=too_much)  # type: ignore[arg-type]
        except stripe.InvalidRequestError as e:
            assert e.http_status == 400
        else:
            raise AssertionError("a credit note beyond the invoice's total was accepted")

    # -- what must always hold -------------------------------------------------------------------------------------
    def _invoices(self) -> list[dict[str, Any]]:
        out = []
        for inv in self.c.v1.invoices.list(params={"limit": 100}).auto_paging_iter():
            doc = as_dict(inv)
            if doc["lines"]["has_more"]:
                doc["lines"]["data"] = [
                    as_dict(line)
                    for line in self.c.v1.invoices.line_items.list(
                        inv.id, params={"limit": 100}
                    ).auto_paging_iter()
                ]
            out.append(doc)
        return out

    def _pending(self) -> list[dict[str, Any]]:
        return [
            as_dict(i)
            for i in self.c.v1.invoice_items.list(params={"pending": True, "limit": 100}).auto_paging_iter()
        ]

    @invariant()
    def money_adds_up(self) -> None:
        invoices, pending = self._invoices(), self._pending()
        numbers: Counter[str] = Counter()
        for inv in invoices:
            lines = inv["lines"]["data"]
            assert sum(line["amount"] for line in lines) == inv["subtotal"], inv["id"]
            discounts = sum(d["amount"] for d in inv["total_discount_amounts"])
            assert discounts == sum(d["amount"] for line in lines for d in line["discount_amounts"]), inv[
                "id"
            ]
            exclusive = sum(t["amount"] for t in inv["total_taxes"] if t["tax_behavior"] == "exclusive")
            assert inv["total"] == inv["subtotal"] - discounts + exclusive, inv["id"]
            if inv["status"] in ("open", "paid"):
                assert inv["amount_paid"] + inv["amount_remaining"] == inv["amount_due"], inv["id"]
                numbers[inv["number"]] += 1
            if inv["status"] == "paid":
                assert inv["amount_remaining"] == 0, inv["id"]
            if inv["status"] == "draft":
                assert inv["number"] is None
        assert all(n == 1 for n in numbers.values()), numbers

        self._check_subscriptions(invoices, pending)
        self._check_one_offs(invoices, pending)
        self._check_previews(invoices)

    def _check_subscriptions(self, invoices: list[dict[str, Any]], pending: list[dict[str, Any]]) -> None:
        billed: dict[str, Fraction] = {s: Fraction(0) for s in self.model}
        lines_of: Counter[str] = Counter()
        periods: dict[tuple[str, int], list[str]] = {}
        for inv in invoices:
            if inv["status"] == "void":
                continue
            for line in inv["lines"]["data"]:
                parent = line["parent"] or {}
                details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
                sub_id = details.get("subscription")
                if sub_id not in billed:
                    continue
                net = line["amount"] - sum(d["amount"] for d in line["discount_amounts"])
                billed[sub_id] += net
                lines_of[sub_id] += 1
                if parent.get("type") == "subscription_item_details" and not details.get("proration"):
                    key = (details["subscription_item"], line["period"]["start"])
                    periods.setdefault(key, []).append(
                        f"{inv['id']} ({inv['billing_reason']}): {line['description']}"
                    )
        for item in pending:
            sub_id = ((item.get("parent") or {}).get("subscription_details") or {}).get("subscription")
            if sub_id in billed:
                billed[sub_id] += item["amount"]
                lines_of[sub_id] += 1
        twice = {key: where for key, where in periods.items() if len(where) > 1}
        assert not twice, f"periods billed twice: {twice}"
        for sub_id, model in self.model.items():
            slack = lines_of[sub_id] * (2 if model.coupon else 1)
            expected = model.expected_net()
            assert abs(billed[sub_id] - expected) <= slack, (
                f"{sub_id} billed {billed[sub_id]}, the model says {float(expected):.2f} (± {slack})"
            )

    def _check_one_offs(self, invoices: list[dict[str, Any]], pending: list[dict[str, Any]]) -> None:
        seen: Counter[str] = Counter(i["id"] for i in pending if i["id"] in self.one_offs)
        for inv in invoices:
            if inv["status"] == "void":
                continue
            for line in inv["lines"]["data"]:
                details = (line["parent"] or {}).get("invoice_item_details") or {}
                if details.get("invoice_item") in self.one_offs:
                    assert inv["customer"] == self.one_offs[details["invoice_item"]]
                    seen[details["invoice_item"]] += 1
        assert {i: seen[i] for i in self.one_offs} == dict.fromkeys(self.one_offs, 1), (
            "a one-off charge lost or doubled"
        )

    def _check_previews(self, invoices: list[dict[str, Any]]) -> None:
        for preview in self.previews:
            renewals = [
                i
                for i in invoices
                if i["billing_reason"] == "subscription_cycle"
                and ((i["parent"] or {}).get("subscription_details") or {}).get("subscription") == preview.sub
                and i["created"] == preview.period_start
            ]
            assert len(renewals) == 1, f"{len(renewals)} renewals of {preview.sub} at {preview.period_start}"
            got, want = renewals[0], preview.doc
            for key in ("subtotal", "total", "total_excluding_tax"):
                assert got[key] == want[key], (key, got[key], want[key])
            assert [(x["amount"], x["description"]) for x in got["lines"]["data"]] == [
                (x["amount"], x["description"]) for x in want["lines"]["data"]
            ]
        self.previews.clear()  # each is checked once, right after its renewal

    @invariant()
    def credit_notes_and_balances(self) -> None:
        notes: Counter[str] = Counter()
        refunds: Counter[str] = Counter()
        for note in self.c.v1.credit_notes.list(params={"limit": 100}).auto_paging_iter():
            if note.status != "void":
                notes[note.invoice] += note.total
                refunds[note.invoice] += sum(r.amount_refunded for r in note.refunds)
        for inv_id, total in notes.items():
            inv = self.c.v1.invoices.retrieve(inv_id)
            assert total <= inv.total
            assert inv.pre_payment_credit_notes_amount + inv.post_payment_credit_notes_amount == total
            assert refunds[inv_id] <= inv.amount_paid  # never refunds more than the card paid
        for model in self.model.values():
            customer = self.c.v1.customers.retrieve(model.customer)
            ledger = self.c.v1.customers.balance_transactions.list(model.customer, params={"limit": 100})
            assert customer.balance == sum(t.amount for t in ledger.auto_paging_iter())

    def teardown(self) -> None:
        if not self.model:
            return
        created: Counter[str] = Counter()
        paid: Counter[str] = Counter()
        for event in self.c.v1.events.list(params={"limit": 100}).auto_paging_iter():
            obj = event.data.object
            if event.type == "invoice.created":
                created[obj["id"]] += 1
            elif event.type == "invoice.paid":
                paid[obj["id"]] += 1
        for inv in self._invoices():
            assert created[inv["id"]] == 1, inv["id"]
            assert paid[inv["id"]] == (1 if inv["status"] == "paid" else 0), inv["id"]


def test_any_sequence_of_billing_operations_keeps_the_money_right(make_tenant: Callable[[], Tenant]) -> None:
    def machine() -> BillingMachine:
        return BillingMachine(make_tenant)

    options = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        phases=list(Phase) if os.environ.get("BILLFOLD_STATEFUL_SHRINK", "1") == "1" else list(Phase)[:3],
    )
    if SEED is not None:
        seed(int(SEED))(machine)
    RULES_RUN.clear()
    SCHEDULES.clear()
    run_state_machine_as_test(machine, settings=options)
    print("operations run:", dict(sorted(RULES_RUN.items())), "schedules:", dict(SCHEDULES))
    if SEED is None:  # every kind of operation ran in the CI's sequences, so each one's rules were exercised
        assert set(RULES_RUN) == {n for n in dir(BillingMachine) if n in OPERATIONS}, RULES_RUN
        assert SCHEDULES["phase entered"], "no schedule's phase was entered in the CI's sequences"
