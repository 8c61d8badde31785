"""Reminder use cases: scheduling checks the borrower, the template (of the brand, of the channel, usable) and the
time, recording nothing when refused; cancel only before the dispatcher takes it; take and record are idempotent
(a taken reminder is taken again after a crash, a recorded one never again); brand isolation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from uuid import UUID

import pytest

from domain.reminders.application import Outcome, Reminders, TemplateRef
from domain.reminders.reminder import ReminderChannel, ReminderNotFound, ReminderStatus
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000e1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000e2")
ASHA = uuid.UUID("00000000-0000-4000-8000-00000000a5a0")
SMS_TEMPLATE = uuid.UUID("00000000-0000-4000-8000-0000000005a5")
WA_PENDING = uuid.UUID("00000000-0000-4000-8000-000000000aa0")


class Parties:
    """Asha is the brand's borrower; it has an SMS template and a WhatsApp one awaiting approval."""

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool:
        return brand_id == BRAND and customer_id == ASHA

    def template(self, brand_id: UUID, template_id: UUID) -> TemplateRef | None:
        if brand_id != BRAND:
            return None
        if template_id == SMS_TEMPLATE:
            return TemplateRef(SMS_TEMPLATE, "Payment nudge", "sms")
        if template_id == WA_PENDING:
            return TemplateRef(WA_PENDING, "WA nudge", "whatsapp", usable=False, why_not="not approved yet")
        return None


@pytest.fixture
def reminders(clock: FixedClock) -> Reminders:
    return in_memory(Reminders, clock, parties=Parties())


def _events(app: Reminders) -> int:
    return len(list(app.recorder.select_notifications(start=1, limit=1000)))


def test_schedule_then_dispatch_records_sent_once(reminders: Reminders, clock: FixedClock) -> None:
    at = clock.now() + timedelta(hours=1)
    made = reminders.schedule(BRAND, ASHA, ReminderChannel.SMS, SMS_TEMPLATE, at)
    reminder = reminders.get(BRAND, made.id)
    assert reminder.status is ReminderStatus.SCHEDULED and reminder.template_name == "Payment nudge"

    assert reminders.take(BRAND, [made.id]) == []  # not due yet
    clock.instant = at
    taken = reminders.take(BRAND, [made.id])
    assert [r.id for r in taken] == [made.id]
    # the run dies here; the next one takes the same reminder again (and sends under the same key)
    again = reminders.take(BRAND, [made.id])
    assert [r.id for r in again] == [made.id] and _events(reminders) == 2  # no second DispatchStarted
    message = uuid.uuid4()
    assert reminders.record(again, [Outcome(made.id, True, message, "sent")]) == 1
    assert reminders.get(BRAND, made.id).status is ReminderStatus.SENT
    assert reminders.take(BRAND, [made.id]) == []
    with pytest.raises(Conflict):
        reminders.cancel(BRAND, made.id)


def test_a_failed_send_is_recorded_with_its_reason(reminders: Reminders, clock: FixedClock) -> None:
    made = reminders.schedule(BRAND, ASHA, ReminderChannel.SMS, SMS_TEMPLATE, clock.now())
    taken = reminders.take(BRAND, [made.id])
    reminders.record(taken, [Outcome(made.id, False, None, "failed", "the borrower opted out of sms")])
    found = reminders.get(BRAND, made.id)
    assert found.status is ReminderStatus.FAILED


def test_cancel_before_dispatch_only(reminders: Reminders, clock: FixedClock) -> None:
    first = reminders.schedule(BRAND, ASHA, ReminderChannel.SMS, SMS_TEMPLATE, clock.now() + timedelta(minutes=5))
    reminders.cancel(BRAND, first.id, "borrower paid already")
    assert reminders.get(BRAND, first.id).status is ReminderStatus.CANCELLED
    with pytest.raises(Conflict):
        reminders.cancel(BRAND, first.id)
    clock.instant += timedelta(minutes=5)
    assert reminders.take(BRAND, [first.id]) == []  # a cancelled one is never sent

    second = reminders.schedule(BRAND, ASHA, ReminderChannel.SMS, SMS_TEMPLATE, clock.now())
    reminders.take(BRAND, [second.id])
    with pytest.raises(Conflict, match="being sent"):
        reminders.cancel(BRAND, second.id)
    with pytest.raises(ReminderNotFound):
        reminders.cancel(OTHER, second.id)
    assert reminders.take(OTHER, [second.id]) == []


def test_bad_input_names_every_field_and_records_nothing(reminders: Reminders, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput) as refused:
        reminders.schedule(BRAND, uuid.uuid4(), ReminderChannel.SMS, uuid.uuid4(), clock.now() - timedelta(days=1))
    assert {e.field for e in refused.value.errors} == {"customer_id", "template_id", "scheduled_at"}
    with pytest.raises(InvalidInput, match="for sms, not email"):
        reminders.schedule(BRAND, ASHA, ReminderChannel.EMAIL, SMS_TEMPLATE, clock.now())
    with pytest.raises(InvalidInput, match="not approved"):
        reminders.schedule(BRAND, ASHA, ReminderChannel.WHATSAPP, WA_PENDING, clock.now())
    with pytest.raises(InvalidInput):
        reminders.schedule(BRAND, ASHA, ReminderChannel.SMS, SMS_TEMPLATE, clock.now() + timedelta(days=400))
    with pytest.raises(InvalidInput):  # Asha and the template are of the other brand
        reminders.schedule(OTHER, ASHA, ReminderChannel.SMS, SMS_TEMPLATE, clock.now())
    assert _events(reminders) == 0
