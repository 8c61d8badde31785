"""Use cases of scheduled reminders: schedule, cancel, and the dispatcher's take-then-record steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.reminders.reminder import Reminder, ReminderChannel, ReminderNotFound
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication
from domain.shared.clock import Clock
from domain.shared.errors import FieldChecks, FieldError
from domain.shared.values import MIN_REASON, clean_text

#: A reminder may be scheduled this far back (a form filled slowly, clocks a little apart): it is then sent at the
#: dispatcher's next minute. Further back is a mistake.
PAST_TOLERANCE = timedelta(minutes=10)
#: And at most this far ahead.
HORIZON = timedelta(days=366)


@dataclass(frozen=True)
class TemplateRef:
    """What the reminders context needs of a message template: its name, channel and whether it may be used."""

    id: UUID
    name: str
    channel: str
    usable: bool = True
    why_not: str | None = None


class ReminderParties(Protocol):
    """What the reminders context asks the customers and engagement contexts."""

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool: ...

    def template(self, brand_id: UUID, template_id: UUID) -> TemplateRef | None: ...


@dataclass(frozen=True)
class Outcome:
    """What became of one reminder's message: sent (with the message and its status) or failed (why)."""

    reminder_id: UUID
    sent: bool
    message_id: UUID | None
    message_status: str
    reason: str | None = None


def _reason(reason: str) -> str:
    clean = clean_text(
        reason, "reason", multiline=True, min_visible=MIN_REASON, missing="give a reason (at least 3 characters)"
    )
    return " ".join(clean.split())[:500]


class Reminders(ContextApplication):
    """Scheduled reminders per brand."""

    name = "reminders"

    def __init__(
        self, env: dict[str, str] | None = None, clock: Clock | None = None, parties: ReminderParties | None = None
    ) -> None:
        super().__init__(env, clock)
        self.parties = parties

    def schedule(
        self, brand_id: UUID, customer_id: UUID, channel: ReminderChannel, template_id: UUID, scheduled_at: datetime
    ) -> CommandResult:
        """Schedule a message to a borrower of the brand with a template of the channel, at `scheduled_at`."""
        checks = FieldChecks()
        now = self.clock.now()
        template = None
        if self.parties is not None:
            if not self.parties.has_borrower(brand_id, customer_id):
                checks.errors.append(FieldError("customer_id", f"no borrower {customer_id} in this brand"))
            template = self.parties.template(brand_id, template_id)
            if template is None:
                checks.errors.append(FieldError("template_id", f"no message template {template_id} in this brand"))
            elif template.channel != channel.value:
                checks.errors.append(
                    FieldError("template_id", f"the template is for {template.channel}, not {channel.value}")
                )
            elif not template.usable:
                checks.errors.append(FieldError("template_id", template.why_not or "the template cannot be used"))
        if scheduled_at.tzinfo is None:
            checks.errors.append(FieldError("scheduled_at", "give a time zone (e.g. 2026-12-01T10:00:00+05:30)"))
        elif scheduled_at < now - PAST_TOLERANCE:
            checks.errors.append(FieldError("scheduled_at", "must not be in the past"))
        elif scheduled_at > now + HORIZON:
            checks.errors.append(FieldError("scheduled_at", "must be within a year"))
        checks.raise_if_any()
        reminder = Reminder(
            brand_id=brand_id,
            customer_id=customer_id,
            channel=channel,
            template_id=template_id,
            template_name=template.name if template is not None else str(template_id),
            # In UTC: the API refuses an offset no zone has (`check_offset`), the portal's form reads its own.
            scheduled_at=scheduled_at.astimezone(UTC),
        )
        return self.commit(reminder)

    def get(self, brand_id: UUID, reminder_id: UUID) -> Reminder:
        """The reminder, if it belongs to the brand."""
        return self.load(Reminder, reminder_id, brand_id, ReminderNotFound)

    def cancel(self, brand_id: UUID, reminder_id: UUID, reason: str = "cancelled by staff") -> CommandResult:
        """Cancel a reminder not yet sent (409 once sent, failed, cancelled or being sent)."""
        why = _reason(reason)
        reminder = self.get(brand_id, reminder_id)
        reminder.cancel(why)
        return self.commit(reminder)

    def take(self, brand_id: UUID, reminder_ids: Sequence[UUID]) -> list[Reminder]:
        """The dispatcher takes the due ones of `reminder_ids` (one atomic save; a reminder cancelled meanwhile is
        left out); a reminder taken by a run that died is returned again, to be sent under the same key."""
        now = self.clock.now()
        found = self.find_many(reminder_ids)
        due = [r for i in reminder_ids if isinstance(r := found.get(i), Reminder) and r.brand_id == brand_id]
        due = [r for r in due if r.due(now)]
        for reminder in due:
            reminder.start_dispatch()
        try:
            self.save(*due)
        except IntegrityError:  # a cancel won the race for one of them: take them one by one
            return self._take_each(brand_id, [r.id for r in due])
        return due

    def _take_each(self, brand_id: UUID, reminder_ids: Sequence[UUID]) -> list[Reminder]:
        taken = []
        for reminder_id in reminder_ids:
            reminder = self.get(brand_id, reminder_id)
            if not reminder.due(self.clock.now()):
                continue
            reminder.start_dispatch()
            try:
                self.commit(reminder)
            except ConcurrentModification:
                continue
            taken.append(reminder)
        return taken

    def record(self, reminders: Sequence[Reminder], outcomes: Sequence[Outcome]) -> int:
        """Record what became of each taken reminder's message (one atomic save); the number recorded."""
        by_id = {o.reminder_id: o for o in outcomes}
        changed = []
        for reminder in reminders:
            outcome = by_id.get(reminder.id)
            if outcome is None:
                continue
            if outcome.sent and outcome.message_id is not None:
                reminder.sent(outcome.message_id, outcome.message_status)
            else:
                reminder.failed(outcome.reason or "not sent", outcome.message_id)
            changed.append(reminder)
        self.save(*changed)
        return len(changed)
