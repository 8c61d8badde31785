"""Loan events on Kafka as an integration consumer sees them, against a real Kafka-protocol broker (Tansu, one per
module): loans of two brands driven through disbursal, payments (one back-dated), a reversal and close-of-business
days, relayed by a relay stopped mid-stream and started again while more is recorded. Every loan event is on the
loans topic (docs/integration.md: topics are per context and aggregate, shared by brands; `brand_id` says whose),
keyed by the loan's id on the partition that key picks, in the loan's order once repeats are dropped by `event_id`
(at least once: a repeat is the same record again), with the documented envelope and payload schema and headers,
and a brand's records name nothing of another brand's loans."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import jsonschema
import pytest
from kafka.partitioner.default import murmur2

from adapters.kafka import PARTITIONS, KafkaSettings, TansuBroker
from domain.loans.application import Loans
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.integration.test_kafka_relay import ENVELOPE, _consume, _schema_for, _wait
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from workers.relay import AHEAD, Relay, event_id

__all__ = ["catalogue"]  # the servicing tests' catalogue (penal charges at 0.1 % a day), autouse here too

D0 = date(2026, 1, 31)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    b = TansuBroker(log_file=Path(tmp_path_factory.mktemp("tansu")) / "tansu.log").start()
    yield b
    b.stop()


def _payments(platform: Any, tenant: Tenant, loan_id: UUID, count: int, reference: str, on: date) -> None:
    loans: Loans = platform.get(Loans)
    for n in range(count):
        loans.record_repayment(tenant.brand_id, loan_id, "10.00", "upi", f"{reference}-{n}", on)


def _relayed(platform: Any) -> int:
    with platform.db.pool.connection() as conn:
        row = conn.execute("SELECT position FROM ops.relay_positions WHERE source = 'loans'").fetchone()
    return int(row["position"]) if row else 0


def _loan_events(platform: Any, loan_ids: set[UUID]) -> dict[UUID, list[str]]:
    """Each loan's stored event ids, in version order."""
    stored: dict[UUID, list[str]] = {i: [] for i in loan_ids}
    for loan_id in loan_ids:
        for n in platform.get(Loans).recorder.select_events(loan_id):
            stored[loan_id].append(str(event_id("loans", n.originator_id, n.originator_version)))
    return stored


def _text(record: dict[str, Any]) -> str:
    """Everything a record carries (key, headers, value) as one text to search."""
    headers = {k: v.decode() for k, v in record["_headers"].items()}
    return json.dumps({k: v for k, v in record.items() if k != "_headers"}) + json.dumps(headers)


