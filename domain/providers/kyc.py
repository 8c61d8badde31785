"""What the KYC and credit services answer (values) and what a use case calls them through (protocols).

PAN verification, Aadhaar through DigiLocker, penny drop, the credit bureau, bank-statement analysis (BSA) and
the Account Aggregator (AA), whose fetched data has the same shape as a statement analysis. Amounts are Decimal
rupees with two places; names are as the provider holds them, scored against ours by `name_match_score`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from domain.providers.calls import Caller

# PAN --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanVerification:
    """The income-tax department's record of a PAN, against the name and date of birth the borrower gave."""

    pan: str
    status: str  # "valid" | "invalid" (not issued, deactivated)
    name_on_pan: str | None
    name_match_score: int  # 0-100, ours (rapidfuzz), 0 when invalid
    dob_match: bool | None  # None when invalid
    aadhaar_linked: bool
    fraud_flag: bool  # the provider's fraud/misuse flag on the PAN
    category: str  # individual, company, huf, firm, trust, ... (the PAN's fourth letter)

    @property
    def valid(self) -> bool:
        """The PAN exists and is active."""
        return self.status == "valid"


class PanVerifier(Protocol):
    """Verifies a PAN."""

    def verify(self, pan: str, name: str, dob: date, *, caller: Caller) -> PanVerification: ...


# Penny drop -------------------------------------------------------------------------------------------------

PENNY_DROP_FAILURES = ("invalid_account", "account_closed", "nre_account", "account_frozen")


@dataclass(frozen=True)
class PennyDrop:
    """A ₹1 credit to a bank account: whether it went through and whose name the bank has on the account."""

    reference: str
    verified: bool
    account_holder: str | None  # as the bank has it, when credited
    name_match_score: int | None  # 0-100 against the name we expected, ours (rapidfuzz); None when not credited
    amount: Decimal  # 1.00 when credited, 0.00 otherwise
    failure: str | None  # one of PENNY_DROP_FAILURES when not verified
    bank: str | None


class BankAccountVerifier(Protocol):
    """Penny drop."""

    def verify(self, account_number: str, ifsc: str, expected_name: str, *, caller: Caller) -> PennyDrop: ...


# Bureau -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tradeline:
    """One active credit facility on the bureau report."""

    lender: str
    kind: str  # personal_loan, credit_card, two_wheeler_loan, home_loan, consumer_durable, gold_loan, ...
    sanctioned_amount: Decimal
    outstanding: Decimal
    emi: Decimal  # 0 for a card
    max_dpd: int  # worst days past due in the last 12 months
    opened_on: date


@dataclass(frozen=True)
class BureauReport:
    """A credit report: the score (300-900, or -1 when the person has no credit history) and active tradelines."""

    reference: str
    score: int
    tradelines: tuple[Tradeline, ...]
    enquiries_last_6m: int

    @property
    def no_history(self) -> bool:
        """-1: the bureau knows no credit of this person (new to credit)."""
        return self.score == -1

    @property
    def total_emi(self) -> Decimal:
        """The EMIs of every active tradeline."""
        return sum((t.emi for t in self.tradelines), Decimal("0.00"))

    @property
    def max_dpd(self) -> int:
        """The worst DPD over the tradelines (0 without any)."""
        return max((t.max_dpd for t in self.tradelines), default=0)


class CreditBureau(Protocol):
    """Pulls a credit report."""

    def pull(self, pan: str, name: str, dob: date, phone: str, *, caller: Caller) -> BureauReport: ...


# Bank statements (BSA and AA) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SalaryCredit:
    """A salary credit found in the statement."""

    month: str  # YYYY-MM
    amount: Decimal
    employer: str
    credited_on: date


@dataclass(frozen=True)
class EmiDebit:
    """A recurring loan instalment found in the statement."""

    lender: str
    amount: Decimal
    day_of_month: int


@dataclass(frozen=True)
class StatementAnalysis:
    """What a bank statement says about income and obligations (from BSA on an upload, or AA data)."""

    reference: str
    source: str  # "bsa" | "aa"
    account_holder: str
    bank: str
    period_from: date
    period_to: date
    salary_credits: tuple[SalaryCredit, ...]
    emis: tuple[EmiDebit, ...]
    average_balance: Decimal
    bounces: int

    @property
    def monthly_salary(self) -> Decimal | None:
        """The mean of the salary credits of the last three months with one (None without any)."""
        recent = sorted(self.salary_credits, key=lambda c: c.month)[-3:]
        if not recent:
            return None
        return (sum((c.amount for c in recent), Decimal("0")) / len(recent)).quantize(Decimal("0.01"))

    @property
    def total_emi(self) -> Decimal:
        """The monthly EMIs found."""
        return sum((e.amount for e in self.emis), Decimal("0.00"))


class StatementAnalyser(Protocol):
    """Bank-statement analysis of an uploaded statement (PDF)."""

    def analyse(self, document: bytes, *, caller: Caller) -> StatementAnalysis: ...


@dataclass(frozen=True)
class AaConsent:
    """A consent request at the Account Aggregator: the borrower approves it at `redirect_url`."""

    handle: str
    redirect_url: str
    status: str  # "pending" | "approved" | "rejected" | "expired"
    expires_at: datetime


class AccountAggregator(Protocol):
    """Bank data with the borrower's consent (the alternative to uploading a statement)."""

    def request_consent(self, phone: str, *, months: int, redirect_to: str, caller: Caller) -> AaConsent: ...

    def consent(self, handle: str, *, caller: Caller) -> AaConsent: ...

    def fetch(self, handle: str, *, caller: Caller) -> StatementAnalysis: ...


# Aadhaar (DigiLocker) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigilockerSession:
    """A DigiLocker authorisation: the borrower signs in at `redirect_url` and is sent back to our `redirect_to`."""

    consent_id: str
    redirect_url: str
    expires_at: datetime


@dataclass(frozen=True)
class AadhaarRecord:
    """The e-Aadhaar a borrower shared from DigiLocker."""

    consent_id: str
    name: str
    dob: date
    gender: str  # "M" | "F" | "T"
    address: str
    pincode: str
    photo: bytes  # a small JPEG
    masked_aadhaar: str  # XXXX XXXX 1234


class DigiLocker(Protocol):
    """Aadhaar through DigiLocker."""

    def start(
        self, redirect_to: str, *, name: str | None = None, dob: date | None = None, caller: Caller
    ) -> DigilockerSession: ...

    def fetch(self, consent_id: str, *, caller: Caller) -> AadhaarRecord: ...
