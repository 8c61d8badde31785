"""Use cases of collection money (issue #16 items 5-7), mixed into `domain.loans.application.Loans`: partial
collections and manual receipts awaiting approval, a full repayment collected in the field (applied at once),
penal-charge waivers, settlements, write-off.

Each checks its input (422 naming every field, nothing recorded), loads the loan of the caller's brand, runs the
Loan's command on the brand's business date and commits (`on_serviced`: when another save on the loan lands first -
the close of business, a payment - it is decided again on the loan as it now is). Who may call which is the
endpoints' permissions (docs/recoveries.md); the aggregate decides what the loan allows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID, uuid4

from domain.loans.application_servicing import payment_input
from domain.loans.loan import Loan
from domain.loans.loan_recoveries import Owing
from domain.loans.money import parse_money
from domain.loans.parties import LoanParties
from domain.loans.recovery_events import (
    CollectionKind,
    CollectionRequest,
    Ending,
    SettlementRecord,
    WaiverRecord,
    WriteOffRecord,
)
from domain.loans.servicing_events import PaymentMode, PaymentRecord
from domain.shared.application import CommandResult
from domain.shared.errors import FieldChecks
from domain.shared.values import MIN_REASON, clean_text, within_limit


def _reason(raw: str, field: str = "reason") -> str:
    text = clean_text(raw, field, multiline=True, min_visible=MIN_REASON, missing=f"give a {field}")
    return within_limit(" ".join(text.split()), field)


_Asked = TypeVar("_Asked", WaiverRecord, SettlementRecord)
_Made = TypeVar("_Made")

_C, _R = CollectionKind.COLLECTION, CollectionKind.RECEIPT


def _approve_write_off(loan: Loan, write_off_id: str, today: date, one_person_may_decide: bool) -> None:
    loan.approve_write_off(write_off_id, today, one_person_may_decide=one_person_may_decide)


_Approve = Callable[[Loan, str, date, bool], None]
_Reject = Callable[[Loan, str, str, date], None]
#: kind -> (approve, reject) on the loan. An approved collection or receipt is recorded as a payment (a new id); the
#: approval's `bool` is `one_person_may_decide` (the asker may approve: an admin).
_DECISIONS: dict[str, tuple[_Approve, _Reject]] = {
    "collection": (lambda loan, rid, day, one: loan.approve_collection(rid, _C, str(uuid4()), day, one_person_may_decide=one),
                   lambda loan, rid, why, day: loan.reject_collection(rid, _C, why, day)),
    "receipt": (lambda loan, rid, day, one: loan.approve_collection(rid, _R, str(uuid4()), day, one_person_may_decide=one),
                lambda loan, rid, why, day: loan.reject_collection(rid, _R, why, day)),
    "waiver": (lambda loan, rid, day, one: loan.approve_waiver(rid, day, one_person_may_decide=one),
               lambda loan, rid, why, day: loan.reject_waiver(rid, why, day)),
    "settlement": (lambda loan, rid, day, one: loan.approve_settlement(rid, day, one_person_may_decide=one),
                   lambda loan, rid, why, day: loan.reject_settlement(rid, why, day)),
    "write_off": (lambda loan, rid, day, one: _approve_write_off(loan, rid, day, one),
                  lambda loan, rid, why, day: loan.reject_write_off(rid, why, day)),
}  # fmt: skip


def _collection(
    loan: Loan,
    today: date,
    amount: Decimal,
    mode: PaymentMode,
    reference: str,
    collected_on: date | None,
    kind: CollectionKind,
    document_id: UUID | None,
) -> CollectionRequest:
    """A collection request (or manual receipt) of checked input made on `loan` on the business date `today`."""
    request = CollectionRequest(
        request_id=str(uuid4()),
        kind=kind,
        amount=amount,
        mode=str(mode),
        reference=reference,
        collected_on=collected_on or today,
        requested_on=today,
        document_id=document_id,
    )
    loan.request_collection(request)
    return request


class RecoveryUseCases:
    """Collections' money on disbursed loans (mixed into `Loans`)."""

    if TYPE_CHECKING:

        @property
        def parties(self) -> LoanParties: ...

        def serviced(self, brand_id: UUID, loan_id: UUID) -> Loan: ...
        def on_serviced(
            self, brand_id: UUID, loan_id: UUID, change: Callable[[Loan, date], _Made]
        ) -> tuple[CommandResult, _Made]: ...
        def commit(self, primary: Any, *others: Any, beside: Sequence[Callable[[Any], None]] = ()) -> CommandResult: ...
        def check_quotable(self, loan: Loan, as_of: date, today: date, field: str) -> None: ...

    def owing(self, brand_id: UUID, loan_id: UUID, on: date, field: str = "as_of") -> Owing:
        """What the loan owes on `on` (`Loan.owing`: the payoff as of that date, what is left of an approved
        settlement, or what is left to recover); InvalidValue naming `field` for a date too far to quote."""
        loan = self.serviced(brand_id, loan_id)
        self.check_quotable(loan, on, self.parties.business_date(brand_id), field)
        return loan.owing(on)

    def collection_request(
        self,
        brand_id: UUID,
        loan_id: UUID,
        amount: Decimal | str,
        mode: str,
        reference: str,
        collected_on: date | None,
        *,
        kind: CollectionKind = CollectionKind.COLLECTION,
        document_id: UUID | None = None,
    ) -> tuple[Loan, CollectionRequest]:
        """The loan and the request checked against it (nothing recorded): `record_collection` commits it. The
        receipt upload checks first, so a refused receipt stores no document."""
        value, how, ref = payment_input(amount, mode, reference)
        loan = self.serviced(brand_id, loan_id)
        request = _collection(
            loan, self.parties.business_date(brand_id), value, how, ref, collected_on, kind, document_id
        )
        return loan, request

    def record_collection(self, loan: Loan) -> CommandResult:
        """Commit a request checked by `collection_request`."""
        return self.commit(loan)

    def request_collection(
        self,
        brand_id: UUID,
        loan_id: UUID,
        amount: Decimal | str,
        mode: str,
        reference: str,
        collected_on: date | None = None,
        *,
        kind: CollectionKind = CollectionKind.COLLECTION,
        document_id: UUID | None = None,
    ) -> tuple[CommandResult, CollectionRequest]:
        """Record money collected (pending approval): 201 `pending_approval`."""
        value, how, ref = payment_input(amount, mode, reference)
        return self.on_serviced(
            brand_id,
            loan_id,
            lambda loan, today: _collection(loan, today, value, how, ref, collected_on, kind, document_id),
        )

    def record_full_repayment(
        self,
        brand_id: UUID,
        loan_id: UUID,
        amount: Decimal | str,
        mode: str,
        reference: str,
        collected_on: date | None = None,
    ) -> tuple[CommandResult, PaymentRecord]:
        """Record a full repayment collected in the field (on the business date unless given), applied at once: the
        amount must be what the loan owes that day (`Loan.record_full_repayment`), so the payment closes the loan;
        anything less is a collection request. The input is checked as a repayment's (`payment_input`)."""
        value, how, ref = payment_input(amount, mode, reference)
        return self.on_serviced(
            brand_id,
            loan_id,
            lambda loan, today: loan.record_full_repayment(str(uuid4()), value, how, ref, collected_on or today, today),
        )

    def approve_collection(
        self, brand_id: UUID, loan_id: UUID, request_id: str, kind: CollectionKind = CollectionKind.COLLECTION
    ) -> CommandResult:
        """Approve a pending collection (or confirm a receipt): its money is recorded as a repayment."""
        return self.decide(brand_id, loan_id, kind.value, request_id, approve=True)

    def reject_collection(
        self,
        brand_id: UUID,
        loan_id: UUID,
        request_id: str,
        reason: str,
        kind: CollectionKind = CollectionKind.COLLECTION,
    ) -> CommandResult:
        """Reject a pending collection (or receipt) with a reason."""
        return self.decide(brand_id, loan_id, kind.value, request_id, approve=False, reason=reason)

    def request_waiver(
        self, brand_id: UUID, loan_id: UUID, amount: Decimal | str, justification: str
    ) -> tuple[CommandResult, WaiverRecord]:
        """Ask to waive penal charges (at most those outstanding), with a justification."""

        def waiver(loan: Loan, value: Decimal, why: str, today: date) -> WaiverRecord:
            record = WaiverRecord(waiver_id=str(uuid4()), amount=value, justification=why, requested_on=today)
            loan.request_waiver(record)
            return record

        return self._ask(brand_id, loan_id, amount, justification, "justification", waiver)

    def approve_waiver(self, brand_id: UUID, loan_id: UUID, waiver_id: str) -> CommandResult:
        """Approve a waiver: posted to the ledger on the business date."""
        return self.decide(brand_id, loan_id, "waiver", waiver_id, approve=True)

    def reject_waiver(self, brand_id: UUID, loan_id: UUID, waiver_id: str, reason: str) -> CommandResult:
        """Reject a waiver with a reason."""
        return self.decide(brand_id, loan_id, "waiver", waiver_id, approve=False, reason=reason)

    def propose_settlement(
        self, brand_id: UUID, loan_id: UUID, amount: Decimal | str, remarks: str
    ) -> tuple[CommandResult, SettlementRecord]:
        """Propose a settlement below the payoff, with remarks."""

        def settlement(loan: Loan, value: Decimal, why: str, today: date) -> SettlementRecord:
            record = SettlementRecord(settlement_id=str(uuid4()), amount=value, payoff_at_proposal=Decimal("0.00"),
                                      remarks=why, proposed_on=today)  # fmt: skip
            loan.propose_settlement(record)
            return loan.settlements[record.settlement_id]  # with the payoff the loan computed

        return self._ask(brand_id, loan_id, amount, remarks, "remarks", settlement)

    def approve_settlement(self, brand_id: UUID, loan_id: UUID, settlement_id: str) -> CommandResult:
        """Approve a settlement: payments from now count toward it."""
        return self.decide(brand_id, loan_id, "settlement", settlement_id, approve=True)

    def reject_settlement(self, brand_id: UUID, loan_id: UUID, settlement_id: str, reason: str) -> CommandResult:
        """Reject a settlement with a reason."""
        return self.decide(brand_id, loan_id, "settlement", settlement_id, approve=False, reason=reason)

    def _ask(
        self,
        brand_id: UUID,
        loan_id: UUID,
        amount: Decimal | str,
        text: str,
        field: str,
        make: Callable[[Loan, Decimal, str, date], _Asked],
    ) -> tuple[CommandResult, _Asked]:
        """The one path of a request with an amount and a reason (a waiver, a settlement): both checked (422 naming
        each), the loan of the brand loaded, the request made on the business date and committed."""
        checks = FieldChecks()
        value = checks.check(lambda: parse_money(amount, "amount", positive=True))
        why = checks.check(lambda: _reason(text, field))
        checks.raise_if_any()
        assert value is not None and why is not None
        return self.on_serviced(brand_id, loan_id, lambda loan, today: make(loan, value, why, today))

    def decide(
        self,
        brand_id: UUID,
        loan_id: UUID,
        kind: str,
        request_id: str,
        *,
        approve: bool,
        reason: str = "",
        one_person_may_decide: bool = False,
    ) -> CommandResult:
        """Approve, or reject with a reason, a pending request of `kind` (`collection`, `receipt`, `waiver`,
        `settlement`, `write_off`) on the business date: the one path of every decision (the reason is checked first, 422). The
        staff member who asked may reject it but not approve it (409) unless `one_person_may_decide` (the caller is
        an admin)."""
        approving, rejecting = _DECISIONS[kind]
        text = None if approve else _reason(reason)

        def decision(loan: Loan, today: date) -> None:
            if text is None:
                approving(loan, request_id, today, one_person_may_decide)
            else:
                rejecting(loan, request_id, text, today)

        return self.on_serviced(brand_id, loan_id, decision)[0]

    def propose_write_off(self, brand_id: UUID, loan_id: UUID, reason: str) -> tuple[CommandResult, WriteOffRecord]:
        """Propose writing the loan off with a reason (pending until a holder of LOAN_WRITE_OFF approves it)."""
        text = _reason(reason)

        def propose(loan: Loan, today: date) -> WriteOffRecord:
            record = WriteOffRecord(
                write_off_id=str(uuid4()), amount=Decimal("0.00"), justification=text, proposed_on=today
            )
            loan.propose_write_off(record)
            return loan.write_off_requests[record.write_off_id]  # with the payoff the loan computed

        return self.on_serviced(brand_id, loan_id, propose)

    def approve_write_off(self, brand_id: UUID, loan_id: UUID, write_off_id: str) -> CommandResult:
        """Approve a proposed write-off: the loan is written off."""
        return self.decide(brand_id, loan_id, "write_off", write_off_id, approve=True)

    def reject_write_off(self, brand_id: UUID, loan_id: UUID, write_off_id: str, reason: str) -> CommandResult:
        """Reject a proposed write-off with a reason."""
        return self.decide(brand_id, loan_id, "write_off", write_off_id, approve=False, reason=reason)

    def write_off(self, brand_id: UUID, loan_id: UUID, reason: str) -> tuple[CommandResult, Ending]:
        """Write the loan off with a reason."""
        text = _reason(reason)
        return self.on_serviced(brand_id, loan_id, lambda loan, today: loan.write_off(text, today))
