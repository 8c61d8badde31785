"""Staff asking a borrower for particular documents (the spec's supporting documents "if requested"): one
`DocumentRequests` per borrower holds every request, each for one kind, open until a document of that kind is
uploaded after it (fulfilled) or staff cancel it; staff rejecting the document that fulfilled it opens it again
(reopened), and the next upload of the kind fulfils it again.

An upload of the kind while the request stands fulfilled by a document not accepted (an accepted one is final) is
kept by the request as a spare (`SpareReceived`): should staff reject the document that fulfilled it, the newest
spare not rejected (pending review or accepted) fulfils it again in the rejection's own save (`Reopened`, then
`Fulfilled` with `in_place_of`), and the borrower is not asked again for what they already sent. A spare staff
reject is dropped (`SpareRejected`, in the rejection's save).

Whether a document is accepted is known here, not by loading it: staff accepting the document that fulfils a request
(or one a request keeps as a spare) record `FulfilmentAccepted` (`SpareAccepted`) in the acceptance's own save, so an
upload decides from the requests alone whether it is a spare. Requests started before that (`Started` without
`records_acceptances`) may name documents accepted unseen: the first upload that needs to know looks at those once
and records what it found, then `AcceptancesCaughtUp` - from then on the requests alone say it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.documents.content import DocumentKind
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, NotFound

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/document-requests")

#: The kinds staff may ask for: every kind a borrower can upload on their documents page (the photo DigiLocker
#: returns is never uploaded by hand).
REQUESTABLE: tuple[DocumentKind, ...] = tuple(kind for kind in DocumentKind if kind is not DocumentKind.AADHAAR_PHOTO)

#: The longest note staff may add to a request (it goes out by SMS too).
NOTE_MAX = 300


class DocumentRequestNotFound(NotFound):
    """Raised when a borrower of the caller's brand has no document request with the id."""


class RequestState(StrEnum):
    """Where one request stands."""

    OPEN = "open"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


def document_requests_id(brand_id: UUID, customer_id: UUID) -> UUID:
    """The id of a borrower's document requests (one per borrower and brand)."""
    return uuid5(_NAMESPACE, f"{brand_id}:{customer_id}")


@dataclass
class RequestedDocument:
    """One request for one kind and where it stands."""

    id: UUID
    kind: DocumentKind
    note: str | None
    requested_at: datetime
    state: RequestState = RequestState.OPEN
    document_id: UUID | None = None  # the upload that fulfilled it (None again once that upload is rejected)
    reopen_reason: str | None = None  # why it was last opened again (the rejection's reason)
    rejected: tuple[UUID, ...] = ()  # the uploads that fulfilled it and were rejected, oldest first
    #: The uploads of its kind made while it stood fulfilled by a document not accepted, and not rejected since,
    #: oldest first: the newest fulfils it again if staff reject that document.
    spares: tuple[UUID, ...] = ()
    #: The document that fulfils it was accepted: final, the request can no longer be reopened (no upload is its
    #: spare). Known for every request once its requests record acceptances (`DocumentRequests.records_acceptances`).
    accepted: bool = False
    #: Its spares staff accepted (a spare taking a rejected document's place leaves the request fulfilled by an
    #: accepted document).
    accepted_spares: tuple[UUID, ...] = ()


