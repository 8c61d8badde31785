"""Use cases of the verification context: PAN, Aadhaar (DigiLocker), penny drop, bureau pull, statement analysis
(BSA or the Account Aggregator), each recording its result - or, when the provider cannot answer, a failed check
that `retry` runs again with what it was run with. Nothing the borrower gave is lost."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol, TypeVar
from uuid import UUID

import structlog

from domain.providers.calls import Caller, name_match_score
from domain.providers.errors import ProviderRejected, ProviderUnavailable
from domain.providers.kyc import StatementAnalysis
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, FieldChecks, FieldError, InvalidInput, InvalidValue
from domain.shared.values import MIN_REASON, clean_text, normalise_name
from domain.verification.account import BankAccount, BankAccountBeingChecked, BankAccountNotFound, account_id
from domain.verification.profile import KycProfile, KycProfileNotFound, profile_id
from domain.verification.providers import Applicant, KycProviders
from domain.verification.records import SalaryCreditRecord, TradelineRecord
from domain.verification.values import (
    NAME_MATCH_MIN,
    CheckKind,
    CheckStatus,
    mask_aadhaar,
    normalise_account_number,
    normalise_ifsc,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")


class ProviderChoice(Protocol):
    """The providers a brand uses (its `providers` setting picks a vendor per service)."""

    def for_brand(self, brand_id: UUID) -> KycProviders: ...


#: How long a request adding (or retrying) a bank account waits for another of the same account to finish its penny
#: drop and record it: the provider's timeout with its retries (3 attempts of 5 s, PROVIDER_TIMEOUT_SECONDS).
PENNY_DROP_WAIT_SECONDS = 20.0
#: How often a check's answer is saved in all while other checks keep being saved on the borrower's profile first.
PROFILE_ATTEMPTS = 3


class PennyDropHolds(Protocol):
    """A borrower's account checked by one request at a time, across processes: each holds the account from the
    check that it is not recorded yet until its penny drop is recorded. The provider is paid (₹1) before the record
    is saved, so without the hold the same account added twice at once paid for two penny drops, one recorded."""

    def holding(self, brand_id: UUID, bank_account_id: UUID) -> AbstractContextManager[None]:
        """Hold the account; BankAccountBeingChecked when it is not had within PENNY_DROP_WAIT_SECONDS."""
        ...


@dataclass
class LocalPennyDropHolds:
    """`PennyDropHolds` within one process (striped thread locks): the default where nothing else is wired, as the
    unit tests' in-memory store; a platform of several processes wires holds shared through its database."""

    _stripes: list[threading.Lock] = field(default_factory=lambda: [threading.Lock() for _ in range(64)])

    @contextmanager
    def holding(self, brand_id: UUID, bank_account_id: UUID) -> Iterator[None]:
        lock = self._stripes[zlib.crc32(f"{brand_id}:{bank_account_id}".encode()) % len(self._stripes)]
        if not lock.acquire(timeout=PENNY_DROP_WAIT_SECONDS):
            raise being_checked()
        try:
            yield
        finally:
            lock.release()


def being_checked() -> BankAccountBeingChecked:
    """The 409 of a request that waited too long for another's penny drop of the same account."""
    return BankAccountBeingChecked("this account is being verified by another request; try again shortly")


class Applicants(Protocol):
    """The borrower as the customers context has them (CustomerNotFound, a 404, for another brand's)."""

    def applicant(self, brand_id: UUID, customer_id: UUID) -> Applicant: ...


class DocumentVault(Protocol):
    """What the verification context needs of the documents context."""

    def statement(self, brand_id: UUID, customer_id: UUID, document_id: UUID) -> tuple[str, bytes]:
        """The content type and bytes of the borrower's statement document (a 422 naming `document_id` when it
        is not one of theirs)."""
        ...

    def store_photo(self, brand_id: UUID, customer_id: UUID, photo: bytes) -> UUID | None:
        """Store the Aadhaar photo DigiLocker returned as the borrower's document; its id (None if refused)."""
        ...


class BrandSwitches(Protocol):
    """The brand settings the use cases follow."""

    def account_aggregation(self, brand_id: UUID) -> bool: ...

    def statement_months(self, brand_id: UUID) -> int: ...


def monthly_salary(credits: list[SalaryCreditRecord]) -> Decimal | None:
    """The average of the monthly salary credits (credits of one month added), None without any."""
    by_month: dict[str, Decimal] = {}
    for credit in credits:
        by_month[credit.month] = by_month.get(credit.month, Decimal(0)) + credit.amount
    if not by_month:
        return None
    return (sum(by_month.values(), Decimal(0)) / len(by_month)).quantize(Decimal("0.01"))


