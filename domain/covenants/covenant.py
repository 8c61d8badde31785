"""Covenants: obligations a borrower must meet per cycle, and the evaluation record of each cycle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from hashlib import sha1
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.covenants.proofs import MAX_PROOFS, Proof, cited_proofs
from domain.covenants.schedule import Calendar, notification_date
from domain.covenants.status import CovenantStatus, EvaluationStatus, NoticeKind, UnsentReason
from domain.covenants.terms import CovenantType, Terms, parse_measured_value
from domain.documents.content import ContentType, Uploader
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, FieldChecks, NotFound
from domain.shared.values import MIN_REASON, clean_text

_EVALUATION_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/covenant-evaluation")


class CovenantNotFound(NotFound):
    """Raised when no covenant has the id within the brand."""


class EvaluationNotFound(NotFound):
    """Raised when no evaluation record has the id within the brand."""


class ProofNotFound(NotFound):
    """Raised when a document is not attached as proof to the evaluation record."""


#: uuid5's version and variant bits, set on the first 16 bytes of the SHA-1 digest.
_V5_KEEP, _V5_BITS = ~((0xF000 << 64) | (0xC000 << 48)), (5 << 76) | (0x8000 << 48)


def evaluation_id(covenant_id: UUID, cycle: int) -> UUID:
    """Evaluation records have one id per (covenant, cycle): a cycle can never get two records.

    = ``uuid5(_EVALUATION_NAMESPACE, f"{covenant_id}:{cycle}")``, computed as uuid5 does with one conversion less
    (the evaluation job derives one per covenant; tests/unit/test_covenants_domain.py checks the two agree).
    """
    digest = sha1(_EVALUATION_NAMESPACE.bytes + f"{covenant_id}:{cycle}".encode()).digest()
    return UUID(int=int.from_bytes(digest[:16], "big") & _V5_KEEP | _V5_BITS)


class Covenant(Aggregate):
    """An obligation on a borrower under one application or loan, evaluated every cycle until expiry."""

    class Created(Aggregate.Created):
        """A covenant was set up."""

        brand_id: UUID
        customer_id: UUID
        application_ref: str
        title: str
        terms: Terms
        calendar: Calendar
        assignee_id: UUID | None = None
        company: str | None = None

    class CycleOpened(Aggregate.Event):
        """The evaluation record of a cycle was created; `next_due_date` is the following cycle's (None: last)."""

        cycle: int
        evaluation_id: UUID
        due_date: date
        next_due_date: date | None
        next_evaluation_date: date | None

        def apply(self, aggregate: Any) -> None:
            # An explicit apply rather than a decorated method: the evaluation job triggers one per covenant, and
            # the decorator's argument binding was a good share of its time.
            aggregate.cycles = self.cycle
            aggregate.next_due_date = self.next_due_date
            aggregate.next_evaluation_date = self.next_evaluation_date

    class Reassigned(Aggregate.Event):
        """Who follows the covenant up changed."""

        assignee_id: UUID | None

    class Expired(Aggregate.Event):
        """The expiry date passed."""

    class Closed(Aggregate.Event):
        """Staff closed the covenant before expiry."""

        reason: str

    @event(Created)
    def __init__(
        self,
        brand_id: UUID,
        customer_id: UUID,
        application_ref: str,
        title: str,
        terms: Terms,
        calendar: Calendar,
        assignee_id: UUID | None,
        company: str | None,
    ) -> None:
        self.brand_id = brand_id
        self.customer_id = customer_id
        self.application_ref = application_ref
        self.title = title
        self.terms = terms
        self.calendar = calendar
        self.assignee_id = assignee_id
        self.company = company
        self.status = CovenantStatus.ACTIVE
        self.cycles = 0
        self.next_due_date: date | None = calendar.due(1)
        self.next_evaluation_date: date | None = calendar.opens_on(self.next_due_date) if self.next_due_date else None

    def open_due_cycles(self, as_of: date) -> list[CovenantEvaluation]:
        """Open the record of every cycle whose evaluation date has come by `as_of` (one per cycle, in order)."""
        records: list[CovenantEvaluation] = []
        calendar = self.calendar
        while (
            self.status is CovenantStatus.ACTIVE
            and self.next_evaluation_date is not None
            and self.next_evaluation_date <= as_of
        ):
            assert self.next_due_date is not None
            cycle = self.cycles + 1
            due = self.next_due_date
            following = calendar.due(cycle + 1)
            record_id = evaluation_id(self.id, cycle)
            self.trigger_event(
                self.CycleOpened,
                cycle=cycle,
                evaluation_id=record_id,
                due_date=due,
                next_due_date=following,
                next_evaluation_date=calendar.opens_on(following) if following else None,
            )
            records.append(CovenantEvaluation.open_for(self, cycle, due, record_id))
        if self.status is CovenantStatus.ACTIVE and as_of > calendar.expiry_date:
            self._expired()
        return records

    @event(Expired)
    def _expired(self) -> None:
        self.status = CovenantStatus.EXPIRED

    def reassign(self, assignee_id: UUID | None) -> None:
        """Change the staff member who follows the covenant up."""
        if assignee_id != self.assignee_id:
            self._reassigned(assignee_id=assignee_id)

    @event(Reassigned)
    def _reassigned(self, assignee_id: UUID | None) -> None:
        self.assignee_id = assignee_id

    def close(self, reason: str) -> None:
        """Stop producing cycles and stop the chase: the notification job marks none of its records overdue and
        emails no notice about them (it reads the covenant's status); existing records stay as they are."""
        if self.status is not CovenantStatus.ACTIVE:
            raise Conflict(f"covenant is {self.status.value}; only an active covenant can be closed")
        why = clean_text(
            reason, "reason", multiline=True, min_visible=MIN_REASON, missing="give a reason for closing the covenant"
        )
        self._closed(reason=why)

    @event(Closed)
    def _closed(self, reason: str) -> None:
        self.status = CovenantStatus.CLOSED


