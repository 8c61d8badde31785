"""Scheduled reminders (issue #17 item 4): staff (Collection, Loan Ops, Admin) schedule a message to one borrower
on a channel with a template; the `reminder-dispatch` job sends those due every minute through the engagement
context's send service, exactly once; the list with its filters; cancel before sending."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from adapters.engagement_store import EngagementStore
from api.pages import reminders as pages
from api.routes import reminders as routes
from api.services.reminder_messages import template_ref
from api.web import NavItem
from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound
from domain.identity.permissions import Permission
from domain.reminders.application import Reminders, TemplateRef
from domain.reminders.reminder import Reminder
from projections.reminders import ReminderQueries, ReminderView
from workers import reminder_dispatch
from workers.bounded_context import BoundedContext, Job, Kit


@dataclass(frozen=True)
class BrandReminderParties:
    """The reminders context's `ReminderParties`: borrowers from the customers context, templates from the
    engagement context's store (looked up when first asked: the platform registers it after the applications)."""

    customers: Customers
    kit: Kit

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool:
        try:
            self.customers.get(brand_id, customer_id)
        except CustomerNotFound:
            return False
        return True

    def template(self, brand_id: UUID, template_id: UUID) -> TemplateRef | None:
        return template_ref(self.kit.get(EngagementStore), brand_id, template_id)


def _reminders(kit: Kit) -> Reminders:
    return Reminders(env=kit.env, clock=kit.clock, parties=BrandReminderParties(kit.get(Customers), kit))


CONTEXT = BoundedContext(
    application=Reminders,
    build=_reminders,
    queries=(ReminderQueries,),
    projections=(ReminderView(),),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Reminders", "/reminders", "reminders", Permission.REMINDERS, 32),),
    permissions=(Permission.REMINDERS,),
    jobs=(Job(reminder_dispatch.DEFINITION, reminder_dispatch.run, reminder_dispatch.ReminderJobPort),),
    audited=(Reminder,),
)
