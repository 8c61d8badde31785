"""The loan agreement and e-sign flow wired to the platform: `AgreementService` builds the domain's `Agreements`
(domain/loans/esign.py) from the loans, identity and customers contexts, the brand's chosen providers, the PDF
renderer and the content-addressed document store, and receives the e-sign provider's webhook (signature and
time window checked, event ids deduplicated in `ops.webhook_events`).

Configuration (env): `PUBLIC_BASE_URL` (default `http://127.0.0.1:8000`) is where providers call us back
(`{PUBLIC_BASE_URL}/api/v1/webhooks/esign`); the webhook's signing secrets are `PROVIDER_ESIGN_WEBHOOK_SECRET`
or else `PROVIDER_WEBHOOK_SECRET` (comma-separated while rotating; default `whsec_demo_providers`, what the demo's
simulators sign with). Agreements are stored in the documents context's content-addressed store
(`DOCUMENT_STORE_URL`: a folder, `var/documents` by default, or S3).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any
from uuid import UUID

import structlog

from adapters.agreement_pdf import PdfAgreementRenderer
from adapters.postgres import Database
from adapters.providers.directory import ProviderDirectory
from adapters.webhook_inbox import WebhookInbox
from adapters.webhooks import (
    MALFORMED_HEADER,
    MISSING_HEADER,
    WebhookEvent,
    WebhookRejected,
    WebhookVerifier,
    parse_event,
    require_text,
)
from api.problems import HttpProblem
from domain.customers.application import Customers
from domain.documents.application import Documents
from domain.identity.application import Identity
from domain.loans.agreement import AgreementBorrower, AgreementStore
from domain.loans.application import Loans
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.esign import Agreements, CallbackOutcome, EsignCallback
from domain.providers.messaging import EsignProvider, SmsSender
from domain.shared.clock import Clock, business_date
from domain.shared.errors import FieldError, InvalidInput, InvalidValue
from domain.shared.values import check_offset, mask_pan
from projections.verification_queries import VerificationQueries

log = structlog.get_logger(__name__)

WEBHOOK_PATH = "/api/v1/webhooks/esign"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_WEBHOOK_SECRET = "whsec_demo_providers"
SOURCE = "esign"


def public_base_url() -> str:
    """Where providers reach this deployment (`PUBLIC_BASE_URL`)."""
    return (os.environ.get("PUBLIC_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def webhook_secrets() -> list[str]:
    """The secrets an e-sign webhook may be signed with (several while a secret is rotated)."""
    raw = os.environ.get("PROVIDER_ESIGN_WEBHOOK_SECRET") or os.environ.get("PROVIDER_WEBHOOK_SECRET")
    secrets = [s.strip() for s in (raw or DEFAULT_WEBHOOK_SECRET).split(",") if s.strip()]
    return secrets or [DEFAULT_WEBHOOK_SECRET]


@dataclass(frozen=True)
class WebhookAck:
    """What the webhook answers a verified delivery: the event, what it came to, the loan and why."""

    event_id: str
    outcome: str  # recorded, duplicate, ignored
    loan_id: UUID | None
    detail: str
    position: int = 0


@dataclass(frozen=True)
class BrandAgreementParties:
    """The agreement's `AgreementParties`, answered by identity, customers and the verification read model."""

    identity: Identity
    customers: Customers
    verification: VerificationQueries

    def lender(self, brand_id: UUID) -> str:
        return str(self.identity.brand(brand_id).name)

    def borrower(self, brand_id: UUID, customer_id: UUID) -> AgreementBorrower:
        record = self.customers.get(brand_id, customer_id)
        current = next((a for a in record.addresses if a.kind == "current"), None)
        address = current or (record.addresses[0] if record.addresses else None)
        text = None
        if address is not None:
            parts = [address.line1, address.line2, address.city, address.state, address.pincode]
            text = ", ".join(p.strip() for p in parts if p and p.strip())
        return AgreementBorrower(record.name, record.number, mask_pan(record.pan), record.phone, text)

    def link_expiry_days(self, brand_id: UUID) -> int:
        return int(self.identity.settings(brand_id).esign_link_expiry_days)

    def repayment_calendar(self, brand_id: UUID) -> RepaymentCalendar:
        settings = self.identity.settings(brand_id)
        return RepaymentCalendar(sunday_off=settings.sunday_off, holidays=frozenset(settings.repayment_holidays))

    def disbursal_date(self, brand_id: UUID, sanctioned_at: datetime) -> date:
        settings = self.identity.settings(brand_id)
        return settings.business_date or business_date(sanctioned_at, settings.timezone)

    def timezone(self, brand_id: UUID) -> str:
        return str(self.identity.settings(brand_id).timezone)

    def verified_bank_account(self, brand_id: UUID, customer_id: UUID) -> str | None:
        """The borrower's newest verified bank account (penny drop or manual; the verification context)."""
        account = next((a for a in self.verification.bank_accounts(brand_id, customer_id) if a.verified), None)
        return str(account.id) if account is not None else None

    def bank_account_verified(self, brand_id: UUID, customer_id: UUID, bank_account_ref: str) -> bool:
        """Whether the account is the borrower's and verified (the verification context's read model)."""
        try:
            account = self.verification.bank_account(brand_id, UUID(bank_account_ref))
        except ValueError:  # not an account id: no account of theirs
            return False
        return account is not None and account.customer_id == customer_id and account.verified


