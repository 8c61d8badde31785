"""The agreement and e-sign use cases (`domain.loans.esign.Agreements`) on the in-memory event store: issue (PDF
stored content-addressed, e-sign request for its hash, SMS, recorded), resend, expiry, the provider's callback
(signed once; repeats, other requests, other documents, late and declined signatures change nothing), the
disbursal queue when the bank account is verified. The real PDF renderer; fakes for the providers and the store."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pypdf
import pytest

from adapters.agreement_pdf import PdfAgreementRenderer, render_agreement
from domain.loans.agreement import AgreementBorrower, sha256_hex
from domain.loans.application import Loans
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.esign import CALLBACK_ATTEMPTS, Agreements, CallbackOutcome, EsignCallback, document_ref
from domain.loans.loan_events import EsignState
from domain.loans.states import LoanStatus
from domain.providers.calls import Caller
from domain.providers.errors import ProviderRejected, ProviderUnavailable
from domain.providers.messaging import EsignRequest, SmsReceipt
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import BORROWER, BRAND, OTHER, PRODUCT, event_names, reassigned_after_loads
from tests.support import document_amounts_as_digits

S = LoanStatus


@dataclass
class Store:
    blobs: dict[str, bytes] = field(default_factory=dict)

    def put(self, sha256: str, data: bytes, content_type: str) -> bool:
        assert hashlib.sha256(data).hexdigest() == sha256 and content_type == "application/pdf"
        fresh = sha256 not in self.blobs
        self.blobs[sha256] = data
        return fresh

    def get(self, sha256: str) -> bytes:
        return self.blobs[sha256]


@dataclass
class Esign:
    clock: FixedClock
    requests: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    def create(self, document_sha256: str, signer_name: str, signer_phone: str, *, reference: str,
               callback_url: str, caller: Caller, expires_in_days: int | None = None) -> EsignRequest:  # fmt: skip
        if self.down:
            raise ProviderUnavailable("e-sign down", provider="esign", kind="create_esign", status=503)
        n = len(self.requests) + 1
        self.requests.append({"sha256": document_sha256, "name": signer_name, "phone": signer_phone,
                              "reference": reference, "callback": callback_url, "days": expires_in_days})  # fmt: skip
        return EsignRequest(f"es-{n}", f"https://esign.example/sign/es-{n}",
                            self.clock.now() + timedelta(days=expires_in_days or 1), "pending")  # fmt: skip


@dataclass
class Sms:
    sent: list[tuple[str, str]] = field(default_factory=list)
    refuse: bool = False

    def send(self, to: str, text: str, sender: str = "LENDER", *, caller: Caller) -> SmsReceipt:
        if self.refuse:
            raise ProviderRejected("DND", provider="sms", kind="send_sms", status=422, code="blocked_number")
        self.sent.append((to, text))
        return SmsReceipt("m-1", to, "queued")


@dataclass
class Channels:
    esign_provider: Esign
    sms_provider: Sms

    def esign(self, brand_id: UUID) -> Esign:
        return self.esign_provider

    def sms(self, brand_id: UUID) -> Sms:
        return self.sms_provider


@dataclass
class AgreementFacts:
    account: str | None = None  # the borrower's newest verified account
    verified: set[str] = field(default_factory=set)  # every verified account of theirs
    days: int = 3

    def lender(self, brand_id: UUID) -> str:
        return "Demo Finance"

    def borrower(self, brand_id: UUID, customer_id: UUID) -> AgreementBorrower:
        return AgreementBorrower("Meera Iyer", "DEMO-C-000001", "ABCPK****L", "+919876501234", "4 Lake Road, Chennai")

    def link_expiry_days(self, brand_id: UUID) -> int:
        return self.days

    def repayment_calendar(self, brand_id: UUID) -> RepaymentCalendar:
        return RepaymentCalendar()

    def disbursal_date(self, brand_id: UUID, sanctioned_at: datetime) -> date:
        return sanctioned_at.date()

    def verified_bank_account(self, brand_id: UUID, customer_id: UUID) -> str | None:
        return self.account

    def bank_account_verified(self, brand_id: UUID, customer_id: UUID, bank_account_ref: str) -> bool:
        return bank_account_ref in self.verified

    def timezone(self, brand_id: UUID) -> str:
        return "Asia/Kolkata"


@pytest.fixture
def esign(clock: FixedClock) -> Esign:
    return Esign(clock)


@pytest.fixture
def sms() -> Sms:
    return Sms()


@pytest.fixture
def facts() -> AgreementFacts:
    return AgreementFacts()


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def desk(loans: Loans, facts: AgreementFacts, esign: Esign, sms: Sms, store: Store, clock: FixedClock) -> Agreements:
    renderer = PdfAgreementRenderer()
    return Agreements(loans, facts, Channels(esign, sms), renderer, store, "https://lender.example/hook", clock)


def sanctioned(loans: Loans) -> UUID:
    created = loans.create(BRAND, BORROWER, PRODUCT, "100000", 12)
    loans.submit(BRAND, created.id)
    loans.cx_approve(BRAND, created.id, "90000", "salary supports 90k")
    loans.sanction(BRAND, created.id, "85000", "FOIR at the limit")
    return created.id


def signed_callback(loans: Loans, loan_id: UUID, event_id: str = "evt-1", **changes: Any) -> EsignCallback:
    loan = loans.get(BRAND, loan_id)
    base: dict[str, Any] = {
        "event_id": event_id,
        "event_type": "esign.signed",
        "request_id": loan.esign_request_id,
        "reference": str(loan_id),
        "document_sha256": loan.agreement_sha256,  # type: ignore[attr-defined]
        "signed_at": datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    }
    return EsignCallback(**{**base, **changes})


def test_issuing_stores_the_pdf_opens_a_request_for_its_hash_and_texts_the_link(
    desk: Agreements, loans: Loans, store: Store, esign: Esign, sms: Sms, clock: FixedClock
) -> None:
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    loan = loans.get(BRAND, loan_id)
    [sha256] = store.blobs
    assert loan.agreement_sha256 == sha256 and loan.agreement_ref == f"sha256:{sha256}"  # type: ignore[attr-defined]
    assert loan.esign_state is EsignState.SENT and loan.esign_request_id == "es-1"
    assert loan.esign_link == "https://esign.example/sign/es-1"  # type: ignore[attr-defined]
    assert loan.esign_expires_at == clock.now() + timedelta(days=3)
    assert loan.status is S.SM_APPROVED
    assert esign.requests == [{"sha256": sha256, "name": "Meera Iyer", "phone": "+919876501234",
                               "reference": str(loan_id), "callback": "https://lender.example/hook", "days": 3}]  # fmt: skip
    [(to, text)] = sms.sent
    assert to == "+919876501234" and "https://esign.example/sign/es-1" in text and loan.loan_number in text
    assert "by 03 Dec 2026 15:30 IST" in text  # 10:00 UTC + 3 days, in the brand's timezone
    pdf = document_amounts_as_digits(
        "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(store.blobs[sha256])).pages)
    )
    assert "Amount sanctioned (principal) 85000.00" in pdf and "Amount recommended 90000.00" in pdf
    assert "Amount requested 100000.00" in pdf
    assert "Net amount disbursed 82494.00" in pdf  # 85000 - fee 1700 - its GST 306 - 500 (GST inside it)
    assert desk.render(BRAND, loan_id) == store.blobs[sha256]  # the events render the same bytes again


def test_resending_keeps_the_document_and_sends_a_fresh_link(
    desk: Agreements, loans: Loans, store: Store, esign: Esign, sms: Sms, clock: FixedClock
) -> None:
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    clock.instant += timedelta(days=4)
    desk.expire(BRAND, loan_id)
    assert loans.get(BRAND, loan_id).esign_state is EsignState.EXPIRED
    desk.issue(BRAND, loan_id)
    loan = loans.get(BRAND, loan_id)
    assert loan.esign_state is EsignState.SENT and loan.esign_request_id == "es-2"
    assert len(store.blobs) == 1 and esign.requests[0]["sha256"] == esign.requests[1]["sha256"]
    assert len(sms.sent) == 2 and "es-2" in sms.sent[1][1]
    assert event_names(loans, loan_id)[-3:] == ["AgreementIssued", "EsignExpired", "AgreementIssued"]


def test_a_link_expires_only_after_its_expiry(desk: Agreements, loans: Loans, clock: FixedClock) -> None:
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    clock.instant += timedelta(days=3) - timedelta(seconds=1)
    assert desk.expire(BRAND, loan_id) is None
    clock.instant += timedelta(seconds=1)
    assert desk.expire(BRAND, loan_id) is not None
    assert desk.expire(BRAND, loan_id) is None  # once
    assert event_names(loans, loan_id).count("EsignExpired") == 1


def test_nothing_is_issued_before_sanction_or_when_the_provider_is_down(
    desk: Agreements, loans: Loans, esign: Esign, sms: Sms
) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "100000", 12)
    with pytest.raises(Conflict):
        desk.issue(BRAND, created.id)
    loans.cancel(BRAND, created.id, "test: make room for the next one")
    loan_id = sanctioned(loans)
    before = event_names(loans, loan_id)
    esign.down = True
    with pytest.raises(ProviderUnavailable):
        desk.issue(BRAND, loan_id)
    assert event_names(loans, loan_id) == before and sms.sent == []


def test_an_sms_refused_does_not_stop_the_link(desk: Agreements, loans: Loans, sms: Sms) -> None:
    sms.refuse = True
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    assert loans.get(BRAND, loan_id).esign_state is EsignState.SENT


def test_another_brands_loan_is_not_found(desk: Agreements, loans: Loans) -> None:
    loan_id = sanctioned(loans)
    with pytest.raises(Exception) as refused:
        desk.issue(OTHER, loan_id)
    assert type(refused.value).__name__ == "LoanNotFound"


def test_the_signed_callback_approves_then_queues_when_the_account_is_verified(
    desk: Agreements, loans: Loans, facts: AgreementFacts
) -> None:
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    first = desk.receive(signed_callback(loans, loan_id))
    assert first.outcome is CallbackOutcome.RECORDED and first.loan_id == loan_id
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.APPROVED and loan.signed_reference == "es-1"
    assert loan.signed_at == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    again = desk.receive(signed_callback(loans, loan_id, event_id="evt-2"))
    assert again.outcome is CallbackOutcome.DUPLICATE
    assert event_names(loans, loan_id).count("Signed") == 1
    assert desk.queue_if_ready(BRAND, loan_id) is None  # no verified account yet
    facts.account = "acct-9"
    assert desk.queue_if_ready(BRAND, loan_id) is not None
    assert loans.get(BRAND, loan_id).status is S.AWAITING_DISBURSAL
    assert desk.queue_if_ready(BRAND, loan_id) is None


def test_a_signature_with_a_verified_account_goes_straight_to_the_queue(
    desk: Agreements, loans: Loans, facts: AgreementFacts
) -> None:
    facts.account = "acct-1"
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    assert desk.receive(signed_callback(loans, loan_id)).outcome is CallbackOutcome.RECORDED
    assert event_names(loans, loan_id)[-2:] == ["Signed", "DisbursalQueued"]
    assert loans.get(BRAND, loan_id).status is S.AWAITING_DISBURSAL


def issued_with_callback(desk: Agreements, loans: Loans) -> tuple[UUID, EsignCallback]:
    """A sanctioned loan with its agreement issued, and the provider's callback of its signature."""
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    return loan_id, signed_callback(loans, loan_id)


