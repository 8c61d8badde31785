"""Payment links and UPI Autopay mandates (`api.services.paylinks`, `api.services.mandates`) on the in-memory event
store, with fakes of the gateway, the SMS and the operational tables: the link's default amount and its refusals
(nothing asked of the gateway, nothing stored), a captured payment recorded once as a `payment_link` repayment under
repeats, a failed one, forged webhooks; the mandate's states and what the debit job presents, the retry policy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest

from adapters.paylink_store import Mandate, MandateDebit, PaymentLink
from adapters.webhooks import WebhookRejected, sign
from api.services.disbursals import WEBHOOK_SECRET_ENV
from api.services.paylinks import Paylinks
from domain.loans.application import Loans
from domain.loans.mandate_debits import RETRIES
from domain.loans.terms import PenalTerms
from domain.providers.errors import ProviderUnavailable
from domain.providers.messaging import PaymentOrder
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import BRAND, PRODUCT, Catalogue, product_version
from tests.application.loans.servicing_fixtures import MovableParties, disbursed

SECRET = "whsec_app_tests"
D0 = date(2026, 1, 31)
DUE = date(2026, 2, 28)


@pytest.fixture
def parties() -> MovableParties:
    return MovableParties(today=D0)


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue(products={(BRAND, PRODUCT): product_version(penal=PenalTerms(daily_percent=Decimal("0.1")))})


@dataclass
class Http:
    """The gateway's mandate API."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def call(self, kind: str, method: str, path: str, parse: Any, *, caller: Any, json: Any = None) -> Any:
        self.calls.append((kind, json))
        if kind == "create_mandate":
            return parse({"mandate_id": "mdt_1", "status": "pending", "approval_url": "http://gw/mandates/mdt_1"})
        if kind == "debit_mandate":
            return parse({"order_id": f"order_d{len(self.calls)}", "status": "presented"})
        return parse({"mandate_id": "mdt_1", "status": "revoked"})


@dataclass
class Gateway:
    orders: list[dict[str, Any]] = field(default_factory=list)
    http: Http = field(default_factory=Http)

    def create_order(self, amount: Decimal, reference: str, **kw: Any) -> PaymentOrder:
        self.orders.append({"amount": amount, "reference": reference, **kw})
        n = len(self.orders)
        return PaymentOrder(f"order_{n}", f"http://gw/pay/order_{n}", amount, reference, "created",
                            datetime(2030, 1, 1, tzinfo=datetime.now().astimezone().tzinfo))  # fmt: skip


