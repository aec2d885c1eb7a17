"""Prices through the official stripe SDK over real HTTP, with Stripe's worked pricing examples."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import stripe

from billfold.core.pricing import PriceSpec, Tier, TransformQuantity, rate
from tests.api.test_meters import make_meter
from tests.api.test_products import event_types, rejected
from tests.conftest import Tenant

TIERED_URL = "https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing"


def spec_of(price: stripe.Price) -> PriceSpec:
    """The stored price, as core.pricing reads it: proves the document is a complete pricing program."""
    tiers = tuple(Tier(t.up_to, t.unit_amount_decimal, t.flat_amount_decimal) for t in (price.tiers or []))
    tq = price.transform_quantity
    return PriceSpec(
        billing_scheme="tiered" if price.billing_scheme == "tiered" else "per_unit",
        unit_amount_decimal=price.unit_amount_decimal,
        tiers_mode="volume" if price.tiers_mode == "volume" else "graduated" if price.tiers_mode else None,
        tiers=tiers,
        transform_quantity=TransformQuantity(tq.divide_by, "up" if tq.round == "up" else "down")
        if tq
        else None,
    )


# The reference customer's seat plans, per seat per month. The non-USD amounts are set per price (not converted).
SEATS = {
    "essential": (3900, {"eur": 3900, "gbp": 3500, "aud": 5900}),
    "advanced": (9900, {"eur": 9900, "gbp": 8500, "aud": 14900}),
    "expert": (13900, {"eur": 13900, "gbp": 11900, "aud": 20900}),
    "copilot": (3500, {"eur": 3500, "gbp": 2900, "aud": 5500}),
}


def test_reference_customer_catalog(tenant: Tenant) -> None:
    c = tenant.client
    seats = c.v1.products.create(params={"name": "Helpdesk seat", "unit_label": "seat"})
    made = {}
    for plan, (usd, others) in SEATS.items():
        made[plan] = c.v1.prices.create(
            params={
                "product": seats.id,
                "currency": "usd",
                "unit_amount": usd,
                "recurring": {"interval": "month"},
                "currency_options": {cur: {"unit_amount": amount} for cur, amount in others.items()},
                "lookup_key": f"{plan}_monthly",
                "nickname": plan.capitalize(),
                "tax_behavior": "exclusive",
            }
        )
    essential = made["essential"]
    assert essential.id.startswith("price_") and essential.object == "price"
    assert essential.unit_amount == 3900 and essential.unit_amount_decimal == Decimal("3900")
    assert essential.type == "recurring" and essential.billing_scheme == "per_unit"
    assert essential.recurring is not None
    assert (essential.recurring.interval, essential.recurring.interval_count) == ("month", 1)
    assert essential.recurring.usage_type == "licensed" and essential.recurring.meter is None
    assert essential.tiers is None and essential.transform_quantity is None
    options = essential.currency_options
    assert options is not None and sorted(options.to_dict()) == ["aud", "eur", "gbp", "usd"]
    assert {cur: options[cur].unit_amount for cur in options.to_dict()} == {
        "usd": 3900,
        "eur": 3900,
        "gbp": 3500,
        "aud": 5900,
    }
    assert options["gbp"].unit_amount_decimal == "3500" and options["gbp"].tax_behavior == "exclusive"

    # AI resolutions: 0.99 USD each, billed in arrears from usage: unit_amount_decimal "99" (cents), metered.
    meter = make_meter(c, "ai_resolution")
    resolutions = c.v1.prices.create(
        params={
            "product_data": {"name": "AI resolutions", "unit_label": "resolution"},
            "currency": "usd",
            "unit_amount_decimal": Decimal("99"),
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
            "currency_options": {"eur": {"unit_amount_decimal": Decimal("99")}, "gbp": {"unit_amount": 85}},
            "lookup_key": "ai_resolution",
        }
    )
    assert resolutions.unit_amount == 99 and resolutions.unit_amount_decimal == Decimal("99")
    assert resolutions.recurring is not None and resolutions.recurring.usage_type == "metered"
    assert resolutions.recurring.meter == meter.id
    assert rate(spec_of(resolutions), 1234).amount == 122166

    found = c.v1.prices.list(
        params={"lookup_keys": ["advanced_monthly", "ai_resolution"], "expand": ["data.product"]}
    )
    assert [p.id for p in found.data] == [resolutions.id, made["advanced"].id]
    assert (
        isinstance(found.data[0].product, stripe.Product) and found.data[0].product.name == "AI resolutions"
    )
    assert event_types(tenant) == ["product.created"] + ["price.created"] * 4 + [
        "billing.meter.created",
        "product.created",
        "price.created",
    ]


def test_fractional_unit_amount_decimal(tenant: Tenant) -> None:
    prod = tenant.client.v1.products.create(params={"name": "Tokens"})
    price = tenant.client.v1.prices.create(
        params={"product": prod.id, "currency": "usd", "unit_amount_decimal": Decimal("0.000000000001")}
    )
    assert price.unit_amount is None and price.unit_amount_decimal == Decimal("0.000000000001")
    assert price.type == "one_time" and price.recurring is None
    jpy = tenant.client.v1.prices.create(
        params={"product": prod.id, "currency": "jpy", "unit_amount_decimal": "12.50"}
    )
    assert jpy.unit_amount is None and jpy.unit_amount_decimal == Decimal("12.5")
    idr = tenant.client.v1.prices.create(
        params={"product": prod.id, "currency": "idr", "unit_amount": 999_999_999_999}
    )
    assert idr.unit_amount == 999_999_999_999


def _typographic_tiers() -> list[dict[str, Any]]:
    # 1-5 fonts at 7 USD, 6-10 at 6.50 USD, 11+ at 6 USD (in cents). TIERED_URL, "Typographic".
    return [
        {"up_to": 5, "unit_amount": 700},
        {"up_to": 10, "unit_amount": 650},
        {"up_to": "inf", "unit_amount": 600},
    ]


def test_graduated_and_volume_tiers(tenant: Tenant) -> None:
    c = tenant.client
    fonts = c.v1.products.create(params={"name": "Fonts"})
    common = {
        "product": fonts.id,
        "currency": "usd",
        "recurring": {"interval": "month"},
        "billing_scheme": "tiered",
    }
    graduated = c.v1.prices.create(
        params={**common, "tiers_mode": "graduated", "tiers": _typographic_tiers()}
    )
    volume = c.v1.prices.create(params={**common, "tiers_mode": "volume", "tiers": _typographic_tiers()})
    assert graduated.unit_amount is None and graduated.unit_amount_decimal is None
    assert graduated.tiers is not None
    assert [t.up_to for t in graduated.tiers] == [5, 10, None]
    assert [(t.unit_amount, t.unit_amount_decimal, t.flat_amount) for t in graduated.tiers] == [
        (700, Decimal("700"), None),
        (650, Decimal("650"), None),
        (600, Decimal("600"), None),
    ]
    # Graduated: 5 x 7 + 3 x 6.50 = 54.50 USD for 8 fonts; volume: 8 x 6.50 = 52 USD.
    assert rate(spec_of(graduated), 8).amount == 5450
    assert rate(spec_of(volume), 8).amount == 5200
    assert c.v1.prices.retrieve(volume.id).to_dict() == volume.to_dict()

    # "Add a flat rate": per-tier flat fees (TIERED_URL#add-a-flat-rate), flat_amount_decimal given as a string.
    flat = c.v1.prices.create(
        params={
            **common,
            "tiers_mode": "volume",
            "tiers": [
                {"up_to": 5, "unit_amount": 500, "flat_amount": 1000},
                {"up_to": 10, "unit_amount": 400, "flat_amount_decimal": Decimal("2000")},
                {"up_to": 15, "unit_amount": 300, "flat_amount": 3000},
                {"up_to": 20, "unit_amount": 200, "flat_amount": 4000},
                {"up_to": "inf", "unit_amount": 100, "flat_amount": 5000},
            ],
            "currency_options": {
                "eur": {
                    "tiers": [
                        {"up_to": 5, "unit_amount": 450, "flat_amount": 900},
                        {"up_to": 10, "unit_amount": 360, "flat_amount": 1800},
                        {"up_to": 15, "unit_amount": 270, "flat_amount": 2700},
                        {"up_to": 20, "unit_amount": 180, "flat_amount": 3600},
                        {"up_to": "inf", "unit_amount": 90, "flat_amount": 4500},
                    ]
                }
            },
        }
    )
    assert flat.tiers is not None and flat.tiers[1].flat_amount == 2000
    assert (
        rate(spec_of(flat), 0).amount == 1000
    )  # "Stripe always bills the first flat rate tier when quantity=0"
    options = flat.currency_options
    assert (
        options is not None
        and options["eur"].tiers is not None
        and options["eur"].tiers[4].flat_amount == 4500
    )
    assert options["usd"].tiers is not None and len(options["usd"].tiers) == 5

    # Alpaca AI: 100,000 tokens free, then 0.1 cent per token (docs.stripe.com/billing/subscriptions/usage-based/pricing-models).
    tokens = c.v1.prices.create(
        params={
            **common,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": make_meter(c, "tokens").id},
            "tiers_mode": "graduated",
            "tiers": [{"up_to": 100_000, "unit_amount": 0}, {"up_to": "inf", "unit_amount_decimal": "0.1"}],
        }
    )
    assert tokens.tiers is not None and tokens.tiers[1].unit_amount is None
    assert tokens.tiers[1].unit_amount_decimal == Decimal("0.1")
    assert rate(spec_of(tokens), 150_000).amount == 5000


def test_package_pricing_with_transform_quantity(tenant: Tenant) -> None:
    """Car rental: 10 USD per hour, minutes rounded up to hours; 150 minutes cost 30 USD.
    https://docs.stripe.com/billing/subscriptions/usage-based/transform-quantities"""
    prod = tenant.client.v1.products.create(params={"name": "Car rental"})
    price = tenant.client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 1000,
            "recurring": {
                "interval": "month",
                "usage_type": "metered",
                "meter": make_meter(tenant.client, "rental_minutes").id,
            },
            "transform_quantity": {"divide_by": 60, "round": "up"},
        }
    )
    assert price.transform_quantity is not None
    assert (price.transform_quantity.divide_by, price.transform_quantity.round) == (60, "up")
    assert rate(spec_of(price), 150).amount == 3000


