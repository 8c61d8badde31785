"""Covenant monitoring: covenants per application, evaluation records per cycle, reminders and overdue notices."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from api.pages import borrower_covenants, covenant_form
from api.pages import covenants as pages
from api.routes import covenant_proofs
from api.routes import covenants as routes
from api.web import NavItem
from domain.covenants.application import CovenantDefaults, Covenants
from domain.covenants.covenant import Covenant, CovenantEvaluation, CovenantNotice
from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound
from domain.identity.application import Identity
from domain.identity.permissions import Permission
from domain.identity.staff import StaffNotFound
from projections.covenant_queries import CovenantQueries
from projections.covenants import CovenantProofReviews, CovenantViews
from workers import covenant_jobs
from workers.bounded_context import BoundedContext, Job, Kit


@dataclass(frozen=True)
class BrandParties:
    """The covenants context's `CovenantParties`, answered by the customers and identity contexts."""

    customers: Customers
    identity: Identity

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool:
        try:
            self.customers.get(brand_id, customer_id)
        except CustomerNotFound:
            return False
        return True

    def has_staff(self, brand_id: UUID, staff_id: UUID) -> bool:
        try:
            self.identity.staff(brand_id, staff_id)
        except StaffNotFound:
            return False
        return True

    def defaults(self, brand_id: UUID) -> CovenantDefaults:
        settings = self.identity.settings(brand_id)
        return CovenantDefaults(grace_days=settings.covenant_grace_days, lead_days=settings.covenant_lead_days)


def _covenants(kit: Kit) -> Covenants:
    return Covenants(env=kit.env, clock=kit.clock, parties=BrandParties(kit.get(Customers), kit.get(Identity)))


CONTEXT = BoundedContext(
    application=Covenants,
    build=_covenants,
    queries=(CovenantQueries,),
    projections=(CovenantViews(), CovenantProofReviews()),
    # A covenant may belong to a company of the brand (`Covenant.Created.company`; its records and notices carry it
    # too): a staff member limited to companies sees only theirs, and those of no company, in the trail.
    activity_by_company=True,
    # A record opened, or a notice queued, before those events carried their company takes its covenant's (a
    # notice's: its records', when they share one), live and after a rebuild.
    activity_company_from=("covenant_id", "evaluation_ids"),
    endpoints=(*routes.ENDPOINTS, *covenant_proofs.ENDPOINTS),
    # `/covenants/new` before `/covenants/{covenant_id}`; the borrower's own covenants page (the web flow's cookie).
    pages=(*covenant_form.PAGES, *pages.PAGES, *borrower_covenants.PAGES),
    jobs=(
        Job(covenant_jobs.EVALUATION, covenant_jobs.run_evaluation, covenant_jobs.CovenantJobPort),
        Job(covenant_jobs.NOTIFICATION, covenant_jobs.run_notification, covenant_jobs.CovenantJobPort),
    ),
    nav=(NavItem("Covenants", "/covenants", "covenants", Permission.COVENANTS, 20),),
    permissions=(Permission.COVENANTS, Permission.COVENANT_REVIEW),
    audited=(Covenant, CovenantEvaluation, CovenantNotice),
)