class CovenantEvaluation(Aggregate):
    """The evaluation record of one cycle; status changes update it, never add a second record."""

    id: UUID

    class Opened(Aggregate.Created):
        """A cycle's record was created, Open."""

        brand_id: UUID
        covenant_id: UUID
        customer_id: UUID
        application_ref: str
        title: str
        terms: Terms
        cycle: int
        due_date: date
        grace_days: int
        notification_date: date
        expiry_date: date
        #: The covenant's company (None: of no company, or opened before records carried it).
        company: str | None = None

    class ValueSubmitted(Aggregate.Event):
        """A measured value of a financial covenant, with the system's pass/fail."""

        value: Decimal
        passed: bool

    class ProofAttached(Aggregate.Event):
        """A document (the documents context's; bytes under `sha256`) was attached as proof of compliance."""

        document_id: UUID
        filename: str
        sha256: str
        size: int
        content_type: ContentType
        uploaded_by: Uploader

    class ProofsApproved(Aggregate.Event):
        """The reviewer approved these attached proof documents; saved with the `Complied` that follows it."""

        document_ids: list[UUID]

    class Complied(Aggregate.Event):
        """Staff approved the evidence of compliance."""

        evidence: str

    class Waived(Aggregate.Event):
        """Staff waived this cycle."""

        reason: str

    class MarkedOverdue(Aggregate.Event):
        """The system found it still open after the due date and grace days."""

    class NoticeQueued(Aggregate.Event):
        """A notice of `kind` covering this record was queued (each kind at most once per record)."""

        kind: NoticeKind
        notice_id: UUID

    class NoticeNotSent(Aggregate.Event):
        """A notice of `kind` covering this record could not be sent (`reason`), recorded as the notice `notice_id`
        (status not sent). Recorded once per record and kind, however often the job meets it again; the record still
        owes the notice, so a later run sends it once it can (the borrower was given an email address)."""

        kind: NoticeKind
        notice_id: UUID
        reason: UnsentReason

    @classmethod
    def open_for(cls, covenant: Covenant, cycle: int, due: date, record_id: UUID | None = None) -> CovenantEvaluation:
        """The record of `cycle` of `covenant` (its id derives from the two; `record_id` when already derived)."""
        calendar = covenant.calendar
        # `_create` with keywords, as constructing the class does once it has bound the arguments (the binding is
        # most of a record's cost in the evaluation job, and these are all keywords already).
        record: CovenantEvaluation = cls._create(
            cls.Opened,
            id=record_id or evaluation_id(covenant.id, cycle),
            brand_id=covenant.brand_id,
            covenant_id=covenant.id,
            customer_id=covenant.customer_id,
            application_ref=covenant.application_ref,
            title=covenant.title,
            terms=covenant.terms,
            cycle=cycle,
            due_date=due,
            grace_days=calendar.grace_days,
            notification_date=notification_date(due, calendar.lead_days),
            expiry_date=calendar.expiry_date,
            company=covenant.company,
        )
        return record

    @event(Opened)
    def __init__(
        self,
        brand_id: UUID,
        covenant_id: UUID,
        customer_id: UUID,
        application_ref: str,
        title: str,
        terms: Terms,
        cycle: int,
        due_date: date,
        grace_days: int,
        notification_date: date,
        expiry_date: date,
        company: str | None = None,
    ) -> None:
        self.brand_id = brand_id
        self.covenant_id = covenant_id
        self.company = company
        self.customer_id = customer_id
        self.application_ref = application_ref
        self.title = title
        self.terms = terms
        self.cycle = cycle
        self.due_date = due_date
        self.grace_days = grace_days
        self.notification_date = notification_date
        self.expiry_date = expiry_date
        self.status = EvaluationStatus.OPEN
        self.value: Decimal | None = None
        self.passed: bool | None = None
        self.notices: dict[NoticeKind, UUID] = {}
        #: The notice of each kind recorded as not sent (`NoticeNotSent`): kept apart from `notices`, which says
        #: what was queued to be sent, so a notice that could not go out stays owed.
        self.unsent: dict[NoticeKind, UUID] = {}
        self.proofs: dict[UUID, Proof] = {}

    @property
    def overdue_after(self) -> date:
        """The last day before it turns overdue (due date plus grace days)."""
        return self.due_date + timedelta(days=self.grace_days)

    def _require_reviewable(self, action: str) -> None:
        if self.status.closed:
            raise Conflict(
                f"cannot {action}: the record is already {self.status.value} (closed)", status=self.status.value
            )

    def submit_value(self, raw: str | int | float | Decimal) -> bool:
        """Record a measured value; the system decides pass or fail. Returns whether it passed."""
        if self.terms.type is not CovenantType.FINANCIAL:
            raise Conflict(f"cannot submit a value: this is a {self.terms.type.value} covenant, not a financial one")
        self._require_reviewable("submit a value")
        value = parse_measured_value(raw)
        passed = self.terms.passes(value)
        self._value_submitted(value=value, passed=passed)
        return passed

    @event(ValueSubmitted)
    def _value_submitted(self, value: Decimal, passed: bool) -> None:
        self.value = value
        self.passed = passed

    def check_attachable(self) -> None:
        """Conflict unless proof may still be attached: the record is Open or Overdue and has room for another."""
        self._require_reviewable("attach proof")
        if len(self.proofs) >= MAX_PROOFS:
            raise Conflict(f"a record holds at most {MAX_PROOFS} proof documents", limit=MAX_PROOFS)

    def attach_proof(
        self,
        document_id: UUID,
        *,
        filename: str,
        sha256: str,
        size: int,
        content_type: ContentType,
        uploaded_by: Uploader,
    ) -> None:
        """Attach an uploaded document as proof of compliance, while the record is Open or Overdue (each document
        once, at most `MAX_PROOFS`)."""
        self.check_attachable()
        if document_id in self.proofs:
            raise Conflict("this document is already attached to the record as proof", document_id=str(document_id))
        self._proof_attached(document_id=document_id, filename=filename, sha256=sha256, size=size,
                             content_type=content_type, uploaded_by=uploaded_by)  # fmt: skip

    @event(ProofAttached)
    def _proof_attached(
        self, document_id: UUID, filename: str, sha256: str, size: int, content_type: ContentType, uploaded_by: Uploader
    ) -> None:
        proof = Proof(document_id, filename, sha256, size, ContentType(content_type), Uploader(uploaded_by))
        self.proofs = {**self.proofs, document_id: proof}

    def proof(self, document_id: UUID) -> Proof:
        """A proof document of the record (ProofNotFound when the document is not attached to it)."""
        found = self.proofs.get(document_id)
        if found is None:
            raise ProofNotFound(f"document {document_id} is not a proof of this record", id=str(document_id))
        return found

    @property
    def proof_received(self) -> bool:
        """Whether any proof is attached: an Open record with proof is waiting for the lender's review."""
        return bool(self.proofs)

    def comply(
        self, evidence: str, proof_document_ids: Sequence[UUID] = (), rejected: Mapping[UUID, str] | None = None
    ) -> None:
        """Staff approve compliance; evidence is required, and a financial covenant needs a passing value. The
        attached proofs cited (`proof_document_ids`) are recorded as approved with it, unless one's document was
        rejected since it was attached (`rejected`: document id -> reason; a 422 naming `proof_document_ids[i]`)."""
        self._require_reviewable("mark it complied")
        missing = "give the evidence or document reference that shows compliance"
        checks = FieldChecks()
        text = checks.check(
            lambda: clean_text(evidence, "evidence", multiline=True, min_visible=MIN_REASON, missing=missing)
        )
        cited = checks.check(lambda: cited_proofs(self.proofs, proof_document_ids, rejected))
        checks.raise_if_any()
        assert text is not None and cited is not None
        if self.terms.type is CovenantType.FINANCIAL:
            if self.passed is None:
                raise Conflict("cannot mark it complied: submit the measured value first")
            if not self.passed:
                raise Conflict(
                    f"cannot mark it complied: the measured value {self.value} fails "
                    f"{self.terms.metric} {self.terms.operator} {self.terms.threshold}; waive it instead"
                )
        if cited:
            self._proofs_approved(document_ids=cited)
        self._complied(evidence=text.strip())

    @event(ProofsApproved)
    def _proofs_approved(self, document_ids: list[UUID]) -> None:
        self.proofs = {i: replace(p, approved=p.approved or i in document_ids) for i, p in self.proofs.items()}

    @event(Complied)
    def _complied(self, evidence: str) -> None:
        self.status = EvaluationStatus.COMPLIED

    def waive(self, reason: str) -> None:
        """Staff waive this cycle with a reason."""
        self._require_reviewable("waive it")
        why = clean_text(
            reason, "reason", multiline=True, min_visible=MIN_REASON, missing="give the reason for the waiver"
        )
        self._waived(reason=why)

    @event(Waived)
    def _waived(self, reason: str) -> None:
        self.status = EvaluationStatus.WAIVED

    def mark_overdue(self, as_of: date) -> bool:
        """System only: Open and past due date plus grace -> Overdue. Returns whether it changed."""
        if self.status is not EvaluationStatus.OPEN or as_of <= self.overdue_after:
            return False
        self._marked_overdue()
        return True

    @event(MarkedOverdue)
    def _marked_overdue(self) -> None:
        self.status = EvaluationStatus.OVERDUE

    def needs_notice(self, kind: NoticeKind) -> bool:
        """Whether a notice of `kind` is still owed for this record."""
        if kind in self.notices:
            return False
        if kind is NoticeKind.REMINDER:
            return self.status is EvaluationStatus.OPEN
        return self.status is EvaluationStatus.OVERDUE

    def queue_notice(self, kind: NoticeKind, notice_id: UUID) -> None:
        """Link the notice that covers this record; a second notice of the same kind is refused."""
        if kind in self.notices:
            raise Conflict(
                f"a {kind.value} notice was already queued for this record", notice_id=str(self.notices[kind])
            )
        self._notice_queued(kind=kind, notice_id=notice_id)

    @event(NoticeQueued)
    def _notice_queued(self, kind: NoticeKind, notice_id: UUID) -> None:
        self.notices[kind] = notice_id

    def unsent_to_record(self, kind: NoticeKind) -> bool:
        """Whether a notice of `kind` is owed but no notice of it was recorded as not sent yet: the job records
        the failure once, not on every run that meets the record again."""
        return self.needs_notice(kind) and kind not in self.unsent

    def notice_not_sent(self, kind: NoticeKind, notice_id: UUID, reason: UnsentReason) -> None:
        """Link the notice of `kind` that could not be sent (`reason`); a second one of the same kind is refused.
        The record still owes the notice (`needs_notice`)."""
        if kind in self.unsent:
            raise Conflict(
                f"a {kind.value} notice was already recorded as not sent for this record",
                notice_id=str(self.unsent[kind]),
            )
        self._notice_not_sent(kind=kind, notice_id=notice_id, reason=reason)

    @event(NoticeNotSent)
    def _notice_not_sent(self, kind: NoticeKind, notice_id: UUID, reason: UnsentReason) -> None:
        self.unsent[kind] = notice_id


