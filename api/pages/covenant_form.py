"""The portal's "New covenant" form: every field of the API's body (`CovenantIn`), checked as the API checks it and
set up by the same use case (`api/routes/covenants.py` `set_up`); reached from the covenant list and from a
borrower's Customer 360 (the borrower preselected)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.problems import field_errors_from_pydantic
from api.routes.covenant_models import CovenantIn
from api.routes.covenants import WRITE, set_up
from api.web import Page, act, after_write, form_text, pages, refusal_status, render
from domain.covenants.application import Covenants
from domain.covenants.schedule import DEFAULT_LEAD_DAYS, Frequency
from domain.covenants.terms import CovenantType, Operator
from domain.identity.application import Identity
from domain.identity.permissions import Permission
from domain.identity.principal import Principal
from domain.shared.errors import DomainError, FieldError, InvalidInput
from projections.borrower_loans import BorrowerLoanQueries
from projections.customer_queries import CustomerQueries
from projections.identity import IdentityQueries

ACTION = "/covenants/new"
#: The form's fields: the API's body, field for field.
FIELDS = tuple(CovenantIn.model_fields)
#: What the API requires (the form says "required" for each left empty, before anything else is checked).
REQUIRED = tuple(name for name, info in CovenantIn.model_fields.items() if info.is_required())
#: The terms each type asks for; the other types' fields are not sent (the form shows only the chosen type's).
TERMS = {
    CovenantType.FINANCIAL.value: ("metric", "operator", "threshold"),
    CovenantType.DOCUMENT.value: ("document",),
    CovenantType.OTHER.value: ("description",),
}
ALL_TERMS = frozenset(name for names in TERMS.values() for name in names)
#: Fields the API takes as whole numbers (a form sends text).
WHOLE_DAYS = ("grace_days", "notification_lead_days")
_DIGITS = re.compile(r"[0-9]{1,4}")
_FRIENDLY = {
    "customer_id": "choose the borrower: open their Customer 360 and use “New covenant” there, or paste their id",
    "assignee_id": "choose a staff member from the list",
}


@dataclass(frozen=True)
class CovenantFormPort:
    """What the form uses: the use case, the borrower it names (name, loans), the staff who may follow it up, and
    the brand's business date and covenant defaults."""

    covenants: Covenants
    customers: CustomerQueries
    loans: BorrowerLoanQueries
    staff: IdentityQueries
    identity: Identity


def covenant_body(form: dict[str, str]) -> CovenantIn:
    """The form's fields as the API's body (InvalidInput naming each bad field): empty optional fields are left out
    (the API's defaults apply: grace and lead days per frequency), only the chosen type's terms are sent."""
    errors = [FieldError(name, "required") for name in REQUIRED if not form.get(name)]
    chosen = TERMS.get(form.get("type", ""), ())
    body: dict[str, Any] = {}
    for name in FIELDS:
        value = form.get(name, "")
        if not value or (name in ALL_TERMS and name not in chosen):
            continue
        if name in WHOLE_DAYS:
            if not _DIGITS.fullmatch(value):
                errors.append(FieldError(name, "a whole number of days, 0 to 365 (empty: the brand's default)"))
                continue
            body[name] = int(value)
        elif name in _FRIENDLY:
            try:
                body[name] = UUID(value)
            except ValueError:
                errors.append(FieldError(name, _FRIENDLY[name]))
        else:
            body[name] = value
    if errors:  # what the API would refuse too, said together with the rest below where it can be
        try:
            CovenantIn.model_validate(body)
        except ValidationError as exc:
            named = {e.field for e in errors}
            errors += [e for e in field_errors_from_pydantic(exc) if e.field not in named]
        raise InvalidInput(errors)
    try:
        return CovenantIn.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput(field_errors_from_pydantic(exc)) from None


async def new_covenant_form(request: Request, port: CovenantFormPort, principal: Principal) -> Response:
    business_date = await run_in_threadpool(port.identity.business_date, principal.brand_id)
    values = {"start_date": business_date.isoformat(), "customer_id": request.query_params.get("customer_id", "")}
    return await _form_page(request, port, principal, values, {}, 200)


async def new_covenant(request: Request, port: CovenantFormPort, principal: Principal) -> Response:
    form = {name: form_text(request, name).strip() for name in FIELDS}
    try:
        body = covenant_body(form)
        result = await act(principal, lambda: set_up(port.covenants, principal.brand_id, body, principal.companies))
    except InvalidInput as exc:
        return await _form_page(request, port, principal, form, _by_field(exc.errors), 422)
    except DomainError as exc:
        status = refusal_status(exc)
        return await _form_page(request, port, principal, form, {"form": exc.message}, status)
    return await after_write(request, Covenants.name, result.position, f"/covenants/{result.id}")


def _by_field(errors: list[FieldError]) -> dict[str, str]:
    """Each field's refusals as one line (a field may be refused for more than one reason)."""
    named: dict[str, str] = {}
    for error in errors:
        named[error.field] = f"{named[error.field]}; {error.message}" if error.field in named else error.message
    return named


async def _form_page(
    request: Request,
    port: CovenantFormPort,
    principal: Principal,
    values: dict[str, str],
    errors: dict[str, str],
    status: int,
) -> Response:
    """The form: `values` to start from (a refused post fills it from `kept`, as typed), each refusal at its field."""
    brand_id = principal.brand_id

    def load() -> dict[str, Any]:
        borrower, loan_numbers = None, []
        try:
            customer_id = UUID(values.get("customer_id", ""))
        except ValueError:
            customer_id = None
        if customer_id is not None:
            borrower = port.customers.profile(brand_id, customer_id, timeline_limit=0)
        if borrower is not None:  # the references the borrower's covenants are likely to name
            loan_numbers = list(borrower.loan_numbers)
            if principal.holds(Permission.LOANS):
                loan_numbers += [row.loan_number for row in port.loans.of_customer(brand_id, borrower.id)]
        defaults = port.covenants.parties.defaults(brand_id)
        day_defaults = [
            (f, defaults.grace_days.get(f.value, 0), defaults.lead_days.get(f.value, DEFAULT_LEAD_DAYS[f]))
            for f in Frequency
        ]
        return {
            "borrower": borrower,
            "loan_numbers": list(dict.fromkeys(n for n in loan_numbers if n)),
            "staff": port.staff.staff_list(brand_id, None, None, 200).items,
            "day_defaults": day_defaults,
        }

    data = await run_in_threadpool(load)
    return render(
        request,
        "covenant_new.html",
        status,
        nav="covenants",
        action=ACTION,
        values=values,
        errors=errors,
        fields=FIELDS,
        types=[t.value for t in CovenantType],
        operators=[o.value for o in Operator],
        frequencies=[f.value for f in Frequency],
        **data,
    )


PAGES = pages(
    CovenantFormPort,
    [
        Page("GET", ACTION, new_covenant_form, WRITE),
        Page("POST", ACTION, new_covenant, WRITE, form=True),
    ],
)
