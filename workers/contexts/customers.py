"""Borrower records: registration, contact details, alternate phones, loan numbers; directory and Customer 360."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from adapters.aggregate_snapshots import AggregateSnapshots
from adapters.postgres import Database
from api.pages import customers as pages
from api.routes import customers as routes
from api.web import NavItem
from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from domain.identity.application import Identity
from domain.identity.permissions import Permission
from domain.identity.staff import StaffNotFound
from domain.loans.application import Loans
from domain.loans.loan import Loan
from projections.customer_notes import CustomerNoteQueries, CustomerNotesView
from projections.customer_queries import CustomerQueries
from projections.customers import CustomerDirectory, CustomerTimeline
from workers.bounded_context import BoundedContext, Kit
from workers.numbering import number_series


@dataclass(frozen=True)
class LoanBorrowers:
    """The customers context's `BorrowerLoans`: a loan's borrower from the loan's first event (its creation) in the
    loans' event store -- one row read, never behind as a read model can be. The loans context is looked up at first
    use: it is constructed after this one (it asks customers whether a borrower exists)."""

    kit: Any

    def borrower_of(self, brand_id: UUID, loan_id: UUID) -> UUID | None:
        try:
            loans: Loans = self.kit.get(Loans)
        except LookupError:  # the loans context is not registered: no loan exists
            return None
        for stored in loans.recorder.select_events(loan_id, lte=1, limit=1):
            created = loans.mapper.to_domain_event(stored)
            if isinstance(created, Loan.Created) and created.brand_id == brand_id:
                return created.customer_id
        return None


@dataclass(frozen=True)
class StaffAgents:
    """The customers context's `CustomerAgents`: who may own borrowers, from the staff member's record in the identity
    context (enabled, in the brand, holding CUSTOMER at any level -- the staff who work with borrowers), as the loans'
    assignment asks who takes loans. The identity context is looked up at use, as `LoanBorrowers` does."""

    kit: Any

    def can_own_customers(self, brand_id: UUID, staff_id: UUID) -> bool:
        try:
            staff = self.kit.get(Identity).staff(brand_id, staff_id)
        except StaffNotFound:
            return False
        return bool(staff.enabled) and Permission.CUSTOMER in staff.grants


#: Who auto-allocation gives new borrowers to: staff holding one of these roles (enabled, available, not on leave,
#: holding CUSTOMER). Sales executives work the borrowers in the funnel (leads, onboarding, callbacks); their
#: managers move borrowers rather than own them (docs/customers.md).
BORROWER_AGENT_ROLES = ("sales",)


@dataclass(frozen=True)
class StaffAllocation:
    """The customers context's `BorrowerAllocation`: the brand's `auto_allocate_borrowers` setting, and the
    least-loaded eligible agent from the staff and customers read models on the brand's business date (as the loans'
    `pick_credit_executive`), the first of them who may own borrowers (`StaffAgents`: a per-user override may have
    taken CUSTOMER away)."""

    kit: Any
    queries: CustomerQueries

    def auto_allocate(self, brand_id: UUID) -> bool:
        identity: Identity = self.kit.get(Identity)
        return identity.settings(brand_id).auto_allocate_borrowers

    def pick_agent(self, brand_id: UUID) -> UUID | None:
        identity: Identity = self.kit.get(Identity)
        day = identity.business_date(brand_id)
        agents = StaffAgents(self.kit)
        for staff_id in self.queries.least_loaded_agents(brand_id, BORROWER_AGENT_ROLES, day):
            if agents.can_own_customers(brand_id, staff_id):
                return staff_id
        return None


def _customers(kit: Kit) -> Customers:
    app = Customers(
        env=kit.env,
        clock=kit.clock,
        numbers=number_series(kit),
        loans=LoanBorrowers(kit),
        agents=StaffAgents(kit),
        allocation=StaffAllocation(kit, CustomerQueries(kit.get(Database).pool)),
        days=kit.get(Identity),  # built before this context, as the documents context reads it too
    )
    # A borrower record's snapshot every 100 events: the auditor's as-of replay decodes at most the 100 after it.
    app.snapshot_every, app.snapshot_keeper = 100, AggregateSnapshots(kit.get(Database).pool)
    return app


CONTEXT = BoundedContext(
    application=Customers,
    build=_customers,
    queries=(CustomerQueries, CustomerNoteQueries),
    projections=(CustomerDirectory(), CustomerTimeline(), CustomerNotesView()),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Customers", "/customers", "customers", Permission.CUSTOMER, 40),),
    permissions=(Permission.CUSTOMER, Permission.CUSTOMER_NOTES, Permission.RELOCATE_USER),
    audited=(CustomerRecord,),
)
