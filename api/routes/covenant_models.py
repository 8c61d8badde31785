"""Request and response models of the covenant endpoints (api/routes/covenants.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.endpoint import InstantOut
from api.request_input import (
    VISIBLE_LINE_OR_BLANK,
    VISIBLE_MIN_REASON,
    VISIBLE_REASON,
    VISIBLE_REFERENCE,
    VISIBLE_TITLE,
    check_ranges,
)
from domain.covenants.proofs import MAX_PROOFS
from domain.covenants.schedule import Frequency
from domain.covenants.status import CovenantStatus, EvaluationStatus, NoticeKind
from domain.covenants.terms import CovenantType, Operator, Terms
from domain.documents.content import ContentType, Uploader
from domain.documents.document import DocumentStatus
from domain.shared.values import MIN_REASON, BusinessDate, Measure, WholeNumber


class CovenantIn(BaseModel):
    """A covenant on a borrower under an application or loan reference."""

    model_config = ConfigDict(extra="forbid")

    customer_id: UUID
    application_ref: str = Field(max_length=60, json_schema_extra=VISIBLE_REFERENCE)
    title: str = Field(
        min_length=MIN_REASON, max_length=200, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_TITLE
    )
    type: CovenantType
    metric: str | None = Field(None, max_length=100)
    operator: Operator | None = None
    threshold: Measure | None = Field(None, description="a decimal string such as 1.25 (15 digits, 6 places)")
    document: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=1000)
    frequency: Frequency
    start_date: BusinessDate
    first_due_date: BusinessDate
    expiry_date: BusinessDate
    grace_days: WholeNumber | None = Field(None, ge=0, le=365)
    notification_lead_days: WholeNumber | None = Field(None, ge=0, le=365)
    assignee_id: UUID | None = None
    company: str | None = Field(None, max_length=100, json_schema_extra=VISIBLE_LINE_OR_BLANK)


class CovenantPatch(BaseModel):
    """Reassign the covenant."""

    model_config = ConfigDict(extra="forbid")

    assignee_id: UUID | None


class CloseIn(BaseModel):
    """Why the covenant is closed before expiry (closing stops the chase: no new cycle opens, and the notification job
    marks none of its records overdue nor emails about them; the records keep their status and history)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class WorklistQuery(BaseModel):
    """Worklist filters; `status` is a covenant status (active, expired, closed) or a record's (open, complied, waived, overdue)."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = Field(None, pattern="^(active|expired|closed|open|complied|waived|overdue)$")
    due_from: BusinessDate | None = None
    due_to: BusinessDate | None = None
    customer_id: UUID | None = None
    type: CovenantType | None = None
    assignee_id: UUID | None = None
    proof_received: bool | None = Field(
        None,
        description="true: the current record has proof attached that staff have not rejected (with status=open: "
        "waiting for the lender's review); false: the current record has none, or only rejected ones",
    )
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)

    @model_validator(mode="after")
    def _ranges(self) -> WorklistQuery:
        check_ranges(self, ("due_from", "due_to"))
        return self


class EvidenceIn(BaseModel):
    """The evidence or document reference that shows compliance, and the attached proof documents approved."""

    model_config = ConfigDict(extra="forbid")

    evidence: str = Field(
        min_length=MIN_REASON, max_length=1000, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )
    proof_document_ids: list[UUID] = Field(
        default_factory=list,
        max_length=MAX_PROOFS,
        description="Proof documents attached to this record that the reviewer approved (each must be attached, and "
        "not rejected since as a document of the borrower)",
    )


class ProofFormIn(BaseModel):
    """The text fields of a proof upload (the file is the multipart part `file`)."""

    model_config = ConfigDict(extra="forbid")


class ReasonIn(BaseModel):
    """Why the record is waived."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON, max_length=1000, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class ValueIn(BaseModel):
    """A measured value (a number or a decimal string)."""

    model_config = ConfigDict(extra="forbid")

    value: Measure = Field(description="a number or decimal string (15 digits, 6 places)")


class NoticeQuery(BaseModel):
    """Notices of one borrower, or all."""

    model_config = ConfigDict(extra="forbid")

    customer_id: UUID | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=500, description="the `next_cursor` of the page before")


class ProofOut(BaseModel):
    """A document attached to the record as proof (its bytes at
    `/api/v1/covenant-evaluations/{id}/proofs/{document_id}`, verified against `sha256`)."""

    document_id: UUID
    filename: str
    sha256: str = Field(description="SHA-256 of the bytes (hex), recorded when attached")
    size: int
    content_type: ContentType = Field(description="Sniffed from the bytes, not taken from the upload")
    uploaded_by: Uploader
    attached_by: str = Field(description="The actor who attached it (staff:<id>, apikey:<id>)")
    attached_at: InstantOut
    approved: bool = Field(description="Cited by the reviewer who marked the record complied")
    document_status: DocumentStatus = Field(
        DocumentStatus.PENDING,
        description="The document's review on the borrower's documents; a rejected one cannot be cited when "
        "complying (422 naming `proof_document_ids[i]`)",
    )
    document_reason: str | None = Field(None, description="The rejection's reason, when rejected")


