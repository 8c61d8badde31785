"""Loading a loan from its newest snapshot plus the events after it (`Loans.from_snapshots`, used by `get`, `find`
and `load_many`) gives exactly the loan a replay of every event gives - every member, of the same types, in the same
order, and the version - at every version of generated loans with every kind of servicing event; a snapshot taken by
other code (another stamp) is ignored; a save from a loan loaded from a snapshot meets the same optimistic check."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.loans import application_servicing, snapshot_stamp
from domain.loans.application import Loans
from domain.loans.checkpoint import Checkpoint
from domain.loans.loan import Loan, LoanNotFound
from domain.loans.position import LoanPosition
from domain.loans.servicing_events import PaymentMode
from domain.loans.states import LoanStatus
from domain.loans.terms import PenalTerms
from domain.shared import snapshot as snapshots
from domain.shared.application import ConcurrentModification, replay
from domain.shared.snapshot import Snapshot
from tests.application.loans.fakes import BRAND, PRODUCT, Catalogue, product_version
from tests.application.loans.servicing_fixtures import MovableParties, disbursed

S = LoanStatus
D0 = date(2026, 1, 31)
EVERY = 7


@dataclass
class Kept:
    """The checkpoints' store in memory: the snapshots and their stamps (adapters/loan_checkpoints.py on
    PostgreSQL)."""

    rows: dict[UUID, dict[int, Checkpoint]] = field(default_factory=dict)

    def latest(self, loan_id: UUID, version: int, opening: LoanPosition) -> Checkpoint | None:
        return None  # positions are replayed whole here: only the snapshots are under test

    def keep(self, loan_id: UUID, checkpoint: Checkpoint) -> None:
        self.rows.setdefault(loan_id, {}).setdefault(checkpoint.version, checkpoint)

    def newest(self, loan_ids: Sequence[UUID], stamp: str, upto: int | None = None) -> dict[UUID, Snapshot]:
        found = {}
        for loan_id in loan_ids:
            usable = [
                c
                for c in self.rows.get(loan_id, {}).values()
                if c.snapshot is not None and c.stamp == stamp and (upto is None or c.version <= upto)
            ]
            if usable:
                c = max(usable, key=lambda c: c.version)
                assert c.snapshot is not None and c.recorded_at is not None
                found[loan_id] = Snapshot(c.version, c.recorded_at, snapshots.decode(c.snapshot))
        return found


@pytest.fixture
def parties() -> MovableParties:
    return MovableParties(today=D0)


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue(products={(BRAND, PRODUCT): product_version(penal=PenalTerms(daily_percent=Decimal("0.5")))})


@pytest.fixture
def kept(loans: Loans, monkeypatch: pytest.MonkeyPatch) -> Kept:
    monkeypatch.setattr(application_servicing, "CHECKPOINT_EVERY", EVERY)
    store = Kept()
    loans.checkpoints = store
    loans.loan_snapshots = store
    return store


def members(loan: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(loan).items() if k != "_pending_events"}


def whole(loans: Loans, loan_id: UUID, version: int | None = None) -> Loan:
    """The loan replayed from its first event (no snapshot)."""
    loan: Loan = loans.repository.get(loan_id, version=version, projector_func=replay)
    return loan


def assert_same(loaded: Loan, replayed: Loan) -> None:
    assert loaded.version == replayed.version
    assert loaded is not replayed
    assert list(members(loaded)) == list(members(replayed))  # the same members in the same order
    for name, value in members(replayed).items():
        assert snapshots.same(members(loaded)[name], value), name
    assert snapshots.same(members(loaded), members(replayed))


def serviced_to_an_end(loans: Loans, parties: MovableParties, rng: random.Random) -> UUID:
    """A loan serviced day by day: COB (overdue, DPD, penal charges), repayments of part of an instalment, on the
    day and back-dated, reversals (of payments a snapshot already covers too), collections approved and rejected,
    waivers approved and rejected, a settlement proposed and rejected; then settled, written off (a recovery after)
    or paid off (completed)."""
    loan_id = disbursed(loans, D0, amount=str(rng.randrange(20_000, 90_000)), tenure=rng.choice([3, 6, 12]))
    day, n, paid = D0, 0, []
    for _ in range(rng.randrange(70, 110)):
        day += timedelta(days=rng.choice([1, 1, 2, 5]))
        parties.today = day
        n += 1
        roll = rng.random()
        payoff = loans.payoff(BRAND, loan_id).total
        if roll < 0.15 and payoff > 10:
            pay = Decimal(rng.randrange(1, int(min(payoff, 4000)))).quantize(Decimal("0.01"))
            back = day - timedelta(days=rng.randint(1, 6)) if rng.random() < 0.3 else None
            _, record = loans.record_repayment(BRAND, loan_id, str(pay), "upi", f"U-{n}", back)
            paid.append(record.payment_id)
        elif roll < 0.2 and paid:
            loans.reverse_repayment(BRAND, loan_id, paid.pop(rng.randrange(len(paid))), "cheque bounced")
        elif roll < 0.25 and payoff > 10:
            pay = Decimal(rng.randrange(1, int(min(payoff, 3000)))).quantize(Decimal("0.01"))
            _, request = loans.request_collection(BRAND, loan_id, str(pay), "cash", f"C-{n}")
            if rng.random() < 0.7:
                loans.approve_collection(BRAND, loan_id, request.request_id)
            else:
                loans.reject_collection(BRAND, loan_id, request.request_id, "not received")
        elif roll < 0.3:
            penal = loans.get(BRAND, loan_id).penal_outstanding(day)
            waive = (penal * Decimal(rng.choice(["0.25", "0.5", "1"]))).quantize(Decimal("0.01"))
            if waive > 0:
                _, waiver = loans.request_waiver(BRAND, loan_id, str(waive), "goodwill waiver")
                if rng.random() < 0.7:
                    loans.approve_waiver(BRAND, loan_id, waiver.waiver_id)
                else:
                    loans.reject_waiver(BRAND, loan_id, waiver.waiver_id, "not this time")
        elif roll < 0.32 and payoff > 100:
            offer = (payoff * Decimal("0.5")).quantize(Decimal("0.01"))
            _, settlement = loans.propose_settlement(BRAND, loan_id, str(offer), "one-time settlement")
            loans.reject_settlement(BRAND, loan_id, settlement.settlement_id, "too low an offer")
        loans.close_business_day(BRAND, loan_id, day)
    day += timedelta(days=1)
    parties.today = day
    end = rng.choice(["settle", "write_off", "complete"])
    if end == "settle":
        offer = (loans.payoff(BRAND, loan_id).total * Decimal("0.6")).quantize(Decimal("0.01"))
        _, settlement = loans.propose_settlement(BRAND, loan_id, str(offer), "one-time settlement")
        loans.approve_settlement(BRAND, loan_id, settlement.settlement_id)
        first = (offer / 3).quantize(Decimal("0.01"))
        loans.record_repayment(BRAND, loan_id, str(first), "neft", "S-1")
        loans.record_repayment(BRAND, loan_id, str(offer - first), "neft", "S-2")
        assert loans.get(BRAND, loan_id).status is S.SETTLED
    elif end == "write_off":
        loans.write_off(BRAND, loan_id, "uncollectable")
        loans.record_repayment(BRAND, loan_id, "100.00", "cash", "R-1")
        assert loans.get(BRAND, loan_id).status is S.WRITTEN_OFF
    else:
        loans.record_repayment(BRAND, loan_id, str(loans.payoff(BRAND, loan_id).total), "neft", "F-1")
        assert loans.get(BRAND, loan_id).status is S.COMPLETED
    return loan_id


@pytest.mark.parametrize("seed", [3, 17, 29, 41])
def test_a_loan_loaded_from_its_snapshot_is_the_whole_replay_at_every_version(
    loans: Loans, parties: MovableParties, kept: Kept, seed: int
) -> None:
    loan_id = serviced_to_an_end(loans, parties, random.Random(f"snap-{seed}"))
    final = whole(loans, loan_id)
    rows = kept.rows[loan_id]
    assert len(rows) >= 5 and all(c.stamp == snapshot_stamp.stamp() for c in rows.values())
    kinds = {type(e).__name__ for e in loans.events.get(loan_id)}
    assert {"Disbursed", "RepaymentRecorded", "RepaymentReversed", "DayClosed", "StatusMoved"} <= kinds, kinds
    assert kinds & {"Settled", "WrittenOff", "RecoveryRecorded", "StatusMoved"}
    first = min(rows)
    from_snapshot = 0
    # Every version: before the first snapshot (the whole replay), on each snapshot, and every tail length after one.
    for version in range(1, final.version + 1):
        loaded = loans.from_snapshots([loan_id], upto=version).get(loan_id)
        if version < first:
            assert loaded is None
            continue
        assert loaded is not None, version  # the snapshot path was taken, not the fallback
        from_snapshot += 1
        assert_same(loaded, whole(loans, loan_id, version))
        assert_same(loans.replayed_at(loan_id, version), whole(loans, loan_id, version))
    assert from_snapshot > final.version // 2
    # The current loan as the use cases and pages load it, one and many at once.
    assert loans.from_snapshots([loan_id]).get(loan_id) is not None
    assert_same(loans.get(BRAND, loan_id), final)
    (many,) = loans.load_many(Loan, [loan_id], BRAND, LoanNotFound)
    assert_same(many, final)
    # Snapshots are of the loan as replayed from its stored events.
    for version, checkpoint in rows.items():
        assert checkpoint.snapshot is not None
        assert_same(snapshots.decode(checkpoint.snapshot), whole(loans, loan_id, version))


def test_a_snapshot_with_another_stamp_is_ignored(
    loans: Loans, parties: MovableParties, kept: Kept, monkeypatch: pytest.MonkeyPatch
) -> None:
    loan_id = serviced_to_an_end(loans, parties, random.Random("stamp"))
    final = whole(loans, loan_id)
    newest = max(kept.rows[loan_id].values(), key=lambda c: c.version)
    assert newest.version < final.version  # a tail to replay after it
    # The newest snapshot replaced by one whose state differs from the events' (an older Loan's shape): taken by
    # other code (another stamp), it is never applied; the one before it is.
    altered = snapshots.decode(newest.snapshot or b"")
    altered.status = S.ONBOARDING
    altered.amount = Decimal("1.00")
    data = snapshots.snapshot_of(altered)
    assert data is not None
    kept.rows[loan_id][newest.version] = Checkpoint(newest.version, newest.facts, newest.position, data,
                                                    newest.recorded_at, "0:taken-by-other-code")  # fmt: skip
    started = loans.from_snapshots([loan_id]).get(loan_id)
    assert started is not None  # from the snapshot before it
    assert_same(started, final)
    assert_same(loans.get(BRAND, loan_id), final)
    (many,) = loans.load_many(Loan, [loan_id], BRAND, LoanNotFound)
    assert_same(many, final)
    # The same row under this code's stamp would be applied (the stamp is what keeps it out).
    kept.rows[loan_id][newest.version] = Checkpoint(newest.version, newest.facts, newest.position, data,
                                                    newest.recorded_at, snapshot_stamp.stamp())  # fmt: skip
    assert loans.get(BRAND, loan_id).amount == Decimal("1.00")
    # Code that cannot stamp (sources unreadable) applies none.
    monkeypatch.setattr(snapshot_stamp, "_computed", [None])
    assert loans.from_snapshots([loan_id]) == {}
    assert_same(loans.get(BRAND, loan_id), final)


def test_the_stamp_moves_with_the_sources_and_the_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    now = snapshot_stamp.compute()
    assert now is not None and now == snapshot_stamp.stamp()
    modules = snapshot_stamp.modules()
    for name in ("domain.loans.loan", "domain.loans.loan_servicing", "domain.loans.servicing_events",
                 "domain.loans.recovery_events", "domain.loans.replay", "domain.shared.snapshot"):  # fmt: skip
        assert name in modules
    monkeypatch.setattr(snapshot_stamp, "LAYOUT", snapshot_stamp.LAYOUT + 1)
    assert snapshot_stamp.compute() != now


def test_a_stale_save_from_a_loan_loaded_from_a_snapshot_is_a_conflict(
    loans: Loans, parties: MovableParties, kept: Kept
) -> None:
    loan_id = disbursed(loans, D0)
    day = D0
    for n in range(2 * EVERY):
        day += timedelta(days=1)
        parties.today = day
        loans.record_repayment(BRAND, loan_id, "100.00", "upi", f"UTR-{n}")
    first = loans.from_snapshots([loan_id]).get(loan_id)
    second = loans.from_snapshots([loan_id]).get(loan_id)
    assert first is not None and second is not None and first is not second
    assert first.version == second.version == whole(loans, loan_id).version
    day += timedelta(days=1)
    parties.today = day
    first.record_repayment("p-first", Decimal("300.00"), PaymentMode.UPI, "UTR-first", day, day)
    assert loans.commit_serviced(first).changed
    second.record_repayment("p-stale", Decimal("500.00"), PaymentMode.UPI, "UTR-stale", day, day)
    with pytest.raises(ConcurrentModification):
        loans.commit_serviced(second)
    assert whole(loans, loan_id).version == first.version
    assert_same(loans.get(BRAND, loan_id), whole(loans, loan_id))
