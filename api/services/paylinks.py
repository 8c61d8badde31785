"""Payment links (issue #15 item 2): staff create a gateway order for an amount (by default what is due now, never
above the payoff), the borrower gets the link by SMS or WhatsApp, and the gateway's signed `payment.*` webhook
records the payment through the servicing use case (`Loans.record_repayment`, mode `payment_link`, reference = the
gateway's order id) - once, however often the webhook repeats: the event id is deduplicated
(`ops.webhook_events`, as the payout webhook does), the link moves to `paid` once, and the Loan refuses a second
repayment with the same reference.

The same webhook (`/api/v1/webhooks/payments`) carries the UPI Autopay mandates' events (`mandate.*` and the
debits' `payment.*`), handled by `api.services.mandates.Mandates`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import structlog

from adapters.paylink_store import UNAPPLIED, Mandate, PaylinkStore, PaymentLink
from adapters.payout_store import PayoutStore
from adapters.providers.channels import ChannelClients
from adapters.providers.directory import ProviderDirectory
from adapters.webhooks import WebhookEvent, WebhookVerifier, parse_event, require_text
from api.services.disbursals import DEFAULT_WEBHOOK_SECRET, WEBHOOK_SECRET_ENV, WebhookOutcome
from api.services.loan_documents import latest_payments
from api.services.mandates import Mandates, unapplied_reason
from api.services.no_due import NoDueCertificates
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.loans.money import ZERO, parse_money
from domain.loans.servicing_events import PaymentRecord, WithdrawnNoDue
from domain.loans.servicing_views import servicing_view
from domain.loans.states import SERVICING, TAKES_MONEY, LoanStatus
from domain.providers.calls import Caller
from domain.shared.aggregate import acting_as
from domain.shared.application import ConcurrentModification
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, DomainError, FieldError, InvalidInput, InvalidValue, NotFound

log = structlog.get_logger(__name__)

CHANNELS = ("sms", "whatsapp")
WEB = "web"  # a link the borrower opened on the payment page (`checkout`): created there, never sent
CHECKOUT_REUSE = timedelta(minutes=10)  # an order of the page reused while it lives at least this long
PROVIDER = "gateway-payments"  # the dedupe namespace of this webhook's event ids


class PaymentLinkNotFound(NotFound):
    """No payment link with this id in the brand."""


@dataclass(frozen=True)
class PayPage:
    """The borrower's payment page: `due` (overdue, else the next instalment) and `payoff` on the business date, for
    a loan taking payments; None for one that is not (`status`; `certificate` when completed with its no-due,
    `settlement_letter` when settled). `payments`: the loan's latest payments, newest first, each with a receipt.
    `autopay`: a loan taking payments' UPI Autopay mandate - registered or active, else its latest revoked one.
    `withdrawn`: a loan taking payments again because a reversed payment re-opened it, the certificate withdrawn."""

    brand: str
    loan_number: str
    status: str
    due: Decimal | None
    payoff: Decimal | None
    dpd: int
    next_due: date | None
    certificate: bool
    payments: tuple[PaymentRecord, ...] = ()
    settlement_letter: bool = False
    autopay: Mandate | None = None
    withdrawn: WithdrawnNoDue | None = None


@dataclass(frozen=True)
class Paylinks:
    """Payment links and the payments webhook (see the module doc)."""

    loans: Loans
    directory: ProviderDirectory
    store: PaylinkStore
    payouts: PayoutStore
    identity: Identity
    customers: Customers
    clock: Clock

    @property
    def mandates(self) -> Mandates:
        """The UPI Autopay mandates over the same parts."""
        return Mandates(self.loans, self.directory, self.store, self.identity, self.customers, self.clock)

    def due_now(self, brand_id: UUID, loan_id: UUID) -> tuple[Decimal, Decimal]:
        """What is due now (overdue, else the next instalment's unpaid amount) and the payoff (with an approved
        settlement, what is left of it), on the business date."""
        return self._due_now(self.loans.serviced(brand_id, loan_id), self.identity.business_date(brand_id))

    @staticmethod
    def _due_now(loan: Any, today: date) -> tuple[Decimal, Decimal]:
        """Due now and the most the loan takes today (`Loan.owing`: the payoff, or what is left of an approved
        settlement - every payment then counts towards it, and one above it is refused: the pay page offered the
        instalment and the payoff, the gateway captured them, and the loan left the money unapplied)."""
        quote = loan.payoff_quote(today)
        ceiling = loan.owing(today).amount
        overdue = quote.overdue_penal + quote.overdue_interest + quote.overdue_principal
        if overdue <= ZERO:
            upcoming = servicing_view(loan, today).next_due
            overdue = upcoming.amount if upcoming is not None else ceiling
        return min(overdue, ceiling), ceiling

    def pay_page(self, brand_id: UUID, loan_id: UUID) -> PayPage:
        """What the borrower's payment page shows on the business date."""
        loan = self.loans.serviced(brand_id, loan_id)
        brand = self.identity.brand(brand_id).name
        paid = tuple(latest_payments(loan))
        if loan.status not in SERVICING:
            settled = loan.status is LoanStatus.SETTLED
            # Only a completed loan's certificate: a reversal that re-opens a loan withdraws it (none while it owes).
            certificate = loan.status is LoanStatus.COMPLETED and loan.no_due is not None
            return PayPage(brand, loan.loan_number, str(loan.status), None, None, 0, None, certificate, paid,
                           settled)  # fmt: skip
        today = self.identity.business_date(brand_id)
        view = servicing_view(loan, today)
        due, payoff = self._due_now(loan, today)
        next_due = view.next_due.due_date if view.next_due is not None and view.dpd == 0 else None
        autopay = self.mandates.latest(brand_id, loan_id)
        withdrawn = loan.no_dues_withdrawn[-1] if loan.no_dues_withdrawn else None
        return PayPage(brand, loan.loan_number, str(loan.status), due, payoff, view.dpd, next_due, False, paid,
                       autopay=autopay, withdrawn=withdrawn)  # fmt: skip

    def create(self, brand_id: UUID, loan_id: UUID, amount: Decimal | str | None, channel: str,
               callback_url: str) -> PaymentLink:  # fmt: skip
        """Create a gateway order and send its link to the borrower's phone by `channel` (sms or whatsapp): for a loan
        being repaid, or one written off - its payment is then a recovery (docs/recoveries.md), by default and at most
        what is left to recover."""
        if channel not in CHANNELS:
            raise InvalidValue("channel", f"must be one of {', '.join(CHANNELS)}")
        value = None if amount is None else parse_money(amount, "amount", positive=True)
        loan = self.loans.serviced(brand_id, loan_id)
        if loan.status not in TAKES_MONEY:
            raise Conflict(
                f"a payment link needs a loan being repaid or written off; this one is {loan.status.words}",
                status=str(loan.status),
            )
        today = self.identity.business_date(brand_id)
        written_off = loan.status is LoanStatus.WRITTEN_OFF
        if written_off:  # nothing falls due on it: the link asks for what is left to recover unless told less
            due = payoff = loan.owing(today).amount
        else:
            due, payoff = self._due_now(loan, today)
        if value is None:
            value = due
        if value > payoff:
            what = loan.owing(today).what
            raise InvalidInput([FieldError("amount", f"{value} is above the {what} of {payoff}")])
        if value <= ZERO:
            raise Conflict("nothing is left to recover on this loan" if written_off else "nothing is due on this loan")
        link = self._new_order(brand_id, loan, value, channel, callback_url)
        self._send(link, loan.loan_number, Caller(brand_id, loan.customer_id))
        return self.link(brand_id, link.id)

    def checkout(self, brand_id: UUID, loan_id: UUID, full: bool, callback_url: str,
                 amount: Decimal | str | None = None) -> PaymentLink:  # fmt: skip
        """The gateway order the borrower's payment page pays (`api/pages/pay.py`): what is due now, the payoff when
        `full`, or `amount` - a part-payment the borrower chose (the spec's "multiple partial payments allowed"): more
        than 0 and at most the payoff (with an approved settlement, what is left of it), else a 422 naming `amount`.
        Nothing is sent (the borrower is on the page); an unpaid order of the page for the same amount
        that lives another `CHECKOUT_REUSE` is reused, so a reload or a second tap opens the same order (held per loan
        from the look-up to the new order's row: two taps at once give one order)."""
        loan = self.loans.get(brand_id, loan_id)
        if loan.status not in SERVICING:
            raise Conflict(f"this loan takes no payment here; it is {loan.status.words}", status=str(loan.status))
        due, payoff = self.due_now(brand_id, loan_id)
        value = payoff if full else due
        if amount is not None:
            value = parse_money(amount, "amount", positive=True)
            if value > payoff:
                what = loan.owing(self.identity.business_date(brand_id)).what
                raise InvalidValue("amount", f"{value} is above the {what} of {payoff}")
        if value <= ZERO:
            raise Conflict("nothing is due on this loan")

        def busy() -> Exception:
            return Conflict("this loan's payment is being started right now; try again")

        # The page has no login: whoever opens the loan's signed link is the borrower, so the order's audit entry
        # names them (`borrower:<customer id>`, as the borrower's own acts in the web flow are recorded).
        with self.store.checking_out(loan_id, busy), acting_as(f"borrower:{loan.customer_id}"):
            return self._checkout(brand_id, loan, value, callback_url)

    def _checkout(self, brand_id: UUID, loan: Any, value: Decimal, callback_url: str) -> PaymentLink:
        loan_id = loan.id
        now = self.clock.now()
        for link in reversed(self.store.links(brand_id, loan_id, now)):
            if (link.channel == WEB and link.state == "created" and link.amount == value and link.payment_url
                    and link.expires_at is not None and link.expires_at > now + CHECKOUT_REUSE):  # fmt: skip
                return link
        return self.link(brand_id, self._new_order(brand_id, loan, value, WEB, callback_url).id)

    def _new_order(self, brand_id: UUID, loan: Any, value: Decimal, channel: str, callback_url: str) -> PaymentLink:
        """A gateway order for `value` (reference `PL-…`) and its link row, `created`, for `channel`."""
        borrower = self.customers.get(brand_id, loan.customer_id)
        link_id = uuid.uuid4()
        order = self._gateway(brand_id).create_order(
            value,
            f"PL-{link_id.hex[:20]}",
            customer_phone=borrower.phone,
            description=f"Loan {loan.loan_number}",
            callback_url=callback_url,
            caller=Caller(brand_id, loan.customer_id),
        )
        link = PaymentLink(link_id, brand_id, loan.id, value, channel, borrower.phone, order.order_id,
                           order.payment_url, "created", None, None, self.clock.now(), order.expires_at, None, None)  # fmt: skip
        self.store.add_link(link)
        return link

    def _send(self, link: PaymentLink, loan_number: str, caller: Caller) -> None:
        """The link to the borrower's phone: by SMS, or by WhatsApp through the brand's WhatsApp provider (a template
        message, as the reminders send). A messaging failure (no WhatsApp account, a provider down) leaves the link
        `created`: staff may send it again, by SMS."""
        brand = self.identity.brand(link.brand_id)
        settings = self.identity.settings(link.brand_id)
        text = f"{brand.name}: pay Rs {link.amount} towards loan {loan_number} at {link.payment_url}"
        try:
            if link.channel == "whatsapp":
                ChannelClients(self.directory).send(
                    "whatsapp", settings.providers.get("whatsapp"), to=link.phone, text=text,
                    sender=settings.message_senders.get("whatsapp") or brand.name[:30],
                    reference=f"PL-{link.id.hex[:20]}", callback_url=None, caller=caller, template="payment_link",
                )  # fmt: skip
            else:
                self.directory.for_brand(settings.providers).sms().send(link.phone, text, caller=caller)
        except DomainError as exc:
            log.warning("paylinks.send_failed", link_id=str(link.id), channel=link.channel, error=str(exc))
            return
        self.store.mark_link(link.id, "sent", self.clock.now())

    def link(self, brand_id: UUID, link_id: UUID) -> PaymentLink:
        """A link of the brand (404 otherwise)."""
        found = self.store.link(brand_id, link_id, self.clock.now())
        if found is None:
            raise PaymentLinkNotFound("no payment link with this id", link_id=str(link_id))
        return found

    def links(self, brand_id: UUID, loan_id: UUID) -> list[PaymentLink]:
        """A loan's links (404 for a loan not of the brand)."""
        self.loans.get(brand_id, loan_id)
        return self.store.links(brand_id, loan_id, self.clock.now())

    def _gateway(self, brand_id: UUID) -> Any:
        return self.directory.for_brand(self.identity.settings(brand_id).providers).gateway()

    # The webhook -----------------------------------------------------------------------------------------------

    def webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """A payments webhook: verified (WebhookRejected when forged or stale), deduplicated, then applied."""
        secrets = [s for s in os.environ.get(WEBHOOK_SECRET_ENV, DEFAULT_WEBHOOK_SECRET).split(",") if s]
        WebhookVerifier(secrets, clock=self.clock).verify(body, headers)
        event = parse_event(body)
        if not event.type.startswith(("payment.", "mandate.")):
            return WebhookOutcome("ignored", f"{event.type} is not a payment or mandate event")
        require_text(event.data, "order_id", "reference", "reason")
        if not self.payouts.first_delivery(PROVIDER, event.id, event.type, self.clock.now()):
            return WebhookOutcome("duplicate", f"event {event.id} was processed already")
        try:
            outcome = self._apply(event)
        except NotFound as unknown:
            # Nobody's link, debit or mandate: acknowledged (a 4xx would have the gateway deliver it again for ever)
            # and logged; the event id is forgotten, so the same delivery gets the same answer (docs/api.md,
            # "Provider webhooks").
            self.payouts.forget_delivery(PROVIDER, event.id)
            log.warning("webhook.unknown_reference", source=PROVIDER, event_id=event.id, detail=unknown.message,
                        **{k: str(v) for k, v in unknown.details.items()})  # fmt: skip
            return WebhookOutcome("ignored", unknown.message)
        except Exception:
            self.payouts.forget_delivery(PROVIDER, event.id)  # the gateway's retry gets processed
            raise
        self.payouts.settle_delivery(PROVIDER, event.id, outcome.status, outcome.detail, self.clock.now())
        return outcome

    def _apply(self, event: WebhookEvent) -> WebhookOutcome:
        if event.type.startswith("mandate."):
            return self.mandates.mandate_event(event)
        order_id = str(event.data.get("order_id") or "")
        link = self.store.link_by_order(order_id, self.clock.now())
        if link is None:
            return self.mandates.debit_event(event, self.record)
        if event.type == "payment.failed":
            self.store.mark_link(link.id, "failed", self.clock.now(), reason=str(event.data.get("reason") or "")[:300])
            return WebhookOutcome("processed")
        if event.type != "payment.captured":
            return WebhookOutcome("ignored", f"{event.type} changes no link")
        amount = parse_money(
            link.amount if event.data.get("amount") is None else event.data["amount"], "data.amount", positive=True
        )  # malformed: 422, not 500
        outcome, payment_id = self.record(link.brand_id, link.loan_id, amount, "payment_link", order_id)
        if payment_id is not None:
            self.store.mark_link(link.id, "paid", self.clock.now(), repayment_id=payment_id)
        elif outcome.status == "ignored":  # captured, and the loan refused it: kept for staff, not lost
            self.store.mark_link(link.id, UNAPPLIED, self.clock.now(), reason=unapplied_reason(amount, outcome))
        return outcome

    def record(self, brand_id: UUID, loan_id: UUID, amount: Decimal, mode: str,
               reference: str) -> tuple[WebhookOutcome, str | None]:  # fmt: skip
        """Record a gateway payment as a repayment once: a reference already recorded is a duplicate; a payment
        the loan cannot take (above the payoff, a closed loan) is logged and answered `ignored` (its link or debit
        is then marked `unapplied` by the caller, with `unapplied_reason`)."""
        loan = self.loans.get(brand_id, loan_id)
        for p in (*loan.payments.values(), *loan.recoveries.values()):  # a written-off loan's are recoveries
            if p.reference == reference:
                return WebhookOutcome("duplicate", "this payment is recorded already"), p.payment_id
        try:
            # decided again on the loan as it now is when another save lands first (SERVICING_ATTEMPTS)
            record = self.loans.record_repayment(brand_id, loan_id, amount, mode, reference)[1]
        except ConcurrentModification:
            raise  # still racing after the retries: the delivery is forgotten and the gateway's retry processed
        except Conflict as conflict:
            again = self.loans.get(brand_id, loan_id)
            for p in (*again.payments.values(), *again.recoveries.values()):
                if p.reference == reference:  # recorded by a concurrent delivery
                    return WebhookOutcome("duplicate", "this payment is recorded already"), p.payment_id
            log.warning("paylinks.payment_refused", loan_id=str(loan_id), reference=reference, detail=conflict.message)
            return WebhookOutcome("ignored", conflict.message), None
        except InvalidValue as refused:  # e.g. above the payoff: the money is refunded outside the product
            log.warning("paylinks.payment_refused", loan_id=str(loan_id), reference=reference, detail=str(refused))
            return WebhookOutcome("ignored", str(refused)), None
        NoDueCertificates(self.loans, self.customers, self.identity).issued_on_closing(brand_id, loan_id)
        return WebhookOutcome("processed"), record.payment_id
