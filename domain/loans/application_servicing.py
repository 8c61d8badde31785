"""Use cases of loan servicing (issue #15), mixed into `domain.loans.application.Loans`: servicing opened with the
disbursal, staff-recorded repayments, reversals, the payoff quote and the close of business of one loan.

Every refusal raises before any event (nothing recorded). The business date is the brand's (`LoanParties`). A
command whose save loses the race to another save on the loan is decided again on the loan as it now is
(`SERVICING_ATTEMPTS`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID, uuid4

import structlog

from domain.loans import snapshot_stamp
from domain.loans.checkpoint import CHECKPOINT_EVERY, Checkpoint, CheckpointStore, LoanSnapshots, position_of
from domain.loans.loan import Loan, LoanNotFound
from domain.loans.money import parse_money
from domain.loans.offer import ProductCatalogue
from domain.loans.parties import LoanParties
from domain.loans.payments import PayoffQuote
from domain.loans.schedule import build_schedule
from domain.loans.servicing_events import DayClosed, PaymentMode, PaymentRecord, StatusMoved
from domain.loans.terms import LoanTerms, PenalTerms
from domain.shared.application import CommandResult, replay, retried
from domain.shared.errors import FieldChecks, FieldError, InvalidValue
from domain.shared.snapshot import snapshot_of
from domain.shared.values import MIN_REASON, clean_text, within_limit

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: How far past a loan's last due date (or the business date, when later) a payoff can be quoted: a year of
#: overdue days at most beyond the schedule, where a quote is still a figure someone could pay.
PAYOFF_HORIZON = timedelta(days=366)
#: How many times a servicing command (none names a version it read) is decided on the loan as it is when another
#: save on the loan lands between its load and its own - the close of business closing the loan's day, a gateway's
#: payment, another member of staff's decision: a cashier's repayment is a fact that stands whatever closed
#: meanwhile, and was a 409 to send again (docs/architecture.md, "A lost race is not a refusal").
SERVICING_ATTEMPTS = 3


def _mode(raw: str) -> PaymentMode:
    try:
        return PaymentMode(str(raw).lower())
    except ValueError:
        raise InvalidValue("mode", f"'{raw}' is not one of {', '.join(m.value for m in PaymentMode)}") from None


def payment_input(amount: Decimal | str, mode: str, reference: str) -> tuple[Decimal, PaymentMode, str]:
    """Money received as staff type it - an amount above zero, a mode, a reference of at most 100 characters - each
    checked (422 naming every field wrong, before any loan is read): a repayment, a full repayment collected in the
    field and a collection request are given the same way."""
    checks = FieldChecks()
    value = checks.check(lambda: parse_money(amount, "amount", positive=True))
    how = checks.check(lambda: _mode(mode))
    ref = checks.check(lambda: clean_text(reference, "reference", min_visible=1, missing="give the reference"))
    checks.raise_if_any()
    assert value is not None and how is not None and ref is not None  # raise_if_any raised otherwise
    if len(ref) > 100:
        raise InvalidValue("reference", "at most 100 characters")
    return value, how, ref


class ServicingUseCases:
    """Servicing of disbursed loans (mixed into `Loans`)."""

    if TYPE_CHECKING:

        @property
        def parties(self) -> LoanParties: ...
        @property
        def catalogue(self) -> ProductCatalogue: ...

        def get(self, brand_id: UUID, loan_id: UUID) -> Loan: ...

        load_many: Any  # ContextApplication's
        events: Any
        repository: Any
        recorder: Any
        mapper: Any

    #: Where checkpoints of loans' replayed positions are kept (domain/loans/checkpoint.py; set by the platform).
    checkpoints: CheckpointStore | None = None
    #: Where the loans' snapshots are read from to load a loan (the checkpoints' store; set by the platform): None,
    #: every load replays every event.
    loan_snapshots: LoanSnapshots | None = None

    # Loading ---------------------------------------------------------------------------------------------------

    def find(self, aggregate_id: UUID) -> Any | None:
        """The aggregate with the id, or None: a loan from its newest snapshot taken by this code plus the events after
        it, else replayed from its first event (as `find_many`)."""
        found, histories = self._loaded([aggregate_id])
        if aggregate_id in found:
            return found[aggregate_id]
        if aggregate_id in histories:
            stored = histories[aggregate_id]
            return replay(None, map(self.mapper.to_domain_event, stored)) if stored else None
        return super().find(aggregate_id)  # type: ignore[misc]

    def find_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """`find` of many ids: the loans with a snapshot from it plus their later events, the others (and any other
        aggregate) replayed from their first event - read in one round trip (`LoanSnapshots.loading`); a snapshot
        that does not decode or apply, in one more."""
        ids = list(dict.fromkeys(aggregate_ids))
        found, histories = self._loaded(ids)
        for aggregate_id, stored in histories.items():
            aggregate = replay(None, map(self.mapper.to_domain_event, stored)) if stored else None
            if aggregate is not None:
                found[aggregate_id] = aggregate
        rest = [i for i in ids if i not in found and i not in histories]
        if rest:
            found.update(super().find_many(rest))  # type: ignore[misc]
        return found

    def _loaded(self, loan_ids: list[UUID]) -> tuple[dict[UUID, Any], dict[UUID, Sequence[Any]]]:
        """The loans loaded from their snapshots, and the stored events of the ids without one (read with them)."""
        source, stamp = self.loan_snapshots, snapshot_stamp.stamp()
        loading = getattr(source, "loading", None)
        if loading is None or stamp is None or not loan_ids:
            return self.from_snapshots(loan_ids), {}
        try:
            snapshots, histories = loading(loan_ids, stamp)
        except Exception:  # a cache read: replay every event instead
            log.warning("loans.snapshot_read_failed", exc_info=True)
            return {}, {}
        return self._applied(snapshots, None), histories

    def from_snapshots(self, loan_ids: Sequence[UUID], upto: int | None = None) -> dict[UUID, Loan]:
        """Per loan that has a usable snapshot, the Loan as its events up to `upto` (all: None) replay it: its newest
        snapshot stamped by this code (domain/loans/snapshot_stamp.py) at `upto` or before, decoded, with every
        later event applied in order (`replay` checks each one's version follows). A loan without one, with a
        snapshot of other code (another stamp, or none), or one that fails to decode or apply is left out: the caller
        replays it from its first event. The version is the last event's, as a whole replay gives it, so a save
        made from it meets the same optimistic check."""
        source, stamp = self.loan_snapshots, snapshot_stamp.stamp()
        if source is None or stamp is None or not loan_ids:
            return {}
        try:
            snapshots = source.newest(loan_ids, stamp, upto)
        except Exception:  # a cache read; the events are the source
            log.warning("loans.snapshot_read_failed", exc_info=True)
            return {}
        return self._applied(snapshots, upto)

    def _applied(self, snapshots: dict[UUID, Any], upto: int | None) -> dict[UUID, Loan]:
        """Each snapshot with its later events applied (`from_snapshots`); one that does not take them is left out."""
        loaded: dict[UUID, Loan] = {}
        for loan_id, snapshot in snapshots.items():
            start = snapshot.aggregate
            if not isinstance(start, Loan) or start.id != loan_id or start.version != snapshot.version:
                continue
            try:
                stored = (
                    snapshot.events
                    if snapshot.events is not None
                    else self.recorder.select_events(loan_id, gt=snapshot.version, lte=upto)
                )
                loan = replay(start, map(self.mapper.to_domain_event, stored))
            except Exception:  # a snapshot that does not take its events: the whole replay decides
                log.warning("loans.snapshot_unusable", loan_id=str(loan_id), version=snapshot.version, exc_info=True)
                continue
            if upto is not None and loan.version != upto:
                continue
            loaded[loan_id] = loan
        return loaded

    def replayed_at(self, loan_id: UUID, version: int) -> Loan:
        """The loan as a load gives it at `version`: from a snapshot plus the events after it up to `version`, else
        replayed from its first event."""
        found = self.from_snapshots([loan_id], upto=version).get(loan_id)
        if found is not None:
            return found
        loan: Loan = self.repository.get(loan_id, version=version, projector_func=replay)
        return loan

    def commit(self, primary: Any, *others: Any, beside: Sequence[Callable[[Any], None]] = ()) -> CommandResult:
        """The application's `commit`, then a checkpoint of each serviced loan this save took across a multiple of
        CHECKPOINT_EVERY events, with the loan's snapshot (loads and the auditor's as-of replay start there). Every
        command of the Loans application commits through here - repayments and COB as well as waivers,
        settlements, collections, write-offs and recoveries - so no kind of event leaves a loan without its
        checkpoints (a cache: a checkpoint that fails to be written is logged, the command stands)."""
        store = self.checkpoints
        due = [
            loan
            for loan in (primary, *others)
            if store is not None
            and isinstance(loan, Loan)
            and loan.servicing_open
            and any(e.originator_version % CHECKPOINT_EVERY == 0 for e in loan.pending_events)
        ]
        result: CommandResult = super().commit(primary, *others, beside=beside)  # type: ignore[misc]
        stamp = snapshot_stamp.stamp()
        for loan in due:
            try:
                position = position_of(loan, store)
                assert store is not None
                # The snapshot is of the loan as a load gives it from the stored events (not the command's object,
                # whose members hold the values it was given, before the events' round trip through the store):
                # loads and the as-of replay start there (None: the events only).
                stored = self.replayed_at(loan.id, loan.version) if stamp is not None else None
                snapshot = snapshot_of(stored) if stored is not None else None
                kept = Checkpoint(loan.version, len(loan.servicing_facts), position, snapshot, loan.modified_on, stamp)
                store.keep(loan.id, kept)
            except Exception:  # a cache write; the saved events stand
                log.warning("loans.checkpoint_failed", loan_id=str(loan.id), exc_info=True)
        return result

    def commit_serviced(
        self, primary: Loan, *others: Loan, beside: Sequence[Callable[[Any], None]] = ()
    ) -> CommandResult:
        """`commit` (which takes the loans' checkpoints): kept for the callers that name it (the COB)."""
        return self.commit(primary, *others, beside=beside)

    def confirm_disbursal(self, brand_id: UUID, loan_id: UUID, reference: str, disbursed_on: date) -> CommandResult:
        """The gateway (or bank) confirmed the payout: active, and in the same commit servicing opens with the
        schedule built on the disbursal date with the brand's calendar (a repeat: `changed` False)."""
        loan = self.get(brand_id, loan_id)
        if loan.confirm_disbursal(reference, disbursed_on):
            self._open(loan)
        return self.commit(loan)

    def confirm_file_disbursals(self, brand_id: UUID, loan_ids: list[UUID], reference: str, disbursed_on: date,
                                beside: Sequence[Callable[[Any], None]] = ()) -> list[UUID]:  # fmt: skip
        """A bank payout file was paid: each of its loans not yet disbursed becomes active on `disbursed_on` and its
        servicing opens (the schedule), all in one save, as `confirm_disbursal` does for one; the ids it changed.
        `beside` is written in that save (`commit`); not at all when no loan changed."""
        loans = self.load_many(Loan, loan_ids, brand_id, LoanNotFound)  # one read for the file's loans
        changed = [loan for loan in loans if loan.confirm_disbursal(reference, disbursed_on)]
        calendar = self.parties.repayment_calendar(brand_id) if changed else None
        penal: dict[tuple[UUID, int], PenalTerms] = {}  # one product version read per version in the file
        for loan in changed:
            key = (loan.product_id, loan.product_version)
            if key not in penal:
                penal[key] = self.catalogue.version(brand_id, loan.product_id, loan.product_version).penal
            self._open(loan, calendar, penal[key])
        if changed:
            self.commit(changed[0], *changed[1:], beside=beside)
        return [loan.id for loan in changed]

    def _open(self, loan: Loan, calendar: Any = None, penal: PenalTerms | None = None) -> None:
        """Open the disbursed loan's servicing: its schedule on the brand's repayment calendar and its product
        version's penal terms (read here unless given: a file's loans share them)."""
        terms: LoanTerms | None = getattr(loan, "sanction_terms", None)
        if terms is None or loan.disbursed_on is None:
            return
        if calendar is None:
            calendar = self.parties.repayment_calendar(loan.brand_id)
        schedule = build_schedule(terms, loan.disbursed_on, calendar)
        if penal is None:
            penal = self.catalogue.version(loan.brand_id, loan.product_id, loan.product_version).penal
        loan.open_servicing(schedule, penal)

    def on_serviced(self, brand_id: UUID, loan_id: UUID, change: Callable[[Loan, date], T]) -> tuple[CommandResult, T]:
        """`change` made on the serviced loan (`serviced`) on the brand's business date, and saved, with what it
        returned. A save that lost the race to another save on the loan - the close of business closing its day, a
        gateway's payment, another member of staff - is made again on the loan as it now is (`SERVICING_ATTEMPTS` in
        all; the last lost race is the 409): staff's servicing commands name no version they read."""

        def attempt() -> tuple[CommandResult, T]:
            loan = self.serviced(brand_id, loan_id)
            made = change(loan, self.parties.business_date(brand_id))
            return self.commit(loan), made

        return retried(attempt, SERVICING_ATTEMPTS)

    def serviced(self, brand_id: UUID, loan_id: UUID) -> Loan:
        """The loan, its servicing opened when it was disbursed before servicing existed (not saved by a read)."""
        return self.servicing_opened(self.get(brand_id, loan_id))

    def servicing_opened(self, loan: Loan) -> Loan:
        """`serviced` of a loan already loaded: its servicing opened in memory when it was disbursed before servicing
        existed (not saved by a read)."""
        if not loan.servicing_open and loan.disbursed_on is not None:
            self._open(loan)  # a loan disbursed before servicing existed: opened on its first servicing command
        return loan

    def record_repayment(
        self,
        brand_id: UUID,
        loan_id: UUID,
        amount: Decimal | str,
        mode: str,
        reference: str,
        paid_on: date | None = None,
    ) -> tuple[CommandResult, PaymentRecord]:
        """Record a staff-received repayment (paid on the business date unless given) and its allocation."""
        value, how, ref = payment_input(amount, mode, reference)
        return self.on_serviced(
            brand_id,
            loan_id,
            lambda loan, today: loan.record_repayment(str(uuid4()), value, how, ref, paid_on or today, today),
        )

    def reverse_repayment(self, brand_id: UUID, loan_id: UUID, payment_id: str, reason: str) -> CommandResult:
        """Reverse a repayment with a reason (at least 3 characters)."""
        text = " ".join(
            clean_text(reason, "reason", multiline=True, min_visible=MIN_REASON, missing="give a reason").split()
        )
        why = within_limit(text, "reason")
        result, _ = self.on_serviced(
            brand_id, loan_id, lambda loan, today: loan.reverse_repayment(payment_id, why, today)
        )
        return result

    def payoff(self, brand_id: UUID, loan_id: UUID, as_of: date | None = None) -> PayoffQuote:
        """The payoff quote on `as_of` (the business date unless given); InvalidValue for a date past
        `PAYOFF_HORIZON` after the loan's last due date (or the business date, when later)."""
        loan = self.serviced(brand_id, loan_id)
        today = self.parties.business_date(brand_id)
        if as_of is not None:
            self.check_quotable(loan, as_of, today, "as_of")
        return loan.payoff_quote(as_of or today)

    def check_quotable(self, loan: Loan, as_of: date, today: date, field: str) -> None:
        """InvalidValue naming `field` for a date past `PAYOFF_HORIZON` after the loan's last due date (or the
        business date `today`, when later): no payoff is quoted for it."""
        if loan.servicing_schedule is None:
            return
        # The days up to `as_of` are closed on a copy one by one (penal charges): a date centuries ahead cost
        # seconds of CPU a request and, with compound charges, amounts past any money column.
        horizon = max(today, loan.servicing_schedule.instalments[-1].due_date) + PAYOFF_HORIZON
        if as_of > horizon:
            raise InvalidValue(
                field,
                f"{as_of.isoformat()} is more than {PAYOFF_HORIZON.days} days after the loan's last due date "
                f"and the business date: {horizon.isoformat()} at the latest",
            )

    def close_business_day(self, brand_id: UUID, loan_id: UUID, day: date) -> CommandResult:
        """COB for one loan through `day` (`changed` False when already closed through it or not serviced)."""
        loan = self.serviced(brand_id, loan_id)
        loan.close_business_day(day)
        return self.commit_serviced(loan)

    def recorded_close(self, loan: Loan, day: date) -> RecordedClose | None:
        """The close of `day` already recorded on the loan (as loaded), or None: its status before and after and the
        penal charges of that close. For the COB redoing a partition whose worker died after saving some of its
        loans' closes and before marking it done (workers/loan_cob.py): `close_business_day` records nothing again
        for them, and the date's record counts them from here."""
        if loan.cob_through != day:
            return None
        moved: StatusMoved | None = None
        for event in self.events.get(loan.id, desc=True):  # newest first: the close is among the last events
            if isinstance(event, StatusMoved) and event.status_moved_on == day:
                moved = event
            elif isinstance(event, DayClosed):
                if event.business_date != day:
                    return None
                was = str(self.repository.get(loan.id, version=event.originator_version - 1).status)
                return RecordedClose(was, str(moved.status) if moved is not None else was, event.penal_charged)
        return None


@dataclass(frozen=True)
class RecordedClose:
    """A loan's close of one business date as recorded: its status before and after, the penal charged."""

    was: str
    now: str
    penal_charged: Decimal


__all__ = ["FieldError", "RecordedClose", "ServicingUseCases", "payment_input"]
