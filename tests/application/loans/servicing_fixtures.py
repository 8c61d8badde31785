"""Fixtures of the servicing application tests: a disbursed loan on the in-memory store, a movable business date."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from domain.loans.application import Loans
from domain.loans.due_dates import RepaymentCalendar
from tests.application.loans.fakes import BORROWER, BRAND, PRODUCT, TODAY, Parties

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@dataclass
class MovableParties(Parties):
    """The fakes' parties with a business date and a calendar the test moves."""

    today: date = TODAY
    calendar: RepaymentCalendar = field(default_factory=RepaymentCalendar)

    def business_date(self, brand_id: UUID) -> date:
        return self.today

    def repayment_calendar(self, brand_id: UUID) -> RepaymentCalendar:
        return self.calendar


def disbursed(loans: Loans, on: date = TODAY, amount: str = "85000", tenure: int = 12) -> UUID:
    """A loan sanctioned for `amount`, signed, queued and disbursed on `on`."""
    created = loans.create(BRAND, BORROWER, PRODUCT, "100000", tenure)
    loan_id = created.id
    loans.submit(BRAND, loan_id)
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    loans.sanction(BRAND, loan_id, amount, "FOIR at the limit")
    loans.issue_agreement(
        BRAND, loan_id, "ab" * 32, "agreements/x.pdf", "es-1", "https://esign/1", NOW + timedelta(days=2)
    )
    loans.sign(BRAND, loan_id, "prov-1", NOW)
    loans.ready_for_disbursal(BRAND, loan_id, "acct-1")
    loans.initiate_disbursal(BRAND, loan_id, "IMPS", "gw-1")
    loans.confirm_disbursal(BRAND, loan_id, "gw-1", on)
    return loan_id
