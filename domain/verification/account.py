"""BankAccount: a borrower's account for disbursement, verified by a penny drop (₹1 and the holder's name)."""

from __future__ import annotations

from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, NotFound
from domain.verification.values import CheckStatus

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/bank-account")


def account_id(brand_id: UUID, customer_id: UUID, account_number: str, ifsc: str) -> UUID:
    """The id of a borrower's account (the same account added twice is one record)."""
    return uuid5(_NAMESPACE, f"{brand_id}:{customer_id}:{account_number}:{ifsc}")


class BankAccountNotFound(NotFound):
    """Raised when no bank account has the id within the caller's brand."""


class BankAccountBeingChecked(Conflict):
    """Raised when another request's penny drop of the same account did not finish within the wait."""


class VerificationMethod(StrEnum):
    """How an account is verified: the penny drop, or staff reviewing a statement or passbook."""

    PENNY_DROP = "penny_drop"
    MANUAL = "manual"


class BankAccount(Aggregate):
    """A borrower's bank account and its penny drop."""

    id: UUID

    class Added(Aggregate.Created):
        """The account was given (by the borrower or staff)."""

        brand_id: UUID
        customer_id: UUID
        account_number: str
        ifsc: str
        holder_name: str

    class PennyDropped(Aggregate.Event):
        """The bank answered the penny drop: credited or not, its holder name and the fuzzy name score."""

        status: CheckStatus
        credited: bool
        bank_holder_name: str | None = None
        name_score: int
        reference: str
        reason: str | None = None

    class PennyDropFailed(Aggregate.Event):
        """The penny drop provider could not answer: retry."""

        reason: str

    class ManuallyVerified(Aggregate.Event):
        """A staff member verified the account against the borrower's statement or passbook."""

        document_id: UUID
        note: str

    @event(Added)
    def __init__(self, brand_id: UUID, customer_id: UUID, account_number: str, ifsc: str, holder_name: str) -> None:
        self.brand_id = brand_id
        self.customer_id = customer_id
        self.account_number = account_number
        self.ifsc = ifsc
        self.holder_name = holder_name
        self.status = CheckStatus.PENDING
        self.name_score: int | None = None
        self.attempts = 0
        self.method = VerificationMethod.PENNY_DROP

    def require_failed(self) -> None:
        """Only an account whose penny drop failed (the provider did not answer) is retried."""
        if self.status is not CheckStatus.FAILED:
            raise Conflict(
                f"the penny drop is {self.status.value.replace('_', ' ')}; only a failed one is retried",
                id=str(self.id),
            )

    @event(PennyDropped)
    def penny_dropped(
        self,
        status: CheckStatus,
        credited: bool,
        bank_holder_name: str | None,
        name_score: int,
        reference: str,
        reason: str | None,
    ) -> None:
        """Record the bank's answer."""
        self.status = status
        self.name_score = name_score
        self.attempts += 1

    @event(PennyDropFailed)
    def penny_drop_failed(self, reason: str) -> None:
        """Record that the provider could not answer."""
        self.status = CheckStatus.FAILED
        self.attempts += 1

    def verify_manually(self, document_id: UUID, note: str) -> None:
        """Verify the account by staff review of a statement or passbook (not once it is verified)."""
        if self.status is CheckStatus.VERIFIED:
            raise Conflict("the account is already verified", id=str(self.id))
        self._manually_verified(document_id=document_id, note=note)

    @event(ManuallyVerified)
    def _manually_verified(self, document_id: UUID, note: str) -> None:
        self.status = CheckStatus.VERIFIED
        self.method = VerificationMethod.MANUAL
