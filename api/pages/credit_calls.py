"""The portal's "Call borrower" button (docs/callbacks.md "The CX's dialer"): a credit executive's dialer call from
the loan page, the credit review page and the callback queue, through the same use case as the API's credit-calls
(api/services/credit_calls.py). Each page posts its own form and shows the call placed, or why not, on itself: "Call
placed" only of a call that was (`api.pages.placed_calls.placed_call`, shared with the collections' Call buttons), not
of whatever a link's `?called=` says."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from starlette.requests import Request

from api.routes.disbursals import public_base
from api.services.credit_calls import CreditCalls
from api.services.dialer_calls import WEBHOOK_PATH
from api.web import act, error_text, form_text
from domain.identity.principal import Principal
from domain.providers.errors import ProviderUnavailable
from domain.shared.errors import Conflict, DomainError, NotFound


@dataclass(frozen=True)
class CreditCallOutcome:
    """The call placed (`call_id`), or why not (`error`, shown on the page with `status`)."""

    call_id: UUID | None = None
    error: str | None = None
    status: int = 200


async def place_credit_call(
    request: Request, calls: CreditCalls, principal: Principal, loan_id: UUID
) -> CreditCallOutcome:
    """Place the signed-in staff member's call about `loan_id` (the form's optional `phone`: one of the borrower's
    alternate phones); a refusal is its reason and status (404 not theirs or another brand's, 409, 422, 503 the
    dialer unreachable), with nothing recorded."""
    phone = form_text(request, "phone").strip() or None
    callback = public_base(request) + WEBHOOK_PATH
    try:
        result = await act(principal, lambda: calls.place(principal, loan_id, principal.id, phone, callback))
    except DomainError as exc:
        status = (
            404 if isinstance(exc, NotFound)
            else 409 if isinstance(exc, Conflict)
            else 503 if isinstance(exc, ProviderUnavailable)
            else 422
        )  # fmt: skip
        return CreditCallOutcome(error=error_text(exc), status=status)
    return CreditCallOutcome(call_id=result.id)
