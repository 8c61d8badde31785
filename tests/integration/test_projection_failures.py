"""A projection never stalls silently on one bad event: it records it, parks its aggregate and keeps going.

These tests run their own platform on a fresh database, so the failures they inject never show in the shared
session platform's /health.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.blocklist.application import Blocklists
from domain.covenants.application import Covenants
from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from domain.documents.application import Documents
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.jobs.application import Jobs
from domain.loans.application import Loans
from domain.notices.application import Notices
from domain.onboarding.application import Onboarding
from domain.products.application import Products
from domain.reloans.application import ReloanOffers
from domain.verification.application import Verifications
from projections.blocklist import BlocklistQueries
from projections.brands import BrandQueries
from projections.covenant_queries import CovenantQueries
from projections.customer_queries import CustomerQueries
from projections.dashboard import DashboardQueries
from projections.documents import DocumentQueries
from projections.identity import IdentityQueries
from projections.loan_queries import LoanQueries
from projections.onboarding import OnboardingQueries
from projections.product_queries import ProductQueries
from tests.conftest import make_tenant
from tests.support import copy_database_dsn, drop_database, fresh_database_dsn


@pytest.fixture
def own_platform(mail_sink: Any, platform_template: str) -> Iterator[Any]:
    """A platform with running projection runners on a database of its own (failures stay within the test)."""
    from adapters.mailer import MailSettings
    from workers.platform import Platform

    dsn = copy_database_dsn(platform_template)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NOTICE_SOURCE_ALLOWED_HOSTS", "127.0.0.1")  # the notice source below points at loopback
        platform = Platform.open(dsn, mail=MailSettings(port=mail_sink.port))
    platform.start_projection_runners()
    yield platform
    platform.close()
    drop_database(dsn)


def _store_registration_with_nul(platform: Any, brand_id: uuid.UUID, phone: str) -> tuple[uuid.UUID, int]:
    """Append a CustomerRecord.Registered whose name holds a NUL byte straight through the recorder (no checks)."""
    record = CustomerRecord(brand_id=brand_id, name="Placeholder Name", phone=phone, addresses=[], loan_numbers=[])
    stored = platform.get(Customers).mapper.to_stored_event(record.collect_events()[0])
    state = json.loads(stored.state)
    state["name"] = "Nul\u0000Byte Name"
    poisoned = type(stored)(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state).encode(),
    )
    [position] = platform.get(Customers).recorder.insert_events([poisoned])
    return record.id, position


def _cli(dsn: str, capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a `covenant-desk` command on `dsn` in this process (a subprocess costs seconds; main would also point
    the process's logging at this test's captured stderr)."""
    from workers.cli import build_parser

    capsys.readouterr()
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = dsn
    try:
        parsed = build_parser().parse_args(list(args))
        code = int(parsed.func(parsed))
    finally:
        if saved is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = saved
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def test_an_event_postgresql_cannot_store_is_recorded_and_later_registrations_of_every_brand_flow(
    own_platform: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    p = own_platform
    brand_a, brand_b = make_tenant(p), make_tenant(p)
    poisoned_id, position = _store_registration_with_nul(p, brand_a.brand_id, "+919740011111")

    # Later registrations, in the poisoned event's brand and in another, reach their read models at once.
    later_a = p.get(Customers).register(brand_a.brand_id, name="Asha Rao", phone="97400 11112")
    later_b = p.get(Customers).register(brand_b.brand_id, name="Bina Das", phone="97400 11113")
    assert p.engine.wait_for("customers", later_b.position, timeout=10)
    assert p.get(CustomerQueries).profile(brand_a.brand_id, later_a.id) is not None
    assert p.get(CustomerQueries).profile(brand_b.brand_id, later_b.id) is not None
    assert p.get(CustomerQueries).profile(brand_a.brand_id, poisoned_id) is None

    failures = {f.projection: f for f in p.engine.failures() if f.position == position}
    directory = failures["customer_directory"]
    assert directory.status == "failed" and directory.attempts == 1
    assert directory.aggregate_id == poisoned_id and directory.brand_id == brand_a.brand_id
    assert directory.topic.endswith("CustomerRecord.Registered")
    assert "0x00" in directory.error and "DataError" in directory.error

    # A later event of the poisoned aggregate is parked behind it, not applied on top of a missing row.
    alternate = p.get(Customers).add_alternate_phone(brand_a.brand_id, poisoned_id, "97400 11114", "spouse")
    assert p.engine.wait_for("customers", alternate.position, timeout=10)
    parked = [f for f in p.engine.failures("customer_directory") if f.position == alternate.position]
    assert [f.status for f in parked] == ["parked"] and f"position {position}" in parked[0].error
    status = {s.name: s for s in p.engine.status()}["customer_directory"]
    assert (status.failed, status.parked, status.error) == (1, 1, None) and status.lag == 0

    # A retry while the cause is still there keeps both recorded, counts the attempt and exits 1.
    retried = _cli(p.dsn, capsys, "projections", "retry", "customer_directory")
    assert retried.returncode == 1 and f"position {position}: DataError" in retried.stdout, retried.stdout
    after = {f.position: f for f in p.engine.failures("customer_directory")}
    assert after[position].attempts == 2 and after[alternate.position].status == "parked"
    wrong = _cli(p.dsn, capsys, "projections", "retry", "customer_directory", "--position", str(alternate.position))
    assert wrong.returncode == 2 and f"parked behind the failed event at position {position}" in wrong.stderr


POISON_MARK = "Poisonmark"
TINY_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
LENDING_TERMS: dict[str, Any] = {
    "name": "Personal loan",
    "kind": "emi",
    "min_amount": "10000",
    "max_amount": "200000",
    "min_tenure": 3,
    "max_tenure": 24,
    "annual_percent": "24",
    "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False},
    "convenience_fee": {"kind": "fixed", "value": "500", "gst_inclusive": True},
    "gst_percent": "18",
    "max_active_loans": 5,
}


class Poison:
    """Fault injection: every projection raises for the events of marked brands (a brand whose Brand.Created name
    holds POISON_MARK, or one added to `brands`) and of marked aggregates (many events carry no brand_id: an
    aggregate is marked once any projection sees a marked event of it, or when added to `aggregates`).
    `monkeypatch.undo()` removes the cause. The poison is in `project`, so the events a projection would apply in
    SQL from the event store (`applies_stored`: the directory's registrations) go through `project` meanwhile."""

    def __init__(self, platform: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.brands: set[uuid.UUID] = set()
        self.aggregates: set[uuid.UUID] = set()
        self._lock = threading.Lock()  # the runners of every source call in at once
        for projection in platform.engine.projections.values():
            monkeypatch.setattr(projection, "project", self._wrap(projection.project))
            monkeypatch.setattr(projection, "applies_stored", lambda topic, state: False)

    def _marked(self, event: Any) -> bool:
        with self._lock:
            if type(event).__qualname__ == "Brand.Created" and POISON_MARK in event.name:
                self.brands.add(event.originator_id)
            if getattr(event, "brand_id", None) in self.brands or event.originator_id in self.brands:
                self.aggregates.add(event.originator_id)
            return event.originator_id in self.aggregates

    def _wrap(self, project: Any) -> Any:
        def poisoned(position: int, event: Any) -> Any:
            if self._marked(event):
                raise RuntimeError(f"injected poison at position {position}")
            return project(position, event)

        return poisoned


def _touch_every_projection(
    p: Any, brand_id: uuid.UUID, suffix: str, mark: Callable[[uuid.UUID], None] = lambda _: None
) -> dict[str, Any]:
    """Commands that give every projection at least one event of the brand; returns ids to look up afterwards.
    `mark` is told each aggregate made before its later events are recorded (those carry no brand_id)."""
    from domain.blocklist.entry import BlockKind
    from domain.covenants.schedule import Frequency
    from domain.covenants.terms import CovenantType, Terms

    p.get(Identity).change_configuration(brand_id, {"min_age": 23})
    staff = p.get(Identity).create_staff(
        brand_id, f"ops-{suffix}@lender.in", f"Staff {suffix.title()}", ["admin"], granter=OPERATOR
    )
    p.get(Identity).issue_api_key(brand_id, "admin", f"key {suffix}", granter=OPERATOR)
    from domain.fieldwork.application import FieldWork

    p.get(FieldWork).set_extension(brand_id, staff.id, "10" + suffix[-3:])  # the fieldwork projection's event
    customer = p.get(Customers).register(brand_id, name=f"Borrower {suffix.title()}", phone=f"97401 {suffix[-5:]}")
    p.get(Customers).add_note(brand_id, customer.id, "called, salary credited late")  # the customer_notes projection
    today = p.get(Identity).business_date(brand_id)
    p.get(Jobs).request_run(brand_id, "housekeeping", trigger="manual", requested_by="test", as_of=today)
    entry = p.get(Blocklists).add(brand_id, BlockKind.PINCODE, "560001", "fraud ring")
    covenant = p.get(Covenants).create(
        brand_id,
        customer_id=customer.id,
        application_ref=f"APP-{suffix}",
        title="Stock statement",
        terms=Terms(type=CovenantType.DOCUMENT, document="Monthly stock statement"),
        frequency=Frequency.MONTHLY,
        start_date=today,
        first_due_date=date(today.year + 1, 1, 31),
        expiry_date=date(today.year + 3, 1, 31),
        grace_days=5,
        lead_days=None,
    )
    # Its first record, with a proof document attached (read.covenant_proofs; ProofAttached carries no brand_id).
    from domain.covenants.covenant import evaluation_id
    from domain.documents.content import ContentType, Uploader

    record_id = evaluation_id(covenant.id, 1)
    p.get(Covenants).open_due_cycles([covenant.id], date(today.year + 1, 1, 24))
    mark(record_id)
    p.get(Covenants).attach_proof(brand_id, record_id, uuid.uuid4(), filename="stock.pdf", sha256="ab" * 32, size=90,
                                  content_type=ContentType.PDF, uploaded_by=Uploader.STAFF)  # fmt: skip
    from adapters.engagement_store import EngagementStore
    from domain.reminders.application import Reminders
    from domain.reminders.reminder import ReminderChannel
    from domain.staff_notices.application import StaffNotices
    from domain.staff_notices.notice import Priority

    p.get(StaffNotices).publish(brand_id, f"Notice {suffix}", "Read me", Priority.LOW, ["admin"], [])
    nudge = p.get(EngagementStore).save_template(brand_id, uuid.uuid4(), f"Nudge {suffix}", "custom", "sms", "en",
                                                 None, "Hi {{borrower_name}}", None, "test", datetime.now(UTC)).id  # fmt: skip
    p.get(Reminders).schedule(brand_id, customer.id, ReminderChannel.SMS, nudge, datetime.now(UTC) + timedelta(days=1))
    p.get(Notices).connect_source(
        brand_id, company="SML", base_url="http://127.0.0.1:9/api", token="token-" + suffix,
        schedule="0 * * * *",
    )  # fmt: skip
    mark(customer.id)
    from domain.leads.application import Leads
    from domain.leads.rating import Criterion, Metric

    lead_file = f"full_name,phone_number\nLead {suffix.title()},97403 {suffix[-5:]}\n".encode()
    p.get(Leads).import_file(brand_id, lead_file, "leads.csv", None)
    p.get(Leads).set_matrix(
        brand_id, [Criterion(metric=Metric.MANUAL, label="Conduct", weight=100, role="admin")], None
    )
    lending = _touch_lending(p, brand_id, suffix, customer.id, mark)
    return {"staff": staff.id, "customer": customer.id, "entry": entry.id, "covenant": covenant.id,
            "evaluation": record_id, **lending}  # fmt: skip


def _allocate(p: Any, brand_id: uuid.UUID, loan_id: uuid.UUID, staff_id: uuid.UUID) -> None:
    """A collections allocation of the loan (recorded as a manager's reallocation records it, without the open case
    the use case asks for: only its events matter here)."""
    from domain.collections.application import Collections
    from domain.collections.case import Stage
    from domain.collections.moves import CaseMoves, Move, MoveKind
    from domain.shared.aggregate import with_id

    move = Move(loan_id=loan_id, stage=Stage.COLLECTIONS, staff_id=staff_id, previous=None)
    p.get(Collections).commit(with_id(CaseMoves, uuid.uuid4(), brand_id=brand_id, kind=MoveKind.REALLOCATION,
                                      business_date=date.today(), moves=(move,), reason="allocated"))  # fmt: skip


class _CodeCatcher:
    """Stands in for the SMS provider of the onboarding application: keeps the last code sent."""

    def __init__(self) -> None:
        self.code = ""

    def send(self, to: str, text: str, sender: str = "", *, caller: Any) -> Any:
        self.code = text.split()[0]
        return None


def _touch_lending(
    p: Any, brand_id: uuid.UUID, suffix: str, customer_id: uuid.UUID, mark: Callable[[uuid.UUID], None]
) -> dict[str, Any]:
    """The lending contexts' commands: a product, a loan taken to its first payout attempt, a document, a bank
    account (no provider configured: its check is recorded as failed) and a borrower's sign-in (a funnel)."""
    from domain.collections.application import Collections
    from domain.collections.case import Outcome
    from domain.documents.content import DocumentKind
    from domain.documents.document import ReviewDecision

    products, loans = p.get(Products), p.get(Loans)
    product = products.create(brand_id, f"PL{suffix}", LENDING_TERMS)
    mark(product.id)
    loan = loans.create(brand_id, customer_id, product.id, "100000", 12)
    mark(loan.id)
    cx = p.get(Identity).create_staff(
        brand_id, f"cx-{suffix}@lender.in", f"Cx {suffix.title()}", ["credit_executive"], granter=OPERATOR
    )
    loans.assign(brand_id, loan.id, cx.id)  # the callbacks' loan hand-overs
    _allocate(p, brand_id, loan.id, cx.id)  # the callbacks' case hand-overs
    loans.submit(brand_id, loan.id)
    loans.cx_approve(brand_id, loan.id, "90000", "salary supports 90k")
    loans.sanction(brand_id, loan.id, "85000", "FOIR at the limit")
    now = datetime.now(UTC)
    loans.issue_agreement(brand_id, loan.id, "ab" * 32, "agreements/x.pdf", f"es-{suffix}", "https://esign/1",
                          now + timedelta(days=2))  # fmt: skip
    loans.sign(brand_id, loan.id, f"prov-{suffix}", now)
    loans.ready_for_disbursal(brand_id, loan.id, "acct-1")
    loans.initiate_disbursal(brand_id, loan.id, "IMPS", f"gw-{suffix}")
    p.get(Collections).log_contact(brand_id, loan.id, Outcome.CONNECTED, "reminder call")
    _touch_recoveries(loans, brand_id, customer_id, product.id, suffix, mark)
    offer = p.get(ReloanOffers).offer(brand_id, loan.id, f"RL-{suffix}", customer_id, product.id, 12, Decimal("85000"),
                                      "percent", Decimal("10"))  # fmt: skip
    assert offer is not None
    mark(offer.id)
    document = p.get(Documents).upload(brand_id, customer_id, DocumentKind.BANK_STATEMENT, "statement.pdf", TINY_PDF)
    mark(document.id)
    blurred = p.get(Documents).upload(brand_id, customer_id, DocumentKind.OTHER, "blurred.pdf", TINY_PDF)
    mark(blurred.id)
    p.get(Documents).review(brand_id, blurred.id, ReviewDecision.REJECTED, "unreadable scan")  # covenant_proof_reviews
    account = p.get(Verifications).add_bank_account(brand_id, customer_id, "50100123" + suffix, "HDFC0001234",
                                                    f"Borrower {suffix.title()}")  # fmt: skip
    mark(account.id)
    onboarding = p.get(Onboarding)
    catcher = _CodeCatcher()
    before, onboarding.sms = onboarding.sms, catcher
    try:
        slug = p.get(Identity).brand(brand_id).slug
        onboarding.request_code(slug, f"97402 {suffix[-5:]}")
        signed = onboarding.sign_in(slug, f"97402 {suffix[-5:]}", catcher.code)
    finally:
        onboarding.sms = before
    from domain.callbacks.application import Callbacks

    callback = p.get(Callbacks).request(
        brand_id, signed.borrower_id, note="call me after 6"
    )  # the callbacks projection
    mark(callback.id)
    return {"product": product.id, "loan": loan.id, "document": document.id, "funnel": signed.borrower_id,
            "offer": offer.id}  # fmt: skip


def _touch_recoveries(
    loans: Any,
    brand_id: uuid.UUID,
    customer_id: uuid.UUID,
    product_id: uuid.UUID,
    suffix: str,
    mark: Callable[[uuid.UUID], None],
) -> None:
    """A second loan disbursed, with a collection request pending (the recoveries' queue projection)."""
    second = loans.create(brand_id, customer_id, product_id, "50000", 6)
    mark(second.id)
    loans.submit(brand_id, second.id)
    loans.cx_approve(brand_id, second.id, "50000", "salary supports it")
    loans.sanction(brand_id, second.id, "50000", "within limits")
    now = datetime.now(UTC)
    loans.issue_agreement(brand_id, second.id, "cd" * 32, "agreements/y.pdf", f"es2-{suffix}", "https://esign/2",
                          now + timedelta(days=2))  # fmt: skip
    loans.sign(brand_id, second.id, f"prov2-{suffix}", now)
    loans.ready_for_disbursal(brand_id, second.id, "acct-2")
    loans.initiate_disbursal(brand_id, second.id, "IMPS", f"gw2-{suffix}")
    loans.confirm_disbursal(brand_id, second.id, f"gw2-{suffix}", loans.parties.business_date(brand_id))
    loans.request_collection(brand_id, second.id, "10.00", "cash", f"RC-{suffix}")


def _caught_up(p: Any) -> None:
    for source in {proj.source for proj in p.engine.projections.values()}:
        assert p.engine.wait_for(source, p.engine.head(source), timeout=15), source


def test_a_poison_event_in_each_projection_is_recorded_shown_and_cleared_by_a_cli_retry(
    own_platform: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from starlette.testclient import TestClient

    from workers.web_app import build_app

    p = own_platform
    poison = Poison(p, monkeypatch)
    clean = make_tenant(p)
    poisoned = p.get(Identity).create_brand("pm" + uuid.uuid4().hex[:10], f"{POISON_MARK} Finance")
    poison.brands.add(poisoned.id)
    bad = _touch_every_projection(p, poisoned.id, "00001", poison.aggregates.add)
    good = _touch_every_projection(p, clean.brand_id, "00002")
    _caught_up(p)

    # Every projection recorded its poison event and kept going: the clean brand's rows are all there.
    failed = {f.projection for f in p.engine.failures() if f.status == "failed"}
    assert failed == set(p.engine.projections)
    assert all(f.brand_id in (poisoned.id, None) for f in p.engine.failures())
    assert p.get(CustomerQueries).profile(clean.brand_id, good["customer"]) is not None
    assert p.get(IdentityQueries).staff(clean.brand_id, good["staff"]) is not None
    assert p.get(BlocklistQueries).entry(clean.brand_id, good["entry"]) is not None
    assert p.get(CovenantQueries).covenant(clean.brand_id, good["covenant"]) is not None
    assert (clean_record := p.get(CovenantQueries).evaluation(clean.brand_id, good["evaluation"])) is not None
    assert [proof.filename for proof in clean_record.proofs] == ["stock.pdf"]
    assert (clean_product := p.get(ProductQueries).product(clean.brand_id, good["product"])) is not None
    assert clean_product.code == "PL00002"
    assert (clean_loan := p.get(LoanQueries).loan(clean.brand_id, good["loan"])) is not None
    assert str(clean_loan.status) == "awaiting_disbursal", [e.kind for e in clean_loan.history]
    assert clean_loan.amounts is not None and clean_loan.amounts.sanctioned == Decimal("85000.00")
    assert p.get(DashboardQueries).loan_counts(clean.brand_id).by_status["awaiting_disbursal"] == 1
    assert p.get(DocumentQueries).document(clean.brand_id, good["document"]) is not None
    assert p.get(OnboardingQueries).borrower(clean.brand_id, good["funnel"]) is not None
    assert p.get(CustomerQueries).profile(poisoned.id, bad["customer"]) is None
    assert p.get(LoanQueries).loan(poisoned.id, bad["loan"]) is None

    with TestClient(build_app(lambda: p, close_platform=False)) as client:
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        failing = {f["name"]: f for f in health.json()["failing"]}
        assert set(failing) == set(p.engine.projections) and all(f["failed"] >= 1 for f in failing.values())
        metrics = client.get("/metrics").text
        assert 'projection_failed_events{projection="customer_directory"} 1.0' in metrics

        listed = _cli(p.dsn, capsys, "projections", "failures", "customer_directory")
        assert listed.returncode == 0, listed.stderr
        assert "customer_directory" in listed.stdout and "injected poison" in listed.stdout
        assert "CustomerRecord.Registered" in listed.stdout and str(poisoned.id) in listed.stdout

        # While the cause is there, a retry fails again and keeps the event recorded.
        # (The directory's events of the brand: its creation and its configuration's, which names the brand; the
        # configuration's later events are parked behind its first.)
        brand_failures = [f for f in p.engine.failures("brands") if f.status == "failed"]
        brand_failure = next(f for f in brand_failures if f.aggregate_id == poisoned.id)
        assert p.engine.retry("brands").still_failing.keys() == {f.position for f in brand_failures}
        assert all(f.attempts == 2 for f in p.engine.failures("brands") if f.status == "failed")

        # With the cause removed, the CLI retries one event, then every projection's, and clears them.
        monkeypatch.undo()
        one = _cli(p.dsn, capsys, "projections", "retry", "brands", "--position", str(brand_failure.position))
        assert one.returncode == 0 and "brands: applied 1" in one.stdout, one.stdout + one.stderr
        assert poisoned.id in {b.id for b in p.get(BrandQueries).all()}
        everything = _cli(p.dsn, capsys, "projections", "retry", "--all")
        assert everything.returncode == 0 and "still failing 1" not in everything.stdout, everything.stdout
        assert p.engine.failures() == []
        assert _cli(p.dsn, capsys, "projections", "failures").stdout.startswith("no failed events")
        assert p.get(CustomerQueries).profile(poisoned.id, bad["customer"]) is not None
        assert p.get(CovenantQueries).covenant(poisoned.id, bad["covenant"]) is not None
        assert (record := p.get(CovenantQueries).evaluation(poisoned.id, bad["evaluation"])) is not None
        assert record.proof_received
        assert p.get(BlocklistQueries).entry(poisoned.id, bad["entry"]) is not None
        assert p.get(ProductQueries).product(poisoned.id, bad["product"]) is not None
        assert (loan := p.get(LoanQueries).loan(poisoned.id, bad["loan"])) is not None
        assert str(loan.status) == "awaiting_disbursal"
        assert p.get(OnboardingQueries).borrower(poisoned.id, bad["funnel"]) is not None
        assert client.get("/health").json()["status"] == "ok"
        assert 'projection_failed_events{projection="customer_directory"} 0.0' in client.get("/metrics").text


def test_a_projection_failing_on_every_event_stops_visibly_and_resumes_once_fixed(
    own_platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from projections.failures import MAX_FAILURES_PER_BATCH
    from projections.runner import ProjectionRunner
    from workers.web_app import build_app

    p = own_platform
    monkeypatch.setattr(ProjectionRunner, "STOPPED_RETRY_SECONDS", 0.2)
    timeline = p.engine.projection("customer_timeline")

    def broken(position: int, event: Any) -> Any:
        raise RuntimeError("relation read.customer_timeline is gone")

    monkeypatch.setattr(timeline, "project", broken)
    tenant = make_tenant(p)
    records = [
        CustomerRecord(brand_id=tenant.brand_id, name=f"Bulk Borrower {i}", phone=f"+91974020{i:04d}", addresses=[],
                       loan_numbers=[])
        for i in range(MAX_FAILURES_PER_BATCH + 10)
    ]  # fmt: skip
    saved = p.get(Customers).save(*records)
    position = max(r.notification.id for r in saved)

    # The others of the same source keep flowing; read-your-writes does not wait for the stopped one.
    assert p.engine.wait_for("customers", position, timeout=10)
    status = {s.name: s for s in p.engine.status()}
    assert status["customer_directory"].position >= position
    stopped = status["customer_timeline"]
    assert stopped.error and "stopped" in stopped.error and "read.customer_timeline is gone" in stopped.error
    assert stopped.position < position and stopped.failed == 0  # nothing skipped: the batch waits, whole
    assert p.engine.failures("customer_timeline") == []
    with TestClient(build_app(lambda: p, close_platform=False)) as client:
        health = client.get("/health").json()
        assert health["status"] == "degraded"
        assert [f["name"] for f in health["failing"]] == ["customer_timeline"] and health["failing"][0]["stopped"]
        # The open endpoint says it stopped, not the error, which may quote an event's values.
        assert "read.customer_timeline is gone" not in json.dumps(health), health
        assert 'projection_stopped{projection="customer_timeline"} 1.0' in client.get("/metrics").text

    monkeypatch.undo()
    deadline = time.monotonic() + 10
    while {s.name: s for s in p.engine.status()}["customer_timeline"].position < position:
        assert time.monotonic() < deadline, "the projection did not resume"
        time.sleep(0.1)
    assert {s.name: s for s in p.engine.status()}["customer_timeline"].error is None


def test_a_database_from_before_failure_tracking_gains_its_columns_and_keeps_positions(mail_sink: Any) -> None:
    import psycopg

    from adapters.mailer import MailSettings
    from workers.platform import Platform

    dsn = fresh_database_dsn()
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA ops")
            conn.execute(
                "CREATE TABLE ops.projection_tracking (projection text PRIMARY KEY, source text NOT NULL, "
                "position bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute("INSERT INTO ops.projection_tracking VALUES ('brands', 'identity', 0, now())")
        platform = Platform.open(dsn, mail=MailSettings(port=mail_sink.port))
        try:
            status = {s.name: s for s in platform.engine.status()}
            assert (status["brands"].failed, status["brands"].error) == (0, None)
            brand = platform.get(Identity).create_brand("up" + uuid.uuid4().hex[:10], "Upgraded Finance")
            with platform.db.pool.connection() as conn:
                assert platform.engine.process_batch(conn, platform.engine.projection("brands")) > 0
            assert brand.id in {b.id for b in platform.get(BrandQueries).all()}
        finally:
            platform.close()
    finally:
        drop_database(dsn)
