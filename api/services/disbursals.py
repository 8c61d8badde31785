"""Disbursal (issue #14 items 4 and 5): payouts through the payment gateway, its webhooks, and bank payout files.

An application service spanning contexts: the Loan aggregate decides (`Loans.initiate_disbursal`,
`confirm_disbursal`, `fail_disbursal`, `mark_exported`, `mark_export_returned`), the gateway pays, the borrower's
verified bank account (verification context) is the beneficiary. The borrower hears of it once, from the
engagement context's `disbursed` message (SMS and WhatsApp by the `borrower-notifications` job, with its quiet
hours, opt-outs and one-message-per-key guarantee; docs/engagement.md), not from a second SMS sent here.

**Money goes out once.** A payout attempt's idempotency key at the gateway is `<loan id>:<attempt>`, the attempt
being the loan's next one as loaded: two staff pressing at once ask the gateway with the same key and get the
same payout, and only one of them records it on the loan (the other's commit is a 409 — the aggregate's version,
or the attempt already in flight). A request whose answer was lost asks again with the same key. The loan becomes
`active` only on the gateway's signed `payout.processed` webhook (or a bank payout file confirmed), once: a
repeated webhook is a duplicate (event id) or a no-op on the loan; a forged or stale one is refused (401) before
anything is read from it. The webhook can overtake the gateway's answer to us: the request is noted before the
gateway is asked (`ops.payout_initiations`), so a payout we have not noted yet but whose reference is the loan
number of a request still waiting is answered 409 (delivered again), not taken for nobody's and lost.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

import structlog

from adapters.payout_files import beneficiary_workbook, payout_workbook
from adapters.payout_store import AttemptRecord, InitiationRecord, PayoutFileRecord, PayoutStore
from adapters.providers.directory import ProviderDirectory
from adapters.webhooks import WebhookEvent, WebhookVerifier, parse_event, require_text
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.loans.application_payout import returned_reason
from domain.loans.loan import Loan, LoanNotFound
from domain.loans.payout_lines import PAYOUT_MODES, PayoutLine, control_total
from domain.loans.states import LoanStatus
from domain.providers.calls import Caller
from domain.providers.errors import ProviderError, ProviderRejected
from domain.providers.messaging import Beneficiary
from domain.shared.application import CommandResult, ConcurrentModification, of_brand, retried
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, DomainError, FieldError, InvalidInput, NotFound
from projections.engine import ProjectionEngine

log = structlog.get_logger(__name__)

WEBHOOK_SECRET_ENV = "PROVIDER_WEBHOOK_SECRET"
DEFAULT_WEBHOOK_SECRET = "whsec_demo_providers"
MAX_FILE_LOANS = 10_000
#: How often a payout webhook is applied in all while other changes keep being saved on its loan first.
SETTLE_ATTEMPTS = 3
#: How long a payout request waits for the gateway's answer before a webhook naming its loan number but a payout id
#: we do not know is taken for nobody's (200 `ignored`) rather than ours overtaking that answer (409). A gateway call
#: lasts seconds (ProviderHttp: 5 s timeout, 2 retries); the bound only ends the 409s of a request whose process died
#: mid-call (or whose answer was lost and nobody pressed again): the gateway gets its final 200 after this long.
INITIATION_WINDOW = timedelta(minutes=15)


class PayoutFileNotFound(NotFound):
    """No payout file with this id in the brand."""


@dataclass(frozen=True)
class VerifiedAccounts:
    """The beneficiary of a loan's payout: the borrower's bank account the loan entered the queue with
    (`bank_account_ref`), read from the verification context and only when verified. None otherwise (also when
    the verification context is not registered in this process)."""

    engine: ProjectionEngine

    def beneficiary(self, brand_id: UUID, customer_id: UUID, bank_account_ref: str | None) -> Beneficiary | None:
        """The verified account, or None."""
        verification: Any = self.engine.applications.get("verification")
        if verification is None or not bank_account_ref:
            return None
        try:
            account = verification.bank_account(brand_id, UUID(bank_account_ref))
        except (ValueError, DomainError):
            return None
        status = getattr(account.status, "value", account.status)
        if account.customer_id != customer_id or status != "verified":
            return None
        return Beneficiary(account.holder_name, account.account_number, account.ifsc)


@dataclass(frozen=True)
class WebhookOutcome:
    """What our webhook did with a delivery: processed, duplicate (seen before, nothing changed) or ignored."""

    status: str
    detail: str | None = None


class ReconcileOutcome(StrEnum):
    """What reconciling one unanswered payout request recorded (its value is the `outcome` logged with
    `disbursal.reconciled`)."""

    PAID = "paid"  # the gateway paid it: the loan disbursed now
    PAID_BEFORE = "paid_before"  # the gateway paid it and the loan had it already (a webhook, a payout file)
    FAILED = "failed"  # the payout failed at the gateway: recorded on the loan now
    FAILED_BEFORE = "failed_before"  # the payout failed and the loan had the failure already
    PENDING = "pending"  # the payout is still pending at the gateway: its attempt recorded, its webhook will come
    NO_PAYOUT = "no_payout"  # no payout under the request's key: none was made


@dataclass
class Reconciled:
    """What a reconciliation run found: requests now paid, failed, still pending at the gateway, never made (no
    payout under their key), and those it could not settle this time."""

    paid: int = 0
    failed_at_gateway: int = 0
    pending: int = 0
    no_payout: int = 0
    failed: int = 0

    def add(self, outcome: ReconcileOutcome) -> None:
        """Count one settled request by its outcome."""
        match outcome:
            case ReconcileOutcome.PAID | ReconcileOutcome.PAID_BEFORE:
                self.paid += 1
            case ReconcileOutcome.FAILED | ReconcileOutcome.FAILED_BEFORE:
                self.failed_at_gateway += 1
            case ReconcileOutcome.PENDING:
                self.pending += 1
            case ReconcileOutcome.NO_PAYOUT:
                self.no_payout += 1
            case _:  # a plain string, not an outcome: a caller's bug, not a request with no payout
                raise ValueError(f"not a reconciliation outcome: {outcome!r}")

    @property
    def total(self) -> int:
        return self.paid + self.failed_at_gateway + self.pending + self.no_payout + self.failed


def age_words(age: timedelta) -> str:
    """An age as staff read it: `40 min`, `3 h 5 min`, `2 d 4 h` (under a minute: `under 1 min`)."""
    minutes = int(age.total_seconds() // 60)
    if minutes < 1:
        return "under 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@dataclass(frozen=True)
class UnsettledPayouts:
    """The brand's payout requests left unanswered past INITIATION_WINDOW that nothing has settled yet (the
    `payout-reconciliation` job could not, or has not run since): how many, how long the oldest has waited, and the
    loan numbers of the oldest few."""

    count: int
    oldest_started_at: datetime | None
    oldest_age: timedelta | None
    loan_numbers: tuple[str, ...]

    @property
    def window_minutes(self) -> int:
        """INITIATION_WINDOW in minutes."""
        return int(INITIATION_WINDOW.total_seconds() // 60)

    def words(self) -> str:
        """`2 payout request(s) unanswered past 15 minutes, the oldest for 3 h 5 min (T1-L-000002, ...)`."""
        age = age_words(self.oldest_age) if self.oldest_age is not None else "?"
        named = ", ".join(self.loan_numbers) + (", ..." if self.count > len(self.loan_numbers) else "")
        return f"{self.count} payout request(s) unanswered past {self.window_minutes} minutes, the oldest for {age} ({named})"


@dataclass(frozen=True)
class Disbursals:
    """Payouts, their webhooks and payout files (see the module doc)."""

    loans: Loans
    directory: ProviderDirectory
    store: PayoutStore
    identity: Identity
    customers: Customers
    clock: Clock
    accounts: VerifiedAccounts

    # Payouts ---------------------------------------------------------------------------------------------------

    def disburse(self, brand_id: UUID, loan_id: UUID, mode: str, callback_url: str) -> CommandResult:
        """Initiate the loan's next payout attempt by `mode` for its net disbursed amount (not `disbursed` yet)."""
        if mode not in PAYOUT_MODES:
            raise InvalidInput([FieldError("mode", f"must be one of {', '.join(PAYOUT_MODES)}")])
        self.loans.get(brand_id, loan_id)  # another brand's loan: 404 before anything else
        with self.store.payout_lock(loan_id, brand_id) as held:
            if not held:
                raise Conflict(
                    "another payout of this loan is being initiated, the loan is being cancelled, or a "
                    "payout file is being exported; try again"
                )
            return self._disburse(brand_id, loan_id, mode, callback_url)

    def _disburse(self, brand_id: UUID, loan_id: UUID, mode: str, callback_url: str) -> CommandResult:
        """`disburse` under the loan's payout lock: the loan read again inside it."""
        loan = self.loans.get(brand_id, loan_id)
        if loan.status is not LoanStatus.AWAITING_DISBURSAL:
            raise Conflict(f"only a loan awaiting disbursal can be paid out; this one is {loan.status.words}",
                           status=str(loan.status))  # fmt: skip
        loan.require_no_payout_pending("initiate a payout")
        beneficiary = self._beneficiary(loan)
        attempt = loan.next_attempt
        amount = loan.net_disbursed
        # Noted before the gateway is asked: its webhook may reach us before its answer does (see `webhook`).
        initiation = self.store.begin_initiation(brand_id, loan_id, attempt, loan.loan_number, self.clock.now())
        try:
            payout = self._gateway(brand_id).create_payout(
                amount,
                mode=mode,
                beneficiary=beneficiary,
                reference=loan.loan_number,
                idempotency_key=f"{loan_id}:{attempt}",
                callback_url=callback_url,
                caller=Caller(brand_id, loan.customer_id),
            )
        except ProviderRejected as refused:
            # The gateway answered "no": no payout of this request will call back. Any other failure (a timeout, a
            # 5xx) leaves the outcome unknown and the initiation open until the next press notes the payout (same
            # key, same payout) or INITIATION_WINDOW has passed.
            self.store.refuse_initiation(initiation, self.clock.now())
            if refused.code == "idempotency_conflict":  # another member of staff's request for this attempt
                raise Conflict("another payout of this loan is being initiated", attempt=attempt) from None
            raise
        record = AttemptRecord(
            payout.payout_id, brand_id, loan_id, attempt, mode, payout.simulator_url, self.clock.now()
        )
        # The request stays open until the loan has the attempt: should recording it fail (the process dying, a race),
        # the open request keeps payout files and cancels away from a loan the gateway is paying, and the
        # reconciliation finds it (`_reconcile` copes with a payout noted that the loan lacks).
        self.store.note_attempt(record, settle=False)
        done = self.loans.initiate_disbursal(brand_id, loan_id, mode, payout.payout_id, attempt=attempt, amount=amount)
        self.store.note_attempt(record)  # settles the attempt's initiations
        return done

    def reconcile(self, brand_id: UUID, limit: int) -> Reconciled:
        """Ask the gateway about the brand's payout requests left unanswered past INITIATION_WINDOW (the process
        asking died, or its answer was lost, and nobody pressed again) and record what it says (see `_reconcile`);
        up to `limit` of them, oldest first. A request the gateway cannot be asked about now stays for the next run."""
        done = Reconciled()
        for initiation in self.store.unanswered_initiations(brand_id, self.clock.now() - INITIATION_WINDOW, limit):
            try:
                done.add(self._reconcile(initiation))
            except (ProviderError, DomainError, ConcurrentModification) as exc:
                log.warning("disbursal.reconcile_failed", loan_id=str(initiation.loan_id), attempt=initiation.attempt,
                            initiation_id=str(initiation.id), error=type(exc).__name__, detail=str(exc)[:300])  # fmt: skip
                done.failed += 1
        return done

    def unsettled(self, brand_id: UUID) -> UnsettledPayouts:
        """The brand's payout requests open past INITIATION_WINDOW now (what `reconcile` would ask about)."""
        now = self.clock.now()
        found = self.store.unanswered_summary(brand_id, now - INITIATION_WINDOW)
        oldest = found.oldest_started_at
        return UnsettledPayouts(found.count, oldest, now - oldest if oldest else None, found.oldest_references)

    def _reconcile(self, initiation: InitiationRecord) -> ReconcileOutcome:
        """One unanswered request: the gateway's payout under its key (`<loan id>:<attempt>`) recorded on the loan
        as an answer would have been (attempt noted, `DisbursalInitiated`), then its outcome as its webhook would
        have (paid: active; failed: failed, with the gateway's reason; pending: its webhook will come). No payout
        under the key: none was made, the request is settled. The initiation is settled last, so a run killed part
        way asks again; the loan records each step once (a repeat changes nothing)."""
        brand_id, loan_id, attempt = initiation.brand_id, initiation.loan_id, initiation.attempt
        loan = self.loans.get(brand_id, loan_id)
        found = self._gateway(brand_id).find_payout(f"{loan_id}:{attempt}", caller=Caller(brand_id, loan.customer_id))
        if found is None:
            self.store.settle_initiation(initiation.id)
            log.info("disbursal.reconciled", loan_id=str(loan_id), attempt=attempt,
                     outcome=ReconcileOutcome.NO_PAYOUT.value)  # fmt: skip
            return ReconcileOutcome.NO_PAYOUT
        record = AttemptRecord(found.payout_id, brand_id, loan_id, attempt, found.mode, found.simulator_url,
                               self.clock.now())  # fmt: skip
        self.store.note_attempt(record, settle=False)  # a webhook now finds the payout (409 until the loan has it)
        if not any(a.gateway_reference == found.payout_id for a in loan.attempts):
            self.loans.initiate_disbursal(brand_id, loan_id, found.mode, found.payout_id, attempt=attempt,
                                          amount=found.amount)  # fmt: skip
        outcome = ReconcileOutcome.PENDING
        if found.status == "processed":
            changed = self.loans.confirm_disbursal(
                brand_id, loan_id, found.payout_id, self.identity.business_date(brand_id)
            ).changed
            outcome = ReconcileOutcome.PAID if changed else ReconcileOutcome.PAID_BEFORE
        elif found.status == "failed":
            reason = found.reason or "failed at the gateway"
            changed = self.loans.fail_disbursal(brand_id, loan_id, found.payout_id, reason).changed
            outcome = ReconcileOutcome.FAILED if changed else ReconcileOutcome.FAILED_BEFORE
        self.store.note_attempt(record)  # settles the attempt's initiations
        log.info("disbursal.reconciled", loan_id=str(loan_id), attempt=attempt, payout_id=found.payout_id,
                 outcome=outcome.value)  # fmt: skip
        return outcome

    def simulator_url(self, gateway_reference: str | None) -> str | None:
        """Where the gateway simulator settles this payout (None at a real gateway)."""
        if not gateway_reference:
            return None
        record = self.store.attempt(gateway_reference)
        return record.simulator_url if record else None

    def webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """A gateway webhook: verified (WebhookRejected when forged or stale), deduplicated, then applied."""
        secrets = [s for s in os.environ.get(WEBHOOK_SECRET_ENV, DEFAULT_WEBHOOK_SECRET).split(",") if s]
        WebhookVerifier(secrets, clock=self.clock).verify(body, headers)
        event = parse_event(body)
        if event.type not in ("payout.processed", "payout.failed"):
            return WebhookOutcome("ignored", f"{event.type} is not a payout event")
        require_text(event.data, "payout_id", "reason")
        reference = str(event.data.get("payout_id") or "")
        record = self.store.attempt(reference) or self._not_noted_yet(event, reference)
        if record is None:  # nobody's payout: acknowledged and logged, nothing kept (docs/api.md, "Provider webhooks")
            log.warning("webhook.unknown_reference", source="gateway", event_id=event.id, reference=reference)
            return WebhookOutcome("ignored", "no payout of ours has this reference")
        if not self.store.first_delivery("gateway", event.id, event.type, self.clock.now()):
            return WebhookOutcome("duplicate", f"event {event.id} was processed already")
        try:
            loan = self.loans.get(record.brand_id, record.loan_id)
            echoed = event.data.get("reference")  # the loan number we sent with the payout, which the gateway echoes
            if isinstance(echoed, str) and echoed and echoed != loan.loan_number:
                # Another gateway's payout with the same id (each brand has its own vendor, whose ids are unique only
                # to it): never settled on the loan whose payout had that id first - possibly another brand's.
                log.warning("webhook.reference_mismatch", source="gateway", event_id=event.id, payout_id=reference,
                            reference=echoed, loan_id=str(record.loan_id))  # fmt: skip
                outcome = WebhookOutcome("ignored", "the payout with this id was made for another loan")
                self.store.settle_delivery("gateway", event.id, outcome.status, outcome.detail, self.clock.now())
                return outcome
            if not any(a.gateway_reference == record.gateway_reference for a in loan.attempts):
                # The gateway answered faster than we recorded the attempt: retry later.
                raise Conflict("the payout is not recorded on the loan yet; deliver again", payout_id=reference)
            try:
                # Another change saved on the loan first is not the gateway's fact refused: decided again on the
                # loan as it now is, then (still racing) a 409 whose redelivery is processed - never `ignored`.
                outcome = retried(lambda: self._settle(record, event), SETTLE_ATTEMPTS)
            except ConcurrentModification:
                raise
            except Conflict as conflict:  # e.g. a failure reported after the confirmation: nothing to change
                log.warning(
                    "disbursal.webhook_conflict", payout_id=reference, event_id=event.id, detail=conflict.message
                )
                outcome = WebhookOutcome("ignored", conflict.message)
        except Exception:
            self.store.forget_delivery("gateway", event.id)  # the gateway's retry gets processed
            raise
        self.store.settle_delivery("gateway", event.id, outcome.status, outcome.detail, self.clock.now())
        return outcome

    def _not_noted_yet(self, event: WebhookEvent, payout_id: str) -> AttemptRecord | None:
        """For a payout id we have not noted: a Conflict (409, deliver again; nothing kept) when the event's
        `data.reference` is the loan number of a payout request still waiting for the gateway's answer (begun within
        INITIATION_WINDOW) — the gateway's webhook overtook its answer to us. Else the payout, if its attempt was
        noted since we looked (note_attempt completes the initiation in the same transaction), or None: nobody's.

        The webhook names no brand, so the initiation is looked up in every brand. Loan numbers carry the brand's
        (unique) code, so two brands' never meet; were they to, the match would still only turn a 200 `ignored`
        into a 409: nothing is read from the initiation's loan, nothing written."""
        loan_number = event.data.get("reference")
        if isinstance(loan_number, str) and loan_number:
            pending = self.store.open_initiations(loan_number, self.clock.now() - INITIATION_WINDOW)
            if pending:
                log.warning(
                    "disbursal.webhook_before_payout_noted",
                    payout_id=payout_id,
                    event_id=event.id,
                    type=event.type,
                    reference=loan_number,
                    loans=sorted({str(p.loan_id) for p in pending}),
                    attempts=sorted({p.attempt for p in pending}),
                )
                raise Conflict("the payout's initiation is not recorded yet; deliver again", payout_id=payout_id)
        return self.store.attempt(payout_id)

    def _settle(self, record: AttemptRecord, event: WebhookEvent) -> WebhookOutcome:
        brand_id, loan_id = record.brand_id, record.loan_id
        if event.type == "payout.failed":
            reason = str(event.data.get("reason") or "failed at the gateway")[:300]
            result = self.loans.fail_disbursal(brand_id, loan_id, record.gateway_reference, reason)
            return WebhookOutcome("processed" if result.changed else "duplicate")
        day = self.identity.business_date(brand_id)
        result = self.loans.confirm_disbursal(brand_id, loan_id, record.gateway_reference, day)
        return WebhookOutcome("processed" if result.changed else "duplicate")

    def _gateway(self, brand_id: UUID) -> Any:
        return self.directory.for_brand(self.identity.settings(brand_id).providers).gateway()

    def _beneficiary(self, loan: Loan) -> Beneficiary:
        ref: str | None = getattr(loan, "bank_account_ref", None)  # set by DisbursalQueued
        found = self.accounts.beneficiary(loan.brand_id, loan.customer_id, ref)
        if found is None:
            raise Conflict("the borrower's bank account is not verified", bank_account_ref=ref)
        return found

    # Payout files ----------------------------------------------------------------------------------------------

    def export(self, brand_id: UUID, actor: str, loan_ids: Sequence[UUID]) -> tuple[PayoutFileRecord, int]:
        """A payout file of the loans (each awaiting disbursal in the brand, no payout in flight, in no live file;
        else a 422 naming it and nothing recorded) and the beneficiary registration file of their new accounts;
        every loan marked exported in its history. Returns the file and the log position of the loans' events."""
        if not loan_ids or len(loan_ids) > MAX_FILE_LOANS:
            raise InvalidInput([FieldError("loan_ids", f"give 1 to {MAX_FILE_LOANS} loans")])
        # Under the brand's payout file lock: it waits for the payouts being initiated (the gateway asked, the
        # attempt not recorded yet) and holds new ones off until the file is recorded. Without it a loan read here
        # as awaiting disbursal could be paid by the gateway meanwhile and put in the file too: paid twice.
        with self.store.file_export_lock(brand_id) as held:
            if not held:
                raise Conflict("payouts of this brand are being initiated at the gateway right now; try again")
            return self._export(brand_id, actor, loan_ids)

    def _export(self, brand_id: UUID, actor: str, loan_ids: Sequence[UUID]) -> tuple[PayoutFileRecord, int]:
        """`export` under the brand's payout file lock."""
        unknown = self.store.initiations_open(brand_id, loan_ids)
        seen: set[UUID] = set()
        file_id = uuid.uuid4()
        today = self.identity.business_date(brand_id)
        loans: list[Loan] = []
        lines: list[PayoutLine] = []
        found = self.loans.find_many(list(loan_ids))  # one read for the file's loans (up to 10,000)
        for index, loan_id in enumerate(loan_ids):
            field = f"loan_ids[{index}]"
            if loan_id in seen:
                raise InvalidInput([FieldError(field, f"loan {loan_id} is listed twice")])
            seen.add(loan_id)
            try:
                loan = of_brand(found.get(loan_id), Loan, loan_id, brand_id, LoanNotFound)
                if loan_id in unknown:  # asked of the gateway, the answer lost: it may have paid (`reconcile`)
                    raise Conflict("a payout of it was asked of the gateway and its outcome is not known yet")
                loan.mark_exported(str(file_id), today)
                beneficiary = self._beneficiary(loan)
            except NotFound:
                raise InvalidInput([FieldError(field, f"loan {loan_id} is not a loan of this brand")]) from None
            except Conflict as refused:  # the loan is loaded: named by its number, as staff know it
                raise InvalidInput([FieldError(field, f"loan {loan.loan_number}: {refused.message}")]) from None
            loans.append(loan)
            lines.append(PayoutLine(loan_id, loan.loan_number, beneficiary.name, beneficiary.account_number,
                                    beneficiary.ifsc, loan.net_disbursed))  # fmt: skip
        now = self.clock.now()
        pricing = {loan.id: loan.sanction_pricing for loan in loans if loan.sanction_pricing is not None}
        fresh = self.store.new_accounts(brand_id, lines)
        total = control_total(lines)
        brand = self.identity.brand(brand_id)
        record = PayoutFileRecord(
            file_id, brand_id, now, actor, total.count, total.amount, len(fresh), "exported", None
        )
        store = self.store.claiming(
            record,
            lines,
            payout_workbook(lines, file_id=file_id, brand=brand.name, created_at=now, pricing=pricing),
            beneficiary_workbook(fresh),
        )
        try:  # the file and its loans' `PayoutExported` in one transaction: neither is kept without the other
            result = self.loans.commit(loans[0], *loans[1:], beside=(store,))
        except ConcurrentModification:
            taken = self.store.taken(brand_id, lines)  # another file took one of them first: name it (422)
            if taken is None:
                raise
            raise taken from None
        return record, result.position

    def return_file(self, brand_id: UUID, file_id: UUID, reason: str) -> PayoutFileRecord:
        """The bank returned (or refused) the file: its loans may be paid again. `reason` is read by the domain's
        `returned_reason` (422 otherwise, nothing changed), from the API and the portal alike."""
        why = returned_reason(reason)
        self._file(brand_id, file_id)
        loans = self.loans.load_many(Loan, list(self.store.loan_ids(file_id)), brand_id, LoanNotFound)
        today = self.identity.business_date(brand_id)
        for loan in loans:
            loan.mark_export_returned(str(file_id), why, today)
        # Its loans freed and the file settled in one transaction (a file settled apart from them kept them in it).
        self.loans.commit(loans[0], *loans[1:], beside=(self.store.settling(brand_id, file_id, "returned", why),))
        return self._file(brand_id, file_id)

    def confirm_file(self, brand_id: UUID, file_id: UUID) -> PayoutFileRecord:
        """The bank paid the file: every loan in it is disbursed (active) on the business date."""
        self._file(brand_id, file_id)
        day = self.identity.business_date(brand_id)
        # Through the Loans use case, so servicing opens (the schedule the reminders and COB read) in the same save.
        # The file settled in the save that disburses its loans (alone when every loan was already disbursed).
        settle = self.store.settling(brand_id, file_id, "confirmed", None)
        if not self.loans.confirm_file_disbursals(brand_id, list(self.store.loan_ids(file_id)), str(file_id), day,
                                                  beside=(settle,)):  # fmt: skip
            settle(None)
        return self._file(brand_id, file_id)

    def _file(self, brand_id: UUID, file_id: UUID) -> PayoutFileRecord:
        found = self.store.file(brand_id, file_id)
        if found is None:
            raise PayoutFileNotFound("no such payout file", file_id=str(file_id))
        return found

    def file(self, brand_id: UUID, file_id: UUID) -> PayoutFileRecord:
        """A payout file of the brand (404 otherwise)."""
        return self._file(brand_id, file_id)


def cancel_unless_paying_out(
    loans: Loans, store: PayoutStore, brand_id: UUID, loan_id: UUID, reason: str
) -> CommandResult:
    """Cancel the loan under its payout lock (`PayoutStore.payout_lock`), refused (409, nothing recorded) while a
    payout of it is being initiated or a request of it is open at the gateway. Without the lock a cancel could land
    between the gateway making the payout and the loan recording it: the loan cancelled, the money paid out."""
    loans.get(brand_id, loan_id)  # another brand's loan: 404, as before
    with store.payout_lock(loan_id) as held:
        if not held or store.initiation_open(brand_id, loan_id):
            raise Conflict(
                "a payout of this loan is being initiated at the gateway, or its outcome is not known yet: the loan "
                "cannot be cancelled until the gateway has answered",
                rule="payout_open",
            )
        return loans.cancel(brand_id, loan_id, reason)
