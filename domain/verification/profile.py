"""KycProfile: one per borrower, the result (or the failure) of each verification: PAN, Aadhaar, bureau, statement.

A check the provider could not answer is recorded as `failed` with the reason and what is needed to run it again
(the statement document, the consent); `retry` runs it again. Nothing the borrower gave is lost."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, NotFound
from domain.verification.records import SalaryCreditRecord, TradelineRecord
from domain.verification.values import CheckKind, CheckStatus

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/kyc-profile")
#: The providers whose checks wait for the borrower's consent (DigiLocker, the Account Aggregator).
CONSENT_SOURCES = ("digilocker", "aa")


def profile_id(brand_id: UUID, customer_id: UUID) -> UUID:
    """The id of a borrower's KYC profile."""
    return uuid5(_NAMESPACE, f"{brand_id}:{customer_id}")


class KycProfileNotFound(NotFound):
    """Raised when a borrower has no KYC profile (no verification was run) within the brand."""


class CheckState(BaseModel):
    """Where one check stands on the profile (a model, so auditors' replays show it as JSON)."""

    model_config = ConfigDict(frozen=True)

    status: CheckStatus
    reason: str | None = None
    attempts: int = 0
    reference: str | None = None  # the statement document id or consent id a retry runs with
    source: str | None = None


