"""Loan endpoints: start and submit applications, the queue, one loan, BRE overrides, bypasses, assignment, cancel,
reject, and moving an open application to another product (LOAN_RULE_TYPE)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.problems import HttpProblem
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON, visible_text
from api.routes.agreement_models import AgreementOut, EsignOut, with_agreement
from api.routes.disbursal_models import DisbursementOut
from api.routes.servicing_models import NextDueOut, OutstandingOut
from api.services.disbursal_views import DisbursementBlock, DisbursementBlocks
from api.services.disbursals import cancel_unless_paying_out
from api.services.servicing_fields import servicing_fields
from api.services.teams import Teams
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.loans.application import Loans
from domain.loans.bre import MIN_OVERRIDE_JUSTIFICATION, OVERRIDABLE
from domain.loans.loan import Check, LoanNotFound, SanctionRequired
from domain.loans.states import LoanStatus
from domain.shared.errors import InvalidValue
from domain.shared.values import MIN_REASON, PositiveMoney, WholeNumber, stated_choices
from projections.loan_agreements import AgreementQueries
from projections.loan_decision_queries import DecisionQueries
from projections.loan_queries import LoanQueries

READ = (Permission.LOANS, Level.READ)
WRITE = (Permission.LOANS, Level.WRITE)
RELOCATE = (Permission.LOAN_RELOCATE, Level.WRITE)
BYPASS = (Permission.LOAN_FORCE_BYPASS, Level.WRITE)
RULE_TYPE = (Permission.LOAN_RULE_TYPE, Level.WRITE)
#: Who decides a CX-approved loan the Sanction Head assigned to another Sanction Manager (`Loan.require_assigned_sm`):
#: the Sanction Head (who assigns them and decides himself) - and admins (`decides_any_sanction`).
ANY_SANCTION = (Permission.SANCTION_HEAD, Level.WRITE)


@dataclass(frozen=True)
class LoanPort:
    """What the loan endpoints and pages use: the use cases and the read model."""

    loans: Loans
    queries: LoanQueries
    disbursements: DisbursementBlocks
    decisions: DecisionQueries
    agreements: AgreementQueries
    teams: Teams


class LoanIn(BaseModel):
    """A new application, priced with the product's current version."""

    model_config = ConfigDict(extra="forbid")

    customer_id: UUID
    product_id: UUID
    amount: PositiveMoney
    tenure: WholeNumber = Field(ge=1, le=3650, description="months for an EMI product, days for a payday product")
    coupon_code: str | None = Field(None, max_length=40)


class OverrideIn(BaseModel):
    """A CX's override of one BRE rule's result."""

    model_config = ConfigDict(extra="forbid")

    rule: Annotated[str, Field(max_length=40), stated_choices(OVERRIDABLE)]
    result: Annotated[str, Field(max_length=20), stated_choices(["pass", "fail"], "pass or fail")]
    justification: str = Field(
        min_length=MIN_OVERRIDE_JUSTIFICATION,
        max_length=2000,
        description=f"at least {MIN_OVERRIDE_JUSTIFICATION} visible characters (whitespace, zero-width and control "
        "characters do not count)",
        json_schema_extra=visible_text(MIN_OVERRIDE_JUSTIFICATION),
    )


class AssignIn(BaseModel):
    """Whom to assign the application to."""

    model_config = ConfigDict(extra="forbid")

    staff_id: UUID
    reason: str | None = Field(
        None,
        max_length=500,
        description=f'"" or null: "assigned by a manager"; otherwise {VISIBLE_MIN_REASON}',
        json_schema_extra=visible_text(or_empty=True),
    )


class BypassIn(BaseModel):
    """A check to skip and why (LOAN_FORCE_BYPASS)."""

    model_config = ConfigDict(extra="forbid")

    check: Check
    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class ProductChangeIn(BaseModel):
    """Another active product of the brand (or the product's current version) for an open application."""

    model_config = ConfigDict(extra="forbid")

    product_id: UUID
    amount: PositiveMoney | None = Field(None, description="default: the application's amount")
    tenure: WholeNumber | None = Field(
        None, ge=1, le=3650, description="months or days as the new product counts; default: the application's own "
        "when the new product is of the same kind (required when moving between EMI and payday)"
    )  # fmt: skip
    reason: str = Field(
        min_length=MIN_REASON, max_length=1000, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )
    expected_version: WholeNumber | None = Field(
        None, description="the loan's version the change was made against (or send If-Match); 409 when stale"
    )


