"""Changing a subscription mid-period — items, prices, quantities, discounts, the billing cycle — with prorations,
and previewing such a change: one plan, computed without writing anything, serves both, so a preview equals what
the change then does (https://docs.stripe.com/billing/subscriptions/prorations#preview-proration).

Billing mode is Stripe's "flexible" with ``proration_discounts: included``
(https://docs.stripe.com/billing/subscriptions/billing-mode/compare):

* A credit for unused time is based on what was actually billed for that time, "not the current subscription
  values": the item's debit — the period invoice's line, or the proration that last charged it — with the discounts
  that debit had, net. 20 seats at $99 with 20% off were billed $1,584.00; credited halfway that is -$792.00.
  Where a debit cannot be found (nothing was billed, e.g. a trial) nothing is credited.
* The charge for the remaining time uses the new configuration with the discounts in effect at the change: the
  item's own discounts and its share of the subscription's discounts, applied "proportionally to each subscription
  item" on a full period, then prorated.
* "included": a proration's ``amount`` is net of its discounts; ``proration_details.discount_amounts`` says what
  was taken off (https://docs.stripe.com/changelog/clover/2025-09-30/itemize-proration-discount-amounts).

Amounts are a full-period net rate ``N`` (exact when no discount applied) times seconds / the full period's
seconds, rounded once (``core.proration.prorate``); a debit made at ``t`` and credited at the same ``t`` are the
same number, so a change and its reversal net to exactly zero. Each debit is remembered on its item
(``billfold_billed``) for the next credit.

A price with another billing interval, or ``billing_cycle_anchor={type: now}``, resets the cycle: unused time is
credited, the new configuration is invoiced at once for a full period starting now, and the anchor moves to now
(https://docs.stripe.com/billing/subscriptions/billing-cycle, https://docs.stripe.com/billing/subscriptions/change-price;
the object form: https://docs.stripe.com/changelog/endive/2026-09-30/polymorphic-billing-cycle-anchor). During a
trial nothing is prorated and the cycle is not reset: the trial end bills the new items.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any, cast

from billfold.core import periods
from billfold.core.invoice import InvoiceDraft, InvoiceFacts, LineInput, SubscriptionItemLine, generate
from billfold.core.money import exact_context
from billfold.core.proration import prorate
from billfold.ids import new_id

from . import (
    account_settings,
    invoice_documents,
    invoice_facts,
    invoice_items,
    invoicing,
    pending_updates,
    subscriptions,
    usage_items,
)
from . import change_requests as requests
from .catalog import Namer, nested
from .change_requests import ItemChange
from .customers import balance_in, get_customer
from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, PaymentProcessor, Store


# -- what was billed -----------------------------------------------------------------------------------------------
def _period_line(store: Store, sub_id: str, item_id: str, start: int, end: int) -> tuple[Doc, Doc] | None:
    """The invoice line that billed the item for the whole period [start, end), with its invoice."""
    for invoice in store.iterate("invoice", {"parent": sub_id}):  # newest first
        if invoice["created"] < start:
            return None
        if invoice["status"] == "void":
            continue
        for line in invoice["lines"]["data"]:
            details = (line.get("parent") or {}).get("subscription_item_details") or {}
            if (
                details.get("subscription_item") == item_id
                and not details.get("proration")
                and (line["period"]["start"], line["period"]["end"]) == (start, end)
            ):
                return invoice, line
    return None


def _basis(store: Store, item: Doc, sub_id: str, start: int, end: int) -> Doc | None:
    """What the item's configuration was billed for its time up to ``end``: the debit a credit is based on.

    ``amount_decimal`` is the full-period net rate, ``period_seconds`` the full period's length; the debit covered
    [``start``, ``end``). ``None`` when nothing was billed for it.
    """
    block = item.get("billfold_billed")
    if block and start <= block["start"] and block["end"] == end:
        return dict(block)
    found = _period_line(store, sub_id, item["id"], start, end)
    if found is None:
        return None
    invoice, line = found
    lineage = line.get("lineage") or {}
    off = sum(int(d["amount"]) for d in line.get("discount_amounts") or [])
    rate = (
        Decimal(line["amount"] - off) if off else Decimal(str(lineage.get("amount_decimal", line["amount"])))
    )
    seconds = full = end - start
    if lineage.get("proration"):  # a stub period (anchor in the future) billed a share of a full period
        seconds, full = int(lineage["proration"]["seconds"]), int(lineage["proration"]["period_seconds"])
        with localcontext(exact_context()):
            rate = rate * full / seconds
    return {
        "start": start,
        "end": end,
        "amount_decimal": str(rate),
        "period_seconds": full,
        "price": (line.get("pricing") or {}).get("price_details", {}).get("price") or item["price"]["id"],
        "quantity": int(line.get("quantity") or 0),
        "tax_rates": [r["id"] for r in item.get("tax_rates") or []],
        "discounts": [{"discount": d["discount"], "amount": d["amount"]} for d in line["discount_amounts"]],
        "credited_items": {
            "type": "invoice_line_items",
            "invoice_item": None,
            "invoice_line_item_details": {"invoice": invoice["id"], "invoice_line_items": [line["id"]]},
        },
    }


# -- the plan ------------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    """What a change does, computed without writing: the subscription after it and the documents to store."""

    sub: Doc
    customer: Doc
    now: int
    t: int  # the proration instant (proration_date or now)
    behavior: str
    period: tuple[int, int]  # the current period before the change
    view: Store  # the store as the change would leave it
    added: list[Doc] = field(default_factory=list)
    removed: list[Doc] = field(default_factory=list)
    discounts: list[Doc] = field(default_factory=list)  # new discount objects (with their coupon snapshot)
    prorations: list[Doc] = field(default_factory=list)  # new proration invoice items
    pending: list[Doc] = field(default_factory=list)  # invoice items the next invoice collects already
    reset: bool = False
    new_period: tuple[int, int] | None = None


def _full_period_rates(plan: Plan) -> dict[str, tuple[Decimal, list[Doc]]]:
    """Each item's net rate for a full period of the new configuration, with the discounts in effect at ``t``."""
    sub, (start, end) = plan.sub, plan.period
    lines = tuple(
        SubscriptionItemLine(
            id=item["id"],
            price_id=item["price"]["id"],
            product_id=item["price"]["product"],
            description=item["id"],
            spec=invoice_facts.price_spec(item["price"], sub["currency"]),
            quantity=int(item.get("quantity") or 0),
            period_start=start,
            period_end=end,
            discounts=invoice_facts.discount_facts(plan.view, item.get("discounts") or []),
        )
        for item in sub["items"]["data"]
        if not requests.metered(item["price"])
    )
    invoice_discounts = invoice_facts.discount_facts(plan.view, sub.get("discounts") or [])
    draft = generate(InvoiceFacts(sub["currency"], 0, start, end, lines, invoice_discounts), plan.t)
    return {
        line.id: (
            Decimal(line.amount_after_discounts) if line.discount_amount else line.exact_amount,
            [{"discount": d.discount_id, "amount": d.amount} for d in line.discount_amounts if d.amount],
        )
        for line in draft.lines
    }


