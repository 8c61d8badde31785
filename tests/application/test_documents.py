"""Document use cases: uploads sniffed and content-addressed, the same bytes stored once, reviews."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from domain.documents.application import BorrowerNotFound, Documents
from domain.documents.content import ContentType, DocumentKind, Uploader, content_address
from domain.documents.document import (
    Document,
    DocumentNotFound,
    DocumentStatus,
    ReviewDecision,
    borrower_sees,
    hidden_from_borrower,
)
from domain.shared.clock import FixedClock, brand_business_date
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000d2")
ASHA = uuid.UUID("00000000-0000-4000-8000-00000000a5a1")
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class MemoryStore:
    """A dict keyed by SHA-256, counting writes."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.writes = 0

    def put(self, sha256: str, data: bytes, content_type: str) -> bool:
        if sha256 in self.blobs:
            return False
        self.blobs[sha256] = data
        self.writes += 1
        return True

    def get(self, sha256: str) -> bytes:
        return self.blobs[sha256]

    def exists(self, sha256: str) -> bool:
        return sha256 in self.blobs


class KnownBorrowers:
    def has_borrower(self, brand_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
        return (brand_id, customer_id) == (BRAND, ASHA)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def documents(clock: FixedClock, store: MemoryStore) -> Documents:
    return in_memory(Documents, clock, store=store, borrowers=KnownBorrowers(), max_bytes=1024)


def _recorded(app: Documents) -> int:
    return app.recorder.max_notification_id() or 0


def test_an_upload_records_the_sha256_size_sniffed_type_and_uploader(documents: Documents, store: MemoryStore) -> None:
    result = documents.upload(BRAND, ASHA, DocumentKind.PAN_CARD, "pan card.pdf", PDF, Uploader.BORROWER)
    uploaded = documents.events.get(result.id)
    (event,) = list(uploaded)
    assert isinstance(event, Document.Uploaded)
    assert event.sha256 == content_address(PDF) and event.size == len(PDF)
    assert event.content_type is ContentType.PDF and event.uploaded_by is Uploader.BORROWER
    assert event.filename == "pan card.pdf" and event.customer_id == ASHA
    assert store.blobs[content_address(PDF)] == PDF


def test_the_same_bytes_are_stored_once_across_kinds_and_the_same_upload_twice_is_a_conflict(
    documents: Documents, store: MemoryStore
) -> None:
    first = documents.upload(BRAND, ASHA, DocumentKind.BANK_STATEMENT, "march.pdf", PDF)
    second = documents.upload(BRAND, ASHA, DocumentKind.SALARY_SLIP, "march.pdf", PDF)
    assert first.id != second.id and store.writes == 1
    with pytest.raises(Conflict) as again:
        documents.upload(BRAND, ASHA, DocumentKind.BANK_STATEMENT, "copy.pdf", PDF)
    assert again.value.details["existing_id"] == str(first.id)


def test_a_disguised_file_is_refused_and_nothing_is_recorded_or_stored(
    documents: Documents, store: MemoryStore
) -> None:
    with pytest.raises(InvalidInput) as refused:
        documents.upload(BRAND, ASHA, DocumentKind.SELFIE, "selfie.pdf", PNG)
    assert refused.value.errors[0].field == "file"
    with pytest.raises(InvalidInput):
        documents.upload(BRAND, ASHA, DocumentKind.SELFIE, "selfie.jpg", b"MZ" + b"\x00" * 30)
    with pytest.raises(InvalidInput, match="limit is 1024"):
        documents.upload(BRAND, ASHA, DocumentKind.SELFIE, "big.pdf", PDF + b"\x00" * 2000)
    assert _recorded(documents) == 0 and store.writes == 0


def test_another_brands_borrower_or_document_is_not_found(documents: Documents) -> None:
    with pytest.raises(BorrowerNotFound):
        documents.upload(OTHER, ASHA, DocumentKind.PAN_CARD, "pan.pdf", PDF)
    result = documents.upload(BRAND, ASHA, DocumentKind.PAN_CARD, "pan.pdf", PDF)
    with pytest.raises(DocumentNotFound):
        documents.content(OTHER, result.id)
    with pytest.raises(DocumentNotFound):
        documents.review(OTHER, result.id, ReviewDecision.ACCEPTED, None)
    assert documents.content(BRAND, result.id).data == PDF


def test_rejecting_needs_a_reason_and_a_decided_document_cannot_be_reviewed_again(documents: Documents) -> None:
    result = documents.upload(BRAND, ASHA, DocumentKind.AADHAAR_FRONT, "front.png", PNG)
    before = _recorded(documents)
    with pytest.raises(InvalidInput) as refused:
        documents.review(BRAND, result.id, ReviewDecision.REJECTED, "  ")
    assert refused.value.errors[0].field == "reason" and _recorded(documents) == before
    documents.review(BRAND, result.id, ReviewDecision.REJECTED, "photo is blurred")
    document = documents.document(BRAND, result.id)
    assert document.status is DocumentStatus.REJECTED and document.reason == "photo is blurred"
    with pytest.raises(Conflict):
        documents.review(BRAND, result.id, ReviewDecision.ACCEPTED, None)


def test_accepting_needs_no_reason(documents: Documents) -> None:
    result = documents.upload(BRAND, ASHA, DocumentKind.AADHAAR_BACK, "back.png", PNG)
    documents.review(BRAND, result.id, ReviewDecision.ACCEPTED, None)
    assert documents.document(BRAND, result.id).status is DocumentStatus.ACCEPTED


def test_the_same_file_again_with_existing_ok_is_the_same_document_and_records_nothing(
    documents: Documents, store: MemoryStore
) -> None:
    first = documents.upload(BRAND, ASHA, DocumentKind.OTHER, "accounts.pdf", PDF)
    recorded = _recorded(documents)
    again = documents.upload(BRAND, ASHA, DocumentKind.OTHER, "accounts-copy.pdf", PDF, existing_ok=True)
    assert (again.id, again.changed, again.position) == (first.id, False, 0)
    assert _recorded(documents) == recorded and store.writes == 1
    with pytest.raises(Conflict, match="already uploaded"):  # without it, as before: a conflict naming the document
        documents.upload(BRAND, ASHA, DocumentKind.OTHER, "accounts.pdf", PDF)


def test_the_same_file_uploaded_at_the_same_moment_with_existing_ok_is_the_other_uploads_document(
    documents: Documents, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two requests attach the same file (to two covenants' records) at once: both look, neither finds it, the first
    # records it. The second is that document, not a 409 saying its record was changed by another request.
    first = documents.upload(BRAND, ASHA, DocumentKind.OTHER, "accounts.pdf", PDF)
    recorded = _recorded(documents)
    find = documents.find

    def looked_too_early() -> None:  # the upload's own look finds nothing: the first was not recorded yet
        looks = [True]
        monkeypatch.setattr(
            documents, "find", lambda aggregate_id: None if looks and looks.pop() else find(aggregate_id)
        )

    looked_too_early()
    again = documents.upload(BRAND, ASHA, DocumentKind.OTHER, "accounts.pdf", PDF, existing_ok=True)
    assert (again.id, again.changed) == (first.id, False) and _recorded(documents) == recorded
    looked_too_early()
    with pytest.raises(Conflict):  # without existing_ok the race is a conflict, as before
        documents.upload(BRAND, ASHA, DocumentKind.OTHER, "accounts.pdf", PDF)


def test_verified_content_refuses_bytes_that_no_longer_match_their_sha256(
    documents: Documents, store: MemoryStore
) -> None:
    doc_id = documents.upload(BRAND, ASHA, DocumentKind.OTHER, "accounts.pdf", PDF).id
    assert documents.verified_content(BRAND, doc_id).data == PDF
    store.blobs[content_address(PDF)] = PDF + b"%altered"
    with pytest.raises(Conflict, match="does not match its recorded SHA-256"):
        documents.verified_content(BRAND, doc_id)
    assert documents.content(BRAND, doc_id).data == PDF + b"%altered"  # the unverified read is unchanged
    with pytest.raises(DocumentNotFound):
        documents.verified_content(OTHER, doc_id)


def test_only_staff_uploads_of_kind_other_are_hidden_from_the_borrower() -> None:
    for by in Uploader:
        for kind in DocumentKind:
            assert borrower_sees(by, kind) is not (by is Uploader.STAFF and kind is DocumentKind.OTHER)
            assert borrower_sees(by.value, kind.value) is borrower_sees(by, kind)  # as a read model's row holds them
    assert hidden_from_borrower() == ((Uploader.STAFF, DocumentKind.OTHER),)


def test_borrower_content_opens_what_the_borrower_sees_and_nothing_else_as_one_not_found(
    documents: Documents, store: MemoryStore
) -> None:
    def upload(kind: DocumentKind, by: Uploader) -> uuid.UUID:
        return documents.upload(BRAND, ASHA, kind, "file.pdf", PDF + kind.value.encode() + by.value.encode(), by).id

    evidence = upload(DocumentKind.OTHER, Uploader.STAFF)
    for kind, by in (
        (DocumentKind.PAN_CARD, Uploader.STAFF),
        (DocumentKind.OTHER, Uploader.BORROWER),
        (DocumentKind.OTHER, Uploader.PROVIDER),
    ):
        doc_id = upload(kind, by)
        assert documents.borrower_content(BRAND, doc_id, ASHA).document.id == doc_id
    refusals = []
    for brand, doc_id, customer in (
        (BRAND, evidence, ASHA),  # staff's internal evidence on the borrower's own record
        (BRAND, upload(DocumentKind.PAN_CARD, Uploader.BORROWER), uuid.uuid4()),  # another borrower's
        (OTHER, evidence, ASHA),  # another brand's
        (BRAND, uuid.uuid4(), ASHA),  # no such id
    ):
        with pytest.raises(DocumentNotFound) as refused:
            documents.borrower_content(brand, doc_id, customer)
        refusals.append(refused.value.message.replace(str(doc_id), "<id>"))
    assert len(set(refusals)) == 1, refusals
    assert documents.verified_content(BRAND, evidence).document.id == evidence  # staff's reads are unchanged


def test_staff_state_a_statements_months_after_its_upload_recording_what_it_said_before(
    documents: Documents,
) -> None:
    doc_id = documents.upload(BRAND, ASHA, DocumentKind.BANK_STATEMENT, "statement.pdf", PDF).id
    stated = documents.state_period(BRAND, doc_id, " 2026-08", "2026-10 ")
    assert stated.changed and stated.position > 0
    *_, event = list(documents.events.get(doc_id))
    assert isinstance(event, Document.PeriodStated)
    assert (event.period_from, event.period_to, event.previous_from, event.previous_to) == (
        "2026-08",
        "2026-10",
        None,
        None,
    )
    document = documents.document(BRAND, doc_id)
    assert str(document.period) == "2026-08..2026-10"

    corrected = documents.state_period(BRAND, doc_id, "2026-07", "2026-10")
    *_, again = list(documents.events.get(doc_id))
    assert corrected.changed and isinstance(again, Document.PeriodStated)
    assert (again.previous_from, again.previous_to) == ("2026-08", "2026-10")


def test_stating_the_months_a_statement_already_says_records_nothing(documents: Documents) -> None:
    doc_id = documents.upload(
        BRAND, ASHA, DocumentKind.BANK_STATEMENT, "statement.pdf", PDF, period_from="2026-08", period_to="2026-10"
    ).id
    recorded = _recorded(documents)
    same = documents.state_period(BRAND, doc_id, "2026-08", "2026-10")
    assert (same.id, same.changed, same.position) == (doc_id, False, 0)
    assert _recorded(documents) == recorded


def test_stated_months_are_checked_as_an_uploads_are_and_a_refusal_records_nothing(documents: Documents) -> None:
    doc_id = documents.upload(BRAND, ASHA, DocumentKind.BANK_STATEMENT, "statement.pdf", PDF).id
    recorded = _recorded(documents)
    cases = [
        (("2026-10", "2026-08"), ["period_to"]),  # backwards
        (("2026-10", "2026-12"), ["period_to"]),  # the future (the clock is in Nov 2026)
        (("2001-01", "2026-10"), ["period_from"]),  # over five years back
        (("Aug 2026", "2026-10"), ["period_from"]),
        (("2026-08", ""), ["period_to"]),
        (("", ""), ["period_from", "period_to"]),
    ]
    for (first, last), fields in cases:
        with pytest.raises(InvalidInput) as refused:
            documents.state_period(BRAND, doc_id, first, last)
        assert [e.field for e in refused.value.errors] == fields, (first, last)
    assert _recorded(documents) == recorded and documents.document(BRAND, doc_id).period is None


def test_only_a_bank_statement_not_rejected_and_of_the_brand_has_its_months_stated(documents: Documents) -> None:
    slip = documents.upload(BRAND, ASHA, DocumentKind.SALARY_SLIP, "slip.pdf", PDF).id
    with pytest.raises(InvalidInput) as wrong_kind:
        documents.state_period(BRAND, slip, "2026-08", "2026-10")
    assert [e.field for e in wrong_kind.value.errors] == ["period_from"]

    statement = documents.upload(BRAND, ASHA, DocumentKind.BANK_STATEMENT, "statement.png", PNG).id
    with pytest.raises(DocumentNotFound):
        documents.state_period(OTHER, statement, "2026-08", "2026-10")
    with pytest.raises(Conflict, match="at version 1, not 2"):
        documents.state_period(BRAND, statement, "2026-08", "2026-10", expected_version=2)
    documents.review(BRAND, statement, ReviewDecision.REJECTED, "another account")
    recorded = _recorded(documents)
    with pytest.raises(Conflict, match="rejected"):
        documents.state_period(BRAND, statement, "2026-08", "2026-10")
    assert _recorded(documents) == recorded


class BrandDay:
    """The brand's business date, as the identity context answers it: its configured one, else today in its
    timezone."""

    def __init__(self, clock: FixedClock, timezone: str, configured: date | None = None) -> None:
        self.clock, self.zone, self.configured = clock, timezone, configured

    def business_date(self, brand_id: uuid.UUID) -> date:
        return brand_business_date(self.clock.now(), self.zone, self.configured)


def test_a_statements_months_are_judged_on_the_brands_own_calendar(clock: FixedClock, store: MemoryStore) -> None:
    # "This month" is the brand's, as on its checklist: not India's for a brand whose day has turned or not yet.
    clock.instant = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # 1 Dec 01:00 in Auckland, still 30 Nov in India
    ahead = in_memory(
        Documents, clock, store=store, borrowers=KnownBorrowers(), business_dates=BrandDay(clock, "Pacific/Auckland")
    )
    stated = ahead.upload(
        BRAND, ASHA, DocumentKind.BANK_STATEMENT, "s.pdf", PDF, period_from="2026-10", period_to="2026-12"
    )
    assert ahead.document(BRAND, stated.id).period_to == "2026-12"  # downloaded today, into the brand's December

    clock.instant = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # 1 Dec 00:30 in India, still 30 Nov in New York
    behind = in_memory(
        Documents, clock, store=store, borrowers=KnownBorrowers(), business_dates=BrandDay(clock, "America/New_York")
    )
    with pytest.raises(InvalidInput) as future:
        behind.upload(
            BRAND, ASHA, DocumentKind.BANK_STATEMENT, "s.pdf", PDF, period_from="2026-10", period_to="2026-12"
        )
    assert [e.field for e in future.value.errors] == ["period_to"] and "in the future" in future.value.errors[0].message
    unstated = behind.upload(BRAND, ASHA, DocumentKind.BANK_STATEMENT, "s.pdf", PDF).id
    with pytest.raises(InvalidInput) as stating:
        behind.state_period(BRAND, unstated, "2026-10", "2026-12")
    assert [e.field for e in stating.value.errors] == ["period_to"]
    assert _recorded(behind) == 1  # the upload without months only


def test_a_brand_held_on_a_past_business_date_judges_a_statements_months_on_that_day(
    clock: FixedClock, store: MemoryStore
) -> None:
    # A brand run as of a configured business date (15 Mar 2024) while the real clock says 30 Nov 2026: its
    # "this month" is March 2024, as its checklist and the funnel's statement step count the months from it.
    clock.instant = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    held = in_memory(
        Documents, clock, store=store, borrowers=KnownBorrowers(),
        business_dates=BrandDay(clock, "Asia/Kolkata", date(2024, 3, 15)),
    )  # fmt: skip
    stated = held.upload(
        BRAND, ASHA, DocumentKind.BANK_STATEMENT, "s.pdf", PDF, period_from="2023-12", period_to="2024-03"
    )
    assert held.document(BRAND, stated.id).period_to == "2024-03"
    for first, last, field in (("2024-01", "2024-04", "period_to"), ("2018-12", "2024-02", "period_from")):
        with pytest.raises(InvalidInput) as refused:
            held.upload(
                BRAND, ASHA, DocumentKind.BANK_STATEMENT, "t.pdf", PDF + b"t", period_from=first, period_to=last
            )
        assert [e.field for e in refused.value.errors] == [field], (first, last)
    with pytest.raises(InvalidInput) as corrected:
        held.state_period(BRAND, stated.id, "2024-02", "2024-05")
    assert corrected.value.errors[0].message == "2024-05 is in the future (this month is 2024-03)"
    assert held.state_period(BRAND, stated.id, "2024-01", "2024-03").changed


def test_an_aadhaar_photo_fetched_twice_at_once_is_one_document_for_both_fetches(
    documents: Documents, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two DigiLocker fetches of a borrower's Aadhaar at the same moment store the same photo: the second's save
    loses the race, and the verification context's vault answers it with the first's document. It read the
    conflict's `existing_id`, which a lost race does not carry: a KeyError, the fetch a 500."""
    from workers.contexts.verification import BrandDocuments

    photo = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    real_put, other = store.put, []

    def put_as_the_other_fetch_records_it(sha256: str, data: bytes, content_type: str) -> bool:
        if not other:  # this fetch has looked (no such document yet): the other one records it first
            other.append(None)
            other[0] = documents.upload(BRAND, ASHA, DocumentKind.AADHAAR_PHOTO, "aadhaar-photo.jpg", data,
                                        Uploader.PROVIDER).id  # fmt: skip
        return real_put(sha256, data, content_type)

    monkeypatch.setattr(store, "put", put_as_the_other_fetch_records_it)
    vault = BrandDocuments(documents)
    assert vault.store_photo(BRAND, ASHA, photo) == other[0] is not None
    assert vault.store_photo(BRAND, ASHA, photo) == other[0]  # fetched again later: the same document
    assert _recorded(documents) == 1


def test_the_same_file_uploaded_twice_at_once_is_one_document_and_the_second_is_told_so(
    documents: Documents, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double tap: the second upload looked before the first was recorded and loses the race. It is answered as a
    moment later it would be - the conflict naming the document (the borrower's pages show "you already uploaded
    this file") - not the bare "changed by another request" of a lost race."""
    real_put, first = store.put, []

    def put_as_the_first_tap_records_it(sha256: str, data: bytes, content_type: str) -> bool:
        if not first:
            first.append(None)
            first[0] = documents.upload(BRAND, ASHA, DocumentKind.SALARY_SLIP, "payslip.pdf", data).id
        return real_put(sha256, data, content_type)

    monkeypatch.setattr(store, "put", put_as_the_first_tap_records_it)
    with pytest.raises(Conflict) as refused:
        documents.upload(BRAND, ASHA, DocumentKind.SALARY_SLIP, "payslip.pdf", PDF)
    assert refused.value.details.get("existing_id") == str(first[0]) and "already uploaded" in refused.value.message
    assert _recorded(documents) == 1
