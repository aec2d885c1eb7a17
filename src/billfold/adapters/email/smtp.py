"""The ``Mailer`` port over SMTP (the standard library's ``smtplib``), configured by a URL.

``BILLFOLD_SMTP_URL`` names the server: ``smtp://host:port`` (plain, as to a relay on loopback),
``smtp+starttls://user:password@host:587`` (upgrade with STARTTLS, then log in) or ``smtps://user:password@host:465``
(TLS from the start). ``BILLFOLD_EMAIL_FROM`` is the sender (default ``billing@localhost``). Without a URL the
``NoMailer`` refuses every message as undeliverable, so e-mails fail visibly (``billfold.email.failed``) instead of
waiting for a server that was never configured.

A reply of the server decides whether a later attempt can help: a 5xx reply (a refused recipient or message) is
permanent; a 4xx reply, a refused or dropped connection or a timeout is temporary.
"""

from __future__ import annotations

import email.message
import email.utils
import os
import smtplib
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from billfold.app.ports import EmailMessage, Mailer, MailError

DEFAULT_SENDER = "billing@localhost"
TIMEOUT_SECONDS = 15.0
_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str = DEFAULT_SENDER
    security: str = "none"  # none | starttls | tls
    username: str | None = None
    password: str | None = None
    timeout: float = TIMEOUT_SECONDS

    @classmethod
    def from_url(cls, url: str, sender: str = DEFAULT_SENDER) -> SmtpMailer:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS:
            raise ValueError(
                f"BILLFOLD_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://, not {url!r}"
            )
        if not parts.hostname:
            raise ValueError(f"BILLFOLD_SMTP_URL names no host: {url!r}")
        security = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "tls"}[parts.scheme]
        return cls(
            host=parts.hostname,
            port=parts.port or _DEFAULT_PORTS[parts.scheme],
            sender=sender,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def build(self, message: EmailMessage) -> email.message.EmailMessage:
        msg = email.message.EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(message.to)
        msg["Subject"] = message.subject
        msg["Message-ID"] = message.message_id
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg.set_content(message.text)
        return msg

    def send(self, message: EmailMessage) -> None:
        msg = self.build(message)
        try:
            if self.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(msg, from_addr=self.sender, to_addrs=list(message.to))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(
                f"{rcpt}: {code} {text.decode(errors='replace')}"
                for rcpt, (code, text) in exc.recipients.items()
            )
            raise MailError(
                f"The mail server refused the recipient ({detail}).", permanent=all(c >= 500 for c in codes)
            ) from exc
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else exc.smtp_error
            )
            raise MailError(
                f"The mail server replied {exc.smtp_code} {text}.", permanent=exc.smtp_code >= 500
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(
                f"Could not reach the mail server at {self.host}:{self.port}: {exc or type(exc).__name__}.",
                permanent=False,
            ) from exc


class NoMailer:
    """No mail server configured: every message fails at once, permanently, saying so."""

    def send(self, message: EmailMessage) -> None:
        raise MailError("No mail server is configured (set BILLFOLD_SMTP_URL).", permanent=True)


def mailer_from_env() -> Mailer:
    url = os.environ.get("BILLFOLD_SMTP_URL")
    if not url:
        return NoMailer()
    return SmtpMailer.from_url(url, os.environ.get("BILLFOLD_EMAIL_FROM") or DEFAULT_SENDER)