def _proration(plan: Plan, item_id: str, basis: Doc, *, credit: bool) -> Doc | None:
    """The pending invoice item for [t, end) of a debit (a credit) or of a new configuration (a debit)."""
    end, full = basis["end"], int(basis["period_seconds"])
    seconds = end - plan.t
    sign = -1 if credit else 1
    amount = sign * prorate(Decimal(basis["amount_decimal"]), 0, full, 0, seconds).amount
    if amount == 0:
        return None
    price = plan.view.get("price", basis["price"]) or {"id": basis["price"], "product": None}
    name = invoice_facts.product_name(plan.view, price)
    discounted = [
        {"amount": sign * prorate(int(d["amount"]), 0, full, 0, seconds).amount, "discount": d["discount"]}
        for d in basis["discounts"]
    ]
    verb = "Unused time on" if credit else "Remaining time on"
    description = f"{verb} {basis['quantity']} × {name} after {invoice_facts.format_day(plan.t)}"
    unit = price.get("unit_amount_decimal") if price.get("billing_scheme") != "tiered" else None
    return {
        "id": new_id("invoiceitem"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": plan.sub["currency"],
        "customer": plan.sub["customer"],
        "date": plan.now,
        "description": description + (" (after discounts)" if discounted else ""),
        "discountable": False,
        "discounts": [],  # "included": the discounts are inside the amount (proration_details.discount_amounts)
        "invoice": None,
        "livemode": plan.view.scope.livemode,
        "metadata": {},
        "net_amount": amount,
        "parent": {
            "subscription_details": {"subscription": plan.sub["id"], "subscription_item": item_id},
            "type": "subscription_details",
        },
        "period": {"end": end, "start": plan.t},
        "pricing": {
            "price_details": {"price": price["id"], "product": price.get("product")},
            "type": "price_details",
            "unit_amount_decimal": None if discounted or unit is None else str(unit),
        },
        "proration": True,
        "proration_details": {
            "credited_items": basis.get("credited_items") if credit else None,
            "discount_amounts": discounted,
        },
        "quantity": int(basis["quantity"]),
        "quantity_decimal": str(basis["quantity"]),
        "tax_rates": requests.tax_rates_of(plan.view, basis.get("tax_rates") or [], "tax_rates"),
        "test_clock": plan.sub.get("test_clock"),
        "billfold_proration": {
            "credit": credit,
            "seconds": seconds,
            "period_seconds": full,
            "price": price["id"],
            "subscription_item": item_id,
            "amount_decimal": basis["amount_decimal"],
        },
    }


def _price_changes(plan: Plan, before: Doc) -> bool:
    after = next((i for i in plan.sub["items"]["data"] if i["id"] == before["id"]), None)
    return after is None or after["price"]["id"] != before["price"]["id"]


def _full_seconds(sub: Doc) -> int:
    """The length of a full period ending where the current one ends (longer than a stub before the anchor)."""
    end = subscriptions.period(sub)[1]
    anchor = int(sub["billing_cycle_anchor"])
    return (
        end
        - periods.period_containing(anchor, *requests.interval_of(sub["items"]["data"][0]["price"]), end - 1)[
            0
        ]
    )


def _credit(plan: Plan, item: Doc, name: Namer) -> None:
    """Credit [t, end) of what the item was billed, if anything was."""
    basis = _basis(plan.view, item, plan.sub["id"], *plan.period)
    if basis is None:
        return
    if basis["start"] > plan.t:
        raise InvalidRequest(
            "proration_date is before an earlier change to this item in the same period.",
            param=name("proration_date"),
        )
    credit = _proration(plan, item["id"], basis, credit=True)
    plan.prorations.extend([credit] if credit else [])


def _debit(plan: Plan, item: Doc, rate: Decimal, discounts: list[Doc], full: int) -> None:
    """Charge [t, end) of the item's new terms, and remember that debit on the item as what was billed."""
    basis = {
        "start": plan.t,
        "end": plan.period[1],
        "amount_decimal": str(rate),
        "period_seconds": full,
        "price": item["price"]["id"],
        "quantity": int(item.get("quantity") or 0),
        "tax_rates": [r["id"] for r in item.get("tax_rates") or []],
        "discounts": discounts,
    }
    debit = _proration(plan, item["id"], basis, credit=False)
    plan.prorations.extend([debit] if debit else [])
    ref = debit["id"] if debit else None
    basis["credited_items"] = {"type": "invoice_item", "invoice_item": ref, "invoice_line_item_details": None}
    item["billfold_billed"] = basis


def _prorate(plan: Plan, stored: list[Doc], changed: set[str], name: Namer) -> None:
    """Credit each debit the change ends, charge each configuration it starts."""
    removed = {i["id"] for i in plan.removed}
    for before in stored:
        ends = before["id"] in removed or before["id"] in changed or plan.reset
        if ends and not requests.metered(before["price"]):
            _credit(plan, before, name)
        elif ends and (before["id"] in removed or _price_changes(plan, before) or plan.reset):
            used = usage_items.usage_item(
                plan.view, plan.sub, before, plan.period[0], plan.t, plan.now, removed=before["id"] in removed
            )
            plan.prorations.extend([used] if used else [])
    if plan.reset:
        return  # the new period is invoiced in full
    full = _full_seconds(plan.sub)
    rates = _full_period_rates(plan)
    starts = changed | {i["id"] for i in plan.added}
    for item in plan.sub["items"]["data"]:
        if item["id"] in rates and item["id"] in starts:
            _debit(plan, item, *rates[item["id"]], full)


def unused_time_credits(store: Store, sub: Doc, customer: Doc, t: int) -> list[Doc]:
    """Proration credits (not stored) for [t, period end) of what each licensed item was billed — a cancellation
    with ``prorate``, a pause. Nothing where nothing was billed."""
    plan = Plan(sub, customer, t, t, "create_prorations", subscriptions.period(sub), store)
    for item in sub["items"]["data"]:
        if not requests.metered(item["price"]):
            _credit(plan, item, nested(""))
    return plan.prorations


def remaining_time_debits(store: Store, sub: Doc, customer: Doc, now: int, t: int) -> list[Doc]:
    """Proration debits (not stored) for [t, period end) of each licensed item at its current terms and discounts
    — a resumption — each remembered on its item (``sub`` is changed; save it) as what was billed."""
    plan = Plan(sub, customer, now, t, "create_prorations", subscriptions.period(sub), store)
    full, rates = _full_seconds(sub), _full_period_rates(plan)
    for item in sub["items"]["data"]:
        if item["id"] in rates:
            _debit(plan, item, *rates[item["id"]], full)
    return plan.prorations


def plan_change(
    store: Store,
    stored_sub: Doc,
    now: int,
    changes: list[ItemChange],
    *,
    behavior: str,
    proration_date: int | None,
    anchor: str | None,
    discounts: list[dict[str, Any]] | None,
    name: Namer,
) -> Plan:
    """Everything the change does, computed without writing anything (``change_items`` and the preview)."""
    if stored_sub["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequest("A canceled subscription can't be changed.", param=name("items"))
    sub = copy.deepcopy(stored_sub)
    stored = sub["items"]["data"]
    sub["items"]["data"] = items = copy.deepcopy(stored)
    period = subscriptions.period(stored_sub)
    t = now if proration_date is None else proration_date
    if not period[0] <= t < period[1]:
        raise InvalidRequest(
            "proration_date must fall within the current billing period.", param=name("proration_date")
        )
    customer = get_customer(store, sub["customer"])
    redeemed: list[Doc] = []
    view = cast(Store, requests.Unsaved(store, redeemed))
    plan = Plan(sub, customer, now, t, behavior, period, view, discounts=redeemed)
    if discounts is not None:
        sub["discounts"] = requests.redeem_discounts(
            plan, discounts, name("discounts"), sub.get("discounts") or [], None
        )
    by_id = {i["id"]: i for i in items}
    changed: set[str] = set()
    price_params: dict[str, str] = {}
    last = name("items")
    for ch in changes:
        last = ch.param
        if ch.id is None:
            item = requests.new_item(plan, ch)
            items.append(item)
            plan.added.append(item)
            price_params[item["id"]] = f"{ch.param}[price]"
            continue
        item = by_id.pop(ch.id, None)
        if item is None:
            if any(i["id"] == ch.id for i in stored):
                raise InvalidRequest(
                    f"The item {ch.id} appears twice in {name('items')}.", param=f"{ch.param}[id]"
                )
            raise ResourceMissing("subscription_item", ch.id, param=f"{ch.param}[id]")
        if ch.deleted:
            items.remove(item)
            plan.removed.append(item)
            last = f"{ch.param}[deleted]"
            continue
        before = (item["price"]["id"], item.get("quantity"))
        requests.apply_item(plan, item, ch)
        if ch.price:
            price_params[item["id"]] = f"{ch.param}[price]"
        if (item["price"]["id"], item.get("quantity")) != before:
            changed.add(item["id"])
    if not items:
        raise InvalidRequest("A subscription needs at least one item; cancel it instead.", param=last)
    requests.check_shape(items, price_params, last)
    sub["items"]["total_count"] = len(items)
    trialing = sub["status"] == "trialing"
    moved = requests.interval_of(items[0]["price"]) != requests.interval_of(stored[0]["price"])
    if anchor == "now" and trialing:
        raise InvalidRequest(
            "The billing cycle can't be reset during a trial; end the trial instead.",
            param=name("billing_cycle_anchor"),
        )
    if anchor == "unchanged" and moved and not trialing:
        raise InvalidRequest(
            "Changing to a price with another billing interval resets the billing cycle; "
            "billing_cycle_anchor can't be `unchanged`.",
            param=name("billing_cycle_anchor"),
        )
    plan.reset = (anchor == "now" or moved) and not trialing
    if behavior != "none" and not trialing:
        _prorate(plan, stored, changed, name)
    for before in stored:
        # A metered item's new price counts usage from the change on (what came before was billed above, or,
        # with proration_behavior=none, is not billed).
        if requests.metered(before["price"]) and before["id"] in changed and _price_changes(plan, before):
            after = next(i for i in items if i["id"] == before["id"])
            after[usage_items.USAGE_SINCE] = t
    if plan.reset:
        interval, count = requests.interval_of(items[0]["price"])
        plan.new_period = (now, periods.add_interval(now, interval, count, 1))
        sub["billing_cycle_anchor"] = now
        for item in items:
            item["current_period_start"], item["current_period_end"] = plan.new_period
            item.pop("billfold_billed", None)
    plan.pending = invoice_items.collect_for_renewal(store, sub)
    return plan


# -- the invoices a change produces --------------------------------------------------------------------------------
def _lines(plan: Plan) -> list[LineInput]:
    """The invoice items the change's invoice collects: those already pending, then the new prorations."""
    return invoice_facts.item_lines(plan.view, plan.pending + plan.prorations)


def _invoice_now(plan: Plan) -> InvoiceDraft | None:
    """The invoice the change issues at once: a reset cycle's, or ``always_invoice``'s; ``None`` when there is none."""
    sub, view = plan.sub, plan.view
    if plan.new_period is not None:
        start, end = plan.new_period
        return invoice_facts.draft_for_period(
            view, sub, plan.customer, start, end, plan.now, extra_lines=_lines(plan)
        )
    if plan.behavior != "always_invoice" or not plan.prorations:
        return None
    lines = _lines(plan)
    facts = InvoiceFacts(
        currency=sub["currency"],
        customer_balance=balance_in(plan.customer, sub["currency"]),
        period_start=min(line.period_start for line in lines),
        period_end=max(line.period_end for line in lines),
        lines=tuple(lines),
        invoice_discounts=invoice_facts.discount_facts(view, sub.get("discounts") or []),
        default_tax_rates=invoice_facts.tax_facts(sub.get("default_tax_rates") or []),
    )
    return generate(facts, plan.now)


def _next_renewal(plan: Plan) -> Doc:
    """The invoice the next renewal creates after the change (``billing.renew`` from the same facts)."""
    sub, end = plan.sub, plan.sub["items"]["data"][0]["current_period_end"]
    if sub.get("cancel_at_period_end") or (sub.get("cancel_at") and sub["cancel_at"] <= end):
        raise InvalidRequest(
            f"Subscription {sub['id']} will not renew, so there is no upcoming invoice.",
            code="invoice_upcoming_none",
        )
    start, next_end = invoicing.next_period(sub, end)
    renewed = copy.deepcopy(sub)
    for item in renewed["items"]["data"]:
        item["current_period_start"], item["current_period_end"] = start, next_end
    draft = invoice_facts.draft_for_period(
        plan.view, renewed, plan.customer, start, next_end, end, extra_lines=_lines(plan)
    )
    doc = _preview_doc(plan, draft, "subscription_cycle", end)
    doc["automatically_finalizes_at"] = end + account_settings.draft_window_seconds(plan.view)
    return doc


def _preview_doc(plan: Plan, draft: InvoiceDraft, reason: str, at: int) -> Doc:
    unstored = {ii["id"]: ii for ii in plan.prorations}
    return invoice_documents.invoice_doc(
        plan.view,
        draft,
        plan.customer,
        plan.sub,
        billing_reason=reason,
        now=at,
        invoice_id=f"upcoming_{plan.sub['id']}",
        unstored=unstored,
    )


# -- use cases -----------------------------------------------------------------------------------------------------
def change_items(
    store: Store,
    wall_now: int,
    sub_id: str,
    changes: list[dict[str, Any]],
    behavior: str,
    proration_date: int | None,
    processor: PaymentProcessor,
    *,
    billing_cycle_anchor: str | dict[str, Any] | None = None,
    discounts: list[dict[str, Any]] | None = None,
    payment_behavior: str = "allow_incomplete",
) -> Doc:
    """``POST /v1/subscriptions/{id}`` with ``items``, ``billing_cycle_anchor`` (``now``/``unchanged`` or
    ``{type: ...}``) or ``discounts`` (``None`` leaves them, a list replaces them, ``[]`` clears).

    ``payment_behavior`` decides what a change that is invoiced at once does when its payment fails
    (https://docs.stripe.com/api/subscriptions/update#update_subscription-payment_behavior):
    ``allow_incomplete`` (default) keeps the change, the subscription goes ``past_due`` and dunning starts;
    ``error_if_incomplete`` fails the request (402) and writes nothing; ``default_incomplete`` does not attempt
    payment and the subscription goes ``past_due`` until the invoice is paid; ``pending_if_incomplete`` keeps the
    change pending until the invoice is paid (app/pending_updates.py)."""
    stored = subscriptions.get_subscription(store, sub_id, for_update=True)
    pending_updates.refuse_while_pending(stored)
    if payment_behavior == "pending_if_incomplete":
        pending_updates.check_request(stored, changes)
    customer = get_customer(store, stored["customer"])
    now = subscriptions.customer_now(store, customer, wall_now)
    plan = plan_change(
        store,
        stored,
        now,
        requests.item_changes(changes, "items"),
        behavior=behavior,
        proration_date=proration_date,
        anchor=requests.anchor(billing_cycle_anchor, "billing_cycle_anchor"),
        discounts=discounts,
        name=nested(""),
    )
    sub = plan.sub
    from . import billing  # billing imports this module

    pending = payment_behavior == "pending_if_incomplete"
    if not pending:  # a pending update makes its items only once its invoice is paid (it has no discounts)
        _store_new_objects(store, plan, now)
    for ii in plan.prorations:
        store.insert(ii, item_index(ii), created=now)
        store.record("invoiceitem.created", ii)
    draft = _invoice_now(plan)
    invoice: Doc | None = None
    if draft is not None:
        invoice = invoice_documents.invoice_doc(
            store, draft, customer, sub, billing_reason="subscription_update", now=now
        )
        if plan.new_period is not None:
            store.claim_period(sub["id"], plan.new_period[0], invoice["id"])
        invoicing.create_draft(store, invoice)
        mark_invoiced(store, plan.pending + plan.prorations, invoice["id"])
        invoicing.finalize(store, invoice, now)
        sub["latest_invoice"] = invoice["id"]
    charge = (
        invoice is not None
        and invoice["status"] == "open"
        and sub["collection_method"] == "charge_automatically"
        and payment_behavior != "default_incomplete"
    )
    if (
        charge
        and invoice is not None
        and payment_behavior in ("pending_if_incomplete", "error_if_incomplete")
    ):
        # Paid before the subscription changes: a decline fails the request (nothing is kept) or leaves the
        # change pending.
        result = invoicing.attempt_payment(store, invoice, now, processor)
        if not result.succeeded:
            if payment_behavior == "error_if_incomplete":
                raise billing.first_payment_error(result)
            return pending_updates.hold(
                store, stored, plan.sub, invoice, now, added=plan.added, removed=plan.removed
            )
        charge = False
    if pending:
        _store_new_objects(store, plan, now)
    previous: Doc = {"items": {"data": stored["items"]["data"]}}
    for key in ("billing_cycle_anchor", "discounts", "latest_invoice"):
        if stored.get(key) != sub.get(key):
            previous[key] = stored.get(key)
    subscriptions.save(store, sub, previous=previous)
    if invoice is not None and invoice["status"] == "open" and payment_behavior == "default_incomplete":
        billing.set_status(store, sub, "past_due")  # until the invoice is paid (billing.after_invoice_paid)
    if invoice is not None and invoice["status"] == "paid":
        # Paid before the change was saved (or at finalization): the subscription may come back, as after any
        # payment.
        billing.after_invoice_paid(store, invoice, now)
        return subscriptions.get_subscription(store, sub["id"])
    if charge and invoice is not None:
        # Charged like any automatic payment, once the change is saved: a decline makes the subscription past_due
        # and starts dunning.
        billing.collect(store, invoice, now, processor)
        return subscriptions.get_subscription(store, sub["id"])
    return sub


def add_invoice_items(store: Store, wall_now: int, sub_id: str, entries: list[dict[str, Any]]) -> list[Doc]:
    """``POST /v1/subscriptions/{id}`` with ``add_invoice_items``: one-time charges the subscription's next invoice
    collects (the renewal, or an invoice this request makes at once). The subscription itself does not change."""
    sub = subscriptions.get_subscription(store, sub_id, for_update=True)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequest(
            f"Subscription {sub_id} has ended ({sub['status']}): it has no next invoice for add_invoice_items.",
            param="add_invoice_items",
        )
    customer = get_customer(store, sub["customer"])
    now = subscriptions.customer_now(store, customer, wall_now)
    return invoice_items.add_for_subscription(store, sub, customer, entries, now, subscriptions.period(sub))


def _store_new_objects(store: Store, plan: Plan, now: int) -> None:
    """The change's new discounts and items, and the end of its removed items."""
    for d in plan.discounts:
        doc = {k: v for k, v in d.items() if k != "coupon"}
        store.insert(doc, Index(customer=d["customer"], parent=plan.sub["id"]), created=now)
    for item in plan.added:
        subscriptions.insert_item_row(store, plan.sub, item, created=now)
    for item in plan.removed:
        store.delete("subscription_item", item["id"])


def preview_invoice(store: Store, wall_now: int, sub_id: str, details: dict[str, Any]) -> Doc:
    """``POST /v1/invoices/create_preview`` with ``subscription_details``: the invoice the proposed change would
    produce — issued at once (``always_invoice``, a reset cycle) or the next renewal (``create_prorations``,
    ``none``) — from the same plan ``change_items`` carries out. Nothing is stored."""
    req, name = requests.preview_request(details)
    sub = subscriptions.get_subscription(store, sub_id, param="subscription")
    customer = get_customer(store, sub["customer"])
    now = subscriptions.customer_now(store, customer, wall_now)
    plan = plan_change(
        store,
        sub,
        now,
        req.items,
        behavior=req.behavior,
        proration_date=req.proration_date,
        anchor=req.anchor,
        discounts=None,
        name=name,
    )
    if req.cancel_at_period_end is not None:
        plan.sub["cancel_at_period_end"] = req.cancel_at_period_end
    draft = _invoice_now(plan)
    return _next_renewal(plan) if draft is None else _preview_doc(plan, draft, "subscription_update", now)


def pending_items(store: Store, sub_id: str) -> list[Doc]:
    """The subscription's invoice items not invoiced yet, oldest first (the order the next invoice lists them)."""
    return list(reversed(list(store.iterate("invoiceitem", {"parent": sub_id, "status": "pending"}))))


def mark_invoiced(store: Store, items: list[Doc], invoice_id: str) -> None:
    for ii in items:
        ii["invoice"] = invoice_id
        store.replace(ii, item_index(ii))


def record_items(store: Store, items: list[Doc], at: int) -> None:
    """Store new invoice items (prorations, credits) with their ``invoiceitem.created`` events."""
    for ii in items:
        store.insert(ii, item_index(ii), created=at)
        store.record("invoiceitem.created", ii)


def item_index(doc: Doc) -> Index:
    sub_id = invoice_facts.subscription_id_of(doc)
    return Index(
        customer=doc["customer"],
        parent=sub_id,
        status="invoiced" if doc.get("invoice") else "pending",
        currency=doc["currency"],
        test_clock=doc.get("test_clock"),
    )
