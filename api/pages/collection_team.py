"""The collections team page: a stage's DPD buckets and each executive's figures (managers), everyone's or - with
`team=mine` (the "My team" switch) or a manager's staff id - one team's."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.routes.collection_team import TEAM, TeamPort
from api.web import Page, error_page, not_found, pages, render
from domain.collections.case import STAGE_PERMISSION, Stage
from domain.identity.principal import Principal
from domain.shared.errors import InvalidInput
from projections.collection_team import TeamView


async def team_page(request: Request, port: TeamPort, principal: Principal) -> Response:
    try:
        stage = Stage(request.query_params.get("stage") or Stage.COLLECTIONS.value)
    except ValueError:
        return await not_found(request)
    if not principal.holds(STAGE_PERMISSION[stage]):
        return error_page(request, 403, "Not allowed", f"You may not see the {stage.value} team.")
    team = request.query_params.get("team") or None

    def load() -> TeamView:
        members = port.teams.members(principal, team)
        return port.team.team(principal.brand_id, stage, port.clock.now(), members)

    try:
        view = await run_in_threadpool(load)
    except InvalidInput as exc:
        return error_page(request, 422, "No such team", str(exc))
    return render(request, "collection_team.html", nav="collections", view=view, stages=[s.value for s in Stage],
                  team=team)  # fmt: skip


PAGES = pages(TeamPort, [Page("GET", "/collections/team", team_page, TEAM)])
