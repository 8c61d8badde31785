"""Aggregate snapshots (domain/shared/snapshot.py): a snapshot decodes to exactly the state it was taken from, or is
not taken; the decoder builds only this application's classes. And the auditor's JSON of a state (`jsonable`)
renders many models in one call exactly as one by one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from domain.audit import replay as audit_replay
from domain.audit.replay import jsonable, state_of
from domain.loans.loan_events import AttemptState, PayoutAttempt, PayoutMode
from domain.loans.replay import PaymentMade, PaymentReversed
from domain.loans.servicing_events import AllocationRecord, PaymentMode, PaymentRecord
from domain.shared import snapshot
from domain.shared.snapshot import SnapshotError, decode, encode, same, snapshot_of


@pytest.fixture(autouse=True)
def _test_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "PACKAGES", ("domain.", "tests.unit.test_snapshot:"))


def _payment(n: int, **extra: Any) -> PaymentRecord:
    return PaymentRecord(
        payment_id=f"p{n}", amount=Decimal("100.00") + n, mode=PaymentMode.UPI, reference=f"UTR-{n}",
        paid_on=date(2026, 2, 1) + timedelta(days=n), recorded_on=date(2026, 3, 1),
        allocation=(AllocationRecord(no=1, penal=Decimal("0.10"), interest=Decimal("9.9"), principal=Decimal("90")),),
        **extra,
    )  # fmt: skip


class _Thing:
    """An aggregate-like object: members of every kind a snapshot must give back."""

    def __init__(self) -> None:
        self._id = uuid4()
        self._version = 7
        self._created_on = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
        self._modified_on = datetime(2026, 1, 2, 10, 0, 0, 123456, tzinfo=UTC)
        self._pending_events: list[Any] = ["not state"]
        self.amount = Decimal("1.10")
        self.zero = Decimal("0E-2")
        self.day = date(2028, 2, 29)
        self.status = PaymentMode.CHEQUE
        self.payments = {f"p{n}": _payment(n) for n in range(3)} | {"p9": _payment(9, closes_loan=True)}
        self.facts = (PaymentMade("p1", Decimal("100.00"), date(2026, 2, 2)), PaymentReversed("p1"))
        self.attempts = [PayoutAttempt(attempt=1, mode=PayoutMode.IMPS, gateway_reference="g", amount=Decimal("5"),
                                       state=AttemptState.CONFIRMED)]  # fmt: skip
        self.bypassed = {PaymentMode.UPI, PaymentMode.NEFT}
        self.facts_seen: dict[str, Any] = {
            "score": 712,
            "salary": Decimal("50000.00"),
            "tags": ["a", "b"],
            "none": None,
        }
        self.one = _payment(1)
        self.plain = [1, 2.5, "x", True, None]
        self.offset = datetime(2026, 1, 1, 9, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))

    @property
    def id(self) -> Any:
        return self._id


def test_a_snapshot_decodes_to_exactly_the_state_it_was_taken_from() -> None:
    thing = _Thing()
    data = snapshot_of(thing)
    assert data is not None
    again = decode(data)
    assert type(again) is _Thing and again._pending_events == []
    for name, value in vars(thing).items():
        if name != "_pending_events":
            assert same(value, getattr(again, name)), name
    assert str(again.zero) == "0.00" and again.payments["p9"].closes_loan is True
    assert again.payments["p1"].__pydantic_fields_set__ == thing.payments["p1"].__pydantic_fields_set__
    assert list(again.payments) == list(thing.payments)
    assert state_of(again) == state_of(thing)


def test_same_tells_apart_what_renders_differently() -> None:
    assert not same(Decimal("1.0"), Decimal("1.00"))
    assert not same(PaymentMode.UPI, "upi")
    assert not same((1, 2), [1, 2])
    assert not same({"a": 1, "b": 2}, {"b": 2, "a": 1})  # iteration order is part of the state
    assert not same(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 5, 30, tzinfo=timezone(timedelta(hours=5.5)))
    )
    assert not same(_payment(1), _payment(1, reversed_on=None))  # a field set to its default is not left unset
    assert same(_payment(1), _payment(1))


@dataclass
class _Opaque:
    handle: Any


class _Unknown:
    pass


def test_a_state_that_cannot_be_given_back_is_not_snapshotted() -> None:
    thing = _Thing()
    thing.handle = _Unknown()  # type: ignore[attr-defined]
    assert snapshot_of(thing) is None
    other = _Thing()
    other.opaque = _Opaque(object())  # type: ignore[attr-defined]
    assert snapshot_of(other) is None


def _split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """A snapshot's header (JSON) and its segments."""
    assert data.startswith(snapshot.MAGIC)
    start = len(snapshot.MAGIC) + 10
    end = start + int(data[len(snapshot.MAGIC) : start])
    return json.loads(data[start:end]), data[end:]


