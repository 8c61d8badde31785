"""A repayment notice pulled from an external loan system: one aggregate per (source, source notice id)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

from domain.notices.matching import band_of
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, FieldError, InvalidInput, NotFound

_NOTICE_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/notice")

#: The length of a staff member's reason for confirming, correcting or removing a match.
MIN_CONFIRM_REASON, MAX_CONFIRM_REASON = 3, 300

#: The `expected_customer_id` of a caller who saw the notice matched to nobody (the notice page's forms on an
#: unmatched notice): a notice matched to a borrower since is a conflict, as for any other borrower seen.
NO_BORROWER = UUID(int=0)


class NoticeNotFound(NotFound):
    """Raised when no notice has the id within the brand (or the caller may not see its company)."""


class NoticeMode(StrEnum):
    """Whether the instalment is already overdue or still upcoming."""

    OVERDUE = "overdue"
    UPCOMING = "upcoming"


class NoticeFacts(BaseModel):
    """What the source says about the instalment; a change of any of these is a change of the notice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loan_number: str
    customer_name: str
    phone: str
    phone_e164: str | None
    due_date: date
    instalment_no: int
    amount_due: Decimal
    days_overdue: int
    mode: NoticeMode
    source_updated_at: datetime | None = None

    def differs_from(self, other: NoticeFacts) -> list[str]:
        """Names of the fields that differ (the source's own timestamp alone is not a change)."""
        return [
            name
            for name in type(self).model_fields
            if name != "source_updated_at" and getattr(self, name) != getattr(other, name)
        ]

    def identity_differs_from(self, other: NoticeFacts) -> bool:
        """True when what matching looks at (loan number, phone, name) changed."""
        return (self.loan_number, self.phone_e164, self.customer_name) != (
            other.loan_number,
            other.phone_e164,
            other.customer_name,
        )


class MatchCandidate(BaseModel):
    """A borrower record considered for the notice, with its score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: UUID
    confidence: int
    methods: list[str]


class Match(BaseModel):
    """The notice's best borrower (None when nothing scored above the floor), confidence 0-100 and band."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: UUID | None
    confidence: int
    band: str
    methods: list[str]
    candidates: list[MatchCandidate] = []

    def unmatched(self) -> Match:
        """No borrower, with the same candidates for staff to review."""
        return Match(customer_id=None, confidence=0, band="unmatched", methods=[], candidates=list(self.candidates))

    def same_as(self, other: Match | None) -> bool:
        """True when nothing a user would see differs."""
        return (
            other is not None
            and (self.customer_id, self.confidence, self.band, self.methods)
            == (
                other.customer_id,
                other.confidence,
                other.band,
                other.methods,
            )
            and [c.customer_id for c in self.candidates] == [c.customer_id for c in other.candidates]
        )


def notice_id_for(source_id: UUID, source_notice_id: str) -> UUID:
    """The notice aggregate's id: one per (source, the source's notice id), so re-imports find it."""
    return uuid5(_NOTICE_NAMESPACE, f"{source_id}:{source_notice_id}")


