"""Borrower endpoints of loan applications: the brand's products, starting an application (the loan request
step), submitting it through the BRE (the submitted step) and reading it back - the borrower's own only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, field_validator

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.routes.disbursals import public_base
from api.routes.loans import InstalmentOut
from api.routes.servicing_models import NextDueOut, OutstandingOut
from api.services.pay_links import PayLinks
from domain.loans.application import Loans
from domain.loans.bre import INFORMATIONAL
from domain.loans.servicing_views import servicing_view
from domain.loans.states import LoanStatus
from domain.loans.terms import LoanKind
from domain.onboarding.account import ApplicationNotFound
from domain.onboarding.application import Onboarding
from domain.onboarding.steps import LoanRequestIn
from domain.shared.application import CommandResult
from domain.shared.errors import Conflict
from projections.loan_queries import LoanDetail, LoanQueries
from projections.product_queries import ProductQueries


@dataclass(frozen=True)
class BorrowerApplicationPort:
    """What the borrower's application endpoints use: onboarding (which checks the borrower's steps and owns the
    calls to the loans context), the loans and products read models, and the loans application (a disbursed
    loan's servicing view)."""

    onboarding: Onboarding
    loans: LoanQueries
    products: ProductQueries
    servicing: Loans


class ProductOut(BaseModel):
    """A product the borrower may apply for: amount and tenure ranges, its rate."""

    id: UUID
    code: str
    name: str
    type: LoanKind
    tenure_unit: str
    min_amount: Decimal
    max_amount: Decimal
    min_tenure: int
    max_tenure: int
    annual_percent: Decimal | None
    daily_percent: Decimal | None


class ProductsOut(BaseModel):
    """The brand's active products."""

    items: list[ProductOut]


class RuleOut(BaseModel):
    """One BRE rule's outcome, as the borrower sees it."""

    rule: str
    outcome: str
    reason: str


def _rule_of(result: Any) -> str:
    return str(result.get("rule") if isinstance(result, dict) else getattr(result, "rule", ""))


class ApplicationOut(BaseModel):
    """The borrower's application: `status` `onboarding` until submitted, then `pending` or `rejected` with the
    BRE's results."""

    id: UUID
    loan_number: str
    status: LoanStatus
    product_id: UUID
    amount: Decimal
    tenure: int
    coupon_code: str | None
    passed: bool | None
    results: list[RuleOut]
    created_at: InstantOut
    updated_at: InstantOut

    @field_validator("results", mode="before")
    @classmethod
    def _for_the_borrower(cls, results: Any) -> Any:
        """Informational flags (central dedup: another brand's borrower) are for the CX, never the borrower."""
        if not isinstance(results, list):
            return results
        return [r for r in results if _rule_of(r) not in {str(i) for i in INFORMATIONAL}]


class BorrowerLoanOut(BaseModel):
    """The borrower's disbursed loan on the business date (`as_of`): its schedule with what is paid and unpaid,
    what is outstanding (the payoff today, split), DPD, the next instalment, and `pay_url`, the loan's signed
    payment page (what the reminders link: pay what is due or the payoff, receipts, the no-due certificate)."""

    id: UUID
    loan_number: str
    status: LoanStatus
    as_of: date
    dpd: int
    schedule: list[InstalmentOut]
    outstanding: OutstandingOut
    next_due: NextDueOut | None
    closed_on: date | None
    pay_url: str


def borrower_loan(ctx: Context[BorrowerApplicationPort]) -> Reply:
    assert ctx.borrower is not None
    loan_id = ctx.port.onboarding.application_of(ctx.brand_id, ctx.borrower.borrower_id, ctx.path["loan_id"])
    loans = ctx.port.servicing
    loan = loans.serviced(ctx.brand_id, loan_id)
    if loan.disbursed_on is None:
        raise Conflict(f"the loan is not disbursed; it is {loan.status.words}: its application says where it stands",
                       status=str(loan.status))  # fmt: skip
    view = servicing_view(loan, loans.parties.business_date(ctx.brand_id))
    pay_url = PayLinks.configured().url(public_base(ctx.request), ctx.brand_id, loan_id, datetime.now(UTC))
    out = BorrowerLoanOut(
        id=loan_id,
        loan_number=loan.loan_number,
        status=loan.status,
        as_of=view.as_of,
        dpd=view.dpd,
        schedule=[InstalmentOut.model_validate(i.__dict__ | {"status": str(i.status)}) for i in view.schedule],
        outstanding=OutstandingOut.model_validate(view.outstanding),
        next_due=NextDueOut.model_validate(view.next_due) if view.next_due else None,
        closed_on=view.closed_on,
        pay_url=pay_url,
    )
    return json_response(out)


def _read(ctx: Context[BorrowerApplicationPort], loan_id: UUID) -> LoanDetail | None:
    return ctx.port.loans.loan(ctx.brand_id, loan_id)


def _answer(ctx: Context[BorrowerApplicationPort], loan_id: UUID, position: int, status: int | None = None) -> Reply:
    location = f"/api/v1/borrower/applications/{loan_id}"
    return ctx.written(CommandResult(loan_id, position), Loans.name, lambda: _read(ctx, loan_id), location, status)


def borrower_products(ctx: Context[BorrowerApplicationPort]) -> Reply:
    page = ctx.port.products.products(ctx.brand_id, active=True, limit=200)
    return json_response(ProductsOut(items=[ProductOut.model_validate(p, from_attributes=True) for p in page.items]))


def start_application(ctx: Context[BorrowerApplicationPort]) -> Reply:
    assert ctx.borrower is not None
    applied = ctx.port.onboarding.apply(ctx.brand_id, ctx.borrower.borrower_id, ctx.body)
    return _answer(ctx, applied.id, applied.position)


def submit_application(ctx: Context[BorrowerApplicationPort]) -> Reply:
    assert ctx.borrower is not None
    submitted = ctx.port.onboarding.submit_application(ctx.brand_id, ctx.borrower.borrower_id, ctx.path["loan_id"])
    return _answer(ctx, submitted.id, submitted.position)


def borrower_application(ctx: Context[BorrowerApplicationPort]) -> Reply:
    assert ctx.borrower is not None
    loan_id = ctx.port.onboarding.application_of(ctx.brand_id, ctx.borrower.borrower_id, ctx.path["loan_id"])
    found = _read(ctx, loan_id)
    if found is None:
        raise ApplicationNotFound(f"application {loan_id} not found", id=str(loan_id))
    return json_response(found)


ENDPOINTS = serve(
    BorrowerApplicationPort,
    "borrower",
    [
        Endpoint(
            "GET",
            "/api/v1/borrower/products",
            borrower_products,
            "The brand's active loan products: amount and tenure ranges, rate",
            None,
            response=ProductsOut,
            borrower=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/borrower/applications",
            start_application,
            "Start a loan application (the loan request step): 409 while an earlier required step is missing, 422 "
            "naming each field the product refuses; nothing recorded on a refusal",
            None,
            body=LoanRequestIn,
            response=ApplicationOut,
            status=201,
            accepts=True,
            borrower=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/borrower/applications/{loan_id}/submit",
            submit_application,
            "Submit the application through the BRE (the submitted step): status pending or rejected, with the "
            "rules' results",
            None,
            response=ApplicationOut,
            accepts=True,
            borrower=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/borrower/applications/{loan_id}/loan",
            borrower_loan,
            "The borrower's own disbursed loan on the business date: schedule with what is paid and unpaid, "
            "outstanding, DPD, next instalment, and the signed payment page to pay it (409 before disbursal)",
            None,
            response=BorrowerLoanOut,
            errors=(409,),
            borrower=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/borrower/applications/{loan_id}",
            borrower_application,
            "The borrower's own application, with its status and BRE results",
            None,
            response=ApplicationOut,
            borrower=True,
        ),
    ],
)
