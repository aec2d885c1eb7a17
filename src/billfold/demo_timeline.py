"""The demo's three months: every demo customer's subscription lives from January 1st to April 1st, 2026 on test
clocks, through the same use cases and the same due-work dispatch (``due.run_due``) as the API and the worker.

Why this module exists: ``billfold demo`` should show the billing loop at work (renewals, prorations, a coupon, a
cancellation, declined cards, drafts waiting for their window) without anyone driving it by hand, and leave
invoices a support agent can read line by line.

Each customer's story is chosen when it is seeded (``story_metadata``, from its index and its rank in its segment,
so every story appears once the demo has a handful of customers) and kept in its metadata. The demo customers are
grouped on test clocks of ``CLOCK_SIZE``; a step moves one clock one stretch forward in one unit of work: the
stories' actions at the clock's time, then the advance with every due action of its customers in time order.
Work committed is never redone: a clock already at a step's end skips it, so an interrupted demo resumes where it
stopped, a second run does nothing, and customers added later get their own clocks and their own three months.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from billfold.app import billing, changes, due, invoicing, meters, schedules, subscriptions, test_clocks
from billfold.app.customers import update_customer
from billfold.app.metadata import merge_metadata
from billfold.app.ports import Doc, PaymentProcessor, Scope, Store, UnitOfWork

DAY = 86_400
START = 1_767_225_600  # 2026-01-01T00:00:00Z: every demo clock starts here
JAN15 = START + 14 * DAY
FEB15 = 1_769_904_000 + 14 * DAY
MAR15 = 1_772_323_200 + 14 * DAY
APR1 = 1_775_001_600  # the end: April's renewals are drafts, finalized an hour later (the draft window)
CLOCK_SIZE = 10  # customers per test clock: one clock's step is one small unit of work
CLOCK_NAME = "Billfold demo"


@dataclass(frozen=True)
class Step:
    label: str
    at: int  # the clock's time when the step's actions happen
    until: int  # where the step leaves the clock


STEPS = (
    Step("January 1: sign-ups", START, JAN15),
    Step("January 15: upgrades, seat changes; February renewals", JAN15, FEB15),
    Step("February 15: cancellations, cards, add-ons; March renewals", FEB15, MAR15),
    Step("March 15: seat changes; April renewals", MAR15, APR1),
)

# Stories by rank within the segment (the first customers of each segment cover them all).
SELF_SERVE_STORIES = (
    "upgrade",  # Essential -> Advanced on Jan 15: prorations on the February invoice
    "add_seats",  # more seats on Jan 15 and Mar 15 (the April draft carries the second proration)
    "cancel",  # cancel at period end on Feb 15: canceled on March 1
    "declined",  # the card starts declining on Feb 15: March's invoice fails, is retried, stays open; dunning cancels
    "promo",  # signs up with promotion code ADVANCED20 (20% off Advanced seats)
    "copilot",  # adds the Copilot add-on on Feb 15
    "steady",  # AI resolutions reported each month, billed in arrears
    "remove_seats",  # fewer seats on Mar 15: a credit on the April draft
    "steady",  # AI resolutions reported each month, billed in arrears
    "steady",  # AI resolutions reported each month, billed in arrears
)
SALES_LED_STORIES = (
    "ramp",  # a subscription schedule: year one at 20% off, year two at list price for 2.5 times the seats
    "annual_coupon",  # annual Advanced seats and Copilot, with coupon ADVANCED20_12M
    "bank_transfer",  # annual Expert seats invoiced (send_invoice, 30 days), paid by bank transfer on Jan 15
    "expansion",  # buys more seats on Feb 15, invoiced at once for the rest of the year (always_invoice)
)
PLANS = ("essential_seat", "advanced_seat", "expert_seat")
CURRENCY_BY_COUNTRY = {"US": "usd", "BR": "usd", "GB": "gbp", "AU": "aud"}  # the euro elsewhere
EU = {"IE", "DE", "FR", "ES", "IT", "PT"}


def clock_name(first: int, last: int) -> str:
    return f"{CLOCK_NAME}: customers {first}-{last}"


def story_metadata(index: int, segment: str, seats: int, rank: int) -> dict[str, str]:
    """What happens to demo customer ``index`` (the ``rank``-th of its segment): its story, seat plan, add-on."""
    rng = random.Random(f"billfold-demo-story-{index}")
    if segment == "self_serve":
        story = SELF_SERVE_STORIES[rank % len(SELF_SERVE_STORIES)]
        forced = {"upgrade": "essential_seat", "promo": "advanced_seat"}
        plan = forced.get(story) or rng.choices(PLANS, (40, 45, 15))[0]
        copilot = seats if story != "copilot" and rng.random() < 0.3 else 0
    else:
        story = SALES_LED_STORIES[rank % len(SALES_LED_STORIES)]
        plan = "expert_seat" if story == "bank_transfer" else "advanced_seat"
        copilot = seats // 2 if story == "annual_coupon" else 0
    return {"story": story, "plan": plan, "copilot": str(copilot), "demo_index": str(index)}


# -- the stories ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Catalog:
    prices: dict[str, str]  # lookup key -> price id
    coupon: str
    promotion_code: str | None
    tax_rates: dict[str, str]  # country -> tax rate id


def load_catalog(store: Store, coupon: str, promotion_code: str) -> Catalog:
    prices = {p["lookup_key"]: p["id"] for p in store.iterate("price", {}) if p.get("lookup_key")}
    codes = store.iterate("promotion_code", {"lookup": promotion_code.upper(), "active": True})
    promo = next(codes, None)
    rates: dict[str, str] = {}
    for rate in store.iterate("tax_rate", {}):
        if rate.get("country") and rate.get("active", True):
            rates.setdefault(rate["country"], rate["id"])
    return Catalog(prices, coupon, promo["id"] if promo else None, rates)


@dataclass
class Act:
    """One customer at one step: what an action needs."""

    store: Store
    wall_now: int
    at: int  # the clock's time
    customer: Doc
    catalog: Catalog
    processor: PaymentProcessor

    @property
    def meta(self) -> dict[str, str]:
        found: dict[str, str] = self.customer.get("metadata") or {}
        return found

    @property
    def interval(self) -> str:
        return "annual" if self.meta.get("segment") == "sales_led" else "monthly"

    def subscription(self) -> Doc | None:
        return next(self.store.iterate("subscription", {"customer": self.customer["id"]}), None)

    def change(self, items: list[Doc], behavior: str = "create_prorations") -> None:
        sub = self.subscription()
        if sub is not None and sub["status"] not in ("canceled", "incomplete_expired"):
            changes.change_items(self.store, self.wall_now, sub["id"], items, behavior, None, self.processor)

    def seats(self, delta: int, behavior: str = "create_prorations") -> None:
        sub = self.subscription()
        if sub is None:
            return
        item = sub["items"]["data"][0]
        quantity = max(1, int(item["quantity"] or 0) + delta)
        self.change([{"id": item["id"], "quantity": quantity}], behavior)


def _tax_rates(act: Act) -> list[str]:
    """The customer's country's rate; none for an EU business with a VAT id (reverse charge) or without a rate."""
    country = (act.customer.get("address") or {}).get("country")
    vat_ids = [t for t in (act.customer.get("tax_ids") or {}).get("data", []) if t["type"] == "eu_vat"]
    rate = act.catalog.tax_rates.get(country or "")
    return [] if rate is None or (country in EU and vat_ids) else [rate]


def sign_up(act: Act) -> None:
    meta, prices = act.meta, act.catalog.prices
    seats, copilot = int(meta["seats"]), int(meta.get("copilot") or 0)
    items: list[Doc] = [{"price": prices[f"{meta['plan']}_{act.interval}"], "quantity": seats}]
    if copilot:
        items.append({"price": prices[f"copilot_{act.interval}"], "quantity": copilot})
    if meta["story"] == "steady" and "ai_resolution" in prices:
        items.append({"price": prices["ai_resolution"]})  # outcome-based: billed in arrears per resolution
    country = (act.customer.get("address") or {}).get("country") or "US"
    values: Doc = {
        "customer": act.customer["id"],
        "items": items,
        "currency": CURRENCY_BY_COUNTRY.get(country, "eur"),
        "default_tax_rates": _tax_rates(act),
        "metadata": {"story": meta["story"]},
    }
    story = meta["story"]
    if story == "promo" and act.catalog.promotion_code:
        values["discounts"] = [{"promotion_code": act.catalog.promotion_code}]
    elif story == "annual_coupon":
        values["discounts"] = [{"coupon": act.catalog.coupon}]
    elif story == "bank_transfer":
        values |= {"collection_method": "send_invoice", "days_until_due": 30}
    elif story == "ramp":
        sell_ramp(act, values)
        return
    billing.start_subscription(act.store, act.wall_now, values, act.processor)


def sell_ramp(act: Act, values: Doc) -> None:
    """A ramp deal on a subscription schedule (https://docs.stripe.com/billing/subscriptions/subscription-schedules):
    year one at the sales-led discount, year two at list price for two and a half times the seats; then the
    schedule releases the subscription to renew as it is."""
    seats = values["items"][0]
    year = {"interval": "year", "interval_count": 1}
    common = {k: values[k] for k in ("currency", "default_tax_rates", "metadata")}
    year_two = [{**seats, "quantity": seats["quantity"] * 5 // 2}, *values["items"][1:]]
    schedule = {
        "customer": values["customer"],
        "start_date": "now",
        "end_behavior": "release",
        "phases": [
            common
            | {"items": values["items"], "discounts": [{"coupon": act.catalog.coupon}], "duration": year},
            common | {"items": year_two, "duration": year},
        ],
        "metadata": {"story": "ramp"},
    }
    schedules.create_schedule(act.store, act.wall_now, schedule, act.processor)


def upgrade(act: Act) -> None:
    sub = act.subscription()
    if sub is not None:
        # Stripe sets the quantity to 1 when an item's price changes without one: the seats go along.
        item = sub["items"]["data"][0]
        price = act.catalog.prices[f"advanced_seat_{act.interval}"]
        act.change([{"id": item["id"], "price": price, "quantity": item["quantity"]}])


def cancel_at_period_end(act: Act) -> None:
    sub = act.subscription()
    if sub is not None:
        subscriptions.update_subscription(act.store, act.wall_now, sub["id"], {"cancel_at_period_end": True})


def card_declines(act: Act) -> None:
    values = {"invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"}}
    update_customer(act.store, act.wall_now, act.customer["id"], values, merge_metadata)


def add_copilot(act: Act) -> None:
    quantity = int(act.meta["seats"])
    act.change([{"price": act.catalog.prices[f"copilot_{act.interval}"], "quantity": quantity}])


def bank_transfer_arrives(act: Act) -> None:
    for invoice in act.store.iterate("invoice", {"customer": act.customer["id"], "status": "open"}):
        invoicing.mark_paid(act.store, invoice, act.at, out_of_band=True)
        billing.after_invoice_paid(act.store, invoice, act.at)


def remove_seats(act: Act) -> None:
    act.seats(-max(1, int(act.meta["seats"]) // 3))


def resolutions(index: int, step: int) -> int:
    """How many conversations the AI resolved for demo customer ``index`` in the month before step ``step``."""
    return 20 + (index * 37 + step * 11) % 180


def report_resolutions(act: Act, step: int) -> None:
    """The product reports the month's AI resolutions as one meter event (billed on the next renewal)."""
    count = resolutions(int(act.meta.get("demo_index") or 0), step)
    meters.record_meter_event(
        act.store,
        act.wall_now,
        {
            "event_name": "ai_resolution",
            "identifier": f"demo-{act.customer['id']}-{step}",
            "timestamp": act.at,
            "payload": {"stripe_customer_id": act.customer["id"], "value": str(count)},
        },
    )


ACTIONS: dict[tuple[str, int], Callable[[Act], None]] = {
    ("steady", 1): lambda act: report_resolutions(act, 1),
    ("steady", 2): lambda act: report_resolutions(act, 2),
    ("steady", 3): lambda act: report_resolutions(act, 3),
    ("upgrade", 1): upgrade,
    ("add_seats", 1): lambda act: act.seats(max(2, int(act.meta["seats"]) // 4)),
    ("add_seats", 3): lambda act: act.seats(2),
    ("cancel", 2): cancel_at_period_end,
    ("declined", 2): card_declines,
    ("copilot", 2): add_copilot,
    ("remove_seats", 3): remove_seats,
    ("bank_transfer", 1): bank_transfer_arrives,
    ("expansion", 2): lambda act: act.seats(max(5, int(act.meta["seats"]) // 5), "always_invoice"),
}


# -- the clocks --------------------------------------------------------------------------------------------------
def demo_clocks(store: Store) -> list[Doc]:
    found = [
        c for c in store.iterate(test_clocks.CLOCK, {}) if str(c.get("name") or "").startswith(CLOCK_NAME)
    ]
    return sorted(found, key=lambda c: (c["created"], c["frozen_time"], str(c["name"])))


def run_step(
    store: Store, clock_id: str, step: Step, catalog: Catalog, processor: PaymentProcessor, wall_now: int
) -> bool:
    """The step's actions for the clock's customers, then the clock's advance; False if already done."""
    # Locked, so two demos started at once cannot both tell the same step (PostgreSQL; SQLite has one writer).
    clock = store.get(test_clocks.CLOCK, clock_id, for_update=True)
    if (
        clock is None
        or clock.get("deleted")
        or clock["frozen_time"] >= step.until
        or clock["status"] != "ready"
    ):
        return False
    if clock["frozen_time"] == step.at:
        customers = store.iterate("customer", {"test_clock": clock_id})
        for customer in sorted(customers, key=lambda c: int((c.get("metadata") or {}).get("demo_index", 0))):
            story = (customer.get("metadata") or {}).get("story")
            action = sign_up if step is STEPS[0] else ACTIONS.get((str(story), STEPS.index(step)))
            if story and action is not None:
                action(Act(store, wall_now, step.at, customer, catalog, processor))
    test_clocks.begin_advance(store, clock_id, step.until)

    def due_work(store: Store, clock: Doc, until: int) -> None:  # what the worker runs for an advancing clock
        due.run_due(store, until, clock["id"], processor)

    test_clocks.finish_advance(store, clock_id, due_work)
    return True


def run_timeline(
    console: Console,
    uow: UnitOfWork,
    scope: Scope,
    processor: PaymentProcessor,
    now: Callable[[], int],
    *,
    coupon: str,
    promotion_code: str,
) -> tuple[int, int]:
    """Every step not yet done on every demo clock, month by month, with a progress bar.

    Returns (steps run, demo clocks)."""
    with uow(scope) as store:
        clocks = demo_clocks(store)
        catalog = load_catalog(store, coupon, promotion_code)
    work = [(step, c["id"]) for step in STEPS for c in clocks if c["frozen_time"] < step.until]
    if not work:
        return 0, len(clocks)
    columns = (TextColumn("{task.description:<58}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    done = 0
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(work[0][0].label, total=len(work))
        for step, clock_id in work:
            progress.update(task, description=step.label)
            with uow(scope) as store:
                done += run_step(store, clock_id, step, catalog, processor, now())
            progress.advance(task)
        progress.update(task, description="April 1, 2026: three months billed")
    return done, len(clocks)
