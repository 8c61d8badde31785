"""A borrower's document requests: one open request per kind, fulfilled by a document of the kind, cancelled by
staff; replayed from their events to the same state."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.documents.content import DocumentKind as K
from domain.documents.document_request import DocumentRequestNotFound, DocumentRequests, RequestState
from domain.shared.aggregate import with_id
from domain.shared.errors import Conflict

AT = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def _requests() -> DocumentRequests:
    return with_id(DocumentRequests, uuid4(), brand_id=uuid4(), customer_id=uuid4())


def test_a_kind_may_have_one_open_request_and_is_asked_again_once_fulfilled() -> None:
    requests = _requests()
    first = uuid4()
    requests.request(first, K.SALARY_SLIP, "last two months", AT)
    with pytest.raises(Conflict):
        requests.request(uuid4(), K.SALARY_SLIP, None, AT)
    document = uuid4()
    assert requests.fulfil(K.VOTER_ID, uuid4(), AT) is False  # no request of that kind: nothing recorded
    assert requests.fulfil(K.SALARY_SLIP, document, AT) is True
    assert requests.requests[first].state is RequestState.FULFILLED and requests.requests[first].document_id == document
    assert requests.fulfil(K.SALARY_SLIP, uuid4(), AT) is False
    requests.request(uuid4(), K.SALARY_SLIP, None, AT)
    assert requests.open_request(K.SALARY_SLIP) is not None


def test_cancel_withdraws_an_open_request_only() -> None:
    requests = _requests()
    asked = uuid4()
    requests.request(asked, K.PASSPORT, None, AT)
    with pytest.raises(DocumentRequestNotFound):
        requests.cancel(uuid4(), None, AT)
    requests.cancel(asked, "sent by email", AT)
    assert requests.requests[asked].state is RequestState.CANCELLED and requests.open_request(K.PASSPORT) is None
    with pytest.raises(Conflict):
        requests.cancel(asked, None, AT)


def test_replaying_the_events_gives_the_same_requests() -> None:
    requests = _requests()
    kept, done = uuid4(), uuid4()
    requests.request(kept, K.RENT_AGREEMENT, "signed", AT)
    requests.request(done, K.UTILITY_BILL, None, AT)
    requests.fulfil(K.UTILITY_BILL, uuid4(), AT)
    events = requests.collect_events()
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert isinstance(replayed, DocumentRequests)
    assert {i: (r.kind, r.state, r.note) for i, r in replayed.requests.items()} == {
        kept: (K.RENT_AGREEMENT, RequestState.OPEN, "signed"),
        done: (K.UTILITY_BILL, RequestState.FULFILLED, None),
    }


def test_rejecting_the_upload_that_fulfilled_a_request_opens_it_again_and_replays_so() -> None:
    requests = _requests()
    asked, rejected, again = uuid4(), uuid4(), uuid4()
    requests.request(asked, K.SALARY_SLIP, "last two months", AT)
    requests.fulfil(K.SALARY_SLIP, rejected, AT)
    assert requests.reopen(uuid4(), "blurred", AT) is None  # a document that fulfilled nothing: nothing recorded
    reopened = requests.reopen(rejected, "blurred", AT)
    assert reopened is not None and reopened.id == asked
    assert requests.open_request(K.SALARY_SLIP) is reopened and reopened.document_id is None
    assert reopened.reopen_reason == "blurred" and reopened.rejected == (rejected,)
    assert requests.reopen(rejected, "again", AT) is None  # open already: nothing recorded
    assert requests.fulfil(K.SALARY_SLIP, again, AT) is True and reopened.document_id == again
    replayed = None
    for e in requests.collect_events():
        replayed = e.mutate(replayed)
    assert isinstance(replayed, DocumentRequests)
    back = replayed.requests[asked]
    assert (back.state, back.document_id, back.reopen_reason, back.rejected) == (
        RequestState.FULFILLED,
        again,
        "blurred",
        (rejected,),
    )


def test_a_rejection_reopens_nothing_while_another_request_of_the_kind_is_open() -> None:
    requests = _requests()
    first, document = uuid4(), uuid4()
    requests.request(first, K.PASSPORT, None, AT)
    requests.fulfil(K.PASSPORT, document, AT)
    requests.request(uuid4(), K.PASSPORT, "the back page too", AT)  # asked again already
    assert requests.reopen(document, "expired", AT) is None
    assert requests.requests[first].state is RequestState.FULFILLED


def _replayed(requests: DocumentRequests) -> DocumentRequests:
    replayed = None
    for e in requests.collect_events():
        replayed = e.mutate(replayed)
    assert isinstance(replayed, DocumentRequests)
    return replayed


def test_a_rejection_passes_the_request_to_its_newest_spare_until_none_is_left_and_replays_so() -> None:
    requests = _requests()
    asked, first, second, third = uuid4(), uuid4(), uuid4(), uuid4()
    requests.request(asked, K.SALARY_SLIP, None, AT)
    assert requests.keep_spare(asked, first, AT) is False  # open: an upload fulfils it instead
    requests.fulfil(K.SALARY_SLIP, first, AT)
    assert requests.keep_spare(asked, first, AT) is False  # its own document is no spare
    assert requests.keep_spare(asked, second, AT) is True and requests.keep_spare(asked, third, AT) is True
    assert requests.requests[asked].spares == (second, third)

    # The first rejected: reopened, then fulfilled at once by the newest spare; nobody to ask again.
    assert requests.reopen(first, "blurred", AT) is None
    found = requests.requests[asked]
    assert (found.state, found.document_id, found.rejected, found.spares) == (
        RequestState.FULFILLED,
        third,
        (first,),
        (second,),
    )
    refulfilled = requests.pending_events[-1]
    assert isinstance(refulfilled, DocumentRequests.Fulfilled) and refulfilled.in_place_of == first
    assert isinstance(requests.pending_events[-2], DocumentRequests.Reopened)
    # The third rejected: the second takes its place; the second rejected: open, the borrower to be asked.
    assert requests.reopen(third, "cut off", AT) is None and found.document_id == second and found.spares == ()
    assert requests.reopen(second, "wrong month", AT) is found
    assert found.state is RequestState.OPEN and found.rejected == (first, third, second)

    back = _replayed(requests).requests[asked]
    assert (back.state, back.document_id, back.rejected, back.spares, back.reopen_reason) == (
        RequestState.OPEN,
        None,
        (first, third, second),
        (),
        "wrong month",
    )


def test_a_rejected_spare_is_dropped_and_a_spare_fulfils_one_request_only() -> None:
    requests = _requests()
    older, newer = uuid4(), uuid4()
    requests.request(older, K.UTILITY_BILL, None, AT)
    requests.fulfil(K.UTILITY_BILL, a := uuid4(), AT)
    requests.request(newer, K.UTILITY_BILL, "this month's", AT)
    requests.fulfil(K.UTILITY_BILL, b := uuid4(), AT)
    spare, rejected_spare = uuid4(), uuid4()
    for request_id in (older, newer):
        requests.keep_spare(request_id, spare, AT)
        requests.keep_spare(request_id, rejected_spare, AT)

    # A spare rejected leaves every request that kept it (and reopens nothing: it fulfilled none).
    assert requests.reopen(rejected_spare, "not a bill", AT) is None
    dropped = [e for e in requests.pending_events if isinstance(e, DocumentRequests.SpareRejected)]
    assert {e.request_id for e in dropped} == {older, newer}
    assert requests.requests[older].spares == requests.requests[newer].spares == (spare,)
    # The spare fulfils the first request whose document is rejected, and is no longer the other's.
    assert requests.reopen(a, "expired", AT) is None
    assert requests.requests[older].document_id == spare and requests.requests[newer].spares == ()
    assert requests.reopen(b, "expired", AT) is requests.requests[newer]
    assert requests.open_request(K.UTILITY_BILL) is requests.requests[newer]
    assert _replayed(requests).requests[older].document_id == spare


def test_a_request_with_a_spare_is_fulfilled_by_it_even_while_another_of_the_kind_is_open() -> None:
    requests = _requests()
    first, document, spare = uuid4(), uuid4(), uuid4()
    requests.request(first, K.PASSPORT, None, AT)
    requests.fulfil(K.PASSPORT, document, AT)
    requests.keep_spare(first, spare, AT)
    requests.request(second := uuid4(), K.PASSPORT, "the back page too", AT)
    # Not left pointing at the rejected document: the spare (sent before the second request) takes its place.
    assert requests.reopen(document, "expired", AT) is None
    assert requests.requests[first].state is RequestState.FULFILLED and requests.requests[first].document_id == spare
    assert requests.open_request(K.PASSPORT) is requests.requests[second]


def test_acceptances_are_known_to_the_requests_and_replay_so() -> None:
    requests = with_id(DocumentRequests, uuid4(), brand_id=uuid4(), customer_id=uuid4(), records_acceptances=True)
    final, waiting = uuid4(), uuid4()
    requests.request(final, K.SALARY_SLIP, None, AT)
    requests.fulfil(K.SALARY_SLIP, accepted := uuid4(), AT)
    requests.request(waiting, K.SALARY_SLIP, None, AT)
    requests.fulfil(K.SALARY_SLIP, pending := uuid4(), AT)
    requests.keep_spare(waiting, spare := uuid4(), AT)
    assert requests.note_accepted(uuid4(), AT) is False  # neither fulfils a request nor is a spare: nothing recorded
    assert requests.note_accepted(accepted, AT) is True and requests.note_accepted(accepted, AT) is False
    assert requests.note_accepted(spare, AT) is True
    assert [r.id for r in requests.spare_wanted(K.SALARY_SLIP)] == [waiting]  # the accepted one is final
    assert requests.unsure_acceptances() == []  # known from the start

    # The pending one rejected: the accepted spare takes its place, and the request is final too.
    assert requests.reopen(pending, "blurred", AT) is None
    assert requests.requests[waiting].document_id == spare and requests.requests[waiting].accepted
    assert requests.spare_wanted(K.SALARY_SLIP) == []
    back = _replayed(requests)
    assert back.records_acceptances
    assert {i: (r.document_id, r.accepted) for i, r in back.requests.items()} == {
        final: (accepted, True),
        waiting: (spare, True),
    }


def test_requests_started_before_acceptances_were_recorded_are_caught_up_once() -> None:
    requests = _requests()  # `Started` without `records_acceptances`, as stored before
    asked, other = uuid4(), uuid4()
    requests.request(asked, K.PASSPORT, None, AT)
    requests.fulfil(K.PASSPORT, document := uuid4(), AT)
    requests.keep_spare(asked, spare := uuid4(), AT)
    requests.request(other, K.VOTER_ID, None, AT)
    requests.fulfil(K.VOTER_ID, voter := uuid4(), AT)
    assert not requests.records_acceptances
    with pytest.raises(ValueError):
        requests.spare_wanted(K.PASSPORT)  # unknown: catch them up first
    assert requests.unsure_acceptances() == [document, spare, voter]

    assert requests.catch_up_acceptances({spare, voter}, AT) is True
    kinds = [type(e).__qualname__ for e in requests.pending_events[-3:]]
    assert kinds == [
        "DocumentRequests.SpareAccepted",
        "DocumentRequests.FulfilmentAccepted",
        "DocumentRequests.AcceptancesCaughtUp",
    ]
    assert requests.catch_up_acceptances({document}, AT) is False  # once
    assert requests.unsure_acceptances() == []
    assert [r.id for r in requests.spare_wanted(K.PASSPORT)] == [asked] and requests.spare_wanted(K.VOTER_ID) == []
    back = _replayed(requests)
    assert (
        back.records_acceptances and back.requests[other].accepted and back.requests[asked].accepted_spares == (spare,)
    )
