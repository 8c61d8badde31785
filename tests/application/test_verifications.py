"""Verification use cases with fake providers: results recorded, provider failures a clear retryable state."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.customers.customer import CustomerNotFound
from domain.providers.calls import Caller
from domain.providers.errors import ProviderRejected, ProviderUnavailable
from domain.providers.kyc import (
    AaConsent,
    AadhaarRecord,
    BureauReport,
    DigilockerSession,
    EmiDebit,
    PanVerification,
    PennyDrop,
    SalaryCredit,
    StatementAnalysis,
    Tradeline,
)
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from domain.verification.account import BankAccount
from domain.verification.application import Verifications, monthly_salary
from domain.verification.profile import KycProfile
from domain.verification.providers import Applicant, KycProviders, SameProviders
from domain.verification.records import SalaryCreditRecord
from domain.verification.values import CheckKind, CheckStatus
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000e1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000e2")
ASHA = uuid.UUID("00000000-0000-4000-8000-00000000a5a1")
STATEMENT = uuid.UUID("00000000-0000-4000-8000-0000000005a1")
DOB = date(1990, 4, 12)


def _down(kind: str) -> ProviderUnavailable:
    return ProviderUnavailable("provider answered 503 three times", provider="simulator", kind=kind, status=503)


def _analysis(source: str) -> StatementAnalysis:
    return StatementAnalysis(
        "ST-1", source, "ASHA KULKARNI", "HDFC Bank", date(2026, 6, 1), date(2026, 9, 30),
        (SalaryCredit("2026-08", Decimal("52000"), "Infosys", date(2026, 8, 1)),
         SalaryCredit("2026-09", Decimal("54000"), "Infosys", date(2026, 9, 1))),
        (EmiDebit("HDFC", Decimal("6500.00"), 5), EmiDebit("Bajaj", Decimal("2100.00"), 10)),
        Decimal("31000.50"), 1,
    )  # fmt: skip


@dataclass
class FakeProviders:
    """Answers like the simulators; `down` names the services that fail, `calls` counts calls."""

    down: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    meanwhile: dict[str, Callable[[], object]] = field(default_factory=dict)  # kind -> what happens as it answers
    holder: str = "ASHA KULKARNI"
    pan_answer: PanVerification = field(
        default_factory=lambda: PanVerification(
            "ABCPK1234Q", "valid", "ASHA KULKARNI", 100, True, True, False, "individual"
        )
    )

    def _enter(self, kind: str) -> None:
        self.calls.append(kind)
        if kind in self.down:
            raise _down(kind)
        if (act := self.meanwhile.pop(kind, None)) is not None:
            act()


@dataclass
class Pan:
    fake: FakeProviders

    def verify(self, pan: str, name: str, dob: date, *, caller: Caller) -> PanVerification:
        self.fake._enter("pan")
        return self.fake.pan_answer


@dataclass
class PennyDrops:
    fake: FakeProviders

    def verify(self, account_number: str, ifsc: str, expected_name: str, *, caller: Caller) -> PennyDrop:
        self.fake._enter("penny_drop")
        if account_number.endswith("0000"):
            raise ProviderRejected("not an account", provider="simulator", kind="penny_drop", code="invalid")
        if account_number.endswith("1111"):
            return PennyDrop("PD-2", False, None, None, Decimal("0.00"), "account_closed", "HDFC Bank")
        return PennyDrop("PD-1", True, self.fake.holder, 100, Decimal("1.00"), None, "HDFC Bank")


@dataclass
class Bureau:
    fake: FakeProviders

    def pull(self, pan: str, name: str, dob: date, phone: str, *, caller: Caller) -> BureauReport:
        self.fake._enter("bureau")
        lines = (
            Tradeline("HDFC", "personal_loan", Decimal("200000"), Decimal("80000"), Decimal("6500.00"), 0, DOB),
            Tradeline("Bajaj", "consumer_durable", Decimal("40000"), Decimal("12000"), Decimal("2100.00"), 30, DOB),
        )
        return BureauReport("BR-1", 742, lines, 2)


@dataclass
class Bsa:
    fake: FakeProviders

    def analyse(self, document: bytes, *, caller: Caller) -> StatementAnalysis:
        self.fake._enter("bsa")
        return _analysis("bsa")


@dataclass
class Aa:
    fake: FakeProviders

    def request_consent(self, phone: str, *, months: int, redirect_to: str, caller: Caller) -> AaConsent:
        self.fake._enter("aa")
        return AaConsent("AA-1", "https://aa.example/consent/AA-1", "pending", datetime(2026, 12, 1, tzinfo=UTC))

    def consent(self, handle: str, *, caller: Caller) -> AaConsent:
        return AaConsent(handle, "https://aa.example/consent/AA-1", "approved", datetime(2026, 12, 1, tzinfo=UTC))

    def fetch(self, handle: str, *, caller: Caller) -> StatementAnalysis:
        self.fake._enter("aa_fetch")
        return _analysis("aa")


@dataclass
class Locker:
    fake: FakeProviders

    def start(
        self, redirect_to: str, *, name: str | None = None, dob: date | None = None, caller: Caller
    ) -> DigilockerSession:
        self.fake._enter("digilocker")
        return DigilockerSession("DL-1", "https://digilocker.example/authorize/DL-1", datetime(2026, 12, 1, tzinfo=UTC))

    def fetch(self, consent_id: str, *, caller: Caller) -> AadhaarRecord:
        self.fake._enter("digilocker_fetch")
        return AadhaarRecord(consent_id, "Asha Kulkarni", DOB, "F", "12 MG Road, Pune", "411001", b"\xff\xd8\xffphoto",
                             "XXXX XXXX 1234")  # fmt: skip


class FakeWorld:
    """The borrower, their documents and the brand's switches."""

    def __init__(self) -> None:
        self.pan: str | None = "ABCPK1234Q"
        self.photos: list[bytes] = []
        self.aa = True

    def applicant(self, brand_id: uuid.UUID, customer_id: uuid.UUID) -> Applicant:
        if (brand_id, customer_id) != (BRAND, ASHA):
            raise CustomerNotFound("no such borrower")
        return Applicant(ASHA, "Asha Kulkarni", "+919876543210", self.pan, DOB)

    def statement(self, brand_id: uuid.UUID, customer_id: uuid.UUID, document_id: uuid.UUID) -> tuple[str, bytes]:
        if document_id != STATEMENT:
            from domain.shared.errors import InvalidValue

            raise InvalidValue("document_id", "not a bank statement of the borrower")
        return "application/pdf", b"%PDF-1.7 statement"

    def store_photo(self, brand_id: uuid.UUID, customer_id: uuid.UUID, photo: bytes) -> uuid.UUID:
        self.photos.append(photo)
        return uuid.UUID(int=len(self.photos))

    def account_aggregation(self, brand_id: uuid.UUID) -> bool:
        return self.aa

    def statement_months(self, brand_id: uuid.UUID) -> int:
        return 3


