"""The mailer's composer: the wire bytes parse to the same parts, headers and contents as the email package's."""

from __future__ import annotations

from datetime import date
from email import message_from_bytes, policy
from typing import Any

import pytest

from adapters.mailer import _composed_by_email_package, compose, render_email, render_shaped
from workers.covenant_jobs import _context

SENDER = "Covenant Desk <covenants@covenant-desk.local>"


def _parsed(raw: bytes) -> Any:
    return message_from_bytes(raw, policy=policy.default)


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("Dear Suresh,\n\n- DSCR >= 1.25\n.a line starting with a dot\n", "<p>Dear Suresh,</p>\n"),
        ("नमस्ते सुरेश\r\n₹5,000.00 due\n", "<p>₹5,000.00</p>"),  # not ASCII: base64
        ("no line break at the end", "x" * 2_000),  # a line over SMTP's limit: base64
        ("", ""),
    ],
)
@pytest.mark.parametrize(
    "subject", ["Reminder: Debt service coverage due 05 Jul 2024 (CDL0012345678)", "Überfällig: ऋण"]
)
def test_composed_email_reads_as_the_email_package_writes_it(text: str, html: str, subject: str) -> None:
    raw = compose(SENDER, "borrower@example.in", subject, "<notice-1@covenant-desk>", text, html)
    ours = _parsed(raw)
    theirs = _parsed(_composed_by_email_package((("Subject", subject),), text, html))
    assert not ours.defects and ours.get_content_type() == "multipart/alternative"
    assert (ours["From"], ours["To"], ours["Subject"], ours["Message-ID"]) == (
        SENDER,
        "borrower@example.in",
        subject,
        "<notice-1@covenant-desk>",
    )
    assert ours["Date"].datetime is not None
    for kind in ("plain", "html"):
        assert (
            ours.get_body(preferencelist=(kind,)).get_content() == theirs.get_body(preferencelist=(kind,)).get_content()
        )
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)  # CRLF line ends only
    assert max(len(line) for line in lines) <= 998


def test_a_header_with_a_line_break_is_refused_as_the_email_package_refuses_it() -> None:
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        compose(SENDER, "borrower@example.in", "Hello\r\nBcc: someone@example.org", "<n@x>", "text", "<p>html</p>")


@pytest.mark.parametrize("template", ["covenant_reminder", "covenant_overdue"])
@pytest.mark.parametrize(
    "items",
    [
        [("Debt service coverage", "DSCR >= 1.25")],
        [("Audited accounts", None), ("Insurance <renewal> & \"copy\" 'now'", "Policy ₹5,000 & up"), ("Site", "")],
        [("Stock statement", "monthly"), ("Net worth", "NW > 10 cr"), ("\x00 1 \x00", "{{ name }}")],
    ],
)
def test_a_shaped_notice_email_is_the_template_rendered_for_it(template: str, items: list[Any]) -> None:
    name, ref, brand, due = "Suresh <Menon> & Sons", "CDL'0012\"345", "Bench & Co", date(2024, 7, 5)
    values = [name, ref, *(v for title, req in items for v in ((title, req) if req else (title,)))]
    shape = (due, brand, tuple(bool(req) for _, req in items))
    for _ in range(2):  # rendered, then from the shape kept
        assert render_shaped(template, _context, shape, values) == render_email(
            template,
            name=name,
            due_date=due,
            application_ref=ref,
            items=[{"title": title, "requirement": req or None} for title, req in items],
            brand_name=brand,
        )


@pytest.mark.parametrize("template", ["covenant_reminder", "covenant_overdue"])
@pytest.mark.parametrize(
    "items",
    [
        [("Stock statement", "monthly", "05 December 2026")],
        [("Audited accounts", None, "01 April 2024"), ("Insurance <copy>", "Policy & co", None), ("Site", "", None)],
        [("Net worth", "NW > 10 cr", None), ("\x00 2 \x00", None, "{{ name }} & <b>")],
    ],
)
def test_a_shaped_notice_email_with_proofs_received_is_the_template_rendered_for_it(
    template: str, items: list[Any]
) -> None:
    name, ref, brand, due = "Suresh <Menon> & Sons", "CDL'0012\"345", "Bench & Co", date(2024, 7, 5)
    values = [name, ref]
    for title, req, day in items:
        values += [title, *([req] if req else []), *([day] if day else [])]
    shape = (due, brand, tuple(bool(req) for _, req, _ in items), tuple(bool(day) for *_, day in items))
    for _ in range(2):  # rendered, then from the shape kept
        assert render_shaped(template, _context, shape, values) == render_email(
            template,
            name=name,
            due_date=due,
            application_ref=ref,
            items=[{"title": title, "requirement": req or None, "received": day} for title, req, day in items],
            brand_name=brand,
        )


@pytest.mark.parametrize(
    ("received", "asks", "says"),
    [
        ((None, None), "Please submit the documents or figures as soon as possible", None),
        (("05 December 2026", None), "Please submit the documents or figures for the covenant we have not received",
         "Stock statement: Monthly stock statement\n  We received your documents on 05 December 2026; they are being "
         "reviewed."),
        (("05 December 2026", "06 December 2026"), None, "You need not send them again"),
    ],
)  # fmt: skip
def test_an_overdue_email_asks_only_for_the_documents_not_received(
    received: tuple[str | None, ...], asks: str | None, says: str | None
) -> None:
    items = [
        {"title": "Stock statement", "requirement": "Monthly stock statement", "received": received[0]},
        {"title": "Insurance copy", "requirement": None, "received": received[1]},
    ]
    text, html = render_email("covenant_overdue", name="Suresh", due_date=date(2024, 3, 31), application_ref="APP-1",
                              items=items, brand_name="Acme")  # fmt: skip
    for body in (text, html):
        assert ("Please submit" in body) is (asks is not None)
        if asks:
            assert asks in body
        for day in filter(None, received):
            assert f"We received your documents on {day}; they are being reviewed." in body
    if says:
        assert says in text


