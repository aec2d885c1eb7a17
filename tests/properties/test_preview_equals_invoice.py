"""Property: a preview equals the invoice that follows, and every invoice's lines add up to its totals.

Why this exists: Billfold promises that the upcoming invoice (``billing.preview_next_invoice``, served by
``POST /v1/invoices/create_preview``) is computed by the same generator from the same facts as the renewal, so when
nothing changes between the two, the renewal invoice IS the preview — line for line, total for total, lineage
included; only the ids differ. Hypothesis draws the subscriptions: 1-3 items with quantities 0-500 and assorted
prices (per unit, decimal, package, graduated and volume tiers), an optional coupon (percent or amount off; once,
repeating or forever), an optional tax rate (inclusive or exclusive; the subscription's default or the item's), and an
optional mid-period seat change at a random second with ``create_prorations``.

It runs in-process for speed (no HTTP): a runtime on its own temporary SQLite file, the app use cases inside
``uow(Scope(...))`` as the API would call them, and the renewal driven by a test clock through ``due.run_due``.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billfold.app import billing, catalog, changes, customers, discounts, due, tax_rates, test_clocks
from billfold.app.ports import Doc, ListQuery, Scope, Store
from billfold.app.subscriptions import get_subscription
from billfold.main import Runtime, build_runtime

DAY = 86400
Y2026 = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def local_runtime() -> Iterator[Runtime]:
    """A runtime of our own: no server and no background worker, so only this test advances its clocks."""
    with tempfile.TemporaryDirectory(prefix="billfold-prop-") as d:
        rt = build_runtime(f"sqlite:///{Path(d) / 'prop.sqlite3'}")
        yield rt
        rt.engine.dispose()


# -- strategies ---------------------------------------------------------------------------------------------------
@st.composite
def price_amounts(draw: st.DrawFn) -> dict[str, Any]:
    """The amount fields of a price: per unit, per unit with a decimal amount, package, graduated or volume tiers."""
    kind = draw(st.sampled_from(["per_unit", "decimal", "package", "graduated", "volume"]))
    if kind == "per_unit":
        return {"unit_amount": draw(st.integers(0, 20_000))}
    if kind == "decimal":
        return {"unit_amount_decimal": Decimal(draw(st.integers(0, 2_000_000))) / 1000}
    if kind == "package":
        return {
            "unit_amount": draw(st.integers(0, 50_000)),
            "transform_quantity": {
                "divide_by": draw(st.integers(2, 50)),
                "round": draw(st.sampled_from(["up", "down"])),
            },
        }
    bounds = sorted(draw(st.sets(st.integers(1, 400), min_size=1, max_size=3)))
    tiers: list[dict[str, Any]] = []
    for up_to in [*bounds, "inf"]:
        tier: dict[str, Any] = {"up_to": up_to, "unit_amount": draw(st.integers(0, 5_000))}
        if draw(st.booleans()):
            tier["flat_amount"] = draw(st.integers(0, 10_000))
        tiers.append(tier)
    return {"billing_scheme": "tiered", "tiers_mode": kind, "tiers": tiers}


@st.composite
def coupon_terms(draw: st.DrawFn) -> dict[str, Any]:
    """A coupon: percent off (two decimals) or an amount off; once, forever, or repeating for 1-3 months."""
    if draw(st.booleans()):
        terms: dict[str, Any] = {"percent_off": Decimal(draw(st.integers(1, 10_000))) / 100}
    else:
        terms = {"amount_off": draw(st.integers(1, 50_000))}
    terms["duration"] = draw(st.sampled_from(["once", "forever", "repeating"]))
    if terms["duration"] == "repeating":
        terms["duration_in_months"] = draw(st.integers(1, 3))
    return terms


coupons = st.none() | coupon_terms()

taxes = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "percentage": st.integers(0, 3000).map(lambda n: Decimal(n) / 100),
            "inclusive": st.booleans(),
            "on_item": st.booleans(),
        }
    ),
)

scenarios = st.fixed_dictionaries(
    {
        "currency": st.sampled_from(["usd", "jpy"]),
        "start": st.integers(Y2026, Y2026 + 3 * 365 * DAY),
        "items": st.lists(st.tuples(price_amounts(), st.integers(0, 500)), min_size=1, max_size=3),
        "coupon": coupons,
        "tax": taxes,
        # (which item, its new quantity, where in the period as a share of a million)
        "change": st.none() | st.tuples(st.integers(0, 2), st.integers(0, 500), st.integers(1, 999_999)),
    }
)


# -- the timeline, in-process -------------------------------------------------------------------------------------
class Timeline:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.scope = Scope(
            account_id=rt.services.accounts.ensure_account(f"prop-{secrets.token_hex(6)}"), livemode=False
        )
        self.processor = rt.services.processor

    def uow(self) -> Any:
        return self.rt.services.uow(self.scope)

    def advance(self, clock_id: str, to: int) -> None:
        with self.uow() as store:
            test_clocks.begin_advance(store, clock_id, to)
        with self.uow() as store:
            test_clocks.finish_advance(store, clock_id, self._due_work)

    def _due_work(self, store: Store, clock: Doc, until: int) -> None:
        """What the worker does for an advancing clock: every due action up to ``until``, in time order."""
        due.run_due(store, until, str(clock["id"]), self.processor)

    def invoices(self, sub_id: str) -> list[Doc]:
        """The subscription's invoices, oldest first."""
        with self.uow() as store:
            page = store.list("invoice", ListQuery(filters={"parent": sub_id}, limit=100))
        return list(reversed(page.data))