@dataclass(frozen=True)
class BrandChannels:
    """The brand's chosen e-sign and SMS providers (BrandSettings `providers`)."""

    identity: Identity
    directory: ProviderDirectory

    def esign(self, brand_id: UUID) -> EsignProvider:
        return self.directory.for_brand(self.identity.settings(brand_id).providers).esign()

    def sms(self, brand_id: UUID) -> SmsSender:
        return self.directory.for_brand(self.identity.settings(brand_id).providers).sms()


@dataclass(frozen=True)
class AgreementService:
    """Loan agreements and e-sign for the API, the worker and the jobs (a port: the platform fills the fields)."""

    loans: Loans
    identity: Identity
    customers: Customers
    directory: ProviderDirectory
    documents: Documents
    verification: VerificationQueries
    db: Database
    clock: Clock

    @property
    def store(self) -> AgreementStore:
        """The documents context's content-addressed store (a folder or S3, `DOCUMENT_STORE_URL`)."""
        return self.documents.store

    @property
    def agreements(self) -> Agreements:
        """The use cases (built per call: the callback address follows `PUBLIC_BASE_URL`)."""
        return Agreements(
            self.loans,
            BrandAgreementParties(self.identity, self.customers, self.verification),
            BrandChannels(self.identity, self.directory),
            PdfAgreementRenderer(),
            self.store,
            public_base_url() + WEBHOOK_PATH,
            self.clock,
        )

    @cached_property
    def inbox(self) -> WebhookInbox:
        """The received webhook events (`ops.webhook_events`)."""
        return WebhookInbox(self.db.pool)

    def receive_webhook(self, body: bytes, headers: Any) -> WebhookAck:
        """A delivery of the e-sign provider's webhook: 400 unsigned or not an event, 401 forged, tampered or
        outside the time window, 422 naming `data.signed_at` when it is not an instant with its offset, is in the
        future beyond the window or before the live link was sent; a repeated event id answers its first outcome
        without acting again. Nothing is recorded for a refused delivery (nor its event id: the correction is taken)."""
        verifier = WebhookVerifier(webhook_secrets(), clock=self.clock)
        try:
            verifier.verify(body, headers)
        except WebhookRejected as exc:
            log.warning("esign.webhook_refused", reason=exc.reason, detail=exc.detail)
            # Unsigned is a malformed request (400); forged, tampered or stale is 401 (as the gateway's webhook).
            status = 400 if exc.reason in (MISSING_HEADER, MALFORMED_HEADER) else 401
            raise HttpProblem(status, exc.detail, "webhook-refused", reason=exc.reason) from None
        try:
            event = parse_event(body)
        except InvalidInput as exc:  # 400 here (as before), naming the fields in the detail
            raise HttpProblem(400, f"the body is not a webhook event ({exc})", "malformed-json") from None
        now = self.clock.now()
        claim = self.inbox.claim(SOURCE, event.id, event.type, now)
        if not claim.fresh:
            detail = f"event already received ({claim.outcome or 'being handled'}: {claim.detail or ''})".strip()
            return WebhookAck(event.id, CallbackOutcome.DUPLICATE.value, None, detail)
        try:
            callback = _callback(event, now + verifier.tolerance)
            result = self.agreements.receive(callback)
        except InvalidInput as exc:  # the provider's data is wrong: 422 naming the field; its correction is taken
            self.inbox.release(SOURCE, event.id)
            log.warning("esign.webhook_invalid", event_id=event.id, detail=exc.message)
            raise InvalidInput([FieldError(f"data.{e.field}", e.message) for e in exc.errors]) from None
        except BaseException:
            self.inbox.release(SOURCE, event.id)
            raise
        self.inbox.settle(SOURCE, event.id, result.outcome.value, result.detail, self.clock.now())
        log.info(
            "esign.webhook", event_id=event.id, type=event.type, outcome=result.outcome.value, loan=str(result.loan_id)
        )
        return WebhookAck(event.id, result.outcome.value, result.loan_id, result.detail, result.position)


def _callback(event: WebhookEvent, latest: datetime) -> EsignCallback:
    """The callback in the event's data; `signed_at`, when given, must be an ISO 8601 instant with its offset and
    no later than `latest` (now and the webhook's clock-skew window): InvalidValue naming `signed_at` otherwise."""
    data = event.data
    require_text(data, "request_id", "reference", "document_sha256", prefix="")  # named `data.<key>` by the caller

    def text(key: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) else ""

    return EsignCallback(
        event_id=event.id,
        event_type=event.type,
        request_id=text("request_id"),
        reference=text("reference"),
        document_sha256=text("document_sha256"),
        signed_at=_signed_at(data.get("signed_at"), latest),
    )


def _signed_at(raw: Any, latest: datetime) -> datetime | None:
    """The signature's instant (None when the provider sends none: the instant we receive it)."""
    if raw is None:
        return None
    try:
        signed_at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        signed_at = None
    if signed_at is None or signed_at.tzinfo is None:
        raise InvalidValue("signed_at", "must be an ISO 8601 instant with its UTC offset")
    check_offset(signed_at, "signed_at")
    if signed_at > latest:
        raise InvalidValue("signed_at", f"{signed_at.isoformat()} is in the future (later than {latest.isoformat()})")
    return signed_at
