"""Email over SMTP (SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS, MAIL_FROM), from Jinja2 templates."""

from __future__ import annotations

import base64
import email.policy
import functools
import os
import re
import smtplib
import socket
import threading
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "email_templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    # The templates ship with the code: no file-system check of each one on every email (get_template stats the
    # file each time when on; a notification job renders two templates an email).
    auto_reload=False,
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
    #: SMTP connections a notification job keeps open at once (one per sending thread): each email's hand-over is
    #: recorded in a transaction shared by the emails waiting for one, so more connections make larger groups.
    connections: int = 24

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
            connections=max(1, int(os.environ.get("SMTP_CONNECTIONS", cls.connections))),
        )


def render_email(template: str, **context: Any) -> tuple[str, str]:
    """(text, html) bodies of `template` (`<name>.txt` and `<name>.html`)."""
    return TEMPLATES.get_template(f"{template}.txt").render(**context), TEMPLATES.get_template(
        f"{template}.html"
    ).render(**context)


class Slot(str):
    """A stand-in for a per-email string in a template rendered once per shape (see `render_shaped`)."""

    __slots__ = ()


#: A slot in a rendered shape: NUL, its number, NUL (NUL passes HTML escaping unchanged and is never in a template).
_SLOT = re.compile("\x00([0-9]+)\x00")


#: A builder of a template's context with slots: `build(slot, *shape)` (see `render_shaped`).
ContextWithSlots = Callable[..., dict[str, Any]]


@functools.lru_cache(maxsize=1024)
def _shape(template: str, build: ContextWithSlots, shape: tuple[Any, ...]) -> tuple[list[str], list[str]]:
    numbers = iter(range(1_000_000))
    context = build(lambda: Slot(f"\x00{next(numbers)}\x00"), *shape)
    text, html = render_email(template, **context)
    return _SLOT.split(text), _SLOT.split(html)


def render_shaped(template: str, build: ContextWithSlots, shape: tuple[Any, ...], values: list[str]) -> tuple[str, str]:
    """(text, html) of `template`, rendered once per shape and filled in per email.

    `build(slot, *shape)` returns the template's context with `slot()` in place of each per-email string,
    numbered in the order of the calls; `shape` (hashable) holds what else the context depends on (e.g. how many
    items, which are empty, the due date), and `values` are the email's strings in the order of the slots
    (HTML-escaped here for the html body, as the template's autoescape does). A slot may only be printed as is,
    never tested, measured or filtered. Rendering the two templates is ~60 us; filling a shape in is a few.
    """
    text, html = _shape(template, build, shape)
    return _filled(text, values, escaped=False), _filled(html, values, escaped=True)


#: What Jinja's autoescape (markupsafe.escape) writes for each character it escapes.
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#39;", '"': "&#34;"})


def _filled(parts: list[str], values: list[str], *, escaped: bool) -> str:
    out = parts[:]
    for i in range(1, len(out), 2):
        value = values[int(out[i])]
        out[i] = value.translate(_HTML_ESCAPES) if escaped else value
    return "".join(out)


def compose(sender: str, to: str, subject: str, message_id: str, text: str, html: str) -> bytes:
    """The wire bytes (CRLF lines, not yet dot-stuffed) of a multipart/alternative email of `text` and `html`.

    Plain ASCII headers (every email the jobs send) are written directly, and so are the two parts: 7bit when
    ASCII with lines within SMTP's limit, else base64 of UTF-8. That is a tenth of the CPU of building an
    EmailMessage (its header registry parses every header it is given), which was most of a send's. Any header
    needing encoding or folding (non-ASCII, a line break, an over-long line) takes the email package's way.
    """
    date = formatdate(localtime=False, usegmt=True)
    headers = (("From", sender), ("To", to), ("Subject", subject), ("Date", date), ("Message-ID", message_id))
    if not all(_PLAIN_HEADER.fullmatch(value) and len(name) + len(value) < 990 for name, value in headers):
        return _composed_by_email_package(headers, text, html)
    boundary = f"==cd_{uuid.uuid4().hex}"
    while boundary in text or boundary in html:  # pragma: no cover - 128 random bits in a body
        boundary = f"==cd_{uuid.uuid4().hex}"
    lines = [f"{name}: {value}" for name, value in headers]
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
    head = "\r\n".join(lines).encode("ascii")
    plain, rich = _part("plain", text), _part("html", html)
    marker = f"\r\n--{boundary}\r\n".encode("ascii")
    return b"".join((head, marker, plain, marker, rich, f"\r\n--{boundary}--\r\n".encode("ascii")))


#: A header value written as is: printable ASCII (and spaces) only, so no encoding, folding or line break to add.
_PLAIN_HEADER = re.compile(r"[\x20-\x7e]*")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_MAX_LINE = 998  # SMTP's hard limit on a line, CRLF aside


def _part(subtype: str, content: str) -> bytes:
    """One text part with its headers: 7bit when ASCII with short lines, else base64 of UTF-8 in 76-column lines."""
    lines = _LINE_BREAKS.split(content)
    if lines[-1] == "" and len(lines) > 1:
        lines.pop()  # the content's own last line break: every line gets one below, as the email package does
    if content.isascii() and all(len(line) <= _MAX_LINE for line in lines):
        body = "".join(line + "\r\n" for line in lines).encode("ascii")
        return b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n%s' % (
            subtype.encode(),
            body,
        )
    encoded = base64.encodebytes("".join(line + "\r\n" for line in lines).encode("utf-8")).replace(b"\n", b"\r\n")
    return b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s' % (
        subtype.encode(),
        encoded,
    )


