"""Message templates (issue #17 item 2): channels, languages, kinds, placeholders and their escaping rendering.

A template body holds `{{placeholder}}` names from `PLACEHOLDERS`; rendering substitutes each in ONE pass (a value
holding `{{amount}}` stays literal text, it is never rendered again). Values are cleaned first: control
characters, line breaks and bidi overrides are dropped, each is cut to `MAX_VALUE` characters. Email bodies are
HTML: every value is HTML-escaped there (the template's own markup is the admin's); SMS, WhatsApp and the email's
subject and text part are plain text. A hostile borrower name (`<script>`, `{{payment_link}}`, a newline and a
fake "PAY HERE" line) therefore shows as the literal characters, on one line, and nothing else.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache

from domain.shared.errors import FieldChecks, FieldError, InvalidInput, InvalidValue
from domain.shared.values import MIN_REASON, clean_text


class Channel(StrEnum):
    """How a message reaches the borrower."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"


class Language(StrEnum):
    """The languages templates are written in (a borrower's preference picks one; English is the fallback)."""

    EN = "en"
    HI = "hi"


class Kind(StrEnum):
    """The automatic notifications (issue #17 item 3); templates of staff's own have kind `custom`."""

    DUE_7 = "due_7"  # 7 days before a due date
    DUE_3 = "due_3"
    DUE_1 = "due_1"
    DUE_0 = "due_0"  # on the due date
    OVERDUE = "overdue"  # repeated on the brand's cadence until paid
    DISBURSED = "disbursed"
    PAID = "paid"  # fully paid: receipt and no-due certificate link
    RELOAN_OFFER = "reloan_offer"  # a re-loan offered on closure: the amount and the link to answer it
    CUSTOM = "custom"


class Approval(StrEnum):
    """A WhatsApp template's approval by the provider (Meta); other channels need none."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class WhatsAppStatus(StrEnum):
    """What WhatsApp reported of an approved template since (its `message_template_status_update` events other than
    the verdict): flagged for low quality (still sent), paused or disabled (not sent), reinstated (sent again), or on
    its way out (pending deletion, deleted: not sent)."""

    FLAGGED = "flagged"
    PAUSED = "paused"
    DISABLED = "disabled"
    REINSTATED = "reinstated"
    PENDING_DELETION = "pending_deletion"
    DELETED = "deleted"


#: The WhatsApp statuses under which an approved template version does not go out (WhatsApp refuses the send).
UNSENDABLE_STATUSES = frozenset(
    {WhatsAppStatus.PAUSED, WhatsAppStatus.DISABLED, WhatsAppStatus.PENDING_DELETION, WhatsAppStatus.DELETED}
)


def sendable_on_whatsapp(approval: str | None, status: str | None) -> bool:
    """Whether a WhatsApp template version goes out: approved, and not paused, disabled or deleted by WhatsApp since
    (flagged still goes; reinstated goes again)."""
    return approval == Approval.APPROVED and status not in UNSENDABLE_STATUSES


#: Days before the due date of each due-date reminder.
DUE_OFFSETS: dict[Kind, int] = {Kind.DUE_7: 7, Kind.DUE_3: 3, Kind.DUE_1: 1, Kind.DUE_0: 0}
#: Why a reminder that waited (for quiet hours to end, for its retry) is recorded `suppressed` instead of sent: the
#: instalment was paid, or the loan left servicing (paid off, settled, written off, closed), since it was composed.
NO_LONGER_DUE = "no_longer_due"
#: ... or the next reminder of the cadence is owed by now and speaks for the instalment (see `superseded`).
SUPERSEDED = "superseded"
#: ... or (a WhatsApp message) its template version was paused, disabled or deleted by WhatsApp while it waited.
TEMPLATE_UNSENDABLE = "template_unsendable"


def superseded(kind: str, due_date: date, as_of: date) -> bool:
    """Whether a due-date reminder of `kind` (for an instalment due on `due_date`) still waiting to go on the business
    date `as_of` has been overtaken by the next reminder of the cadence, whose day has come: `due_7` from D-3
    (`due_3`), `due_3` from D-1, `due_1` from D (`due_0`: "due tomorrow" would be false), `due_0` from D+1 (the
    overdue cadence: "due today" would be false). Other kinds are never superseded here."""
    offsets = sorted(DUE_OFFSETS.values(), reverse=True)
    offset = next((n for k, n in DUE_OFFSETS.items() if k.value == kind), None)
    if offset is None:
        return False
    later = [n for n in offsets if n < offset]
    next_offset = later[0] if later else -1
    return (due_date - as_of).days <= next_offset


PLACEHOLDERS: dict[str, str] = {
    "borrower_name": "Asha Verma",
    "loan_number": "DEMO-L-000123",
    "amount": "₹5,250.00",
    "due_date": "05 Dec 2026",
    "payment_link": "https://pay.example.in/l/abc123",
    "brand_name": "Demo Finance",
    "days_overdue": "3",
    "ndc_link": "https://desk.example.in/ndc/VERIFY123",
    "offer_link": "https://desk.example.in/apply/demo/status",
}
MAX_VALUE = 200
MAX_BODY = {Channel.SMS: 918, Channel.WHATSAPP: 1024, Channel.EMAIL: 20_000}
MAX_SUBJECT = 200
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_UNSAFE_IN_VALUE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]")


@dataclass(frozen=True)
class Rendered:
    """A template rendered for one message: the subject (email) and the body (HTML for email, text otherwise)."""

    subject: str | None
    body: str
    text: str  # the plain-text form (the body itself for SMS and WhatsApp)


def placeholders_of(text: str) -> set[str]:
    """The placeholder names used in `text`."""
    return {m.group(1) for m in _PLACEHOLDER.finditer(text)}


def check_template(channel: Channel, subject: str | None, body: str) -> tuple[str | None, str]:
    """A template's subject and body, cleaned; InvalidInput naming `body`/`subject` (unknown placeholder, length)."""
    checks = FieldChecks()
    clean_body = checks.check(lambda: clean_text(body, "body", multiline=True, min_visible=MIN_REASON))
    clean_subject: str | None = None
    if channel is Channel.EMAIL:
        clean_subject = checks.check(lambda: clean_text(subject, "subject", min_visible=MIN_REASON))
    elif subject:
        checks.errors.append(FieldError("subject", "only email templates have a subject"))
    checks.raise_if_any()
    assert clean_body is not None
    errors = []
    for field, text in (("body", clean_body), ("subject", clean_subject or "")):
        unknown = sorted(placeholders_of(text) - set(PLACEHOLDERS))
        if unknown:
            errors.append(FieldError(field, f"unknown placeholder {unknown}; use {sorted(PLACEHOLDERS)}"))
    if len(clean_body) > MAX_BODY[channel]:
        errors.append(FieldError("body", f"at most {MAX_BODY[channel]} characters for {channel.value}"))
    if clean_subject is not None and len(clean_subject) > MAX_SUBJECT:
        errors.append(FieldError("subject", f"at most {MAX_SUBJECT} characters"))
    if errors:
        raise InvalidInput(errors)
    return clean_subject, clean_body


