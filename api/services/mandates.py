"""UPI Autopay mandates (issue #15 item 2): staff register a mandate (UPI id, max amount, frequency) at the gateway
-> `registered`; the payer approves it in their UPI app and the gateway's `mandate.activated` webhook makes it
`active`; staff revoke it (or the payer does: `mandate.revoked`) -> `revoked`.

The `mandate-debits` job (workers/mandate_debits.py) presents, for each active mandate, what is due on the business
date (the unpaid part of the instalments due on or before it, capped at the payoff and the mandate's max amount);
the gateway settles each debit by a `payment.*` webhook. A captured debit is recorded as a repayment (mode
`upi_autopay`, reference = the gateway's order id) once; a failed one is recorded with the gateway's reason and
presented again `RETRY_SPACING_DAYS` business days later, at most `RETRIES` more times per instalment. What to present
and when is decided by domain/loans/mandate_debits.py; this service reads the debits and talks to the gateway."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

import structlog

from adapters.paylink_store import UNAPPLIED, Mandate, MandateDebit, PaylinkStore
from adapters.providers.directory import ProviderDirectory
from adapters.providers.payments import MandateClient
from adapters.webhooks import WebhookEvent
from api.services.disbursals import WebhookOutcome
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.loans.mandate_debits import awaits_answer, borrower_mandate_limit, next_debit, retry_date
from domain.loans.money import ZERO, parse_money
from domain.loans.position import InstalmentStatus
from domain.loans.servicing_views import servicing_view
from domain.loans.states import SERVICING
from domain.providers.calls import Caller
from domain.providers.errors import ProviderRejected
from domain.shared import formats
from domain.shared.aggregate import acting_as
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, DomainError, InvalidValue, NotFound
from domain.shared.values import clean_text

log = structlog.get_logger(__name__)

FREQUENCIES = ("monthly", "weekly", "as_presented")
BORROWER_FREQUENCY = "monthly"  # the Ops form's default: the job presents on due dates whatever the frequency
LIVE = ("registered", "active")
VPA = re.compile(formats.UPI_ID)  # as given, surrounding whitespace too (the API states it)

Recorder = Callable[[UUID, UUID, Decimal, str, str], tuple[WebhookOutcome, str | None]]


def normalise_upi_id(raw: str, field: str = "vpa") -> str:
    """A payer's UPI id (name@handle) as given, without surrounding whitespace (`VPA`: the API states the pattern)."""
    upi = clean_text(raw, field, min_visible=3, missing="give the UPI id").strip()
    if not VPA.fullmatch(upi):
        raise InvalidValue(field, "is not a UPI id (name@handle)")
    return upi


def unapplied_reason(amount: Decimal, refused: WebhookOutcome) -> str:
    """The reason kept on a link or debit whose captured money the loan refused (`UNAPPLIED`): what and why, and
    what staff do with it."""
    why = refused.detail or "the loan refused it"
    return f"Rs {amount} captured at the gateway, not applied: {why} - refund it or record it by hand"[:300]


class MandateNotFound(NotFound):
    """No mandate with this id in the brand."""


class MandateLive(Conflict):
    """Raised when the loan has a mandate registered or active already (one live mandate a loan)."""


@dataclass(frozen=True)
class DebitPlan:
    """What the job presents under one mandate on a date."""

    mandate: Mandate
    instalment: int
    attempt: int
    amount: Decimal


