"""The Kafka integration and the auditor replay walked black-box now that the loan contexts exist: two brands' loans
driven over HTTP only (a uvicorn server, the e-sign and payout simulators calling it back) from application through
a decision, e-sign, disbursal, payments, the close of business, collection contacts and a promise to pay, a penal
waiver; a relay process (`covenant-desk relay`) SIGKILLed in the middle of a burst of payments and started again;
the topics read by a consumer of the test's own, against a real Kafka-protocol broker (Tansu), as an integration
consumer would (docs/integration.md):

- every loan event the audit history lists is on `<prefix>.loans.loan`, keyed by the loan's id on the partition
  that key picks, in the loan's order once repeats are dropped by `event_id`, repeats no more than the batches a
  killed relay had in flight; envelope and payload valid against the committed schemas; headers `type`,
  `event_id`, `trace_id` (the command's `X-Request-ID`), the actor the audit trail names;
- collection actions on `<prefix>.collections.collection_case`, keyed by the case;
- a brand's records carry its `brand_id` and nothing of the other brand's loans or borrowers; loan events name the
  borrower by `customer_id` only (no name, phone, PAN or account number);
- `GET /audit/loan/{id}/state?as_of=` and `/audit/customer/{id}/state?as_of=` at instants between the steps give
  what `GET /loans/{id}` and `GET /customers/{id}` showed then.

The product is touched only through HTTP and the relay's command line; the agreement worker's pass and a requested
job run are executed by the test (what `make run`'s threads do), as in the other walks. Its own database, so the
relay publishes this test's events only (tests/own_database.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from tests.e2e.blackbox import API, Headers, eventually, ok, phone
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401 (fixtures: a database of its own)
from tests.support import ROOT, account_number

ENVELOPE = json.loads((ROOT / "docs" / "events" / "envelope.json").read_text())
PARTITIONS = 3  # docs/integration.md: "topics have 3 partitions"
BATCH = 20  # the relay's batch (`--batch`): repeats after a kill are bounded by the batches in flight
AHEAD = 2  # docs/architecture.md: "up to two travel unacknowledged while the next is read and built"
D0 = date(2026, 3, 2)


def _schema(event_type: str, version: int) -> dict[str, Any]:
    _, _, qualname = event_type.partition(":")
    for path in (ROOT / "docs" / "events").glob(f"*/{qualname}.v{version}.json"):
        schema = json.loads(path.read_text())
        if schema["x-topic"] == event_type:
            return dict(schema)
    raise AssertionError(f"no schema for {event_type} v{version}")


# --- the consumer: the test's own, partitions assigned, read to their high watermark -----------------------------


def read_topics(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    """Every record on the prefix's topics, each partition from its start to the end of its fetched records (Tansu
    answers a partition's end offset short of its last batch's tail: docs/integration.md, "Consuming")."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    received: list[dict[str, Any]] = []
    try:
        pattern = re.compile(f"^{re.escape(prefix)}\\.[a-z0-9_]+\\.[a-z0-9_]+$")
        topics = sorted(t for t in consumer.topics() if pattern.match(t))
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not partitions:  # nothing published yet
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + 30
        while [tp for tp in partitions if consumer.position(tp) < max(ends[tp], consumer.highwater(tp) or 0)]:
            assert time.monotonic() < deadline, "partitions not read to their end"
            for records in consumer.poll(timeout_ms=300).values():
                for r in records:
                    value = json.loads(r.value)
                    value["_topic"], value["_partition"] = r.topic, r.partition
                    value["_key"] = r.key.decode()
                    value["_headers"] = {k: v.decode() for k, v in r.headers}
                    received.append(value)
    finally:
        consumer.close()
    return received


# --- the relay, as an operator runs it ------------------------------------------------------------------------------


@dataclass
class RelayProcess:
    dsn: str
    bootstrap: str
    prefix: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "DATABASE_URL": self.dsn, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
               "KAFKA_TOPIC_PREFIX": self.prefix, "LOG_LEVEL": "WARNING"}  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "relay", "--batch", str(BATCH)],
                cwd=ROOT, env=env, stdout=out, stderr=out,
            )  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


