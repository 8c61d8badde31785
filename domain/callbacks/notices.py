"""What the staff notices about callback requests say (pushed through the staff notices context by
workers/callback_jobs.py): a request reached its holder (`assigned`: a fresh ask, or any request moved to them) and a
follow-up's time to call came (`due`). One notice per request, kind and holder (`notice_key`), however often pushed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.staff_notices.notice import Priority

ASSIGNED = "assigned"
DUE = "due"
DEFAULT_TIMEZONE = "Asia/Kolkata"


@dataclass(frozen=True)
class CallbackNotice:
    """A notice's title, body and priority."""

    title: str
    body: str
    priority: Priority


def notice_key(request_id: UUID, kind: str, assignee_id: UUID) -> str:
    """The key of the one notice to `assignee_id` about the request for `kind` (`StaffNotices.push`)."""
    return f"callback:{request_id}:{kind}:{assignee_id}"


def _local(at: datetime, timezone: str | None) -> str:
    try:
        zone = ZoneInfo(timezone or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    return at.astimezone(zone).strftime("%d %b %Y %H:%M %Z")


def callback_notice(
    kind: str,
    *,
    borrower: str,
    loan_number: str | None,
    window: str,
    note: str,
    due_at: datetime | None,
    timezone: str | None,
) -> CallbackNotice:
    """The notice of `kind` about a request of `borrower` (their name, else their phone)."""
    about = f" about {loan_number}" if loan_number else ""
    when = f"call back at {_local(due_at, timezone)}" if due_at is not None else f"when: {window}"
    lines = [f"{borrower}{about}: {when}."]
    if note:
        lines.append(f"Note: {note}")
    lines.append("Open the callback queue: /callback-requests?assigned_to=me")
    body = "\n".join(lines)
    if kind == DUE:
        return CallbackNotice(f"Callback due now: {borrower}", body, Priority.HIGH)
    if due_at is not None:  # a follow-up moved to them
        return CallbackNotice(f"Follow-up callback now yours: {borrower}", body, Priority.MEDIUM)
    return CallbackNotice(f"New callback request: {borrower}", body, Priority.MEDIUM)
