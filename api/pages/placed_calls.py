""" "Call placed" on a portal page (api/services/placed_calls.py): the call a page was redirected back with
(`?called=<id>`), shown only when it is one the signed-in staff member placed about what the page is about - the
credit executive's Call borrower buttons (api/pages/credit_calls.py, the callback queue) and the collections' Call
buttons (Customer 360, the worklist, the case page) alike."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.services.placed_calls import placed_by
from domain.fieldwork.application import FieldWork
from domain.identity.principal import Principal


def called(request: Request, name: str = "called") -> UUID | None:
    """The call a page was redirected back with (`?called=<id>`), None when absent or not an id."""
    try:
        raw = request.query_params.get(name)
        return UUID(raw) if raw else None
    except ValueError:
        return None


async def placed_call(
    request: Request,
    fieldwork: FieldWork | None,
    principal: Principal,
    *,
    loans: Collection[UUID] | None = None,
    customer_id: UUID | None = None,
) -> UUID | None:
    """The call a page was redirected back with (`?called=<id>`) when it is one the signed-in staff member placed, of
    their brand, about one of `loans` (or to the borrower `customer_id`); None otherwise - absent, not an id,
    nobody's, another brand's, another loan's or borrower's - so the page shows "Call placed" only of a call that
    was."""
    call_id = called(request)
    if call_id is None or fieldwork is None:
        return None
    placed = await run_in_threadpool(placed_by, fieldwork, principal, call_id, loans=loans, customer_id=customer_id)
    return call_id if placed else None