def test_a_signature_racing_another_change_on_the_loan_is_recorded_on_the_loan_as_it_now_is(
    desk: Agreements, loans: Loans, monkeypatch: pytest.MonkeyPatch
) -> None:
    loan_id, callback = issued_with_callback(desk, loans)
    reassigned = reassigned_after_loads(loans, monkeypatch, times=1)
    result = desk.receive(callback)  # was IGNORED "not signed: the record was changed by another request": lost
    assert result.outcome is CallbackOutcome.RECORDED, result.detail
    loan = loans.get(BRAND, loan_id)
    assert (loan.status, loan.signed_reference, loan.assignee) == (S.APPROVED, "es-1", reassigned[0])
    assert event_names(loans, loan_id)[-2:] == ["Assigned", "Signed"]


def test_a_signature_losing_every_race_is_a_conflict_to_deliver_again_not_an_ignored_callback(
    desk: Agreements, loans: Loans, monkeypatch: pytest.MonkeyPatch
) -> None:
    loan_id, callback = issued_with_callback(desk, loans)
    reassigned = reassigned_after_loads(loans, monkeypatch, times=CALLBACK_ATTEMPTS)
    with pytest.raises(ConcurrentModification):  # the webhook's 409: the provider delivers it again
        desk.receive(callback)
    assert len(reassigned) == CALLBACK_ATTEMPTS and "Signed" not in event_names(loans, loan_id)
    assert desk.receive(callback).outcome is CallbackOutcome.RECORDED  # the redelivery (no race left) signs it
    assert loans.get(BRAND, loan_id).status is S.APPROVED


