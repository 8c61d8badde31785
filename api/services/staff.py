"""Staff records as the staff endpoints and pages read them: the profile (read model with the brand's business
date), and the logins, live sessions and activity of a staff member of the brand (404 for anyone else's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from adapters.operational import OperationalStore
from domain.identity.application import Identity
from domain.shared.clock import Clock
from projections.activity import ActivityPage, ActivityQueries
from projections.engine import ProjectionEngine
from projections.identity import IdentityQueries, LoginView, StaffProfile


@dataclass(frozen=True)
class LiveSession:
    """A live portal session of a staff member."""

    created_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class StaffRecords:
    """Reads about one staff member of a brand, across the identity read model, the session store and the trail."""

    identity: Identity
    queries: IdentityQueries
    activity_trail: ActivityQueries
    ops: OperationalStore
    clock: Clock
    engine: ProjectionEngine

    def caught_up(self, position: int) -> bool:
        """Whether the identity read models show the write at `position` (waits a bounded time)."""
        return position <= 0 or self.engine.wait_for(Identity.name, position)

    def profile(self, brand_id: UUID, staff_id: UUID) -> StaffProfile | None:
        """The staff member's profile, on leave or not on the brand's business date; None when not (yet) shown."""
        return self.queries.profile(brand_id, staff_id, self.identity.business_date(brand_id))

    def logins(self, brand_id: UUID, staff_id: UUID, limit: int = 100) -> list[LoginView]:
        """Login attempts, newest first; StaffNotFound (404) for no staff member of the brand."""
        self.identity.staff(brand_id, staff_id)
        return self.queries.logins(brand_id, staff_id, limit)

    def sessions(self, brand_id: UUID, staff_id: UUID) -> list[LiveSession]:
        """Live sessions, newest first; StaffNotFound (404) for no staff member of the brand."""
        self.identity.staff(brand_id, staff_id)
        rows = self.ops.sessions_of(staff_id, self.clock.now())
        return [LiveSession(r["created_at"], r["expires_at"], r["ip"], r["user_agent"]) for r in rows]

    def activity(
        self,
        brand_id: UUID,
        staff_id: UUID,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
        companies: tuple[str, ...] = (),
        aggregate_type: str | None = None,
        aggregate_id: UUID | None = None,
    ) -> ActivityPage:
        """What the staff member did, newest first, on the records of `companies` (those the viewer may see; empty:
        every company), of the kind `aggregate_type` and the record `aggregate_id` when given; StaffNotFound (404)
        for no staff member of the brand."""
        self.identity.staff(brand_id, staff_id)
        return self.activity_trail.entries(
            brand_id,
            actor=f"staff:{staff_id}",
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
            companies=companies,
        )