@pytest.fixture
def fake() -> FakeProviders:
    return FakeProviders()


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


@pytest.fixture
def app(clock: FixedClock, fake: FakeProviders, world: FakeWorld) -> Verifications:
    providers = KycProviders(
        pan=Pan(fake), penny_drop=PennyDrops(fake), bureau=Bureau(fake), bsa=Bsa(fake), aa=Aa(fake),
        digilocker=Locker(fake),
    )  # fmt: skip
    return in_memory(
        Verifications, clock, providers=SameProviders(providers), applicants=world, vault=world, switches=world
    )


def _events(app: Verifications, aggregate_id: uuid.UUID) -> list[Any]:
    return list(app.events.get(aggregate_id))


def test_a_penny_drop_records_the_name_score_and_verifies_a_matching_holder(app: Verifications) -> None:
    result = app.add_bank_account(BRAND, ASHA, "5010 0012 3456 78", "hdfc0001234", "Asha Kulkarni")
    account = app.bank_account(BRAND, result.id)
    assert account.account_number == "50100012345678" and account.ifsc == "HDFC0001234"
    assert account.status is CheckStatus.VERIFIED and account.name_score is not None and account.name_score >= 95
    dropped = _events(app, result.id)[-1]
    assert isinstance(dropped, BankAccount.PennyDropped) and dropped.bank_holder_name == "ASHA KULKARNI"


def test_a_holder_name_that_does_not_match_is_not_verified_with_its_score(
    app: Verifications, fake: FakeProviders
) -> None:
    fake.holder = "RAMESH GUPTA"
    result = app.add_bank_account(BRAND, ASHA, "50100012345678", "HDFC0001234", "Asha Kulkarni")
    dropped = _events(app, result.id)[-1]
    assert dropped.status is CheckStatus.NOT_VERIFIED and dropped.name_score < 80
    assert "does not match" in dropped.reason


def test_a_closed_or_refused_account_is_not_verified_with_the_banks_reason(app: Verifications) -> None:
    result = app.add_bank_account(BRAND, ASHA, "50100012341111", "HDFC0001234", "Asha Kulkarni")
    dropped = _events(app, result.id)[-1]
    assert dropped.status is CheckStatus.NOT_VERIFIED and "account closed" in dropped.reason
    assert not dropped.credited and dropped.name_score == 0
    refused = app.add_bank_account(BRAND, ASHA, "50100012340000", "HDFC0001234", "Asha Kulkarni")
    assert "not an account" in _events(app, refused.id)[-1].reason