def test_queueing_a_signed_loan_racing_another_change_queues_it_on_the_loan_as_it_now_is(
    desk: Agreements, loans: Loans, facts: AgreementFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    assert desk.receive(signed_callback(loans, loan_id)).outcome is CallbackOutcome.RECORDED  # no account yet
    facts.account = "acct-1"
    reassigned_after_loads(loans, monkeypatch, times=2)  # its look at the loan, and the load the queueing saves on
    assert desk.queue_if_ready(BRAND, loan_id) is not None  # was None: left for the worker's next look
    assert loans.get(BRAND, loan_id).status is S.AWAITING_DISBURSAL
    assert event_names(loans, loan_id)[-3:] == ["Assigned", "Assigned", "DisbursalQueued"]


def test_a_signature_whose_queueing_keeps_losing_races_is_recorded_and_left_for_the_worker_to_queue(
    desk: Agreements, loans: Loans, facts: AgreementFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts.account = "acct-1"
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    callback = signed_callback(loans, loan_id)
    # The sign's load is left alone; each of the queueing's tries (a look, then the load it saves on) is raced.
    reassigned = reassigned_after_loads(loans, monkeypatch, times=2 * CALLBACK_ATTEMPTS, after=1)
    result = desk.receive(callback)  # was `duplicate` "already signed": the whole callback taken again after signing
    assert (result.outcome, result.detail) == (CallbackOutcome.RECORDED, "signed; waiting for a verified bank account")
    assert len(reassigned) == 2 * CALLBACK_ATTEMPTS and loans.get(BRAND, loan_id).status is S.APPROVED
    assert desk.queue_if_ready(BRAND, loan_id) is not None  # the worker's next look queues it
    assert loans.get(BRAND, loan_id).status is S.AWAITING_DISBURSAL


@pytest.mark.parametrize(
    "changes",
    [
        {"request_id": "es-999"},
        {"document_sha256": "0" * 64},
        {"reference": "00000000-0000-4000-8000-000000000000"},
        {"reference": "not-a-loan"},
        {"event_type": "esign.declined"},
        {"signed_at": datetime(2026, 12, 9, tzinfo=UTC)},  # after the link's expiry
    ],
)
def test_callbacks_that_do_not_fit_change_nothing(desk: Agreements, loans: Loans, changes: dict[str, Any]) -> None:
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    before = event_names(loans, loan_id)
    result = desk.receive(signed_callback(loans, loan_id, **changes))
    assert result.outcome is CallbackOutcome.IGNORED and result.detail
    assert event_names(loans, loan_id) == before and loans.get(BRAND, loan_id).status is S.SM_APPROVED


def test_a_signature_dated_before_its_link_was_sent_is_refused_and_records_nothing(
    desk: Agreements, loans: Loans, clock: FixedClock
) -> None:
    """A signature cannot precede its document: signed_at earlier than the live request was opened (the first
    link's, or after a resend the fresh link's) is bad input naming `signed_at`, not a signature."""
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    sent = clock.now()
    before = event_names(loans, loan_id)
    with pytest.raises(InvalidInput) as refused:
        desk.receive(signed_callback(loans, loan_id, signed_at=sent - timedelta(seconds=1)))
    assert [e.field for e in refused.value.errors] == ["signed_at"] and sent.isoformat() in str(refused.value)
    clock.instant += timedelta(days=4)
    desk.expire(BRAND, loan_id)
    desk.issue(BRAND, loan_id)  # es-2, sent four days later
    before = event_names(loans, loan_id)
    with pytest.raises(InvalidInput):  # after the first link was sent, before the live one was
        desk.receive(signed_callback(loans, loan_id, signed_at=sent + timedelta(days=1)))
    assert event_names(loans, loan_id) == before and loans.get(BRAND, loan_id).status is S.SM_APPROVED
    signed = desk.receive(signed_callback(loans, loan_id, signed_at=clock.now()))  # the instant it was sent
    assert signed.outcome is CallbackOutcome.RECORDED and loans.get(BRAND, loan_id).signed_at == clock.now()


def test_a_signature_on_an_expired_link_is_ignored_and_the_old_request_after_a_resend_too(
    desk: Agreements, loans: Loans, clock: FixedClock
) -> None:
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    old = signed_callback(loans, loan_id, signed_at=clock.now())
    clock.instant += timedelta(days=5)
    desk.expire(BRAND, loan_id)
    assert desk.receive(old).outcome is CallbackOutcome.IGNORED
    desk.issue(BRAND, loan_id)
    assert desk.receive(old).outcome is CallbackOutcome.IGNORED  # es-1 is no longer the live request
    fresh = desk.receive(signed_callback(loans, loan_id, signed_at=clock.now()))
    assert fresh.outcome is CallbackOutcome.RECORDED
    assert loans.get(BRAND, loan_id).signed_reference == "es-2"


def test_the_stored_document_is_checked_against_its_hash(desk: Agreements, loans: Loans, store: Store) -> None:
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    stored = desk.document(BRAND, loan_id)
    assert hashlib.sha256(stored.data).hexdigest() == stored.sha256
    store.blobs.clear()  # the store lost it: the loan's events render the same bytes again
    assert desk.document(BRAND, loan_id).data == stored.data
    store.blobs[stored.sha256] = b"%PDF-tampered"
    with pytest.raises(Conflict):
        desk.document(BRAND, loan_id)


def test_a_signature_for_a_cancelled_loan_is_ignored(desk: Agreements, loans: Loans) -> None:
    loan_id = sanctioned(loans)
    desk.issue(BRAND, loan_id)
    callback = signed_callback(loans, loan_id)
    loans.cancel(BRAND, loan_id, "the borrower withdrew")
    result = desk.receive(callback)
    assert result.outcome is CallbackOutcome.IGNORED and "not signed" in result.detail
    assert loans.get(BRAND, loan_id).status is S.CANCELLED
    assert "Signed" not in event_names(loans, loan_id)


def test_an_agreement_issued_in_layout_1_whose_bytes_are_lost_renders_again_in_layout_1(
    desk: Agreements, loans: Loans, store: Store, esign: Esign
) -> None:
    """Layout 2 writes amounts `Rs. 85,000.00`; an agreement issued before it (its hash of layout 1's bytes) is
    still served, rendered again in its own layout when the store lost its bytes."""
    loan_id = sanctioned(loans)
    old = render_agreement(desk.agreement(BRAND, loan_id), layout=1)
    sha256 = sha256_hex(old)
    loans.issue_agreement(BRAND, loan_id, sha256, document_ref(sha256), "es-old", "https://esign/old",
                          datetime(2026, 12, 30, tzinfo=UTC))  # fmt: skip
    assert sha256 not in store.blobs  # lost (or never kept)
    served = desk.document(BRAND, loan_id)
    assert served.data == old and served.sha256 == sha256
    assert "Amount sanctioned (principal) 85000.00" in "".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(old)).pages
    )
    assert "Rs. 85,000.00" in "".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(desk.render(BRAND, loan_id))).pages
    )


