"""Borrower endpoints: a one-time code by SMS, a bearer session, the funnel's state and its steps.

Only a borrower's token opens them (`Endpoint(borrower=True)`): staff keys and portal sessions are refused with
401, as a borrower's token is refused on every staff endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.problems import HttpProblem
from api.routes.borrower_documents import RequestedDocumentOut
from domain.customers.customer import DuplicateCustomer
from domain.onboarding.application import Onboarding, taken_for_borrower
from domain.onboarding.attribution import attribution
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.parties import FunnelState
from domain.onboarding.steps import FORM_STEPS, STEP_INPUTS, Step
from domain.providers.errors import ProviderRejected, ProviderUnavailable
from domain.shared.errors import InvalidValue
from projections.documents import DocumentQueries
from projections.loan_queries import LoanQueries


@dataclass(frozen=True)
class BorrowerPort:
    """What the borrower endpoints use: the onboarding use cases, the loans read model (their application) and the
    documents read model (what staff asked them for)."""

    onboarding: Onboarding
    loans: LoanQueries
    documents: DocumentQueries


class OtpIn(BaseModel):
    """Ask for a code: the brand's code (as in its address) and the phone."""

    model_config = ConfigDict(extra="forbid")

    brand: str = Field(max_length=60)
    phone: str = Field(max_length=20)


class OtpOut(BaseModel):
    """Always the same shape, known phone or not: how long the code lives (0: none was sent now) and when the
    next one may be asked for."""

    status: Literal["accepted"] = "accepted"
    expires_in: int
    resend_after: int


class SessionIn(BaseModel):
    """Sign in with the code."""

    model_config = ConfigDict(extra="forbid")

    brand: str = Field(max_length=60)
    phone: str = Field(max_length=20)
    otp: str = Field(max_length=10)
    utm_source: str | None = Field(None, max_length=100)
    utm_medium: str | None = Field(None, max_length=100)
    utm_campaign: str | None = Field(None, max_length=100)


class SessionOut(BaseModel):
    """A borrower session: send `Authorization: Bearer <token>` to the borrower endpoints."""

    token: str
    token_type: Literal["bearer"] = "bearer"
    borrower_id: UUID
    expires_at: InstantOut


class SessionEndedOut(BaseModel):
    """The session is over: its token opens nothing any more."""

    status: Literal["ended"] = "ended"


class StepOut(BaseModel):
    """One step: required by the brand or optional, done or not, and when."""

    step: Step
    required: bool
    done: bool
    at: InstantOut | None
    sent_back: str | None = Field(None, description="Why staff sent the step back (until it is done again)")


class ApplicationDecisionOut(BaseModel):
    """The borrower's application as the credit decision left it: its status and, when staff sent it back or
    rejected it, why (the reason code's text; staff remarks stay internal)."""

    id: UUID
    loan_number: str
    status: str
    reason: str | None = Field(None, description="what is needed (sent back to you) or why it was not approved")


class FunnelOut(BaseModel):
    """The borrower's onboarding: each step, the one to do next (where a returning borrower resumes), and what
    is still missing."""

    borrower_id: UUID
    phone: str
    status: FunnelStatus
    steps: list[StepOut]
    next_step: Step | None
    missing: list[Step]
    started_at: InstantOut
    updated_at: InstantOut
    reason: str | None
    version: int
    may_apply_from: date | None = Field(
        None,
        description="once the onboarding is finished - the application rejected or cancelled, or the onboarding "
        "closed - the first day a new application may start: the brand's rejection cooldown after the latest "
        "rejection or close (null while the onboarding is in progress or an application is open)",
    )
    can_apply_again: bool = Field(
        False,
        description="that day has come: POST /api/v1/borrower/reapply (or the next step or loan request) starts again",
    )
    application: ApplicationDecisionOut | None = Field(
        None, description="the borrower's application and the credit decision's reason for them (`me` only)"
    )
    requested_documents: list[RequestedDocumentOut] = Field(
        default_factory=list,
        description="documents staff asked for and still waiting for, newest first (`me` only; empty before the "
        "personal step, where the borrower's record is made)",
    )


def request_otp(ctx: Context[BorrowerPort]) -> Reply:
    body: OtpIn = ctx.body
    try:
        answer = ctx.port.onboarding.request_code(body.brand, body.phone)
    except ProviderUnavailable:
        raise HttpProblem(
            503, "the SMS provider did not answer; ask again in a minute", "sms-unavailable", retry_after=60
        ) from None
    except ProviderRejected:
        raise InvalidValue("phone", "this number cannot receive SMS; give a mobile number") from None
    return json_response(OtpOut(expires_in=answer.expires_in, resend_after=answer.resend_after))


def start_session(ctx: Context[BorrowerPort]) -> Reply:
    body: SessionIn = ctx.body
    utm = attribution(body.utm_source, body.utm_medium, body.utm_campaign)
    signed = ctx.port.onboarding.sign_in(body.brand, body.phone, body.otp, utm)
    return json_response(SessionOut(token=signed.token, borrower_id=signed.borrower_id, expires_at=signed.expires_at))


