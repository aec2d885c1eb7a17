"""Pending updates (``payment_behavior=pending_if_incomplete``): a change to a subscription that takes effect only
once the invoice it creates is paid (https://docs.stripe.com/billing/subscriptions/pending-updates).

``changes.change_items`` issues the change's invoice and attempts payment before it touches the subscription. Paid:
the change is applied at once, as without the option. Not paid: the subscription stays as it was and keeps its
cycle; what the change would set is kept on it (``billfold_pending_update``, with the public ``pending_update``
summary), and ``latest_invoice`` is the open invoice. Then:

- the invoice is paid later (``POST /v1/invoices/{id}/pay``): the change is applied as it was computed at the
  request, ``customer.subscription.pending_update_applied`` (and ``customer.subscription.trial_will_end`` first when the
  change ends a trial);
- the invoice is voided by hand: the change is discarded;
- ``pending_update.expires_at`` passes first (the end of the period or of the trial, at most 23 hours after the
  request): the invoice is voided and the change discarded, ``customer.subscription.pending_update_expired``.

What can be pending is Stripe's list: a change of ``items`` (price, quantity) with ``proration_behavior``,
``proration_date`` and ``billing_cycle_anchor`` (``changes.change_items``), or ``trial_end=now``
(``lifecycle.change_trial_end``: the trial ends and a new period is invoiced at once), not both in one request;
``add_invoice_items`` of the same request are items of the change's invoice, so they are paid, held and voided with
it. Only on ``charge_automatically`` subscriptions, and one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import invoicing, subscriptions
from .errors import InvalidRequest
from .ports import Doc, Store

EXPIRY_SECONDS = 23 * 3600
ITEM_PARAMS = frozenset({"id", "price", "quantity"})


def check_request(stored: Doc, item_changes: list[dict[str, Any]]) -> None:
    """Refuse what a pending update can't hold (a 400 naming the parameter)."""
    if stored["collection_method"] != "charge_automatically":
        raise InvalidRequest(
            "payment_behavior=pending_if_incomplete can only be used with collection_method=charge_automatically.",
            param="payment_behavior",
        )
    for i, change in enumerate(item_changes):
        extra = sorted(set(change) - ITEM_PARAMS)
        if extra:
            raise InvalidRequest(
                f"A pending update can only change an item's price and quantity, not `{extra[0]}`.",
                param=f"items[{i}][{extra[0]}]",
            )


def refuse_while_pending(stored: Doc, param: str = "items") -> None:
    """A subscription with a pending update takes no other change of items, cycle or trial until it is settled."""
    pending = stored.get("billfold_pending_update")
    if pending:
        raise InvalidRequest(
            f"This subscription has a pending update waiting for invoice {pending['invoice']} to be paid "
            f"(until {stored['pending_update']['expires_at']}). Pay or void that invoice first.",
            param=param,
        )


def expires_at(stored: Doc, now: int) -> int:
    """The end of the current period or of the trial, whichever is first, but at most 23 hours from ``now``."""
    ends = [subscriptions.period(stored)[1], now + EXPIRY_SECONDS]
    if stored["status"] == "trialing" and stored.get("trial_end"):
        ends.append(int(stored["trial_end"]))
    return min(ends)


def hold(
    store: Store,
    stored: Doc,
    sub: Doc,
    invoice: Doc,
    now: int,
    *,
    added: Sequence[Doc] = (),
    removed: Sequence[Doc] = (),
) -> Doc:
    """The change's invoice was not paid: keep the change on the unchanged subscription. ``stored``: the
    subscription as it is; ``sub``: as the change would make it (with ``added`` and ``removed`` items)."""
    changed = {
        k: sub[k]
        for k in sub
        if k not in ("latest_invoice", "billfold_due_at") and sub.get(k) != stored.get(k)
    }
    previous = {
        "pending_update": stored.get("pending_update"),
        "latest_invoice": stored.get("latest_invoice"),
    }
    stored["billfold_pending_update"] = {
        "invoice": invoice["id"],
        "set": changed,
        "added": list(added),
        "removed": [item["id"] for item in removed],
    }
    stored["pending_update"] = {
        "billing_cycle_anchor": changed.get("billing_cycle_anchor"),
        "expires_at": expires_at(stored, now),
        "subscription_items": sub["items"]["data"],
        "trial_end": changed.get("trial_end"),
        "trial_from_plan": None,
    }
    stored["latest_invoice"] = invoice["id"]
    subscriptions.save(store, stored, previous=previous)
    return stored


def apply(store: Store, sub: Doc) -> None:
    """The pending update's invoice is paid: make the change as it was computed at the request."""
    pending = sub.pop("billfold_pending_update")
    for item in pending["added"]:
        subscriptions.insert_item_row(store, sub, item)
    for item_id in pending["removed"]:
        store.delete("subscription_item", item_id)
    previous = {k: sub.get(k) for k in pending["set"]}
    previous["pending_update"] = sub.get("pending_update")
    ends_trial = sub["status"] == "trialing" and pending["set"].get("status") == "active"
    sub.update(pending["set"])
    sub["pending_update"] = None
    if ends_trial:  # as when a trial is ended at once without a pending update (lifecycle._end_trial_now)
        sub.setdefault("billfold_notices", {})["trial_will_end"] = sub["trial_end"]
        store.record("customer.subscription.trial_will_end", sub)
    subscriptions.save(store, sub, previous=previous)
    store.record("customer.subscription.pending_update_applied", sub)


def discard(store: Store, sub: Doc, at: int, *, expired: bool) -> None:
    """Drop the pending update: it expired (its invoice is voided) or its invoice was voided by hand."""
    pending = sub.pop("billfold_pending_update")
    previous = {"pending_update": sub.get("pending_update")}
    sub["pending_update"] = None
    invoice = store.get("invoice", pending["invoice"], for_update=True)
    if expired and invoice is not None and invoice["status"] == "open":
        invoicing.void(store, invoice, at)
    subscriptions.save(store, sub, previous=previous)
    if expired:
        store.record("customer.subscription.pending_update_expired", sub)


def settles(sub: Doc | None, invoice: Doc) -> bool:
    """Whether ``invoice`` is the one the subscription's pending update waits for."""
    pending = (sub or {}).get("billfold_pending_update") or {}
    return bool(pending) and pending.get("invoice") == invoice["id"]
