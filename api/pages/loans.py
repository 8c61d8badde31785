"""Loan pages: the queue (status, assignee, search) and one loan with its borrower, product version, pricing
preview, BRE results (inputs, overrides, bypasses), history, and the forms to override, bypass, assign, cancel and
change the product (LOAN_RULE_TYPE: a select of the brand's active products, amount, tenure, reason)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages import bre_words  # noqa: F401 - registers the filters its templates use for the BRE
from api.pages.actors import actor_names
from api.pages.credit_calls import place_credit_call
from api.pages.placed_calls import placed_call
from api.routes.collections import desk_scoped, works_loan
from api.routes.loans import decides_any_sanction
from api.services.credit_calls import ANY_APPLICATION, CREDIT_CALLS, CreditCalls, offers_credit_call
from api.services.disbursal_views import DisbursementBlocks
from api.services.disbursals import cancel_unless_paying_out
from api.services.repayment_pages import received_page
from api.services.servicing_fields import servicing_fields
from api.web import (
    Page,
    act,
    after_write,
    as_id,
    error_text,
    form_text,
    keyset_page,
    not_found,
    pages,
    path_id,
    refusal_status,
    render,
)
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.loans.application import Loans
from domain.loans.bre import INFORMATIONAL, Outcome, Rule
from domain.loans.loan import Check
from domain.loans.loan_decisions import PRODUCT_CHANGEABLE, assigned_to_another
from domain.loans.states import LoanStatus
from domain.shared.clock import Clock
from domain.shared.errors import DomainError
from projections.collection_queries import CollectionQueries
from projections.customer_notes import CustomerNoteQueries
from projections.identity import IdentityQueries
from projections.keyset import Page as KeysetPage
from projections.loan_agreements import AgreementQueries
from projections.loan_queries import STATUS_GROUPS, LoanQueries
from projections.product_queries import ProductQueries

READ = (Permission.LOANS, Level.READ)
#: The newest notes about a loan its page shows (the borrower's 360 pages through them all).
LOAN_NOTES = 20
#: The newest history entries and repayments the loan page shows (its pages `/loans/{id}/history` and
#: `/loans/{id}/repayment-history` list them all): the page's cost does not grow with the loan's history.
LOAN_LATEST = 20
#: Entries a page of `/loans/{id}/history` and `/loans/{id}/repayment-history` shows.
LOAN_LIST_PAGE = 50
WRITE = (Permission.LOANS, Level.WRITE)
RELOCATE = (Permission.LOAN_RELOCATE, Level.WRITE)
BYPASS = (Permission.LOAN_FORCE_BYPASS, Level.WRITE)
RULE_TYPE = (Permission.LOAN_RULE_TYPE, Level.WRITE)
#: The statuses the "Change product" form is offered in (domain/loans/loan_decisions.py PRODUCT_CHANGEABLE).
CHANGEABLE = tuple(sorted(s.value for s in PRODUCT_CHANGEABLE))


@dataclass(frozen=True)
class LoanPagesPort:
    """What the loan pages use: the use cases, the loans read model, the staff directory (assignees)."""

    loans: Loans
    queries: LoanQueries
    staff: IdentityQueries
    identity: Identity
    agreements: AgreementQueries
    notes: CustomerNoteQueries
    products: ProductQueries
    credit_calls: CreditCalls
    disbursements: DisbursementBlocks
    collections: CollectionQueries  # whether the collection money card is the signed-in executive's (`works_loan`)
    clock: Clock


async def loans_page(request: Request, port: LoanPagesPort, principal: Principal) -> Response:
    params = request.query_params
    status = params.get("status") or None
    if status not in {s.value for s in LoanStatus} and status not in STATUS_GROUPS:
        status = None
    assignee = as_id(params.get("assignee"))
    q = (params.get("q") or "").strip()[:100] or None
    departed = params.get("assignee_departed") in ("true", "on", "1")  # the checkbox posts "on"

    def load() -> tuple[Any, Any]:
        rows = keyset_page(
            request,
            lambda cursor: port.queries.loans(principal.brand_id, status, assignee, q, cursor, 50, departed),
        )
        return rows, port.staff.staff_list(principal.brand_id, None, None, 200).items

    rows, staff = await run_in_threadpool(load)
    shown = {"status": status, "assignee": str(assignee) if assignee else None, "q": q,
             "assignee_departed": "true" if departed else None}  # fmt: skip
    filters = {k: v for k, v in shown.items() if v}
    return render(
        request,
        "loans.html",
        nav="loans",
        rows=rows,
        staff=staff,
        statuses=[s.value for s in LoanStatus],
        groups={"any_pending": "Pending (any step)", "any_disbursed": "Disbursed (any state since)"},
        filters=filters,
        query=urlencode(filters),
    )


async def _loan_page(
    request: Request,
    port: LoanPagesPort,
    principal: Principal,
    loan_id: UUID,
    error: str | None = None,
    status: int = 422,
) -> Response:
    def load() -> tuple[Any, Any, Any, str | None, dict[str, str], Any, dict[str, Any], Any, Any, Any]:
        brand, parties = principal.brand_id, port.loans.parties
        loan = port.queries.loan(
            brand, loan_id, parties.repayment_calendar(brand), parties.business_date(brand), history_limit=LOAN_LATEST
        )
        if loan is None:
            return None, None, None, None, {}, None, {}, None, None, None
        # The loan's events are read once for every card that needs them (the pricing preview, servicing, money
        # received): a loan with a long history took three replays of it before.
        offer, offer_error, events = None, None, None
        try:
            events = port.loans.get(brand, loan_id)
            offer = port.loans.offer_of(events)
        except (DomainError, LookupError) as exc:  # the product gone or the catalogue not wired: no preview
            offer_error = exc.message if isinstance(exc, DomainError) else "the product catalogue is not available"
        staff = port.staff.staff_list(principal.brand_id, None, None, 200).items
        actors = {e.actor for e in loan.history} | {r.override.actor for r in loan.results if r.override}
        agreements = getattr(port, "agreements", None)  # other page modules' ports may lack it (no e-sign card)
        esign = agreements.esign(brand, loan_id) if agreements is not None else None
        blocks = getattr(port, "disbursements", None)  # (as `agreements`: the payout where the port has it)
        disbursement = blocks.block(brand, loan_id) if blocks is not None else None
        if disbursement is not None:
            actors |= {a.actor for a in disbursement.attempts}
        serviced: dict[str, Any] = {}
        if loan.disbursed_on is not None:  # servicing (issue #15): templates/loan_servicing.html
            if events is None:  # the events could not be read above: as before, this raises what reading them does
                events = port.loans.get(brand, loan_id)
            # The newest LOAN_LATEST by the day paid, shown by the day paid as before (read before servicing_fields
            # opens servicing on it in memory).
            latest = received_page(brand, events, None, LOAN_LATEST, newest_first=True)
            serviced = {
                "servicing": servicing_fields(port.loans, brand, loan_id, events) or None,
                "repayments": list(reversed(latest.items)),
                "repayments_more": latest.next_cursor is not None,
                # A loan a reversed payment re-opened: the certificate it withdrew (the card links none until the
                # loan is completed again and issued a new one).
                "no_due_withdrawn": events.no_dues_withdrawn[-1]
                if events.no_dues_withdrawn and events.no_due is None
                else None,
            }
            # What the loan owes today, for the collection card's "Record full repayment" (recovery_forms.html),
            # worked out only for who may record one.
            if (
                principal.holds(Permission.COLLECTIONS, Level.WRITE)
                and events.servicing_open
                and events.status.servicing
            ):
                serviced["owing"] = events.owing(parties.business_date(brand))
        notes = getattr(port, "notes", None)  # (as `agreements`: the notes are read where the port has them)
        loan_notes = None
        if notes is not None and principal.holds(Permission.CUSTOMER):  # notes are the borrower record's
            loan_notes = notes.notes(brand, loan.customer_id, loan_id, None, LOAN_NOTES).items
            actors |= {n.author for n in loan_notes}
        names = actor_names(port.identity, principal.brand_id, actors)
        products = None  # the "Change product" form's choices (as `agreements`: where the port has the catalogue)
        catalogue = getattr(port, "products", None)
        if catalogue is not None and principal.holds(*RULE_TYPE) and loan.status in CHANGEABLE:
            products = catalogue.products(brand, active=True, limit=200).items
        return loan, offer, staff, offer_error, names, esign, serviced, loan_notes, products, disbursement

    loaded = await run_in_threadpool(load)
    loan, offer, staff, offer_error, actors, esign, serviced, loan_notes, products, disbursement = loaded
    # Whose decision a CX-approved loan is, when the Sanction Head gave it to a Sanction Manager.
    sm_assignee = loan.sanction_assignee_id if loan is not None and loan.status == "cx_approved" else None
    if loan is None:
        return await not_found(request)
    me = f"staff:{principal.id}"
    sm_elsewhere = assigned_to_another(sm_assignee, me, exempt=decides_any_sanction(principal))
    # Whose decision it is, told to whoever would otherwise have had a form it hides: the SM's decisions
    # (SANCTION_MANAGER WRITE) or "Change product" (LOAN_RULE_TYPE, which a custom grant may give without the role).
    sm_forms_hidden = sm_elsewhere and (
        principal.holds(Permission.SANCTION_MANAGER, Level.WRITE) or products is not None
    )
    # (as `agreements`: other page modules' ports may lack the credit calls; then no "Call placed")
    calls = getattr(port, "credit_calls", None)
    call_placed = await placed_call(request, calls.fieldwork if calls else None, principal, loans=[loan.id])
    # The collection money card (its forms) for whoever may work the loan: a collection executive reads every loan
    # of the brand, but the card only of the loans allocated to them (as /loans/{id}/recoveries: a 404 otherwise).
    desk, clock = getattr(port, "collections", None), getattr(port, "clock", None)
    works_collection = not desk_scoped(principal) or (
        desk is not None
        and clock is not None
        and await run_in_threadpool(works_loan, desk, principal, loan.id, clock.now())
    )
    return render(
        request,
        "loan.html",
        status if error else 200,
        nav="loans",
        loan=loan,
        offer=offer,
        offer_error=offer_error,
        staff=staff,
        actors=actors,
        rules=[r.value for r in Rule],
        informational=[r.value for r in INFORMATIONAL],  # flags for the CX that cannot be overridden
        outcomes=[Outcome.PASS.value, Outcome.FAIL.value],
        checks=[c.value for c in Check],
        can_write=principal.holds(*WRITE),
        works_collection=works_collection,
        # The CX's and the SM's forms go to whoever the domain lets decide (`assigned_to_another`, the rule of
        # Loan.require_assigned_cx / _sm): the others see whose the loan is instead of a form that would be refused.
        cx_elsewhere=assigned_to_another(loan.assignee_id, me, exempt=principal.holds(*ANY_APPLICATION)),
        sm_elsewhere=sm_elsewhere,
        sm_forms_hidden=sm_forms_hidden,
        sm_assignee_name=actors.get(f"staff:{sm_assignee}")
        or next((s.name for s in staff if s.id == sm_assignee), "another Sanction Manager"),
        can_assign=principal.holds(*RELOCATE),
        can_credit_call=offers_credit_call(principal, loan.assignee_id),
        call_action=f"/loans/{loan.id}/credit-call",
        call_placed=call_placed,
        can_bypass=principal.holds(*BYPASS),
        # A product change at the sanction step sends the loan back to the CX: the assigned SM's call, as the
        # sanction is (Loan.require_product_changeable), so another SM sees `#decided-by` instead of this form too.
        can_change_product=products is not None and not sm_elsewhere,
        products=products or [],
        reasons=port.identity.settings(principal.brand_id).rejection_reasons,
        esign=esign,
        disbursement=disbursement,
        error=error,
        can_record_payment=principal.holds(Permission.LOAN_OPS, Level.WRITE),
        loan_notes=loan_notes,
        now=port.loans.clock.now(),
        **serviced,
    )


async def loan_page_with_error(
    request: Request, port: Any, principal: Principal, loan_id: UUID, error: str, status: int = 422
) -> Response:
    """The loan page showing why a form was refused (422; 409 for a conflict): for the forms other page modules add
    to it."""
    return await _loan_page(request, port, principal, loan_id, error, status)


async def loan_page(request: Request, port: LoanPagesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    return await _loan_page(request, port, principal, loan_id)


async def loan_credit_call(request: Request, port: LoanPagesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    outcome = await place_credit_call(request, port.credit_calls, principal, loan_id)
    if outcome.call_id is None:
        return await _loan_page(request, port, principal, loan_id, outcome.error, outcome.status)
    return RedirectResponse(f"/loans/{loan_id}?called={outcome.call_id}#credit-call", status_code=303)


async def loan_history_page(request: Request, port: LoanPagesPort, principal: Principal) -> Response:
    """The whole of a loan's history, newest first, LOAN_LIST_PAGE entries a page (keyset by version)."""
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    brand = principal.brand_id

    def load() -> tuple[Any, Any, dict[str, str]]:
        loan = port.queries.summary(brand, loan_id)
        if loan is None:
            return None, None, {}
        rows = keyset_page(
            request,
            lambda cursor: (
                port.queries.loan_events(brand, loan_id, cursor, LOAN_LIST_PAGE, True) or KeysetPage([], None)
            ),
        )
        return loan, rows, actor_names(port.identity, brand, {e.actor for e in rows.items})

    loan, rows, actors = await run_in_threadpool(load)
    if loan is None or rows is None:
        return await not_found(request)
    return render(request, "loan_history.html", nav="loans", loan=loan, rows=rows, actors=actors)