def _composed_by_email_package(headers: tuple[tuple[str, str], ...], text: str, html: str) -> bytes:
    message = EmailMessage()
    for name, value in headers:
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message.as_bytes(policy=_WIRE_POLICY)


#: An address that needs no parsing to be routed: no display name, comment, quoting or spaces.
_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:@\"]+@[^\s<>()\[\]\\,;:@\"]+")


@functools.lru_cache(maxsize=1024)
def _parsed_route(address: str) -> str:
    return smtplib.quoteaddr(parseaddr(address)[1] or address)


def _route(address: str) -> str:
    """The envelope's `<address>` of a To or From value, as smtplib's mail() and rcpt() write it (`quoteaddr` of
    the parsed address): written directly for a plain address, parsed (once per distinct value) otherwise."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return _parsed_route(address)


class MailRefused(Exception):
    """The mail server answered with an error: the email was definitely not accepted."""


#: Headers unfolded up to SMTP's hard line limit (subjects stay on one line; bodies are encoded as needed).
_WIRE_POLICY = email.policy.SMTP.clone(max_line_length=998)


class SmtpMailer:
    """Sends multipart (text + HTML) emails over one reused SMTP connection per thread.

    `send` can take a `handing_over(end_of_data)` callback that runs once the whole message has been transmitted;
    it must call `end_of_data()` (the mark that makes the server accept the email) inside the transaction that
    records the hand-over, just before that commits. A process that dies before the mark leaves no record and an
    incomplete message the server drops; one that dies after the commit leaves a record of an email the server
    has. So a restarted job neither resends nor misses it.
    """

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._local = threading.local()

    def _connect(self) -> smtplib.SMTP:
        conn = smtplib.SMTP(self.settings.host, self.settings.port, timeout=30)
        # The end-of-data mark goes out alone after the body (see `handing_over`): without TCP_NODELAY, Nagle
        # holds it until the server's delayed ACK of the body, 40 ms an email.
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.settings.starttls:
            conn.starttls()
        if self.settings.user:
            conn.login(self.settings.user, self.settings.password or "")
        self._local.conn = conn
        return conn

    def _envelope(self, conn: smtplib.SMTP, to: str, sender: str) -> None:
        """MAIL, RCPT and DATA up to the server's go-ahead (354): in one write when the server offers PIPELINING
        (RFC 2920; one round trip instead of three), else one command at a time, stopping at the first refusal.

        A refused command refuses the email and resets the transaction, so the connection can carry the next one;
        should a pipelining server still answer DATA with 354 after a refusal, a lone end-of-data mark ends the empty
        message first (RFC 2920 section 3.1)."""
        conn.ehlo_or_helo_if_needed()
        # What smtplib's mail() and rcpt() send (no options), without parsing the addresses on every email.
        lines = [f"MAIL FROM:{_route(sender)}\r\n", f"RCPT TO:{_route(to)}\r\n", "DATA\r\n"]
        if any("\r" in line[:-2] or "\n" in line[:-2] for line in lines):  # as smtplib's putcmd refuses
            raise ValueError("command and arguments contain prohibited newline characters")
        replies: list[tuple[int, bytes]] = []
        if conn.has_extn("pipelining"):
            conn.send("".join(lines))  # encoded as smtplib encodes its commands
            replies = [conn.getreply() for _ in lines]
        else:
            for line in lines:
                conn.send(line)
                replies.append(conn.getreply())
                if replies[-1][0] not in (250, 251, 354):
                    break
        refused = next((r for r in replies[:-1] if r[0] not in (250, 251)), None)
        code, reply = replies[-1]
        if refused is None and code == 354:
            return
        with suppress(smtplib.SMTPException, OSError):
            if code == 354:
                conn.send(b".\r\n")
                conn.getreply()
            conn.rset()
        code, reply = refused or (code, reply)
        raise MailRefused(f"{code} {reply.decode(errors='replace')}")

    def send(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str,
        message_id: str,
        handing_over: Callable[[Callable[[], None]], None] | None = None,
        sender: str | None = None,
    ) -> None:
        """Send one email (from `sender`, e.g. the brand's address, else MAIL_FROM); MailRefused when the server
        refuses it, OSError/SMTPException when the line fails."""
        sender = sender or self.settings.sender
        body = compose(sender, to, subject, message_id, text, html)
        if body.startswith(b".") or b"\n." in body:  # dot-stuffing, only when a line starts with a dot
            body = re.sub(rb"(?m)^\.", b"..", body)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"

        conn: smtplib.SMTP | None = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = self._connect()
            try:
                self._envelope(conn, to, sender)
            except (smtplib.SMTPServerDisconnected, ConnectionError):  # A reused connection the server closed.
                conn = self._connect()
                self._envelope(conn, to, sender)
            conn.send(body)
            ended: list[bool] = []

            def end_of_data() -> None:
                assert conn is not None
                conn.send(b".\r\n")
                ended.append(True)

            if handing_over is not None:
                # It records the hand-over and calls end_of_data inside that record's transaction. If it fails
                # before, the connection is dropped below and the server discards the incomplete message.
                handing_over(end_of_data)
            if not ended:
                end_of_data()
            code, reply = conn.getreply()
        except MailRefused:
            raise  # the envelope was refused and the transaction reset: the connection goes on to the next email
        except BaseException:
            self._drop()
            raise
        if code != 250:
            raise MailRefused(f"{code} {reply.decode(errors='replace')}")

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with suppress(OSError):
                conn.close()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with suppress(smtplib.SMTPException, OSError):
                conn.quit()
            self._local.conn = None
