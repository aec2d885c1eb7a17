"""`billfold demo`: the reference customer's price list, read back through the official SDK, three months of billing
on test clocks (the command run as a subprocess, its results read through the SDK), and reruns that add nothing.
The expected amounts are the reference customer's price list (USD public; EUR, GBP, AUD set per price)."""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import stripe
from rich.console import Console
from sqlalchemy import func, select

from billfold.adapters.db.schema import audit_log, objects
from billfold.demo import AI_RESOLUTION, demo_customers, run_demo
from billfold.demo_timeline import (
    APR1,
    FEB15,
    JAN15,
    MAR15,
    SALES_LED_STORIES,
    SELF_SERVE_STORIES,
    START,
    resolutions,
)
from billfold.main import Runtime
from tests.conftest import make_client
from tests.support.emails import outbox_drained

# lookup key -> (interval, usage type, {currency: unit_amount}); annual seats are twelve months at the annual rate.
SEATS = {
    "essential_seat_monthly": ("month", {"usd": 3900, "eur": 3900, "gbp": 3500, "aud": 5900}),
    "essential_seat_annual": ("year", {"usd": 34800, "eur": 34800, "gbp": 30000, "aud": 52800}),
    "advanced_seat_monthly": ("month", {"usd": 9900, "eur": 9900, "gbp": 8500, "aud": 14900}),
    "advanced_seat_annual": ("year", {"usd": 102000, "eur": 102000, "gbp": 86400, "aud": 154800}),
    "expert_seat_monthly": ("month", {"usd": 13900, "eur": 13900, "gbp": 11900, "aud": 20900}),
    "expert_seat_annual": ("year", {"usd": 158400, "eur": 158400, "gbp": 134400, "aud": 238800}),
    "copilot_monthly": ("month", {"usd": 3500, "eur": 3500, "gbp": 3000, "aud": 5500}),
    "copilot_annual": ("year", {"usd": 34800, "eur": 34800, "gbp": 30000, "aud": 52800}),
}
# (up_to, flat_amount, unit_amount) per tier and currency
PROACTIVE = {
    "usd": [(500, 9900, 0), (5000, None, 10), (None, None, 5)],
    "eur": [(500, 9900, 0), (5000, None, 10), (None, None, 5)],
    "gbp": [(500, 8500, 0), (5000, None, 8), (None, None, 4)],
    "aud": [(500, 14900, 0), (5000, None, 15), (None, None, 8)],
}
SMS_WHATSAPP = {
    "usd": [(1000, None, 5), (10000, None, 3), (100000, None, 2), (None, None, 1)],
    "eur": [(1000, None, 5), (10000, None, 3), (100000, None, 2), (None, None, 1)],
    "gbp": [(1000, None, 4), (10000, None, 3), (100000, None, 2), (None, None, 1)],
    "aud": [(1000, None, 8), (10000, None, 5), (100000, None, 3), (None, None, 2)],
}
REFERENCE_COUNTRIES = {"US", "GB", "IE", "DE", "FR", "ES", "IT", "PT", "AU", "BR"}
LOCALES = {"US": "en-US", "GB": "en-GB", "IE": "en-IE", "DE": "de-DE", "FR": "fr-FR", "ES": "es-ES"}
LOCALES |= {"IT": "it-IT", "PT": "pt-PT", "AU": "en-AU", "BR": "pt-BR"}


def _demo(runtime: Runtime, account: str, customers: int) -> tuple[Any, str]:
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    result = run_demo(
        console, host="127.0.0.1", port=8420, customers=customers, runtime=runtime, account=account
    )
    return result, out.getvalue()


def _counts(runtime: Runtime, account_id: str) -> tuple[int, int]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(func.count()).select_from(objects).where(objects.c.account_id == account_id)
        )
        audits = conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.account_id == account_id)
        )
        return int(rows.scalar_one()), int(audits.scalar_one())


