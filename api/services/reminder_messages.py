"""How a scheduled reminder becomes a message: through the engagement context's send service (templates, opt-outs,
quiet hours, providers, delivery tracking), under the key `reminder:<id>`, so one reminder is one message ever."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from adapters.engagement_store import EngagementStore
from api.services.engagement import Engagement
from domain.engagement.templates import Approval, Channel, sendable_on_whatsapp
from domain.reminders.application import Outcome, TemplateRef
from domain.reminders.reminder import Reminder
from domain.shared.errors import DomainError

#: The messages store's `source` of reminders' messages (their key is `reminder:<reminder id>`).
SOURCE = "reminder"
#: Message states that mean the reminder's message did not and will not go out.
UNSENT = frozenset({"failed", "suppressed"})


@dataclass(frozen=True)
class ReminderMessages:
    """Sends a taken reminder's message (the dispatcher's port field)."""

    engagement: Engagement

    def send(self, brand_id: UUID, reminder: Reminder) -> Outcome:
        """Send, or find the message a killed run already sent; a refusal (no phone or email, the template
        withdrawn, a WhatsApp template not approved) is a failed outcome with its reason."""
        try:
            message = self.engagement.send(
                brand_id,
                reminder.customer_id,
                Channel(reminder.channel.value),
                idempotency_key=str(reminder.id),
                template_id=reminder.template_id,
                source=SOURCE,
            )
        except DomainError as exc:
            return Outcome(reminder.id, False, None, "failed", exc.message)
        if message.status in UNSENT:
            return Outcome(reminder.id, False, message.id, message.status, message.reason or message.status)
        return Outcome(reminder.id, True, message.id, message.status)


def template_ref(store: EngagementStore, brand_id: UUID, template_id: UUID) -> TemplateRef | None:
    """A template of the brand as the reminders context sees it (a WhatsApp one needs an approved version that
    WhatsApp has not paused, disabled or deleted since)."""
    found = store.template(brand_id, template_id)
    if found is None:
        return None
    if found.channel != Channel.WHATSAPP.value:
        return TemplateRef(found.id, found.name, found.channel, usable=True, why_not=None)
    versions = store.versions(brand_id, template_id)
    approved = [v for v in versions if v.approval == Approval.APPROVED.value]
    usable = any(sendable_on_whatsapp(v.approval, v.whatsapp_status) for v in approved)
    why = (None if usable else "this WhatsApp template is not approved yet" if not approved
           else f"WhatsApp has {approved[0].whatsapp_status} this template")  # fmt: skip
    return TemplateRef(found.id, found.name, found.channel, usable=usable, why_not=why)
