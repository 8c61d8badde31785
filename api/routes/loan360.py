"""The borrower's loans for Customer 360 (issue #15 item 6): `GET /api/v1/customers/{customer_id}/loans`, each loan
with status, DPD, class, next due and outstanding (api/services/borrower_loans.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, Field

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.services.borrower_loans import borrower_loans
from domain.customers.application import Customers
from domain.identity.permissions import Level, Permission
from domain.loans.application import Loans
from projections.borrower_loans import BorrowerLoanQueries

READ = (Permission.LOANS, Level.READ)


@dataclass(frozen=True)
class BorrowerLoansPort:
    """What the endpoint uses: the borrower records (404 across brands), the loans and their read model."""

    customers: Customers
    loans: Loans
    queries: BorrowerLoanQueries


class NextDueOut(BaseModel):
    """The next instalment not fully paid due on or after the business date."""

    no: int
    due_date: date
    amount: Decimal


class BorrowerLoanOut(BaseModel):
    """One loan of the borrower."""

    id: UUID
    loan_number: str
    status: str
    amount: Decimal
    tenure: int
    disbursed_on: date | None
    dpd: int | None = Field(description="days past due on the business date, once disbursed")
    asset_class: str | None
    next_due: NextDueOut | None
    outstanding: Decimal | None = Field(description="the payoff on the business date; 0.00 once completed")


class BorrowerLoanListOut(BaseModel):
    """The borrower's loans, newest first."""

    items: list[BorrowerLoanOut]


def customer_loans(ctx: Context[BorrowerLoansPort]) -> Reply:
    customer_id: UUID = ctx.path["customer_id"]
    ctx.port.customers.get(ctx.brand_id, customer_id)  # 404 for another brand's borrower
    return json_response({"items": borrower_loans(ctx.port.queries, ctx.port.loans, ctx.brand_id, customer_id)})


ENDPOINTS = serve(
    BorrowerLoansPort,
    "loan360",
    [
        Endpoint(
            "GET",
            "/api/v1/customers/{customer_id}/loans",
            customer_loans,
            "Customer 360's loans: each with status, amount, DPD, class, next due and outstanding on the business date",
            READ,
            response=BorrowerLoanListOut,
        ),
    ],
)
