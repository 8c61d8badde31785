"""Request and response models of collection money (issue #16 items 5-7)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import InstantOut
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON, VISIBLE_REFERENCE
from api.routes.servicing_models import StaffPaymentMode
from domain.shared.values import MIN_REASON, BusinessDate, PositiveMoney


class CollectionIn(BaseModel):
    """Money an executive collected: counted once approved."""

    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney
    mode: StaffPaymentMode
    reference: str = Field(
        max_length=100, description="the receipt or UTR: unique per loan", json_schema_extra=VISIBLE_REFERENCE
    )
    collected_on: BusinessDate | None = Field(None, description="the business date unless given; never after it")


class FullRepaymentIn(BaseModel):
    """A full repayment an executive collected: applied at once, so it must be what the loan owes that day."""

    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney = Field(
        description="what was collected: exactly what the loan owes on `collected_on` (the payoff, or what is left "
        "of an approved settlement); a part-payment is a collection request"
    )
    mode: StaffPaymentMode
    reference: str = Field(
        max_length=100, description="the receipt or UTR: unique per loan", json_schema_extra=VISIBLE_REFERENCE
    )
    collected_on: BusinessDate | None = Field(
        None, description="the business date unless given; never after it nor before the disbursal"
    )


class WaiverIn(BaseModel):
    """A penal-charge waiver asked for."""

    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney = Field(description="at most the penal charges outstanding")
    justification: str = Field(
        min_length=MIN_REASON, max_length=1000, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class SettlementIn(BaseModel):
    """A settlement proposed: a reduced amount accepted as full and final."""

    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney = Field(description="below the payoff on the business date")
    remarks: str = Field(
        min_length=MIN_REASON, max_length=1000, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class ReasonIn(BaseModel):
    """Why (a rejection, a write-off): at least 3 visible characters."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON, max_length=1000, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class RequestState(StrEnum):
    """A request's state, as the lists filter it."""

    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"


class RequestsQuery(BaseModel):
    """An approvers' queue: pending ones unless asked otherwise."""

    model_config = ConfigDict(extra="forbid")

    status: RequestState = RequestState.PENDING_APPROVAL
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class RecoveryRequestOut(BaseModel):
    """A collection request, manual receipt, waiver, settlement or proposed write-off and its decision (a write-off's
    amount is the payoff on the day it was proposed)."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    loan_id: UUID
    loan_number: str
    kind: str = Field(description="collection, receipt, waiver, settlement or write_off")
    status: str = Field(description="pending_approval, approved or rejected")
    amount: Decimal
    mode: str | None
    reference: str | None
    collected_on: date | None
    document_id: UUID | None = Field(description="a receipt's document (/api/v1/documents/{id}/content)")
    justification: str | None = Field(
        description="a waiver's justification, a settlement's remarks, a proposed write-off's reason"
    )
    reason: str | None = Field(description="the rejection's reason")
    payment_id: str | None = Field(description="the repayment (or recovery) an approved collection recorded")
    requested_by: str
    requested_at: InstantOut
    decided_by: str | None
    decided_at: InstantOut | None


class RecoveryRequestPageOut(BaseModel):
    """A page of requests, newest first."""

    items: list[RecoveryRequestOut]
    next_cursor: str | None


class RecoveryRequestListOut(BaseModel):
    """A loan's requests, newest first."""

    items: list[RecoveryRequestOut]


class WriteOffOut(BaseModel):
    """A loan written off: the balance taken off its ledger, by bucket."""

    loan_id: UUID
    status: str
    written_off_on: date
    principal: Decimal
    interest: Decimal
    penal: Decimal
    total: Decimal