class DocumentRequests(Aggregate):
    """A borrower's document requests; at most one open request per kind."""

    id: UUID

    class Started(Aggregate.Created):
        """The borrower's first document request is about to be recorded. With `records_acceptances`, every
        acceptance of a document fulfilling one of its requests or kept as a spare is recorded here
        (`FulfilmentAccepted`, `SpareAccepted`); false on events stored before, until `AcceptancesCaughtUp`."""

        brand_id: UUID
        customer_id: UUID
        records_acceptances: bool = False

    class Requested(Aggregate.Event):
        """Staff asked the borrower (`customer_id`) for a document of `kind`, with an optional note saying what
        exactly."""

        brand_id: UUID
        customer_id: UUID
        request_id: UUID
        kind: DocumentKind
        at: datetime
        note: str | None = None

    class Fulfilled(Aggregate.Event):
        """A document of the kind was uploaded after the request (by the borrower or staff): the request is done.
        With `in_place_of`, the document is a spare (an upload of the kind the request kept while it stood
        fulfilled) taking the place of that one, rejected: recorded right after its `Reopened`, in the rejection's
        save; null for an upload fulfilling the request (and on events stored before spares)."""

        request_id: UUID
        kind: DocumentKind
        document_id: UUID
        at: datetime
        in_place_of: UUID | None = None

    class Reopened(Aggregate.Event):
        """Staff rejected the document that fulfilled the request (`document_id`): the request is open again, the
        borrower asked again with the rejection's `reason` - unless the request kept a spare, whose `Fulfilled`
        (`in_place_of` this document) follows in the same save. Recorded in the rejection's own save."""

        brand_id: UUID
        customer_id: UUID
        request_id: UUID
        kind: DocumentKind
        document_id: UUID
        at: datetime
        reason: str | None = None

    class SpareReceived(Aggregate.Event):
        """A document of the kind (`document_id`) was uploaded while the request stood fulfilled by another not
        accepted: the request keeps it as a spare, to be fulfilled by it should staff reject that one. Recorded in
        the upload's save."""

        request_id: UUID
        kind: DocumentKind
        document_id: UUID
        at: datetime

    class SpareRejected(Aggregate.Event):
        """Staff rejected a spare the request kept (`document_id`): it no longer fulfils the request. Recorded in the
        rejection's save."""

        request_id: UUID
        kind: DocumentKind
        document_id: UUID
        at: datetime

    class FulfilmentAccepted(Aggregate.Event):
        """Staff accepted the document that fulfils the request (`document_id`): final, the request can no longer be
        reopened and no further upload of its kind is its spare. Recorded in the acceptance's save - or, for one
        accepted before the requests recorded acceptances, in the save of the upload that caught them up, just before
        its `AcceptancesCaughtUp` (`at` that upload's instant)."""

        request_id: UUID
        kind: DocumentKind
        document_id: UUID
        at: datetime

    class SpareAccepted(Aggregate.Event):
        """Staff accepted a spare the request keeps (`document_id`): should it take the place of the rejected document
        that fulfils the request, the request stands fulfilled by an accepted document. Recorded as
        `FulfilmentAccepted` is."""

        request_id: UUID
        kind: DocumentKind
        document_id: UUID
        at: datetime

    class AcceptancesCaughtUp(Aggregate.Event):
        """Requests started before acceptances were recorded here: the documents fulfilling them and their spares
        were looked at once, those accepted recorded just before (`FulfilmentAccepted`, `SpareAccepted`, same save);
        from now on every acceptance is recorded here, and an upload decides from the requests alone."""

        at: datetime

    class Cancelled(Aggregate.Event):
        """Staff withdrew an open request (the borrower is no longer asked)."""

        request_id: UUID
        kind: DocumentKind
        at: datetime
        reason: str | None = None

    @event(Started)
    def __init__(self, brand_id: UUID, customer_id: UUID, records_acceptances: bool = False) -> None:
        self.brand_id = brand_id
        self.customer_id = customer_id
        self.requests: dict[UUID, RequestedDocument] = {}
        #: Every acceptance of a document of its requests is recorded here (False: started before, not caught up).
        self.records_acceptances = records_acceptances

    def open_request(self, kind: DocumentKind) -> RequestedDocument | None:
        """The open request for `kind`, if any."""
        return next((r for r in self.requests.values() if r.kind is kind and r.state is RequestState.OPEN), None)

    def request(self, request_id: UUID, kind: DocumentKind, note: str | None, at: datetime) -> None:
        """Ask for a document of `kind` (a Conflict naming the kind while a request for it is open)."""
        if self.open_request(kind) is not None:
            raise Conflict(f"a request for {kind.value} is already open", kind=kind.value)
        self._requested(
            brand_id=self.brand_id, customer_id=self.customer_id, request_id=request_id, kind=kind, at=at, note=note
        )

    @event(Requested)
    def _requested(
        self,
        brand_id: UUID,
        customer_id: UUID,
        request_id: UUID,
        kind: DocumentKind,
        at: datetime,
        note: str | None = None,
    ) -> None:
        self.requests[request_id] = RequestedDocument(request_id, DocumentKind(kind), note, at)

    def fulfil(self, kind: DocumentKind, document_id: UUID, at: datetime) -> bool:
        """Mark the open request for `kind` done by the document (False, nothing recorded, when none is open)."""
        found = self.open_request(kind)
        if found is None:
            return False
        self._fulfilled(request_id=found.id, kind=kind, document_id=document_id, at=at)
        return True

    @event(Fulfilled)
    def _fulfilled(
        self, request_id: UUID, kind: DocumentKind, document_id: UUID, at: datetime, in_place_of: UUID | None = None
    ) -> None:
        found = self.requests[request_id]
        found.state = RequestState.FULFILLED
        found.document_id = document_id
        # An upload is pending review; a spare taking a rejected document's place may have been accepted already.
        found.accepted = document_id in found.accepted_spares
        # A document fulfils one request: it is no longer any request's spare.
        for kept in self.requests.values():
            if document_id in kept.spares:
                kept.spares = tuple(d for d in kept.spares if d != document_id)
                kept.accepted_spares = tuple(d for d in kept.accepted_spares if d != document_id)

    def fulfilled(self, kind: DocumentKind) -> list[RequestedDocument]:
        """The requests for `kind` that stand fulfilled, oldest first."""
        return [r for r in self.requests.values() if r.kind is kind and r.state is RequestState.FULFILLED]

    def keep_spare(self, request_id: UUID, document_id: UUID, at: datetime) -> bool:
        """Keep an upload of the request's kind, made while the request stands fulfilled, as its spare (False,
        nothing recorded, when the request is not fulfilled or the document is already its own or its spare)."""
        found = self.requests[request_id]
        if found.state is not RequestState.FULFILLED or document_id == found.document_id or document_id in found.spares:
            return False
        self._spare_received(request_id=request_id, kind=found.kind, document_id=document_id, at=at)
        return True

    @event(SpareReceived)
    def _spare_received(self, request_id: UUID, kind: DocumentKind, document_id: UUID, at: datetime) -> None:
        found = self.requests[request_id]
        found.spares = (*found.spares, document_id)

    def spare_wanted(self, kind: DocumentKind) -> list[RequestedDocument]:
        """The requests for `kind` that stand fulfilled by a document not accepted, oldest first: each keeps an
        upload of the kind as its spare. Only when the requests record acceptances (else a ValueError: catch them up
        first)."""
        if not self.records_acceptances:
            raise ValueError("the requests do not record acceptances yet; catch them up first")
        return [r for r in self.fulfilled(kind) if not r.accepted]

    def unsure_acceptances(self) -> list[UUID]:
        """The documents fulfilling a request or kept as spares not known to be accepted: the ones an acceptance
        before `records_acceptances` may have left unseen (empty once the requests record acceptances)."""
        if self.records_acceptances:
            return []
        unsure: list[UUID] = []
        for r in self.requests.values():
            if r.state is RequestState.FULFILLED and r.document_id is not None and not r.accepted:
                unsure.append(r.document_id)
            unsure.extend(d for d in r.spares if d not in r.accepted_spares)
        return list(dict.fromkeys(unsure))

    def catch_up_acceptances(self, accepted: set[UUID], at: datetime) -> bool:
        """Record which of `unsure_acceptances` were accepted (`accepted`, as their documents say), then that the
        requests record acceptances from now on (False, nothing recorded, when they already do)."""
        if self.records_acceptances:
            return False
        for document_id in self.unsure_acceptances():
            if document_id in accepted:
                self.note_accepted(document_id, at)
        self._acceptances_caught_up(at=at)
        return True

    @event(AcceptancesCaughtUp)
    def _acceptances_caught_up(self, at: datetime) -> None:
        self.records_acceptances = True

    def note_accepted(self, document_id: UUID, at: datetime) -> bool:
        """What staff accepting the document does to the requests: the request it fulfils knows it final
        (`FulfilmentAccepted`), a request keeping it as a spare knows it accepted (`SpareAccepted`). False, nothing
        recorded, when it fulfils no request and is no spare (or that is known already)."""
        noted = False
        for r in self.requests.values():
            if r.state is RequestState.FULFILLED and r.document_id == document_id and not r.accepted:
                self._fulfilment_accepted(request_id=r.id, kind=r.kind, document_id=document_id, at=at)
                noted = True
            elif document_id in r.spares and document_id not in r.accepted_spares:
                self._spare_accepted(request_id=r.id, kind=r.kind, document_id=document_id, at=at)
                noted = True
        return noted

    @event(FulfilmentAccepted)
    def _fulfilment_accepted(self, request_id: UUID, kind: DocumentKind, document_id: UUID, at: datetime) -> None:
        self.requests[request_id].accepted = True

    @event(SpareAccepted)
    def _spare_accepted(self, request_id: UUID, kind: DocumentKind, document_id: UUID, at: datetime) -> None:
        found = self.requests[request_id]
        found.accepted_spares = (*found.accepted_spares, document_id)

    def fulfilled_by(self, document_id: UUID) -> RequestedDocument | None:
        """The request the document fulfilled and that still stands fulfilled, if any."""
        return next(
            (r for r in self.requests.values() if r.state is RequestState.FULFILLED and r.document_id == document_id),
            None,
        )

    def reopen(self, document_id: UUID, reason: str | None, at: datetime) -> RequestedDocument | None:
        """What staff rejecting the document does to the requests: the request it fulfilled is opened again
        (`Reopened`) and, when it kept a spare, fulfilled at once by the newest (`Fulfilled` in place of the
        rejected one); a request that kept the document as a spare drops it (`SpareRejected`). Returns the request
        left open, whose borrower is to be asked again (None: nobody is - the document fulfilled no request, a spare
        took its place, or another request of its kind is open and asks the borrower already, which leaves the one
        it fulfilled as it stands)."""
        for kept in self.requests.values():
            if document_id in kept.spares:
                self._spare_rejected(request_id=kept.id, kind=kept.kind, document_id=document_id, at=at)
        found = self.fulfilled_by(document_id)
        if found is None:
            return None
        spare = found.spares[-1] if found.spares else None
        if spare is None and self.open_request(found.kind) is not None:
            return None
        self._reopened(
            brand_id=self.brand_id,
            customer_id=self.customer_id,
            request_id=found.id,
            kind=found.kind,
            document_id=document_id,
            at=at,
            reason=reason,
        )
        if spare is None:
            return found
        self._fulfilled(request_id=found.id, kind=found.kind, document_id=spare, at=at, in_place_of=document_id)
        return None

    @event(SpareRejected)
    def _spare_rejected(self, request_id: UUID, kind: DocumentKind, document_id: UUID, at: datetime) -> None:
        found = self.requests[request_id]
        found.spares = tuple(d for d in found.spares if d != document_id)
        found.accepted_spares = tuple(d for d in found.accepted_spares if d != document_id)

    @event(Reopened)
    def _reopened(
        self,
        brand_id: UUID,
        customer_id: UUID,
        request_id: UUID,
        kind: DocumentKind,
        document_id: UUID,
        at: datetime,
        reason: str | None = None,
    ) -> None:
        found = self.requests[request_id]
        found.state = RequestState.OPEN
        found.document_id = None
        found.accepted = False
        found.reopen_reason = reason
        found.rejected = (*found.rejected, document_id)

    def cancel(self, request_id: UUID, reason: str | None, at: datetime) -> None:
        """Withdraw an open request (a fulfilled or cancelled one is a Conflict)."""
        found = self.requests.get(request_id)
        if found is None:
            raise DocumentRequestNotFound(f"document request {request_id} not found", id=str(request_id))
        if found.state is not RequestState.OPEN:
            raise Conflict(f"the request was already {found.state.value}", id=str(request_id), state=found.state.value)
        self._cancelled(request_id=request_id, kind=found.kind, at=at, reason=reason)

    @event(Cancelled)
    def _cancelled(self, request_id: UUID, kind: DocumentKind, at: datetime, reason: str | None = None) -> None:
        self.requests[request_id].state = RequestState.CANCELLED
