"""The mailer's composer: the wire bytes parse to the same parts, headers and contents as the email package's."""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

import pytest

from adapters.mailer import _composed_by_email_package, compose

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
