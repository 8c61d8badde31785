"""Response and request models of disbursal: a loan's `disbursement` block, the Ops queue, payout files."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON
from domain.shared.values import MIN_REASON


class AttemptOut(BaseModel):
    """One payout attempt: initiated, then confirmed or failed (with the gateway's reason) by its webhook."""

    model_config = ConfigDict(from_attributes=True)

    attempt: int
    mode: str
    gateway_reference: str
    amount: Decimal
    state: str = Field(description="initiated, confirmed or failed")
    reason: str | None = Field(description="the gateway's reason of a failure")
    actor: str
    initiated_at: datetime
    settled_at: datetime | None


class DisbursementOut(BaseModel):
    """A loan's disbursement once it reached the Ops queue."""

    model_config = ConfigDict(from_attributes=True)

    state: str = Field(description="queued, initiated, failed, exported, disbursed or cancelled")
    mode: str | None = Field(description="the last attempt's mode (IMPS, NEFT, UPI)")
    gateway_reference: str | None = Field(description="the last attempt's payout id at the gateway")
    net_disbursed: Decimal
    reason: str | None = Field(description="the gateway's reason when the last attempt failed")
    exported_file_id: str | None = Field(description="the payout file holding the loan")
    disbursed_on: date | None
    attempts: list[AttemptOut]
    simulator_url: str | None = Field(
        description="while the gateway simulator runs: POST {'action': 'confirm'} or {'action': 'fail', 'reason'} "
        "settles the in-flight payout through our webhook"
    )


class DisburseIn(BaseModel):
    """How to pay the borrower."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["IMPS", "NEFT", "UPI"]


class DisburseOut(BaseModel):
    """The payout attempt initiated (the loan is not disbursed until the gateway confirms)."""

    loan_id: UUID
    status: str
    disbursement: DisbursementOut | None


class QueueItemOut(BaseModel):
    """A loan in the Ops disbursal queue."""

    model_config = ConfigDict(from_attributes=True)

    loan_id: UUID
    loan_number: str
    customer_id: UUID
    borrower: str | None
    net_disbursed: Decimal | None
    state: str
    mode: str | None
    gateway_reference: str | None
    attempts: int
    reason: str | None
    exported_file_id: str | None
    created_at: datetime = Field(description="when the application was started")
    queued_at: datetime = Field(description="when the loan entered the queue (its awaiting_disbursal status change)")


class QueuePageOut(BaseModel):
    """A page of the Ops disbursal queue, the longest queued first."""

    model_config = ConfigDict(from_attributes=True)

    items: list[QueueItemOut]
    next_cursor: str | None


class QueueQuery(BaseModel):
    """A page of the queue."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class PayoutFileIn(BaseModel):
    """The loans to pay by bank upload."""

    model_config = ConfigDict(extra="forbid")

    loan_ids: list[UUID] = Field(min_length=1, max_length=10_000)


class PayoutFileOut(BaseModel):
    """A payout file: its control total and where to download it and its beneficiary registration file."""

    id: UUID
    created_at: datetime
    created_by: str
    row_count: int
    total: Decimal
    beneficiary_count: int = Field(description="new accounts in the beneficiary registration file")
    state: str = Field(description="exported, returned or confirmed")
    reason: str | None
    download_url: str
    beneficiary_download_url: str


class PayoutFileListOut(BaseModel):
    """The brand's newest payout files."""

    items: list[PayoutFileOut]


class ReturnIn(BaseModel):
    """Why the bank returned the file."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class WebhookOut(BaseModel):
    """What our webhook did: processed, duplicate or ignored."""

    status: str
    detail: str | None = None