def _prices(client: stripe.StripeClient, keys: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for start in range(0, len(keys), 10):  # Stripe accepts at most 10 lookup_keys per list
        page = client.v1.prices.list(params={"lookup_keys": keys[start : start + 10], "limit": 100})
        found |= {p.lookup_key: p for p in page.data}
    return found


def _tiers(tiers: Any) -> list[tuple[int | None, int | None, int | None]]:
    return [(t["up_to"], t["flat_amount"], t["unit_amount"]) for t in tiers]


def test_demo_seeds_the_reference_price_list_once(runtime: Runtime, server_url: str) -> None:
    account = f"demo-{secrets.token_hex(4)}"
    result, output = _demo(runtime, account, customers=12)
    assert result.seeded_catalog is True and result.customers_added == 12
    assert result.timeline_steps == 2 * 4  # two test clocks (10 + 2 customers), four steps each
    assert result.api_key.startswith("sk_test_") and result.api_key in output
    assert (
        f'stripe.StripeClient("{result.api_key}", base_addresses={{"api": "http://127.0.0.1:8420"}})'
        in output
    )
    assert "advanced_seat_monthly" in output and "€99.00" in output and "A$149.00" in output

    client = make_client(server_url, result.api_key)
    keys = [*SEATS, "ai_resolution", "proactive_message", "sms_whatsapp_message"]
    prices = _prices(client, keys)
    assert sorted(prices) == sorted(keys)
    for key, (interval, amounts) in SEATS.items():
        price = prices[key]
        assert price.currency == "usd" and price.unit_amount == amounts["usd"], key
        assert price.recurring is not None and price.recurring.interval == interval, key
        assert price.recurring.usage_type == "licensed" and price.tax_behavior == "exclusive", key
        options = price.currency_options
        assert options is not None
        assert {c: options[c]["unit_amount"] for c in amounts} == amounts, key

    resolution = prices["ai_resolution"]
    assert resolution.recurring is not None and resolution.recurring.usage_type == "metered"
    assert resolution.unit_amount_decimal == Decimal("99")  # 99 cents per resolution
    assert resolution.currency_options is not None
    options = resolution.currency_options
    assert {c: Decimal(options[c]["unit_amount_decimal"]) for c in ("usd", "eur", "gbp", "aud")} == {
        "usd": Decimal("99"),
        "eur": Decimal("99"),
        "gbp": Decimal("85"),
        "aud": Decimal("149"),
    }
    for key, expected in (("proactive_message", PROACTIVE), ("sms_whatsapp_message", SMS_WHATSAPP)):
        price = prices[key]
        assert price.billing_scheme == "tiered" and price.tiers_mode == "graduated", key
        assert price.recurring is not None and price.recurring.usage_type == "metered", key
        assert _tiers(price.tiers) == expected["usd"], key
        assert price.currency_options is not None
        for currency in ("eur", "gbp", "aud"):
            assert _tiers(price.currency_options[currency]["tiers"]) == expected[currency], (key, currency)

    advanced = prices["advanced_seat_monthly"].product
    codes = client.v1.promotion_codes.list(params={"code": "ADVANCED20"}).data
    assert len(codes) == 1 and codes[0].active is True
    coupon = client.v1.coupons.retrieve(codes[0].promotion.coupon)
    assert coupon.id == "ADVANCED20_12M" and coupon.name == "20% off Advanced seats for 12 months"
    assert coupon.percent_off == 20 and coupon.duration == "repeating" and coupon.duration_in_months == 12
    assert coupon.applies_to is not None and coupon.applies_to.products == [advanced]
    rates = {
        (r.country, r.percentage, r.inclusive) for r in client.v1.tax_rates.list(params={"limit": 100}).data
    }
    assert {("DE", 19, False), ("FR", 20, False), ("GB", 20, False), ("AU", 10, False)} <= rates
    assert len(rates) == 9

    customers = list(client.v1.customers.list(params={"limit": 5}).auto_paging_iter())
    assert len(customers) == 12
    for cus in customers:
        assert cus.name and cus.email and cus.email.endswith(".example")
        assert cus.address is not None and cus.address.country in REFERENCE_COUNTRIES
        assert cus.preferred_locales == [LOCALES[cus.address.country]]

    # The worker delivers the demo's invoice e-mails on wall time, each with its event: let it finish first.
    outbox_drained(client)
    before = _counts(runtime, result.account_id)
    again, output = _demo(runtime, account, customers=12)
    assert again.account_id == result.account_id
    assert again.seeded_catalog is False and again.customers_added == 0 and again.customers_total == 12
    assert again.timeline_steps == 0 and "already run their three months" in output
    assert _counts(runtime, result.account_id) == before  # no object, event or audit row added
    assert again.api_key in output and "advanced_seat_monthly" in output  # the summary is printed again
    assert again.summary.invoices == result.summary.invoices
    assert sorted(_prices(make_client(server_url, again.api_key), keys)) == sorted(keys)

    # A top-up puts the new customers on a new clock of their own, which runs its three months; nothing else moves.
    topped, _ = _demo(runtime, account, customers=14)
    assert topped.customers_added == 2 and topped.timeline_steps == 4
    clocks = client.v1.test_helpers.test_clocks.list(params={"limit": 100}).data
    assert sorted(c.name for c in clocks) == [
        "Billfold demo: customers 1-10",
        "Billfold demo: customers 11-12",
        "Billfold demo: customers 13-14",
    ]
    assert {c.frozen_time for c in clocks} == {APR1} and {c.status for c in clocks} == {"ready"}
    for status, by_currency in result.summary.invoices.items():
        for currency, (count, _) in by_currency.items():
            assert topped.summary.invoices[status][currency][0] >= count


def test_demo_customers_cover_the_reference_countries_with_vat_ids() -> None:
    made = [c for c, _ in zip(demo_customers(), range(300), strict=False)]
    countries = {c["address"]["country"] for c in made}
    assert countries == REFERENCE_COUNTRIES
    vat = [t for c in made for t in c.get("tax_id_data", []) if t["type"] == "eu_vat"]
    assert len(vat) > 30 and all(re.fullmatch(r"(IE|DE|FR|ES|IT|PT)[0-9A-Z]{8,12}", t["value"]) for t in vat)
    assert len({c["email"] for c in made}) == 300
    # deterministic: customer i depends only on i, so a top-up continues the same list
    assert next(demo_customers(7)) == made[7]
    # Every story is told by the first twenty customers (stories go round within each segment).
    stories = Counter(c["metadata"]["story"] for c in made[:20])
    assert set(stories) == {*SELF_SERVE_STORIES, *SALES_LED_STORIES}
    cards = {
        c["metadata"]["story"]: (c.get("invoice_settings") or {}).get("default_payment_method") for c in made
    }
    assert cards["bank_transfer"] is None and cards["steady"] == "pm_card_visa"


# -- `billfold demo` as a command: three months on test clocks ---------------------------------------------------
@dataclass
class DemoRun:
    account: str
    api_key: str
    stdout: str
    seconds: float
    client: stripe.StripeClient


def _billfold(database_url: str, account: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = dict(os.environ, BILLFOLD_DATABASE_URL=database_url, COLUMNS="200")
    billfold = Path(sys.executable).with_name("billfold")
    command = [str(billfold)] if billfold.exists() else [sys.executable, "-m", "billfold.cli"]
    started = time.monotonic()
    done = subprocess.run(
        [*command, "demo", "--no-serve", "--customers", "20", "--account", account],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done, time.monotonic() - started


@pytest.fixture(scope="module")
def demo_run(database_url: str, server_url: str, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``billfold demo --no-serve --customers 20`` run once against the test database (SQLite or PostgreSQL), in an
    account of its own; the test server then answers the SDK for it."""
    account = f"demo-{secrets.token_hex(4)}"
    done, seconds = _billfold(database_url, account, tmp_path_factory.mktemp("demo"))
    snippet = re.search(
        r'stripe\.StripeClient\("(sk_test_[A-Za-z0-9]+)", base_addresses=\{"api": "http://127\.0\.0\.1:8420"\}\)',
        done.stdout,
    )
    assert snippet is not None, done.stdout
    key = snippet.group(1)
    return DemoRun(account, key, done.stdout, seconds, make_client(server_url, key))


def _all(listing: Any) -> list[Any]:
    return list(listing.auto_paging_iter())


def _invoices(run: DemoRun) -> list[stripe.Invoice]:
    return _all(run.client.v1.invoices.list(params={"limit": 100}))


def _customers(run: DemoRun) -> dict[str, stripe.Customer]:
    return {c.id: c for c in _all(run.client.v1.customers.list(params={"limit": 100}))}


JAN1_2027 = 1_798_761_600


def _round(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_demo_command_bills_three_months_on_test_clocks(demo_run: DemoRun) -> None:
    out = demo_run.stdout
    assert f"20 customers in account {demo_run.account} (20 added)" in out
    assert "Three months on 2 test clocks (Jan 1 - Apr 1, 2026) for 20 customers." in out
    clocks = demo_run.client.v1.test_helpers.test_clocks.list(params={"limit": 100}).data
    assert [(c.frozen_time, c.status) for c in clocks] == [(APR1, "ready")] * 2

    invoices = _invoices(demo_run)
    statuses = Counter(i.status for i in invoices)
    assert {"paid", "open", "draft"} <= set(statuses) <= {"paid", "open", "draft"}
    # The summary prints the counts the API reports.
    line = f"Invoices by status: {statuses['paid']} paid, {statuses['open']} open, {statuses['draft']} draft"
    assert f"{line} ({len(invoices)} in all)" in out, out

    customers = _customers(demo_run)
    story = {cid: c.metadata["story"] for cid, c in customers.items()}
    for inv in invoices:
        # Totals add up on every invoice (Stripe's definitions; core/invoice.py).
        lines = inv.lines.data
        assert inv.lines.has_more is False and len(lines) == inv.lines.total_count
        gross = sum(li.amount for li in lines)
        discounts = [d for li in lines for d in li.discount_amounts]
        line_level = sum(d.amount for li in lines for d in li.discount_amounts if d.discount in li.discounts)
        exclusive = sum(t.amount for li in lines for t in li.taxes if t.tax_behavior == "exclusive")
        assert inv.subtotal == gross - line_level, inv.id
        assert sum(d.amount for d in inv.total_discount_amounts) == sum(d.amount for d in discounts), inv.id
        assert inv.total == gross - sum(d.amount for d in discounts) + exclusive, inv.id
        assert sum(t.amount for t in inv.total_taxes) == sum(t.amount for li in lines for t in li.taxes), (
            inv.id
        )
        assert inv.amount_due == max(0, inv.total + inv.starting_balance), inv.id
        assert inv.amount_paid + inv.amount_remaining == inv.amount_due, inv.id
        assert all(li["explanation"] for li in lines), inv.id
        if inv.status == "draft":  # April's renewals, inside their draft window when the clocks stop
            assert inv.billing_reason == "subscription_cycle" and inv.period_start == APR1, inv.id
            assert inv.automatically_finalizes_at == APR1 + 3600, inv.id
        if inv.status == "open":  # a declined card: attempted, retried, left open
            assert story[str(inv.customer)] == "declined", inv.id
            assert inv.attempt_count > 1 and inv.amount_remaining == inv.amount_due > 0, inv.id

    lines = [li for inv in invoices for li in inv.lines.data]
    prorations = [li for li in lines if li.parent.subscription_item_details.proration]
    assert any(li.amount < 0 for li in prorations) and any(li.amount > 0 for li in prorations)
    assert any(d.amount > 0 for li in lines for d in li.discount_amounts)

    subs = _all(demo_run.client.v1.subscriptions.list(params={"status": "all", "limit": 100}))
    assert len(subs) == 20
    by_status = Counter(s.status for s in subs)
    reasons = Counter(s.cancellation_details.reason for s in subs if s.status == "canceled")
    # cancel at period end (March 1), and dunning after the declined card's last retry
    assert reasons["cancellation_requested"] >= 1 and reasons["payment_failed"] >= 1
    for sub in subs:
        if story[str(sub.customer)] in ("cancel", "declined"):
            assert sub.status == "canceled", sub.id
        if story[str(sub.customer)] == "cancel":
            assert sub.ended_at == 1_772_323_200  # March 1, the end of the period in which it was asked
    counts = ", ".join(
        f"{by_status[s]} {s}" for s in ("active", "trialing", "past_due", "canceled") if by_status[s]
    )
    assert f"Subscriptions by status: {counts}" in out, out
    assert "Revenue (paid invoices): " in out and "Example invoice " in out


def test_demo_upgrade_invoice_to_the_cent(demo_run: DemoRun) -> None:
    """The first self-serve customer upgrades Essential -> Advanced monthly seats on January 15: February's invoice
    credits 17/31 of the Essential seats, charges 17/31 of the Advanced seats, then February in advance."""
    customers = [c for c in _customers(demo_run).values() if c.metadata["story"] == "upgrade"]
    first = min(customers, key=lambda c: int(c.metadata["demo_index"]))
    seats = int(first.metadata["seats"])
    sub = _all(demo_run.client.v1.subscriptions.list(params={"customer": first.id, "status": "all"}))[0]
    currency = sub.currency
    essential = SEATS["essential_seat_monthly"][1][currency]
    advanced = SEATS["advanced_seat_monthly"][1][currency]
    copilot = int(first.metadata["copilot"]) * SEATS["copilot_monthly"][1][currency]
    invoices = _all(demo_run.client.v1.invoices.list(params={"subscription": sub.id, "limit": 100}))
    feb = next(
        i for i in invoices if i.period_start == 1_769_904_000 and i.billing_reason == "subscription_cycle"
    )
    fraction = Decimal(17) / Decimal(31)  # Jan 15 - Feb 1 of January's 31 days
    expected = sorted(
        [
            -_round(seats * essential * fraction),
            _round(seats * advanced * fraction),
            seats * advanced,
            *([copilot] if copilot else []),
        ]
    )
    assert sorted(li.amount for li in feb.lines.data) == expected
    rates = [t for li in feb.lines.data for t in li.taxes]
    tax = sum(t.amount for t in rates)
    assert feb.subtotal == sum(expected) and feb.total == sum(expected) + tax
    assert feb.status == "paid" and feb.amount_paid == feb.total
    credit = next(li for li in feb.lines.data if li.amount < 0)
    assert credit["lineage"]["proration"].to_dict() == {"seconds": 17 * 86400, "period_seconds": 31 * 86400}
    assert (credit.period.start, credit.period.end) == (JAN15, 1_769_904_000)


def test_demo_stories_leave_their_marks(demo_run: DemoRun) -> None:
    c = demo_run.client
    customers = _customers(demo_run)
    by_story: dict[str, list[stripe.Customer]] = {}
    for cus in customers.values():
        by_story.setdefault(cus.metadata["story"], []).append(cus)

    # Promotion code ADVANCED20: 20% off the Advanced seats on every invoice.
    promo = by_story["promo"][0]
    inv = c.v1.invoices.list(params={"customer": promo.id, "limit": 1}).data[0]
    seat = next(
        li for li in inv.lines.data if li.pricing.price_details.price == _price(c, "advanced_seat_monthly")
    )
    assert [d.amount for d in seat.discount_amounts] == [_round(Decimal(seat.amount) / 5)]

    # The ramp deal: a schedule of two yearly phases, 20% off in year one, 2.5 times the seats in year two.
    ramp = by_story["ramp"][0]
    seats = int(ramp.metadata["seats"])
    (sub,) = c.v1.subscriptions.list(params={"customer": ramp.id}).data
    schedule = c.v1.subscription_schedules.retrieve(str(sub.schedule))
    assert (
        schedule.status == "active" and schedule.end_behavior == "release" and schedule.subscription == sub.id
    )
    one, two = schedule.phases
    assert (one.start_date, one.end_date, two.end_date) == (START, JAN1_2027, JAN1_2027 + 365 * 86400)
    assert [i.quantity for i in one.items] == [seats] and [i.quantity for i in two.items] == [seats * 5 // 2]
    assert [d.coupon for d in one.discounts] == ["ADVANCED20_12M"] and not two.discounts
    (inv,) = c.v1.invoices.list(params={"subscription": sub.id}).data
    assert inv.status == "paid" and inv.period_end == JAN1_2027
    assert inv.lines.data[0].amount == seats * SEATS["advanced_seat_annual"][1][sub.currency]
    assert [d.amount for d in inv.total_discount_amounts] == [_round(Decimal(inv.lines.data[0].amount) / 5)]
    assert f"Subscription schedules (ramp deals): {len(by_story['ramp'])} active" in demo_run.stdout

    # Bank transfer: annual Expert seats invoiced with 30 days to pay, paid out of band on January 15.
    bank = by_story["bank_transfer"][0]
    (inv,) = c.v1.invoices.list(params={"customer": bank.id}).data
    assert inv.collection_method == "send_invoice" and inv.due_date == START + 30 * 86400
    assert inv.status == "paid" and inv.status_transitions.paid_at == JAN15 and inv.attempted is False

    # Expansion: more annual seats on February 15, invoiced at once for the rest of the year and paid.
    grow = by_story["expansion"][0]
    update = [
        i
        for i in c.v1.invoices.list(params={"customer": grow.id}).data
        if i.billing_reason == "subscription_update"
    ]
    assert len(update) == 1 and update[0].status == "paid" and update[0].created == FEB15
    assert sorted(li.amount > 0 for li in update[0].lines.data) == [False, True]

    # Fewer seats on March 15: the credit waits on April's draft.
    fewer = by_story["remove_seats"][0]
    draft = c.v1.invoices.list(params={"customer": fewer.id, "status": "draft"}).data[0]
    credits = [li for li in draft.lines.data if li.amount < 0]
    assert credits and all(li.period.start == MAR15 for li in credits)


def _price(c: stripe.StripeClient, lookup_key: str) -> str:
    return str(c.v1.prices.list(params={"lookup_keys": [lookup_key]}).data[0].id)


def test_demo_second_run_adds_nothing(
    demo_run: DemoRun, database_url: str, runtime: Runtime, tmp_path: Path
) -> None:
    invoices = len(_invoices(demo_run))
    account_id = runtime.services.accounts.ensure_account(demo_run.account)
    before = _counts(runtime, account_id)
    done, _ = _billfold(database_url, demo_run.account, tmp_path)
    assert "not seeding it again" in done.stdout and "(0 added)" in done.stdout
    assert "The 2 demo test clocks have already run their three months" in done.stdout
    assert _counts(runtime, account_id) == before  # no object, event or audit row
    assert len(_invoices(demo_run)) == invoices
    summary = re.search(r"Invoices by status: .*", done.stdout)
    assert summary is not None and summary.group(0) in demo_run.stdout  # the same summary, read again


def test_demo_bills_ai_resolutions_in_arrears(demo_run: DemoRun) -> None:
    """A steady self-serve customer reports each month's AI resolutions (one meter event on the 15th); each renewal
    bills the month that ended at $0.99 per resolution (or its price in the customer's currency)."""
    c = demo_run.client
    steady = [cus for cus in _customers(demo_run).values() if cus.metadata["story"] == "steady"]
    assert steady
    for cus in steady:
        index = int(cus.metadata["demo_index"])
        (sub,) = c.v1.subscriptions.list(params={"customer": cus.id}).data
        renewals = sorted(
            (
                i
                for i in _all(c.v1.invoices.list(params={"subscription": sub.id, "limit": 100}))
                if i.billing_reason == "subscription_cycle"
            ),
            key=lambda i: i.period_start,
        )
        assert len(renewals) == 3  # February, March, April (a draft)
        unit = AI_RESOLUTION[sub.currency]
        for step, inv in enumerate(renewals, start=1):
            [usage] = [li for li in inv.lines.data if li["lineage"]["usage_type"] == "metered"]
            expected = resolutions(index, step)
            assert usage.quantity == expected, (inv.id, step)
            assert usage.amount == _round(expected * unit), inv.id
            assert usage.period.end == inv.period_start  # in arrears: the month before the invoice's period
            assert "billed in arrears" in usage["explanation"]
