"""Email over SMTP (SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS, MAIL_FROM), from Jinja2 templates."""

from __future__ import annotations

import os
import smtplib
import threading
from contextlib import suppress
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "email_templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class MailSettings:
    """Where and how to send mail."""

    host: str = "127.0.0.1"
    port: int = 1025
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = "Covenant Desk <covenants@covenant-desk.local>"

    @classmethod
    def from_env(cls) -> MailSettings:
        """Read SMTP_* and MAIL_FROM from the environment."""
        return cls(
            host=os.environ.get("SMTP_HOST", "127.0.0.1"),
            port=int(os.environ.get("SMTP_PORT", "1025")),
            user=os.environ.get("SMTP_USER") or None,
            password=os.environ.get("SMTP_PASSWORD") or None,
            starttls=os.environ.get("SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
            sender=os.environ.get("MAIL_FROM", cls.sender),
        )


def render_email(template: str, **context: Any) -> tuple[str, str]:
    """(text, html) bodies of `template` (`<name>.txt` and `<name>.html`)."""
    return TEMPLATES.get_template(f"{template}.txt").render(**context), TEMPLATES.get_template(
        f"{template}.html"
    ).render(**context)


class SmtpMailer:
    """Sends multipart (text + HTML) emails over one reused SMTP connection per thread."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._local = threading.local()

    def _connection(self) -> smtplib.SMTP:
        conn: smtplib.SMTP | None = getattr(self._local, "conn", None)
        if conn is not None:
            with suppress(smtplib.SMTPException, OSError):
                if conn.noop()[0] == 250:
                    return conn
        conn = smtplib.SMTP(self.settings.host, self.settings.port, timeout=30)
        if self.settings.starttls:
            conn.starttls()
        if self.settings.user:
            conn.login(self.settings.user, self.settings.password or "")
        self._local.conn = conn
        return conn

    def send(self, *, to: str, subject: str, text: str, html: str, message_id: str) -> None:
        """Send one email; raises on refusal (the caller records the failure)."""
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = message_id
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        try:
            self._connection().send_message(message)
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            self._local.conn = None
            self._connection().send_message(message)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with suppress(smtplib.SMTPException, OSError):
                conn.quit()
            self._local.conn = None