class ReasonIn(BaseModel):
    """Why."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class RejectIn(BaseModel):
    """A rejection: a reason code and remarks."""

    model_config = ConfigDict(extra="forbid")

    reason_code: str = Field(max_length=40)
    remarks: str = Field(
        min_length=MIN_REASON, max_length=2000, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class LoansQuery(BaseModel):
    """Queue filters and paging."""

    model_config = ConfigDict(extra="forbid")

    status: LoanStatus | None = None
    assignee: UUID | None = None
    q: str | None = Field(
        None, max_length=100, description="a loan number, a borrower's id (DEMO-C-000123) or part of their name"
    )
    assignee_departed: bool = Field(
        False,
        description="true: only the applications in their credit executive's hands (onboarding, pending) whose "
        "assignee left - disabled, or no longer holding LOANS at WRITE - for a manager to reassign (with the brand's "
        "auto_allocate_loans on, the cx-departures job reassigns them)",
    )
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class LoanSummaryOut(BaseModel):
    """A loan in the queue."""

    id: UUID
    loan_number: str
    customer_id: UUID
    borrower_name: str | None
    product_id: UUID
    product_version: int
    amount: Decimal
    tenure: int
    status: LoanStatus
    assignee_id: UUID | None
    assignee_name: str | None
    channel: str
    created_at: InstantOut
    updated_at: InstantOut
    assignee_departed: bool = Field(
        description="the application is in its credit executive's hands (onboarding, pending) and its assignee left "
        "(disabled, or no longer holding LOANS at WRITE): a manager reassigns it, or the cx-departures job when the "
        "brand auto-allocates"
    )


class LoanPageOut(BaseModel):
    """Loans, newest first."""

    items: list[LoanSummaryOut]
    next_cursor: str | None


class OverrideOut(BaseModel):
    """An override of a rule's result."""

    outcome: str
    justification: str
    actor: str
    at: InstantOut


class RuleResultOut(BaseModel):
    """One BRE rule's result: the inputs it read, the threshold, the reason, and its override if any."""

    rule: str
    outcome: str
    inputs: dict[str, str]
    threshold: dict[str, str]
    reason: str
    override: OverrideOut | None


class LoanEventOut(BaseModel):
    """One entry of a loan's history: what happened, the status it led to, who and why."""

    version: int
    kind: str
    status: str | None
    actor: str
    reason: str | None
    details: dict[str, Any]
    at: InstantOut


