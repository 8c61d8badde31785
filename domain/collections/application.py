"""Use cases of the collections context: contacts, promises to pay, the move to legal, reallocation, and the
batches the close-of-business sweep records (`workers/collection_jobs.py` decides them, set-based)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID, uuid4

from domain.collections.case import (
    CallDetails,
    Channel,
    CollectionCase,
    CollectionCaseNotFound,
    Contact,
    Outcome,
    Owed,
    Promise,
    PromiseTally,
    PtpStatus,
    Stage,
    case_id,
    check_contact,
)
from domain.collections.moves import BATCH, CaseMoves, CollectionDay, Move, MoveKind, day_id
from domain.loans.states import SERVICING_CODES, LoanStatus, status_words
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication
from domain.shared.errors import Conflict, InvalidValue
from domain.shared.values import MIN_REASON, MONEY, clean_text

#: The loans that owe money to collect: being repaid, or written off (what comes in then is a recovery).
OWING = (*SERVICING_CODES, LoanStatus.WRITTEN_OFF.value)


@dataclass(frozen=True)
class LoanFacts:
    """What collections needs of a loan: its brand's business date and its status."""

    loan_id: UUID
    status: str
    business_date: date


@dataclass(frozen=True)
class OpenCase:
    """A loan's place in collections as the read model shows it."""

    loan_id: UUID
    stage: Stage
    assignee: UUID | None


class CollectionParties(Protocol):
    """What collections asks of the other contexts (answered in workers/contexts/collections.py)."""

    def loan(self, brand_id: UUID, loan_id: UUID) -> LoanFacts | None: ...

    def can_collect(self, brand_id: UUID, staff_id: UUID, stage: Stage) -> bool: ...

    def open_cases(self, brand_id: UUID, loan_ids: Sequence[UUID]) -> Mapping[UUID, OpenCase]: ...

    def owed(self, brand_id: UUID, loan_id: UUID, on: date) -> Owed:
        """What the loan owes on `on` (its payoff as of that date, ...); InvalidValue naming `date` for a date too
        far ahead to quote."""
        ...

    def assignments(self, brand_id: UUID) -> AbstractContextManager[Callable[[int], None]]:
        """Hold the brand's case assignments for one command that reads them and records moves: another waits until
        it ends (a Conflict when it waits too long). Call the yielded function with the log position of the moves
        recorded: `open_cases` shows them before the hold ends, so the next holder moves from there."""
        ...


def _remarks(raw: str, field: str = "remarks") -> str:
    clean = clean_text(raw, field, multiline=True, min_visible=0)
    return clean[:2000]


#: How many times logging a contact tries again when another command changed the loan's case first.
CONTACT_ATTEMPTS = 3