def test_update_mutable_fields_and_archive(tenant: Tenant) -> None:
    c = tenant.client
    prod = c.v1.products.create(params={"name": "Copilot"})
    price = c.v1.prices.create(
        params={"product": prod.id, "currency": "usd", "unit_amount": 3500, "metadata": {"a": "1"}}
    )
    assert price.tax_behavior == "unspecified" and price.active is True
    upd = c.v1.prices.update(
        price.id,
        params={"nickname": "Copilot seat", "metadata": {"a": "", "b": "2"}, "tax_behavior": "inclusive"},
    )
    assert upd.nickname == "Copilot seat" and upd.metadata.to_dict() == {"b": "2"}
    assert upd.tax_behavior == "inclusive"
    assert upd.currency_options is not None and upd.currency_options["usd"].tax_behavior == "inclusive"
    rejected(
        tenant,
        lambda: c.v1.prices.update(price.id, params={"tax_behavior": "exclusive"}),
        400,
        "tax_behavior",
        "cannot be changed",
    )
    for immutable in ({"unit_amount": 4000}, {"currency": "eur"}, {"recurring": {"interval": "year"}}):
        param = next(iter(immutable))
        rejected(
            tenant,
            lambda immutable=immutable: c.v1.prices.update(price.id, params=immutable),  # type: ignore[misc]
            400,
            param,
            f"Received unknown parameter: {param}",
        )
    archived = c.v1.prices.update(price.id, params={"active": False})
    assert archived.active is False
    assert [p.id for p in c.v1.prices.list(params={"active": False}).data] == [price.id]
    assert c.v1.prices.list(params={"active": True}).data == []
    assert event_types(tenant) == ["product.created", "price.created", "price.updated", "price.updated"]
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.prices.retrieve("price_missing")
    assert err.value.http_status == 404 and err.value.code == "resource_missing"


