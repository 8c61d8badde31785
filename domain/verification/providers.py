"""What the verification use cases ask of the KYC, bank and bureau providers: protocols and the values they
answer with. The HTTP clients (adapters.providers) are fitted to them at wiring; tests pass fakes. A provider that
cannot answer raises `ProviderUnavailable` (retry later), one that refuses the request `ProviderRejected`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class Applicant:
    """The borrower as our records have them: what checks are made against."""

    customer_id: UUID
    name: str
    phone: str
    pan: str | None
    date_of_birth: date | None


@dataclass(frozen=True)
class PanAnswer:
    """What the PAN registry says about a PAN."""

    valid: bool
    name_on_pan: str | None
    dob_match: bool | None
    aadhaar_linked: bool
    fraud_flag: bool


@dataclass(frozen=True)
class PennyDropAnswer:
    """The ₹1 transfer: whether it was credited and the account holder's name as the bank has it."""

    credited: bool
    holder_name: str | None
    reference: str
    failure: str | None = None  # the bank's reason when not credited (invalid account, closed, NRE ...)


@dataclass(frozen=True)
class Tradeline:
    """An active credit line on the bureau report."""

    lender: str
    kind: str
    sanctioned: Decimal
    outstanding: Decimal
    emi: Decimal
    max_dpd: int


@dataclass(frozen=True)
class BureauAnswer:
    """A bureau pull: the score (None: no credit history) and the active tradelines."""

    score: int | None
    tradelines: tuple[Tradeline, ...] = ()


@dataclass(frozen=True)
class SalaryCredit:
    """A salary credit found in a statement."""

    month: str  # YYYY-MM
    amount: Decimal
    employer: str | None = None


@dataclass(frozen=True)
class StatementAnswer:
    """Bank statement analysis (BSA) or Account Aggregator data: salary credits, EMIs, balance, bounces."""

    salary_credits: tuple[SalaryCredit, ...]
    existing_emis: Decimal
    average_balance: Decimal
    bounces: int = 0


@dataclass(frozen=True)
class Consent:
    """A consent the borrower gives at the provider (DigiLocker, Account Aggregator): its id and where to go."""

    consent_id: str
    redirect_url: str


@dataclass(frozen=True)
class AadhaarAnswer:
    """The Aadhaar details DigiLocker returns."""

    name: str
    date_of_birth: date | None
    address: str
    masked_aadhaar: str
    photo: bytes | None = field(default=None, repr=False)  # a small JPEG


class PanVerifier(Protocol):
    """PAN verification (name, date of birth, Aadhaar linkage, fraud flag)."""

    def verify_pan(
        self, pan: str, name: str, date_of_birth: date | None, *, brand_id: UUID, customer_id: UUID
    ) -> PanAnswer: ...


class PennyDropper(Protocol):
    """Penny drop: ₹1 to an account, and the holder's name the bank returns."""

    def penny_drop(self, account_number: str, ifsc: str, *, brand_id: UUID, customer_id: UUID) -> PennyDropAnswer: ...


class CreditBureau(Protocol):
    """A credit bureau pull."""

    def pull(self, applicant: Applicant, *, brand_id: UUID) -> BureauAnswer: ...


class StatementAnalyser(Protocol):
    """Bank statement analysis of an uploaded statement."""

    def analyse(self, statement: bytes, content_type: str, *, brand_id: UUID, customer_id: UUID) -> StatementAnswer: ...


class AccountAggregator(Protocol):
    """Account Aggregator: a consent, then the statement data it covers."""

    def request_consent(self, applicant: Applicant, *, brand_id: UUID) -> Consent: ...

    def fetch(self, consent_id: str, *, brand_id: UUID, customer_id: UUID) -> StatementAnswer: ...


class DigiLocker(Protocol):
    """DigiLocker: a consent, then the Aadhaar details it covers."""

    def start(self, applicant: Applicant, *, brand_id: UUID) -> Consent: ...

    def fetch(self, consent_id: str, *, brand_id: UUID, customer_id: UUID) -> AadhaarAnswer: ...


@dataclass(frozen=True)
class KycProviders:
    """The providers the verification use cases call."""

    pan: PanVerifier
    penny_drop: PennyDropper
    bureau: CreditBureau
    bsa: StatementAnalyser
    aa: AccountAggregator
    digilocker: DigiLocker
