"""The collection case page's "Send a payment link" form (`POST /collections/loans/{id}/payment-links`,
COLLECTIONS or a stage's permission at WRITE): the rule of `POST /api/v1/loans/{id}/collection-payment-links` (api/routes/collection_paylinks.py)
- the loan's stage permission at WRITE, and an executive only for a loan allocated to them (404 otherwise)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.collections import panel_page
from api.problems import HttpProblem
from api.routes.collection_paylinks import CollectionPaylinkPort, send_collection_link
from api.routes.collections import DESK_WRITE
from api.routes.disbursals import public_base
from api.routes.paylinks import WEBHOOK_PATH
from api.web import Page, act, error_page, error_text, form_text, not_found, pages, path_id, refusal_status
from domain.identity.principal import Principal
from domain.shared.errors import DomainError, NotFound


async def send_link(request: Request, port: CollectionPaylinkPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    amount = form_text(request, "amount") or None
    channel = form_text(request, "channel", "sms")
    callback = public_base(request) + WEBHOOK_PATH
    try:
        await act(principal, lambda: send_collection_link(port, principal, loan_id, amount, channel, callback))
    except NotFound:
        return await not_found(request)
    except HttpProblem as exc:
        return error_page(request, 403, "Not allowed", exc.detail)
    except DomainError as exc:
        return await panel_page(request, port.desk, principal, loan_id, error_text(exc), refusal_status(exc))
    return RedirectResponse(f"/collections/loans/{loan_id}#payment-links", status_code=303)


PAGES = pages(
    CollectionPaylinkPort,
    [
        Page("POST", "/collections/loans/{loan_id}/payment-links", send_link, DESK_WRITE, form=True),
    ],
)
