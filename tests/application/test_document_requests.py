"""Document requests and the review: rejecting the upload that fulfilled a request opens the request again in the
rejection's own save (the borrower told, as a request tells them), and the next upload of the kind fulfils it
again. Another brand can neither reject the document nor touch the request."""

from __future__ import annotations

import uuid

import pytest

from domain.documents.application import Documents
from domain.documents.content import DocumentKind
from domain.documents.document import DocumentNotFound, DocumentStatus, ReviewDecision
from domain.documents.document_request import DocumentRequests, RequestState
from domain.shared.clock import FixedClock
from tests.application.conftest import in_memory
from tests.application.test_documents import ASHA, BRAND, OTHER, PNG, KnownBorrowers, MemoryStore

SLIP = DocumentKind.SALARY_SLIP


class RecordedNotices:
    """What the borrower was told (the SMS is the wiring's; here, the calls)."""

    def __init__(self) -> None:
        self.told: list[tuple[str, object]] = []

    def documents_requested(
        self, brand_id: uuid.UUID, customer_id: uuid.UUID, kinds: list[DocumentKind], note: str | None
    ) -> None:
        self.told.append(("requested", (brand_id, customer_id, kinds, note)))

    def document_asked_again(
        self, brand_id: uuid.UUID, customer_id: uuid.UUID, kind: DocumentKind, reason: str | None
    ) -> None:
        self.told.append(("asked_again", (brand_id, customer_id, kind, reason)))


@pytest.fixture
def notices() -> RecordedNotices:
    return RecordedNotices()


@pytest.fixture
def documents(clock: FixedClock, notices: RecordedNotices) -> Documents:
    return in_memory(Documents, clock, store=MemoryStore(), borrowers=KnownBorrowers(), max_bytes=1024, notices=notices)


def _recorded(app: Documents) -> list[object]:
    """Every event recorded, in order."""
    head = app.recorder.max_notification_id() or 0
    stored = app.recorder.select_notifications(start=1, limit=head + 1)
    return [app.mapper.to_domain_event(n) for n in stored]


def test_rejecting_the_upload_that_fulfilled_a_request_opens_it_again_and_the_next_upload_fulfils_it(
    documents: Documents, notices: RecordedNotices
) -> None:
    documents.request_documents(BRAND, ASHA, ["salary_slip"], "the last two months")
    first = documents.upload(BRAND, ASHA, SLIP, "slip.png", PNG + b"blurred")
    (asked,) = documents.document_requests(BRAND, ASHA).requests.values()
    assert asked.state is RequestState.FULFILLED and asked.document_id == first.id
    before = len(_recorded(documents))

    rejected = documents.review(BRAND, first.id, ReviewDecision.REJECTED, "the amounts cannot be read")

    # One save: the rejection and the reopening, nothing else, side by side in the log.
    recorded = _recorded(documents)[before:]
    assert [type(e).__qualname__ for e in recorded] == ["Document.Reviewed", "DocumentRequests.Reopened"]
    reopened_event = recorded[1]
    assert isinstance(reopened_event, DocumentRequests.Reopened)
    assert (reopened_event.request_id, reopened_event.document_id, reopened_event.reason) == (
        asked.id,
        first.id,
        "the amounts cannot be read",
    )
    assert (reopened_event.brand_id, reopened_event.customer_id, reopened_event.kind) == (BRAND, ASHA, SLIP)
    assert rejected.position == (documents.recorder.max_notification_id() or 0)
    assert documents.document(BRAND, first.id).status is DocumentStatus.REJECTED
    again = documents.document_requests(BRAND, ASHA).requests[asked.id]
    assert again.state is RequestState.OPEN and again.document_id is None
    assert again.reopen_reason == "the amounts cannot be read" and again.rejected == (first.id,)
    assert notices.told[-1] == ("asked_again", (BRAND, ASHA, SLIP, "the amounts cannot be read"))

    second = documents.upload(BRAND, ASHA, SLIP, "slip-clear.png", PNG + b"clear")
    done = documents.document_requests(BRAND, ASHA).requests[asked.id]
    assert done.state is RequestState.FULFILLED and done.document_id == second.id and done.rejected == (first.id,)


def test_a_rejection_of_a_document_that_fulfilled_no_request_or_an_acceptance_reopens_nothing(
    documents: Documents, notices: RecordedNotices
) -> None:
    before_request = documents.upload(BRAND, ASHA, SLIP, "early.png", PNG + b"early")
    documents.request_documents(BRAND, ASHA, ["salary_slip", "passport"])
    passport = documents.upload(BRAND, ASHA, DocumentKind.PASSPORT, "passport.png", PNG + b"passport")
    told = len(notices.told)
    before = len(_recorded(documents))

    documents.review(BRAND, before_request.id, ReviewDecision.REJECTED, "not this one")
    documents.review(BRAND, passport.id, ReviewDecision.ACCEPTED, None)

    assert [type(e).__qualname__ for e in _recorded(documents)[before:]] == ["Document.Reviewed", "Document.Reviewed"]
    states = {r.kind: r.state for r in documents.document_requests(BRAND, ASHA).requests.values()}
    assert states == {SLIP: RequestState.OPEN, DocumentKind.PASSPORT: RequestState.FULFILLED}
    assert len(notices.told) == told


def test_another_brand_can_neither_reject_the_document_nor_reopen_the_request(
    documents: Documents, notices: RecordedNotices
) -> None:
    documents.request_documents(BRAND, ASHA, ["salary_slip"])
    uploaded = documents.upload(BRAND, ASHA, SLIP, "slip.png", PNG + b"slip")
    before, told = len(_recorded(documents)), len(notices.told)
    with pytest.raises(DocumentNotFound):
        documents.review(OTHER, uploaded.id, ReviewDecision.REJECTED, "not ours to judge")
    assert len(_recorded(documents)) == before and len(notices.told) == told
    (request,) = documents.document_requests(BRAND, ASHA).requests.values()
    assert request.state is RequestState.FULFILLED and request.document_id == uploaded.id
