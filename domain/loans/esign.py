"""The loan agreement and its e-sign, from sanction to the disbursal queue (issue #14 item 3).

`Agreements` is the use case service the e-sign flow runs through (the API, the agreement worker and the expiry
job call it; docs/loans.md, "Agreement and e-sign"):

- `issue`: a sanctioned loan's agreement is generated from its recorded terms (`LoanAgreement`: the sanction's
  amounts and pricing, the product version's rate and penal terms, the schedule from the expected disbursal date),
  rendered (`AgreementRenderer`, deterministic bytes), stored content-addressed (`AgreementStore`), an e-sign
  request for its SHA-256 is opened with the brand's provider (valid the brand's `esign_link_expiry_days`), the
  link goes to the borrower by SMS, and `Loan.issue_agreement` records hash, reference, request, link and the
  instant the request was opened (by this service's clock, as the expiry). Issuing
  again (staff's resend, or after the link expired) keeps the same document and opens a fresh request.
- `expire`: a link past its expiry, unsigned, is recorded expired (`Loan.expire_esign`).
- `receive`: the provider's callback (its signature already verified by the receiver) signs the loan
  (`Loan.sign` → approved) when it is for the loan's live request and document, then `queue_if_ready`; a
  signature dated before that request was opened is refused (InvalidValue `signed_at`: it cannot precede its
  document).
- `queue_if_ready`: a signed loan whose payout account (`payout_account`) is verified enters the Ops queue
  (`Loan.ready_for_disbursal` → awaiting_disbursal, naming that account); the agreement worker calls it again for
  signed loans, so an account verified later moves the loan then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

import structlog

from domain.loans.agreement import PDF, AgreementBorrower, AgreementRenderer, AgreementStore, LoanAgreement, sha256_hex
from domain.loans.application import Loans
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.loan import Loan, LoanNotFound
from domain.loans.loan_events import EsignState, Sanctioned
from domain.loans.schedule import build_schedule
from domain.loans.states import LoanStatus
from domain.loans.terms import LoanKind, LoanTerms
from domain.providers.calls import Caller
from domain.providers.errors import ProviderError
from domain.providers.messaging import EsignProvider, SmsSender
from domain.shared.application import CommandResult, ConcurrentModification, retried
from domain.shared.clock import Clock, SystemClock
from domain.shared.errors import Conflict, NotFound

log = structlog.get_logger(__name__)

S = LoanStatus
#: How often a callback (or a queueing) is decided in all while other changes keep being saved on the loan first.
CALLBACK_ATTEMPTS = 3


class AgreementParties(Protocol):
    """What the agreement needs of the identity, customers and verification contexts."""

    def lender(self, brand_id: UUID) -> str:
        """The brand's name, as the lender."""
        ...

    def borrower(self, brand_id: UUID, customer_id: UUID) -> AgreementBorrower:
        """The borrower as the agreement names them."""
        ...

    def link_expiry_days(self, brand_id: UUID) -> int:
        """The brand's `esign_link_expiry_days`."""
        ...

    def repayment_calendar(self, brand_id: UUID) -> RepaymentCalendar:
        """The brand's Sundays-off setting and repayment holidays."""
        ...

    def disbursal_date(self, brand_id: UUID, sanctioned_at: datetime) -> date:
        """The expected disbursal date of a loan sanctioned at `sanctioned_at`: the brand's business date then."""
        ...

    def verified_bank_account(self, brand_id: UUID, customer_id: UUID) -> str | None:
        """A reference of the borrower's newest verified bank account, None while none is verified."""
        ...

    def bank_account_verified(self, brand_id: UUID, customer_id: UUID, bank_account_ref: str) -> bool:
        """Whether `bank_account_ref` is an account of the borrower and verified (a penny drop or staff's review)."""
        ...

    def timezone(self, brand_id: UUID) -> str:
        """The brand's IANA timezone (how the borrower is told the link's expiry)."""
        ...


