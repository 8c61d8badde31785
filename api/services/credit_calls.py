"""A credit executive's click-to-call (docs/callbacks.md "The CX's dialer"): the dialer call about an application
assigned to the caller - or, with LOAN_RELOCATE, any of the brand's - without COLLECTIONS. One use case for the API's
`POST /api/v1/loans/{id}/credit-calls` and the portal's "Call borrower" buttons (loan page, credit review, callback
queue), so both refuse and place alike; and who may read such a call back (`GET
/api/v1/loans/{id}/credit-calls/{call_id}`, the placed call's `Location`). The portal's "Call placed" is
api/services/placed_calls.py, shared with the collections' Call buttons."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.fieldwork.application import FieldWork, LoanNotInBrand
from domain.fieldwork.dialer import DialerCall, DialerCallNotFound
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.loans.application import Loans
from domain.loans.loan import LoanNotFound
from domain.shared.application import CommandResult

#: A credit executive calls the borrowers of the applications assigned to them; LOAN_RELOCATE (who reassigns
#: applications) may call about any of the brand's.
CREDIT_CALLS = (Permission.LOANS, Level.WRITE)
ANY_APPLICATION = (Permission.LOAN_RELOCATE, Level.WRITE)
#: Reading a credit call back: the same rule at READ (the application theirs, or any with LOAN_RELOCATE).
CREDIT_CALLS_READ = (Permission.LOANS, Level.READ)
ANY_APPLICATION_READ = (Permission.LOAN_RELOCATE, Level.READ)
#: Who holds the collections' click-to-call (`POST /api/v1/loans/{id}/calls`) keeps its button, not this one.
COLLECTIONS_CALLS = (Permission.COLLECTIONS, Level.WRITE)


def may_credit_call(principal: Principal, staff_id: UUID, assignee: UUID | None) -> bool:
    """Whether `principal` may place a credit call from `staff_id`'s extension about an application held by
    `assignee`."""
    if not principal.holds(*CREDIT_CALLS):
        return False
    return assignee == staff_id or principal.holds(*ANY_APPLICATION)


def may_read_credit_call(principal: Principal, caller: UUID, assignee: UUID | None) -> bool:
    """Whether `principal` may read a call placed from `caller`'s extension about an application held by
    `assignee`: as placing it, at READ - LOANS and the application theirs (a staff member's own; an API key's, the
    caller's it placed the call for), or LOAN_RELOCATE (any of the brand's)."""
    if not principal.holds(*CREDIT_CALLS_READ):
        return False
    if principal.holds(*ANY_APPLICATION_READ):
        return True
    holder = principal.id if principal.kind == "staff" else caller
    return assignee is not None and assignee == holder


def offers_credit_call(principal: Principal, assignee: UUID | None) -> bool:
    """Whether the portal shows the signed-in staff member the "Call borrower" button for an application held by
    `assignee`: they may credit-call about it and do not hold the collections' own Call button."""
    return (
        principal.kind == "staff"
        and not principal.holds(*COLLECTIONS_CALLS)
        and may_credit_call(principal, principal.id, assignee)
    )


@dataclass(frozen=True)
class CreditCalls:
    """Places a credit executive's dialer call (filled by type into the dialer API's and the portal pages' ports)."""

    fieldwork: FieldWork
    loans: Loans

    def place(
        self, principal: Principal, loan_id: UUID, staff_id: UUID, phone: str | None, callback_url: str
    ) -> CommandResult:
        """Ring `staff_id`'s extension and bridge to the borrower (`FieldWork.place_call`). An application of another
        brand, or assigned to someone else without LOAN_RELOCATE, is `LoanNotInBrand` (404), as the collections path
        answers; nothing is recorded unless the dialer accepted the call."""
        try:
            loan = self.loans.get(principal.brand_id, loan_id)  # the event store: a reassignment a moment ago counts
        except LoanNotFound:
            raise LoanNotInBrand(f"application {loan_id} not found", id=str(loan_id)) from None
        if not may_credit_call(principal, staff_id, loan.assignee):
            # As for another brand's: an application assigned to someone else is not the caller's to call about.
            raise LoanNotInBrand(f"application {loan_id} is not assigned to you", id=str(loan_id))
        return self.fieldwork.place_call(principal.brand_id, loan_id, staff_id, phone, callback_url)

    def call(self, principal: Principal, loan_id: UUID, call_id: UUID) -> DialerCall:
        """A dialer call about `loan_id` the principal may read (`may_read_credit_call`, the application's assignee
        read from the event store as placing does); another brand's, another loan's, or one they may not read is
        `DialerCallNotFound` (404)."""
        missing = DialerCallNotFound(f"call {call_id} not found", id=str(call_id))
        try:
            call = self.fieldwork.call(principal.brand_id, call_id)
            loan = self.loans.get(principal.brand_id, loan_id)
        except (DialerCallNotFound, LoanNotFound):
            raise missing from None
        if call.loan_id != loan_id or not may_read_credit_call(principal, call.staff_id, loan.assignee):
            raise missing
        return call
