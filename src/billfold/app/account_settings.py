"""Per-account billing settings (Stripe keeps these in the Dashboard's Billing settings; Billfold in the account's
``settings``, set with ``billfold settings set``).

- ``invoice_finalization_grace_hours``: how long a renewal draft waits before it is finalized and charged, during
  which invoice items and late usage can still be added (Stripe: one hour by default, up to 72 hours:
  https://docs.stripe.com/billing/subscriptions/usage-based/configure-grace-period).
- ``upcoming_invoice_notice_days``: how many days before a renewal the ``invoice.upcoming`` event is sent; 0 turns
  it off (Stripe's "upcoming renewal events" setting, https://docs.stripe.com/billing/subscriptions/webhooks).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidRequest
from .ports import Store

HOUR = 3600
DAY = 86400


@dataclass(frozen=True)
class Setting:
    name: str
    low: int
    high: int
    default: int
    help: str


SETTINGS = {
    s.name: s
    for s in (
        Setting(
            "invoice_finalization_grace_hours", 1, 72, 1, "hours a renewal draft waits before it is finalized"
        ),
        Setting(
            "upcoming_invoice_notice_days",
            0,
            45,
            3,
            "days before a renewal invoice.upcoming is sent (0: off)",
        ),
    )
}


def parse(name: str, raw: str) -> int:
    """A setting's value from text, checked; raises InvalidRequest naming the setting."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise InvalidRequest(f"Unknown setting {name!r}; known: {', '.join(sorted(SETTINGS))}.", param=name)
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number, not {raw!r}.", param=name) from None
    if not setting.low <= value <= setting.high:
        raise InvalidRequest(f"{name} must be between {setting.low} and {setting.high}.", param=name)
    return value


def value(store: Store, name: str) -> int:
    """The account's value of a setting, or its default."""
    setting = SETTINGS[name]
    stored = store.setting(name)
    return setting.default if stored is None else int(stored)


def draft_window_seconds(store: Store) -> int:
    return value(store, "invoice_finalization_grace_hours") * HOUR


def upcoming_notice_seconds(store: Store) -> int | None:
    days = value(store, "upcoming_invoice_notice_days")
    return days * DAY if days else None