class EsignChannels(Protocol):
    """The brand's chosen e-sign and SMS providers."""

    def esign(self, brand_id: UUID) -> EsignProvider:
        """The brand's e-sign provider."""
        ...

    def sms(self, brand_id: UUID) -> SmsSender:
        """The brand's SMS provider."""
        ...


class AgreementNotIssued(NotFound):
    """Raised when a loan has no agreement yet (not sanctioned, or its agreement not generated)."""


@dataclass(frozen=True)
class EsignCallback:
    """The provider's callback, its signature verified: `esign.signed` or `esign.declined` of one request."""

    event_id: str
    event_type: str
    request_id: str
    reference: str  # the loan id we gave the request
    document_sha256: str
    signed_at: datetime | None


class CallbackOutcome(StrEnum):
    """What a verified callback came to."""

    RECORDED = "recorded"  # the loan was signed (and queued when its bank account is verified)
    DUPLICATE = "duplicate"  # this signature was recorded before: nothing changed
    IGNORED = "ignored"  # not applicable (another request, a declined or late signature, an unknown loan)


@dataclass(frozen=True)
class CallbackResult:
    """A callback's outcome, the loan it concerned (when known) and why."""

    outcome: CallbackOutcome
    loan_id: UUID | None
    detail: str
    position: int = 0


@dataclass(frozen=True)
class StoredAgreement:
    """A loan's agreement document as stored: its bytes and the SHA-256 recorded on the loan."""

    loan_id: UUID
    loan_number: str
    sha256: str
    data: bytes


def _recorded_sha256(loan: Loan) -> str | None:
    """The SHA-256 of the agreement recorded on the loan (`AgreementIssued`), None before it is issued."""
    value = getattr(loan, "agreement_sha256", None)
    return value if isinstance(value, str) else None


def _recorded_terms(loan: Loan) -> LoanTerms | None:
    """The terms the sanction recorded (principal, tenure, rate), None on a loan sanctioned before they were."""
    value = getattr(loan, "sanction_terms", None)
    return value if isinstance(value, LoanTerms) else None


def document_ref(sha256: str) -> str:
    """The stored reference of an agreement: its content address."""
    return f"sha256:{sha256}"