def clean_value(value: object) -> str:
    """A placeholder's value as it may appear: one line, no control or bidi characters, at most MAX_VALUE long."""
    return _clean(str(value))


@lru_cache(maxsize=4096)
def _clean(raw: str) -> str:
    """`clean_value` of a string (cached: a page of messages repeats the brand, link, date and amounts)."""
    text = _UNSAFE_IN_VALUE.sub(" ", raw)
    return " ".join(text.split())[:MAX_VALUE]


@lru_cache(maxsize=1024)
def _parts(text: str) -> tuple[str, ...]:
    """`text` split at its placeholders: literal, name, literal, ..., literal (cached: a job renders one template
    thousands of times)."""
    return tuple(_PLACEHOLDER.split(text))


def _substitute(text: str, values: Mapping[str, str], escape: bool) -> str:
    parts = list(_parts(text))
    for at in range(1, len(parts), 2):
        value = values.get(parts[at], "")
        parts[at] = html.escape(value, quote=True) if escape else value
    return "".join(parts)


def render(channel: Channel, subject: str | None, body: str, variables: Mapping[str, object]) -> Rendered:
    """Render a template with `variables` (unknown names are ignored, missing ones render empty; see the module doc)."""
    values = {name: clean_value(v) for name, v in variables.items() if name in PLACEHOLDERS and v is not None}
    if channel is Channel.EMAIL:
        html_body = _substitute(body, values, escape=True)
        text = _substitute(_TAGS.sub("", body), values, escape=False)
        return Rendered(_substitute(subject or "", values, escape=False), html_body, text)
    text = _substitute(body, values, escape=False)
    return Rendered(None, text, text)


_TAGS = re.compile(r"<[^>]{0,500}>")


def parse_channel(raw: str, field: str = "channel") -> Channel:
    """A channel name; InvalidValue naming `field` otherwise."""
    try:
        return Channel(raw)
    except ValueError:
        raise InvalidValue(field, f"one of {[c.value for c in Channel]}") from None


def parse_language(raw: str, field: str = "language") -> Language:
    """A language code; InvalidValue naming `field` otherwise."""
    try:
        return Language(raw)
    except ValueError:
        raise InvalidValue(field, f"one of {[lang.value for lang in Language]}") from None


def parse_kind(raw: str, field: str = "kind") -> Kind:
    """A template kind; InvalidValue naming `field` otherwise."""
    try:
        return Kind(raw)
    except ValueError:
        raise InvalidValue(field, f"one of {[k.value for k in Kind]}") from None