@dataclass(frozen=True)
class Mandates:
    """Mandates and their debits (see the module doc)."""

    loans: Loans
    directory: ProviderDirectory
    store: PaylinkStore
    identity: Identity
    customers: Customers
    clock: Clock

    def _client(self, brand_id: UUID) -> MandateClient:
        return MandateClient(self.directory.for_brand(self.identity.settings(brand_id).providers).gateway())

    def register(self, brand_id: UUID, loan_id: UUID, vpa: str, max_amount: Decimal | str, frequency: str,
                 callback_url: str) -> tuple[Mandate, str | None]:  # fmt: skip
        """Register a mandate at the gateway: `registered`, and the URL where the payer approves it."""
        upi = normalise_upi_id(vpa)
        limit = parse_money(max_amount, "max_amount", positive=True)
        if frequency not in FREQUENCIES:
            raise InvalidValue("frequency", f"must be one of {', '.join(FREQUENCIES)}")
        loan = self.loans.get(brand_id, loan_id)
        if loan.status not in SERVICING:
            raise Conflict(f"a mandate needs a serviced loan; this one is {loan.status.words}", status=str(loan.status))

        def busy() -> Exception:
            return Conflict("another mandate of this loan is being registered right now; try again")

        # One live mandate a loan: the check, the gateway's registration and the row are one step for the loan, so
        # two registrations at once cannot both find none (nor leave a second mandate at the gateway).
        with self.store.registering(loan_id, busy):
            if any(m.state in LIVE for m in self.store.mandates(brand_id, loan_id)):
                raise MandateLive("the loan has a mandate registered or active; revoke it first")
            mandate_id = uuid.uuid4()
            made = self._client(brand_id).register(
                upi, limit, frequency, reference=str(mandate_id), callback_url=callback_url,
                caller=Caller(brand_id, loan.customer_id),
            )  # fmt: skip
            now = self.clock.now()
            mandate = Mandate(mandate_id, brand_id, loan_id, upi, limit, frequency, made.mandate_id, "registered",
                              None, now, now)  # fmt: skip
            self.store.add_mandate(mandate)
        return mandate, made.approval_url

    def register_for_borrower(self, brand_id: UUID, loan_id: UUID, vpa: str, callback_url: str) -> Mandate:
        """The borrower sets up UPI Autopay on their payment page (`api/pages/pay.py`): `register` as staff do, the
        max amount derived (`borrower_mandate_limit`: the largest instalment left or what is due now, at most the
        payoff) and the Ops form's default frequency, recorded with the borrower as actor (`borrower:<customer
        id>`: whoever opens the loan's signed link is the borrower)."""
        loan = self.loans.serviced(brand_id, loan_id)
        if loan.status not in SERVICING:
            raise Conflict(f"this loan takes no autopay here; it is {loan.status.words}", status=str(loan.status))
        limit = borrower_mandate_limit(servicing_view(loan, self.identity.business_date(brand_id)))
        if limit <= ZERO:
            raise Conflict("nothing is left to pay on this loan")
        with acting_as(f"borrower:{loan.customer_id}"):
            mandate, _ = self.register(brand_id, loan_id, vpa, limit, BORROWER_FREQUENCY, callback_url)
        return mandate

    def latest(self, brand_id: UUID, loan_id: UUID) -> Mandate | None:
        """The loan's registered or active mandate, else its latest (revoked) one, else None."""
        mandates = self.store.mandates(brand_id, loan_id)
        live = [m for m in mandates if m.state in LIVE]
        return live[-1] if live else (mandates[-1] if mandates else None)

    def mandate(self, brand_id: UUID, mandate_id: UUID) -> Mandate:
        """A mandate of the brand (404 otherwise)."""
        found = self.store.mandate(brand_id, mandate_id)
        if found is None:
            raise MandateNotFound("no mandate with this id", mandate_id=str(mandate_id))
        return found

    def of_loan(self, brand_id: UUID, loan_id: UUID) -> list[Mandate]:
        """A loan's mandates (404 for a loan not of the brand)."""
        self.loans.get(brand_id, loan_id)
        return self.store.mandates(brand_id, loan_id)

    def debits(self, brand_id: UUID, mandate_id: UUID) -> list[MandateDebit]:
        """A mandate's debits."""
        return self.store.debits(self.mandate(brand_id, mandate_id).id)

    def revoke(self, brand_id: UUID, loan_id: UUID, mandate_id: UUID) -> Mandate:
        """Staff revoke a mandate (at the gateway too); 409 when it is revoked already."""
        mandate = self.mandate(brand_id, mandate_id)
        if mandate.loan_id != loan_id:
            raise MandateNotFound("no mandate with this id on this loan", mandate_id=str(mandate_id))
        if mandate.state == "revoked":
            raise Conflict("the mandate is revoked already")
        if mandate.gateway_id:
            try:
                self._client(brand_id).revoke(mandate.gateway_id, caller=Caller(brand_id))
            except DomainError as exc:
                log.warning("mandates.revoke_at_gateway_failed", mandate_id=str(mandate_id), error=str(exc))
        self.store.move_mandate(mandate.id, LIVE, "revoked", self.clock.now(), "revoked by staff")
        return self.mandate(brand_id, mandate_id)

    # The gateway's events --------------------------------------------------------------------------------------

    def mandate_event(self, event: WebhookEvent) -> WebhookOutcome:
        """`mandate.activated` / `mandate.revoked` (the reference is our mandate id)."""
        try:
            mandate_id = UUID(str(event.data.get("reference") or ""))
        except ValueError:
            raise NotFound("no mandate of ours has this reference") from None
        mandate = self.store.mandate(None, mandate_id)
        if mandate is None:
            raise NotFound("no mandate of ours has this reference", reference=str(mandate_id))
        now = self.clock.now()
        if event.type == "mandate.activated":
            moved = self.store.move_mandate(mandate_id, ("registered",), "active", now)
        elif event.type == "mandate.revoked":
            why = str(event.data.get("reason") or "revoked at the gateway")[:300]
            moved = self.store.move_mandate(mandate_id, LIVE, "revoked", now, why)
        else:
            return WebhookOutcome("ignored", f"{event.type} changes no mandate")
        return WebhookOutcome("processed" if moved else "ignored", None if moved else f"the mandate is {mandate.state}")

    def debit_event(self, event: WebhookEvent, record: Recorder) -> WebhookOutcome:
        """A debit's `payment.captured` (recorded as a repayment once) or `payment.failed` (reason, retry date)."""
        order_id = str(event.data.get("order_id") or "")
        reference = str(event.data.get("reference") or "")
        debit = self.store.debit(reference)
        if debit is None:
            raise NotFound("no payment link or mandate debit of ours has this order", order_id=order_id)
        if event.type == "payment.failed":
            reason = str(event.data.get("reason") or "failed at the gateway")[:300]
            retry = retry_date(debit.attempt, self.identity.business_date(debit.brand_id))
            self.store.settle_debit(reference, "failed", reason=reason, retry_on=retry)
            return WebhookOutcome("processed")
        if event.type != "payment.captured":
            return WebhookOutcome("ignored", f"{event.type} changes no debit")
        amount = parse_money(
            debit.amount if event.data.get("amount") is None else event.data["amount"], "data.amount", positive=True
        )  # malformed: 422, not 500
        outcome, payment_id = record(debit.brand_id, debit.loan_id, amount, "upi_autopay", order_id)
        if payment_id is not None:
            self.store.settle_debit(reference, "paid", repayment_id=payment_id)
        elif outcome.status == "ignored":
            # Captured, and the loan refused it (paid off, settled or written off since it was presented, or the
            # debit above the payoff by then): kept `unapplied` with the reason and an audit entry, for staff to
            # refund or record by hand - it used to be only logged, the debit left `presented`.
            self.store.settle_debit(reference, UNAPPLIED, reason=unapplied_reason(amount, outcome), at=self.clock.now())
        return outcome

    # The job ---------------------------------------------------------------------------------------------------

    def plan(self, mandate: Mandate, day: date) -> DebitPlan | None:
        """What to present under `mandate` on `day`: None when nothing is due, a debit is in flight, the last
        failure's retry is not due yet, or the retries are spent."""
        loan = self.loans.serviced(mandate.brand_id, mandate.loan_id)
        if loan.status not in SERVICING:
            return None
        view = servicing_view(loan, day)
        # `unpaid` is the instalment's unpaid penal charges, interest and principal (`penal` is what accrued, paid
        # or not: adding it would count the penal charges twice).
        due = [i for i in view.schedule if i.due_date <= day and i.status is not InstalmentStatus.PAID and
               i.unpaid > ZERO]  # fmt: skip
        if not due:
            return None
        # At most what the loan takes today (`Loan.owing`: with an approved settlement, what is left of it).
        amount = min(sum((i.unpaid for i in due), ZERO), view.outstanding.total, loan.owing(day).amount,
                     mandate.max_amount)  # fmt: skip
        first = due[0].no
        tried = [d for d in self.store.debits(mandate.id) if d.instalment == first]
        planned = next_debit(tried, amount, day)
        return None if planned is None else DebitPlan(mandate, first, planned.attempt, planned.amount)

    def present(self, plan: DebitPlan, day: date) -> MandateDebit | None:
        """Present a planned debit at the gateway (once per instalment and attempt)."""
        m = plan.mandate
        reference = f"MD-{m.id.hex[:12]}-{plan.instalment}-{plan.attempt}"
        debit = MandateDebit(reference, None, m.id, m.brand_id, m.loan_id, plan.instalment, plan.attempt,
                             plan.amount, "presented", None, None, day, None)  # fmt: skip
        if not self.store.add_debit(debit):
            noted = self.store.debit(reference)
            if noted is None or not awaits_answer(noted):
                return None  # presented already (a rerun, another worker)
            # else noted by a presentation whose answer never came (`plan`): asked again under the same reference
        try:
            order = self._client(m.brand_id).debit(m.gateway_id or "", plan.amount, reference=reference,
                                                   caller=Caller(m.brand_id))  # fmt: skip
        except ProviderRejected as refused:
            if refused.code == "duplicate_reference":
                # The gateway has this debit already (an earlier try reached it, its answer did not reach us): its
                # webhook settles it, found by our reference. Dropping the row lost that webhook's debit.
                log.info("mandate_debits.presented_before", reference=reference)
                return None
            self.store.drop_debit(reference)  # a definite "no": nothing was taken; the next run plans again
            raise
        # Any other failure (a timeout, a 5xx, the process dying) leaves the outcome unknown: the gateway may have
        # taken the debit, and its `payment.captured` finds it by this row's reference. The row is kept, awaiting its
        # answer, and the next run presents it again under the same reference (the gateway takes it once). Dropping
        # it lost that webhook's money: the borrower paid and the loan went overdue.
        self.store.set_order(reference, order.order_id)
        return self.store.debit(reference)
