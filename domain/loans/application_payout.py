"""Use cases from sanction to money out (issue #14): agreement and e-sign, the Ops queue, payouts, payout files.

A mixin of `domain.loans.application.Loans`, called by the e-sign and disbursement flows (their adapters and
webhooks decide *when*; these record *what*). A repeat the outside world produces (the same signature, failure or
confirmation delivered twice) commits nothing and answers `CommandResult.changed` False.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.loans.loan_events import PayoutMode
from domain.shared.application import CommandResult
from domain.shared.errors import InvalidValue
from domain.shared.values import MIN_REASON, clean_text

if TYPE_CHECKING:
    from domain.loans.loan import Loan
    from domain.loans.parties import LoanParties


#: What a payout file's return without a reason (fewer than `MIN_REASON` visible characters) is told.
RETURN_REASON = f"say why the bank returned the file (at least {MIN_REASON} visible characters)"


def returned_reason(raw: str | None) -> str:
    """Why the bank returned a payout file (or refused it): `MIN_REASON` visible characters, kept without surrounding
    whitespace (InvalidValue naming `reason` otherwise). The rule of a return through this use case and of a whole
    file's return (`api/services/disbursals.py`), the API and the portal alike."""
    return clean_text(raw, "reason", multiline=True, min_visible=MIN_REASON, missing=RETURN_REASON)


def _text(raw: str | None, field: str) -> str:
    text = " ".join((raw or "").split())
    if not text:
        raise InvalidValue(field, "must not be empty")
    return text[:1000]


def _mode(raw: str) -> PayoutMode:
    try:
        return PayoutMode(raw)
    except ValueError:
        raise InvalidValue("mode", f"'{raw}' is not one of {', '.join(m.value for m in PayoutMode)}") from None


class PayoutUseCases:
    """Agreement, e-sign, the Ops queue and payouts (mixed into `Loans`)."""

    if TYPE_CHECKING:

        @property
        def parties(self) -> LoanParties: ...
        def get(self, brand_id: UUID, loan_id: UUID) -> Loan: ...
        def commit(self, primary: Any, *others: Any, beside: Sequence[Callable[[Any], None]] = ()) -> CommandResult: ...

    def issue_agreement(
        self,
        brand_id: UUID,
        loan_id: UUID,
        document_sha256: str,
        document_ref: str,
        esign_request_id: str,
        link: str,
        expires_at: datetime,
        issued_at: datetime | None = None,
    ) -> CommandResult:
        """Record the generated agreement and the e-sign link sent (again on a resend) at `issued_at`, when the
        e-sign request was opened (no signature of it may be dated earlier)."""
        loan = self.get(brand_id, loan_id)
        loan.issue_agreement(
            _text(document_sha256, "document_sha256"),
            _text(document_ref, "document_ref"),
            _text(esign_request_id, "esign_request_id"),
            _text(link, "link"),
            expires_at,
            issued_at,
            self.parties.business_date(brand_id),
        )
        return self.commit(loan)

    def expire_esign(self, brand_id: UUID, loan_id: UUID, now: datetime | None = None) -> CommandResult:
        """The live e-sign link expired unsigned."""
        loan = self.get(brand_id, loan_id)
        loan.expire_esign(now, self.parties.business_date(brand_id))
        return self.commit(loan)

    def sign(self, brand_id: UUID, loan_id: UUID, provider_reference: str, signed_at: datetime) -> CommandResult:
        """The provider's signed callback: approved (a repeat changes nothing: `changed` False; `signed_at` before
        the live link was sent: InvalidValue)."""
        loan = self.get(brand_id, loan_id)
        loan.sign(_text(provider_reference, "provider_reference"), signed_at, self.parties.business_date(brand_id))
        return self.commit(loan)

    def ready_for_disbursal(self, brand_id: UUID, loan_id: UUID, bank_account_ref: str) -> CommandResult:
        """A signed loan whose borrower's bank account is verified (`bank_account_ref`, the caller checked it)
        enters the Ops queue."""
        loan = self.get(brand_id, loan_id)
        loan.ready_for_disbursal(_text(bank_account_ref, "bank_account_ref"), self.parties.business_date(brand_id))
        return self.commit(loan)

    def initiate_disbursal(
        self,
        brand_id: UUID,
        loan_id: UUID,
        mode: str,
        gateway_reference: str,
        attempt: int | None = None,
        amount: Decimal | None = None,
    ) -> CommandResult:
        """Record a payout attempt sent to the gateway (the next attempt unless given; the net disbursed amount)."""
        how = _mode(mode)
        loan = self.get(brand_id, loan_id)
        loan.initiate_disbursal(
            how,
            attempt or loan.next_attempt,
            _text(gateway_reference, "gateway_reference"),
            amount,
            self.parties.business_date(brand_id),
        )
        return self.commit(loan)

    def fail_disbursal(self, brand_id: UUID, loan_id: UUID, reference: str, reason: str) -> CommandResult:
        """The gateway failed the attempt, with its reason (a repeat: `changed` False)."""
        loan = self.get(brand_id, loan_id)
        loan.fail_disbursal(reference, _text(reason, "reason"), self.parties.business_date(brand_id))
        return self.commit(loan)

    def confirm_disbursal(self, brand_id: UUID, loan_id: UUID, reference: str, disbursed_on: date) -> CommandResult:
        """The gateway confirmed the payout: active (a repeat: `changed` False)."""
        loan = self.get(brand_id, loan_id)
        loan.confirm_disbursal(reference, disbursed_on)
        return self.commit(loan)

    def mark_exported(self, brand_id: UUID, loan_id: UUID, payout_file_id: str) -> CommandResult:
        """The loan was put in a bank payout file."""
        loan = self.get(brand_id, loan_id)
        loan.mark_exported(_text(payout_file_id, "payout_file_id"), self.parties.business_date(brand_id))
        return self.commit(loan)

    def mark_export_returned(self, brand_id: UUID, loan_id: UUID, payout_file_id: str, reason: str) -> CommandResult:
        """The payout file failed or was returned: the loan may be paid again."""
        loan = self.get(brand_id, loan_id)
        loan.mark_export_returned(payout_file_id, returned_reason(reason), self.parties.business_date(brand_id))
        return self.commit(loan)
