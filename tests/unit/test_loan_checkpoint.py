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
from domain.loans.money import MONEY_CEILING
from domain.loans.payments import PaymentAbovePayoff, payoff
from domain.loans.position import LoanPosition, open_position
from domain.loans.replay import Fact, PaymentMade, PaymentReversed, replay
from domain.loans.schedule import build_schedule
from domain.loans.terms import LoanKind, LoanTerms, PenalKind, PenalTerms

D0 = date(2026, 1, 31)


def _opening(rng: random.Random, penal_percent: str = "0.1", scale: int = 1) -> LoanPosition:
    """A generated loan; `scale` times the amounts (thousands of crores reach the money bound at a high rate)."""
    if rng.random() < 0.7:
        terms = LoanTerms(kind=LoanKind.EMI, principal=Decimal("85000.00") * scale, tenure=rng.choice((3, 6, 12)),
                          annual_percent=Decimal(rng.choice(("0", "18", "24", "36"))))  # fmt: skip
    else:
        terms = LoanTerms(kind=LoanKind.PAYDAY, principal=Decimal("20000.00") * scale, tenure=30,
                          daily_percent=Decimal("1"))  # fmt: skip
    penal = PenalTerms(kind=rng.choice((PenalKind.SIMPLE, PenalKind.COMPOUND)), daily_percent=Decimal(penal_percent))
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
    _check_every_checkpoint(seed, rng, _opening(rng))


@pytest.mark.parametrize("seed", range(8))
def test_checkpoints_at_the_money_bound_resume_to_the_replayed_position(seed: int) -> None:
    """Loans whose penal charges reach 99,999,999,999,999.99 owed (50 % a day on ten thousand crores and more):
    resumed from any checkpoint, before or after the charge that reached it, the position is the replayed one,
    and nothing owed passes the bound."""
    rng = random.Random(f"bound-{seed}")
    opening = _opening(rng, penal_percent="50", scale=10**8)
    reached = _check_every_checkpoint(seed, rng, opening)
    assert reached


def _check_every_checkpoint(seed: int, rng: random.Random, opening: LoanPosition) -> bool:
    """Whether some replayed position owed about the money bound (every position resumed was compared)."""
    history = _facts(rng, opening)
    used, reached = 0, False
    for k, (head, head_cob) in enumerate(history):
        taken = replay(opening, head, closed_through=head_cob).position
        stored = decode(opening, encode(taken))  # what the store gives back
        assert stored == taken
        checkpoint = Checkpoint(version=k, facts=len(head), position=stored)
        for facts, cob in history[k:]:
            whole = replay(opening, facts, closed_through=cob).position
            resumed = resume(opening, checkpoint, facts, cob)
            owed = sum((i.unpaid for i in whole.instalments), Decimal(0))
            assert owed <= MONEY_CEILING
            reached = reached or owed > MONEY_CEILING - 50_000  # (at it, less the few small payments since)
            if resumed is not None:
                used += 1
                assert resumed == whole, (seed, k, len(facts))
                day = max(whole.open_day, D0 + timedelta(days=200))
                assert payoff(resumed, day) == payoff(whole, day)
                assert payoff(resumed, day).total <= MONEY_CEILING
    assert used > 0 or len(history) < 2
    return reached


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
