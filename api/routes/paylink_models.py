"""Request and response models of the payment link and UPI Autopay mandate endpoints (api/routes/paylinks.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.services.mandates import FREQUENCIES
from api.services.paylinks import CHANNELS
from domain.shared import formats
from domain.shared.values import PositiveMoney, stated_choices, stated_pattern


class PaymentLinkIn(BaseModel):
    """A payment link to create and send."""

    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney | None = Field(
        None, description="rupees; what is due now unless given; never above the payoff"
    )
    channel: Annotated[str, Field(max_length=20), stated_choices(CHANNELS)] = Field(
        "sms", description="sms or whatsapp"
    )


class PaymentLinkOut(BaseModel):
    """A payment link and its state: created, sent, paid, failed, unapplied (paid, refused by the loan) or expired."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    loan_id: UUID
    amount: Decimal
    channel: str
    phone: str
    order_id: str | None
    payment_url: str | None
    state: str
    repayment_id: str | None
    reason: str | None
    created_at: datetime
    expires_at: datetime | None
    sent_at: datetime | None
    paid_at: datetime | None


class PaymentLinkListOut(BaseModel):
    """A loan's payment links, oldest first."""

    items: list[PaymentLinkOut]


class MandateIn(BaseModel):
    """A UPI Autopay mandate to register."""

    model_config = ConfigDict(extra="forbid")

    vpa: Annotated[str, Field(max_length=100), stated_pattern(formats.UPI_ID, max_length=100)] = Field(
        description="the payer's UPI id (name@handle)"
    )
    max_amount: PositiveMoney = Field(description="the most one debit may take, rupees (more than 0)")
    frequency: Annotated[str, Field(max_length=20), stated_choices(FREQUENCIES)] = Field(
        "monthly", description="monthly, weekly or as_presented"
    )


class MandateDebitOut(BaseModel):
    """One debit presented under a mandate: presented, paid, failed (with the gateway's reason) or unapplied (captured,
    refused by the loan, with its reason)."""

    model_config = ConfigDict(from_attributes=True)

    reference: str
    order_id: str | None
    instalment: int
    attempt: int
    amount: Decimal
    state: str
    reason: str | None
    repayment_id: str | None
    presented_on: date
    retry_on: date | None


class MandateOut(BaseModel):
    """A mandate: registered, active or revoked; its debits."""

    id: UUID
    loan_id: UUID
    vpa: str
    max_amount: Decimal
    frequency: str
    state: str
    reason: str | None
    created_at: datetime
    changed_at: datetime
    approval_url: str | None = Field(None, description="where the payer approves it (on registration only)")
    debits: list[MandateDebitOut] = Field(default_factory=list)


class MandateListOut(BaseModel):
    """A loan's mandates, oldest first."""

    items: list[MandateOut]