def test_loan_events_reach_the_loans_topic_complete_in_order_per_brand_across_a_relay_restart(
    platform: Any, broker: TansuBroker
) -> None:
    ours, theirs = make_tenant(platform), make_tenant(platform)
    for tenant in (ours, theirs):
        set_business_date(platform, tenant, D0)
    first, second = disbursed_loan(platform, ours), disbursed_loan(platform, ours)
    other = disbursed_loan(platform, theirs)
    set_business_date(platform, ours, date(2026, 2, 28))
    _payments(platform, ours, first, 25, "UTR-A", date(2026, 2, 28))
    _payments(platform, ours, second, 25, "UTR-B", date(2026, 2, 20))

    settings = KafkaSettings(broker.bootstrap_servers, f"cdl{uuid.uuid4().hex[:8]}")
    relay = Relay(platform, settings, batch=5, timeout=5)
    with platform.db.pool.connection() as conn:  # a new topic prefix: this relay starts from the beginning
        conn.execute("DELETE FROM ops.relay_positions")
    loans: Loans = platform.get(Loans)
    relay.start()
    try:  # payments streaming in while it publishes, one commit each; stopped part way through them
        for n in range(30):
            loans.record_repayment(ours.brand_id, first, "10.00", "upi", f"UTR-S-{n}")
            if n == 10:
                _wait(lambda: _relayed(platform) > 0, "the relay started on the loans", 60, step=0.005)
                relay.stop()
    finally:
        relay.stop()
        relay.join(timeout=15)
    stopped_at = _relayed(platform)

    # Recorded while no relay runs: a back-dated payment, a reversal, COB days, the other brand's payments.
    _, back = loans.record_repayment(ours.brand_id, first, "500.00", "cheque", "CHQ-1", date(2026, 2, 25))
    loans.reverse_repayment(ours.brand_id, first, back.payment_id, "cheque bounced")
    set_business_date(platform, ours, date(2026, 3, 3))
    _payments(platform, theirs, other, 3, "UTR-C", D0)
    assert stopped_at < (loans.recorder.max_notification_id() or 0), "nothing was left for the restarted relay"

    again = Relay(platform, settings, batch=5, timeout=5)
    again.start()
    try:  # and more while the new one catches up
        for day in (date(2026, 3, 1), date(2026, 3, 2)):
            loans.close_business_day(ours.brand_id, first, day)
        _payments(platform, ours, second, 5, "UTR-D", date(2026, 3, 3))
        head = loans.recorder.max_notification_id() or 0
        _wait(lambda: _relayed(platform) >= head, "the restarted relay caught up", 90)
    finally:
        again.stop()
        again.join(timeout=15)

    # A restart on the same broker carries on where the last one stopped: repeats are at most the batches it had
    # in flight (docs/integration.md, "Delivery guarantees"), never the whole history again.
    assert again.status.republishes == 0
    received = [e for e in _consume(settings) if e["_topic"] == f"{settings.topic_prefix}.loans.loan"]
    everything = {e["event_id"] for e in _consume(settings)}
    stored = _loan_events(platform, {first, second, other})
    brand_of = {first: ours.brand_id, second: ours.brand_id, other: theirs.brand_id}
    repeats = len(received) - len({e["event_id"] for e in received})
    assert repeats <= 5 * (AHEAD + 1), f"{repeats} repeats of {len(received)} records after a restart"
    for loan_id, ids in stored.items():
        assert set(ids) <= everything, f"loan {loan_id}: {len(set(ids) - everything)} events not on Kafka"
        records = [e for e in received if e["aggregate_id"] == str(loan_id)]
        assert {e["event_id"] for e in records} == set(ids), f"loan {loan_id} not all on the loans topic"
        applied: list[int] = []
        for record in records:  # a consumer dropping what it has seen: every version once, in order, no gap
            if record["aggregate_version"] > (applied[-1] if applied else 0):
                applied.append(record["aggregate_version"])
        assert applied == list(range(1, len(ids) + 1)), (loan_id, [r["aggregate_version"] for r in records])
        by_id: dict[str, dict[str, Any]] = {}
        for record in records:
            key = record["_key"]
            assert key == str(loan_id) and record["_partition"] == (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS
            assert record["brand_id"] == str(brand_of[loan_id]), record["type"]
            headers = {k: v.decode() for k, v in record["_headers"].items()}
            assert headers["type"] == record["type"] and headers["event_id"] == record["event_id"]
            seen = by_id.setdefault(record["event_id"], record)
            assert {k: v for k, v in seen.items() if k[0] != "_"} == {k: v for k, v in record.items() if k[0] != "_"}
            jsonschema.validate({k: v for k, v in record.items() if not k.startswith("_")}, ENVELOPE)
            jsonschema.validate(record["payload"], _schema_for(record["type"], record["schema_version"]))
            assert record["payload"]["originator_id"] == str(loan_id)
            assert record["payload"]["originator_version"] == record["aggregate_version"]
        kinds = {r["type"].rsplit(".", 1)[-1] for r in records}
        assert {"Created", "Sanctioned", "Disbursed", "ServicingOpened", "RepaymentRecorded"} <= kinds, kinds
    first_kinds = {r["type"].rsplit(".", 1)[-1] for r in received if r["aggregate_id"] == str(first)}
    assert {"RepaymentReversed", "DayClosed", "StatusMoved"} <= first_kinds, first_kinds

    # A brand's records carry nothing of the other brand: its id, its loans' ids, customers and loan numbers.
    def marks(brand: UUID, loan_ids: list[UUID]) -> set[str]:
        found = {str(brand)}
        for loan_id in loan_ids:
            loan = loans.get(brand, loan_id)
            found |= {str(loan_id), str(loan.customer_id), str(loan.loan_number)}
        return found

    their_marks, our_marks = marks(theirs.brand_id, [other]), marks(ours.brand_id, [first, second])
    texts = [_text(r) for r in received if r["aggregate_id"] == str(other)]
    assert all(any(m in t for t in texts) for m in their_marks)  # each mark is findable where it belongs
    for record in received:
        text = _text(record)
        foreign = their_marks if record["brand_id"] == str(ours.brand_id) else our_marks
        assert not [m for m in foreign if m in text], (record["type"], [m for m in foreign if m in text])