def test_currency_options_update(tenant: Tenant) -> None:
    c = tenant.client
    prod = c.v1.products.create(params={"name": "Expert"})
    price = c.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 13900,
            "currency_options": {"eur": {"unit_amount": 13900}},
        }
    )
    upd = c.v1.prices.update(
        price.id, params={"currency_options": {"gbp": {"unit_amount": 11900}, "eur": {"unit_amount": 12900}}}
    )
    assert upd.currency_options is not None
    assert {k: v["unit_amount"] for k, v in upd.currency_options.to_dict().items()} == {
        "eur": 12900,
        "gbp": 11900,
        "usd": 13900,
    }
    rejected(
        tenant,
        lambda: c.v1.prices.update(price.id, params={"currency_options": {"usd": {"unit_amount": 1}}}),
        400,
        "currency_options[usd]",
        "own currency",
    )
    cleared = c.v1.prices.update(price.id, params={"currency_options": ""})
    assert cleared.currency_options is not None and list(cleared.currency_options.to_dict()) == ["usd"]


def test_lookup_key_is_unique_and_transfers(tenant: Tenant) -> None:
    c = tenant.client
    prod = c.v1.products.create(params={"name": "Essential"})
    base = {"product": prod.id, "currency": "usd", "recurring": {"interval": "month"}}
    old = c.v1.prices.create(params={**base, "unit_amount": 3900, "lookup_key": "essential_monthly"})
    err = rejected(
        tenant,
        lambda: c.v1.prices.create(params={**base, "unit_amount": 4200, "lookup_key": "essential_monthly"}),
        400,
        "lookup_key",
        f"A price (`{old.id}`) already uses the lookup key",
    )
    assert err.code == "lookup_key_already_exists"
    new = c.v1.prices.create(
        params={**base, "unit_amount": 4200, "lookup_key": "essential_monthly", "transfer_lookup_key": True}
    )
    assert new.lookup_key == "essential_monthly"
    assert c.v1.prices.retrieve(old.id).lookup_key is None
    assert [p.id for p in c.v1.prices.list(params={"lookup_keys": ["essential_monthly"]}).data] == [new.id]
    assert event_types(tenant)[-2:] == ["price.updated", "price.created"]

    # On update: taken without transfer is refused; with transfer it moves back; "" unsets.
    rejected(
        tenant,
        lambda: c.v1.prices.update(old.id, params={"lookup_key": "essential_monthly"}),
        400,
        "lookup_key",
        f"A price (`{new.id}`) already uses the lookup key",
    )
    moved = c.v1.prices.update(
        old.id, params={"lookup_key": "essential_monthly", "transfer_lookup_key": True}
    )
    assert moved.lookup_key == "essential_monthly" and c.v1.prices.retrieve(new.id).lookup_key is None
    assert c.v1.prices.update(old.id, params={"lookup_key": ""}).lookup_key is None
    # Lookup keys are per account and mode.
    live_prod = tenant.live_client.v1.products.create(params={"name": "Essential"})
    live = tenant.live_client.v1.prices.create(
        params={
            "product": live_prod.id,
            "currency": "usd",
            "unit_amount": 1,
            "lookup_key": "essential_monthly",
        }
    )
    assert live.lookup_key == "essential_monthly" and live.livemode is True


