"""The ledger balances to zero at every end (issue #16 item 7), checked independently over seeded-random loans:
each loan is serviced day by day with COB, random payments, collections approved or rejected and waivers, and ends
settled, written off (then recoveries) or completed. The check adds up the ledger's postings bucket by bucket
(principal, interest, penal, fees) itself - it does not trust the running columns - and asks for zero; it also
checks that the payments, the waivers and the balance taken off add up to what was lent and charged."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.loans.application import Loans
from domain.loans.money import MONEY_CEILING
from domain.loans.servicing_views import ledger
from domain.loans.states import LoanStatus
from domain.loans.terms import PenalKind, PenalTerms
from tests.application.loans.fakes import BRAND, PRODUCT, Catalogue, product_version
from tests.application.loans.servicing_fixtures import MovableParties, disbursed

S = LoanStatus
D0 = date(2026, 1, 31)
ZERO = Decimal("0.00")


@pytest.fixture
def parties() -> MovableParties:
    return MovableParties(today=D0)


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue(products={(BRAND, PRODUCT): product_version(penal=PenalTerms(daily_percent=Decimal("0.5")))})


def _sums(loans: Loans, loan_id: object, as_of: date) -> dict[str, Decimal]:
    totals = {"principal": ZERO, "interest": ZERO, "penal": ZERO, "fees": ZERO}
    by_kind: dict[str, Decimal] = {}
    for post in ledger(loans.get(BRAND, loan_id), as_of):  # type: ignore[arg-type]
        for bucket in totals:
            totals[bucket] += getattr(post, bucket)
        by_kind[post.kind] = by_kind.get(post.kind, ZERO) + post.principal + post.interest + post.penal
    return totals | {f"kind:{k}": v for k, v in by_kind.items()}


@pytest.mark.parametrize("seed", range(12))
def test_generated_loans_end_with_a_balanced_ledger(loans: Loans, parties: MovableParties, seed: int) -> None:
    _serviced_to_an_end(loans, parties, random.Random(seed), (40, 120))


# (seed 3 keeps its 12-month loan paid up: never overdue, nowhere near the bound)
@pytest.mark.parametrize("seed", [s for s in range(10) if s != 3])
def test_loans_at_the_money_bound_end_with_a_balanced_ledger(
    loans: Loans, parties: MovableParties, catalogue: Catalogue, seed: int
) -> None:
    """Compound penal charges at 100 % a day reach 99,999,999,999,999.99 owed within weeks of the first missed
    instalment and stop there: payments, waivers, a settlement (its offer and payments within what an amount may
    be), a write-off or the closing payment of the whole payoff still end with a ledger at zero."""
    penal = PenalTerms(kind=PenalKind.COMPOUND, daily_percent=Decimal("100"))
    catalogue.products[(BRAND, PRODUCT)] = product_version(penal=penal)
    ended = _serviced_to_an_end(loans, parties, random.Random(f"bound-{seed}"), (90, 150))
    # (a payoff counts the current period's interest accrued by days, less than the instalment's interest owed)
    assert MONEY_CEILING - 10**6 < ended["most owed"] <= MONEY_CEILING, ended


def _serviced_to_an_end(
    loans: Loans, parties: MovableParties, rng: random.Random, days: tuple[int, int]
) -> dict[str, Decimal]:
    """A loan serviced day by day for some of `days` (payments, collections, waivers, COB), then settled, written
    off or completed; its ledger checked; the most its payoff was on any day."""
    amount = Decimal(rng.randrange(20_000, 90_000))
    loan_id = disbursed(loans, D0, amount=str(amount), tenure=rng.choice([3, 6, 12]))
    end = rng.choice(["settle", "write_off", "complete"])
    day = D0
    n = 0
    most = ZERO
    for _ in range(rng.randrange(*days)):
        day += timedelta(days=1)
        parties.today = day
        n += 1
        roll = rng.random()
        payoff = loans.payoff(BRAND, loan_id).total
        most = max(most, payoff)
        if roll < 0.04 and payoff > 10:
            pay = Decimal(rng.randrange(1, int(min(payoff, 9000)))).quantize(Decimal("0.01"))
            loans.record_repayment(BRAND, loan_id, str(pay), "upi", f"U-{n}")
        elif roll < 0.07 and payoff > 10:
            pay = Decimal(rng.randrange(1, int(min(payoff, 5000)))).quantize(Decimal("0.01"))
            _, request = loans.request_collection(BRAND, loan_id, str(pay), "cash", f"C-{n}")
            if rng.random() < 0.7:
                loans.approve_collection(BRAND, loan_id, request.request_id)
            else:
                loans.reject_collection(BRAND, loan_id, request.request_id, "not received")
        elif roll < 0.09:
            penal = loans.get(BRAND, loan_id).penal_outstanding(day)
            if penal > 0:
                waive = (penal * Decimal(rng.choice(["0.25", "0.5", "1"]))).quantize(Decimal("0.01"))
                if waive > 0:
                    _, waiver = loans.request_waiver(BRAND, loan_id, str(waive), "goodwill waiver")
                    loans.approve_waiver(BRAND, loan_id, waiver.waiver_id)
        loans.close_business_day(BRAND, loan_id, day)
    day += timedelta(days=1)
    parties.today = day
    loan = loans.get(BRAND, loan_id)
    paid = loan.paid_standing()
    if end == "settle":
        payoff = loans.payoff(BRAND, loan_id).total
        offer = (payoff * Decimal("0.6")).quantize(Decimal("0.01"))
        _, settlement = loans.propose_settlement(BRAND, loan_id, str(offer), "one-time settlement")
        loans.approve_settlement(BRAND, loan_id, settlement.settlement_id)
        first = (offer / 3).quantize(Decimal("0.01"))
        loans.record_repayment(BRAND, loan_id, str(first), "neft", "S-1")
        loans.record_repayment(BRAND, loan_id, str(offer - first), "neft", "S-2")
        assert loans.get(BRAND, loan_id).status is S.SETTLED
    elif end == "write_off":
        loans.write_off(BRAND, loan_id, "uncollectable")
        assert loans.get(BRAND, loan_id).status is S.WRITTEN_OFF
        loans.record_repayment(BRAND, loan_id, "100.00", "cash", "R-1")
    else:
        loans.record_repayment(BRAND, loan_id, str(loans.payoff(BRAND, loan_id).total), "neft", "F-1")
        assert loans.get(BRAND, loan_id).status is S.COMPLETED
    loan = loans.get(BRAND, loan_id)
    sums = _sums(loans, loan_id, day + timedelta(days=30))
    assert (sums["principal"], sums["interest"], sums["penal"], sums["fees"]) == (ZERO, ZERO, ZERO, ZERO), sums
    # what was lent and charged = what was paid + what was waived or taken off
    owed = sums["kind:disbursal"] + sums.get("kind:interest_due", ZERO) + sums.get("kind:penal_charge", ZERO)
    forgiven = -(
        sums.get("kind:waiver", ZERO) + sums.get("kind:settlement_waiver", ZERO) + sums.get("kind:write_off", ZERO)
    )
    repaid = loan.paid_standing()
    assert owed == repaid + forgiven
    assert repaid >= paid
    if loan.ending is not None:
        assert loan.ending.total == -(sums.get("kind:settlement_waiver", ZERO) + sums.get("kind:write_off", ZERO))
    return {"most owed": most}
