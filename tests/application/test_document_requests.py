"""Document requests and the review: rejecting the upload that fulfilled a request opens the request again in the
rejection's own save (the borrower told, as a request tells them), and the next upload of the kind fulfils it
again - or, when the borrower had sent another of the kind meanwhile (a spare, not rejected), that one fulfils it
in the same save and the borrower is not asked again. Two rejections at once conflict. Another brand can neither
reject the document nor touch the request."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.documents.application import Documents
from domain.documents.content import DocumentKind
from domain.documents.document import DocumentNotFound, DocumentStatus, ReviewDecision
from domain.documents.document_request import DocumentRequests, RequestState, document_requests_id
from domain.shared.aggregate import with_id
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from tests.application.conftest import in_memory
from tests.application.test_documents import ASHA, BRAND, OTHER, PNG, KnownBorrowers, MemoryStore

SLIP = DocumentKind.SALARY_SLIP
PASSPORT = DocumentKind.PASSPORT


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

    # The acceptance of the passport that fulfilled its request is recorded with the request too (same save).
    assert [type(e).__qualname__ for e in _recorded(documents)[before:]] == [
        "Document.Reviewed",
        "Document.Reviewed",
        "DocumentRequests.FulfilmentAccepted",
    ]
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


def _kinds(events: list[object]) -> list[str]:
    return [type(e).__qualname__ for e in events]


def test_rejecting_the_upload_that_fulfilled_a_request_passes_it_to_another_copy_sent_since_without_asking_again(
    documents: Documents, notices: RecordedNotices
) -> None:
    early = documents.upload(BRAND, ASHA, SLIP, "early.png", PNG + b"early")  # before the request: never counts
    documents.request_documents(BRAND, ASHA, ["salary_slip"])
    first = documents.upload(BRAND, ASHA, SLIP, "slip.png", PNG + b"first")
    before = len(_recorded(documents))
    second = documents.upload(BRAND, ASHA, SLIP, "slip-2.png", PNG + b"second")
    # The second copy, sent while the request stood fulfilled by the first (awaiting review), is kept as its spare.
    spare_events = _recorded(documents)[before:]
    assert _kinds(spare_events) == ["Document.Uploaded", "DocumentRequests.SpareReceived"]
    (asked,) = documents.document_requests(BRAND, ASHA).requests.values()
    assert asked.document_id == first.id and asked.spares == (second.id,)
    told, before = len(notices.told), len(_recorded(documents))

    documents.review(BRAND, first.id, ReviewDecision.REJECTED, "the amounts cannot be read")

    # One save: the rejection, the reopening (the history stays true), then the spare fulfilling it in its place.
    recorded = _recorded(documents)[before:]
    assert _kinds(recorded) == ["Document.Reviewed", "DocumentRequests.Reopened", "DocumentRequests.Fulfilled"]
    reopened, refulfilled = recorded[1], recorded[2]
    assert isinstance(reopened, DocumentRequests.Reopened) and reopened.document_id == first.id
    assert isinstance(refulfilled, DocumentRequests.Fulfilled)
    assert (refulfilled.request_id, refulfilled.document_id, refulfilled.in_place_of) == (asked.id, second.id, first.id)
    now = documents.document_requests(BRAND, ASHA).requests[asked.id]
    assert now.state is RequestState.FULFILLED and now.document_id == second.id and now.rejected == (first.id,)
    assert len(notices.told) == told  # not asked again for what they sent

    # The second rejected too: no spare left (the copy from before the request does not count) - asked again.
    before = len(_recorded(documents))
    documents.review(BRAND, second.id, ReviewDecision.REJECTED, "last year's slip")
    assert _kinds(_recorded(documents)[before:]) == ["Document.Reviewed", "DocumentRequests.Reopened"]
    again = documents.document_requests(BRAND, ASHA).requests[asked.id]
    assert again.state is RequestState.OPEN and again.rejected == (first.id, second.id)
    assert documents.document(BRAND, early.id).status is DocumentStatus.PENDING
    assert notices.told[told:] == [("asked_again", (BRAND, ASHA, SLIP, "last year's slip"))]

    third = documents.upload(BRAND, ASHA, SLIP, "slip-3.png", PNG + b"third")
    done = documents.document_requests(BRAND, ASHA).requests[asked.id]
    assert done.state is RequestState.FULFILLED and done.document_id == third.id


def test_the_newest_spare_takes_the_place_an_accepted_one_counts_and_a_rejected_one_does_not(
    documents: Documents, notices: RecordedNotices
) -> None:
    documents.request_documents(BRAND, ASHA, ["salary_slip"])
    first = documents.upload(BRAND, ASHA, SLIP, "a.png", PNG + b"a")
    accepted = documents.upload(BRAND, ASHA, SLIP, "b.png", PNG + b"b")
    newest = documents.upload(BRAND, ASHA, SLIP, "c.png", PNG + b"c")
    dropped = documents.upload(BRAND, ASHA, SLIP, "d.png", PNG + b"d")
    documents.review(BRAND, accepted.id, ReviewDecision.ACCEPTED, None)
    before = len(_recorded(documents))
    documents.review(BRAND, dropped.id, ReviewDecision.REJECTED, "a payslip of someone else")
    # A spare rejected leaves the request in the rejection's own save (so two rejections at once conflict).
    assert _kinds(_recorded(documents)[before:]) == ["Document.Reviewed", "DocumentRequests.SpareRejected"]
    told = len(notices.told)

    documents.review(BRAND, first.id, ReviewDecision.REJECTED, "blurred")
    assert documents.document_requests(BRAND, ASHA).requests.popitem()[1].document_id == newest.id
    documents.review(BRAND, newest.id, ReviewDecision.REJECTED, "cut off")
    (request,) = documents.document_requests(BRAND, ASHA).requests.values()
    assert request.state is RequestState.FULFILLED and request.document_id == accepted.id
    assert request.rejected == (first.id, newest.id) and len(notices.told) == told

    # Fulfilled by an accepted document, the request can no longer be reopened: a further upload is no spare.
    before = len(_recorded(documents))
    documents.upload(BRAND, ASHA, SLIP, "e.png", PNG + b"e")
    assert _kinds(_recorded(documents)[before:]) == ["Document.Uploaded"]


def test_two_rejections_at_once_conflict_rather_than_leave_a_request_fulfilled_by_a_rejected_copy(
    documents: Documents, notices: RecordedNotices, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents.request_documents(BRAND, ASHA, ["salary_slip"])
    first = documents.upload(BRAND, ASHA, SLIP, "a.png", PNG + b"a")
    second = documents.upload(BRAND, ASHA, SLIP, "b.png", PNG + b"b")
    requests_id = document_requests_id(BRAND, ASHA)
    real_find = documents.find

    def other_rejection_first(aggregate_id: uuid.UUID) -> object:
        # The requests as the first rejection loads them; the second copy's rejection commits in between.
        found = real_find(aggregate_id)
        if aggregate_id == requests_id:
            monkeypatch.setattr(documents, "find", real_find)
            documents.review(BRAND, second.id, ReviewDecision.REJECTED, "last year's slip")
        return found

    monkeypatch.setattr(documents, "find", other_rejection_first)
    before, told = len(_recorded(documents)), len(notices.told)
    with pytest.raises(ConcurrentModification):
        documents.review(BRAND, first.id, ReviewDecision.REJECTED, "blurred")

    # Only the second copy's rejection stands: the first is pending, the request stands fulfilled by it, its spare
    # gone; nobody was told anything. Tried again, the rejection reopens the request and asks the borrower.
    assert _kinds(_recorded(documents)[before:]) == ["Document.Reviewed", "DocumentRequests.SpareRejected"]
    assert documents.document(BRAND, first.id).status is DocumentStatus.PENDING
    (request,) = documents.document_requests(BRAND, ASHA).requests.values()
    assert request.document_id == first.id and request.spares == () and len(notices.told) == told
    documents.review(BRAND, first.id, ReviewDecision.REJECTED, "blurred")
    assert documents.document_requests(BRAND, ASHA).requests[request.id].state is RequestState.OPEN
    assert notices.told[-1] == ("asked_again", (BRAND, ASHA, SLIP, "blurred"))


def test_a_copy_uploaded_while_the_rejection_commits_conflicts_rather_than_go_unseen(
    documents: Documents, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents.request_documents(BRAND, ASHA, ["salary_slip"])
    first = documents.upload(BRAND, ASHA, SLIP, "a.png", PNG + b"a")
    requests_id = document_requests_id(BRAND, ASHA)
    real_find = documents.find

    def rejection_first(aggregate_id: uuid.UUID) -> object:
        found = real_find(aggregate_id)
        if aggregate_id == requests_id:
            monkeypatch.setattr(documents, "find", real_find)
            documents.review(BRAND, first.id, ReviewDecision.REJECTED, "blurred")
        return found

    monkeypatch.setattr(documents, "find", rejection_first)
    with pytest.raises(ConcurrentModification):
        documents.upload(BRAND, ASHA, SLIP, "b.png", PNG + b"b")
    # Uploaded again, the copy fulfils the request the rejection opened.
    again = documents.upload(BRAND, ASHA, SLIP, "b.png", PNG + b"b")
    (request,) = documents.document_requests(BRAND, ASHA).requests.values()
    assert request.state is RequestState.FULFILLED and request.document_id == again.id


def _loads(app: Documents, monkeypatch: pytest.MonkeyPatch) -> list[uuid.UUID]:
    """The ids of the aggregates `app` reads from its event store from now on, in order."""
    read: list[uuid.UUID] = []
    real_get = app.repository.get

    def counting_get(aggregate_id: uuid.UUID, *args: Any, **kwargs: Any) -> Any:
        read.append(aggregate_id)
        return real_get(aggregate_id, *args, **kwargs)

    monkeypatch.setattr(app.repository, "get", counting_get)
    return read


def test_an_upload_after_many_accepted_fulfilled_requests_loads_no_document_of_theirs(
    documents: Documents, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = []
    for month in range(6):
        documents.request_documents(BRAND, ASHA, ["salary_slip"])
        slip = documents.upload(BRAND, ASHA, SLIP, f"slip-{month}.png", PNG + bytes([month]))
        before = len(_recorded(documents))
        documents.review(BRAND, slip.id, ReviewDecision.ACCEPTED, None)
        # The acceptance is recorded with the request it fulfils, in the review's own save.
        recorded = _recorded(documents)[before:]
        assert _kinds(recorded) == ["Document.Reviewed", "DocumentRequests.FulfilmentAccepted"]
        assert isinstance(recorded[1], DocumentRequests.FulfilmentAccepted) and recorded[1].document_id == slip.id
        accepted.append(slip.id)
    documents.request_documents(BRAND, ASHA, ["salary_slip"])
    pending = documents.upload(BRAND, ASHA, SLIP, "slip-pending.png", PNG + b"pending")
    requests_id = document_requests_id(BRAND, ASHA)
    loads = _loads(documents, monkeypatch)
    before = len(_recorded(documents))

    copy = documents.upload(BRAND, ASHA, SLIP, "slip-copy.png", PNG + b"copy")

    # Only the upload's own id (is it a repeat?) and the requests were read - none of the six accepted slips, nor the
    # pending one: the requests alone say which stand fulfilled by a document not accepted.
    assert loads == [copy.id, requests_id]
    recorded = _recorded(documents)[before:]
    assert _kinds(recorded) == ["Document.Uploaded", "DocumentRequests.SpareReceived"]
    requests = documents.document_requests(BRAND, ASHA)
    (waiting,) = [r for r in requests.requests.values() if not r.accepted]
    assert waiting.document_id == pending.id and waiting.spares == (copy.id,)
    assert {r.document_id for r in requests.requests.values() if r.accepted} == set(accepted)


def test_an_acceptance_committed_while_an_upload_is_saved_conflicts_rather_than_keep_a_spare_of_a_final_request(
    documents: Documents, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents.request_documents(BRAND, ASHA, ["salary_slip"])
    first = documents.upload(BRAND, ASHA, SLIP, "a.png", PNG + b"a")
    requests_id = document_requests_id(BRAND, ASHA)
    real_find = documents.find

    def acceptance_first(aggregate_id: uuid.UUID) -> object:
        found = real_find(aggregate_id)
        if aggregate_id == requests_id:
            monkeypatch.setattr(documents, "find", real_find)
            documents.review(BRAND, first.id, ReviewDecision.ACCEPTED, None)
        return found

    monkeypatch.setattr(documents, "find", acceptance_first)
    with pytest.raises(ConcurrentModification):
        documents.upload(BRAND, ASHA, SLIP, "b.png", PNG + b"b")
    # Uploaded again, the copy is no spare: the request is final.
    before = len(_recorded(documents))
    documents.upload(BRAND, ASHA, SLIP, "b.png", PNG + b"b")
    assert _kinds(_recorded(documents)[before:]) == ["Document.Uploaded"]


def _accept_as_before(app: Documents, doc_id: uuid.UUID) -> None:
    """Accept a document as the review did before acceptances were recorded with the requests (the document alone)."""
    document = app.document(BRAND, doc_id)
    document.review(ReviewDecision.ACCEPTED, None)
    app.save(document)


def test_requests_from_before_acceptances_were_recorded_are_caught_up_once_by_the_next_upload(
    documents: Documents, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The events the code before this change recorded: requests started without `records_acceptances`, fulfilled by
    # uploads, a spare kept, and acceptances that left the requests untouched.
    s1, s2, s3, p1, p2 = (
        documents.upload(BRAND, ASHA, kind, f"{n}.png", PNG + n.encode()).id
        for n, kind in (("s1", SLIP), ("s2", SLIP), ("s3", SLIP), ("p1", PASSPORT), ("p2", PASSPORT))
    )
    requests_id = document_requests_id(BRAND, ASHA)
    legacy = with_id(DocumentRequests, requests_id, brand_id=BRAND, customer_id=ASHA)
    now = clock.now()
    for slip in (s1, s2, s3):
        legacy.request(uuid.uuid4(), SLIP, None, now)
        legacy.fulfil(SLIP, slip, now)
    passport_request = uuid.uuid4()
    legacy.request(passport_request, PASSPORT, None, now)
    legacy.fulfil(PASSPORT, p1, now)
    legacy.keep_spare(passport_request, p2, now)
    documents.save(legacy)
    for doc in (s1, s2, p2):
        _accept_as_before(documents, doc)
    pending_slip_request = documents.document_requests(BRAND, ASHA).fulfilled_by(s3)
    assert pending_slip_request is not None and not documents.document_requests(BRAND, ASHA).records_acceptances
    loads = _loads(documents, monkeypatch)
    before = len(_recorded(documents))

    s4 = documents.upload(BRAND, ASHA, SLIP, "s4.png", PNG + b"s4").id

    # Once: every document of the requests not known accepted is read, those accepted recorded, then the catch-up;
    # the copy is the spare of the one request whose slip is pending.
    assert sorted(loads) == sorted([s4, requests_id, s1, s2, s3, p1, p2])
    recorded = _recorded(documents)[before:]
    assert _kinds(recorded) == [
        "Document.Uploaded",
        "DocumentRequests.FulfilmentAccepted",
        "DocumentRequests.FulfilmentAccepted",
        "DocumentRequests.SpareAccepted",
        "DocumentRequests.AcceptancesCaughtUp",
        "DocumentRequests.SpareReceived",
    ]
    noted = {
        e.document_id
        for e in recorded
        if isinstance(e, DocumentRequests.FulfilmentAccepted | DocumentRequests.SpareAccepted)
    }
    assert noted == {s1, s2, p2}
    spare = recorded[-1]
    assert isinstance(spare, DocumentRequests.SpareReceived)
    assert (spare.request_id, spare.document_id) == (pending_slip_request.id, s4)

    # From then on the requests alone say it: no document of theirs is read again.
    loads.clear()
    before = len(_recorded(documents))
    s5 = documents.upload(BRAND, ASHA, SLIP, "s5.png", PNG + b"s5").id
    assert loads == [s5, requests_id]
    assert _kinds(_recorded(documents)[before:]) == ["Document.Uploaded", "DocumentRequests.SpareReceived"]

    # The pending slip accepted now is recorded with its request: the next copy is no spare.
    documents.review(BRAND, s3, ReviewDecision.ACCEPTED, None)
    loads.clear()
    before = len(_recorded(documents))
    s6 = documents.upload(BRAND, ASHA, SLIP, "s6.png", PNG + b"s6").id
    assert loads == [s6, requests_id] and _kinds(_recorded(documents)[before:]) == ["Document.Uploaded"]

    # The passport rejected: the spare accepted before the change takes its place, and the request is final.
    documents.review(BRAND, p1, ReviewDecision.REJECTED, "expired")
    passport = documents.document_requests(BRAND, ASHA).requests[passport_request]
    assert passport.state is RequestState.FULFILLED and passport.document_id == p2 and passport.accepted
    loads.clear()
    before = len(_recorded(documents))
    p3 = documents.upload(BRAND, ASHA, PASSPORT, "p3.png", PNG + b"p3").id
    assert loads == [p3, requests_id] and _kinds(_recorded(documents)[before:]) == ["Document.Uploaded"]


def test_a_request_from_before_whose_upload_was_accepted_keeps_no_spare(
    documents: Documents, clock: FixedClock
) -> None:
    # The simplest case of the old events: one request, fulfilled, its upload accepted the old way.
    slip = documents.upload(BRAND, ASHA, SLIP, "s.png", PNG + b"s").id
    legacy = with_id(DocumentRequests, document_requests_id(BRAND, ASHA), brand_id=BRAND, customer_id=ASHA)
    legacy.request(uuid.uuid4(), SLIP, None, clock.now())
    legacy.fulfil(SLIP, slip, clock.now())
    documents.save(legacy)
    _accept_as_before(documents, slip)
    before = len(_recorded(documents))
    documents.upload(BRAND, ASHA, SLIP, "t.png", PNG + b"t")
    assert _kinds(_recorded(documents)[before:]) == [
        "Document.Uploaded",
        "DocumentRequests.FulfilmentAccepted",
        "DocumentRequests.AcceptancesCaughtUp",
    ]
    (request,) = documents.document_requests(BRAND, ASHA).requests.values()
    assert request.accepted and request.spares == ()
