"""Dunning: the retry policy for an invoice whose automatic payment failed, and what happens when it runs out.

Stripe retries failed subscription payments on a schedule and, after the last failed retry, applies the account's
"manage failed payments" settings to the subscription and the invoice
(https://docs.stripe.com/billing/revenue-recovery/smart-retries). Billfold has no Smart Retries model; it uses a
fixed custom schedule, the same for every account (module constants; tests may patch them):

- ``RETRY_SCHEDULE_DAYS``: retries 3, 5 and 7 days after the first failed attempt (four attempts in all). The
  invoice's ``next_payment_attempt`` holds the next retry and is the invoice's due instant (``invoicing.due_at``).
- ``FINAL_SUBSCRIPTION_ACTION``: after the last retry fails, cancel the subscription (Stripe's default), mark it
  ``unpaid``, or leave it ``past_due``.
- ``FINAL_INVOICE_ACTION``: leave the invoice ``open`` (Stripe's default: "leave the invoice past-due") or mark it
  ``uncollectible``.

Where Stripe differs: Stripe does not retry when the customer has no payment method; Billfold keeps the schedule,
and each retry looks up the payment method again, so one added during dunning is charged at the next retry.
"""

from __future__ import annotations

from typing import Literal

from .ports import Doc

DAY = 86_400
RETRY_SCHEDULE_DAYS: tuple[int, ...] = (3, 5, 7)
FINAL_SUBSCRIPTION_ACTION: Literal["cancel", "unpaid", "past_due"] = "cancel"
FINAL_INVOICE_ACTION: Literal["leave_open", "mark_uncollectible"] = "leave_open"


def record_failure(invoice: Doc, at: int, *, automatic: bool) -> bool:
    """Note a failed attempt on the invoice and set its ``next_payment_attempt``.

    ``automatic`` attempts (the first at finalization, then each scheduled retry) advance the schedule; a failed
    attempt by hand (``POST /v1/invoices/{id}/pay``) only keeps the schedule where it was. Returns True when this
    failure used up the last retry — the moment the final actions apply (once: a later manual failure returns False).
    """
    state = invoice.get("billfold_dunning")
    if state is None:
        if not automatic:
            return False  # not in dunning (e.g. the first invoice of an incomplete subscription)
        state = {"first_failed_at": at, "retries": 0}
        invoice["billfold_dunning"] = state
    elif automatic:
        state["retries"] = int(state["retries"]) + 1
    done = int(state["retries"])
    if done < len(RETRY_SCHEDULE_DAYS):
        invoice["next_payment_attempt"] = int(state["first_failed_at"]) + RETRY_SCHEDULE_DAYS[done] * DAY
        return False
    invoice["next_payment_attempt"] = None
    exhausted = automatic and not state.get("exhausted_at")
    if exhausted:
        state["exhausted_at"] = at
    return exhausted
