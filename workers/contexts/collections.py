"""Collections (issue #16 items 1-4, 11): stages and worklists, allocation (automatic after the close of business,
and managers' reallocation), the contact log, promises to pay and the team view."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import structlog

from adapters.named_locks import NamedLocks
from adapters.postgres import Database
from api.pages import collection_evidence as evidence_pages
from api.pages import collection_paylinks as paylink_pages
from api.pages import collection_team as team_pages
from api.pages import collections as pages
from api.routes import collection_evidence, collection_paylinks, collection_team
from api.routes import collections as routes
from api.web import NavItem
from domain.collections.application import CollectionParties, Collections, LoanFacts, OpenCase
from domain.collections.case import STAGE_PERMISSION, CollectionCase, Owed, Stage
from domain.collections.moves import CaseMoves, CollectionDay
from domain.identity.application import Identity
from domain.identity.permissions import Level
from domain.identity.staff import StaffNotFound
from domain.loans.application import Loans
from domain.loans.loan import LoanNotFound
from domain.shared.errors import Conflict
from projections.collection_dues import CollectionDuesView
from projections.collection_queries import CollectionQueries
from projections.collection_team import TeamQueries
from projections.collections import CollectionViews
from projections.engine import ProjectionEngine
from workers.bounded_context import BoundedContext, Kit

log = structlog.get_logger(__name__)

#: How long a reallocation (or the sweep) waits for another holding the brand's case assignments, and how long the
#: holder waits for the cases read model to show its moves before letting go.
ASSIGNMENTS_HOLD_SECONDS = 5.0


@dataclass(frozen=True)
class BrandCollectionParties:
    """The collections context's `CollectionParties`: the loans and identity contexts, and its own read model for
    the open cases."""

    loans: Loans
    identity: Identity
    queries: CollectionQueries
    locks: NamedLocks
    kit: Any  # the projection engine is built after the applications: looked up at use

    def loan(self, brand_id: UUID, loan_id: UUID) -> LoanFacts | None:
        try:
            found = self.loans.get(brand_id, loan_id)
        except LoanNotFound:
            return None
        return LoanFacts(loan_id, str(found.status), self.identity.business_date(brand_id))

    def can_collect(self, brand_id: UUID, staff_id: UUID, stage: Stage) -> bool:
        try:
            staff = self.identity.staff(brand_id, staff_id)
        except StaffNotFound:
            return False
        level = staff.grants.get(STAGE_PERMISSION[stage])
        return bool(staff.enabled) and level is not None and level.covers(Level.WRITE)

    def open_cases(self, brand_id: UUID, loan_ids: Sequence[UUID]) -> Mapping[UUID, OpenCase]:
        return self.queries.open_cases(brand_id, loan_ids)

    def owed(self, brand_id: UUID, loan_id: UUID, on: date) -> Owed:
        owing = self.loans.owing(brand_id, loan_id, on, field="date")
        return Owed(owing.amount, owing.what)

    @contextmanager
    def assignments(self, brand_id: UUID) -> Iterator[Callable[[int], None]]:
        def busy() -> Exception:
            return Conflict("the brand's collection cases are being reallocated right now; try again")

        with self.locks.holding([f"collection-assignments:{brand_id}"], ASSIGNMENTS_HOLD_SECONDS, busy):
            yield self._shown

    def _shown(self, position: int) -> None:
        engine: ProjectionEngine = self.kit.get(ProjectionEngine)
        if not engine.wait_for(Collections.name, position, ASSIGNMENTS_HOLD_SECONDS, (CollectionViews.name,)):
            log.warning("collections.cases_behind", position=position)


def _collections(kit: Kit) -> Collections:
    pool = kit.get(Database).pool
    parties: CollectionParties = BrandCollectionParties(
        kit.get(Loans), kit.get(Identity), CollectionQueries(pool), kit.get(NamedLocks), kit
    )
    return Collections(env=kit.env, clock=kit.clock, parties=parties)


CONTEXT = BoundedContext(
    application=Collections,
    build=_collections,
    queries=(CollectionQueries, TeamQueries),
    projections=(CollectionViews(), CollectionDuesView()),
    endpoints=(
        *routes.ENDPOINTS,
        *collection_evidence.ENDPOINTS,
        *collection_team.ENDPOINTS,
        *collection_paylinks.ENDPOINTS,
    ),
    pages=(*pages.PAGES, *evidence_pages.PAGES, *team_pages.PAGES, *paylink_pages.PAGES),
    nav=(NavItem("Collections", "/collections", "collections", routes.DESK_READ[0], 30),),
    permissions=(routes.READ[0], routes.REALLOCATE[0], routes.LEGAL[0]),
    audited=(CollectionCase, CaseMoves, CollectionDay),
)
