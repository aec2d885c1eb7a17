"""Reading ``/v1/billfold/emails`` in tests: an invoice's e-mails, and waiting for the worker's delivery attempt."""

from __future__ import annotations

import time
from typing import Any

import stripe


def emails_of(c: stripe.StripeClient, **filters: Any) -> list[Any]:
    page = c.deserialize(c.raw_request("get", "/v1/billfold/emails", **filters), api_mode="V1")
    return list(page.data)


def settled_email(c: stripe.StripeClient, invoice_id: str, timeout: float = 20) -> Any:
    """The invoice's one e-mail once the worker's first attempt is over."""
    deadline = time.monotonic() + timeout
    while True:
        found = emails_of(c, invoice=invoice_id)
        assert len(found) == 1, found
        if found[0].attempts >= 1 and found[0].status != "sending":
            return found[0]
        assert time.monotonic() < deadline, f"no delivery attempt for {invoice_id}: {found[0]}"
        time.sleep(0.05)


def outbox_drained(c: stripe.StripeClient, timeout: float = 20) -> None:
    """Wait until the worker has delivered every e-mail of the account it can (none queued or being sent)."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = [e for status in ("queued", "sending") for e in emails_of(c, status=status, limit=100)]
        if not waiting:
            return
        assert time.monotonic() < deadline, f"e-mails still waiting: {waiting}"
        time.sleep(0.05)
