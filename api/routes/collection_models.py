"""Request and response models of the collections endpoints."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import InstantOut
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON
from api.services.teams import TEAM_HELP, TeamParam
from domain.collections.case import Outcome, Stage
from domain.shared.values import MIN_REASON, BusinessDate, Instant, PositiveMoney


class WorklistQuery(BaseModel):
    """A stage's worklist: one executive's (executives see only their own), or every assignee's (managers)."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage = Stage.COLLECTIONS
    assignee: UUID | None = None
    unassigned: bool = False  # managers: only the loans nobody has
    team: TeamParam | None = Field(None, description=f"managers: the loans of a team, {TEAM_HELP}")
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class ContactIn(BaseModel):
    """A contact with the borrower."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    remarks: str = Field("", max_length=2000)
    callback_at: Instant | None = None


class PtpIn(BaseModel):
    """A promise to pay `amount` by `date`."""

    model_config = ConfigDict(extra="forbid")

    date: BusinessDate
    amount: PositiveMoney = Field(gt=0)


class AllocationIn(BaseModel):
    """Loans to move to one executive."""

    model_config = ConfigDict(extra="forbid")

    loan_ids: list[UUID] = Field(min_length=1, max_length=1000)
    staff_id: UUID


class LegalIn(BaseModel):
    """Why the loan moves to post-collections (legal)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class EvidenceFormIn(BaseModel):
    """The text fields of an evidence upload (the file is the multipart part `file`)."""

    model_config = ConfigDict(extra="forbid")


class TeamQuery(BaseModel):
    """The team view of a stage: everyone's, or one team's."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage = Stage.COLLECTIONS
    team: TeamParam | None = Field(None, description=f"the cases held by a team, {TEAM_HELP}")


class WorkItemOut(BaseModel):
    """A loan on a worklist, with what to do next."""

    loan_id: UUID
    loan_number: str | None
    customer_id: UUID | None
    customer_name: str | None
    stage: Stage
    assignee: UUID | None
    dpd: int
    amount: Decimal
    due_on: date | None
    legal: bool
    attention_at: InstantOut | None
    callback_at: InstantOut | None
    last_contact_at: InstantOut | None
    last_outcome: Outcome | None
    contacts: int
    ptp_due_on: date | None
    ptp_amount: Decimal | None
    ptp_status: str | None
    next_action: str


class WorklistOut(BaseModel):
    """A worklist page: attention due first, then DPD and amount, highest first."""

    items: list[WorkItemOut]
    next_cursor: str | None


class ContactOut(BaseModel):
    """A logged contact."""

    contact_id: UUID
    outcome: Outcome
    remarks: str
    callback_at: InstantOut | None
    channel: str
    staff_id: UUID | None
    call: dict[str, Any] | None
    evidence: list[UUID]
    actor: str
    at: InstantOut


class PtpOut(BaseModel):
    """A promise to pay and its latest judgement: `status`, `paid` and `judged_on` as last judged (a judged promise is
    judged again at a close of business within 30 days of its date when money paid within it is applied late or
    reversed: docs/collections.md, "Judged again")."""

    ptp_id: UUID
    staff_id: UUID | None
    due_on: date
    amount: Decimal
    made_on: date
    status: str
    paid: Decimal
    judged_on: date | None
    at: InstantOut


class PtpListOut(BaseModel):
    """A loan's promises, newest first."""

    items: list[PtpOut]


class AllocationOut(BaseModel):
    """One move of a loan between executives."""

    staff_id: UUID | None
    previous: UUID | None
    stage: str | None
    kind: str
    business_date: date
    actor: str
    at: InstantOut
    reason: str | None = Field(
        default=None,
        description='why it moved: "close of business", "executive disabled", "executive no longer on the '
        '<stage> team", "reallocated by a manager" (null: recorded before reasons were kept)',
    )


class CaseItemOut(WorkItemOut):
    """A loan's case on its panel: like a worklist item, but with no stage while a case opened by a contact (a call,
    a field visit) has not yet been put in one by the sweep."""

    stage: Stage | None  # type: ignore[assignment]


class CaseOut(BaseModel):
    """A loan's collection panel: its case (absent when never in collections), contacts, promises, allocations."""

    loan_id: UUID
    case: CaseItemOut | None
    open: bool
    closed_reason: str | None
    contacts: list[ContactOut]
    ptps: list[PtpOut]
    allocations: list[AllocationOut]


class AllocationResultOut(BaseModel):
    """The loans moved (those already with the executive are left as they were)."""

    id: UUID
    staff_id: UUID
    moved: int
    loan_ids: list[UUID]
