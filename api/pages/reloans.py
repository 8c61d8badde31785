"""Portal page of re-loan offers (issue #15 item 5): the list by status with accept / cancel forms on pending ones."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.routes.reloans import READ, WRITE, ReloanPort
from api.services.reloans import OfferAccepted
from api.web import Page, act, after_write, error_page, form_text, keyset_page, pages, path_id, render
from domain.identity.principal import Principal
from domain.loans.application import Loans
from domain.reloans.application import ReloanOffers
from domain.reloans.offer import OfferStatus
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError
from projections.keyset import Page as ListPage

STATUSES = [s.value for s in OfferStatus]
#: The list a form action returns to: the status the offer moved to.
_AFTER = {"accept": "approved", "reject": "rejected", "cancel": "cancelled"}


async def offers_page(request: Request, port: ReloanPort, principal: Principal) -> Response:
    status = request.query_params.get("status") or "pending"
    if status not in STATUSES:
        status = "pending"

    def load(cursor: str | None) -> ListPage:
        return port.queries.offers(principal.brand_id, status, cursor, 50)

    rows = await run_in_threadpool(keyset_page, request, load)
    return render(
        request, "reloans.html", nav="reloans", rows=rows, shown=status, statuses=STATUSES,
        can_act=principal.holds(*WRITE),
    )  # fmt: skip


async def offer_action(request: Request, port: ReloanPort, principal: Principal) -> Response:
    found = path_id(request, "offer_id")
    action = request.path_params["action"]
    if found is None or action not in _AFTER:
        return error_page(request, 404, "Not found", "No such re-loan offer action")
    offer_id = found
    reason = form_text(request, "reason").strip() or "withdrawn by staff"

    def run() -> CommandResult:
        if action == "accept":
            return port.desk.accept(principal.brand_id, offer_id)
        if action == "reject":
            return port.desk.reject(principal.brand_id, offer_id, reason)
        return port.desk.cancel(principal.brand_id, offer_id, reason)

    try:
        result = await act(principal, run)
    except DomainError as exc:
        return error_page(request, 409 if "cannot" in str(exc) else 422, "Could not change the offer", str(exc))
    # An accept started an application, which the approved list links: the loans read model has it first.
    also = ((Loans.name, result.loans_position),) if isinstance(result, OfferAccepted) else ()
    target = f"/reloan-offers?status={_AFTER[action]}"
    return await after_write(request, ReloanOffers.name, result.position, target, also=also)


PAGES = pages(
    ReloanPort,
    [
        Page("GET", "/reloan-offers", offers_page, READ),
        Page("POST", "/reloan-offers/{offer_id}/{action}", offer_action, WRITE, form=True),
    ],
)
