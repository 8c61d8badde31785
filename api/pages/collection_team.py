"""The collections team page: a stage's DPD buckets and each executive's figures (managers)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.routes.collection_team import TEAM, TeamPort
from api.routes.collections import STAGE_PERMISSION
from api.web import Page, error_page, not_found, pages, render
from domain.collections.case import Stage
from domain.identity.principal import Principal


async def team_page(request: Request, port: TeamPort, principal: Principal) -> Response:
    try:
        stage = Stage(request.query_params.get("stage") or Stage.COLLECTIONS.value)
    except ValueError:
        return await not_found(request)
    if not principal.holds(STAGE_PERMISSION[stage]):
        return error_page(request, 403, "Not allowed", f"You may not see the {stage.value} team.")
    view = await run_in_threadpool(port.team.team, principal.brand_id, stage, port.clock.now())
    return render(request, "collection_team.html", nav="collections", view=view, stages=[s.value for s in Stage])


PAGES = pages(TeamPort, [Page("GET", "/collections/team", team_page, TEAM)])
