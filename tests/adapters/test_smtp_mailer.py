"""The SMTP adapter of the Mailer port against a real SMTP server on loopback (tests/support/smtp.py): the URL it
is configured by, the message it writes, and which failures are worth another attempt."""

from __future__ import annotations

import socket

import pytest

from billfold.adapters.email.smtp import NoMailer, SmtpMailer, mailer_from_env
from billfold.app.ports import EmailMessage, MailError
from tests.support.smtp import SmtpServer


def _message(to: str) -> EmailMessage:
    return EmailMessage(
        "<email_1@billfold.invalid>", (to,), "Invoice ABC-0001: 1.085,81 €", "Grüße\nZeile 2\n"
    )


def test_the_url_names_server_security_and_login() -> None:
    plain = SmtpMailer.from_url("smtp://127.0.0.1:2525", "billing@saas.example")
    assert (plain.host, plain.port, plain.security, plain.username, plain.sender) == (
        "127.0.0.1",
        2525,
        "none",
        None,
        "billing@saas.example",
    )
    tls = SmtpMailer.from_url("smtp+starttls://ap%40saas.example:s%3Acret@mail.saas.example")
    assert (tls.host, tls.port, tls.security, tls.username, tls.password) == (
        "mail.saas.example",
        587,
        "starttls",
        "ap@saas.example",
        "s:cret",
    )
    assert (SmtpMailer.from_url("smtps://mail.saas.example").port, "tls") == (465, "tls")
    for bad in ("http://mail.saas.example", "smtp://", "mail.saas.example:25"):
        with pytest.raises(ValueError, match="BILLFOLD_SMTP_URL"):
            SmtpMailer.from_url(bad)


def test_without_a_url_every_message_fails_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLFOLD_SMTP_URL", raising=False)
    mailer = mailer_from_env()
    assert isinstance(mailer, NoMailer)
    with pytest.raises(MailError, match="BILLFOLD_SMTP_URL") as err:
        mailer.send(_message("a@customer.example"))
    assert err.value.permanent
    monkeypatch.setenv("BILLFOLD_SMTP_URL", "smtp://127.0.0.1:2525")
    monkeypatch.setenv("BILLFOLD_EMAIL_FROM", "billing@saas.example")
    configured = mailer_from_env()
    assert isinstance(configured, SmtpMailer) and configured.sender == "billing@saas.example"


def test_a_message_arrives_with_its_headers_and_text(smtp_server: SmtpServer) -> None:
    SmtpMailer("127.0.0.1", smtp_server.port, sender="billing@saas.example").send(
        _message("a@customer.example")
    )
    [got] = smtp_server.inbox.wait_for("a@customer.example")
    assert (got["From"], got["To"], got["Subject"], got["Message-ID"]) == (
        "billing@saas.example",
        "a@customer.example",
        "Invoice ABC-0001: 1.085,81 €",
        "<email_1@billfold.invalid>",
    )
    assert got.get_content().replace("\r\n", "\n") == "Grüße\nZeile 2\n"


@pytest.mark.parametrize(
    ("recipient", "permanent", "says"),
    [("bounce-1@customer.example", True, "550"), ("busy-1@customer.example", False, "451")],
)
def test_the_servers_reply_decides_if_another_attempt_can_help(
    smtp_server: SmtpServer, recipient: str, permanent: bool, says: str
) -> None:
    with pytest.raises(MailError, match=says) as err:
        SmtpMailer("127.0.0.1", smtp_server.port).send(_message(recipient))
    assert err.value.permanent is permanent


def test_an_unreachable_server_is_worth_another_attempt() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    with pytest.raises(MailError, match="Could not reach") as err:
        SmtpMailer("127.0.0.1", port, timeout=2).send(_message("a@customer.example"))
    assert not err.value.permanent