NAMED = UUID("00000000-0000-4000-8000-00000000acc1")  # the account the borrower's submission named
OTHER_ACCOUNT = UUID("00000000-0000-4000-8000-00000000acc2")


def test_a_loan_is_queued_only_with_the_account_its_submission_named_once_that_one_is_verified(
    desk: Agreements, loans: Loans, facts: AgreementFacts
) -> None:
    """The borrower's submission names the account they last gave; the loan waits for that one, even with another
    account of theirs verified and newer (it used to be queued with the newest verified account)."""
    created = loans.create(BRAND, BORROWER, PRODUCT, "100000", 12)
    loans.submit(BRAND, created.id, OTHER_ACCOUNT)
    loans.send_back(BRAND, created.id, "borrower", "give your salary account", "bank_account", any_application=True)
    loans.submit(BRAND, created.id, NAMED)  # the step redone: the resubmission names the account given now
    loans.cx_approve(BRAND, created.id, "90000", "salary supports 90k")
    loans.sanction(BRAND, created.id, "85000", "FOIR at the limit")
    desk.issue(BRAND, created.id)
    facts.account, facts.verified = str(OTHER_ACCOUNT), {str(OTHER_ACCOUNT)}  # the newest verified, replaced
    assert desk.receive(signed_callback(loans, created.id)).outcome is CallbackOutcome.RECORDED
    assert loans.get(BRAND, created.id).status is S.APPROVED  # signed, waiting for the named account
    assert desk.queue_if_ready(BRAND, created.id) is None
    facts.verified.add(str(NAMED))  # its penny drop retried, or staff verified it
    assert desk.queue_if_ready(BRAND, created.id) is not None
    loan = loans.get(BRAND, created.id)
    assert loan.status is S.AWAITING_DISBURSAL and loan.bank_account_ref == str(NAMED)  # type: ignore[attr-defined]


def test_a_submission_naming_no_account_keeps_the_one_named_before_and_staffs_loans_take_the_newest_verified(
    desk: Agreements, loans: Loans, facts: AgreementFacts
) -> None:
    named = loans.create(BRAND, BORROWER, PRODUCT, "100000", 12).id
    loans.submit(BRAND, named, NAMED)
    loans.send_back(BRAND, named, "borrower", "upload your payslips", any_application=True)
    loans.submit(BRAND, named)  # staff submitted it again: it names none
    assert loans.get(BRAND, named).payout_account_ref == str(NAMED)
    submitted = [e for e in loans.events.get(named) if type(e).__name__ == "Submitted"]
    assert [e.payout_account_ref for e in submitted] == [str(NAMED), None]  # each submission as it was
    loans.cancel(BRAND, named, "test: make room for the next one")

    loan_id = sanctioned(loans)  # staff's: no account named
    desk.issue(BRAND, loan_id)
    facts.account = "acct-newest"
    assert desk.receive(signed_callback(loans, loan_id)).outcome is CallbackOutcome.RECORDED
    assert loans.get(BRAND, loan_id).bank_account_ref == "acct-newest"  # type: ignore[attr-defined]
