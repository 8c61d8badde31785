"""What the messaging and money services answer: SMS, e-sign and the payment gateway (values and protocols)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from domain.providers.calls import Caller


@dataclass(frozen=True)
class SmsReceipt:
    """An SMS the provider accepted for delivery."""

    message_id: str
    to: str  # E.164, as the provider has it
    status: str  # "queued" (delivery receipts come later, when the product needs them)


class SmsSender(Protocol):
    """Sends text messages (OTPs, reminders)."""

    def send(self, to: str, text: str, sender: str = ..., *, caller: Caller) -> SmsReceipt:
        """Hand one message to the provider: ProviderRejected for a number it will not deliver to."""
        ...


@dataclass(frozen=True)
class EsignRequest:
    """A document waiting for its signer: where they sign, until when. The result comes as a signed webhook."""

    request_id: str
    signing_url: str
    expires_at: datetime
    status: str  # "pending"


class EsignProvider(Protocol):
    """Aadhaar e-sign of a document (the provider holds the document; we send its SHA-256 and the signer)."""

    def create(
        self,
        document_sha256: str,
        signer_name: str,
        signer_phone: str,
        *,
        reference: str,
        callback_url: str,
        caller: Caller,
        expires_in_days: int | None = None,
    ) -> EsignRequest:
        """Open a signing request, valid `expires_in_days` (None: the provider's default); the provider calls
        `callback_url` (signed) when it is signed or declined."""
        ...


@dataclass(frozen=True)
class PaymentOrder:
    """A payment link or order the borrower pays at `payment_url`; the outcome comes as a signed webhook."""

    order_id: str
    payment_url: str
    amount: Decimal
    reference: str
    status: str  # "created"
    expires_at: datetime


class PaymentGateway(Protocol):
    """Collects payments (repayments, fees) through a hosted payment page."""

    def create_order(
        self,
        amount: Decimal,
        reference: str,
        *,
        customer_phone: str,
        description: str,
        callback_url: str,
        caller: Caller,
    ) -> PaymentOrder:
        """Create a payment order of `amount` rupees; ProviderRejected for an amount or reference it refuses."""
        ...


@dataclass(frozen=True)
class Beneficiary:
    """Whom a payout goes to: the account holder's name, the account number and the branch's IFSC."""

    name: str
    account_number: str
    ifsc: str


@dataclass(frozen=True)
class Payout:
    """A payout the gateway accepted: settled later (`payout.processed` / `payout.failed`, a signed webhook).
    `simulator_url` is where our simulator settles it from a test or the demo (None at a real gateway)."""

    payout_id: str
    reference: str
    amount: Decimal
    mode: str  # IMPS, NEFT, UPI
    status: str  # "pending"; a lookup (`find_payout`) may say "processed" or "failed"
    simulator_url: str | None = None
    reason: str | None = None  # why a failed payout failed, when a lookup says


class PayoutGateway(Protocol):
    """Sends money to a beneficiary's bank account (loan disbursal)."""

    def create_payout(
        self,
        amount: Decimal,
        *,
        mode: str,
        beneficiary: Beneficiary,
        reference: str,
        idempotency_key: str,
        callback_url: str,
        caller: Caller,
    ) -> Payout:
        """Start a payout of `amount` rupees; the same `idempotency_key` never pays twice (the gateway answers the
        payout it made). ProviderRejected for an amount, mode or beneficiary it refuses."""
        ...

    def find_payout(self, idempotency_key: str, *, caller: Caller) -> Payout | None:
        """The payout made under `idempotency_key` with its status now, or None when none was made under it."""
        ...