def start(tl: Timeline, sc: dict[str, Any]) -> tuple[str, str]:
    """Create the clock, customer, catalog, coupon and tax rate, and start the subscription. Returns (clock, sub)."""
    t0, currency = sc["start"], sc["currency"]
    with tl.uow() as store:
        clock = test_clocks.create_clock(store, t0, t0, None)
        cus = customers.create_customer(
            store,
            t0,
            {"test_clock": clock["id"], "invoice_settings": {"default_payment_method": "pm_card_visa"}},
        )
        rate = None
        if sc["tax"]:
            rate = tax_rates.create_tax_rate(
                store,
                t0,
                {
                    "display_name": "VAT",
                    "percentage": sc["tax"]["percentage"],
                    "inclusive": sc["tax"]["inclusive"],
                },
            )
        items = []
        for n, (amounts, quantity) in enumerate(sc["items"]):
            product = catalog.create_product(store, t0, {"name": f"Product {n}"})
            price = catalog.create_price(
                store,
                t0,
                {
                    "product": product["id"],
                    "currency": currency,
                    "recurring": {"interval": "month"},
                    **amounts,
                },
            )
            item: dict[str, Any] = {"price": price["id"], "quantity": quantity}
            if rate and sc["tax"]["on_item"]:
                item["tax_rates"] = [rate["id"]]
            items.append(item)
        values: dict[str, Any] = {"customer": cus["id"], "items": items}
        if rate and not sc["tax"]["on_item"]:
            values["default_tax_rates"] = [rate["id"]]
        if sc["coupon"]:
            terms = dict(sc["coupon"])
            if "amount_off" in terms:
                terms["currency"] = currency
            values["discounts"] = [{"coupon": discounts.create_coupon(store, t0, terms)["id"]}]
        sub = billing.start_subscription(store, t0, values, tl.processor)
    return str(clock["id"]), str(sub["id"])