# --- the walk's world -----------------------------------------------------------------------------------------------


@dataclass
class Brand:
    h: Headers
    brand_id: str
    product: str = ""
    customers: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> name, phone, pan, account


@dataclass
class World:
    http: httpx.Client
    tick: Callable[[], None]
    run_job: Callable[[str], None]
    relay: RelayProcess
    traces: dict[str, str] = field(default_factory=dict)  # X-Request-ID -> what it did

    def call(self, b: Brand, method: str, path: str, body: Any = None, status: int = 200, what: str = "") -> Any:
        """One command with an X-Request-ID of the test's (the trace id its events must carry)."""
        trace = f"kw-{uuid.uuid4().hex[:16]}"
        answer = self.http.request(method, f"{API}{path}", json=body, headers={**b.h, "X-Request-ID": trace})
        assert answer.headers.get("x-request-id") == trace, answer.headers
        if what:
            self.traces[trace] = what
        return ok(answer, status)

    def loan(self, b: Brand, loan_id: str) -> dict[str, Any]:
        return dict(ok(self.http.get(f"{API}/loans/{loan_id}", headers=b.h)))


def _pan() -> str:
    n = uuid.uuid4().int
    letters = "".join(chr(65 + n // 26**i % 26) for i in range(3))
    return f"{letters}PK{1000 + n % 8000:04d}A"


def borrower(w: World, b: Brand, name: str) -> str:
    person = {"name": name, "phone": phone("3"), "pan": _pan(), "account": account_number()}
    body = {"name": name, "phone": person["phone"], "pan": person["pan"], "date_of_birth": "1990-04-11",
            "addresses": [{"line1": "7 Canal Street", "city": "Kochi", "pincode": "682001"}]}  # fmt: skip
    customer = str(w.call(b, "POST", "/customers", body, 201)["id"])
    account = {"account_number": person["account"], "ifsc": "HDFC0001234", "holder_name": name}
    assert w.call(b, "POST", f"/customers/{customer}/bank-accounts", account, 201)["verified"]
    b.customers[customer] = person
    return customer


def application(w: World, b: Brand, customer: str, amount: str = "60000") -> str:
    body = {"customer_id": customer, "product_id": b.product, "amount": amount, "tenure": 6}
    loan_id = str(w.call(b, "POST", "/loans", body, 201, "Created")["id"])
    assert w.call(b, "POST", f"/loans/{loan_id}/submit", what="Submitted")["status"] == "pending"
    return loan_id


def disburse(w: World, b: Brand, loan_id: str, amount: str = "60000") -> None:
    url = f"/loans/{loan_id}"
    w.call(b, "POST", f"{url}/cx-approve", {"approved_amount": amount, "remarks": "salary fine"}, what="CxApproved")
    w.call(b, "POST", f"{url}/sanction", {"sanctioned_amount": amount, "remarks": "FOIR fine"}, what="Sanctioned")
    w.tick()
    link = eventually(lambda: (w.loan(b, loan_id).get("esign") or {}).get("link"), "the e-sign link")
    ok(httpx.post(link, json={"action": "sign"}, timeout=30))

    def queued() -> bool:
        w.tick()
        return w.loan(b, loan_id)["status"] == "awaiting_disbursal"

    eventually(queued, "the signature")
    block = w.call(b, "POST", f"{url}/disburse", {"mode": "IMPS"}, 202, "DisbursalInitiated")["disbursement"]
    ok(httpx.post(block["simulator_url"], json={"action": "confirm"}, timeout=30))
    eventually(lambda: w.loan(b, loan_id)["status"] == "active", "the disbursal")


def pay(w: World, b: Brand, loan_id: str, amount: str, on: str, what: str = "RepaymentRecorded") -> None:
    body = {"amount": amount, "mode": "upi", "reference": f"UTR-{uuid.uuid4().hex[:10]}", "paid_on": on}
    w.call(b, "POST", f"/loans/{loan_id}/repayments", body, 201, what)


def close_business(w: World, b: Brand, as_of: date) -> None:
    """The close of business through `as_of`, requested over HTTP (`POST /jobs/loan-cob/runs`)."""
    if ok(w.http.get(f"{API}/brand/config", headers=b.h))["business_date"] != as_of.isoformat():
        ok(w.http.patch(f"{API}/brand/config", json={"business_date": as_of.isoformat()}, headers=b.h))
    run = ok(w.http.post(f"{API}/jobs/loan-cob/runs", json={"as_of": as_of.isoformat()}, headers=b.h), 202)
    w.run_job(str(run["run_id"]))

    def finished() -> bool:
        ids = run.get("run_ids") or [run["run_id"]]
        states = [ok(w.http.get(f"{API}/jobs/runs/{rid}", headers=b.h))["status"] for rid in ids]
        assert "failed" not in states, states
        return all(s == "succeeded" for s in states)

    eventually(finished, f"the close of business through {as_of}", 60)


@dataclass
class Seen:
    """What the API showed at an instant, for the auditor's replay."""

    at: datetime
    loan: dict[str, Any]
    customer: dict[str, Any]
    what: str


def snapshot(w: World, b: Brand, loan_id: str, customer: str, what: str) -> Seen:
    """The loan and its borrower as the GETs show them once the loan's read model has caught up (its `version` is
    the history's last: docs/loans.md names the milliseconds a status may lag), and an instant just after."""
    versions = len(_history(w, b, loan_id))
    loan = eventually(lambda: (lambda v: v if v["version"] == versions else None)(w.loan(b, loan_id)), "the read model")  # fmt: skip
    person = ok(w.http.get(f"{API}/customers/{customer}", headers=b.h))
    at = datetime.now(UTC)
    time.sleep(0.01)
    return Seen(at, loan, dict(person), what)


# --- the fixture --------------------------------------------------------------------------------------------------


@pytest.fixture
def world(platform: Any, app: Any, dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from adapters.kafka import TansuBroker
    from adapters.providers.directory import ProviderDirectory
    from api.services.disbursals import WEBHOOK_SECRET_ENV
    from domain.loans.application import Loans
    from tests.conftest import PROVIDER_WEBHOOK_SECRET
    from tests.e2e.conftest import served
    from tests.support import settle
    from workers.agreement_jobs import AgreementJobPort, AgreementWorker
    from workers.demo_providers import SIMULATORS
    from workers.runtime import scheduler_for

    broker = TansuBroker(log_file=tmp_path / "tansu.log").start()
    sims = {s: kind(webhook_secret=PROVIDER_WEBHOOK_SECRET) for s, kind in SIMULATORS.items() if s in ("esign", "gateway", "penny_drop")}  # fmt: skip
    directory = platform.get(ProviderDirectory)
    for service, simulator in sims.items():
        directory.configure_url(service, simulator.start())
    worker = AgreementWorker(platform.port(AgreementJobPort))

    def tick() -> None:  # what `make run`'s agreement worker does every few seconds
        worker.drain(check_queue=True)
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())

    relay = RelayProcess(dsn, broker.bootstrap_servers, f"kw{uuid.uuid4().hex[:8]}", tmp_path / "relay.log")
    try:
        with served(app) as base, httpx.Client(base_url=base, timeout=60) as http:
            monkeypatch.setenv("PUBLIC_BASE_URL", base)
            monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
            monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
            yield World(http, tick, lambda run_id: scheduler_for(platform).execute(run_id), relay)
    finally:
        relay.stop()
        for simulator in sims.values():
            simulator.stop()
        broker.stop()


# --- the walk -------------------------------------------------------------------------------------------------------


def test_loan_events_on_kafka_and_the_auditor_replay_black_box(world: World, platform: Any) -> None:
    from tests.conftest import make_tenant
    from tests.e2e.test_origination_blackbox import _product

    w = world
    brands = [Brand((t := make_tenant(platform)).auth, str(t.brand_id)) for _ in range(2)]
    ours, theirs = brands
    for b in brands:
        ok(w.http.patch(f"{API}/brand/config", json={"business_date": D0.isoformat(), "sunday_off": False,
                                                     "repayment_holidays": []}, headers=b.h))  # fmt: skip
        b.product = _product(w.http, b.h)
    w.relay.start()  # publishing while the walk records

    # Origination and the credit decision: one loan disbursed in each brand, one of ours rejected.
    customer = borrower(w, ours, "Meera Pillai")
    seen: list[Seen] = []
    loan_id = application(w, ours, customer)
    seen.append(snapshot(w, ours, loan_id, customer, "submitted"))
    disburse(w, ours, loan_id)
    seen.append(snapshot(w, ours, loan_id, customer, "disbursed"))
    rejected = application(w, ours, borrower(w, ours, "Arjun Menon"))
    body = {"reason_code": "LOW_SALARY", "remarks": "income too low for it"}
    w.call(ours, "POST", f"/loans/{rejected}/reject", body, what="Rejected")
    their_customer = borrower(w, theirs, "Kavya Nair")
    their_loan = application(w, theirs, their_customer)
    disburse(w, theirs, their_loan)

    # Payments in a burst; the relay SIGKILLed in the middle of it, more recorded while none runs, then restarted.
    def relayed_payments() -> int:
        records = read_topics(w.relay.bootstrap, w.relay.prefix)
        return sum(r["type"].endswith("RepaymentRecorded") and r["aggregate_id"] == loan_id for r in records)

    for n in range(12):
        pay(w, ours, loan_id, "100.00", D0.isoformat())
        if n == 5:  # killed once it is publishing the burst, with payments still coming
            eventually(relayed_payments, f"the relay publishing the payments ({w.relay.log.read_text()[-800:]})", 30)
            w.relay.kill()
            published = len({r["event_id"] for r in read_topics(w.relay.bootstrap, w.relay.prefix)})
        pay(w, theirs, their_loan, "50.00", D0.isoformat())
    ok(w.http.patch(f"{API}/customers/{customer}", json={"email": "meera.pillai@example.in"}, headers=ours.h))
    seen.append(snapshot(w, ours, loan_id, customer, "paid while the relay was down"))
    w.relay.start()

    # Once caught up, the relay wakes on the event store's NOTIFY: a payment is on its topic well before the relay's
    # 5-second re-check (docs/integration.md, "Latency").
    eventually(
        lambda: len(_records_of(w, loan_id)) >= len(_history(w, ours, loan_id)),
        f"the restarted relay caught up ({w.relay.log.read_text()[-800:]})",
        30,
    )
    latencies = []
    for _ in range(3):
        pay(w, ours, loan_id, "10.00", D0.isoformat())
        paid, version = time.monotonic(), len(_history(w, ours, loan_id))

        def on_topic(version: int = version) -> bool:
            return any(r["aggregate_version"] == version for r in _records_of(w, loan_id))

        eventually(on_topic, "the payment on its topic", 10)
        latencies.append(time.monotonic() - paid)
    assert min(latencies) < 2.0, f"a payment reached its topic after {latencies} s: the relay did not wake on NOTIFY"

    # Servicing past the first due date: overdue, penal charges; collections; a penal waiver.
    first_due = date.fromisoformat(w.loan(ours, loan_id)["next_due"]["due_date"])
    close_business(w, ours, first_due + timedelta(days=4))
    overdue = w.loan(ours, loan_id)
    assert overdue["status"] == "overdue" and overdue["dpd"] > 0, (overdue["status"], overdue["dpd"])
    seen.append(snapshot(w, ours, loan_id, customer, "overdue"))
    w.call(ours, "POST", f"/loans/{loan_id}/contacts", {"outcome": "connected", "remarks": "will pay friday"}, 201)
    bd = ok(w.http.get(f"{API}/brand/config", headers=ours.h))["business_date"]
    w.call(ours, "POST", f"/loans/{loan_id}/ptps", {"date": bd, "amount": "1000.00"}, 201)
    penal = overdue["outstanding"]["penal"]
    assert float(penal) > 0, overdue["outstanding"]
    waiver = w.call(ours, "POST", f"/loans/{loan_id}/waivers", {"amount": penal, "justification": "first delay, hospital stay"}, 201, "WaiverRequested")  # fmt: skip
    w.call(ours, "POST", f"/waivers/{waiver['id']}/approve", what="WaiverApproved")
    seen.append(snapshot(w, ours, loan_id, customer, "penal waived"))
    pay(w, ours, loan_id, "2000.00", bd)
    seen.append(snapshot(w, ours, loan_id, customer, "paid after the waiver"))
    # The end states: our loan written off (then a recovery), theirs paid off (completed, no-due certificate).
    w.call(ours, "POST", f"/loans/{loan_id}/write-off", {"reason": "uncontactable for 90 days"}, what="WrittenOff")
    eventually(lambda: w.loan(ours, loan_id)["status"] == "written_off", "written off")
    seen.append(snapshot(w, ours, loan_id, customer, "written off"))
    pay(w, ours, loan_id, "500.00", bd, "RecoveryRecorded")
    seen.append(snapshot(w, ours, loan_id, customer, "recovered after the write-off"))
    payoff = ok(w.http.get(f"{API}/loans/{their_loan}/payoff", headers=theirs.h))["total"]
    pay(w, theirs, their_loan, payoff, D0.isoformat())
    closed = eventually(lambda: (lambda v: v if v["status"] == "completed" else None)(w.loan(theirs, their_loan)), "paid off")  # fmt: skip
    their_seen = [snapshot(w, theirs, their_loan, their_customer, "paid off")]
    assert closed["closed_on"], closed

    # Everything the audit history lists reaches the topics (the relay catching up after its restart).
    histories = {lid: _history(w, b, lid) for b, lid in ((ours, loan_id), (ours, rejected), (theirs, their_loan))}

    def everything_relayed() -> list[dict[str, Any]] | None:
        records = read_topics(w.relay.bootstrap, w.relay.prefix)
        have = {(r["aggregate_id"], r["aggregate_version"]) for r in records}
        want = {(lid, e["version"]) for lid, events in histories.items() for e in events}
        case = {r["type"].rsplit(".", 1)[-1] for r in records if r["payload"].get("loan_id") == loan_id}
        return records if want <= have and {"ContactLogged", "PromiseMade"} <= case else None

    received = eventually(everything_relayed, f"every loan event on the topics ({w.relay.log.read_text()[-800:]})", 45)
    w.relay.stop()

    _check_loans_topic(w, received, histories, {loan_id: ours, rejected: ours, their_loan: theirs}, published)
    _check_collection_case(w, received, ours, loan_id)
    _check_brands_apart(received, ours, theirs, {ours.brand_id: [loan_id, rejected], theirs.brand_id: [their_loan]})
    _check_replay(w, ours, loan_id, customer, seen)
    _check_replay(w, theirs, their_loan, their_customer, their_seen)


def _records_of(w: World, aggregate_id: str) -> list[dict[str, Any]]:
    return [r for r in read_topics(w.relay.bootstrap, w.relay.prefix) if r["aggregate_id"] == aggregate_id]


def _history(w: World, b: Brand, loan_id: str) -> list[dict[str, Any]]:
    return list(ok(w.http.get(f"{API}/audit/loan/{loan_id}/history", headers=b.h))["events"])


def _check_loans_topic(
    w: World,
    received: list[dict[str, Any]],
    histories: dict[str, list[dict[str, Any]]],
    owner: dict[str, Brand],
    published: int,
) -> None:
    topic = f"{w.relay.prefix}.loans.loan"
    records = [r for r in received if r["_topic"] == topic]
    # One kill and one restart on the same broker: again at most the batches it had in flight (each up to BATCH
    # records, per context), never the whole history (docs/integration.md, "Delivery guarantees"); `published`
    # events were on the topics when it was killed.
    repeats = len(received) - len({r["event_id"] for r in received})
    contexts = len({r["_topic"].split(".")[1] for r in received})
    assert repeats <= BATCH * (AHEAD + 1) * contexts and repeats < published, (repeats, published, len(received))
    for loan_id, history in histories.items():
        mine = [r for r in received if r["aggregate_id"] == loan_id]
        assert {r["_topic"] for r in mine} == {topic}, {r["_topic"] for r in mine}
        applied: list[dict[str, Any]] = []
        for r in mine:  # the consumer of docs/integration.md: drop what it has seen
            if r["aggregate_version"] > (applied[-1]["aggregate_version"] if applied else 0):
                applied.append(r)
        assert [r["aggregate_version"] for r in applied] == [e["version"] for e in history] == list(range(1, len(history) + 1))  # fmt: skip
        by_id: dict[str, dict[str, Any]] = {}
        for r in mine:
            first = by_id.setdefault(r["event_id"], r)  # a repeat is the same record again
            assert {k: v for k, v in first.items() if k[0] != "_"} == {k: v for k, v in r.items() if k[0] != "_"}
        for r, event in zip(applied, history, strict=True):
            assert r["_key"] == loan_id and r["_partition"] == (murmur2(loan_id.encode()) & 0x7FFFFFFF) % PARTITIONS
            jsonschema.validate({k: v for k, v in r.items() if k[0] != "_"}, ENVELOPE)
            jsonschema.validate(r["payload"], _schema(r["type"], r["schema_version"]))
            assert r["brand_id"] == owner[loan_id].brand_id and r["aggregate_type"] == "Loan", r["type"]
            assert r["_headers"]["type"] == r["type"] and r["_headers"]["event_id"] == r["event_id"]
            assert r["type"].rsplit(".", 1)[-1] == event["event"].rsplit(".", 1)[-1], (r["type"], event["event"])
            assert r["_headers"]["trace_id"] == r["payload"]["trace_id"] == event["trace_id"], (r["type"], r["_headers"], event)  # fmt: skip
            assert r["actor"] == event["actor"], (r["type"], r["actor"], event["actor"])
            assert datetime.fromisoformat(r["occurred_at"]) == datetime.fromisoformat(event["occurred_at"])
            if r["_headers"]["trace_id"] in w.traces:  # an API command's events: its caller is the brand's key
                assert r["actor"].startswith("apikey:"), r["actor"]
        kinds = [r["type"].rsplit(".", 1)[-1] for r in applied]
        for trace, what in w.traces.items():  # a command's events carry its X-Request-ID, the one it is named for too
            caused = [r["type"].rsplit(".", 1)[-1] for r in applied if r["_headers"]["trace_id"] == trace]
            assert not caused or what in caused, (what, caused)
        assert kinds[0] == "Created" and "Submitted" in kinds, kinds
    missing = set(w.traces) - {r["_headers"]["trace_id"] for r in records}
    assert not missing, [w.traces[t] for t in missing]  # every loan command traced to its events on the topic
    ours_kinds = {r["type"].rsplit(".", 1)[-1] for r in records if r["aggregate_id"] == next(iter(histories))}
    expected = {"Created", "Submitted", "CxApproved", "Sanctioned", "AgreementIssued", "Signed", "DisbursalQueued",
                "DisbursalInitiated", "Disbursed", "ServicingOpened", "RepaymentRecorded", "DayClosed", "StatusMoved",
                "WaiverRequested", "WaiverApproved", "WrittenOff", "RecoveryRecorded"}  # fmt: skip
    assert expected <= ours_kinds, expected - ours_kinds
    their_kinds = {r["type"].rsplit(".", 1)[-1] for r in records if r["aggregate_id"] == list(histories)[2]}
    assert {"Disbursed", "RepaymentRecorded", "NoDueCertificateIssued"} <= their_kinds, their_kinds
    rejected = list(histories)[1]
    assert "Rejected" in {r["type"].rsplit(".", 1)[-1] for r in records if r["aggregate_id"] == rejected}


def _check_collection_case(w: World, received: list[dict[str, Any]], b: Brand, loan_id: str) -> None:
    topic = f"{w.relay.prefix}.collections.collection_case"
    cases = [r for r in received if r["_topic"] == topic and loan_id in json.dumps(r["payload"])]
    assert cases, f"no record of the loan's collection case on {topic}"
    case_ids = {r["aggregate_id"] for r in cases}
    assert len(case_ids) == 1, case_ids
    (case_id,) = case_ids
    mine = [r for r in received if r["aggregate_id"] == case_id]
    for r in mine:
        assert r["_topic"] == topic and r["_key"] == case_id and r["brand_id"] == b.brand_id, r["type"]
        jsonschema.validate(r["payload"], _schema(r["type"], r["schema_version"]))
    versions = list(dict.fromkeys(r["aggregate_version"] for r in mine))
    assert versions == list(range(1, len(versions) + 1)), versions
    kinds = " ".join(r["type"] for r in mine)
    assert "ContactLogged" in kinds and "PromiseMade" in kinds, kinds


def _check_brands_apart(
    received: list[dict[str, Any]], ours: Brand, theirs: Brand, loans: dict[str, list[str]]
) -> None:
    """A brand's records carry its brand id and nothing of the other brand's: its id, loans, borrowers (their ids
    and personal data). Loan and collection events name the borrower by `customer_id` alone: no name, phone, PAN or
    account number (docs/integration.md, "Personal data")."""
    marks: dict[str, set[str]] = {}
    for b in (ours, theirs):
        found = {b.brand_id, *loans[b.brand_id]}
        for customer, person in b.customers.items():
            found |= {customer, person["phone"][-10:], person["pan"], person["account"], person["name"]}
        marks[b.brand_id] = found
    for r in received:  # the test's database holds these two brands alone
        if r["_topic"].endswith(".identity.unique_value"):  # brand slugs, staff emails: platform-wide claims
            assert r["brand_id"] is None, r["payload"]
            continue
        assert r["brand_id"] in (ours.brand_id, theirs.brand_id), (r["_topic"], r["type"], r["brand_id"])
        other = theirs.brand_id if r["brand_id"] == ours.brand_id else ours.brand_id
        text = json.dumps({k: v for k, v in r.items() if k != "_headers"}) + json.dumps(r["_headers"])
        leaked = [m for m in marks[other] if m in text]
        assert not leaked, (r["type"], leaked)
        if r["_topic"].split(".")[1] in ("loans", "collections"):
            b = ours if r["brand_id"] == ours.brand_id else theirs
            personal = [v for p in b.customers.values() for k, v in p.items() if v in text]
            assert not personal, (r["type"], personal)


def _check_replay(w: World, b: Brand, loan_id: str, customer: str, seen: list[Seen]) -> None:
    fields = ("status", "outstanding", "dpd", "asset_class", "next_due", "schedule", "closed_on")
    for s in seen:
        at = s.at.isoformat()
        replayed = ok(w.http.get(f"{API}/audit/loan/{loan_id}/state", params={"as_of": at}, headers=b.h))
        state = replayed["state"]
        assert replayed["exists"] and replayed["version"] == s.loan["version"], (s.what, replayed["version"], s.loan["version"])  # fmt: skip
        for name in fields:
            assert state.get(name) == s.loan.get(name), (s.what, name, state.get(name), s.loan.get(name))
        person = ok(w.http.get(f"{API}/audit/customer/{customer}/state", params={"as_of": at}, headers=b.h))
        for name in ("name", "email", "phone"):
            assert person["state"].get(name) == s.customer.get(name), (s.what, name, person["state"].get(name), s.customer.get(name))  # fmt: skip