def end_session(ctx: Context[BorrowerPort]) -> Reply:
    token = ctx.headers.get("authorization", "").partition(" ")[2].strip()
    ctx.port.onboarding.sign_out(token)
    return json_response(SessionEndedOut())


def application_decision(loans: LoanQueries, brand_id: UUID, application_id: UUID) -> ApplicationDecisionOut | None:
    """The application's status and the reason the borrower is told (None when it is not found)."""
    loan = loans.loan(brand_id, application_id)
    if loan is None:
        return None
    reason = None
    if loan.status == "rejected" and loan.rejection:
        reason = loan.rejection.get("label")
    elif loan.status == "onboarding" and loan.sent_back and loan.sent_back.get("to") == "borrower":
        reason = loan.sent_back.get("reason")
    return ApplicationDecisionOut(id=loan.id, loan_number=loan.loan_number, status=loan.status, reason=reason)


def funnel_out(state: FunnelState) -> FunnelOut:
    """The funnel as the API shows it."""
    return FunnelOut.model_validate(state, from_attributes=True)


def borrower_me(ctx: Context[BorrowerPort]) -> Reply:
    assert ctx.borrower is not None
    view = ctx.port.onboarding.borrower_view(ctx.brand_id, ctx.borrower.borrower_id)
    funnel = funnel_out(view.state)
    if view.application_id is not None:
        decision = application_decision(ctx.port.loans, ctx.brand_id, view.application_id)
        funnel = funnel.model_copy(update={"application": decision})
    own = view.own_record
    if own is not None:  # the requests of a record of theirs (not one found by the PAN alone)
        requested = ctx.port.documents.requests(ctx.brand_id, own, open_only=True)
        items = [RequestedDocumentOut.model_validate(r, from_attributes=True) for r in requested]
        funnel = funnel.model_copy(update={"requested_documents": items})
    return json_response(funnel)


def borrower_reapply(ctx: Context[BorrowerPort]) -> Reply:
    assert ctx.borrower is not None
    ctx.port.onboarding.reapply(ctx.brand_id, ctx.borrower.borrower_id)
    return json_response(funnel_out(ctx.port.onboarding.state(ctx.brand_id, ctx.borrower.borrower_id)))


def _step_handler(step: Step) -> Endpoint[BorrowerPort]:
    def handler(ctx: Context[BorrowerPort]) -> Reply:
        assert ctx.borrower is not None
        try:
            ctx.port.onboarding.record_step(ctx.brand_id, ctx.borrower.borrower_id, step, ctx.body)
        except DuplicateCustomer as exc:  # never another borrower's id (or value) to a borrower
            raise taken_for_borrower(exc) from None
        return json_response(funnel_out(ctx.port.onboarding.state(ctx.brand_id, ctx.borrower.borrower_id)))

    handler.__name__ = f"record_{step.value}_step"
    return Endpoint(
        "PUT",
        f"/api/v1/borrower/steps/{step.value}",
        handler,
        f"Record (or redo) the {step.value.replace('_', ' ')} step: 422 per field and 409 out of order, "
        "nothing recorded; answers the funnel",
        None,
        body=STEP_INPUTS[step],
        response=FunnelOut,
        borrower=True,
    )


ENDPOINTS = serve(
    BorrowerPort,
    "borrower",
    [
        Endpoint(
            "POST",
            "/api/v1/borrower/otp",
            request_otp,
            "Send a six-digit code by SMS (202 for any well-formed request; resends throttled, none while locked)",
            None,
            body=OtpIn,
            response=OtpOut,
            status=202,
            public=True,
            errors=(503,),
        ),
        Endpoint(
            "POST",
            "/api/v1/borrower/session",
            start_session,
            "Sign in with the code: a bearer token; five wrong codes lock the phone for 15 minutes (429)",
            None,
            body=SessionIn,
            response=SessionOut,
            status=201,
            public=True,
            errors=(429,),
        ),
        Endpoint(
            "DELETE",
            "/api/v1/borrower/session",
            end_session,
            "Sign out: the token stops working",
            None,
            response=SessionEndedOut,
            borrower=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/borrower/me",
            borrower_me,
            "The borrower's funnel: each step done (and when), the next step, what is missing",
            None,
            response=FunnelOut,
            borrower=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/borrower/reapply",
            borrower_reapply,
            "Start again after the application was rejected or cancelled, or the onboarding closed: from the day the "
            "brand's rejection cooldown is over (409 with may_apply_from before it; 409 while an application is open "
            "or the onboarding is in progress). The KYC steps stay done; the loan request and submission are to do "
            "again. Answers the funnel",
            None,
            response=FunnelOut,
            borrower=True,
        ),
        # The loan request step is a loan application: POST /api/v1/borrower/applications.
        *(_step_handler(step) for step in FORM_STEPS if step is not Step.LOAN_REQUEST),
    ],
)
