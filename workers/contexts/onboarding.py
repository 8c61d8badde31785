"""Onboarding: borrower sign-in by one-time code, the funnel of steps, staff lists and conversion."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from adapters.providers.directory import ProviderDirectory
from api.pages import borrower_flow
from api.pages import onboarding as pages
from api.routes import borrower as borrower_routes
from api.routes import onboarding as routes
from api.web import NavItem
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.brand import BrandNotFound
from domain.identity.permissions import Permission
from domain.onboarding.application import Onboarding
from domain.onboarding.funnel import Funnel
from domain.onboarding.steps import FunnelRules
from domain.shared.errors import InvalidInput
from projections.onboarding import OnboardingQueries, OnboardingView
from projections.projection import topics_of
from workers import onboarding_jobs
from workers.bounded_context import BoundedContext, Job, Kit


@dataclass(frozen=True)
class IdentityBrands:
    """The onboarding context's `OnboardingBrands`, answered by the identity context."""

    identity: Identity

    def brand_id(self, code: str) -> UUID | None:
        try:
            return self.identity.brand_by_slug(code).id
        except (BrandNotFound, InvalidInput):
            return None

    def rules(self, brand_id: UUID) -> FunnelRules:
        settings = self.identity.settings(brand_id)
        return FunnelRules(
            require_employment=settings.require_employment_data,
            require_selfie=settings.require_selfie_video,
            auto_reject_inactive=settings.auto_reject_inactive_users,
            inactive_days=settings.inactive_user_days,
        )


def _onboarding(kit: Kit) -> Onboarding:
    return Onboarding(
        env=kit.env,
        clock=kit.clock,
        brands=IdentityBrands(kit.get(Identity)),
        customers=kit.get(Customers),
        sms=kit.get(ProviderDirectory).sms(),
    )


CONTEXT = BoundedContext(
    application=Onboarding,
    build=_onboarding,
    queries=(OnboardingQueries,),
    projections=(OnboardingView(),),
    # The trail keeps the funnel's steps; sign-in codes and sessions stay out of it.
    activity=topics_of(Funnel.Started, Funnel.StepRecorded, Funnel.StepReopened, Funnel.CustomerLinked, Funnel.Closed),
    endpoints=(*borrower_routes.ENDPOINTS, *routes.ENDPOINTS),
    pages=(*pages.PAGES, *borrower_flow.PAGES),
    nav=(NavItem("Onboarding", "/onboarding", "onboarding", Permission.ONBOARDING_IN_PROGRESS, 45),),
    jobs=(Job(onboarding_jobs.INACTIVE, onboarding_jobs.run_inactive, onboarding_jobs.OnboardingJobPort),),
    permissions=(Permission.ONBOARDING_IN_PROGRESS, Permission.ONBOARDING_COMPLETED),
    audited=(Funnel,),
)
