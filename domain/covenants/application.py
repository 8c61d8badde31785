"""Use cases of the covenants context: set-up, cycles, reviews, overdue marking and notices."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.covenants.covenant import Covenant, CovenantEvaluation, CovenantNotFound, CovenantNotice, EvaluationNotFound
from domain.covenants.schedule import DEFAULT_LEAD_DAYS, Calendar, Frequency
from domain.covenants.status import CovenantStatus, NoticeKind, UnsentReason
from domain.covenants.terms import Terms
from domain.documents.content import ContentType, Uploader
from domain.shared.aggregate import Aggregate
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication, retried
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, FieldChecks, FieldError, InvalidInput, InvalidValue
from domain.shared.values import MIN_REASON, clean_text, sees_company

NO_BORROWER = "no borrower with this id in your brand"
NO_STAFF = "no staff member with this id in your brand"


def companies_beyond(companies: Sequence[str]) -> str:
    """Why a company outside `companies` is refused (422 naming `company`)."""
    return f"you may see only the companies {', '.join(companies)}: give one of them, or none"


#: How many times a change of an evaluation record that commutes with the others (proof attached, staff's compliance
#: or waiver) is tried again on the record as it now is when another change of it won the race (`_on_latest`).
RECORD_ATTEMPTS = 5


@dataclass(frozen=True)
class CovenantDefaults:
    """A brand's covenant defaults by frequency (`Frequency.value`), from its configuration."""

    grace_days: Mapping[str, int] = field(default_factory=dict)  # missing: no grace
    lead_days: Mapping[str, int] = field(default_factory=dict)  # missing: the product default (DEFAULT_LEAD_DAYS)


class CovenantParties(Protocol):
    """What setting up a covenant asks of other contexts - the borrower and the staff member it names, and the
    brand's defaults; the composition root answers from the customers and identity contexts."""

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool: ...

    def has_staff(self, brand_id: UUID, staff_id: UUID) -> bool: ...

    def defaults(self, brand_id: UUID) -> CovenantDefaults: ...


@dataclass(frozen=True)
class DueCycles:
    """Covenants whose due cycles were opened in memory, and the records opened, not saved yet."""

    covenants_changed: list[Aggregate]
    records: list[Aggregate]

    @property
    def covenants(self) -> int:
        return len(self.covenants_changed)

    @property
    def opened(self) -> int:
        return len(self.records)