class CovenantNotice(Aggregate):
    """One email to a borrower covering one or more evaluation records; queued, then sent or failed. A notice that
    cannot be sent at all (the borrower has no email address) is recorded not sent (`NotSent`, in the save that
    queues it): it is never handed to the mail server, and says on the covenant's pages why the borrower was not
    told."""

    class Queued(Aggregate.Created):
        """The email was composed and is owed."""

        brand_id: UUID
        kind: NoticeKind
        customer_id: UUID
        application_ref: str
        recipient: str
        subject: str
        evaluation_ids: list[UUID]
        as_of: date
        #: The company of the records it covers when they share one (None: of no company, records of different
        #: companies or opened before records carried theirs).
        company: str | None = None

    class HandingOver(Aggregate.Event):
        """The whole email was transmitted; only the end-of-data mark that commits it at the server follows."""

        message_id: str

    class Sent(Aggregate.Event):
        """The mail server accepted the email (presumed: the sender stopped after handing it over)."""

        message_id: str
        presumed: bool = False

    class SendFailed(Aggregate.Event):
        """Sending failed; it stays owed."""

        error: str

    class NotSent(Aggregate.Event):
        """The email could not be sent at all (`reason`), so it never will be; its records still owe the notice,
        which a later notice (of a later run) sends once it can."""

        reason: UnsentReason

    @event(Queued)
    def __init__(
        self,
        brand_id: UUID,
        kind: NoticeKind,
        customer_id: UUID,
        application_ref: str,
        recipient: str,
        subject: str,
        evaluation_ids: list[UUID],
        as_of: date,
        company: str | None = None,
    ) -> None:
        self.brand_id = brand_id
        self.kind = kind
        self.company = company
        self.customer_id = customer_id
        self.application_ref = application_ref
        self.recipient = recipient
        self.subject = subject
        self.evaluation_ids = list(evaluation_ids)
        self.as_of = as_of
        self.sent = False
        self.handing_over = False
        self.failures = 0
        self.not_sent: UnsentReason | None = None

    @property
    def message_id(self) -> str:
        """A stable Message-ID, so a resend after a crash is recognisable as the same email."""
        return f"<notice-{self.id}@covenant-desk>"

    def _require_sendable(self) -> None:
        if self.sent:
            raise Conflict("notice was already sent")
        if self.not_sent is not None:
            raise Conflict(f"notice was recorded as not sent ({self.not_sent.value})")

    def mark_not_sent(self, reason: UnsentReason) -> None:
        """The email cannot be sent (`reason`): recorded in the save that queues it, never handed over."""
        self._require_sendable()
        self._not_sent(reason=reason)

    @event(NotSent)
    def _not_sent(self, reason: UnsentReason) -> None:
        self.not_sent = reason

    def mark_handing_over(self) -> None:
        """About to commit the email at the mail server (recorded before the end-of-data mark is sent)."""
        self._require_sendable()
        self._handing_over(message_id=self.message_id)

    @event(HandingOver)
    def _handing_over(self, message_id: str) -> None:
        self.handing_over = True

    def mark_sent(self, *, presumed: bool = False) -> None:
        """The mail server accepted it; `presumed` when it was handed over and the answer never came back."""
        self._require_sendable()
        if presumed and not self.handing_over:
            raise Conflict("only a notice handed over to the mail server can be presumed sent")
        self._sent(message_id=self.message_id, presumed=presumed)

    @event(Sent)
    def _sent(self, message_id: str, presumed: bool) -> None:
        self.sent = True
        self.handing_over = False

    def mark_failed(self, error: str) -> None:
        """Sending failed; the notice stays owed."""
        self._require_sendable()
        self._send_failed(error=error)

    @event(SendFailed)
    def _send_failed(self, error: str) -> None:
        self.failures += 1
        self.handing_over = False