def test_a_provider_failure_keeps_the_account_as_failed_and_a_retry_verifies_it(
    app: Verifications, fake: FakeProviders
) -> None:
    fake.down.add("penny_drop")
    result = app.add_bank_account(BRAND, ASHA, "50100012345678", "HDFC0001234", "Asha Kulkarni")
    assert app.bank_account(BRAND, result.id).status is CheckStatus.FAILED
    assert isinstance(_events(app, result.id)[-1], BankAccount.PennyDropFailed)
    fake.down.clear()
    app.retry_penny_drop(BRAND, result.id)
    account = app.bank_account(BRAND, result.id)
    assert account.status is CheckStatus.VERIFIED and account.attempts == 2
    with pytest.raises(Conflict):
        app.retry_penny_drop(BRAND, result.id)  # only a failed one


def test_bad_account_ifsc_and_name_are_refused_together_and_nothing_is_recorded(
    app: Verifications, fake: FakeProviders
) -> None:
    with pytest.raises(InvalidInput) as refused:
        app.add_bank_account(BRAND, ASHA, "12AB", "HDFC1234567", "")
    assert {e.field for e in refused.value.errors} == {"account_number", "ifsc", "holder_name"}
    assert (app.recorder.max_notification_id() or 0) == 0 and fake.calls == []


def test_another_brands_borrower_is_not_found(app: Verifications) -> None:
    with pytest.raises(CustomerNotFound):
        app.add_bank_account(OTHER, ASHA, "50100012345678", "HDFC0001234", "Asha Kulkarni")
    with pytest.raises(CustomerNotFound):
        app.verify_pan(OTHER, ASHA)


def test_pan_verification_records_linkage_and_fraud_and_decides(app: Verifications, fake: FakeProviders) -> None:
    result = app.verify_pan(BRAND, ASHA)
    checked = _events(app, result.id)[-1]
    assert isinstance(checked, KycProfile.PanChecked)
    assert checked.status is CheckStatus.VERIFIED and checked.aadhaar_linked and checked.name_score >= 95
    fake.pan_answer = PanVerification("ABCPK1234Q", "valid", "ASHA KULKARNI", 100, False, False, True, "individual")
    app.verify_pan(BRAND, ASHA)
    checked = _events(app, result.id)[-1]
    assert checked.status is CheckStatus.NOT_VERIFIED
    assert "date of birth" in checked.reason and "fraud" in checked.reason


def test_a_pan_answer_racing_another_check_is_recorded_on_the_profile_as_it_now_is_without_asking_again(
    app: Verifications, fake: FakeProviders
) -> None:
    """Staff pull the bureau report while the borrower's PAN is being verified: the PAN check's save loses the race.
    Its answer, asked and paid for, was lost - a 409 to staff, and a check the onboarding flow started logged as not
    run. Now it is recorded on the profile as it now is, and the provider is not asked again."""
    app.verify_pan(BRAND, ASHA)  # the profile exists: both checks below change it
    fake.calls.clear()
    fake.meanwhile["pan"] = lambda: app.pull_bureau(BRAND, ASHA)
    result = app.verify_pan(BRAND, ASHA)
    assert fake.calls == ["pan", "bureau"]  # each provider asked once
    events = _events(app, result.id)
    assert [type(e).__name__ for e in events][-2:] == ["BureauPulled", "PanChecked"]
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    assert app.profile(BRAND, ASHA).checks[CheckKind.PAN].status is CheckStatus.VERIFIED


def test_a_check_on_a_profile_made_at_the_same_moment_by_another_check_is_recorded_on_that_profile(
    app: Verifications, fake: FakeProviders
) -> None:
    fake.meanwhile["pan"] = lambda: app.pull_bureau(BRAND, ASHA)  # both open a profile that does not exist yet
    result = app.verify_pan(BRAND, ASHA)
    names = [type(e).__name__ for e in _events(app, result.id)]
    assert names.count("Created") + names.count("Opened") <= 1 and names[-2:] == ["BureauPulled", "PanChecked"], names


def test_a_borrower_without_pan_is_a_422_naming_pan(app: Verifications, world: FakeWorld) -> None:
    world.pan = None
    with pytest.raises(InvalidInput) as refused:
        app.verify_pan(BRAND, ASHA)
    assert refused.value.errors[0].field == "pan"
    with pytest.raises(InvalidInput):
        app.pull_bureau(BRAND, ASHA)
    assert (app.recorder.max_notification_id() or 0) == 0