def assert_lines_sum_to_totals(inv: Doc) -> None:
    lines = inv["lines"]["data"]
    amounts = sum(line["amount"] for line in lines)
    discounted = sum(d["amount"] for line in lines for d in line["discount_amounts"])
    line_taxes = [t for line in lines for t in line["taxes"]]
    inclusive = sum(t["amount"] for t in line_taxes if t["tax_behavior"] == "inclusive")
    exclusive = sum(t["amount"] for t in line_taxes if t["tax_behavior"] == "exclusive")
    assert sum(d["amount"] for d in inv["total_discount_amounts"]) == discounted
    assert sum(t["amount"] for t in inv["total_taxes"]) == inclusive + exclusive
    assert inv["total_excluding_tax"] == amounts - discounted - inclusive
    assert inv["total"] == inv["total_excluding_tax"] + inclusive + exclusive
    assert inv["subtotal_excluding_tax"] == inv["subtotal"] - inclusive
    assert inv["amount_due"] == max(0, inv["total"] + inv["starting_balance"])
    if inv["status"] != "draft":
        assert inv["ending_balance"] == inv["starting_balance"] + inv["total"] - inv["amount_due"]
    if inv["status"] == "paid":
        assert (inv["amount_paid"], inv["amount_remaining"]) == (inv["amount_due"], 0)


def without_ids(preview: Doc, invoice: Doc) -> Doc:
    """The preview with the real invoice's ids in place of its own: everything else must already be equal."""
    renamed: Doc = json.loads(json.dumps(preview).replace(preview["id"], invoice["id"]))
    assert len(renamed["lines"]["data"]) == len(invoice["lines"]["data"])
    for mine, theirs in zip(renamed["lines"]["data"], invoice["lines"]["data"], strict=True):
        mine["id"] = theirs["id"]
    return renamed


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two documents differ, as paths with both values (short, so a failing example reports fast)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for n, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{n}]")
        ]
    return [] if a == b else [f"{path}: preview {json.dumps(a)[:200]} != invoice {json.dumps(b)[:200]}"]


def _money(inv: Doc) -> tuple[Any, ...]:
    lines = tuple(
        (line["amount"], line["quantity"], line["period"]["start"], line["period"]["end"])
        for line in inv["lines"]["data"]
    )
    return (
        lines,
        inv["subtotal"],
        inv["total_discount_amounts"],
        inv["total_taxes"],
        inv["total"],
        inv["amount_due"],
    )


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(sc=scenarios)
def test_preview_equals_the_invoice_that_follows(local_runtime: Runtime, sc: dict[str, Any]) -> None:
    tl = Timeline(local_runtime)
    clock_id, sub_id = start(tl, sc)
    with tl.uow() as store:
        sub = get_subscription(store, sub_id)
    if sc["change"]:
        period_start = sub["items"]["data"][0]["current_period_start"]
        period_end = sub["items"]["data"][0]["current_period_end"]
        index, quantity, share = sc["change"]
        at = period_start + 1 + (period_end - period_start - 2) * share // 1_000_000
        tl.advance(clock_id, at)
        with tl.uow() as store:
            sub = get_subscription(store, sub_id)
            item = sub["items"]["data"][index % len(sub["items"]["data"])]
            changes.change_items(
                store,
                at,
                sub_id,
                [{"id": item["id"], "quantity": quantity}],
                "create_prorations",
                None,
                tl.processor,
            )

    # Two renewals: the second starts from whatever balance the first left (a downgrade's credit, say).
    for cycle in (1, 2):
        with tl.uow() as store:
            sub = get_subscription(store, sub_id)
            preview = billing.preview_next_invoice(store, sub)
        renews_at = sub["items"]["data"][0]["current_period_end"]
        tl.advance(clock_id, renews_at)  # the renewal, nothing changed since the preview
        renewal = tl.invoices(sub_id)[-1]
        assert (renewal["billing_reason"], renewal["status"]) == ("subscription_cycle", "draft")
        assert differences(without_ids(preview, renewal), renewal) == [], f"renewal {cycle}"

        tl.advance(clock_id, renews_at + 3600 + 1)  # past the draft window: finalized and charged
        renewal = tl.invoices(sub_id)[-1]
        assert renewal["status"] == "paid"
        assert _money(renewal) == _money(preview)
    invoices = tl.invoices(sub_id)
    assert len(invoices) == 3
    for inv in invoices:
        assert_lines_sum_to_totals(inv)
