"""Checkpoints of replayed positions (domain/loans/checkpoint.py): resumed from any checkpoint, a position is exactly
the one replayed from the disbursal - or `resume` declines (None) and the caller replays everything.

Generated loans (seeded): EMI and payday, simple and compound penal charges, payments on random dates (late,
partial, ahead, closing), reversals, COB run to random dates; checkpoints taken after every prefix of the facts."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.loans.checkpoint import Checkpoint, decode, encode, resume
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.payments import PaymentAbovePayoff, payoff
from domain.loans.position import LoanPosition, open_position
from domain.loans.replay import Fact, PaymentMade, PaymentReversed, replay
from domain.loans.schedule import build_schedule
from domain.loans.terms import LoanKind, LoanTerms, PenalKind, PenalTerms

D0 = date(2026, 1, 31)


def _opening(rng: random.Random) -> LoanPosition:
    if rng.random() < 0.7:
        terms = LoanTerms(kind=LoanKind.EMI, principal=Decimal("85000.00"), tenure=rng.choice((3, 6, 12)),
                          annual_percent=Decimal(rng.choice(("0", "18", "24", "36"))))  # fmt: skip
    else:
        terms = LoanTerms(kind=LoanKind.PAYDAY, principal=Decimal("20000.00"), tenure=30, daily_percent=Decimal("1"))
    penal = PenalTerms(kind=rng.choice((PenalKind.SIMPLE, PenalKind.COMPOUND)), daily_percent=Decimal("0.1"))
    return open_position(build_schedule(terms, D0, RepaymentCalendar()), penal)


def _facts(rng: random.Random, opening: LoanPosition) -> list[tuple[tuple[Fact, ...], date | None]]:
    """A loan's history: after each recorded fact, the facts so far and how far COB had run."""
    facts: list[Fact] = []
    history: list[tuple[tuple[Fact, ...], date | None]] = []
    day, cob = D0, None
    for n in range(rng.randint(4, 14)):
        day += timedelta(days=rng.randint(0, 20))
        if rng.random() < 0.3:
            cob = max(cob or day, day - timedelta(days=rng.randint(0, 3)))
        paid = [f for f in facts if isinstance(f, PaymentMade)]
        if paid and rng.random() < 0.15:
            fact: Fact = PaymentReversed(rng.choice(paid).payment_id)
        else:
            on = day - timedelta(days=rng.randint(0, 5)) if rng.random() < 0.2 else day  # some back-dated
            amount = Decimal(rng.choice(("500.00", "3000.00", "8037.57", "20000.00", "9999.99")))
            fact = PaymentMade(f"p{n}", amount, max(on, D0))
        try:
            replay(opening, (*facts, fact), closed_through=cob)
        except PaymentAbovePayoff:
            continue  # refused by the aggregate: never recorded
        facts.append(fact)
        history.append((tuple(facts), cob))
    return history


@pytest.mark.parametrize("seed", range(12))
def test_a_position_resumed_from_any_checkpoint_is_the_replayed_one(seed: int) -> None:
    rng = random.Random(seed)
    opening = _opening(rng)
    history = _facts(rng, opening)
    used = 0
    for k, (head, head_cob) in enumerate(history):
        taken = replay(opening, head, closed_through=head_cob).position
        stored = decode(opening, encode(taken))  # what the store gives back
        assert stored == taken
        checkpoint = Checkpoint(version=k, facts=len(head), position=stored)
        for facts, cob in history[k:]:
            whole = replay(opening, facts, closed_through=cob).position
            resumed = resume(opening, checkpoint, facts, cob)
            if resumed is not None:
                used += 1
                assert resumed == whole, (seed, k, len(facts))
                day = max(whole.open_day, D0 + timedelta(days=200))
                assert payoff(resumed, day) == payoff(whole, day)
    assert used > 0 or len(history) < 2


def test_resume_declines_a_reversal_of_a_covered_payment_and_a_payment_dated_before_it() -> None:
    opening = _opening(random.Random(1))
    head = (PaymentMade("a", Decimal("500.00"), D0 + timedelta(days=40)),)
    checkpoint = Checkpoint(1, 1, replay(opening, head, closed_through=D0 + timedelta(days=60)).position)
    assert resume(opening, checkpoint, (*head, PaymentReversed("a")), D0 + timedelta(days=61)) is None
    early = PaymentMade("b", Decimal("500.00"), D0 + timedelta(days=50))
    assert resume(opening, checkpoint, (*head, early), D0 + timedelta(days=61)) is None
    later = PaymentMade("c", Decimal("500.00"), D0 + timedelta(days=70))
    resumed = resume(opening, checkpoint, (*head, later), D0 + timedelta(days=75))
    assert resumed == replay(opening, (*head, later), closed_through=D0 + timedelta(days=75)).position
    # closed further than the whole replay would close: declined
    assert resume(opening, checkpoint, head, D0 + timedelta(days=55)) is None