@dataclass
class WhatsApp:
    """The WhatsApp provider's API (`ChannelClients`' HTTP client of the channel)."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    def call(self, kind: str, method: str, path: str, parse: Any, *, caller: Any, json: Any = None) -> Any:
        self.sent.append({"kind": kind, **json})
        return parse({"message_id": f"wa_{len(self.sent)}", "to": json["to"], "status": "accepted"})


@dataclass
class Sms:
    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, to: str, text: str, sender: str = "", *, caller: Any) -> None:
        self.sent.append((to, text))


@dataclass
class Store:
    """The operational tables, in memory."""

    links_: dict[UUID, PaymentLink] = field(default_factory=dict)
    mandates_: dict[UUID, Mandate] = field(default_factory=dict)
    debits_: dict[str, MandateDebit] = field(default_factory=dict)
    deliveries: set[str] = field(default_factory=set)

    def add_link(self, link: PaymentLink) -> None:
        self.links_[link.id] = link

    @contextmanager
    def registering(self, loan_id: UUID, busy: Callable[[], Exception]) -> Iterator[None]:
        yield  # one thread: nothing to hold

    def link(self, brand_id: UUID, link_id: UUID, now: datetime) -> PaymentLink | None:
        found = self.links_.get(link_id)
        return found if found and found.brand_id == brand_id else None

    def link_by_order(self, order_id: str, now: datetime) -> PaymentLink | None:
        return next((x for x in self.links_.values() if x.order_id == order_id), None)

    def links(self, brand_id: UUID, loan_id: UUID, now: datetime) -> list[PaymentLink]:
        return [x for x in self.links_.values() if x.loan_id == loan_id]

    def mark_link(self, link_id: UUID, state: str, at: datetime, **kw: Any) -> None:
        link = self.links_[link_id]
        if link.state != "paid":
            self.links_[link_id] = PaymentLink(**{**link.__dict__, "state": state,
                                                  **{k: v for k, v in kw.items() if v is not None}})  # fmt: skip

    def add_mandate(self, mandate: Mandate) -> None:
        self.mandates_[mandate.id] = mandate

    def mandate(self, brand_id: UUID | None, mandate_id: UUID) -> Mandate | None:
        return self.mandates_.get(mandate_id)

    def mandates(self, brand_id: UUID, loan_id: UUID) -> list[Mandate]:
        return [m for m in self.mandates_.values() if m.loan_id == loan_id]

    def move_mandate(self, mandate_id: UUID, frm: tuple[str, ...], to: str, at: datetime, reason: Any = None) -> bool:
        m = self.mandates_[mandate_id]
        if m.state not in frm:
            return False
        self.mandates_[mandate_id] = Mandate(**{**m.__dict__, "state": to, "reason": reason or m.reason})
        return True

    def add_debit(self, debit: MandateDebit) -> bool:
        if any((d.mandate_id, d.instalment, d.attempt) == (debit.mandate_id, debit.instalment, debit.attempt)
               for d in self.debits_.values()):  # fmt: skip
            return False
        self.debits_[debit.reference] = debit
        return True

    def debit(self, reference: str) -> MandateDebit | None:
        return self.debits_.get(reference)

    def set_order(self, reference: str, order_id: str) -> None:
        self.debits_[reference] = MandateDebit(**{**self.debits_[reference].__dict__, "order_id": order_id})

    def drop_debit(self, reference: str) -> None:
        self.debits_.pop(reference, None)

    def debits(self, mandate_id: UUID) -> list[MandateDebit]:
        return sorted((d for d in self.debits_.values() if d.mandate_id == mandate_id),
                      key=lambda d: (d.instalment, d.attempt))  # fmt: skip

    def settle_debit(self, reference: str, state: str, **kw: Any) -> None:
        d = self.debits_[reference]
        if d.state != "paid":
            self.debits_[reference] = MandateDebit(**{**d.__dict__, "state": state, **kw})

    def first_delivery(self, provider: str, event_id: str, event_type: str, at: datetime) -> bool:
        fresh = event_id not in self.deliveries
        self.deliveries.add(event_id)
        return fresh

    def settle_delivery(self, provider: str, event_id: str, outcome: str, detail: str | None, at: datetime) -> None:
        pass  # a delivery noted above stays noted: nothing more to keep here

    def forget_delivery(self, provider: str, event_id: str) -> None:
        self.deliveries.discard(event_id)


@dataclass
class World:
    service: Paylinks
    gateway: Gateway
    sms: Sms
    store: Store
    clock: FixedClock
    whatsapp: WhatsApp
    n: int = 0

    def hook(self, kind: str, event_id: str | None = None, secret: str = SECRET, **data: Any) -> Any:
        self.n += 1
        body = json.dumps({"id": event_id or f"evt_{self.n}", "type": kind, "created_at": self.clock.now().isoformat(),
                           "data": data}).encode()  # fmt: skip
        return self.service.webhook(body, sign(secret, body, int(self.clock.now().timestamp())))


@pytest.fixture
def world(loans: Loans, clock: FixedClock, parties: MovableParties, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, SECRET)
    gateway, sms, store = Gateway(), Sms(), Store()
    whatsapp = WhatsApp()
    directory = SimpleNamespace(for_brand=lambda providers: SimpleNamespace(gateway=lambda: gateway, sms=lambda: sms),
                                http=lambda channel, vendor: whatsapp if channel == "whatsapp" else None)  # fmt: skip
    identity = SimpleNamespace(
        settings=lambda brand_id: SimpleNamespace(providers={}, message_senders={}),
        business_date=parties.business_date,
        brand=lambda brand_id: SimpleNamespace(name="Demo Finance"),
    )
    customers = SimpleNamespace(get=lambda brand_id, customer_id: SimpleNamespace(phone="+919876543210"))
    service = Paylinks(loans, directory, store, store, identity, customers, clock)  # type: ignore[arg-type]
    return World(service, gateway, sms, store, clock, whatsapp)


def test_a_link_defaults_to_what_is_due_and_is_paid_once(world: World, loans: Loans, parties: MovableParties) -> None:
    loan_id = disbursed(loans, D0)
    for amount, channel in (("85000.01", "sms"), ("10", "pigeon"), ("-5", "sms")):
        with pytest.raises(InvalidInput):
            world.service.create(BRAND, loan_id, amount, channel, "http://us/hook")
    assert world.gateway.orders == [] and world.store.links_ == {}

    parties.today = DUE
    link = world.service.create(BRAND, loan_id, None, "sms", "http://us/hook")
    assert link.amount == Decimal("8037.57") and link.state == "sent"  # instalment 1, due today
    assert world.sms.sent[-1][0] == "+919876543210" and str(link.payment_url) in world.sms.sent[-1][1]
    texts = len(world.sms.sent)
    wa = world.service.create(BRAND, loan_id, "100", "whatsapp", "http://us/hook")
    assert wa.amount == Decimal("100.00") and wa.state == "sent" and len(world.sms.sent) == texts  # not by SMS
    [message] = world.whatsapp.sent
    assert (message["kind"], message["to"], message["template"]) == ("send_whatsapp", "+919876543210", "payment_link")
    assert str(wa.payment_url) in message["text"] and not message["text"].startswith("[WhatsApp]")

    with pytest.raises(WebhookRejected):
        world.hook("payment.captured", secret="forged", order_id=link.order_id, amount="8037.57")
    assert loans.get(BRAND, loan_id).payments == {}

    first = world.hook("payment.captured", "evt_paid", order_id=link.order_id, amount="8037.57")
    assert first.status == "processed"
    assert world.hook("payment.captured", "evt_paid", order_id=link.order_id, amount="8037.57").status == "duplicate"
    assert world.hook("payment.captured", "evt_new", order_id=link.order_id, amount="8037.57").status == "duplicate"
    payments = list(loans.get(BRAND, loan_id).payments.values())
    assert [(str(p.mode), p.reference, p.amount) for p in payments] == [
        ("payment_link", link.order_id, Decimal("8037.57"))
    ]
    assert world.service.link(BRAND, link.id).state == "paid"
    assert world.hook("payment.failed", order_id=wa.order_id, reason="payer_cancelled").status == "processed"
    failed = world.service.link(BRAND, wa.id)
    assert failed.state == "failed" and failed.reason == "payer_cancelled"


def test_a_closed_or_unserviced_loan_gets_no_link(world: World, loans: Loans) -> None:
    loan_id = disbursed(loans, D0)
    loans.record_repayment(BRAND, loan_id, "85000.00", "neft", "UTR-ALL")
    with pytest.raises(Conflict):
        world.service.create(BRAND, loan_id, None, "sms", "http://us/hook")
    assert world.gateway.orders == []


def test_mandate_states_and_the_retry_policy(world: World, loans: Loans, parties: MovableParties) -> None:
    loan_id = disbursed(loans, D0)
    mandates = world.service.mandates
    with pytest.raises(InvalidInput):
        mandates.register(BRAND, loan_id, "no-handle", "5000", "monthly", "http://us/hook")
    mandate, url = mandates.register(BRAND, loan_id, "meera@okbank", "5000", "monthly", "http://us/hook")
    assert mandate.state == "registered" and url == "http://gw/mandates/mdt_1"
    with pytest.raises(Conflict):
        mandates.register(BRAND, loan_id, "meera@okbank", "5000", "monthly", "http://us/hook")
    assert world.hook("mandate.activated", reference=str(mandate.id)).status == "processed"
    active = mandates.mandate(BRAND, mandate.id)
    assert active.state == "active"

    assert mandates.plan(active, D0) is None  # nothing due on the disbursal date
    parties.today = DUE
    plan = mandates.plan(active, DUE)
    assert plan is not None and (plan.instalment, plan.attempt, plan.amount) == (1, 1, Decimal("5000.00"))  # capped
    debit = mandates.present(plan, DUE)
    assert debit is not None and mandates.present(plan, DUE) is None  # presented once
    assert mandates.plan(active, DUE) is None  # in flight

    day = DUE
    for attempt in range(1, RETRIES + 2):
        assert debit is not None and debit.attempt == attempt
        world.hook("payment.failed", order_id=debit.order_id, reference=debit.reference, reason="insufficient_funds")
        failed = world.store.debit(debit.reference)
        assert failed is not None and failed.state == "failed" and failed.reason == "insufficient_funds"
        assert mandates.plan(active, day) is None  # not again the same day
        day += timedelta(days=1)
        parties.today = day
        again = mandates.plan(active, day)
        if attempt <= RETRIES:
            assert again is not None and again.attempt == attempt + 1
            debit = mandates.present(again, day)
        else:
            assert again is None  # the retries are spent
    assert loans.get(BRAND, loan_id).payments == {}

    revoked = world.hook("mandate.revoked", reference=str(mandate.id), reason="revoked_by_payer")
    assert revoked.status == "processed" and mandates.mandate(BRAND, mandate.id).state == "revoked"


def test_a_captured_debit_is_one_upi_autopay_repayment(world: World, loans: Loans, parties: MovableParties) -> None:
    loan_id = disbursed(loans, D0)
    mandates = world.service.mandates
    mandate, _ = mandates.register(BRAND, loan_id, "meera@okbank", "10000", "monthly", "http://us/hook")
    world.hook("mandate.activated", reference=str(mandate.id))
    parties.today = DUE
    plan = mandates.plan(mandates.mandate(BRAND, mandate.id), DUE)
    assert plan is not None and plan.amount == Decimal("8037.57")
    debit = mandates.present(plan, DUE)
    assert debit is not None
    data: dict[str, Any] = {"order_id": debit.order_id, "reference": debit.reference, "amount": "8037.57"}
    for malformed in ("abc", {"rupees": 1}, "8037.575"):  # signed, but not money: refused, nothing recorded
        with pytest.raises(InvalidInput):
            world.hook("payment.captured", "evt_malformed", **{**data, "amount": malformed})
    assert loans.get(BRAND, loan_id).payments == {} and world.store.debit(debit.reference).state == "presented"
    assert world.hook("payment.captured", **data).status == "processed"
    assert world.hook("payment.captured", **data).status == "duplicate"  # a new event id, the same payment
    payments = list(loans.get(BRAND, loan_id).payments.values())
    assert [(str(p.mode), p.reference) for p in payments] == [("upi_autopay", debit.order_id)]
    assert mandates.plan(mandates.mandate(BRAND, mandate.id), DUE) is None  # instalment paid


def test_a_mandate_debit_counts_penal_charges_once(world: World, loans: Loans, parties: MovableParties) -> None:
    # The debit is what is unpaid on the instalments due by the day: their penal charges, interest and principal
    # (InstalmentPosition.unpaid already holds the unpaid penal charges; adding the accrued penal again overcharged).
    loan_id = disbursed(loans, D0)
    mandates = world.service.mandates
    mandate, _ = mandates.register(BRAND, loan_id, "meera@okbank", "20000", "monthly", "http://us/hook")
    world.hook("mandate.activated", reference=str(mandate.id))
    active = mandates.mandate(BRAND, mandate.id)
    day = date(2026, 3, 3)  # instalment 1 (8037.57, due 28 Feb) unpaid: penal at COB on 1 and 2 Mar
    parties.today = day
    # round(8037.57 * 0.1 / 100) = 8.04 a day, two days: 16.08; owed 8037.57 + 16.08
    assert loans.payoff(BRAND, loan_id).overdue_penal == Decimal("16.08")
    plan = mandates.plan(active, day)
    assert plan is not None and plan.amount == Decimal("8053.65")
    loans.record_repayment(BRAND, loan_id, "16.08", "upi", "UTR-PENAL")  # the penal charges paid
    plan = mandates.plan(active, day)
    assert plan is not None and plan.amount == Decimal("8037.57")


def test_a_debit_whose_answer_was_lost_is_kept_and_its_capture_recorded(
    world: World, loans: Loans, parties: MovableParties, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway took the debit and its answer never came (a timeout after the bounded retries): the debit's row is
    kept, so its `payment.captured` is recorded as the repayment (before, the row was dropped and the capture
    ignored: the borrower paid, the loan went overdue); the next run presents it again under the same reference."""
    loan_id = disbursed(loans, D0)
    mandates = world.service.mandates
    mandate, _ = mandates.register(BRAND, loan_id, "meera@okbank", "10000", "monthly", "http://us/hook")
    world.hook("mandate.activated", reference=str(mandate.id))
    parties.today = DUE
    active = mandates.mandate(BRAND, mandate.id)
    plan = mandates.plan(active, DUE)
    assert plan is not None
    taken = world.gateway.http.call

    def taken_then_lost(kind: str, *args: Any, **kwargs: Any) -> Any:
        taken(kind, *args, **kwargs)
        raise ProviderUnavailable("timed out", provider="gateway", kind=kind)

    with monkeypatch.context() as patched, pytest.raises(ProviderUnavailable):
        patched.setattr(world.gateway.http, "call", taken_then_lost)
        mandates.present(plan, DUE)
    reference = f"MD-{mandate.id.hex[:12]}-1-1"
    kept = world.store.debit(reference)
    assert kept is not None and kept.state == "presented" and kept.order_id is None
    again = mandates.plan(active, DUE)  # presented again as it was, under the same reference
    assert again is not None and (again.instalment, again.attempt, again.amount) == (1, 1, plan.amount)
    data = {"order_id": "order_lost", "reference": reference, "amount": str(plan.amount)}
    assert world.hook("payment.captured", **data).status == "processed"
    payments = list(loans.get(BRAND, loan_id).payments.values())
    assert [(p.amount, p.reference) for p in payments] == [(plan.amount, "order_lost")]


