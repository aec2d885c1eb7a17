"""Per-account billing settings: the renewal draft's finalization grace period and the ``invoice.upcoming`` lead time,
set with ``billfold settings set`` and applied to subscriptions driven by the official SDK on test clocks.

Stripe: the grace period is one hour by default and can be up to 72 hours
(https://docs.stripe.com/billing/subscriptions/usage-based/configure-grace-period); upcoming renewal events are sent
a configurable number of days before the renewal, or not at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import stripe

from billfold.main import Runtime
from tests.conftest import Tenant
from tests.support.clocks import advance, seats_on_clock

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86400
HOUR = 3600
FEB1 = 1_769_904_000


def _subscribe(c: stripe.StripeClient) -> tuple[str, str]:
    clock, _, sub = seats_on_clock(c, T0, 2)
    return clock, sub


def _upcoming(c: stripe.StripeClient) -> list[int]:
    return [e.created for e in c.v1.events.list(params={"type": "invoice.upcoming", "limit": 100}).data]


def test_a_longer_grace_period_keeps_the_renewal_a_draft(tenant: Tenant, runtime: Runtime) -> None:
    runtime.services.accounts.set_account_setting(tenant.account_id, "invoice_finalization_grace_hours", 24)
    c = tenant.client
    clock, sub = _subscribe(c)
    advance(c, clock, FEB1 + 2 * HOUR)
    renewal = c.v1.invoices.list(params={"subscription": sub, "limit": 1}).data[0]
    assert (renewal.status, renewal.automatically_finalizes_at) == ("draft", FEB1 + 24 * HOUR)
    advance(c, clock, FEB1 + 24 * HOUR + 1)
    renewal = c.v1.invoices.retrieve(renewal.id)
    assert (renewal.status, renewal.amount_paid) == ("paid", 19800)


def test_upcoming_notice_days_and_off(tenant: Tenant, runtime: Runtime, other_tenant: Tenant) -> None:
    accounts = runtime.services.accounts
    accounts.set_account_setting(tenant.account_id, "upcoming_invoice_notice_days", 7)
    c = tenant.client
    clock, _ = _subscribe(c)
    advance(c, clock, FEB1 - 7 * DAY - 1)
    assert _upcoming(c) == []
    advance(c, clock, FEB1 - 7 * DAY + 1)
    assert len(_upcoming(c)) == 1

    accounts.set_account_setting(other_tenant.account_id, "upcoming_invoice_notice_days", 0)
    o = other_tenant.client
    other_clock, _ = _subscribe(o)
    advance(o, other_clock, FEB1 + 2 * HOUR)
    assert _upcoming(o) == []


def _billfold(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BILLFOLD_DATABASE_URL=database_url, COLUMNS="200")
    billfold = Path(sys.executable).with_name("billfold")
    command = [str(billfold)] if billfold.exists() else [sys.executable, "-m", "billfold.cli"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_settings_command(database_url: str, runtime: Runtime) -> None:
    account = f"settings-{os.getpid()}-{id(runtime)}"
    done = _billfold(
        database_url, "settings", "set", "invoice_finalization_grace_hours", "12", "--account", account
    )
    assert done.returncode == 0, done.stderr + done.stdout
    account_id = runtime.services.accounts.ensure_account(account)
    assert runtime.services.accounts.account_setting(account_id, "invoice_finalization_grace_hours") == 12
    shown = _billfold(database_url, "settings", "show", "--account", account)
    assert "invoice_finalization_grace_hours = 12" in shown.stdout
    assert "upcoming_invoice_notice_days = 3 (default)" in shown.stdout
    assert "payment_retry_days = 3,5,7 (default)" in shown.stdout
    assert "failed_payment_subscription_action = cancel (default)" in shown.stdout
    # The dunning settings: a list of days and two choices.
    for name, value in (
        ("payment_retry_days", "2,4,8,16"),
        ("failed_payment_subscription_action", "unpaid"),
        ("failed_payment_invoice_action", "mark_uncollectible"),
    ):
        done = _billfold(database_url, "settings", "set", name, value, "--account", account)
        assert done.returncode == 0, done.stderr + done.stdout
    accounts = runtime.services.accounts
    assert accounts.account_setting(account_id, "payment_retry_days") == [2, 4, 8, 16]
    assert accounts.account_setting(account_id, "failed_payment_subscription_action") == "unpaid"
    shown = _billfold(database_url, "settings", "show", "--account", account)
    assert "payment_retry_days = 2,4,8,16" in shown.stdout
    assert "failed_payment_invoice_action = mark_uncollectible" in shown.stdout
    # Refused values change nothing and say why.
    for name, value, why in (
        ("invoice_finalization_grace_hours", "73", "between 1 and 72"),
        ("invoice_finalization_grace_hours", "two", "whole number"),
        ("draft_window", "2", "Unknown setting"),
        ("payment_retry_days", "5,3", "increasing"),
        ("payment_retry_days", "0,3", "increasing days between 1 and 60"),
        ("payment_retry_days", "1,2,3,4,5,6,7,8,9", "1 to 8 retries"),
        ("payment_retry_days", "3;5", "separated by commas"),
        ("failed_payment_subscription_action", "delete", "one of cancel, unpaid, past_due"),
    ):
        bad = _billfold(database_url, "settings", "set", name, value, "--account", account)
        assert bad.returncode == 2 and why in bad.stdout, bad.stdout
    assert runtime.services.accounts.account_setting(account_id, "invoice_finalization_grace_hours") == 12
    assert accounts.account_setting(account_id, "payment_retry_days") == [2, 4, 8, 16]
    assert accounts.account_setting(account_id, "failed_payment_subscription_action") == "unpaid"