async def loan_repayments_page(request: Request, port: LoanPagesPort, principal: Principal) -> Response:
    """The whole of a loan's repayments, newest first by the day paid, LOAN_LIST_PAGE a page."""
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    brand = principal.brand_id

    def load() -> tuple[Any, Any]:
        summary = port.queries.summary(brand, loan_id)
        if summary is None:
            return None, None
        events = port.loans.get(brand, loan_id)
        return summary, keyset_page(
            request, lambda cursor: received_page(brand, events, cursor, LOAN_LIST_PAGE, newest_first=True)
        )

    loan, rows = await run_in_threadpool(load)
    if loan is None or rows is None:
        return await not_found(request)
    return render(request, "loan_repayment_history.html", nav="loans", loan=loan, rows=rows)


def _whole(raw: str | None) -> Any:
    """A form's whole number (None when blank); anything else goes on as given, for the use case to name the field."""
    text = (raw or "").strip()
    if not text:
        return None
    return int(text) if text.isdecimal() and len(text) <= 9 else text


def _form_action(use: str) -> Any:
    async def handle(request: Request, port: LoanPagesPort, principal: Principal) -> Response:
        loan_id = path_id(request, "loan_id")
        if loan_id is None:
            return await not_found(request)
        brand = principal.brand_id
        work: dict[str, Any] = {
            "override": lambda: port.loans.override(
                brand, loan_id, form_text(request, "rule"), form_text(request, "result"),
                form_text(request, "justification"), any_application=principal.holds(*ANY_APPLICATION),
            ),
            "bypass": lambda: port.loans.bypass(brand, loan_id, form_text(request, "check"), form_text(request, "reason")),
            "assign": lambda: port.loans.assign(
                brand, loan_id, as_id(form_text(request, "staff_id")) or UUID(int=0), form_text(request, "reason") or None,
                expected_version=_whole(form_text(request, "expected_version")),
            ),
            "cancel": lambda: cancel_unless_paying_out(
                port.loans, port.disbursements.store, brand, loan_id, form_text(request, "reason")
            ),
            "submit": lambda: port.loans.submit(brand, loan_id),
            "product": lambda: port.loans.change_product(
                brand, loan_id, form_text(request, "product_id"), form_text(request, "reason"),
                amount=form_text(request, "amount") or None, tenure=_whole(form_text(request, "tenure")),
                expected_version=_whole(form_text(request, "expected_version")),
                any_sanction=decides_any_sanction(principal),
            ),
        }  # fmt: skip
        try:
            result = await act(principal, work[use])
        except DomainError as exc:  # a change since the page was read (expected_version) is a 409
            return await _loan_page(
                request, port, principal, loan_id, error=error_text(exc), status=refusal_status(exc)
            )
        return await after_write(request, Loans.name, result.position, f"/loans/{loan_id}")

    handle.__name__ = f"loan_{use}"
    return handle


PAGES = pages(
    LoanPagesPort,
    [
        Page("GET", "/loans", loans_page, READ),
        Page("GET", "/loans/{loan_id}", loan_page, READ),
        Page("GET", "/loans/{loan_id}/history", loan_history_page, READ),
        Page("GET", "/loans/{loan_id}/repayment-history", loan_repayments_page, READ),
        Page("POST", "/loans/{loan_id}/submit", _form_action("submit"), WRITE, form=True),
        Page("POST", "/loans/{loan_id}/override", _form_action("override"), WRITE, form=True),
        Page("POST", "/loans/{loan_id}/bypass", _form_action("bypass"), BYPASS, form=True),
        Page("POST", "/loans/{loan_id}/assign", _form_action("assign"), RELOCATE, form=True),
        Page("POST", "/loans/{loan_id}/cancel", _form_action("cancel"), WRITE, form=True),
        Page("POST", "/loans/{loan_id}/product", _form_action("product"), RULE_TYPE, form=True),
        Page("POST", "/loans/{loan_id}/credit-call", loan_credit_call, CREDIT_CALLS, form=True),
    ],
)