class RecordNoticeOut(BaseModel):
    """A notice covering the record: an email queued or sent, or one that could not be sent."""

    id: UUID
    kind: NoticeKind
    status: str = Field(
        description="queued (owed: the notification job sends it), sent, or not_sent (never sent; `reason` says why, "
        "and the record still owes the notice: a later run sends it once it can)"
    )
    reason: str | None = Field(
        None, description="why a not_sent notice was not sent: no_email (the borrower has no email address)"
    )
    recipient: str = Field(description="the address it went to (empty when not sent for want of one)")
    queued_at: InstantOut
    sent_at: InstantOut | None


class EvaluationOut(BaseModel):
    """One cycle's evaluation record."""

    id: UUID
    covenant_id: UUID
    customer_id: UUID
    application_ref: str
    title: str
    type: CovenantType
    cycle: int
    due_date: date
    overdue_after: date
    notification_date: date
    status: EvaluationStatus
    value: Decimal | None
    passed: bool | None
    evidence: str | None
    reason: str | None
    reviewed_by: str | None
    reviewed_at: InstantOut | None
    reminder_notice_id: UUID | None
    overdue_notice_id: UUID | None
    opened_at: InstantOut
    updated_at: InstantOut
    proof_received: bool = Field(
        description="Proof is attached that staff have not rejected: an open record with proof is waiting for the "
        "lender's review"
    )
    proofs: list[ProofOut] = Field(description="Proof documents attached, oldest first")
    notices: list[RecordNoticeOut] = Field(
        default_factory=list,
        description="The reminder and overdue notices covering the record, oldest first, including one not sent "
        "because the borrower had no email address",
    )


class EvaluationListOut(BaseModel):
    """Evaluation records, newest cycle first."""

    items: list[EvaluationOut]


class CovenantItemOut(BaseModel):
    """A covenant as the worklist shows it, with its current record."""

    id: UUID
    customer_id: UUID
    customer_name: str | None
    application_ref: str
    title: str
    type: CovenantType
    terms: Terms
    frequency: Frequency
    start_date: date
    first_due_date: date
    expiry_date: date
    grace_days: int
    lead_days: int
    assignee_id: UUID | None
    company: str | None
    status: CovenantStatus
    cycles: int
    next_due_date: date | None
    next_evaluation_date: date | None
    current_evaluation_id: UUID | None
    current_status: EvaluationStatus | None
    current_due_date: date | None
    created_at: InstantOut
    updated_at: InstantOut
    current_proof_received: bool = Field(
        description="Proof staff have not rejected is attached to the current record (an open one is waiting for "
        "the lender's review)"
    )
    version: int | None = Field(
        description="send it back as If-Match on PATCH to refuse a stale change (null only for covenants recorded "
        "before versions were shown, until their next change)"
    )


class CovenantOut(CovenantItemOut):
    """A covenant with its evaluation history, newest cycle first."""

    evaluations: list[EvaluationOut]


class CovenantWarningOut(BaseModel):
    """Something staff should know about a covenant just set up that refused nothing."""

    code: str = Field(description="no_email: the borrower has no email address, so no notice can be sent")
    message: str


class CovenantCreatedOut(CovenantOut):
    """The covenant just set up, with what staff should know about it."""

    warnings: list[CovenantWarningOut] = Field(
        default_factory=list,
        description="non-blocking: no_email when the borrower has no email address (the covenant is set up; each "
        "reminder or overdue notice owed is recorded not sent until an address is added on Customer 360)",
    )


class CovenantPageOut(BaseModel):
    """A page of the worklist."""

    items: list[CovenantItemOut]
    next_cursor: str | None


class CovenantDashboardOut(BaseModel):
    """Evaluation records by status, and active covenants."""

    open: int
    complied: int
    waived: int
    overdue: int
    active_covenants: int


class CovenantNoticeOut(BaseModel):
    """An email to a borrower about records due or overdue."""

    id: UUID
    kind: NoticeKind
    recipient: str
    subject: str
    evaluation_ids: list[UUID]
    as_of: date
    status: str = Field(
        description="queued (owed: the notification job sends it), sent, or not_sent (never sent: see `reason`)"
    )
    failures: int
    error: str | None
    queued_at: InstantOut
    sent_at: InstantOut | None
    customer_id: UUID = Field(description="the borrower it was sent to (filter with `customer_id`)")
    reason: str | None = Field(
        None,
        description="why a not_sent notice was not sent: no_email (the borrower has no email address; `recipient` "
        "is empty). Its records still owe the notice: a run after an address is added sends it as a new notice",
    )


class CovenantNoticeListOut(BaseModel):
    """Notices newest first, a page at a time (`next_cursor`: null on the last page)."""

    items: list[CovenantNoticeOut]
    next_cursor: str | None = None