def test_a_failed_bureau_pull_is_retried_and_then_records_emis_and_dpd(app: Verifications, fake: FakeProviders) -> None:
    fake.down.add("bureau")
    result = app.pull_bureau(BRAND, ASHA)
    profile = app.profile(BRAND, ASHA)
    state = profile.state(CheckKind.BUREAU)
    assert state is not None and state.status is CheckStatus.FAILED and "503" in (state.reason or "")
    fake.down.clear()
    app.retry(BRAND, ASHA, CheckKind.BUREAU)
    pulled = _events(app, result.id)[-1]
    assert isinstance(pulled, KycProfile.BureauPulled)
    assert pulled.score == 742 and pulled.existing_emis == Decimal("8600.00") and pulled.max_dpd == 30
    with pytest.raises(Conflict):
        app.retry(BRAND, ASHA, CheckKind.BUREAU)


def test_a_statement_analysis_failure_keeps_the_document_and_the_retry_uses_it(
    app: Verifications, fake: FakeProviders
) -> None:
    fake.down.add("bsa")
    app.analyse_statement(BRAND, ASHA, STATEMENT)
    fake.down.clear()
    result = app.retry(BRAND, ASHA, CheckKind.STATEMENT)
    analysed = _events(app, result.id)[-1]
    assert isinstance(analysed, KycProfile.StatementAnalysed)
    assert analysed.document_id == STATEMENT and analysed.monthly_salary == Decimal("53000.00")
    assert analysed.bounces == 1 and analysed.source == "bsa"


def test_the_account_aggregator_needs_the_brand_switch_then_a_consent(app: Verifications, world: FakeWorld) -> None:
    world.aa = False
    with pytest.raises(Conflict):
        app.start_account_aggregator(BRAND, ASHA)
    world.aa = True
    with pytest.raises(Conflict):
        app.complete_account_aggregator(BRAND, ASHA)  # no consent waiting
    app.analyse_statement(BRAND, ASHA, STATEMENT)
    with pytest.raises(Conflict):
        app.complete_account_aggregator(BRAND, ASHA)  # a BSA result is no consent
    app.start_account_aggregator(BRAND, ASHA)
    state = app.profile(BRAND, ASHA).state(CheckKind.STATEMENT)
    assert state is not None and state.status is CheckStatus.PENDING and state.reference == "AA-1"
    result = app.complete_account_aggregator(BRAND, ASHA)
    analysed = _events(app, result.id)[-1]
    assert analysed.source == "aa" and analysed.monthly_salary == Decimal("53000.00")


@pytest.mark.parametrize("completing_again", [False, True])
def test_digilocker_stores_the_photo_as_a_document_and_masks_the_aadhaar(
    app: Verifications, fake: FakeProviders, world: FakeWorld, completing_again: bool
) -> None:
    app.start_aadhaar(BRAND, ASHA)
    fake.down.add("digilocker_fetch")
    app.complete_aadhaar(BRAND, ASHA)
    state = app.profile(BRAND, ASHA).state(CheckKind.AADHAAR)
    assert state is not None and state.status is CheckStatus.FAILED and state.reference == "DL-1"
    fake.down.clear()
    if completing_again:
        result = app.complete_aadhaar(BRAND, ASHA)  # the consent still stands
    else:
        result = app.retry(BRAND, ASHA, CheckKind.AADHAAR)
    checked = _events(app, result.id)[-1]
    assert isinstance(checked, KycProfile.AadhaarChecked)
    assert checked.status is CheckStatus.VERIFIED and checked.masked_aadhaar == "XXXX XXXX 1234"
    assert checked.address == "12 MG Road, Pune 411001"
    assert checked.photo_document_id == uuid.UUID(int=1) and world.photos == [b"\xff\xd8\xffphoto"]


def test_monthly_salary_adds_credits_of_a_month_and_averages_months() -> None:
    credits = [
        SalaryCreditRecord(month="2026-08", amount=Decimal("50000")),
        SalaryCreditRecord(month="2026-08", amount=Decimal("2000")),
        SalaryCreditRecord(month="2026-09", amount=Decimal("51000")),
    ]
    assert monthly_salary(credits) == Decimal("51500.00")
    assert monthly_salary([]) is None


def test_staff_verify_an_account_manually_against_the_borrowers_statement(
    app: Verifications, fake: FakeProviders
) -> None:
    fake.holder = "RAMESH GUPTA"
    result = app.add_bank_account(BRAND, ASHA, "50100012345678", "HDFC0001234", "Asha Kulkarni")
    with pytest.raises(InvalidInput) as refused:
        app.verify_bank_account_manually(BRAND, result.id, uuid.uuid4(), "passbook checked")
    assert refused.value.errors[0].field == "document_id"  # not the borrower's statement
    with pytest.raises(InvalidInput):
        app.verify_bank_account_manually(BRAND, result.id, STATEMENT, " ")
    app.verify_bank_account_manually(BRAND, result.id, STATEMENT, "name and number match the passbook")
    account = app.bank_account(BRAND, result.id)
    assert account.status is CheckStatus.VERIFIED and account.method == "manual"
    with pytest.raises(Conflict):
        app.verify_bank_account_manually(BRAND, result.id, STATEMENT, "again")