def test_list_filters_and_pagination(tenant: Tenant) -> None:
    c = tenant.client
    a = c.v1.products.create(params={"name": "A"})
    b = c.v1.products.create(params={"name": "B"})
    meter = make_meter(c)
    made = []
    for i in range(23):
        params: dict[str, Any] = {"product": a.id if i % 2 else b.id, "currency": "usd" if i % 3 else "eur"}
        params["unit_amount"] = 100 + i
        if i % 4 == 0:
            interval = "year" if i % 8 == 0 else "month"
            params["recurring"] = {"interval": interval, "usage_type": "metered", "meter": meter.id}
        elif i % 4 == 1:
            params["recurring"] = {"interval": "month"}
        made.append(c.v1.prices.create(params=params))
    newest_first = list(reversed(made))
    page = c.v1.prices.list(params={"limit": 10})
    assert page.url == "/v1/prices" and page.has_more is True
    assert [p.id for p in page.data] == [p.id for p in newest_first[:10]]
    assert [p.id for p in c.v1.prices.list(params={"limit": 6}).auto_paging_iter()] == [
        p.id for p in newest_first
    ]

    def ids(params: dict[str, Any]) -> list[str]:
        return [p.id for p in c.v1.prices.list(params={"limit": 3, **params}).auto_paging_iter()]

    assert ids({"product": a.id}) == [p.id for p in newest_first if p.product == a.id]
    assert ids({"currency": "eur"}) == [p.id for p in newest_first if p.currency == "eur"]
    assert ids({"type": "one_time"}) == [p.id for p in newest_first if p.type == "one_time"]
    metered = [p.id for p in newest_first if p.recurring and p.recurring.usage_type == "metered"]
    assert ids({"recurring": {"usage_type": "metered"}}) == metered
    yearly = [p.id for p in newest_first if p.recurring and p.recurring.interval == "year"]
    assert ids({"recurring": {"interval": "year"}}) == yearly and len(yearly) == 3
    monthly_a = [
        p.id for p in newest_first if p.recurring and p.recurring.interval == "month" and p.product == a.id
    ]
    assert ids({"recurring": {"interval": "month"}, "product": a.id}) == monthly_a
    before = c.v1.prices.list(
        params={"recurring": {"usage_type": "metered"}, "ending_before": metered[-1], "limit": 2}
    )
    assert [p.id for p in before.data] == metered[-3:-1] and before.has_more is True
    created = c.v1.prices.list(params={"created": {"gte": made[0].created}, "limit": 100})
    assert len(created.data) == 23
    expanded = c.v1.prices.list(params={"limit": 2, "expand": ["data.product"]})
    assert all(isinstance(p.product, stripe.Product) for p in expanded.data)
    rejected(
        tenant,
        lambda: c.v1.prices.list(params={"lookup_keys": [str(i) for i in range(11)]}),
        400,
        "lookup_keys",
        "at most 10",
    )
    rejected(
        tenant,
        lambda: c.v1.prices.list(params={"starting_after": "price_nope"}),
        404,
        "starting_after",
        "No such price",
    )


