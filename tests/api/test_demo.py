"""`billfold demo`: the reference customer's price list, read back through the official SDK, and a rerun that adds
nothing. The expected amounts are the reference customer's price list (USD public; EUR, GBP, AUD set per price)."""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import stripe
from rich.console import Console
from sqlalchemy import func, select

from billfold.adapters.db.schema import audit_log, objects
from billfold.demo import demo_customers, run_demo
from billfold.main import Runtime
from tests.conftest import make_client

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

    before = _counts(runtime, result.account_id)
    again, output = _demo(runtime, account, customers=12)
    assert again.account_id == result.account_id
    assert again.seeded_catalog is False and again.customers_added == 0 and again.customers_total == 12
    assert _counts(runtime, result.account_id) == before  # no object, event or audit row added
    assert again.api_key in output and "advanced_seat_monthly" in output  # the summary is printed again
    assert sorted(_prices(make_client(server_url, again.api_key), keys)) == sorted(keys)


def test_demo_customers_cover_the_reference_countries_with_vat_ids() -> None:
    made = [c for c, _ in zip(demo_customers(), range(300), strict=False)]
    countries = {c["address"]["country"] for c in made}
    assert countries == REFERENCE_COUNTRIES
    vat = [t for c in made for t in c.get("tax_id_data", []) if t["type"] == "eu_vat"]
    assert len(vat) > 30 and all(re.fullmatch(r"(IE|DE|FR|ES|IT|PT)[0-9A-Z]{8,12}", t["value"]) for t in vat)
    assert len({c["email"] for c in made}) == 300
    # deterministic: customer i depends only on i, so a top-up continues the same list
    assert next(demo_customers(7)) == made[7]


def test_billfold_demo_command_prints_a_working_snippet(tmp_path: Path) -> None:
    env = dict(os.environ, BILLFOLD_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}", COLUMNS="200")
    billfold = Path(sys.executable).with_name("billfold")
    command = [str(billfold)] if billfold.exists() else [sys.executable, "-m", "billfold.cli"]
    done = subprocess.run(
        [*command, "demo", "--no-serve", "--customers", "20"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    snippet = re.search(
        r'stripe\.StripeClient\("(sk_test_[A-Za-z0-9]+)", base_addresses=\{"api": "http://127\.0\.0\.1:8420"\}\)',
        done.stdout,
    )
    assert snippet is not None, done.stdout
    assert "20 customers in account demo (20 added)" in done.stdout