class Observation(StrEnum):
    """What a pull found about a notice."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REACTIVATED = "reactivated"


class Notice(Aggregate):
    """A notice as its source reports it, whether it is still current, and the borrower it is matched to."""

    id: UUID  # Passed in (uuid5 of source and source notice id).

    #: Borrowers a staff member removed from the notice's match (`MatchRemoved`): automatic matching never picks one
    #: of them again (a staff member may still confirm one). A class default too: notices from before it have none.
    excluded_customer_ids: tuple[UUID, ...] = ()

    class Imported(Aggregate.Created):
        """First seen in a pull."""

        brand_id: UUID
        source_id: UUID
        company: str
        source_notice_id: str
        facts: NoticeFacts
        run_id: UUID | None

    class Changed(Aggregate.Event):
        """The source reported different facts (amount, due date, days overdue, mode, ...)."""

        previous: NoticeFacts
        facts: NoticeFacts
        fields: list[str]
        run_id: UUID | None

    class MarkedInactive(Aggregate.Event):
        """A complete pull of its mode no longer listed it (paid, rescheduled or withdrawn at the source)."""

        run_id: UUID | None
        mode: NoticeMode
        amount_due: Decimal

    class Reactivated(Aggregate.Event):
        """It reappeared in a pull after being marked inactive."""

        previous: NoticeFacts
        facts: NoticeFacts
        run_id: UUID | None

    class Matched(Aggregate.Event):
        """Matched (or rematched, or left unmatched) to a borrower record."""

        match: Match
        reason: str

    class MatchConfirmed(Aggregate.Event):
        """A staff member confirmed the match to a borrower record, or corrected it to another borrower of the
        brand; their reason is recorded (the actor is the event's). Automatic rematching leaves it in place."""

        match: Match
        previous_customer_id: UUID | None
        reason: str

    class MatchRemoved(Aggregate.Event):
        """A staff member took the notice's match back (an automatic guess or a staff member's match): the notice is
        unmatched, its candidates kept, and automatic matching may match it again, but never to the borrower removed
        (`previous_customer_id`). Their reason is recorded (the actor is the event's)."""

        match: Match
        previous_customer_id: UUID
        was_confirmed: bool
        reason: str

    @event(Imported)
    def __init__(
        self,
        brand_id: UUID,
        source_id: UUID,
        company: str,
        source_notice_id: str,
        facts: NoticeFacts,
        run_id: UUID | None,
    ) -> None:
        self.brand_id = brand_id
        self.source_id = source_id
        self.company = company
        self.source_notice_id = source_notice_id
        self.facts = facts
        self.active = True
        self.match: Match | None = None
        self.confirmed = False  # a staff member's match: automatic rematching leaves it in place

    def observe(self, facts: NoticeFacts, run_id: UUID | None) -> Observation:
        """Take what a pull says now; an unchanged notice records nothing."""
        if not self.active:
            self._reactivated(previous=self.facts, facts=facts, run_id=run_id)
            return Observation.REACTIVATED
        changed = facts.differs_from(self.facts)
        if not changed:
            return Observation.UNCHANGED
        self._changed(previous=self.facts, facts=facts, fields=changed, run_id=run_id)
        return Observation.UPDATED

    @event(Changed)
    def _changed(self, previous: NoticeFacts, facts: NoticeFacts, fields: list[str], run_id: UUID | None) -> None:
        self.facts = facts

    @event(Reactivated)
    def _reactivated(self, previous: NoticeFacts, facts: NoticeFacts, run_id: UUID | None) -> None:
        self.facts = facts
        self.active = True

    def mark_inactive(self, run_id: UUID | None) -> bool:
        """No longer listed by its source; False when already inactive."""
        if not self.active:
            return False
        self._marked_inactive(run_id=run_id, mode=self.facts.mode, amount_due=self.facts.amount_due)
        return True

    @event(MarkedInactive)
    def _marked_inactive(self, run_id: UUID | None, mode: NoticeMode, amount_due: Decimal) -> None:
        self.active = False

    def record_match(self, match: Match, reason: str) -> bool:
        """Record the matching outcome; False (nothing recorded) when it is what is already recorded, or when a
        staff member confirmed the match (their decision stands until one of them changes it). A borrower a staff
        member removed from the notice is not matched again: that outcome is recorded as unmatched (the next-best
        candidate is not promoted: the evidence that picked the removed borrower is in doubt)."""
        if self.confirmed:
            return False
        if match.customer_id is not None and match.customer_id in self.excluded_customer_ids:
            match = match.unmatched()
        if match.same_as(self.match):
            return False
        self._matched(match=match, reason=reason)
        return True

    @event(Matched)
    def _matched(self, match: Match, reason: str) -> None:
        self.match = match

    def confirm_match(self, customer_id: UUID, reason: str, expected_customer_id: UUID | None = None) -> bool:
        """Confirm the match to `customer_id` (a borrower record of the brand, checked by the caller), or correct
        it to that borrower: its confidence and methods are the scoring's for that borrower when it was a
        candidate, else 0 (nothing the source says points at it). False when already confirmed to that borrower.
        `expected_customer_id`: the borrower the caller saw matched (`NO_BORROWER`: none); another one now is a
        conflict (409)."""
        text = _reason(reason)
        current = self.match.customer_id if self.match else None
        self._check_shown(current, expected_customer_id)
        if self.confirmed and current == customer_id:
            return False
        candidates = list(self.match.candidates) if self.match else []
        scored = next((c for c in candidates if c.customer_id == customer_id), None)
        confidence = scored.confidence if scored else 0
        match = Match(
            customer_id=customer_id,
            confidence=confidence,
            band=band_of(confidence),
            methods=list(scored.methods) if scored else [],
            candidates=candidates,
        )
        self._match_confirmed(match=match, previous_customer_id=current, reason=text)
        return True

    @event(MatchConfirmed)
    def _match_confirmed(self, match: Match, previous_customer_id: UUID | None, reason: str) -> None:
        self.match = match
        self.confirmed = True
        if match.customer_id in self.excluded_customer_ids:  # a staff member's choice lifts an earlier removal
            self.excluded_customer_ids = tuple(c for c in self.excluded_customer_ids if c != match.customer_id)

    def _check_shown(self, current: UUID | None, expected_customer_id: UUID | None) -> None:
        """A match decision is refused (409) when the borrower the caller saw matched (`NO_BORROWER`: none; None:
        not checked) is not the one matched now."""
        if expected_customer_id is not None and (current or NO_BORROWER) != expected_customer_id:
            raise Conflict(
                "the notice was matched to another borrower since you opened it, so nothing was saved",
                id=str(self.id),
            )

    def remove_match(self, reason: str, expected_customer_id: UUID | None = None) -> None:
        """Take the match back: the notice becomes unmatched (candidates kept), no longer confirmed, and automatic
        matching never picks the removed borrower again. A notice matched to nobody is a conflict (409: nothing to
        take back), as is `expected_customer_id` (the borrower the caller saw matched) not being the one now."""
        text = _reason(reason)
        current = self.match.customer_id if self.match else None
        self._check_shown(current, expected_customer_id)
        if self.match is None or current is None:
            raise Conflict("the notice is not matched to a borrower: there is no match to remove", id=str(self.id))
        self._match_removed(
            match=self.match.unmatched(), previous_customer_id=current, was_confirmed=self.confirmed, reason=text
        )

    @event(MatchRemoved)
    def _match_removed(self, match: Match, previous_customer_id: UUID, was_confirmed: bool, reason: str) -> None:
        self.match = match
        self.confirmed = False
        if previous_customer_id not in self.excluded_customer_ids:
            self.excluded_customer_ids = (*self.excluded_customer_ids, previous_customer_id)


def _reason(reason: str) -> str:
    """A staff member's reason for a match decision, whitespace runs folded: MIN_CONFIRM_REASON to MAX_CONFIRM_REASON
    characters, else InvalidInput naming `reason`."""
    text = " ".join(reason.split())
    if not MIN_CONFIRM_REASON <= len(text) <= MAX_CONFIRM_REASON:
        raise InvalidInput(
            [FieldError("reason", f"say why in {MIN_CONFIRM_REASON} to {MAX_CONFIRM_REASON} characters")]
        )
    return text
