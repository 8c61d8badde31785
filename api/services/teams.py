"""The reporting hierarchy as the team views read it: `team=mine` (the caller's team) or `team=<staff id>` (that
manager's team) on the collections team view and worklist, the Sanction Head's team figures and the performance
reports. A team is the manager and everyone reporting to them directly or indirectly (`IdentityQueries.team_of`).
Not given, a view is brand-wide as before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from pydantic import Field

from domain.identity.principal import Principal
from domain.shared.errors import InvalidValue
from domain.shared.values import stated_choices
from projections.identity import IdentityQueries

#: The value of `team` that names the caller's own team.
MINE = "mine"
#: What the `team` parameter takes, for the query models' descriptions.
TEAM_HELP = (
    "`mine` (the caller's team) or a manager's staff id (that manager's team): the manager and everyone reporting "
    "to them directly or indirectly; left out, everyone"
)
#: A `team` parameter as the query models read it and the document states it: `mine` or a staff id, as written (an
#: empty value is a 422, `parse_query`: only free text may be empty). `Teams` checks it; `mine` for an API key, or an
#: id of nobody in the brand, is a 422 for the caller or the brand, not for the input.
TeamParam = Annotated[str, Field(max_length=40), stated_choices([MINE], or_id=True)]


@dataclass(frozen=True)
class Teams:
    """Resolves a `team` parameter to its manager and members (422 naming the parameter when it names nobody)."""

    staff: IdentityQueries

    def manager(self, principal: Principal, team: str | None, field: str = "team") -> UUID | None:
        """The manager whose team `team` names: the caller for `mine`, else the staff id given; None when not given
        (everyone). 422 naming `field` for `mine` without a staff member signed in (an API key has no team), a
        value that is not an id, or an id that is not a staff member of the principal's brand."""
        if not team:
            return None
        manager = self._manager_id(principal, team, field)
        if self.staff.staff(principal.brand_id, manager) is None:
            raise InvalidValue(field, f"no staff member {manager} in this brand")
        return manager

    def members(self, principal: Principal, team: str | None, field: str = "team") -> list[UUID] | None:
        """The staff ids of the team `team` names (its manager among them); None when not given. Refused as
        `manager` refuses; one query."""
        if not team:
            return None
        manager = self._manager_id(principal, team, field)
        found = self.staff.team_of(principal.brand_id, manager)
        if not found:
            raise InvalidValue(field, f"no staff member {manager} in this brand")
        return found

    @staticmethod
    def _manager_id(principal: Principal, team: str, field: str) -> UUID:
        if team == MINE:
            if principal.kind != "staff":
                raise InvalidValue(field, "`mine` is a signed-in staff member's team; give a manager's staff id")
            return principal.id
        try:
            return UUID(team)
        except ValueError:
            raise InvalidValue(field, "is neither `mine` nor a staff id") from None