class LoanEventsQuery(BaseModel):
    """A page of a loan's history."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500, description="`next_cursor` of the page before")
    limit: int = Field(50, ge=1, le=200)
    order: Literal["asc", "desc"] = Field("asc", description="asc: oldest first (as `history`); desc: newest first")


class LoanEventPageOut(BaseModel):
    """A page of a loan's history (the entries of the loan's `history`), by version."""

    items: list[LoanEventOut]
    next_cursor: str | None = Field(description="the next page's cursor (`?cursor=`), null on the last page")


class BorrowerOut(BaseModel):
    """The borrower."""

    id: UUID
    name: str | None
    phone: str | None
    number: str | None = Field(None, description="the borrower's formatted id, e.g. DEMO-C-000123")


class FeeOut(BaseModel):
    """One fee as charged."""

    amount: Decimal
    gst: Decimal
    gst_inclusive: bool


class PricingOut(BaseModel):
    """The loan's amounts as priced: fees (the coupon's discount on the processing fee), GST, net disbursed, and the
    EMI on them. `pricing` is the amount requested at creation; `sanctioned_pricing`, once sanctioned, the sanction's
    (what the loan is disbursed and repaid on, as the amounts block and the schedule)."""

    sanctioned: Decimal = Field(
        description="the amount priced (`pricing`: requested; `sanctioned_pricing`: sanctioned)"
    )
    gst_percent: Decimal
    processing_fee_before_discount: Decimal
    coupon_discount: Decimal
    processing_fee: FeeOut
    convenience_fee: FeeOut
    net_disbursed: Decimal
    instalment: Decimal | None = Field(None, description="the EMI, or for a payday loan the bullet per month")


class AmountsOut(BaseModel):
    """The decision's amounts: requested, CX-approved, sanctioned (null until decided), and the fees, GST and net
    disbursed of the sanctioned amount (before the sanction: of the requested amount)."""

    requested: Decimal
    cx_approved: Decimal | None
    sanctioned: Decimal | None
    processing_fee: Decimal
    processing_fee_before_discount: Decimal
    convenience_fee: Decimal
    gst: Decimal
    net_disbursed: Decimal


class InstalmentOut(BaseModel):
    """One instalment of the schedule (LENDING.md)."""

    no: int
    due_date: date
    principal: Decimal
    interest: Decimal
    amount: Decimal
    paid: Decimal | None = Field(None, description="once disbursed: penal, interest and principal paid on it")
    status: str | None = Field(None, description="once disbursed: due, paid, partially_paid or overdue")
    penal: Decimal | None = Field(None, description="once disbursed: penal charges accrued on it")
    unpaid: Decimal | None = Field(None, description="once disbursed: principal, interest and penal still to pay")


class LoanOut(LoanSummaryOut):
    """One loan: borrower, product version, amounts, BRE results with inputs and overrides, documents, history;
    once sanctioned the schedule (from the expected disbursal date - the brand's business date - until disbursed)."""

    coupon_code: str | None
    pricing: PricingOut = Field(description="as priced at creation, on the amount requested")
    instalment: Decimal = Field(description="the EMI, or for a payday loan the bullet per month, of `pricing`")
    sanctioned_pricing: PricingOut | None = Field(
        None, description="once sanctioned: the sanction's pricing, what the loan is disbursed and repaid on"
    )
    borrower: BorrowerOut
    submitted_on: date | None
    passed: bool | None
    facts: dict[str, Any] | None
    policy: dict[str, Any] | None
    results: list[RuleResultOut]
    bypassed: list[str]
    history: list[LoanEventOut]
    documents: list[str]
    esign: EsignOut | None = Field(None, description="the latest e-sign link, once the agreement is sent")
    agreement: AgreementOut | None = Field(None, description="the agreement PDF's SHA-256 and download")
    version: int
    disbursement: DisbursementOut | None = Field(
        None, description="once in the Ops queue: payout state, mode, gateway reference, attempts, simulator_url"
    )
    amounts: AmountsOut
    schedule: list[InstalmentOut] | None = Field(description="once sanctioned")
    cam: dict[str, Any] | None = Field(None, description="the Credit Appraisal Memo, once recorded")
    rejection: dict[str, Any] | None = Field(None, description="code, label, remarks, by (the status it left)")
    sent_back: dict[str, Any] | None = Field(
        None,
        description="the latest send back: to, reason, actor, at, and step (the borrower's step to do again; null: "
        "submit again)",
    )
    cx_approved_by: str | None = None
    sanctioned_by: str | None = None
    disbursed_on: date | None = None
    outstanding: OutstandingOut | None = Field(None, description="once disbursed: the payoff on the business date")
    dpd: int | None = Field(None, description="once disbursed: days past due on the business date")
    asset_class: str | None = Field(None, description="once disbursed: standard, SMA-0, SMA-1, SMA-2 or NPA")
    next_due: NextDueOut | None = Field(None, description="the next instalment not fully paid due on or after today")
    cob_through: date | None = Field(None, description="the last business date COB recorded something for the loan")
    closed_on: date | None = Field(
        None, description="once disbursed: the date its payments brought the payoff to zero (null until then)"
    )


def _loan(ctx: Context[LoanPort], loan_id: UUID) -> object | None:
    parties = ctx.port.loans.parties
    found = ctx.port.queries.loan(
        ctx.brand_id, loan_id, parties.repayment_calendar(ctx.brand_id), parties.business_date(ctx.brand_id)
    )
    detailed = with_agreement(found, ctx.port.agreements.esign(ctx.brand_id, loan_id) if found else None)
    if detailed is None or found is None:
        return None
    out = _WithDisbursement(detailed, ctx.port.disbursements.block(ctx.brand_id, loan_id))
    if found.disbursed_on is not None:  # servicing (issue #15): schedule paid/status, outstanding, DPD, class
        out.servicing = servicing_fields(ctx.port.loans, ctx.brand_id, loan_id)
    return out


def written(ctx: Context[LoanPort], result: Any) -> Reply:
    """The answer to a loan command: the loan as the read model shows it (202 while it catches up)."""
    return ctx.written(result, Loans.name, lambda: _loan(ctx, result.id), f"/api/v1/loans/{result.id}")


_written = written


def list_loans(ctx: Context[LoanPort]) -> Reply:
    q: LoansQuery = ctx.query
    status = q.status.value if q.status else None
    found = ctx.port.queries.loans(ctx.brand_id, status, q.assignee, q.q, q.cursor, q.limit, q.assignee_departed)
    return json_response(found)


def get_loan(ctx: Context[LoanPort]) -> Reply:
    found = _loan(ctx, ctx.path["loan_id"])
    if found is None:
        raise LoanNotFound(f"loan {ctx.path['loan_id']} not found", id=str(ctx.path["loan_id"]))
    return json_response(found)


def loan_events(ctx: Context[LoanPort]) -> Reply:
    q: LoanEventsQuery = ctx.query
    loan_id: UUID = ctx.path["loan_id"]
    page = ctx.port.queries.loan_events(ctx.brand_id, loan_id, q.cursor, q.limit, newest_first=q.order == "desc")
    if page is None:
        raise LoanNotFound(f"loan {loan_id} not found", id=str(loan_id))
    return json_response(page)


class _WithDisbursement:
    """A loan's detail with its disbursement block (read as attributes by the response model)."""

    def __init__(self, detail: Any, disbursement: DisbursementBlock | None) -> None:
        self._detail = detail
        self.disbursement = disbursement
        self.servicing: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name in self.servicing:
            return self.servicing[name]
        return getattr(self._detail, name)


def create_loan(ctx: Context[LoanPort]) -> Reply:
    body: LoanIn = ctx.body
    result = ctx.port.loans.create(
        ctx.brand_id, body.customer_id, body.product_id, body.amount, body.tenure, body.coupon_code
    )
    return _written(ctx, result)


def submit_loan(ctx: Context[LoanPort]) -> Reply:
    return _written(ctx, ctx.port.loans.submit(ctx.brand_id, ctx.path["loan_id"]))


def override_rule(ctx: Context[LoanPort]) -> Reply:
    body: OverrideIn = ctx.body
    result = ctx.port.loans.override(
        ctx.brand_id, ctx.path["loan_id"], body.rule, body.result, body.justification,
        any_application=ctx.principal.holds(Permission.LOAN_RELOCATE, Level.WRITE),
    )  # fmt: skip
    return _written(ctx, result)


def bypass_check(ctx: Context[LoanPort]) -> Reply:
    body: BypassIn = ctx.body
    return _written(ctx, ctx.port.loans.bypass(ctx.brand_id, ctx.path["loan_id"], body.check.value, body.reason))


def assign_loan(ctx: Context[LoanPort]) -> Reply:
    body: AssignIn = ctx.body
    result = ctx.port.loans.assign(
        ctx.brand_id, ctx.path["loan_id"], body.staff_id, body.reason, expected_version=ctx.expected_version()
    )
    return _written(ctx, result)


def cancel_loan(ctx: Context[LoanPort]) -> Reply:
    body: ReasonIn = ctx.body
    store = ctx.port.disbursements.store  # not while a payout of the loan is being made (api/services/disbursals.py)
    return _written(
        ctx, cancel_unless_paying_out(ctx.port.loans, store, ctx.brand_id, ctx.path["loan_id"], body.reason)
    )


def decides_any_sanction(principal: Principal | None) -> bool:
    """Whether `principal` sanctions, rejects, sends back to the CX, escalates or changes the product of a CX-approved
    loan the Sanction Head assigned to another Sanction Manager (`Loan.require_assigned_sm`): SANCTION_HEAD WRITE, or
    an admin."""
    return principal is not None and (principal.admin or principal.holds(*ANY_SANCTION))


def reject_loan(ctx: Context[LoanPort]) -> Reply:
    body: RejectIn = ctx.body
    # Decided by the aggregate on the state the rejection commits against (not the read model, which may not show
    # a CX approval landing meanwhile): a CX's reject never lands on a CX-approved loan.
    sanctioning = ctx.principal.holds(Permission.SANCTION_MANAGER, Level.WRITE)
    try:
        result = ctx.port.loans.reject(
            ctx.brand_id, ctx.path["loan_id"], body.reason_code, body.remarks, sanctioning=sanctioning,
            any_application=ctx.principal.holds(Permission.LOAN_RELOCATE, Level.WRITE),
            any_sanction=decides_any_sanction(ctx.principal), expected_version=ctx.expected_version(),
        )  # fmt: skip
    except SanctionRequired:
        raise HttpProblem(403, "rejecting a CX-approved loan needs SANCTION_MANAGER at WRITE", "forbidden",
                          permission=Permission.SANCTION_MANAGER.value, level=Level.WRITE.value) from None  # fmt: skip
    return _written(ctx, result)


def change_product(ctx: Context[LoanPort]) -> Reply:
    body: ProductChangeIn = ctx.body
    header = ctx.expected_version()
    if header is not None and body.expected_version is not None and header != body.expected_version:
        raise InvalidValue("expected_version", f"names version {body.expected_version}, If-Match {header}: send one")
    result = ctx.port.loans.change_product(
        ctx.brand_id,
        ctx.path["loan_id"],
        body.product_id,
        body.reason,
        amount=body.amount,
        tenure=body.tenure,
        expected_version=header if header is not None else body.expected_version,
        any_sanction=decides_any_sanction(ctx.principal),
    )
    return _written(ctx, result)


def _command(path: str, handler: Any, summary: str, permission: Any, body: Any, status: int = 200) -> Endpoint[Any]:
    return Endpoint(
        "POST", path, handler, summary, permission, body=body, response=LoanOut, status=status, accepts=True, etag=True
    )


ENDPOINTS = serve(
    LoanPort,
    "loans",
    [
        Endpoint(
            "GET",
            "/api/v1/loans",
            list_loans,
            "The loan queue: filter by status, assignee, loan number or borrower name, or the applications whose "
            "assignee left (`assignee_departed`)",
            READ,
            query=LoansQuery,
            response=LoanPageOut,
        ),
        _command("/api/v1/loans", create_loan, "Start an application (status onboarding)", WRITE, LoanIn, 201),
        Endpoint(
            "GET",
            "/api/v1/loans/{loan_id}",
            get_loan,
            "One loan with BRE results and history (ETag: its version)",
            READ,
            response=LoanOut,
            etag=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/loans/{loan_id}/events",
            loan_events,
            "A loan's history (the entries of its `history`) a page at a time, by version, oldest first or newest "
            "first (`order`); `limit` default 50, at most 200; `cursor`: the `next_cursor` of the page before, null "
            "on the last page; a cursor of another loan, order or list is a 422; another brand's loan a 404",
            READ,
            query=LoanEventsQuery,
            response=LoanEventPageOut,
        ),
        _command(
            "/api/v1/loans/{loan_id}/submit", submit_loan, "Submit through the BRE: pending or rejected", WRITE, None
        ),
        _command(
            "/api/v1/loans/{loan_id}/bre-overrides", override_rule, "Override a BRE rule's result", WRITE, OverrideIn
        ),
        _command(
            "/api/v1/loans/{loan_id}/bypasses",
            bypass_check,
            "Bypass the bureau or bank statement check",
            BYPASS,
            BypassIn,
        ),
        replace(
            _command(
                "/api/v1/loans/{loan_id}/assign",
                assign_loan,
                "Assign or reassign to a credit executive",
                RELOCATE,
                AssignIn,
            ),
            if_match=True,
        ),
        replace(
            _command(
                "/api/v1/loans/{loan_id}/product",
                change_product,
                "Move an open application (onboarding, pending, cx_approved) to another product: repriced, BRE re-run",
                RULE_TYPE,
                ProductChangeIn,
            ),
            if_match=True,
        ),
        _command("/api/v1/loans/{loan_id}/cancel", cancel_loan, "Cancel before disbursal", WRITE, ReasonIn),
        replace(
            _command("/api/v1/loans/{loan_id}/reject", reject_loan, "Reject with a reason code", WRITE, RejectIn),
            if_match=True,
        ),
    ],
)