def test_search(tenant: Tenant) -> None:
    c = tenant.client
    prod = c.v1.products.create(params={"name": "Seats"})
    usd = c.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 3900,
            "lookup_key": "essential",
            "metadata": {"plan": "essential"},
        }
    )
    eur = c.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "eur",
            "unit_amount": 3900,
            "recurring": {"interval": "month"},
        }
    )
    assert [p.id for p in c.v1.prices.search(params={"query": "currency:'eur'"}).data] == [eur.id]
    assert [p.id for p in c.v1.prices.search(params={"query": "lookup_key:'essential'"}).data] == [usd.id]
    r = c.v1.prices.search(params={"query": f"product:'{prod.id}' AND type:'recurring'"})
    assert [p.id for p in r.data] == [eur.id]
    r = c.v1.prices.search(params={"query": "metadata['plan']:'essential' OR currency:'eur'", "limit": 1})
    assert {p.id for p in r.auto_paging_iter()} == {usd.id, eur.id}
    rejected(
        tenant, lambda: c.v1.prices.search(params={"query": "nickname:'x'"}), 400, "query", "unsupported"
    )


def test_product_of_other_account_or_mode_is_missing(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = other_tenant.client.v1.products.create(params={"name": "Theirs"})
    live = tenant.live_client.v1.products.create(params={"name": "Live"})
    for product_id in (theirs.id, live.id):
        err = rejected(
            tenant,
            lambda product_id=product_id: tenant.client.v1.prices.create(  # type: ignore[misc]
                params={"product": product_id, "currency": "usd", "unit_amount": 100}
            ),
            404,
            "product",
            f"No such product: '{product_id}'",
        )
        assert err.code == "resource_missing"
    mine = tenant.client.v1.prices.create(
        params={"product_data": {"name": "Mine"}, "currency": "usd", "unit_amount": 1}
    )
    with pytest.raises(stripe.InvalidRequestError) as missing:
        other_tenant.client.v1.prices.retrieve(mine.id)
    assert missing.value.http_status == 404
    assert tenant.live_client.v1.prices.list().data == []


TIERS_OK = [{"up_to": 10, "unit_amount": 100}, {"up_to": "inf", "unit_amount": 50}]
ONE = {"currency": "usd", "unit_amount": 1}
TIERED = {"currency": "usd", "billing_scheme": "tiered", "tiers_mode": "graduated"}
BAD_CREATE: list[tuple[dict[str, Any], str, str]] = [
    ({"unit_amount": 100}, "currency", "Missing required param: currency"),
    ({"currency": "usx", "unit_amount": 100}, "currency", "Invalid currency: usx"),
    ({"currency": "usd", "unit_amount": -1}, "unit_amount", "must be greater than or equal to 0"),
    ({"currency": "usd", "unit_amount_decimal": "-0.5"}, "unit_amount_decimal", "greater than or equal to 0"),
    ({"currency": "usd", "unit_amount": 100_000_000}, "unit_amount", "less than or equal to 99999999"),
    ({"currency": "usd", "unit_amount_decimal": "0.0000000000001"}, "unit_amount_decimal", "at most 12 decimal"),
    ({"currency": "usd", "unit_amount_decimal": "lots"}, "unit_amount_decimal", "Invalid decimal"),
    ({**ONE, "unit_amount_decimal": "1"}, "unit_amount_decimal", "only specify one"),
    ({"currency": "usd"}, "unit_amount", "Missing required param: unit_amount"),
    ({"currency": "usd", "unit_amount": "ten"}, "unit_amount", "Invalid integer: ten"),
    ({**ONE, "colour": "red"}, "colour", "Received unknown parameter: colour"),
    ({**ONE, "metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", "50 keys"),
    ({**ONE, "lookup_key": "k" * 201}, "lookup_key", "at most 200"),
    ({**ONE, "active": "maybe"}, "active", "Invalid boolean"),
    ({**ONE, "recurring": "monthly"}, "recurring", "must be a hash"),
    ({**ONE, "recurring": {"interval": "fortnight"}}, "recurring[interval]", "must be one of"),
    ({**ONE, "recurring": {"interval_count": 2}}, "recurring[interval]", "Missing required"),
    ({**ONE, "recurring": {"interval": "week", "interval_count": 157}}, "recurring[interval_count]", "is 156"),
    ({**ONE, "recurring": {"interval": "month", "interval_count": 0}}, "recurring[interval_count]", "positive"),
    ({**ONE, "recurring": {"interval": "month", "meter": "mtr_1"}}, "recurring[meter]", "usage_type]=metered"),
    ({**ONE, "tiers": TIERS_OK}, "tiers", "billing_scheme=tiered"),
    ({**TIERED, "tiers_mode": None, "tiers": TIERS_OK}, "tiers_mode", "Missing required param"),
    (TIERED, "tiers", "Missing required param"),
    ({**TIERED, "tiers": TIERS_OK, "unit_amount": 5}, "unit_amount", "cannot be set when billing_scheme=tiered"),
    ({**TIERED, "tiers": [{"up_to": 10, "unit_amount": 1}]}, "tiers", "last tier must have up_to=inf"),
    ({**TIERED, "tiers": [{"up_to": 10, "unit_amount": 1}, {"up_to": 5, "unit_amount": 1}, *TIERS_OK[1:]]}, "tiers", "strictly ascending"),
    ({**TIERED, "tiers": [{"up_to": "inf"}]}, "tiers", "needs a unit amount or a flat amount"),
    ({**TIERED, "tiers": [{"up_to": "lots", "unit_amount": 1}]}, "tiers[0][up_to]", "Invalid integer"),
    ({**TIERED, "tiers": [{"up_to": "inf", "flat_amount": 1, "flat_amount_decimal": "1"}]}, "tiers[0][flat_amount_decimal]", "only specify one"),
    ({**TIERED, "tiers": TIERS_OK, "transform_quantity": {"divide_by": 60, "round": "up"}}, "transform_quantity", "cannot be combined with tiered"),
    ({**ONE, "transform_quantity": {"divide_by": 0, "round": "up"}}, "transform_quantity[divide_by]", "greater than or equal to 1"),
    ({**ONE, "transform_quantity": {"divide_by": 6, "round": "nearest"}}, "transform_quantity[round]", "must be one of"),
    ({**ONE, "tax_behavior": "sometimes"}, "tax_behavior", "must be one of"),
    ({**ONE, "currency_options": {"xyz": {"unit_amount": 1}}}, "currency_options[xyz]", "Invalid currency"),
    ({**ONE, "currency_options": {"eur": {"tax_behavior": "exclusive"}}}, "currency_options[eur][unit_amount]", "Missing"),
    ({**ONE, "currency_options": {"eur": {"unit_amount": -5}}}, "currency_options[eur][unit_amount]", "greater than or equal to 0"),
    ({**ONE, "currency_options": {"usd": {"unit_amount": 2}}}, "currency_options[usd]", "own currency"),
    ({**TIERED, "tiers": TIERS_OK, "currency_options": {"eur": {"tiers": TIERS_OK[1:]}}}, "currency_options[eur][tiers]", "same up_to values"),
    ({**ONE, "custom_unit_amount": {"enabled": True}}, "custom_unit_amount", "not supported"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "param", "fragment"), BAD_CREATE)
def test_bad_create_writes_nothing(tenant: Tenant, params: dict[str, Any], param: str, fragment: str) -> None:
    prod = tenant.client.v1.products.create(params={"name": "Seats"})
    rejected(
        tenant,
        lambda: tenant.client.v1.prices.create(params={"product": prod.id, **params}),
        400,
        param,
        fragment,
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({"currency": "usd", "unit_amount": 1}, "product", "Missing required param: product"),
        (
            {"currency": "usd", "unit_amount": 1, "product": "prod_x", "product_data": {"name": "x"}},
            "product_data",
            "only specify one",
        ),
        (
            {"currency": "usd", "unit_amount": 1, "product_data": {"unit_label": "seat"}},
            "product_data[name]",
            "Missing",
        ),
        (
            {
                "currency": "usd",
                "unit_amount": 1,
                "product_data": {"name": "x", "statement_descriptor": "123"},
            },
            "product_data[statement_descriptor]",
            "at least one letter",
        ),
        # The product is only created when the whole request is valid.
        (
            {"currency": "usd", "unit_amount": -1, "product_data": {"name": "x"}},
            "unit_amount",
            "greater than or equal",
        ),
    ],
)
def test_bad_product_reference_writes_nothing(
    tenant: Tenant, params: dict[str, Any], param: str, fragment: str
) -> None:
    rejected(tenant, lambda: tenant.client.v1.prices.create(params=params), 400, param, fragment)  # type: ignore[arg-type]


def test_expanding_includable_fields_is_accepted(tenant: Tenant) -> None:
    # Stripe returns tiers/currency_options only on request; clients send these expands routinely.
    c = tenant.client
    product = c.v1.products.create(params={"name": "Messages"})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "recurring": {"interval": "month", "usage_type": "metered", "meter": make_meter(c).id},
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [
                {"up_to": 1000, "unit_amount_decimal": "5"},
                {"up_to": "inf", "unit_amount_decimal": "1"},
            ],
        }
    )
    got = c.v1.prices.retrieve(price.id, params={"expand": ["tiers", "currency_options"]})
    assert got.tiers is not None and [t.up_to for t in got.tiers] == [1000, None]
    listed = c.v1.prices.list(params={"expand": ["data.tiers"]})
    assert listed.data[0].id == price.id
