"""The disbursal service (`api.services.disbursals.Disbursals`) on the in-memory event store, with fakes of the
gateway, the payout store, the verified account and the borrower's SMS: what it asks the gateway (amount, key per
attempt), what it records (and does not, on a refusal), the webhook's verification, deduplication and outcomes, and
the payout file's checks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest

from adapters.payout_store import AttemptRecord, InitiationRecord, PayoutFileRecord
from adapters.webhooks import WebhookRejected, sign
from api.services.disbursals import SETTLE_ATTEMPTS, WEBHOOK_SECRET_ENV, Disbursals
from domain.loans.application import Loans
from domain.loans.loan_events import AttemptState
from domain.loans.payout_lines import PayoutLine
from domain.loans.states import LoanStatus
from domain.providers.errors import ProviderRejected, ProviderUnavailable
from domain.providers.messaging import Beneficiary, Payout
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput, NotFound
from tests.application.loans.fakes import (
    BRAND,
    OTHER,
    PRODUCT,
    Catalogue,
    event_names,
    product_version,
    reassigned_after_loads,
)
from tests.application.loans.test_loan_credit_decision import queued

SECRET = "whsec_app_tests"
ACCOUNT = Beneficiary("Meera Iyer", "50100012345678", "HDFC0001234")


@dataclass
class Gateway:
    """A payment gateway: one payout per idempotency key, or the failure it is told to give."""

    asked: list[dict[str, Any]] = field(default_factory=list)
    payouts: dict[str, Payout] = field(default_factory=dict)
    fail_with: Exception | None = None
    before_answering: Callable[[Payout], None] | None = None  # e.g. its webhook, sent before its answer reaches us

    def create_payout(self, amount: Decimal, **kw: Any) -> Payout:
        self.asked.append({"amount": amount, **kw})
        if self.fail_with is not None:
            raise self.fail_with
        key = kw["idempotency_key"]
        if key not in self.payouts:
            self.payouts[key] = Payout(f"pout_{len(self.payouts) + 1}", kw["reference"], amount, kw["mode"], "pending")
        if self.before_answering is not None:
            self.before_answering(self.payouts[key])
        return self.payouts[key]


@dataclass
class Sms:
    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, to: str, text: str, sender: str = "", *, caller: Any) -> None:
        self.sent.append((to, text))


@dataclass
class Directory:
    gateway_client: Gateway
    sms_client: Sms

    def for_brand(self, providers: Any) -> Any:
        return SimpleNamespace(gateway=lambda: self.gateway_client, sms=lambda: self.sms_client)


@dataclass
class Store:
    """The operational tables, in memory."""

    attempts: dict[str, AttemptRecord] = field(default_factory=dict)
    deliveries: set[str] = field(default_factory=set)
    files: dict[UUID, tuple[PayoutFileRecord, list[PayoutLine]]] = field(default_factory=dict)
    initiations: dict[UUID, tuple[InitiationRecord, str | None]] = field(default_factory=dict)  # -> (it, outcome)

    def begin_initiation(self, brand_id: UUID, loan_id: UUID, attempt: int, reference: str, at: datetime) -> UUID:
        record = InitiationRecord(uuid.uuid4(), brand_id, loan_id, attempt, reference, at)
        self.initiations[record.id] = (record, None)
        return record.id

    def refuse_initiation(self, initiation_id: UUID, at: datetime) -> None:
        record, outcome = self.initiations[initiation_id]
        self.initiations[initiation_id] = (record, outcome or "refused")

    @contextmanager
    def payout_lock(self, loan_id: UUID, brand_id: UUID | None = None) -> Iterator[bool]:
        yield True  # one caller at a time here: the lock itself is PostgreSQL's (tests/e2e/test_disbursal_edges_blackbox.py)

    @contextmanager
    def file_export_lock(self, brand_id: UUID) -> Iterator[bool]:
        yield True  # PostgreSQL's too (tests/e2e/test_money_races.py)

    def initiations_open(self, brand_id: UUID, loan_ids: Sequence[UUID]) -> set[UUID]:
        return {r.loan_id for r, outcome in self.initiations.values()
                if outcome is None and r.brand_id == brand_id and r.loan_id in loan_ids}  # fmt: skip

    def open_initiations(self, reference: str, since: datetime) -> list[InitiationRecord]:
        return [r for r, outcome in self.initiations.values()
                if outcome is None and r.reference == reference and r.started_at > since]  # fmt: skip

    def outcomes(self) -> list[str | None]:
        return [outcome for _, outcome in self.initiations.values()]

    def note_attempt(self, record: AttemptRecord, settle: bool = True) -> None:
        self.attempts.setdefault(record.gateway_reference, record)
        if not settle:
            return
        for key, (it, outcome) in self.initiations.items():
            if (it.brand_id, it.loan_id, it.attempt) == (record.brand_id, record.loan_id, record.attempt):
                self.initiations[key] = (it, outcome or "noted")

    def attempt(self, reference: str) -> AttemptRecord | None:
        return self.attempts.get(reference)

    def first_delivery(self, provider: str, event_id: str, event_type: str, at: datetime) -> bool:
        fresh = event_id not in self.deliveries
        self.deliveries.add(event_id)
        return fresh

    def settle_delivery(self, provider: str, event_id: str, outcome: str, detail: str | None, at: datetime) -> None:
        pass  # a delivery noted above stays noted: nothing more to keep here

    def forget_delivery(self, provider: str, event_id: str) -> None:
        self.deliveries.discard(event_id)

    def new_accounts(self, brand_id: UUID, lines: Sequence[PayoutLine]) -> list[PayoutLine]:
        return list(lines[:1])

    def claiming(
        self, record: PayoutFileRecord, lines: Sequence[PayoutLine], payout: bytes, beneficiaries: bytes
    ) -> Callable[[Any], None]:
        return lambda cursor: self.files.__setitem__(record.id, (record, list(lines)))

    def taken(self, brand_id: UUID, lines: Sequence[PayoutLine]) -> None:
        return None


@dataclass
class Accounts:
    verified: bool = True

    def beneficiary(self, brand_id: UUID, customer_id: UUID, ref: str | None) -> Beneficiary | None:
        return ACCOUNT if self.verified and ref else None


@dataclass
class World:
    service: Disbursals
    gateway: Gateway
    sms: Sms
    store: Store
    accounts: Accounts
    clock: FixedClock

    def hook(self, kind: str, payout_id: str, event_id: str, **data: Any) -> Any:
        body = json.dumps({"id": event_id, "type": kind, "created_at": self.clock.now().isoformat(),
                           "data": {"payout_id": payout_id, **data}}).encode()  # fmt: skip
        return self.service.webhook(body, sign(SECRET, body, int(self.clock.now().timestamp())))


@pytest.fixture
def world(loans: Loans, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, SECRET)
    gateway, sms, store, accounts = Gateway(), Sms(), Store(), Accounts()
    identity = SimpleNamespace(
        settings=lambda brand_id: SimpleNamespace(providers={}),
        business_date=lambda brand_id: date(2026, 11, 30),
        brand=lambda brand_id: SimpleNamespace(name="Demo Finance"),
    )
    customers = SimpleNamespace(get=lambda brand_id, customer_id: SimpleNamespace(phone="+919876543210"))
    service = Disbursals(loans, Directory(gateway, sms), store, identity, customers, clock, accounts)  # type: ignore[arg-type]
    return World(service, gateway, sms, store, accounts, clock)


CALLBACK = "http://127.0.0.1:8000/api/v1/webhooks/gateway"


def test_a_payout_is_initiated_for_the_net_amount_and_not_disbursed(loans: Loans, world: World) -> None:
    loan_id = queued(loans)
    world.service.disburse(BRAND, loan_id, "IMPS", CALLBACK)
    loan = loans.get(BRAND, loan_id)
    (asked,) = world.gateway.asked
    assert asked["amount"] == loan.net_disbursed and asked["idempotency_key"] == f"{loan_id}:1"
    assert asked["beneficiary"] == ACCOUNT and asked["reference"] == loan.loan_number and asked["mode"] == "IMPS"
    assert loan.status is LoanStatus.AWAITING_DISBURSAL
    assert [(a.attempt, a.gateway_reference, a.state) for a in loan.attempts] == [(1, "pout_1", AttemptState.INITIATED)]
    assert world.store.attempts["pout_1"].loan_id == loan_id


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (
            ProviderRejected("another request", provider="gateway", kind="create_payout", code="idempotency_conflict"),
            Conflict,
        ),
        (ProviderUnavailable("timed out", provider="gateway", kind="create_payout"), ProviderUnavailable),
        (
            ProviderRejected("bad account", provider="gateway", kind="create_payout", code="invalid_beneficiary"),
            ProviderRejected,
        ),
    ],
)
def test_a_gateway_refusal_records_nothing(loans: Loans, world: World, failure: Exception, error: type) -> None:
    loan_id = queued(loans)
    before = event_names(loans, loan_id)
    world.gateway.fail_with = failure
    with pytest.raises(error):
        world.service.disburse(BRAND, loan_id, "NEFT", CALLBACK)
    assert event_names(loans, loan_id) == before and not world.store.attempts
    # A refusal made no payout: its initiation is completed. Without an answer (timeout, 5xx) the gateway may have
    # made one, whose webhook may come: the initiation stays open (until noted, or INITIATION_WINDOW).
    assert world.store.outcomes() == [None if isinstance(failure, ProviderUnavailable) else "refused"]
    world.gateway.fail_with = None  # pressing again asks with the same key: the attempt was never recorded
    world.service.disburse(BRAND, loan_id, "NEFT", CALLBACK)
    assert {a["idempotency_key"] for a in world.gateway.asked} == {f"{loan_id}:1"}
    assert world.store.outcomes()[-1] == "noted" and None not in world.store.outcomes()


def test_refusals_before_the_gateway(loans: Loans, world: World) -> None:
    loan_id = queued(loans)
    with pytest.raises(InvalidInput):
        world.service.disburse(BRAND, loan_id, "RTGS", CALLBACK)
    with pytest.raises(NotFound):
        world.service.disburse(OTHER, loan_id, "IMPS", CALLBACK)
    world.accounts.verified = False
    with pytest.raises(Conflict, match="not verified"):
        world.service.disburse(BRAND, loan_id, "IMPS", CALLBACK)
    world.accounts.verified = True
    world.service.disburse(BRAND, loan_id, "IMPS", CALLBACK)
    with pytest.raises(Conflict, match="in flight"):
        world.service.disburse(BRAND, loan_id, "UPI", CALLBACK)
    assert len(world.gateway.asked) == 1


def test_the_webhook_confirms_once_and_leaves_telling_the_borrower_to_engagement(loans: Loans, world: World) -> None:
    loan_id = queued(loans)
    world.service.disburse(BRAND, loan_id, "IMPS", CALLBACK)
    assert world.hook("payout.processed", "pout_1", "evt_1", utr="123456789012").status == "processed"
    loan = loans.get(BRAND, loan_id)
    assert loan.status is LoanStatus.ACTIVE and loan.disbursed_on == date(2026, 11, 30)
    assert world.sms.sent == []  # the borrower-notifications job sends the one `disbursed` message (docs/engagement.md)
    assert world.hook("payout.processed", "pout_1", "evt_1").status == "duplicate"  # the same delivery
    assert world.hook("payout.processed", "pout_1", "evt_2").status == "duplicate"  # the same fact, a new id
    assert event_names(loans, loan_id).count("Disbursed") == 1 and world.sms.sent == []
    assert world.hook("payout.failed", "pout_1", "evt_3", reason="late").status == "ignored"
    assert loans.get(BRAND, loan_id).status is LoanStatus.ACTIVE


def test_a_failure_carries_the_reason_and_a_retry_is_a_new_attempt(loans: Loans, world: World) -> None:
    loan_id = queued(loans)
    world.service.disburse(BRAND, loan_id, "NEFT", CALLBACK)
    assert world.hook("payout.failed", "pout_1", "evt_1", reason="Beneficiary bank offline").status == "processed"
    (attempt,) = loans.get(BRAND, loan_id).attempts
    assert attempt.state is AttemptState.FAILED and attempt.reason == "Beneficiary bank offline"
    world.service.disburse(BRAND, loan_id, "UPI", CALLBACK)
    assert [a["idempotency_key"] for a in world.gateway.asked] == [f"{loan_id}:1", f"{loan_id}:2"]
    world.hook("payout.processed", "pout_2", "evt_2")
    assert loans.get(BRAND, loan_id).status is LoanStatus.ACTIVE


@pytest.mark.parametrize(("kind", "status"), [("payout.processed", "active"), ("payout.failed", "awaiting_disbursal")])
def test_a_payout_webhook_racing_another_change_on_the_loan_is_applied_to_the_loan_as_it_now_is(
    loans: Loans, world: World, monkeypatch: pytest.MonkeyPatch, kind: str, status: str
) -> None:
    loan_id = queued(loans)
    world.service.disburse(BRAND, loan_id, "IMPS", CALLBACK)
    reassigned_after_loads(loans, monkeypatch, times=2)  # the webhook's look at the loan, and the load it saves on
    outcome = world.hook(kind, "pout_1", "evt_1", reason="Beneficiary bank offline")
    assert outcome.status == "processed", outcome.detail  # was "ignored": the gateway's fact lost, its event kept
    loan = loans.get(BRAND, loan_id)
    assert loan.status == status and loan.attempts[0].state is not AttemptState.INITIATED
    assert event_names(loans, loan_id).count("Assigned") == 2


def test_a_payout_webhook_losing_every_race_is_a_conflict_delivered_again_not_ignored(
    loans: Loans, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    loan_id = queued(loans)
    world.service.disburse(BRAND, loan_id, "IMPS", CALLBACK)
    reassigned = reassigned_after_loads(loans, monkeypatch, times=1 + SETTLE_ATTEMPTS)
    with pytest.raises(ConcurrentModification):  # a 409: the gateway delivers it again
        world.hook("payout.processed", "pout_1", "evt_1")
    assert "evt_1" not in world.store.deliveries and loans.get(BRAND, loan_id).status is LoanStatus.AWAITING_DISBURSAL
    assert len(reassigned) == 1 + SETTLE_ATTEMPTS  # every race run: the redelivery below finds none
    assert world.hook("payout.processed", "pout_1", "evt_1").status == "processed"
    assert loans.get(BRAND, loan_id).status is LoanStatus.ACTIVE


def test_forged_and_stale_webhooks_are_refused_before_anything_is_read(loans: Loans, world: World) -> None:
    loan_id = queued(loans)
    world.service.disburse(BRAND, loan_id, "IMPS", CALLBACK)
    body = json.dumps({"id": "evt_x", "type": "payout.processed", "created_at": "2026-11-30T10:00:00+00:00",
                       "data": {"payout_id": "pout_1"}}).encode()  # fmt: skip
    now = int(world.clock.now().timestamp())
    for headers, reason in (
        (sign("not-the-secret", body, now), "bad_signature"),
        (sign(SECRET, body, now - 3600), "stale_timestamp"),
        ({}, "missing_header"),
        (sign(SECRET, body + b" ", now), "bad_signature"),
    ):
        with pytest.raises(WebhookRejected) as refused:
            world.service.webhook(body, headers)
        assert refused.value.reason == reason
    assert not world.store.deliveries and loans.get(BRAND, loan_id).status is LoanStatus.AWAITING_DISBURSAL


def test_an_unknown_payout_and_one_not_yet_recorded(loans: Loans, world: World) -> None:
    loan_id = queued(loans)
    unknown = world.hook("payout.processed", "pout_nobody", "evt_1")  # acknowledged, not a 404 retried for ever
    assert (unknown.status, unknown.detail) == ("ignored", "no payout of ours has this reference")
    assert "evt_1" not in world.store.deliveries  # nothing kept: a repeat gets the same answer
    world.store.note_attempt(AttemptRecord("pout_early", BRAND, loan_id, 1, "IMPS", None, world.clock.now()))
    with pytest.raises(Conflict, match="deliver again"):
        world.hook("payout.processed", "pout_early", "evt_2")
    assert "evt_2" not in world.store.deliveries  # the gateway's next delivery is processed
    assert world.hook("payment.captured", "x", "evt_3").status == "ignored"


@pytest.mark.parametrize("kind", ["payout.processed", "payout.failed"])
def test_a_webhook_overtaking_the_gateways_answer_is_delivered_again_not_lost(
    loans: Loans, world: World, kind: str
) -> None:
    loan_id = queued(loans)
    number = loans.get(BRAND, loan_id).loan_number
    early: list[Exception] = []

    def webhook_first(payout: Payout) -> None:  # the gateway's webhook reaches us before its answer does
        try:
            world.hook(kind, payout.payout_id, "evt_1", reference=number, reason="bank offline")
        except Conflict as conflict:
            early.append(conflict)

    world.gateway.before_answering = webhook_first
    world.service.disburse(BRAND, loan_id, "IMPS", CALLBACK)
    assert [str(e) for e in early] == ["the payout's initiation is not recorded yet; deliver again"]
    assert "evt_1" not in world.store.deliveries  # nothing kept: the gateway's next delivery is processed
    assert world.hook(kind, "pout_1", "evt_1", reference=number, reason="bank offline").status == "processed"
    loan = loans.get(BRAND, loan_id)
    expected = LoanStatus.ACTIVE if kind == "payout.processed" else LoanStatus.AWAITING_DISBURSAL
    assert loan.status is expected and loan.attempts[0].state is not AttemptState.INITIATED
    # The initiation is completed: a payout of nobody's under this loan number is acknowledged again.
    assert world.hook(kind, "pout_other", "evt_2", reference=number).status == "ignored"


def test_an_initiation_holds_webhooks_only_within_its_window(loans: Loans, world: World, clock: FixedClock) -> None:
    loan_id = queued(loans)
    number = loans.get(BRAND, loan_id).loan_number
    world.gateway.fail_with = ProviderUnavailable("timed out", provider="gateway", kind="create_payout")
    with pytest.raises(ProviderUnavailable):  # the answer was lost: the gateway may have paid
        world.service.disburse(BRAND, loan_id, "IMPS", CALLBACK)
    with pytest.raises(Conflict, match="deliver again"):
        world.hook("payout.processed", "pout_9", "evt_1", reference=number)
    assert world.hook("payout.processed", "pout_9", "evt_2", reference="DEMO-L-999999").status == "ignored"
    assert world.hook("payout.processed", "pout_9", "evt_3").status == "ignored"  # no reference to go by
    clock.instant += timedelta(minutes=15)  # nobody pressed again: after the window it is nobody's
    assert world.hook("payout.processed", "pout_9", "evt_1", reference=number).status == "ignored"
    assert not world.store.deliveries and loans.get(BRAND, loan_id).status is LoanStatus.AWAITING_DISBURSAL


def test_a_payout_file_names_the_loan_that_does_not_fit_and_records_nothing(
    loans: Loans, world: World, catalogue: Catalogue
) -> None:
    catalogue.products[(BRAND, PRODUCT)] = product_version(max_active_loans=5)
    good, busy = queued(loans), queued(loans)
    world.service.disburse(BRAND, busy, "IMPS", CALLBACK)
    before = event_names(loans, good)
    for ids, field_name in (([good, busy], "loan_ids[1]"), ([good, good], "loan_ids[1]"),
                            ([good, uuid.uuid4()], "loan_ids[1]"), ([], "loan_ids")):  # fmt: skip
        with pytest.raises(InvalidInput) as refused:
            world.service.export(BRAND, "staff:x", ids)
        assert [e.field for e in refused.value.errors] == [field_name]
    assert event_names(loans, good) == before and not world.store.files
    record, _ = world.service.export(BRAND, "staff:x", [good])
    assert record.row_count == 1 and record.total == loans.get(BRAND, good).net_disbursed
    assert loans.get(BRAND, good).exported_file_id == str(record.id)
    with pytest.raises(Conflict):
        world.service.disburse(BRAND, good, "IMPS", CALLBACK)
