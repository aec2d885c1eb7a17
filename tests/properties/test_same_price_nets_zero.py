"""Properties of mid-period changes (app/changes.py), at any second of the period:

* changing an item to the price and quantity it already has creates nothing: no invoice item, no invoice, and the
  preview of that change is the plain next renewal;
* changing a quantity (or a price) and changing it back at the same instant nets to exactly zero: the debit made
  at ``t`` is what the credit at ``t`` gives back, with or without a coupon, with create_prorations or
  always_invoice.

Why: a proration credits what was billed and charges the new terms, each rounded once from a full-period rate
(https://docs.stripe.com/billing/subscriptions/prorations); if the two sides used different rates or roundings, a
customer clicking "upgrade" then "cancel upgrade" would be charged or credited a cent. In-process use cases on the
session's database (SQLite, or PostgreSQL with ``BILLFOLD_TEST_DB=postgres``); the subscriptions start in 2030, so
the wall-clock worker never has anything of theirs to do.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from billfold.app import billing, catalog, changes, customers, discounts
from billfold.app.change_requests import BEHAVIORS
from billfold.app.ports import Doc, Scope, Store
from billfold.main import Runtime

T0 = 1_893_456_000  # 2030-01-01T00:00:00Z; January has 31 days
PERIOD = 31 * 86400

unit_amounts = st.one_of(
    st.integers(0, 1_000_000).map(lambda n: {"unit_amount": n}),
    st.decimals(Decimal("0.001"), Decimal("99999"), places=4).map(lambda d: {"unit_amount_decimal": str(d)}),
)
coupons = st.one_of(
    st.none(),
    st.integers(1, 10_000).map(lambda n: {"percent_off": Decimal(n) / 100, "duration": "forever"}),
    st.integers(1, 500_000).map(lambda n: {"amount_off": n, "currency": "usd", "duration": "forever"}),
)


def _subscription(
    runtime: Runtime, scope: Scope, amounts: list[dict[str, Any]], qty: int, coupon: Any
) -> Doc:
    with runtime.services.uow(scope) as store:
        cus = customers.create_customer(
            store, T0, {"invoice_settings": {"default_payment_method": "pm_card_visa"}}
        )
        product = catalog.create_product(store, T0, {"name": "Seat"})
        prices = [
            catalog.create_price(
                store,
                T0,
                {"product": product["id"], "currency": "usd", "recurring": {"interval": "month"}, **a},
            )
            for a in amounts
        ]
        values: dict[str, Any] = {
            "customer": cus["id"],
            "items": [{"price": prices[0]["id"], "quantity": qty}],
        }
        if coupon:
            values["discounts"] = [{"coupon": discounts.create_coupon(store, T0, dict(coupon))["id"]}]
        sub = billing.start_subscription(store, T0, values, runtime.services.processor)
        sub["billfold_prices"] = [p["id"] for p in prices]
        return sub


def _items_and_invoices(store: Store, sub_id: str) -> tuple[list[Doc], int]:
    items = list(store.iterate("invoiceitem", {"parent": sub_id}))
    return items, len(list(store.iterate("invoice", {"parent": sub_id})))


def _scope(runtime: Runtime) -> Scope:
    account = runtime.services.accounts.ensure_account(f"prop-changes-{secrets.token_hex(6)}")
    return Scope(account_id=account, livemode=False, actor="test")


@settings(max_examples=40, deadline=None)
@given(
    amount=unit_amounts,
    qty=st.integers(0, 500),
    coupon=coupons,
    second=st.integers(0, PERIOD - 1),
    behavior=st.sampled_from(BEHAVIORS),
)
def test_changing_to_the_same_price_and_quantity_creates_nothing(
    runtime: Runtime, amount: dict[str, Any], qty: int, coupon: Any, second: int, behavior: str
) -> None:
    scope = _scope(runtime)
    sub = _subscription(runtime, scope, [amount], qty, coupon)
    item = sub["items"]["data"][0]
    same = [{"id": item["id"], "price": item["price"]["id"], "quantity": qty}]
    t = T0 + second
    with runtime.services.uow(scope) as store:
        before = _items_and_invoices(store, sub["id"])
        plain = billing.preview_next_invoice(store, sub)
        preview = changes.preview_invoice(
            store, t, sub["id"], {"items": same, "proration_behavior": behavior}
        )
        assert [line["amount"] for line in preview["lines"]["data"]] == [
            line["amount"] for line in plain["lines"]["data"]
        ]
        assert (preview["total"], preview["period_start"]) == (plain["total"], plain["period_start"])
        changes.change_items(store, t, sub["id"], same, behavior, None, runtime.services.processor)
        assert _items_and_invoices(store, sub["id"]) == before


@settings(max_examples=60, deadline=None)
@given(
    amounts=st.lists(unit_amounts, min_size=2, max_size=2),
    quantities=st.lists(st.integers(0, 500), min_size=2, max_size=2, unique=True),
    coupon=coupons,
    second=st.integers(0, PERIOD - 1),
    behavior=st.sampled_from(["create_prorations", "always_invoice"]),
    change_price=st.booleans(),
)
def test_a_change_and_its_reversal_at_the_same_instant_net_to_zero(
    runtime: Runtime,
    amounts: list[dict[str, Any]],
    quantities: list[int],
    coupon: Any,
    second: int,
    behavior: str,
    change_price: bool,
) -> None:
    scope = _scope(runtime)
    q1, q2 = quantities
    sub = _subscription(runtime, scope, amounts, q1, coupon)
    item_id = sub["items"]["data"][0]["id"]
    first, other = sub["billfold_prices"]
    there = {"id": item_id, "quantity": q2} | ({"price": other} if change_price else {})
    back = {"id": item_id, "quantity": q1} | ({"price": first} if change_price else {})
    t = T0 + second
    for change in (there, back):
        with runtime.services.uow(scope) as store:
            changes.change_items(store, t, sub["id"], [change], behavior, None, runtime.services.processor)
    with runtime.services.uow(scope) as store:
        items, _ = _items_and_invoices(store, sub["id"])
        pending = changes.pending_items(store, sub["id"])
    assert sum(ii["amount"] for ii in items) == 0, [(ii["description"], ii["amount"]) for ii in items]
    if behavior == "create_prorations":
        assert sum(ii["amount"] for ii in pending) == 0
    else:
        assert pending == []
