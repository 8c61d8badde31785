"""The loan agreement: what it says (`LoanAgreement`, built from the loan's recorded terms), how it is rendered
(`AgreementRenderer`, a PDF in `adapters/agreement_pdf.py`) and where its bytes go (`AgreementStore`, the
content-addressed document store).

Everything the agreement shows is a value recorded on the loan (its events) or derived from them by
LENDING.md: the sanctioned amount and its pricing (fees before and after the coupon, GST inside or on top, net
disbursed), the product version's rate, tenure and penal terms, and the full repayment schedule from the expected
disbursal date. The borrower and lender are as the customers and identity contexts hold them when it is issued.
The same agreement renders to the same bytes (the PDF's dates and ids come from `issued_at`), so the SHA-256
recorded on the loan can be checked again at any time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from domain.loans.pricing import Pricing
from domain.loans.schedule import Schedule
from domain.loans.terms import LoanKind, PenalTerms
from domain.shared.clock import DEFAULT_TIMEZONE

#: The media type of a rendered agreement.
PDF = "application/pdf"


@dataclass(frozen=True)
class AgreementBorrower:
    """The borrower as the agreement names them: PAN masked, one-line address."""

    name: str
    number: str | None  # the brand's formatted borrower id (DEMO-C-000123)
    pan_masked: str | None
    phone: str
    address: str | None


@dataclass(frozen=True)
class LoanAgreement:
    """Everything the loan agreement states (amounts `Decimal` rupees, rates decimal percent)."""

    lender: str  # the brand's name
    loan_number: str
    loan_id: str
    borrower: AgreementBorrower
    product_code: str
    product_name: str
    product_version: int
    kind: LoanKind
    requested: Decimal
    cx_approved: Decimal | None
    sanctioned: Decimal
    pricing: Pricing  # of the sanctioned amount
    rate: Decimal  # annual percent (EMI) or daily percent (payday)
    tenure: int  # months (EMI) or days (payday)
    penal: PenalTerms
    schedule: Schedule  # from `disbursal_on`
    disbursal_on: date  # the expected disbursal date the schedule starts from
    issued_at: datetime  # when the agreement was issued: the PDF's creation date
    timezone: str = DEFAULT_TIMEZONE  # the brand's: the day it was issued on, as the agreement prints it

    @property
    def issued_on(self) -> date:
        """The day the agreement was issued, in the brand's timezone (a sanction at 02:00 IST is that day's, not
        the UTC day before)."""
        return self.issued_at.astimezone(ZoneInfo(self.timezone)).date()

    @property
    def tenure_text(self) -> str:
        """The tenure with its unit."""
        return f"{self.tenure} {'months' if self.kind is LoanKind.EMI else 'days'}"

    @property
    def rate_text(self) -> str:
        """The interest rate as the agreement states it."""
        unit = "per annum, reducing balance" if self.kind is LoanKind.EMI else "per day, on the principal"
        return f"{self.rate}% {unit}"

    @property
    def total_repayable(self) -> Decimal:
        """Principal and interest over the whole schedule."""
        return sum((i.amount for i in self.schedule.instalments), Decimal("0.00"))


class AgreementRenderer(Protocol):
    """Renders an agreement into a document (a PDF): the same agreement always gives the same bytes."""

    def render(self, agreement: LoanAgreement) -> bytes:
        """The document's bytes (in the current layout)."""
        ...

    def renderings(self, agreement: LoanAgreement) -> Iterable[bytes]:
        """The document in every layout it was ever issued in, newest first: an issued agreement whose stored bytes
        are lost is rendered again in the layout its recorded SHA-256 is of."""
        ...


class AgreementStore(Protocol):
    """Content-addressed storage of document bytes (the documents context's store)."""

    def put(self, sha256: str, data: bytes, content_type: str) -> bool:
        """Store the bytes under their SHA-256 unless already there."""
        ...

    def get(self, sha256: str) -> bytes:
        """The stored bytes; KeyError when none."""
        ...


def sha256_hex(data: bytes) -> str:
    """The lower-case hex SHA-256 of `data`: a document's address."""
    return hashlib.sha256(data).hexdigest()