@pytest.mark.parametrize(
    ("received", "asks", "says"),
    [
        ((None, None), "Please share the documents or figures with your relationship team before the due date", None),
        (("05 December 2026", None), "Please share the documents or figures for the covenant we have not received",
         "Stock statement: Monthly stock statement\n  We received your documents on 05 December 2026; they are being "
         "reviewed."),
        (("05 December 2026", "06 December 2026"), None, "You need not send them again"),
    ],
)  # fmt: skip
def test_a_reminder_asks_only_for_the_documents_not_received(
    received: tuple[str | None, ...], asks: str | None, says: str | None
) -> None:
    items = [
        {"title": "Stock statement", "requirement": "Monthly stock statement", "received": received[0]},
        {"title": "Insurance copy", "requirement": None, "received": received[1]},
    ]
    text, html = render_email("covenant_reminder", name="Suresh", due_date=date(2024, 3, 31), application_ref="APP-1",
                              items=items, brand_name="Acme")  # fmt: skip
    for body in (text, html):
        assert ("Please share" in body) is (asks is not None)
        if asks:
            assert asks in body
        assert ("We received" in body) is any(received)
        for day in filter(None, received):
            assert f"We received your documents on {day}; they are being reviewed." in body
    if says:
        assert says in text


def test_lines_starting_with_a_dot_reach_the_server_as_written() -> None:
    from adapters.mail_sink import MailSink
    from adapters.mailer import MailSettings, SmtpMailer

    sink = MailSink().start()
    mailer = SmtpMailer(MailSettings(port=sink.port))
    try:
        for i, text in enumerate([".first line\n..two\nmiddle\n.\nend\n", "no dot at a line's start\n"]):
            mailer.send(to="b@example.in", subject="s", text=text, html=f"<p>{i}</p>", message_id=f"<m-{i}@cd>")
        mailer.close()
        received = [m.get_body(("plain",)).get_content().replace("\r\n", "\n") for m in sink.messages]  # type: ignore[union-attr]
    finally:
        sink.stop()
    assert received == [".first line\n..two\nmiddle\n.\nend\n", "no dot at a line's start\n"]


class _CountingSocket:
    """A connected socket that counts its writes (smtplib sends each command or message with one sendall)."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.writes = 0

    def sendall(self, data: bytes) -> None:
        self.writes += 1
        self.sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


@pytest.mark.parametrize(("pipelining", "writes_an_email"), [(True, 3), (False, 5)])
def test_the_envelope_goes_in_one_write_when_the_server_offers_pipelining(
    pipelining: bool, writes_an_email: int
) -> None:
    """With PIPELINING offered, MAIL, RCPT and DATA go in one write (then the message and its end mark): three
    writes an email instead of five, one round trip to the server instead of three before the message."""
    from adapters.mail_sink import MailSink
    from adapters.mailer import MailSettings, SmtpMailer

    sink = MailSink(pipelining=pipelining).start()
    mailer = SmtpMailer(MailSettings(port=sink.port))
    try:
        mailer.send(to="first@example.in", subject="s0", text="t", html="<p>h</p>", message_id="<p-0@cd>")
        conn = mailer._local.conn
        counting = conn.sock = _CountingSocket(conn.sock)
        for i in range(1, 4):
            mailer.send(to=f"b{i}@example.in", subject=f"s{i}", text="t", html="<p>h</p>", message_id=f"<p-{i}@cd>")
        writes = counting.writes
        mailer.close()
        received = [(str(m["To"]), str(m["Message-ID"])) for m in sink.messages]
    finally:
        sink.stop()
    assert writes == 3 * writes_an_email
    assert received == [("first@example.in", "<p-0@cd>")] + [(f"b{i}@example.in", f"<p-{i}@cd>") for i in range(1, 4)]


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_refused_recipient_is_mail_refused_and_the_next_email_goes_through(pipelining: bool) -> None:
    from adapters.mail_sink import MailSink
    from adapters.mailer import MailRefused, MailSettings, SmtpMailer

    sink = MailSink(pipelining=pipelining, refuse={"Closed@Example.in"}).start()
    mailer = SmtpMailer(MailSettings(port=sink.port))
    handed_over: list[str] = []
    try:
        with pytest.raises(MailRefused, match=r"^550 .*closed@example\.in.*mailbox unavailable"):
            mailer.send(
                to="closed@example.in", subject="s", text="t", html="<p>h</p>", message_id="<r-0@cd>",
                handing_over=lambda end: (handed_over.append("closed"), end()),
            )  # fmt: skip
        connection = mailer._local.conn
        mailer.send(to="open@example.in", subject="s", text="t", html="<p>h</p>", message_id="<r-1@cd>",
                    handing_over=lambda end: (handed_over.append("open"), end()))  # fmt: skip
        same_connection = connection is not None and mailer._local.conn is connection
        mailer.close()
        received = [str(m["Message-ID"]) for m in sink.messages]
    finally:
        sink.stop()
    # Refused before the message went out: nothing was handed over (so a job records it failed, still owed), and
    # the connection, reset, carried the next email (no new connection and greeting for each refused address).
    assert handed_over == ["open"]
    assert received == ["<r-1@cd>"]
    assert same_connection
