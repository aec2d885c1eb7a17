"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepts, for the e-mail tests.

Recipients steer it, as a real server would answer: ``bounce-...`` is refused for good (550); ``busy-...`` is
refused for now (451) on every attempt, ``busy1-...`` only on the first. Everything else is accepted and kept.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections import Counter
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class Inbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._attempts: Counter[str] = Counter()

    # aiosmtpd handler hooks ---------------------------------------------------------------------------------------
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self._lock:
            self._attempts[address] += 1
            tries = self._attempts[address]
        if address.startswith("bounce-"):
            return "550 5.1.1 No such mailbox here"
        if address.startswith("busy-") or (address.startswith("busy1-") and tries == 1):
            return "451 4.3.2 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._messages.append(message)
        return "250 Message accepted for delivery"

    # for the tests ------------------------------------------------------------------------------------------------
    def to(self, address: str) -> list[EmailMessage]:
        """The messages accepted for ``address`` so far, oldest first."""
        with self._lock:
            return [m for m in self._messages if address in str(m["To"])]

    def attempts(self, address: str) -> int:
        """How many times a client asked to deliver to ``address`` (accepted or not)."""
        with self._lock:
            return self._attempts[address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 20) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(found := self.to(address)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} message(s) to {address} did not arrive; got {len(found)}")
            time.sleep(0.05)
        return found


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        with socket.socket() as s:  # aiosmtpd's start-up check connects to the port: name a free one
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