def test_with_an_approved_settlement_the_borrower_is_asked_for_what_is_left_of_it(
    world: World, loans: Loans, parties: MovableParties
) -> None:
    """Every payment counts towards an approved settlement and one above what is left of it is refused. The pay page,
    staff links and Autopay offered the instalment and the whole payoff: the gateway captured the money and the loan
    left it unapplied."""
    loan_id = disbursed(loans, D0)
    parties.today = date(2026, 6, 20)
    assert loans.payoff(BRAND, loan_id).total > Decimal("20000.00")
    _, settlement = loans.propose_settlement(BRAND, loan_id, "20000.00", "borrower lost his job; one-time offer")
    loans.approve_settlement(BRAND, loan_id, settlement.settlement_id)
    due, ceiling = world.service.due_now(BRAND, loan_id)
    assert ceiling == Decimal("20000.00") and Decimal(0) < due <= ceiling
    page = world.service.pay_page(BRAND, loan_id)
    assert (page.due, page.payoff) == (due, ceiling)
    with pytest.raises(InvalidInput) as refused:
        world.service.create(BRAND, loan_id, "20000.01", "sms", "http://us/hook")
    assert "settlement left to pay of 20000.00" in str(refused.value)
    mandates = world.service.mandates
    mandate, _ = mandates.register(BRAND, loan_id, "meera@okbank", "100000", "monthly", "http://us/hook")
    world.hook("mandate.activated", reference=str(mandate.id))
    plan = mandates.plan(mandates.mandate(BRAND, mandate.id), parties.today)
    assert plan is not None and plan.amount <= ceiling