def _reason(reasons: list[str]) -> str | None:
    return "; ".join(reasons) if reasons else None


def _identity(applicant: Applicant) -> tuple[str, date]:
    """The PAN and date of birth a PAN check or a bureau pull needs; a 422 naming each one missing."""
    errors = []
    if not applicant.pan:
        errors.append(FieldError("pan", "the borrower has no PAN on record; add it to their details first"))
    if applicant.date_of_birth is None:
        errors.append(FieldError("date_of_birth", "the borrower has no date of birth on record; add it first"))
    if errors:
        raise InvalidInput(errors)
    assert applicant.pan is not None and applicant.date_of_birth is not None
    return applicant.pan, applicant.date_of_birth


class Verifications(ContextApplication):
    """KYC and bank verification of borrowers through the providers."""

    name = "verification"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock | None = None,
        *,
        providers: ProviderChoice,
        applicants: Applicants,
        vault: DocumentVault,
        switches: BrandSwitches,
        return_url: str = "http://127.0.0.1:8000/",
        penny_drop_holds: PennyDropHolds | None = None,
    ) -> None:
        super().__init__(env, clock)
        self.penny_drop_holds: PennyDropHolds = penny_drop_holds or LocalPennyDropHolds()
        self.providers = providers
        self.applicants = applicants
        self.vault = vault
        self.switches = switches
        self.return_url = return_url  # where a borrower comes back to after consenting at a provider

    # Bank accounts ---------------------------------------------------------------------------------------------

    def add_bank_account(
        self, brand_id: UUID, customer_id: UUID, account_number: str, ifsc: str, holder_name: str
    ) -> CommandResult:
        """Record a borrower's account and verify it by a penny drop (a provider failure is recorded as failed)."""
        checks = FieldChecks()
        number = checks.check(lambda: normalise_account_number(account_number))
        code = checks.check(lambda: normalise_ifsc(ifsc))
        holder = checks.check(lambda: normalise_name(holder_name, "holder_name"))
        checks.raise_if_any()
        assert number is not None and code is not None and holder is not None
        self.applicants.applicant(brand_id, customer_id)
        new_id = account_id(brand_id, customer_id, number, code)
        # One request of the account at a time from the check to the record (`PennyDropHolds`): the same account
        # added at the same moment waits for the first one's penny drop to be recorded and then finds it (409).
        with self.penny_drop_holds.holding(brand_id, new_id):
            if self.find(new_id) is not None:
                raise Conflict("this account was already added for the borrower", existing_id=str(new_id))
            account = with_id(
                BankAccount, new_id, brand_id=brand_id, customer_id=customer_id, account_number=number, ifsc=code,
                holder_name=holder,
            )  # fmt: skip
            self._penny_drop(account)
            return self.commit(account)

    def retry_penny_drop(self, brand_id: UUID, bank_account_id: UUID) -> CommandResult:
        """Run a failed penny drop again (held as `add_bank_account` holds it: a retry at the same moment finds the
        account no longer failed, 409)."""
        self.bank_account(brand_id, bank_account_id)  # another brand's id: 404 before any hold
        with self.penny_drop_holds.holding(brand_id, bank_account_id):
            account = self.bank_account(brand_id, bank_account_id)
            account.require_failed()
            self._penny_drop(account)
            return self.commit(account)

    def verify_bank_account_manually(
        self, brand_id: UUID, bank_account_id: UUID, document_id: UUID, note: str
    ) -> CommandResult:
        """Verify an account by staff review of the borrower's statement or passbook (the spec's manual method)."""
        account = self.bank_account(brand_id, bank_account_id)
        why = clean_text(
            note, "note", multiline=True, min_visible=MIN_REASON, missing="say what was checked (3+ characters)"
        )
        self.vault.statement(brand_id, account.customer_id, document_id)  # the borrower's statement or passbook
        account.verify_manually(document_id, " ".join(why.split())[:500])
        return self.commit(account)

    @staticmethod
    def bank_account_id(brand_id: UUID, customer_id: UUID, account_number: str, ifsc: str) -> UUID:
        """The id of the borrower's account with this number and IFSC (as typed: spaces, dashes and case aside), the
        one `add_bank_account` gives it, added or not; 422 naming a malformed number or IFSC."""
        checks = FieldChecks()
        number = checks.check(lambda: normalise_account_number(account_number))
        code = checks.check(lambda: normalise_ifsc(ifsc))
        checks.raise_if_any()
        assert number is not None and code is not None
        return account_id(brand_id, customer_id, number, code)

    def bank_account(self, brand_id: UUID, bank_account_id: UUID) -> BankAccount:
        """A bank account of the brand."""
        return self.load(BankAccount, bank_account_id, brand_id, BankAccountNotFound)

    def _penny_drop(self, account: BankAccount) -> None:
        caller = Caller(account.brand_id, account.customer_id)
        try:
            answer = self.providers.for_brand(account.brand_id).penny_drop.verify(
                account.account_number, account.ifsc, account.holder_name, caller=caller
            )
        except ProviderUnavailable as exc:
            log.warning("verification.provider_failed", check="penny_drop", error=exc.message)
            account.penny_drop_failed(reason=exc.message)
            return
        except ProviderRejected as exc:
            account.penny_dropped(
                status=CheckStatus.NOT_VERIFIED, credited=False, bank_holder_name=None, name_score=0,
                reference="", reason=f"the bank refused the transfer: {exc.message}",
            )  # fmt: skip
            return
        credited = answer.verified and answer.account_holder is not None
        score = name_match_score(account.holder_name, answer.account_holder) if credited else 0
        reasons = []
        if not credited:
            reasons.append(f"₹1 was not credited: {(answer.failure or 'no reason given').replace('_', ' ')}")
        elif score < NAME_MATCH_MIN:
            reasons.append(f"the bank's holder name '{answer.account_holder}' does not match (score {score})")
        account.penny_dropped(
            status=CheckStatus.NOT_VERIFIED if reasons else CheckStatus.VERIFIED,
            credited=credited,
            bank_holder_name=answer.account_holder,
            name_score=score,
            reference=answer.reference,
            reason=_reason(reasons),
        )

    # The KYC profile -------------------------------------------------------------------------------------------

    def profile(self, brand_id: UUID, customer_id: UUID) -> KycProfile:
        """The borrower's KYC profile (KycProfileNotFound before any check)."""
        return self.load(KycProfile, profile_id(brand_id, customer_id), brand_id, KycProfileNotFound)

    def _open(self, brand_id: UUID, customer_id: UUID) -> tuple[KycProfile, Applicant]:
        applicant = self.applicants.applicant(brand_id, customer_id)
        found = self.find(profile_id(brand_id, customer_id))
        if isinstance(found, KycProfile):
            return found, applicant
        profile = with_id(KycProfile, profile_id(brand_id, customer_id), brand_id=brand_id, customer_id=customer_id)
        return profile, applicant

    def _commit_profile(self, profile: KycProfile) -> CommandResult:
        """Save what the profile's check recorded. Another check saved on the borrower's profile first (two checks
        at the same moment, a borrower's step and staff) is no refusal: the provider's answer - asked, and paid for -
        is recorded again on the profile as it now is (PROFILE_ATTEMPTS in all; the last conflict is the 409). It
        was lost: a 409 to staff, and a check the onboarding flow started logged as not run."""
        facts = list(profile.pending_events)
        for _ in range(PROFILE_ATTEMPTS - 1):
            try:
                return self.commit(profile)
            except ConcurrentModification:
                now = self.find(profile.id)
                if not isinstance(now, KycProfile):
                    raise
                now.record_again(facts)
                profile = now
        return self.commit(profile)

    def _call(
        self, profile: KycProfile, check: CheckKind, source: str, call: Callable[[], T], reference: str | None = None
    ) -> T | None:
        """The provider's answer, or None after recording the check as failed (the provider could not answer).
        A provider that refuses the request itself is a 422 and records nothing: the same request would fail again."""
        try:
            return call()
        except ProviderUnavailable as exc:
            log.warning("verification.provider_failed", check=check.value, source=source, error=exc.message)
            profile.check_failed(check=check, source=source, reason=exc.message, reference=reference)
            return None
        except ProviderRejected as exc:
            raise InvalidValue(check.value, f"the {source} provider refused the request: {exc.message}") from None

    def verify_pan(self, brand_id: UUID, customer_id: UUID) -> CommandResult:
        """Verify the borrower's PAN: valid, name and date of birth match, Aadhaar linkage, not flagged for fraud."""
        profile, applicant = self._open(brand_id, customer_id)
        pan, dob = _identity(applicant)
        caller = Caller(brand_id, customer_id)
        answer = self._call(
            profile,
            CheckKind.PAN,
            "pan",
            lambda: self.providers.for_brand(brand_id).pan.verify(pan, applicant.name, dob, caller=caller),
        )
        if answer is not None:
            score = name_match_score(applicant.name, answer.name_on_pan) if answer.valid else 0
            reasons = []
            if not answer.valid:
                reasons.append("the PAN is not valid")
            elif score < NAME_MATCH_MIN:
                reasons.append(f"the name on the PAN '{answer.name_on_pan}' does not match (score {score})")
            if answer.dob_match is False:
                reasons.append("the date of birth does not match")
            if answer.fraud_flag:
                reasons.append("the PAN is flagged for fraud")
            profile.pan_checked(
                status=CheckStatus.NOT_VERIFIED if reasons else CheckStatus.VERIFIED,
                pan=pan,
                valid=answer.valid,
                name_on_pan=answer.name_on_pan,
                name_score=score,
                dob_match=answer.dob_match,
                aadhaar_linked=answer.aadhaar_linked,
                fraud_flag=answer.fraud_flag,
                reason=_reason(reasons),
            )
        return self._commit_profile(profile)

    def pull_bureau(self, brand_id: UUID, customer_id: UUID) -> CommandResult:
        """Pull the borrower's credit report: score (None: no credit history), active tradelines, worst DPD."""
        profile, applicant = self._open(brand_id, customer_id)
        pan, dob = _identity(applicant)
        caller = Caller(brand_id, customer_id)
        answer = self._call(
            profile,
            CheckKind.BUREAU,
            "bureau",
            lambda: self.providers.for_brand(brand_id).bureau.pull(
                pan, applicant.name, dob, applicant.phone, caller=caller
            ),
        )
        if answer is not None:
            lines = [
                TradelineRecord(
                    lender=t.lender, kind=t.kind, sanctioned=t.sanctioned_amount, outstanding=t.outstanding,
                    emi=t.emi, max_dpd=t.max_dpd,
                )
                for t in answer.tradelines
            ]  # fmt: skip
            profile.bureau_pulled(
                score=None if answer.no_history else answer.score,
                tradelines=lines,
                existing_emis=sum((t.emi for t in lines), Decimal("0.00")),
                max_dpd=max((t.max_dpd for t in lines), default=0),
            )
        return self._commit_profile(profile)

    # Statements ------------------------------------------------------------------------------------------------

    def analyse_statement(self, brand_id: UUID, customer_id: UUID, document_id: UUID) -> CommandResult:
        """Analyse an uploaded bank statement (BSA): salary credits, existing EMIs, average balance."""
        profile, _ = self._open(brand_id, customer_id)
        _, data = self.vault.statement(brand_id, customer_id, document_id)
        caller = Caller(brand_id, customer_id)
        answer = self._call(
            profile,
            CheckKind.STATEMENT,
            "bsa",
            lambda: self.providers.for_brand(brand_id).bsa.analyse(data, caller=caller),
            reference=str(document_id),
        )
        if answer is not None:
            self._statement(profile, "bsa", answer, document_id)
        return self._commit_profile(profile)

    def start_account_aggregator(
        self, brand_id: UUID, customer_id: UUID, return_to: str | None = None
    ) -> CommandResult:
        """Ask the borrower's consent at the Account Aggregator (when the brand's `account_aggregation` is on);
        the borrower comes back to `return_to` (default `KYC_RETURN_URL`)."""
        if not self.switches.account_aggregation(brand_id):
            raise Conflict("the brand does not use the Account Aggregator (setting account_aggregation)")
        profile, applicant = self._open(brand_id, customer_id)
        months = self.switches.statement_months(brand_id)
        caller = Caller(brand_id, customer_id)
        consent = self._call(
            profile,
            CheckKind.STATEMENT,
            "aa",
            lambda: self.providers.for_brand(brand_id).aa.request_consent(
                applicant.phone, months=months, redirect_to=return_to or self.return_url, caller=caller
            ),
        )
        if consent is not None:
            profile.consent_started(
                check=CheckKind.STATEMENT, source="aa", consent_id=consent.handle, redirect_url=consent.redirect_url
            )
        return self._commit_profile(profile)

    def complete_account_aggregator(self, brand_id: UUID, customer_id: UUID) -> CommandResult:
        """Fetch the statement data the borrower consented to."""
        profile, _ = self._open(brand_id, customer_id)
        _, consent_id = profile.consent(CheckKind.STATEMENT)
        self._fetch_aa(profile, consent_id)
        return self._commit_profile(profile)

    def _fetch_aa(self, profile: KycProfile, consent_id: str) -> None:
        caller = Caller(profile.brand_id, profile.customer_id)
        answer = self._call(
            profile,
            CheckKind.STATEMENT,
            "aa",
            lambda: self.providers.for_brand(profile.brand_id).aa.fetch(consent_id, caller=caller),
            consent_id,
        )
        if answer is not None:
            self._statement(profile, "aa", answer, None)

    @staticmethod
    def _statement(profile: KycProfile, source: str, answer: StatementAnalysis, document_id: UUID | None) -> None:
        credits = [
            SalaryCreditRecord(month=c.month, amount=c.amount, employer=c.employer) for c in answer.salary_credits
        ]
        profile.statement_analysed(
            source=source,
            document_id=document_id,
            salary_credits=credits,
            monthly_salary=monthly_salary(credits),
            existing_emis=answer.total_emi,
            average_balance=answer.average_balance,
            bounces=answer.bounces,
        )

    # Aadhaar ---------------------------------------------------------------------------------------------------

    def start_aadhaar(self, brand_id: UUID, customer_id: UUID, return_to: str | None = None) -> CommandResult:
        """Send the borrower to DigiLocker to share their Aadhaar (back to `return_to`, default `KYC_RETURN_URL`)."""
        profile, applicant = self._open(brand_id, customer_id)
        caller = Caller(brand_id, customer_id)
        consent = self._call(
            profile,
            CheckKind.AADHAAR,
            "digilocker",
            lambda: self.providers.for_brand(brand_id).digilocker.start(
                return_to or self.return_url, name=applicant.name, dob=applicant.date_of_birth, caller=caller
            ),
        )
        if consent is not None:
            profile.consent_started(
                check=CheckKind.AADHAAR, source="digilocker", consent_id=consent.consent_id,
                redirect_url=consent.redirect_url,
            )  # fmt: skip
        return self._commit_profile(profile)

    def complete_aadhaar(self, brand_id: UUID, customer_id: UUID) -> CommandResult:
        """Fetch the Aadhaar details the borrower shared through DigiLocker (the photo stored as a document)."""
        profile, applicant = self._open(brand_id, customer_id)
        _, consent_id = profile.consent(CheckKind.AADHAAR)
        self._fetch_aadhaar(profile, applicant, consent_id)
        return self._commit_profile(profile)

    def _fetch_aadhaar(self, profile: KycProfile, applicant: Applicant, consent_id: str) -> None:
        brand_id, customer_id = profile.brand_id, profile.customer_id
        caller = Caller(brand_id, customer_id)
        answer = self._call(
            profile,
            CheckKind.AADHAAR,
            "digilocker",
            lambda: self.providers.for_brand(brand_id).digilocker.fetch(consent_id, caller=caller),
            reference=consent_id,
        )
        if answer is None:
            return
        photo_id = self.vault.store_photo(brand_id, customer_id, answer.photo) if answer.photo else None
        score = name_match_score(applicant.name, answer.name)
        dob_match = applicant.date_of_birth == answer.dob if applicant.date_of_birth else None
        reasons = []
        if score < NAME_MATCH_MIN:
            reasons.append(f"the name on the Aadhaar '{answer.name}' does not match (score {score})")
        if dob_match is False:
            reasons.append("the date of birth does not match")
        profile.aadhaar_checked(
            status=CheckStatus.NOT_VERIFIED if reasons else CheckStatus.VERIFIED,
            source="digilocker",
            name=answer.name,
            name_score=score,
            date_of_birth=answer.dob,
            dob_match=dob_match,
            address=f"{answer.address} {answer.pincode}".strip(),
            masked_aadhaar=mask_aadhaar(answer.masked_aadhaar) or "XXXX XXXX XXXX",
            photo_document_id=photo_id,
            reason=_reason(reasons),
        )

    # Retries ---------------------------------------------------------------------------------------------------

    def retry(self, brand_id: UUID, customer_id: UUID, check: CheckKind) -> CommandResult:
        """Run a failed check again with what it was run with (the statement document, the consent)."""
        profile, applicant = self._open(brand_id, customer_id)
        source, reference = profile.failed_reference(check)
        if check is CheckKind.PAN:
            return self.verify_pan(brand_id, customer_id)
        if check is CheckKind.BUREAU:
            return self.pull_bureau(brand_id, customer_id)
        if check is CheckKind.STATEMENT and source == "bsa" and reference:
            return self.analyse_statement(brand_id, customer_id, UUID(reference))
        if check is CheckKind.STATEMENT and reference:
            self._fetch_aa(profile, reference)
            return self._commit_profile(profile)
        if check is CheckKind.STATEMENT:
            return self.start_account_aggregator(brand_id, customer_id)
        if reference:
            self._fetch_aadhaar(profile, applicant, reference)
            return self._commit_profile(profile)
        return self.start_aadhaar(brand_id, customer_id)
