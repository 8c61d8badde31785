"""Scheduled reminders (spec "Reminder Management"): staff schedule one message to one borrower on a channel with a
template for a future time; the `reminder-dispatch` job sends it when due, once. States:

    scheduled -> sent | failed      (the dispatcher; `dispatching` is set first, so a cancel cannot slip in between)
    scheduled -> cancelled          (staff, before the dispatcher took it)

The message itself is claimed under the key `reminder:<id>` in the messages store, so a dispatcher killed after
sending and before recording finds the message already there on its rerun and sends nothing again."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, NotFound


class ReminderChannel(StrEnum):
    """How the reminder reaches the borrower (the engagement context's channels)."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"


class ReminderStatus(StrEnum):
    """Where a reminder is."""

    SCHEDULED = "scheduled"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ReminderNotFound(NotFound):
    """Raised when no reminder has the id within the brand."""


def message_key(reminder_id: UUID) -> str:
    """The idempotency key the reminder's message is claimed under: one message per reminder, ever."""
    return f"reminder:{reminder_id}"


class Reminder(Aggregate):
    """One staff-scheduled message to one borrower."""

    class Scheduled(Aggregate.Created):
        """Staff scheduled a reminder."""

        brand_id: UUID
        customer_id: UUID
        channel: ReminderChannel
        template_id: UUID
        template_name: str
        scheduled_at: datetime

    class DispatchStarted(Aggregate.Event):
        """The dispatcher took the reminder (it is about to be sent; cancelling is too late)."""

    class Sent(Aggregate.Event):
        """The message was handed to the channel (`message_status` as the messages store had it then)."""

        message_id: UUID
        message_status: str

    class Failed(Aggregate.Event):
        """The message could not be sent (no template, no address, opted out, the provider refused it)."""

        reason: str
        message_id: UUID | None = None

    class Cancelled(Aggregate.Event):
        """Staff cancelled the reminder before it was sent."""

        reason: str

    @event(Scheduled)
    def __init__(
        self,
        brand_id: UUID,
        customer_id: UUID,
        channel: ReminderChannel,
        template_id: UUID,
        template_name: str,
        scheduled_at: datetime,
    ) -> None:
        self.brand_id = brand_id
        self.customer_id = customer_id
        self.channel = channel
        self.template_id = template_id
        self.template_name = template_name
        self.scheduled_at = scheduled_at
        self.status = ReminderStatus.SCHEDULED
        self.dispatching = False
        self.message_id: UUID | None = None

    def due(self, now: datetime) -> bool:
        """Whether the dispatcher should send it at `now`."""
        return self.status is ReminderStatus.SCHEDULED and self.scheduled_at <= now

    def cancel(self, reason: str) -> None:
        """Cancel before sending; once sent (or being sent), failed or cancelled it is a conflict."""
        if self.status is not ReminderStatus.SCHEDULED:
            raise Conflict(
                f"the reminder is {self.status.value}; only a scheduled one can be cancelled", id=str(self.id)
            )
        if self.dispatching:
            raise Conflict("the reminder is being sent; it can no longer be cancelled", id=str(self.id))
        self._cancelled(reason=reason)

    @event(Cancelled)
    def _cancelled(self, reason: str) -> None:
        self.status = ReminderStatus.CANCELLED

    def start_dispatch(self) -> None:
        """The dispatcher takes it (a rerun after a crash finds it taken already and goes on with it)."""
        if self.status is ReminderStatus.SCHEDULED and not self.dispatching:
            self._dispatch_started()

    @event(DispatchStarted)
    def _dispatch_started(self) -> None:
        self.dispatching = True

    def sent(self, message_id: UUID, message_status: str) -> None:
        """Record the message it became."""
        if self.status is ReminderStatus.SCHEDULED:
            self._sent(message_id=message_id, message_status=message_status)

    @event(Sent)
    def _sent(self, message_id: UUID, message_status: str) -> None:
        self.status = ReminderStatus.SENT
        self.message_id = message_id

    def failed(self, reason: str, message_id: UUID | None = None) -> None:
        """Record why it could not be sent."""
        if self.status is ReminderStatus.SCHEDULED:
            self._failed(reason=reason[:500], message_id=message_id)

    @event(Failed)
    def _failed(self, reason: str, message_id: UUID | None) -> None:
        self.status = ReminderStatus.FAILED
        self.message_id = message_id