class Collections(ContextApplication):
    """Contacts, promises, legal moves and allocation of a brand's loans in collections."""

    name = "collections"

    def __init__(
        self, env: dict[str, str] | None = None, clock: object | None = None, parties: CollectionParties | None = None
    ) -> None:
        super().__init__(env, clock)  # type: ignore[arg-type]
        self.parties = parties

    def _parties(self) -> CollectionParties:
        if self.parties is None:
            raise RuntimeError("collections was built without its parties")
        return self.parties

    def _facts(self, brand_id: UUID, loan_id: UUID) -> LoanFacts:
        facts = self._parties().loan(brand_id, loan_id)
        if facts is None:
            raise CollectionCaseNotFound(f"loan {loan_id} not found", id=str(loan_id))
        return facts

    def case(self, brand_id: UUID, loan_id: UUID) -> CollectionCase:
        """The loan's case (opened, not yet saved, when it has none)."""
        found = self.find(case_id(brand_id, loan_id))
        if isinstance(found, CollectionCase):
            if found.brand_id != brand_id:
                raise CollectionCaseNotFound(f"loan {loan_id} not found", id=str(loan_id))
            return found
        self._facts(brand_id, loan_id)
        return with_id(CollectionCase, case_id(brand_id, loan_id), brand_id=brand_id, loan_id=loan_id)

    def log_contact(
        self,
        brand_id: UUID,
        loan_id: UUID,
        outcome: Outcome,
        remarks: str,
        callback_at: datetime | None = None,
        *,
        staff_id: UUID | None = None,
        channel: Channel = Channel.MANUAL,
        call: CallDetails | None = None,
    ) -> CommandResult:
        """Log a contact with the borrower of a loan of the brand (the result's id is the contact's). Other contexts call this too: the dialer's webhook
        logs each call (channel `dialer`, the call's id, status, duration and recording link; a call id already
        logged is a 409), field visits log theirs (channel `field`)."""
        callback_at = check_contact(outcome, callback_at, self.clock.now())
        text = _remarks(remarks)
        contact = Contact(contact_id=uuid4(), outcome=outcome, remarks=text, callback_at=callback_at, channel=channel,
                          staff_id=staff_id, call=call)  # fmt: skip
        for attempt in range(1, CONTACT_ATTEMPTS + 1):
            record = self.case(brand_id, loan_id)
            record.log_contact(contact)
            try:
                return replace(self.commit(record), id=contact.contact_id)
            except ConcurrentModification:
                # Contacts commute: one that lost to another change of the case (two executives logging calls at
                # once, the case's first contact made twice) is logged again on the case as it now is; the case's
                # own rules (a call logged once) are checked again there.
                if attempt == CONTACT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def attach_evidence(self, brand_id: UUID, loan_id: UUID, contact_id: UUID, document_id: UUID) -> CommandResult:
        """Attach an uploaded document (documents context) to a contact (once: the same document again changes
        nothing). Attachments commute with the case's other changes: one that lost to another change (a call logged
        meanwhile) is made again on the case as it now is, rather than refused after its document was stored, which
        left that file unattachable (uploaded again, it was a conflict)."""
        for attempt in range(1, CONTACT_ATTEMPTS + 1):
            found = self.find(case_id(brand_id, loan_id))
            if not isinstance(found, CollectionCase) or found.brand_id != brand_id:
                raise CollectionCaseNotFound(f"contact {contact_id} not found", id=str(contact_id))
            found.attach_evidence(contact_id, document_id)
            try:
                return self.commit(found)
            except ConcurrentModification:
                if attempt == CONTACT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def promise(
        self, brand_id: UUID, loan_id: UUID, due_on: date, amount: Decimal | str, staff_id: UUID | None = None
    ) -> CommandResult:
        """Record a promise to pay `amount` by `due_on` (not before the brand's business date) on a loan that owes
        money (`OWING`; 409 otherwise), of at most what the loan owes on `due_on` (its payoff as of that date, or
        what is left of a settlement or to recover: 422 `amount`); the result's id is the promise's. `amount` as the
        portal's form gives it is read by the shared MONEY rule, as every amount is (422 `amount`: `1e3`, `-5`)."""
        money = MONEY.parse(amount, "amount")
        facts = self._facts(brand_id, loan_id)
        if facts.status not in OWING:
            raise Conflict(
                f"a promise to pay is made on a loan being repaid or written off; this one is {status_words(facts.status)}",
                status=facts.status,
            )
        record = self.case(brand_id, loan_id)
        promise = Promise(ptp_id=uuid4(), due_on=due_on, amount=money, made_on=facts.business_date, staff_id=staff_id)
        # A payoff is quoted for a date not before today (the case refuses an earlier one) and not beyond a horizon.
        owed = self._parties().owed(brand_id, loan_id, due_on) if money > 0 and due_on >= promise.made_on else None
        record.promise(promise, owed)
        return replace(self.commit(record), id=promise.ptp_id)

    def judge_promises(self, brand_id: UUID, day: date, tallies: Sequence[PromiseTally]) -> dict[str, int]:
        """Judge the promises due by `day` by what the loans' books show for each (`CollectionCase.judge`): the open
        ones, and those judged within `REJUDGE_DAYS` whose figures have changed since. How many were judged and how
        many judged again; the cases are saved 200 at a time."""
        by_loan: dict[UUID, dict[UUID, PromiseTally]] = {}
        for tally in tallies:
            by_loan.setdefault(tally.loan_id, {})[tally.ptp_id] = tally
        ids = [case_id(brand_id, loan_id) for loan_id in by_loan]
        counts = {"judged": 0, "rejudged": 0}
        for start in range(0, len(ids), 200):
            changed = []
            for record in self.find_many(ids[start : start + 200]).values():
                if not isinstance(record, CollectionCase) or record.brand_id != brand_id:
                    continue
                touched = False
                mine = by_loan.get(record.loan_id, {})
                for promise in list(record.promises.values()):  # in the order they were made
                    found = mine.get(promise.ptp_id)
                    if found is not None and record.judge(found, day):
                        counts["judged" if promise.status is PtpStatus.OPEN else "rejudged"] += 1
                        touched = True
                if touched:
                    changed.append(record)
            if changed:
                self.commit(*changed)
        return counts

    def move_to_post(self, brand_id: UUID, loan_id: UUID, reason: str) -> CommandResult:
        """Move a loan being repaid to post-collections (legal); it leaves its executive (the post-collections team
        takes over at the next sweep) and the sweep keeps it there. It changes the case's stage and assignee as a
        reallocation does, so it holds the brand's assignments as one does: a sweep's moves, planned from the read
        model before it and recorded after, would put the loan back in collections with its executive."""
        why = clean_text(
            reason, "reason", multiline=True, min_visible=MIN_REASON, missing="give a reason (at least 3 characters)"
        )
        facts = self._facts(brand_id, loan_id)
        if facts.status not in SERVICING_CODES:
            raise Conflict(
                f"only a loan being repaid moves to legal; this one is {status_words(facts.status)}",
                status=facts.status,
            )
        with self._parties().assignments(brand_id) as shown:
            record = self.case(brand_id, loan_id)
            record.move_to_post(why[:500])
            result = self.commit(record)
            shown(result.position)
        return result

    def assignments(self, brand_id: UUID) -> AbstractContextManager[Callable[[int], None]]:
        """The hold on the brand's case assignments (`CollectionParties.assignments`), for the sweep, which plans
        its moves from the read model as a reallocation does."""
        return self._parties().assignments(brand_id)

    def reallocate(self, brand_id: UUID, loan_ids: Sequence[UUID], staff_id: UUID, day: date) -> CommandResult:
        """Move loans in collections to `staff_id` (who must hold the write permission of each loan's stage). The
        brand's assignments are held from reading them to the commit: of two reallocations at once the second moves
        from where the first left each loan (its `previous` is true), never from what both read."""
        wanted = list(dict.fromkeys(loan_ids))
        if not wanted:
            raise InvalidValue("loan_ids", "name at least one loan")
        if len(wanted) > 1000:
            raise InvalidValue("loan_ids", "at most 1000 loans at a time")
        with self._parties().assignments(brand_id) as shown:
            result = self._reallocate(brand_id, wanted, staff_id, day)
            shown(result.position)
        return result

    def _reallocate(self, brand_id: UUID, wanted: list[UUID], staff_id: UUID, day: date) -> CommandResult:
        cases = self._parties().open_cases(brand_id, wanted)
        missing = [str(i) for i in wanted if i not in cases]
        if missing:
            raise CollectionCaseNotFound(f"not in collections: {', '.join(missing[:5])}", ids=missing[:20])
        for stage in {c.stage for c in cases.values()}:
            if not self._parties().can_collect(brand_id, staff_id, stage):
                raise InvalidValue("staff_id", f"not an enabled staff member of the brand who may work {stage} loans")
        moves = tuple(
            Move(loan_id=c.loan_id, stage=c.stage, staff_id=staff_id, previous=c.assignee)
            for c in (cases[i] for i in wanted)
            if c.assignee != staff_id
        )
        batch = with_id(CaseMoves, uuid4(), brand_id=brand_id, kind=MoveKind.REALLOCATION, business_date=day,
                        moves=moves, reason="reallocated by a manager")  # fmt: skip
        return self.commit(batch)

    def record_moves(self, brand_id: UUID, day: date, moves: Sequence[Move], reason: str = "close of business") -> int:
        """Record the sweep's moves in batches (each batch committed on its own) with why they moved (the close of
        business; "executive disabled" for the cases taken from one who left); the last log position."""
        position = 0
        for start in range(0, len(moves), BATCH):
            chunk = tuple(moves[start : start + BATCH])
            batch = with_id(CaseMoves, uuid4(), brand_id=brand_id, kind=MoveKind.SWEEP, business_date=day,
                            moves=chunk, reason=reason)  # fmt: skip
            position = self.commit(batch).position
        return position

    def swept(self, brand_id: UUID, day: date) -> bool:
        """Whether the sweep of `day` is done."""
        return isinstance(self.find(day_id(brand_id, day)), CollectionDay)

    def close_day(self, brand_id: UUID, day: date, counts: Mapping[str, int]) -> CommandResult:
        """Record that the sweep of `day` is done."""
        record = with_id(CollectionDay, day_id(brand_id, day), brand_id=brand_id, business_date=day,
                         counts=dict(counts))  # fmt: skip
        return self.commit(record)

    def moves(self, batch_id: UUID) -> tuple[Move, ...]:
        """The moves of a recorded batch."""
        found = self.find(batch_id)
        return found.moves if isinstance(found, CaseMoves) else ()
