"""Dunning: the retry policy for an invoice whose automatic payment failed, and what happens when it runs out.

Stripe retries failed subscription payments on a schedule and, after the last failed retry, applies the account's
"manage failed payments" settings to the subscription and the invoice
(https://docs.stripe.com/billing/revenue-recovery/smart-retries). Billfold has no Smart Retries model; it uses a
custom schedule, set per account (``account_settings``; ``billfold settings set payment_retry_days 3,5,7``):

- ``payment_retry_days``: by default retries 3, 5 and 7 days after the first failed attempt (four attempts in
  all). The invoice's ``next_payment_attempt`` holds the next retry and is the invoice's due instant
  (``invoicing.due_at``). The schedule is copied into the invoice's ``billfold_dunning`` when its dunning starts,
  so a later change of the setting does not move the retries of an invoice already in dunning.
- ``failed_payment_subscription_action``: after the last retry fails, cancel the subscription (Stripe's default),
  mark it ``unpaid``, or leave it ``past_due``.
- ``failed_payment_invoice_action``: leave the invoice ``open`` (Stripe's default: "leave the invoice past-due") or
  mark it ``uncollectible``.

Where Stripe differs: Stripe does not retry when the customer has no payment method; Billfold keeps the schedule,
and each retry looks up the payment method again, so one added during dunning is charged at the next retry.
"""

from __future__ import annotations

from .ports import Doc

DAY = 86_400


def record_failure(invoice: Doc, at: int, *, automatic: bool, retry_days: list[int]) -> bool:
    """Note a failed attempt on the invoice and set its ``next_payment_attempt``.

    ``automatic`` attempts (the first at finalization, then each scheduled retry) advance the schedule; a failed
    attempt by hand (``POST /v1/invoices/{id}/pay``) only keeps the schedule where it was. Returns True when this
    failure used up the last retry — the moment the final actions apply (once: a later manual failure returns False).
    ``retry_days`` is the account's schedule, taken when the invoice's dunning starts.
    """
    state = invoice.get("billfold_dunning")
    if state is None:
        if not automatic:
            return False  # not in dunning (e.g. the first invoice of an incomplete subscription)
        state = {"first_failed_at": at, "retries": 0, "retry_days": list(retry_days)}
        invoice["billfold_dunning"] = state
    elif automatic:
        state["retries"] = int(state["retries"]) + 1
    done = int(state["retries"])
    schedule = state.get("retry_days", retry_days)
    if done < len(schedule):
        invoice["next_payment_attempt"] = int(state["first_failed_at"]) + int(schedule[done]) * DAY
        return False
    invoice["next_payment_attempt"] = None
    exhausted = automatic and not state.get("exhausted_at")
    if exhausted:
        state["exhausted_at"] = at
    return exhausted