class Agreements:
    """Generate, store and send loan agreements for e-sign; record signatures; queue signed loans for disbursal."""

    def __init__(
        self,
        loans: Loans,
        parties: AgreementParties,
        channels: EsignChannels,
        renderer: AgreementRenderer,
        store: AgreementStore,
        callback_url: str,
        clock: Clock | None = None,
    ) -> None:
        self.loans = loans
        self.parties = parties
        self.channels = channels
        self.renderer = renderer
        self.store = store
        self.callback_url = callback_url
        self.clock: Clock = clock or SystemClock()

    # The document ----------------------------------------------------------------------------------------------

    def agreement(self, brand_id: UUID, loan_id: UUID) -> LoanAgreement:
        """What the loan's agreement says, from its recorded events (a sanctioned loan; 409 before sanction)."""
        return self._agreement(self.loans.get(brand_id, loan_id))

    def _agreement(self, loan: Loan) -> LoanAgreement:
        if loan.sanctioned_amount is None or loan.sanction_pricing is None:
            raise Conflict(
                f"the loan has no agreement before sanction; it is {loan.status.words}", status=str(loan.status)
            )
        brand_id = loan.brand_id
        product = self.loans.catalogue.version(brand_id, loan.product_id, loan.product_version)
        sanctioned_at = self._sanctioned_at(loan)
        disbursal_on = self.parties.disbursal_date(brand_id, sanctioned_at)
        terms = _recorded_terms(loan)  # what the sanction recorded the schedule is built from
        if terms is None:  # a sanction recorded before its terms were: the product version's rate
            emi = product.kind is LoanKind.EMI
            terms = LoanTerms(
                kind=product.kind,
                principal=loan.sanctioned_amount,
                tenure=loan.tenure,
                annual_percent=product.annual_percent if emi else None,
                daily_percent=None if emi else product.daily_percent,
            )
        rate = terms.rate
        return LoanAgreement(
            lender=self.parties.lender(brand_id),
            loan_number=loan.loan_number,
            loan_id=str(loan.id),
            borrower=self.parties.borrower(brand_id, loan.customer_id),
            product_code=product.code,
            product_name=product.name,
            product_version=product.version,
            kind=terms.kind,
            requested=loan.amount,
            cx_approved=loan.cx_approved_amount,
            sanctioned=loan.sanctioned_amount,
            pricing=loan.sanction_pricing,
            rate=rate,
            tenure=terms.tenure,
            penal=product.penal,
            schedule=build_schedule(terms, disbursal_on, self.parties.repayment_calendar(brand_id)),
            disbursal_on=disbursal_on,
            issued_at=sanctioned_at,
            timezone=self.parties.timezone(brand_id),
        )

    def _sanctioned_at(self, loan: Loan) -> datetime:
        """When the loan was last sanctioned (the agreement's date: the same loan always renders the same)."""
        found: datetime | None = None
        for stored in self.loans.events.get(loan.id):
            if isinstance(stored, Sanctioned):
                found = stored.timestamp
        if found is None:
            raise Conflict("the loan has no sanction", status=str(loan.status))
        return found

    def render(self, brand_id: UUID, loan_id: UUID) -> bytes:
        """The agreement rendered afresh from the loan's events (compare its SHA-256 with the recorded one)."""
        return self.renderer.render(self.agreement(brand_id, loan_id))

    def document(self, brand_id: UUID, loan_id: UUID) -> StoredAgreement:
        """The issued agreement's stored bytes (checked against the recorded SHA-256)."""
        loan = self.loans.get(brand_id, loan_id)
        sha256 = _recorded_sha256(loan)
        if sha256 is None:
            raise AgreementNotIssued(f"loan {loan_id} has no agreement yet", id=str(loan_id))
        return StoredAgreement(loan.id, loan.loan_number, sha256, self._stored_bytes(loan, sha256))

    def _stored_bytes(self, loan: Loan, sha256: str) -> bytes:
        try:
            data = self.store.get(sha256)
        except KeyError:
            # The store lost it: the events still make it, in the layout it was issued in.
            rendered = (d for d in self.renderer.renderings(self._agreement(loan)) if sha256_hex(d) == sha256)
            data = next(rendered, b"")
            if sha256_hex(data) != sha256:
                raise Conflict("the stored agreement is missing and the loan's events render another document",
                               sha256=sha256) from None  # fmt: skip
            self.store.put(sha256, data, PDF)
        if sha256_hex(data) != sha256:
            raise Conflict("the stored agreement does not match its recorded SHA-256", sha256=sha256)
        return data

    # Issue and resend ------------------------------------------------------------------------------------------

    def issue(self, brand_id: UUID, loan_id: UUID) -> CommandResult:
        """Generate (first time) and store the agreement, open an e-sign request valid the brand's link expiry,
        text the link to the borrower and record it. Again on a sanctioned, unsigned loan: the same document, a
        fresh link (staff's resend). 409 before sanction or once signed; ProviderError when the e-sign provider
        cannot open the request (nothing recorded)."""
        loan = self.loans.get(brand_id, loan_id)
        if loan.status is not S.SM_APPROVED:
            raise Conflict(f"an agreement is sent for a sanctioned, unsigned loan; this one is {loan.status.words}",
                           status=str(loan.status))  # fmt: skip
        recorded = _recorded_sha256(loan)
        if recorded is None:
            data = self.renderer.render(self._agreement(loan))
            sha256 = sha256_hex(data)
            self.store.put(sha256, data, PDF)  # bytes first: the event never points at bytes not stored
        else:
            sha256 = recorded
            self._stored_bytes(loan, sha256)
        borrower = self.parties.borrower(brand_id, loan.customer_id)
        days = self.parties.link_expiry_days(brand_id)
        opened_at = self.clock.now()  # before the request: no signature of it can be dated earlier
        caller = Caller(brand_id, loan.customer_id)
        request = self.channels.esign(brand_id).create(
            sha256,
            borrower.name,
            borrower.phone,
            reference=str(loan.id),
            callback_url=self.callback_url,
            caller=caller,
            expires_in_days=days,
        )
        expires_at = min(self.clock.now() + timedelta(days=days), request.expires_at)
        result = self.loans.issue_agreement(
            brand_id,
            loan.id,
            sha256,
            document_ref(sha256),
            request.request_id,
            request.signing_url,
            expires_at,
            issued_at=opened_at,
        )
        self._text_link(brand_id, loan, borrower, request.signing_url, expires_at, caller)
        return result

    def _text_link(
        self, brand_id: UUID, loan: Loan, borrower: AgreementBorrower, link: str, expires_at: datetime, caller: Caller
    ) -> None:
        lender = self.parties.lender(brand_id)
        local = expires_at.astimezone(ZoneInfo(self.parties.timezone(brand_id)))
        text = (
            f"{lender}: your loan {loan.loan_number} is sanctioned. Read and e-sign the agreement by "
            f"{local:%d %b %Y %H:%M} {local.tzname()}: {link}"
        )
        try:
            self.channels.sms(brand_id).send(borrower.phone, text, caller=caller)
        except ProviderError as exc:  # the link is recorded and shown to staff; a resend texts it again
            log.warning("esign.sms_failed", loan=str(loan.id), error=str(exc), code=exc.code)

    def expire(self, brand_id: UUID, loan_id: UUID, at: datetime | None = None) -> CommandResult | None:
        """Record the loan's live link expired when its expiry has passed by `at` (default now; a job passes the
        start of the brand's business date when that is later); None when there is nothing to do."""
        loan = self.loans.get(brand_id, loan_id)
        now = max(at, self.clock.now()) if at is not None else self.clock.now()
        expires_at = loan.esign_expires_at
        if loan.status is not S.SM_APPROVED or loan.esign_state is not EsignState.SENT or expires_at is None:
            return None
        if now < expires_at:
            return None
        return self.loans.expire_esign(brand_id, loan_id, now)

    # The provider's callback -----------------------------------------------------------------------------------

    def receive(self, callback: EsignCallback) -> CallbackResult:
        """Apply a verified callback: a signature of the loan's live request and document signs it (approved) and
        queues it when the bank account is verified; anything else changes nothing and says why. A signature dated
        before the live request was sent is not a fact to ignore but bad data: InvalidValue naming `signed_at`
        (nothing recorded). Another change saved on the loan first (ConcurrentModification) is not a reason to
        ignore the signature: it is decided again on the loan as it now is, and after CALLBACK_ATTEMPTS the
        conflict is raised (a 409 the provider delivers again), never answered as an ignored callback."""
        return retried(lambda: self._receive(callback), CALLBACK_ATTEMPTS)

    def _receive(self, callback: EsignCallback) -> CallbackResult:
        try:
            loan_id = UUID(callback.reference)
            loan = self.loans.load(Loan, loan_id, None, LoanNotFound)
        except (ValueError, LoanNotFound):
            return CallbackResult(CallbackOutcome.IGNORED, None, "no loan has this reference")
        if callback.event_type != "esign.signed":
            return CallbackResult(CallbackOutcome.IGNORED, loan.id, f"{callback.event_type}: nothing to record")
        if callback.request_id != loan.esign_request_id:
            if loan.esign_state is EsignState.SIGNED and loan.signed_reference == callback.request_id:
                return CallbackResult(CallbackOutcome.DUPLICATE, loan.id, "already signed")
            return CallbackResult(CallbackOutcome.IGNORED, loan.id, "not the loan's live e-sign request")
        if callback.document_sha256 != _recorded_sha256(loan):
            return CallbackResult(CallbackOutcome.IGNORED, loan.id, "signed another document than the agreement")
        if loan.esign_state is EsignState.SIGNED:
            return CallbackResult(CallbackOutcome.DUPLICATE, loan.id, "already signed")
        if loan.esign_state is not EsignState.SENT:
            return CallbackResult(CallbackOutcome.IGNORED, loan.id, f"the link is {loan.esign_state}; resend it")
        signed_at = callback.signed_at or self.clock.now()
        if loan.esign_expires_at is not None and signed_at > loan.esign_expires_at:
            return CallbackResult(CallbackOutcome.IGNORED, loan.id, "signed after the link expired; resend it")
        try:
            result = self.loans.sign(loan.brand_id, loan.id, callback.request_id, signed_at)
        except ConcurrentModification:
            raise  # not a refusal: `receive` decides again on the loan as it now is
        except Conflict as exc:  # cancelled meanwhile, or another delivery signed it in the same instant
            again = self.loans.get(loan.brand_id, loan.id)
            if again.esign_state is EsignState.SIGNED and again.signed_reference == callback.request_id:
                return CallbackResult(CallbackOutcome.DUPLICATE, loan.id, "already signed")
            return CallbackResult(CallbackOutcome.IGNORED, loan.id, f"not signed: {exc}")
        if not result.changed:
            return CallbackResult(CallbackOutcome.DUPLICATE, loan.id, "already signed", result.position)
        try:
            queued = self.queue_if_ready(loan.brand_id, loan.id)
        except ConcurrentModification:  # still racing after its tries: the signature stands; the worker queues it
            queued = None
        position = queued.position if queued is not None else result.position
        detail = "signed; in the disbursal queue" if queued else "signed; waiting for a verified bank account"
        return CallbackResult(CallbackOutcome.RECORDED, loan.id, detail, position)

    def queue_if_ready(self, brand_id: UUID, loan_id: UUID) -> CommandResult | None:
        """A signed (approved) loan whose payout account (`payout_account`) is verified enters the disbursal queue
        with it; None while it is not signed or that account is not verified, or once it is queued by another worker
        or request. Another change saved on the loan first is looked at again on the loan as it now is
        (CALLBACK_ATTEMPTS in all)."""
        return retried(lambda: self._queue_if_ready(brand_id, loan_id), CALLBACK_ATTEMPTS)

    def payout_account(self, loan: Loan) -> str | None:
        """The bank account a loan is paid out to, None while it is not verified: the account its application named
        when the borrower submitted it - the one they last gave at their bank account step, for this application,
        however many they gave before or have on file - and only that one, once verified (a penny drop still to
        retry, or staff's manual review, holds the loan: it is never paid into an account the borrower replaced).
        An application that named none (staff started and submitted it) is paid to the borrower's newest verified
        account."""
        if loan.payout_account_ref is None:
            return self.parties.verified_bank_account(loan.brand_id, loan.customer_id)
        named = loan.payout_account_ref
        return named if self.parties.bank_account_verified(loan.brand_id, loan.customer_id, named) else None

    def _queue_if_ready(self, brand_id: UUID, loan_id: UUID) -> CommandResult | None:
        loan = self.loans.get(brand_id, loan_id)
        if loan.status is not S.APPROVED:
            return None
        account = self.payout_account(loan)
        if account is None:
            return None
        try:
            return self.loans.ready_for_disbursal(brand_id, loan_id, account)
        except ConcurrentModification:
            raise  # looked at again: queued meanwhile (None then), or another change that leaves it to queue
        except Conflict:  # not in a state to queue (a domain refusal): the worker looks again later
            return None
