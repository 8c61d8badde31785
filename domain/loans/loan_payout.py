"""The Loan's commands from sanction to money out (issue #14): agreement and e-sign, the Ops queue, payouts.

A mixin of `domain.loans.loan.Loan`. Repeats that the outside world produces (a webhook delivered twice) are
answered as no-ops: `sign`, `fail_disbursal` and `confirm_disbursal` return False and record nothing when the same
fact is already recorded. Everything else that does not fit the loan's state is a 409 before any event.
`disbursed` is only ever the gateway's (or bank's) confirmation, and only once: a payout is initiated only in
`awaiting_disbursal`, with no attempt in flight and the loan in no exported payout file; two staff pressing at once
load the same version and the second commit is a 409 (the event store's optimistic concurrency).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from domain.loans.loan_events import (
    AgreementIssued,
    AttemptState,
    DisbursalFailed,
    DisbursalInitiated,
    DisbursalQueued,
    Disbursed,
    EsignExpired,
    EsignState,
    PayoutAttempt,
    PayoutExported,
    PayoutMode,
    PayoutReturned,
    Signed,
)
from domain.loans.pricing import Pricing
from domain.loans.states import LoanStatus, check_transition
from domain.shared.errors import Conflict, InvalidValue

S = LoanStatus


class LoanPayout:
    """Agreement, e-sign, the Ops queue and the payout of a Loan."""

    if TYPE_CHECKING:
        status: LoanStatus
        sanction_pricing: Pricing | None
        esign_state: EsignState | None
        esign_request_id: str | None
        esign_expires_at: datetime | None
        esign_issued_at: datetime | None
        esign_link: str | None
        agreement_sha256: str | None
        agreement_ref: str | None
        signed_reference: str | None
        signed_at: datetime | None
        bank_account_ref: str | None
        attempts: list[PayoutAttempt]
        exported_file_id: str | None
        disbursed_reference: str | None
        disbursed_on: date | None

        def _emit(self, event_class: type[Any], **kwargs: Any) -> None: ...

    # Reading ---------------------------------------------------------------------------------------------------

    @property
    def net_disbursed(self) -> Decimal:
        """What reaches the borrower: the sanction's net disbursed (LENDING.md)."""
        if self.sanction_pricing is None:
            raise Conflict("the loan has not been sanctioned", status=str(self.status))
        return self.sanction_pricing.net_disbursed

    @property
    def attempt_in_flight(self) -> PayoutAttempt | None:
        """The payout attempt initiated and neither confirmed nor failed yet, if any."""
        return next((a for a in self.attempts if a.state is AttemptState.INITIATED), None)

    @property
    def next_attempt(self) -> int:
        """The number the next payout attempt gets (1, 2, ...)."""
        return len(self.attempts) + 1

    def require_no_payout_pending(self, doing: str) -> None:
        """409 while money may be on its way: an attempt in flight or the loan in an exported payout file."""
        if self.attempt_in_flight is not None:
            raise Conflict(f"cannot {doing}: a payout is in flight at the gateway",
                           reference=self.attempt_in_flight.gateway_reference)  # fmt: skip
        if self.exported_file_id is not None:
            raise Conflict(f"cannot {doing}: the loan is in the exported payout file {self.exported_file_id}",
                           payout_file_id=self.exported_file_id)  # fmt: skip

    # Agreement and e-sign --------------------------------------------------------------------------------------

    def issue_agreement(
        self,
        document_sha256: str,
        document_ref: str,
        esign_request_id: str,
        link: str,
        expires_at: datetime,
        issued_at: datetime | None = None,
        today: date | None = None,
    ) -> None:
        """Record the generated agreement and the e-sign link sent (again on a resend) at `issued_at`, when the
        request was opened, on `today` (the brand's business date); the loan stays sm_approved."""
        if self.status is not S.SM_APPROVED:
            raise Conflict(f"an agreement is issued for a sanctioned, unsigned loan; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        self._emit(
            AgreementIssued,
            document_sha256=document_sha256,
            document_ref=document_ref,
            esign_request_id=esign_request_id,
            link=link,
            expires_at=expires_at,
            issued_at=issued_at,
            agreement_issued_on=today,
        )

    def expire_esign(self, now: datetime | None = None, today: date | None = None) -> None:
        """The live link expired unsigned (`now`, when given, must be past its expiry), recorded on `today` (the
        brand's business date)."""
        if self.status is not S.SM_APPROVED or self.esign_state is not EsignState.SENT:
            raise Conflict("no live e-sign link to expire", status=str(self.status))
        assert self.esign_request_id is not None and self.esign_expires_at is not None
        if now is not None and now < self.esign_expires_at:
            raise Conflict("the e-sign link has not expired yet", expires_at=self.esign_expires_at.isoformat())
        self._emit(EsignExpired, esign_request_id=self.esign_request_id, esign_expired_on=today)

    def sign(self, provider_reference: str, signed_at: datetime, today: date | None = None) -> bool:
        """The provider says the borrower signed: approved, recorded on `today` (the brand's business date). Only
        with a live link, once; the same signature again is a no-op (False). A signature dated before the live link was sent is bad input (422 naming `signed_at`):
        a signature cannot precede its document."""
        if self.esign_state is EsignState.SIGNED:
            if self.signed_reference == provider_reference:
                return False
            raise Conflict("the agreement is already signed under another reference", reference=self.signed_reference)
        if self.status is not S.SM_APPROVED or self.esign_state is not EsignState.SENT:
            raise Conflict(f"no live e-sign link to sign (the loan is {self.status.words}, the link "
                           f"{self.esign_state or 'not sent'})", status=str(self.status))  # fmt: skip
        assert self.esign_request_id is not None and self.esign_expires_at is not None
        sent_at = getattr(self, "esign_issued_at", None)  # None: issued before it was recorded
        if sent_at is not None and signed_at < sent_at:
            raise InvalidValue(
                "signed_at",
                f"the signature is dated {signed_at.isoformat()}, before the agreement was sent for signing at "
                f"{sent_at.isoformat()}",
            )
        if signed_at > self.esign_expires_at:
            raise Conflict(
                "the e-sign link had expired when it was signed", expires_at=self.esign_expires_at.isoformat()
            )
        self._emit(
            Signed,
            status=check_transition(self.status, S.APPROVED),
            reason=f"agreement signed at the e-sign provider ({provider_reference})",
            esign_request_id=self.esign_request_id,
            provider_reference=provider_reference,
            signed_at=signed_at,
            signed_on=today,
        )
        return True

    def ready_for_disbursal(self, bank_account_ref: str, today: date | None = None) -> None:
        """Signed, with the borrower's bank account verified (`bank_account_ref`): into the Ops queue, on `today` (the
        brand's business date)."""
        if self.status is not S.APPROVED:
            raise Conflict(f"only a signed (approved) loan goes to the disbursal queue; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        self._emit(
            DisbursalQueued,
            status=check_transition(self.status, S.AWAITING_DISBURSAL),
            reason="signed and the bank account verified",
            bank_account_ref=bank_account_ref,
            net_disbursed=self.net_disbursed,
            disbursal_queued_on=today,
        )

    # Disbursal -------------------------------------------------------------------------------------------------

    def initiate_disbursal(
        self,
        mode: PayoutMode,
        attempt: int,
        gateway_reference: str,
        amount: Decimal | None = None,
        today: date | None = None,
    ) -> None:
        """Record a payout attempt sent to the gateway for the net disbursed amount, on `today` (the brand's business
        date)."""
        if self.status is not S.AWAITING_DISBURSAL:
            raise Conflict(f"only a loan awaiting disbursal can be paid out; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        self.require_no_payout_pending("initiate a payout")
        if attempt != self.next_attempt:
            raise Conflict(f"the next payout attempt is {self.next_attempt}", attempt=attempt)
        if any(a.gateway_reference == gateway_reference for a in self.attempts):
            raise Conflict("this gateway reference was already used", reference=gateway_reference)
        net = self.net_disbursed
        if amount is not None and amount != net:
            raise Conflict(f"a payout is the net disbursed amount {net}", amount=str(amount))
        self._emit(
            DisbursalInitiated,
            mode=mode,
            attempt=attempt,
            gateway_reference=gateway_reference,
            amount=net,
            disbursal_initiated_on=today,
        )

    def _attempt(self, reference: str) -> PayoutAttempt:
        found = next((a for a in self.attempts if a.gateway_reference == reference), None)
        if found is None:
            raise Conflict("no payout attempt of this loan has this reference", reference=reference)
        return found

    def fail_disbursal(self, reference: str, reason: str, today: date | None = None) -> bool:
        """The gateway failed the attempt `reference`, with its reason, recorded on `today` (the brand's business
        date); the same failure again is a no-op (False)."""
        attempt = self._attempt(reference)
        if attempt.state is AttemptState.FAILED:
            return False
        if attempt.state is AttemptState.CONFIRMED:
            raise Conflict("the payout was already confirmed", reference=reference)
        self._emit(DisbursalFailed, reference=reference, reason=reason, disbursal_failed_on=today)
        return True

    def confirm_disbursal(self, reference: str, disbursed_on: date) -> bool:
        """The gateway (or bank, for the exported payout file `reference`) confirmed the money arrived: active.
        Once: the same confirmation again is a no-op (False); another one is a 409."""
        if self.disbursed_reference is not None:
            if self.disbursed_reference == reference:
                return False
            raise Conflict("the loan was already disbursed under another reference", reference=self.disbursed_reference)
        if self.status is not S.AWAITING_DISBURSAL:
            raise Conflict(f"only a loan awaiting disbursal can be disbursed; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        if reference == self.exported_file_id:
            mode = "payout_file"
        else:
            attempt = self._attempt(reference)
            if attempt.state is not AttemptState.INITIATED:
                raise Conflict(f"the payout attempt {reference} is {attempt.state}", reference=reference)
            mode = attempt.mode.value
        net = self.net_disbursed
        self._emit(
            Disbursed,
            status=check_transition(self.status, S.ACTIVE),
            reason=f"disbursed {net} ({mode} {reference})",
            reference=reference,
            disbursed_on=disbursed_on,
            amount=net,
            mode=mode,
        )
        return True

    def mark_exported(self, payout_file_id: str, today: date | None = None) -> None:
        """The loan was put in a bank payout file (on `today`, the brand's business date): no payout until the file is
        confirmed or returned."""
        if self.status is not S.AWAITING_DISBURSAL:
            raise Conflict(f"only a loan awaiting disbursal can be exported; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        self.require_no_payout_pending("export the loan")
        self._emit(PayoutExported, payout_file_id=payout_file_id, amount=self.net_disbursed, payout_exported_on=today)

    def mark_export_returned(self, payout_file_id: str, reason: str, today: date | None = None) -> None:
        """The payout file failed or the bank returned it (recorded on `today`, the brand's business date): the loan
        may be paid again."""
        if self.exported_file_id != payout_file_id or self.status is not S.AWAITING_DISBURSAL:
            raise Conflict("the loan is not in this exported payout file", payout_file_id=payout_file_id)
        self._emit(PayoutReturned, payout_file_id=payout_file_id, reason=reason, payout_returned_on=today)
