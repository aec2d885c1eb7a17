"""Per-account billing settings (Stripe keeps these in the Dashboard's Billing settings; Billfold in the account's
``settings``, set with ``billfold settings set``).

- ``invoice_finalization_grace_hours``: how long a renewal draft waits before it is finalized and charged, during
  which invoice items and late usage can still be added (Stripe: one hour by default, up to 72 hours:
  https://docs.stripe.com/billing/subscriptions/usage-based/configure-grace-period).
- ``upcoming_invoice_notice_days``: how many days before a renewal the ``invoice.upcoming`` event is sent; 0 turns
  it off (Stripe's "upcoming renewal events" setting, https://docs.stripe.com/billing/subscriptions/webhooks).
- ``payment_retry_days``: the days after a renewal's first failed payment on which it is retried, 1 to 8 of them,
  e.g. ``3,5,7`` (the default) (Stripe's custom retry schedule,
  https://docs.stripe.com/billing/revenue-recovery/smart-retries).
- ``failed_payment_subscription_action`` and ``failed_payment_invoice_action``: what happens when the last retry
  fails — ``cancel`` (default), ``unpaid`` or ``past_due`` for the subscription; ``leave_open`` (default) or
  ``mark_uncollectible`` for the invoice (Stripe's "manage failed payments" settings).

- ``email_finalized_invoices``: ``on`` (default) e-mails a ``send_invoice`` invoice with ``auto_advance`` to its
  customer when it is finalized (Stripe's "Email finalized invoices to customers" setting); ``off`` leaves sending
  to ``POST /v1/invoices/{id}/send``.

A setting applies to what is scheduled after it changes: an invoice already in dunning keeps the retry schedule it
started with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest
from .ports import Store

HOUR = 3600
DAY = 86400
MAX_RETRIES = 8
MAX_RETRY_DAY = 60


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    allowed: str  # what ``billfold settings show`` says it accepts
    parse: Callable[[str, str], Any]  # (name, text) -> value, or InvalidRequest naming the setting
    show: Callable[[Any], str] = str


def _whole(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequest(f"{name} must be a whole number, not {raw!r}.", param=name) from None
        if not low <= value <= high:
            raise InvalidRequest(f"{name} must be between {low} and {high}.", param=name)
        return value

    return parse


def _one_of(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if raw not in choices:
            raise InvalidRequest(f"{name} must be one of {', '.join(choices)}, not {raw!r}.", param=name)
        return raw

    return parse


def _retry_days(name: str, raw: str) -> list[int]:
    try:
        days = [int(part) for part in raw.split(",")]
    except ValueError:
        raise InvalidRequest(
            f"{name} must be days separated by commas (e.g. 3,5,7), not {raw!r}.", param=name
        ) from None
    if not 1 <= len(days) <= MAX_RETRIES:
        raise InvalidRequest(f"{name} takes 1 to {MAX_RETRIES} retries.", param=name)
    if any(not 1 <= d <= MAX_RETRY_DAY for d in days) or days != sorted(set(days)):
        raise InvalidRequest(
            f"{name} must be increasing days between 1 and {MAX_RETRY_DAY} after the first failure.",
            param=name,
        )
    return days


def _show_days(days: list[int]) -> str:
    return ",".join(str(d) for d in days)


SETTINGS = {
    s.name: s
    for s in (
        Setting(
            "invoice_finalization_grace_hours",
            1,
            "hours a renewal draft waits before it is finalized",
            "1-72",
            _whole(1, 72),
        ),
        Setting(
            "upcoming_invoice_notice_days",
            3,
            "days before a renewal invoice.upcoming is sent (0: off)",
            "0-45",
            _whole(0, 45),
        ),
        Setting(
            "payment_retry_days",
            [3, 5, 7],
            "days after a renewal's first failed payment when it is retried",
            f"1 to {MAX_RETRIES} increasing days, each 1-{MAX_RETRY_DAY}",
            _retry_days,
            _show_days,
        ),
        Setting(
            "failed_payment_subscription_action",
            "cancel",
            "the subscription when the last retry fails",
            "cancel|unpaid|past_due",
            _one_of("cancel", "unpaid", "past_due"),
        ),
        Setting(
            "failed_payment_invoice_action",
            "leave_open",
            "the invoice when the last retry fails",
            "leave_open|mark_uncollectible",
            _one_of("leave_open", "mark_uncollectible"),
        ),
        Setting(
            "email_finalized_invoices",
            "on",
            "e-mail a send_invoice invoice to its customer when it is finalized automatically",
            "on|off",
            _one_of("on", "off"),
        ),
    )
}


def parse(name: str, raw: str) -> Any:
    """A setting's value from text, checked; raises InvalidRequest naming the setting."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise InvalidRequest(f"Unknown setting {name!r}; known: {', '.join(sorted(SETTINGS))}.", param=name)
    return setting.parse(name, raw)


def value(store: Store, name: str) -> Any:
    """The account's value of a setting, or its default."""
    setting = SETTINGS[name]
    stored = store.setting(name)
    return setting.default if stored is None else stored


def draft_window_seconds(store: Store) -> int:
    return int(value(store, "invoice_finalization_grace_hours")) * HOUR


def upcoming_notice_seconds(store: Store) -> int | None:
    days = int(value(store, "upcoming_invoice_notice_days"))
    return days * DAY if days else None


def payment_retry_days(store: Store) -> list[int]:
    return [int(d) for d in value(store, "payment_retry_days")]


def failed_payment_subscription_action(store: Store) -> str:
    return str(value(store, "failed_payment_subscription_action"))


def failed_payment_invoice_action(store: Store) -> str:
    return str(value(store, "failed_payment_invoice_action"))