def _join(header: dict[str, Any], segments: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return snapshot.MAGIC + b"%010d" % len(raw) + raw + segments


def test_the_decoder_builds_only_this_applications_classes() -> None:
    header, segments = _split(encode(_Thing()))
    header["class"] = "subprocess:Popen"
    with pytest.raises(SnapshotError):
        decode(_join(header, segments))
    header, segments = _split(encode(_Thing()))
    header["members"]["amount"] = {"c": ["os:system", {"command": "true"}]}
    with pytest.raises(SnapshotError):
        decode(_join(header, segments))
    header, segments = _split(encode(_Thing()))
    header["members"]["payments"]["D"][1][0] = ["os:system"]  # a batch's segment named for another class
    with pytest.raises(SnapshotError):
        decode(_join(header, segments))


def test_batches_are_raw_json_segments_decoded_as_the_one_document_snapshots_were() -> None:
    thing = _Thing()
    thing.mixed = [_payment(1), PaymentMade("p2", Decimal("1.50"), date(2026, 2, 3)), _payment(2, closes_loan=True)]  # type: ignore[attr-defined]
    data = snapshot_of(thing)
    assert data is not None
    header, segments = _split(data)
    topics, which, spans = header["members"]["payments"]["D"][1]
    assert topics == ["domain.loans.servicing_events:PaymentRecord"]
    assert which is None and len(spans) == 1  # one class: one segment, no per-value class
    at, length = spans[0]
    assert json.loads(segments[at : at + length])[0]["payment_id"] == "p0"  # the values are not in the header
    assert header["members"]["mixed"]["L"][1] == [0, 1, 0]
    again = decode(data)
    assert same(again.mixed, thing.mixed) and same(again.payments, thing.payments)  # type: ignore[attr-defined]
    # A snapshot taken before segments (one JSON document, dumps inline) decodes to the same state.
    old = json.dumps({"class": header["class"], "members": {k: snapshot._encode(v) for k, v in vars(thing).items()
                                                            if k != "_pending_events"}}).encode()  # fmt: skip
    assert not old.startswith(snapshot.MAGIC)
    before = decode(old)
    for name, value in vars(thing).items():
        if name != "_pending_events":
            assert same(value, getattr(before, name)), name


def test_many_models_render_as_one_by_one() -> None:
    payments = {f"p{n}": _payment(n, reversed_on=date(2026, 5, 1) if n % 2 else None) for n in range(5)}
    assert jsonable(payments) == {k: v.model_dump(mode="json") for k, v in payments.items()}
    assert jsonable(list(payments.values())) == [v.model_dump(mode="json") for v in payments.values()]
    mixed = [_payment(1), AllocationRecord(no=1, penal=Decimal(0), interest=Decimal(1), principal=Decimal(2))]
    assert jsonable(mixed) == [m.model_dump(mode="json") for m in mixed]
    assert audit_replay._models([_payment(1)]) is None  # one alone is dumped by itself
    assert jsonable({uuid4(): 1}) != {}
    assert jsonable(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00+00:00"
    assert jsonable(Decimal("1E+2")) == "1E+2" and jsonable(date(2026, 1, 1)) == "2026-01-01"
    fact = PaymentMade("p1", Decimal("100.00"), date(2026, 2, 2))
    assert jsonable((fact, PaymentReversed("p1"))) == [
        {"payment_id": "p1", "amount": "100.00", "paid_on": "2026-02-02"},
        {"payment_id": "p1"},
    ]
    assert jsonable(_Opaque(handle=PaymentMode.UPI)) == {"handle": "upi"}
