"""Credit-decision pages (issue #14): the CX worklist, the review page (profile, blocklist hits, BRE results, CAM,
amounts, journey on one page), the SM queue, the Sanction Head's view with team figures, and the decision forms of
the loan page (CAM, CX approve, send back, sanction, reject, reactivate).

The forms post here and, refused, show the loan page again with the reason (422); the loan page's decision card is
templates/loan_decision.html, included by loan.html.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages import bre_words  # noqa: F401 - registers the filters its templates use for the BRE
from api.pages.actors import actor_names
from api.pages.credit_calls import place_credit_call
from api.pages.loans import LOAN_LATEST, loan_page_with_error
from api.pages.placed_calls import placed_call
from api.routes.loans import decides_any_sanction
from api.services.credit_calls import ANY_APPLICATION, CREDIT_CALLS, CreditCalls, offers_credit_call
from api.services.documents import DocumentDesk
from api.services.teams import Teams
from api.web import (
    Page,
    act,
    after_write,
    error_page,
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
from domain.shared.application import ConcurrentModification
from domain.shared.errors import DomainError, InvalidInput
from domain.shared.values import whole_number
from projections.blocklist import BlocklistQueries
from projections.customer_queries import CustomerQueries
from projections.documents import DocumentQueries
from projections.identity import IdentityQueries
from projections.loan_decision_queries import DecisionQueries
from projections.loan_queries import LoanQueries
from projections.verification_queries import VerificationQueries

READ = (Permission.LOANS, Level.READ)
WRITE = (Permission.LOANS, Level.WRITE)
SEND_BACK = (Permission.LOAN_SEND_BACK, Level.WRITE)
SANCTION = (Permission.SANCTION_MANAGER, Level.WRITE)
SM_READ = (Permission.SANCTION_MANAGER, Level.READ)
HEAD = (Permission.SANCTION_HEAD, Level.READ)
HEAD_WRITE = (Permission.SANCTION_HEAD, Level.WRITE)
REACTIVATE = (Permission.LOAN_REACTIVATE, Level.WRITE)
#: A decision form posted from a loan page that was read before the loan changed (`expected_version`).
CHANGED_SINCE = "this application changed since you opened it: check it below and decide again (what you typed is kept)"


@dataclass(frozen=True)
class DecisionPagesPort:
    """What the decision pages use."""

    loans: Loans
    queries: LoanQueries
    decisions: DecisionQueries
    customers: CustomerQueries
    blocklist: BlocklistQueries
    staff: IdentityQueries
    identity: Identity
    verification: VerificationQueries
    documents: DocumentQueries
    desk: DocumentDesk
    teams: Teams
    credit_calls: CreditCalls


async def worklist_page(request: Request, port: DecisionPagesPort, principal: Principal) -> Response:
    staff_id = principal.id if principal.kind == "staff" else UUID(int=0)
    rows = await run_in_threadpool(
        keyset_page, request, lambda cursor: port.decisions.cx_worklist(principal.brand_id, staff_id, cursor, 50)
    )
    return render(request, "credit_queue.html", nav="worklist", rows=rows, title="My worklist", kind="worklist")


async def sm_queue_page(request: Request, port: DecisionPagesPort, principal: Principal) -> Response:
    # A Sanction Manager's own queue: unassigned loans and those the Sanction Head gave them (the head sees all).
    staff = principal.id if principal.kind == "staff" and not principal.holds(*HEAD) else None
    rows = await run_in_threadpool(
        keyset_page, request, lambda cursor: port.decisions.sm_queue(principal.brand_id, cursor, 50, staff)
    )
    return render(request, "credit_queue.html", nav="sanction", rows=rows, title="Sanction queue", kind="sanction")


#: The Sanction Head's page, where their assignment form is (`back`).
HEAD_PAGE = "/credit/sanction-head"
#: A refused assignment whose loan changed since the page was read.
HEAD_CHANGED_SINCE = (
    "This loan changed since the page was opened (another assignment, a decision): nothing was assigned. The list "
    "below is as it is now; assign it again if it still needs it."
)


async def head_page(request: Request, port: DecisionPagesPort, principal: Principal) -> Response:
    return await _head_page(request, port, principal)


async def _head_page(request: Request, port: DecisionPagesPort, principal: Principal, error: str | None = None,
                     status: int = 200, kept: dict[str, str] | None = None) -> Response:  # fmt: skip
    """The Sanction Head's page; with a refused assignment, its error and the form as it was posted (`kept`: the
    loan, the Sanction Manager chosen, the reason)."""
    actor = (request.query_params.get("actor") or "").strip()[:100] or None
    team = request.query_params.get("team") or None  # the team figures: `mine` ("My team") or a manager's id

    def load() -> tuple[Any, Any, Any, Any]:
        members = port.teams.members(principal, team)
        rows = keyset_page(request, lambda cursor: port.decisions.sm_loans(principal.brand_id, actor, cursor, 50))
        escalated = port.decisions.escalations(principal.brand_id, 200)
        staff = port.staff.staff_list(principal.brand_id, limit=200).items
        managers = [m for m in staff if m.enabled and _sanctions(m.permissions)]
        return rows, escalated, port.decisions.team_figures(principal.brand_id, members), managers

    try:
        rows, escalated, figures, managers = await run_in_threadpool(load)
    except InvalidInput as exc:
        return error_page(request, 422, "No such team", str(exc))
    names = {m.actor: m.name for m in figures.managers}
    return render(
        request,
        "credit_head.html",
        status if error else 200,
        nav="sanction_head",
        error=error,
        kept=kept or {},
        rows=rows,
        escalated=escalated,
        managers=managers,
        figures=figures,
        names=names,
        actor=actor,
        team=team,
    )


async def review_page(request: Request, port: DecisionPagesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    return await _review(request, port, principal, loan_id)


async def review_call(request: Request, port: DecisionPagesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    outcome = await place_credit_call(request, port.credit_calls, principal, loan_id)
    if outcome.call_id is None:
        return await _review(request, port, principal, loan_id, outcome.error, outcome.status)
    return RedirectResponse(f"/credit/review/{loan_id}?called={outcome.call_id}#credit-call", status_code=303)


async def _review(request: Request, port: DecisionPagesPort, principal: Principal, loan_id: UUID,
                  error: str | None = None, status: int = 422) -> Response:  # fmt: skip
    brand = principal.brand_id

    def load() -> tuple[Any, ...]:
        parties = port.loans.parties
        # The newest LOAN_LATEST history entries, as the loan page shows them (the journey links to the whole of it,
        # /loans/{id}/history): the page derives nothing from the whole history - the decision facts (sent back,
        # CAM, approvals) are the loan row's, and the actors named are those of the entries shown.
        loan = port.queries.loan(
            brand, loan_id, parties.repayment_calendar(brand), parties.business_date(brand), history_limit=LOAN_LATEST
        )
        if loan is None:
            return None, None, {}, None, [], None
        profile = port.customers.profile(brand, loan.customer_id, timeline_limit=20)
        if profile is not None:
            profile = profile.with_blocklist_hits(port.blocklist.hits(brand, profile.blocklist_candidates()))
        kyc = port.verification.summary(brand, loan.customer_id)
        documents = port.documents.of_customer(brand, loan.customer_id, limit=50).items
        checklist = port.desk.checklist_detail(brand, loan.customer_id)
        actors = actor_names(port.identity, brand, {e.actor for e in loan.history})
        return loan, profile, actors, kyc, documents, checklist

    loan, profile, actors, kyc, documents, checklist = await run_in_threadpool(load)
    if loan is None:
        return await not_found(request)
    call_placed = await placed_call(request, port.credit_calls.fieldwork, principal, loans=[loan.id])
    return render(
        request, "credit_review.html", status if error else 200, nav="worklist", loan=loan, profile=profile,
        actors=actors, kyc=kyc, documents=documents, checklist=checklist, error=error,
        can_credit_call=offers_credit_call(principal, loan.assignee_id),
        call_action=f"/credit/review/{loan.id}/call", call_placed=call_placed,
    )  # fmt: skip


def _form_action(use: str) -> Any:
    async def handle(request: Request, port: DecisionPagesPort, principal: Principal) -> Response:
        loan_id = path_id(request, "loan_id")
        if loan_id is None:
            return await not_found(request)
        brand, loans = principal.brand_id, port.loans
        anyone = principal.holds(*ANY_APPLICATION)  # the CX's work on another's application (Loan.require_assigned_cx)
        any_sm = decides_any_sanction(principal)  # the SM's decision on another SM's loan (Loan.require_assigned_sm)
        # The loan as the page showed it (the decision card's hidden `expected_version`): a change since - another
        # CX's CAM, a send back and a new approval, a decision taken - is a 409, the form kept to decide again.
        shown = form_text(request, "expected_version").strip()
        seen = whole_number(shown, 9) if shown else None
        if shown and seen is None:
            return await loan_page_with_error(request, port, principal, loan_id, "expected version: not a version")
        work: dict[str, Any] = {
            "cam": lambda: loans.record_cam(brand, loan_id, {
                "salary_credits": [
                    {"month": form_text(request, f"month_{i}"), "amount": form_text(request, f"salary_{i}")}
                    for i in range(3)
                ],
                "foir": form_text(request, "foir"), "existing_emis": form_text(request, "existing_emis") or "0",
                "recommended_amount": form_text(request, "recommended_amount"),
                "recommended_rate": form_text(request, "recommended_rate"), "notes": form_text(request, "notes"),
            }, any_application=anyone, expected_version=seen),
            "cx-approve": lambda: loans.cx_approve(
                brand, loan_id, form_text(request, "approved_amount"), form_text(request, "remarks"),
                any_application=anyone, expected_version=seen,
            ),
            "send-back": lambda: loans.send_back(
                brand, loan_id, form_text(request, "to"), form_text(request, "reason"), form_text(request, "step") or None,
                any_application=anyone, any_sanction=any_sm, expected_version=seen,
            ),
            "sanction": lambda: loans.sanction(
                brand, loan_id, form_text(request, "sanctioned_amount"), form_text(request, "remarks"),
                one_person_may_decide=principal.admin, any_sanction=any_sm, expected_version=seen,
            ),
            "reject": lambda: loans.reject(
                brand, loan_id, form_text(request, "reason_code"), form_text(request, "remarks"),
                sanctioning=principal.holds(*SANCTION), any_application=anyone, any_sanction=any_sm,
                expected_version=seen,
            ),
            "reactivate": lambda: loans.reactivate(brand, loan_id, form_text(request, "reason"), expected_version=seen),
            "escalate": lambda: loans.escalate(
                brand, loan_id, form_text(request, "reason"), any_sanction=any_sm, expected_version=seen
            ),
            "sanction-assign": lambda: loans.assign_sanction(
                brand, loan_id, form_text(request, "staff_id"), form_text(request, "reason"), expected_version=seen
            ),
        }  # fmt: skip
        if use == "send-back" and form_text(request, "to") == "cx" and not principal.holds(*SANCTION):
            return await loan_page_with_error(request, port, principal, loan_id, "sending back to the CX is the SM's")
        # The Sanction Head's assignment is made on their page (its escalations): refused, that page says why with the
        # form as posted, and done, it goes back there (it answered with the loan page, which has no such form, and
        # said "what you typed is kept" where it was not).
        from_head = use == "sanction-assign" and form_text(request, "back") == HEAD_PAGE
        kept = {
            "loan_id": str(loan_id),
            "staff_id": form_text(request, "staff_id"),
            "reason": form_text(request, "reason"),
        }
        try:
            result = await act(principal, work[use])
        except ConcurrentModification:
            if from_head:
                return await _head_page(request, port, principal, HEAD_CHANGED_SINCE, 409, kept)
            return await loan_page_with_error(request, port, principal, loan_id, CHANGED_SINCE, 409)
        except DomainError as exc:  # 409 for a conflict (not this staff member's to decide, decided already)
            if from_head:
                return await _head_page(request, port, principal, error_text(exc), refusal_status(exc), kept)
            return await loan_page_with_error(request, port, principal, loan_id, error_text(exc), refusal_status(exc))
        return await after_write(request, Loans.name, result.position, HEAD_PAGE if from_head else f"/loans/{loan_id}")

    handle.__name__ = f"loan_{use.replace('-', '_')}"
    return handle


def _sanctions(permissions: dict[str, str]) -> bool:
    level = permissions.get(Permission.SANCTION_MANAGER.value)
    return level is not None and Level(level).covers(Level.WRITE)


PAGES = pages(
    DecisionPagesPort,
    [
        Page("GET", "/credit/worklist", worklist_page, READ),
        Page("GET", "/credit/review/{loan_id}", review_page, READ),
        Page("POST", "/credit/review/{loan_id}/call", review_call, CREDIT_CALLS, form=True),
        Page("GET", "/credit/sanction", sm_queue_page, SM_READ),
        Page("GET", "/credit/sanction-head", head_page, HEAD),
        Page("POST", "/loans/{loan_id}/cam", _form_action("cam"), WRITE, form=True),
        Page("POST", "/loans/{loan_id}/cx-approve", _form_action("cx-approve"), WRITE, form=True),
        Page("POST", "/loans/{loan_id}/send-back", _form_action("send-back"), SEND_BACK, form=True),
        Page("POST", "/loans/{loan_id}/sanction", _form_action("sanction"), SANCTION, form=True),
        Page("POST", "/loans/{loan_id}/reject", _form_action("reject"), WRITE, form=True),
        Page("POST", "/loans/{loan_id}/reactivate", _form_action("reactivate"), REACTIVATE, form=True),
        Page("POST", "/loans/{loan_id}/escalate", _form_action("escalate"), SANCTION, form=True),
        Page("POST", "/loans/{loan_id}/sanction-assign", _form_action("sanction-assign"), HEAD_WRITE, form=True),
    ],
)