class Covenants(ContextApplication):
    """Covenants, their evaluation records and the notices sent about them."""

    name = "covenants"

    def __init__(
        self, env: dict[str, str] | None = None, clock: Clock | None = None, *, parties: CovenantParties
    ) -> None:
        super().__init__(env, clock)
        #: The other contexts as set-up asks them (see `CovenantParties`); given by the declaration's `build`.
        self.parties = parties

    def _check_parties(self, brand_id: UUID, customer_id: UUID | None, assignee_id: UUID | None) -> None:
        """422 naming each of the borrower and the assignee that is not in the brand."""
        problems = []
        if customer_id is not None and not self.parties.has_borrower(brand_id, customer_id):
            problems.append(FieldError("customer_id", NO_BORROWER))
        if assignee_id is not None and not self.parties.has_staff(brand_id, assignee_id):
            problems.append(FieldError("assignee_id", NO_STAFF))
        if problems:
            raise InvalidInput(problems)

    def create(
        self,
        brand_id: UUID,
        *,
        customer_id: UUID,
        application_ref: str,
        title: str,
        terms: Terms,
        frequency: Frequency,
        start_date: date,
        first_due_date: date,
        expiry_date: date,
        grace_days: int | None = None,
        lead_days: int | None = None,
        assignee_id: UUID | None = None,
        company: str | None = None,
        covenant_id: UUID | None = None,
        companies: Sequence[str] = (),
    ) -> CommandResult:
        """Set up a covenant on a borrower of the brand (422 when the borrower or the assignee is not in it).

        Grace and lead days not given default per frequency: the brand's setting, else no grace and the product's
        lead days. `covenant_id` (default: a new one) names the covenant, for a caller that must find it again (the
        demo seed resuming); an id already taken is a 409 (ConcurrentModification) and records nothing.
        `companies`: those the caller may see (empty: every company) -- a covenant of another company is a 422
        naming `company` (one of no company is every company's, so may be set up by anyone)."""
        self._check_parties(brand_id, customer_id, assignee_id)
        if grace_days is None or lead_days is None:
            defaults = self.parties.defaults(brand_id)
            if grace_days is None:
                grace_days = defaults.grace_days.get(frequency.value, 0)
            if lead_days is None:
                lead_days = defaults.lead_days.get(frequency.value, DEFAULT_LEAD_DAYS[frequency])
        checks = FieldChecks()
        named = "a title of 3 to 200 characters names the covenant"
        clean_title = " ".join(
            (checks.check(lambda: clean_text(title, "title", min_visible=MIN_REASON, missing=named)) or "").split()
        )
        if clean_title and len(clean_title) > 200:
            checks.errors.append(FieldError("title", named))
        referenced = "the application or loan reference is required"
        clean_ref = checks.check(lambda: clean_text(application_ref, "application_ref", missing=referenced)) or ""
        if len(clean_ref) > 60:
            checks.errors.append(FieldError("application_ref", referenced))
        # Kept as typed; compared case-insensitively (`sees_company`: "sml" is SML's).
        clean_company = checks.check(lambda: clean_text(company, "company")) if company and company.strip() else None
        if clean_company is not None and not sees_company(companies, clean_company):
            checks.errors.append(FieldError("company", companies_beyond(companies)))
        checked_terms = checks.check(terms.checked)
        calendar = checks.check(
            Calendar(
                frequency=frequency,
                start_date=start_date,
                first_due_date=first_due_date,
                expiry_date=expiry_date,
                grace_days=grace_days,
                lead_days=lead_days,
            ).checked
        )
        checks.raise_if_any()
        assert checked_terms is not None and calendar is not None
        # `_create` with keywords, as constructing the class does (and `CovenantEvaluation.open_for`), so the id may
        # be given: annotating `id` on the class would make every construction name one.
        covenant: Covenant = Covenant._create(
            Covenant.Created,
            id=covenant_id,
            brand_id=brand_id,
            customer_id=customer_id,
            application_ref=clean_ref,
            title=clean_title,
            terms=checked_terms,
            calendar=calendar,
            assignee_id=assignee_id,
            company=clean_company,
        )
        return self.commit(covenant)

    def covenant(self, brand_id: UUID | None, covenant_id: UUID, companies: Sequence[str] = ()) -> Covenant:
        """A covenant of the brand (None: any, for workers) and of one of `companies` (empty: any; a covenant of no
        company is every company's): another company's is the same 404 as an unknown id."""
        covenant = self.load(Covenant, covenant_id, brand_id, CovenantNotFound)
        if not sees_company(companies, covenant.company):
            raise CovenantNotFound(f"Covenant {covenant_id} not found", id=str(covenant_id))
        return covenant

    def evaluation(
        self, brand_id: UUID | None, evaluation_id: UUID, companies: Sequence[str] = ()
    ) -> CovenantEvaluation:
        """An evaluation record of the brand (None: any, for workers) whose covenant is of one of `companies` (empty:
        any): a record of another company's covenant is the same 404 as an unknown id. A record opened before records
        carried their covenant's company takes it from the covenant."""
        record = self.load(CovenantEvaluation, evaluation_id, brand_id, EvaluationNotFound)
        if companies:
            company = record.company
            if company is None:
                company = self.load(Covenant, record.covenant_id, brand_id, EvaluationNotFound).company
            if not sees_company(companies, company):
                raise EvaluationNotFound(f"CovenantEvaluation {evaluation_id} not found", id=str(evaluation_id))
        return record

    def close_covenant(
        self, brand_id: UUID, covenant_id: UUID, reason: str, companies: Sequence[str] = ()
    ) -> CommandResult:
        """Close a covenant before expiry (`companies`: those the caller may see, as `covenant`)."""
        covenant = self.covenant(brand_id, covenant_id, companies)
        covenant.close(reason)
        return self.commit(covenant)

    def reassign(
        self,
        brand_id: UUID,
        covenant_id: UUID,
        assignee_id: UUID | None,
        expected_version: int | None = None,
        companies: Sequence[str] = (),
    ) -> CommandResult:
        """Change who follows the covenant up (422 when the assignee is not a staff member of the brand);
        `expected_version` (If-Match) refuses a change made against a covenant that moved since with 409;
        `companies`: those the caller may see (as `covenant`)."""
        self._check_parties(brand_id, None, assignee_id)
        covenant = self.covenant(brand_id, covenant_id, companies)
        self.check_version(covenant, expected_version)
        covenant.reassign(assignee_id)
        return self.commit(covenant)

    # Reviews (staff with covenant-review permission) ---------------------------------------------------

    def submit_value(
        self, brand_id: UUID, evaluation_id: UUID, value: str | Decimal, companies: Sequence[str] = ()
    ) -> CommandResult:
        """Record a measured value; the record keeps pass/fail against the threshold (`companies`: as `evaluation`)."""
        record = self.evaluation(brand_id, evaluation_id, companies)
        record.submit_value(value)
        return self.commit(record)

    def comply(
        self,
        brand_id: UUID,
        evaluation_id: UUID,
        evidence: str,
        proof_document_ids: Sequence[UUID] = (),
        rejected: Mapping[UUID, str] | None = None,
        companies: Sequence[str] = (),
    ) -> CommandResult:
        """Mark a record complied, with the evidence or document reference, and the attached proof documents the
        reviewer approved (`proof_document_ids`: each must be attached to this record, else 422 naming the field).
        `rejected` names the cited documents staff rejected (document id -> reason, read from the documents context
        by the caller, api.services.covenant_proofs): each is a 422 naming `proof_document_ids[i]`. `companies`: as
        `evaluation`."""
        return self._on_latest(
            brand_id, evaluation_id, lambda record: record.comply(evidence, proof_document_ids, rejected), companies
        )

    # Proof of compliance (documents of the documents context attached to a record) ------------------------------

    def proof_target(
        self,
        brand_id: UUID,
        evaluation_id: UUID,
        customer_id: UUID | None = None,
        companies: Sequence[str] = (),
    ) -> CovenantEvaluation:
        """The record proof would be attached to: of the brand (404) and still Open or Overdue (409). Checked before
        the document is uploaded, so a refused attachment stores nothing. `customer_id` (a borrower attaching their
        own proof): a record of another borrower is the same 404 as an unknown id, saying nothing of it, and a
        record of a covenant staff closed is a 409 (`covenant_status` closed): closing stopped the chase, so the
        record is no longer asked of the borrower (staff may still attach proof and decide it). `companies` (staff
        limited to companies): as `evaluation`."""
        record = self.evaluation(brand_id, evaluation_id, companies)
        if customer_id is not None and record.customer_id != customer_id:
            raise EvaluationNotFound(f"CovenantEvaluation {evaluation_id} not found", id=str(evaluation_id))
        record.check_attachable()
        if customer_id is not None and self.covenant(brand_id, record.covenant_id).status is CovenantStatus.CLOSED:
            raise Conflict(
                "the lender closed this covenant: its record is no longer asked of the borrower and takes no proof "
                "from them",
                covenant_status=CovenantStatus.CLOSED.value,
            )
        return record

    def attach_proof(
        self,
        brand_id: UUID,
        evaluation_id: UUID,
        document_id: UUID,
        *,
        filename: str,
        sha256: str,
        size: int,
        content_type: ContentType,
        uploaded_by: Uploader,
    ) -> CommandResult:
        """Attach an uploaded document as proof of compliance to an Open or Overdue record (409 when closed or
        the document is attached already).

        Attachments commute, so one that loses a race with another change of the record is tried again on the
        record as it now is (`_on_latest`): its document is already uploaded, and a 409 would leave it attached to
        nothing. A record closed meanwhile is still a 409."""
        return self._on_latest(
            brand_id,
            evaluation_id,
            lambda record: record.attach_proof(
                document_id, filename=filename, sha256=sha256, size=size, content_type=content_type,
                uploaded_by=uploaded_by,
            ),
        )  # fmt: skip

    def waive(self, brand_id: UUID, evaluation_id: UUID, reason: str, companies: Sequence[str] = ()) -> CommandResult:
        """Waive a record, with the reason (`companies`: as `evaluation`)."""
        return self._on_latest(brand_id, evaluation_id, lambda record: record.waive(reason), companies)

    def _on_latest(
        self,
        brand_id: UUID,
        evaluation_id: UUID,
        change: Callable[[CovenantEvaluation], None],
        companies: Sequence[str] = (),
    ) -> CommandResult:
        """Make `change` on the record and save it; when another change of the record was saved first (proof
        attached, the record marked overdue or a notice queued by a job, staff's decision), make it again on the
        record as it now is, up to `RECORD_ATTEMPTS` times, as if the request had come a moment later: none of these
        requests names the version it read, and each checks the record afresh (a record complied or waived meanwhile
        refuses the second decision with 409, a value submitted meanwhile is the one judged)."""

        def commit_change() -> CommandResult:
            record = self.evaluation(brand_id, evaluation_id, companies)
            change(record)
            return self.commit(record)

        return retried(commit_change, RECORD_ATTEMPTS)

    # Batch work (the jobs) -------------------------------------------------------------------------------

    def open_due_cycles(self, covenant_ids: list[UUID], as_of: date, *, dry_run: bool = False) -> tuple[int, int]:
        """Open every due cycle of the covenants in one atomic save; returns (covenants changed, records opened).

        A dry run works on the loaded aggregates only and saves nothing (they are not cached, so nothing leaks).
        """
        cycles = self.due_cycles(covenant_ids, as_of)
        if not dry_run:
            self.save_cycles(cycles)
        return cycles.covenants, cycles.opened

    def due_cycles(self, covenant_ids: list[UUID], as_of: date) -> DueCycles:
        """`open_due_cycles` up to the save: the covenants with their new records, in memory (see `save_cycles`)."""
        covenants: list[Aggregate] = []
        records: list[Aggregate] = []
        for covenant in self.load_many(Covenant, covenant_ids, None, CovenantNotFound):
            opened = covenant.open_due_cycles(as_of)
            if covenant.pending_events:
                covenants.append(covenant)
                records.extend(opened)
        return DueCycles(covenants, records)

    def save_cycles(self, cycles: DueCycles) -> None:
        """Save what `due_cycles` opened in one atomic save (covenants first, then their records)."""
        changed = [*cycles.covenants_changed, *cycles.records]
        if changed:
            self.commit(changed[0], *changed[1:])

    def mark_overdue(self, evaluation_ids: list[UUID], as_of: date, *, dry_run: bool = False) -> int:
        """System only: move still-open records past due date plus grace to Overdue, atomically; returns how many.

        A dry run counts them and saves nothing.
        """

        def mark() -> int:
            records = self.load_many(CovenantEvaluation, evaluation_ids, None, EvaluationNotFound)
            changed = [r for r in records if r.mark_overdue(as_of)]
            if changed and not dry_run:
                self.commit(changed[0], *changed[1:])
            return len(changed)

        # Staff complied, waived or took proof on one of the batch meanwhile: the batch again, as it now is (a record
        # closed meanwhile is no longer marked), rather than the job's attempt failing for it.
        return retried(mark, RECORD_ATTEMPTS)

    def queue_notice(
        self,
        brand_id: UUID,
        kind: NoticeKind,
        evaluation_ids: list[UUID],
        *,
        recipient: str,
        subject_for: Callable[[list[CovenantEvaluation]], str],
        as_of: date,
    ) -> CovenantNotice | None:
        """Queue one email covering the records that still owe a `kind` notice (each record at most once ever).

        `subject_for(records)` composes the subject. Returns None when every record was already covered.
        """
        (notice,) = self.queue_notices(
            brand_id, kind, [(evaluation_ids, recipient)], subject_for=subject_for, as_of=as_of
        )
        return notice

    def queue_notices(
        self,
        brand_id: UUID,
        kind: NoticeKind,
        groups: Sequence[tuple[Sequence[UUID], str | None]],
        *,
        subject_for: Callable[[list[CovenantEvaluation]], str],
        as_of: date,
        dry_run: bool = False,
    ) -> list[CovenantNotice | None]:
        """`queue_notice` for many (evaluation ids, recipient) groups in one atomic save; a None per covered group.

        A dry run saves nothing; it first marks overdue (in memory) what a real run would have marked by now, so
        it counts the overdue notices a real run would queue.
        """
        notices, _ = self.queue_notices_with_records(
            brand_id, kind, groups, subject_for=subject_for, as_of=as_of, dry_run=dry_run
        )
        return notices

    def queue_notices_with_records(
        self,
        brand_id: UUID,
        kind: NoticeKind,
        groups: Sequence[tuple[Sequence[UUID], str | None]],
        *,
        subject_for: Callable[[list[CovenantEvaluation]], str],
        as_of: date,
        dry_run: bool = False,
    ) -> tuple[list[CovenantNotice | None], dict[UUID, CovenantEvaluation]]:
        """`queue_notices`, and the evaluation records it loaded (as saved), by id: what sending the queued
        notices needs, so a job can send them without loading them again (workers only). When staff changed one of
        the records meanwhile (complied, waived, took proof), the page is queued again on the records as they now are
        (up to `RECORD_ATTEMPTS` times): a record closed meanwhile needs no notice.

        A group with no recipient (the borrower has no email address) gets a notice recorded not sent
        (`CovenantNotice.not_sent`, `UnsentReason.NO_EMAIL`) covering its records that owe one and have none recorded
        not sent yet, so staff see the borrower was not told; a rerun finds them recorded and records nothing
        (None). Those records still owe the notice: a run after the borrower was given an address queues it."""

        def queue() -> tuple[list[CovenantNotice | None], dict[UUID, CovenantEvaluation]]:
            ids = list(dict.fromkeys(i for evaluation_ids, _ in groups for i in evaluation_ids))
            loaded = {r.id: r for r in self.load_many(CovenantEvaluation, ids, brand_id, EvaluationNotFound)}
            if dry_run and kind is NoticeKind.OVERDUE:
                for record in loaded.values():
                    record.mark_overdue(as_of)
            notices: list[CovenantNotice | None] = []
            changed: list[Aggregate] = []
            for evaluation_ids, recipient in groups:
                # Without an address, only the records whose notice was not recorded as not sent already.
                owes = CovenantEvaluation.needs_notice if recipient else CovenantEvaluation.unsent_to_record
                records = [loaded[i] for i in dict.fromkeys(evaluation_ids) if owes(loaded[i], kind)]
                if not records:
                    notices.append(None)
                    continue
                first = records[0]
                if any(
                    (r.customer_id, r.application_ref) != (first.customer_id, first.application_ref) for r in records
                ):
                    raise InvalidValue(
                        "evaluation_ids", "one notice covers records of one borrower and one application"
                    )
                notice = CovenantNotice(
                    brand_id=brand_id,
                    kind=kind,
                    customer_id=first.customer_id,
                    application_ref=first.application_ref,
                    recipient=recipient or "",
                    subject=subject_for(records),
                    evaluation_ids=[r.id for r in records],
                    as_of=as_of,
                    # The records' company when they share one, so the notice's trail rows are of it (activity).
                    company=first.company if all(r.company == first.company for r in records) else None,
                )
                if recipient:
                    for record in records:
                        record.queue_notice(kind, notice.id)
                else:
                    notice.mark_not_sent(UnsentReason.NO_EMAIL)
                    for record in records:
                        record.notice_not_sent(kind, notice.id, UnsentReason.NO_EMAIL)
                notices.append(notice)
                changed += [notice, *records]
            if changed and not dry_run:
                self.commit(changed[0], *changed[1:])
            return notices, loaded

        return retried(queue, RECORD_ATTEMPTS)

    def notice(self, notice_id: UUID) -> CovenantNotice:
        """A notice (workers only)."""
        return self.load(CovenantNotice, notice_id, None, EvaluationNotFound)

    def notices(self, notice_ids: Sequence[UUID]) -> list[CovenantNotice]:
        """Notices in the order of the ids (workers only)."""
        return self.load_many(CovenantNotice, notice_ids, None, EvaluationNotFound)

    def notices_and_records(
        self, notice_ids: Sequence[UUID], evaluation_ids: Sequence[UUID]
    ) -> tuple[list[CovenantNotice], dict[UUID, CovenantEvaluation]]:
        """Notices in the order of their ids and the evaluation records they cover, by id, in one read (workers
        only). `evaluation_ids` is what the caller expects them to cover; any record of theirs not among them is
        loaded after."""
        found = self.find_many([*notice_ids, *evaluation_ids])
        notices = []
        for notice_id in notice_ids:
            notice = found.get(notice_id)
            if not isinstance(notice, CovenantNotice):
                raise EvaluationNotFound(f"CovenantNotice {notice_id} not found", id=str(notice_id))
            notices.append(notice)
        records = {i: r for i, r in found.items() if isinstance(r, CovenantEvaluation)}
        missing = [i for n in notices for i in n.evaluation_ids if i not in records]
        if missing:
            records.update((r.id, r) for r in self.evaluations(None, missing))
        return notices, records

    def evaluations(self, brand_id: UUID | None, evaluation_ids: Sequence[UUID]) -> list[CovenantEvaluation]:
        """Evaluation records of the brand in the order of the ids (None: any brand, for workers)."""
        return self.load_many(CovenantEvaluation, evaluation_ids, brand_id, EvaluationNotFound)

    def mark_handing_over(self, notice: CovenantNotice, end_of_data: Callable[[], None]) -> None:
        """Record the hand-over of an email in the same transaction that sends its end-of-data mark.

        `end_of_data` commits the email at the mail server; it runs inside the transaction that records the
        hand-over, just before the commit. A crash before it leaves neither (the server drops the incomplete
        message; the retry sends it); after the commit both happened (the retry records it presumed sent).
        Only a crash between the mark and the commit message, one send apart, can send an email twice.
        """
        notice.mark_handing_over()
        stored = [self.mapper.to_stored_event(e) for e in notice.collect_events()]
        insert = getattr(self.recorder, "insert_events_before_commit", None)
        if insert is None:  # A recorder without transactions of its own: record first, then send.
            self.recorder.insert_events(stored)
            end_of_data()
            return
        try:
            # No NOTIFY for each hand-over: only the activity log reads HandingOver, and the page's Sent (or the
            # followers' periodic re-check) brings it along, so the runners follow a page at a time rather than
            # waking for every few emails.
            insert(stored, end_of_data, notify=False)
        except IntegrityError as exc:
            raise ConcurrentModification("the notice was changed by another worker", id=str(notice.id)) from exc

    def mark_sent(self, notice: CovenantNotice, *, presumed: bool = False) -> None:
        """The mail server accepted the notice (or, `presumed`, was handed it and never answered)."""
        notice.mark_sent(presumed=presumed)
        self.commit(notice)

    def mark_sent_many(self, notices: Sequence[CovenantNotice]) -> None:
        """The mail server accepted these notices: one atomic save."""
        for notice in notices:
            notice.mark_sent()
        if notices:
            self.commit(*notices)

    def mark_failed(self, notice: CovenantNotice, error: str) -> None:
        """Sending failed; the notice stays owed for the next run."""
        notice.mark_failed(error[:1000])
        self.commit(notice)