class KycProfile(Aggregate):
    """A borrower's verifications (uuid5 of brand and borrower)."""

    id: UUID

    class Opened(Aggregate.Created):
        """The borrower's first verification was run."""

        brand_id: UUID
        customer_id: UUID

    class PanChecked(Aggregate.Event):
        """The PAN registry answered: valid or not, name and DOB match, Aadhaar linkage, fraud flag."""

        status: CheckStatus
        pan: str
        valid: bool
        name_on_pan: str | None = None
        name_score: int
        dob_match: bool | None = None
        aadhaar_linked: bool
        fraud_flag: bool
        reason: str | None = None

    class ConsentStarted(Aggregate.Event):
        """The borrower was sent to a provider to consent (DigiLocker for Aadhaar, the AA for statements)."""

        check: CheckKind
        source: str
        consent_id: str
        redirect_url: str

    class AadhaarChecked(Aggregate.Event):
        """DigiLocker returned the Aadhaar details (its photo stored as a document)."""

        status: CheckStatus
        source: str
        name: str
        name_score: int
        date_of_birth: date | None = None
        dob_match: bool | None = None
        address: str
        masked_aadhaar: str
        photo_document_id: UUID | None = None
        reason: str | None = None

    class BureauPulled(Aggregate.Event):
        """The bureau report: score (None: no credit history) and active tradelines."""

        score: int | None = None
        tradelines: list[TradelineRecord]
        existing_emis: Decimal
        max_dpd: int

    class StatementAnalysed(Aggregate.Event):
        """Statement data (BSA of an uploaded statement, or the Account Aggregator): salary, EMIs, balance."""

        source: str
        document_id: UUID | None = None
        salary_credits: list[SalaryCreditRecord]
        monthly_salary: Decimal | None = None
        existing_emis: Decimal
        average_balance: Decimal
        bounces: int

    class CheckFailed(Aggregate.Event):
        """A provider could not answer: nothing is known yet; `reference` is what a retry runs with."""

        check: CheckKind
        source: str
        reason: str
        reference: str | None = None

    @event(Opened)
    def __init__(self, brand_id: UUID, customer_id: UUID) -> None:
        self.brand_id = brand_id
        self.customer_id = customer_id
        self.checks: dict[CheckKind, CheckState] = {}
        self.credit_score: int | None = None
        self.monthly_salary: Decimal | None = None
        self.redirect_urls: dict[CheckKind, str] = {}  # the consent page of each check waiting for consent
        self.aadhaar: dict[str, object] | None = None  # the last DigiLocker answer (masked)
        self.statement: dict[str, object] | None = None  # the last statement analysis (figures)

    def state(self, check: CheckKind) -> CheckState | None:
        """The check's state, None when it was never run."""
        return self.checks.get(check)

    def _attempt(self, check: CheckKind, status: CheckStatus, **fields: object) -> None:
        before = self.checks.get(check)
        attempts = (before.attempts if before else 0) + (0 if status is CheckStatus.PENDING else 1)
        reference = fields.pop("reference", before.reference if before else None)
        self.checks[check] = CheckState(status=status, attempts=attempts, reference=reference, **fields)

    def failed_reference(self, check: CheckKind) -> tuple[str, str | None]:
        """The source and reference of a failed check, to retry it; Conflict when it is not failed."""
        state = self.checks.get(check)
        if state is None or state.status is not CheckStatus.FAILED:
            shown = state.status.value if state else "not run"
            raise Conflict(f"the {check.value} check is {shown}; only a failed check is retried", check=check.value)
        return state.source or "", state.reference

    def consent(self, check: CheckKind) -> tuple[str, str]:
        """The source and consent id of a check waiting for the borrower's consent (or whose fetch failed: the
        consent still stands); Conflict otherwise."""
        state = self.checks.get(check)
        waiting = state is not None and state.status in (CheckStatus.PENDING, CheckStatus.FAILED)
        if state is None or not waiting or not state.reference or state.source not in CONSENT_SOURCES:
            raise Conflict(f"no {check.value} consent is waiting; start one first", check=check.value)
        return state.source or "", state.reference

    @event(PanChecked)
    def pan_checked(
        self,
        status: CheckStatus,
        pan: str,
        valid: bool,
        name_on_pan: str | None,
        name_score: int,
        dob_match: bool | None,
        aadhaar_linked: bool,
        fraud_flag: bool,
        reason: str | None,
    ) -> None:
        """Record the PAN registry's answer."""
        self._attempt(CheckKind.PAN, status, reason=reason, source="pan")

    @event(ConsentStarted)
    def consent_started(self, check: CheckKind, source: str, consent_id: str, redirect_url: str) -> None:
        """Record that the borrower was sent to consent."""
        self._attempt(check, CheckStatus.PENDING, reference=consent_id, source=source)
        self.redirect_urls = {**getattr(self, "redirect_urls", {}), check: redirect_url}

    @event(AadhaarChecked)
    def aadhaar_checked(
        self,
        status: CheckStatus,
        source: str,
        name: str,
        name_score: int,
        date_of_birth: date | None,
        dob_match: bool | None,
        address: str,
        masked_aadhaar: str,
        photo_document_id: UUID | None,
        reason: str | None,
    ) -> None:
        """Record DigiLocker's Aadhaar details."""
        self._attempt(CheckKind.AADHAAR, status, reason=reason, source=source)
        self.aadhaar = {
            "name": name, "date_of_birth": date_of_birth.isoformat() if date_of_birth else None,
            "address": address, "masked_aadhaar": masked_aadhaar, "name_score": name_score,
            "photo_document_id": str(photo_document_id) if photo_document_id else None,
        }  # fmt: skip

    @event(BureauPulled)
    def bureau_pulled(
        self, score: int | None, tradelines: list[TradelineRecord], existing_emis: Decimal, max_dpd: int
    ) -> None:
        """Record the bureau report."""
        self._attempt(CheckKind.BUREAU, CheckStatus.VERIFIED, source="bureau")
        self.credit_score = score

    @event(StatementAnalysed)
    def statement_analysed(
        self,
        source: str,
        document_id: UUID | None,
        salary_credits: list[SalaryCreditRecord],
        monthly_salary: Decimal | None,
        existing_emis: Decimal,
        average_balance: Decimal,
        bounces: int,
    ) -> None:
        """Record the statement data."""
        reference = str(document_id) if document_id else None
        self._attempt(CheckKind.STATEMENT, CheckStatus.VERIFIED, source=source, reference=reference)
        self.monthly_salary = monthly_salary
        self.statement = {
            "source": source, "monthly_salary": str(monthly_salary) if monthly_salary is not None else None,
            "salary_credits": len(salary_credits), "existing_emis": str(existing_emis),
            "average_balance": str(average_balance), "bounces": bounces,
        }  # fmt: skip

    @event(CheckFailed)
    def check_failed(self, check: CheckKind, source: str, reason: str, reference: str | None) -> None:
        """Record that the provider could not answer."""
        self._attempt(check, CheckStatus.FAILED, reason=reason, source=source, reference=reference)
