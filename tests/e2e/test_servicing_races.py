"""Loan servicing under concurrency, as an outside tester with threads would probe it: two requests (or a request and
the close of business) released together by a barrier over the API served by uvicorn, many rounds each, and a few
races made deterministic by pausing one side at a known point. After each race: no 5xx, the documented codes, the
event store holds the facts of exactly one serial order (no event lost or twice), and the read models (the loan's
JSON, its repayments and ledger, the COB's run record) agree with the aggregate once settled.

Figures follow LENDING.md for the servicing tests' loan (test_servicing_api): 85,000 over 12 months at 24 % a year,
disbursed 31 Jan 2026, EMI 8,037.57 (interest 1,700.00 and principal 6,337.57 in the first), penal charges 0.1 % a
day simple."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from api.services.disbursals import WEBHOOK_SECRET_ENV
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.test_concurrency_probe import captured
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle
from workers.runtime import scheduler_for

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests: penal charges at 0.1 % a day

ROUNDS = 20
D0 = date(2026, 1, 31)
EMI = Decimal("8037.57")
LATE = date(2026, 3, 20)  # the first instalment (28 Feb) overdue since 1 Mar


# Racing ------------------------------------------------------------------------------------------------------------


def at_once(*sides: Callable[[], Any]) -> list[Any]:
    """Run the sides in threads released together by a barrier; their results in order (an exception re-raised)."""
    barrier = threading.Barrier(len(sides))
    out: list[Any] = [None] * len(sides)
    failed: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            out[i] = sides[i]()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            barrier.abort()
            failed.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sides))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if failed:
        raise failed[0]
    return out


def answered(response: httpx.Response, *codes: int) -> httpx.Response:
    """The answer is one of `codes`; never a 5xx, and a refusal is problem+json."""
    assert response.status_code < 500, f"{response.request.method} {response.request.url}: {response.text}"
    assert response.status_code in codes, (response.status_code, response.text[:400])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response


class Lanes:
    """Keep-alive HTTP clients on the served app, one per racing side."""

    def __init__(self, server: str, n: int = 2) -> None:
        self.server = server
        self.clients = [httpx.Client(base_url=server, timeout=60) for _ in range(n)]

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture
def lanes(server: str) -> Iterator[Lanes]:
    made = Lanes(server)
    yield made
    made.close()


# The loan and its facts --------------------------------------------------------------------------------------------


def history(platform: Any, tenant: Tenant, loan_id: UUID) -> list[str]:
    """The loan's event names, from the event store, in order."""
    return [type(e).__name__ for e in platform.get(Loans).repository.event_store.get(loan_id)]


def shown(server: str, tenant: Tenant, loan_id: UUID) -> dict[str, Any]:
    return dict(httpx.get(f"{server}/api/v1/loans/{loan_id}", headers=tenant.auth).json())


def agrees(server: str, platform: Any, tenant: Tenant, loan_id: UUID) -> dict[str, Any]:
    """Once settled, the loan's JSON, its repayments list and its ledger say what the aggregate says; the JSON."""
    settle(platform, Loans.name)
    loans: Loans = platform.get(Loans)
    loan = loans.get(tenant.brand_id, loan_id)
    page = shown(server, tenant, loan_id)
    assert page["status"] == loan.status.value, (page["status"], loan.status)
    quote = loans.payoff(tenant.brand_id, loan_id)
    assert Decimal(page["outstanding"]["total"]) == quote.total, (page["outstanding"], quote)
    listed = httpx.get(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth).json()["items"]
    assert sorted(r["id"] for r in listed) == sorted([*loan.payments, *loan.recoveries])
    ledger = httpx.get(f"{server}/api/v1/loans/{loan_id}/ledger", headers=tenant.auth).json()["items"]
    posted = [p["payment_id"] for p in ledger if p["kind"] == "payment"]
    assert sorted(posted) == sorted(loan.payments), (posted, list(loan.payments))  # each payment posted once
    undone = [p["payment_id"] for p in ledger if p["kind"] == "reversal"]
    assert sorted(undone) == sorted(i for i, p in loan.payments.items() if p.reversed_on is not None)
    if ledger and loan.ending is None:  # principal and penal agree (interest: accrued by days in the payoff)
        running = ledger[-1]["running"]
        assert (running["principal"], running["penal"]) == (
            page["outstanding"]["principal"],
            page["outstanding"]["penal"],
        ), (running, page)
    return page


def new_tenant(platform: Any, on: date = D0) -> Tenant:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, on)
    return tenant


def pay(client: httpx.Client, tenant: Tenant, loan_id: UUID, amount: Decimal | str, reference: str,
        paid_on: date | None = None) -> httpx.Response:  # fmt: skip
    body: dict[str, Any] = {"amount": str(amount), "mode": "neft", "reference": reference}
    if paid_on is not None:
        body["paid_on"] = paid_on.isoformat()
    return client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=tenant.auth)


# 1, 2: two repayments at once --------------------------------------------------------------------------------------


def test_two_repayments_at_once_with_one_reference_or_past_the_payoff_record_one(
    platform: Any, server: str, lanes: Lanes
) -> None:
    tenant = new_tenant(platform)
    loan_id = disbursed_loan(platform, tenant)
    loans: Loans = platform.get(Loans)
    one, two = lanes.clients
    for n in range(ROUNDS):
        before = history(platform, tenant, loan_id)
        # the same reference twice at once: one 201, the other 409, one payment
        codes = sorted(a.status_code for a in at_once(
            lambda c=one, r=f"SAME-{n}": answered(pay(c, tenant, loan_id, "10.00", r), 201, 409),
            lambda c=two, r=f"SAME-{n}": answered(pay(c, tenant, loan_id, "10.00", r), 201, 409),
        ))  # fmt: skip
        assert codes == [201, 409]
        assert history(platform, tenant, loan_id) == [*before, "RepaymentRecorded"]
        # two payments each within the payoff, past it together: one applied whole, the other refused whole
        payoff = loans.payoff(tenant.brand_id, loan_id).total
        amount = payoff - Decimal("1.00")
        won, lost = sorted(at_once(
            lambda c=one, a=amount, r=f"BIG-{n}-1": answered(pay(c, tenant, loan_id, a, r), 201, 409, 422),
            lambda c=two, a=amount, r=f"BIG-{n}-2": answered(pay(c, tenant, loan_id, a, r), 201, 409, 422),
        ), key=lambda a: a.status_code)  # fmt: skip
        assert won.status_code == 201 and lost.status_code in (409, 422), (won.text, lost.text)
        assert won.json()["payoff_after"] == "1.00"
        assert loans.payoff(tenant.brand_id, loan_id).total == Decimal("1.00")
        assert history(platform, tenant, loan_id) == [*before, "RepaymentRecorded", "RepaymentRecorded"]
        loans.reverse_repayment(tenant.brand_id, loan_id, won.json()["id"], "test: the big one undone")
    page = agrees(server, platform, tenant, loan_id)
    assert Decimal(page["outstanding"]["total"]) == Decimal("85000.00") - 10 * ROUNDS  # the small ones stand


# 3: a repayment and the close of business of its date --------------------------------------------------------------

MAR1, MAR2 = date(2026, 3, 1), date(2026, 3, 2)
# On 2 Mar, after COB closed 1 Mar, by LENDING.md (opening of the 2nd period 85,000 - 6,337.57 = 78,662.43; its
# interest accrued for 2 of 31 days: round(78,662.43 x 0.02 x 2 / 31) = 101.50):
#  - the EMI paid on 1 Mar, then the close: nothing overdue, nothing charged - active, DPD 0,
#    payoff 78,662.43 + 101.50 = 78,763.93;
#  - the close first (penal round(8,037.57 x 0.1 %) = 8.04, DPD 1, overdue), the EMI paid on 2 Mar: it pays 8.04 of
#    penal, 1,700.00 interest and 6,329.53 principal, 8.04 of the instalment's principal still overdue - overdue,
#    DPD 2, payoff 8.04 + 78,662.43 + 101.50 = 78,771.97.
PAID_FIRST = {"status": "active", "dpd": 0, "total": Decimal("78763.93"), "penal": Decimal("0.00")}
CLOSED_FIRST = {"status": "overdue", "dpd": 2, "total": Decimal("78771.97"), "penal": Decimal("0.00")}


def run_cob(server: str, platform: Any, tenant: Tenant, as_of: date) -> dict[str, Any]:
    """Run the `loan-cob` job as of `as_of` (started through the jobs API, executed here); its run."""
    accepted = httpx.post(f"{server}/api/v1/jobs/loan-cob/runs", json={"as_of": as_of.isoformat()},
                          headers=tenant.auth)  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, "jobs")
    return dict(httpx.get(f"{server}/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())


def closed_as_recorded(server: str, platform: Any, tenant: Tenant, loan_id: UUID, day: date) -> dict[str, Any]:
    """The COB's run record of `day` says what the loan's events say was closed that day; the record."""
    days = httpx.get(f"{server}/api/v1/loan-cob/days", headers=tenant.auth).json()["items"]
    record = next(d for d in days if d["business_date"] == day.isoformat())
    events = list(platform.get(Loans).repository.event_store.get(loan_id))
    closes = [e for e in events if type(e).__name__ == "DayClosed" and e.business_date == day]
    moves = [e for e in events if type(e).__name__ == "StatusMoved" and e.status_moved_on == day]
    assert record["state"] == "done" and record["closed"] == len(closes), (record, closes)
    assert Decimal(record["penal_charged"]) == sum((e.penal_charged for e in closes), Decimal(0)), record
    assert sum(record["transitions"].values()) == len(moves), (record, moves)
    return record


def serial_state(server: str, platform: Any, tenant: Tenant, loan_id: UUID) -> dict[str, Any]:
    page = agrees(server, platform, tenant, loan_id)
    return {"status": page["status"], "dpd": page["dpd"], "total": Decimal(page["outstanding"]["total"]),
            "penal": Decimal(page["outstanding"]["penal"])}  # fmt: skip


def test_a_repayment_racing_the_close_of_business_ends_as_one_of_the_two_orders(
    platform: Any, server: str, lanes: Lanes
) -> None:
    seen = []
    for n in range(ROUNDS):
        tenant = new_tenant(platform)
        loan_id = disbursed_loan(platform, tenant)
        set_business_date(platform, tenant, MAR1)  # the first EMI (28 Feb) overdue today
        client = lanes.clients[0]

        def paying(c: httpx.Client = client, t: Tenant = tenant, i: UUID = loan_id, wait: float = 0.015 * n) -> Any:
            time.sleep(wait)  # the payment sent later each round, to meet the run before, during and after its close
            return answered(pay(c, t, i, EMI, f"EMI-{i}"), 201, 409)

        run, paid = at_once(lambda t=tenant: run_cob(server, platform, t, MAR1), paying)
        assert run["status"] == "succeeded", run
        assert platform.get(Identity).business_date(tenant.brand_id) == MAR2
        if paid.status_code == 409:  # lost to the close on each of its tries (SERVICING_ATTEMPTS): sent again
            seen.append("409")
            paid = answered(pay(client, tenant, loan_id, EMI, f"EMI-{loan_id}"), 201)
        events = history(platform, tenant, loan_id)
        assert events.count("RepaymentRecorded") == 1 and events.count("DayClosed") <= 1
        state = serial_state(server, platform, tenant, loan_id)
        assert state in (PAID_FIRST, CLOSED_FIRST), (state, events)
        if state == CLOSED_FIRST:
            assert paid.json()["paid_on"] == MAR2.isoformat() and "DayClosed" in events
        closed_as_recorded(server, platform, tenant, loan_id, MAR1)
        seen.append(state["status"])
    print("payment vs COB outcomes:", seen)


def test_a_repayment_saved_while_the_close_of_business_closes_its_loan_is_counted_once_by_the_close(
    platform: Any, server: str, lanes: Lanes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Deterministic: the COB loads the loan, the EMI is paid (1 Mar) before the COB saves; the COB's save of its
    # close is refused and it closes the loan again from its new version: nothing overdue, nothing to record.
    tenant = new_tenant(platform)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, MAR1)
    loans: Loans = platform.get(Loans)
    load_many = loans.load_many
    paid: list[httpx.Response] = []

    def loaded_then_paid(*args: Any, **kwargs: Any) -> Any:
        found = load_many(*args, **kwargs)
        if not paid:
            paid.append(answered(pay(lanes.clients[0], tenant, loan_id, EMI, "EMI-PAUSED"), 201))
        return found

    monkeypatch.setattr(loans, "load_many", loaded_then_paid)
    run = run_cob(server, platform, tenant, MAR1)
    monkeypatch.undo()
    assert run["status"] == "succeeded", run
    assert paid and paid[0].json()["paid_on"] == MAR1.isoformat()
    assert "DayClosed" not in history(platform, tenant, loan_id)
    assert serial_state(server, platform, tenant, loan_id) == PAID_FIRST
    record = closed_as_recorded(server, platform, tenant, loan_id, MAR1)
    assert record["transitions"] == {} and Decimal(record["penal_charged"]) == 0


# 4: a back-dated repayment racing another --------------------------------------------------------------------------


def applied(platform: Any, tenant: Tenant, loan_id: UUID) -> list[tuple[Any, ...]]:
    """The loan's standing payments as its replay applies them: amount, date, allocation (ids left out)."""
    loan = platform.get(Loans).get(tenant.brand_id, loan_id)
    by_id = dict(loan.replayed().allocations)
    return [(p.amount, p.paid_on, by_id[i].lines) for i, p in loan.payments.items() if p.reversed_on is None]


def test_a_back_dated_repayment_racing_another_leaves_the_serial_figures(
    platform: Any, server: str, lanes: Lanes
) -> None:
    tenant = new_tenant(platform)
    raced, twin = disbursed_loan(platform, tenant), disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, LATE)  # overdue since 1 Mar: penal charges, DPD 20
    loans: Loans = platform.get(Loans)
    one, two = lanes.clients
    for n in range(ROUNDS):
        back = date(2026, 3, 1 + n % 19)  # 1..19 Mar: before the other payment, re-allocating what came after
        answers = at_once(
            lambda c=one, r=f"BACK-{n}", d=back: answered(pay(c, tenant, raced, "300.00", r, d), 201, 409),
            lambda c=two, r=f"NOW-{n}": answered(pay(c, tenant, raced, "200.00", r), 201, 409),
        )
        assert any(a.status_code == 201 for a in answers), [a.text for a in answers]
        # the twin gets the payments that were recorded, one after the other, in the order they were recorded
        recorded = sorted((a for a in answers if a.status_code == 201), key=lambda a: history_index(
            platform, tenant, raced, a.json()["id"]))  # fmt: skip
        for a in recorded:
            body = a.json()
            loans.record_repayment(tenant.brand_id, twin, body["amount"], "neft", body["reference"],
                                   date.fromisoformat(body["paid_on"]))  # fmt: skip
        assert applied(platform, tenant, raced) == applied(platform, tenant, twin)
        assert loans.payoff(tenant.brand_id, raced) == loans.payoff(tenant.brand_id, twin)
        assert history(platform, tenant, raced) == history(platform, tenant, twin)
    for loan_id in (raced, twin):
        agrees(server, platform, tenant, loan_id)
    assert shown(server, tenant, raced)["dpd"] == shown(server, tenant, twin)["dpd"]


def history_index(platform: Any, tenant: Tenant, loan_id: UUID, payment_id: str) -> int:
    events = list(platform.get(Loans).repository.event_store.get(loan_id))
    return next(i for i, e in enumerate(events) if getattr(getattr(e, "payment", None), "payment_id", None) ==
                payment_id)  # fmt: skip


# 5: one request decided by two approvers at once -------------------------------------------------------------------

PASSWORD = "two-pairs-of-eyes-26"


class StaffSession:
    """A staff member signed in to the served app: the API through the session cookie and its CSRF header."""

    def __init__(self, server: str, platform: Any, tenant: Tenant, role: str) -> None:
        email = f"{role}-{uuid.uuid4().hex[:8]}@lender.in"
        platform.get(Identity).create_staff(tenant.brand_id, email, f"Staff {role}", [role], PASSWORD,
                                            granter=OPERATOR)  # fmt: skip
        settle(platform, "identity")
        self.client = httpx.Client(base_url=server, timeout=60, follow_redirects=False)
        assert self.client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
        token = re.search(r'<meta name="csrf-token" content="([^"]+)">', self.client.get("/dashboard").text)
        assert token is not None
        self.csrf = token.group(1)

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.client.post(f"/api/v1{path}", json=body, headers={"X-CSRF-Token": self.csrf})


@pytest.fixture
def approvers(server: str, platform: Any) -> Iterator[tuple[Tenant, StaffSession, StaffSession]]:
    tenant = new_tenant(platform)
    first, second = (StaffSession(server, platform, tenant, "collection_head") for _ in range(2))
    yield tenant, first, second
    first.client.close()
    second.client.close()


def overdue_loan(platform: Any, tenant: Tenant) -> UUID:
    """A loan disbursed on 31 Jan, the brand's business date set to LATE (its first EMI overdue since 1 Mar)."""
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, LATE)
    return loan_id


def decided_once(first: StaffSession, second: StaffSession, path: str) -> httpx.Response:
    """Two approvers approve `path` at once: one 200, the other 409; the approval."""
    answers = at_once(lambda: answered(first.post(f"{path}/approve"), 200, 409),
                      lambda: answered(second.post(f"{path}/approve"), 200, 409))  # fmt: skip
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    return next(a for a in answers if a.status_code == 200)


def test_a_request_approved_by_two_approvers_at_once_is_approved_once(
    platform: Any, server: str, approvers: tuple[Tenant, StaffSession, StaffSession]
) -> None:
    tenant, first, second = approvers
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    loan_id = overdue_loan(platform, tenant)
    for n in range(ROUNDS):
        waiver = loans.request_waiver(brand, loan_id, "0.10", "goodwill")[1].waiver_id
        request = loans.request_collection(brand, loan_id, "1.00", "cash", f"RCPT-{n}")[1].request_id
        settle(platform, Loans.name)  # the decisions find each request through its read model
        before = history(platform, tenant, loan_id)
        decided_once(first, second, f"/waivers/{waiver}")
        decided_once(first, second, f"/collection-requests/{request}")
        assert history(platform, tenant, loan_id) == [*before, "WaiverApproved", "RepaymentRecorded",
                                                      "CollectionApproved"]  # fmt: skip
    loan = loans.get(brand, loan_id)
    assert len(loan.payments) == ROUNDS and sum(p.amount for p in loan.payments.values()) == ROUNDS
    agrees(server, platform, tenant, loan_id)
    for _ in range(ROUNDS // 2):  # a settlement: one open a loan, so a loan each
        loan_id = overdue_loan(platform, tenant)
        result, proposed = loans.propose_settlement(brand, loan_id, "60000.00", "one-time settlement")
        settle(platform, Loans.name, result.position)
        decided_once(first, second, f"/settlements/{proposed.settlement_id}")
        assert history(platform, tenant, loan_id).count("SettlementApproved") == 1
        agrees(server, platform, tenant, loan_id)


# 6: a repayment racing a settlement's approval or a write-off ------------------------------------------------------


def ledger_at_zero(server: str, tenant: Tenant, loan_id: UUID) -> None:
    items = httpx.get(f"{server}/api/v1/loans/{loan_id}/ledger", headers=tenant.auth).json()["items"]
    for bucket in ("principal", "interest", "penal", "fees"):
        assert sum(Decimal(p[bucket]) for p in items) == 0, (bucket, items[-3:])


def test_a_repayment_racing_a_settlements_approval_or_a_write_off_is_taken_in_one_order(
    platform: Any, server: str, lanes: Lanes
) -> None:
    tenant = new_tenant(platform)
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    one, two = lanes.clients
    outcomes = []
    for n in range(ROUNDS // 2):
        loan_id = overdue_loan(platform, tenant)
        result, proposed = loans.propose_settlement(brand, loan_id, "60000.00", "one-time settlement")
        settle(platform, Loans.name, result.position)
        paid, approved = at_once(
            lambda c=one, i=loan_id, r=f"S-{n}": answered(pay(c, tenant, i, "100.00", r), 201, 409, 422),
            lambda c=two, s=proposed.settlement_id: answered(
                c.post(f"/api/v1/settlements/{s}/approve", headers=tenant.auth), 200, 409),
        )  # fmt: skip
        assert paid.status_code == 201 or approved.status_code == 200, (paid.text, approved.text)
        events = history(platform, tenant, loan_id)
        loan = loans.get(brand, loan_id)
        settlement = loan.settlements[proposed.settlement_id]
        if approved.status_code == 200:
            # the payment counts toward the settlement exactly when it was recorded after the approval
            paid_first = "RepaymentRecorded" in events and events.index("RepaymentRecorded") < events.index(
                "SettlementApproved")  # fmt: skip
            assert settlement.paid_before == (Decimal("100.00") if paid_first else Decimal(0)), (events, settlement)
            left = Decimal("60000.00") - (Decimal("100.00") if paid.status_code == 201 and not paid_first else 0)
            assert loans.owing(brand, loan_id, LATE).amount == left
            outcomes.append("paid-then-approved" if paid_first else "approved-then-paid")
        assert events.count("RepaymentRecorded") == (paid.status_code == 201)
        agrees(server, platform, tenant, loan_id)
    for n in range(ROUNDS // 2):
        loan_id = overdue_loan(platform, tenant)
        paid, written = at_once(
            lambda c=one, i=loan_id, r=f"W-{n}": answered(pay(c, tenant, i, "100.00", r), 201, 409),
            lambda c=two, i=loan_id: answered(
                c.post(f"/api/v1/loans/{i}/write-off", json={"reason": "borrower unreachable"}, headers=tenant.auth),
                200, 201, 409),
        )  # fmt: skip
        events = history(platform, tenant, loan_id)
        if written.status_code >= 300:  # the write-off loaded the loan before the payment saved: sent again
            assert events[-1] == "RepaymentRecorded"
            written = answered(httpx.post(f"{server}/api/v1/loans/{loan_id}/write-off",
                                          json={"reason": "borrower unreachable"}, headers=tenant.auth), 200, 201)  # fmt: skip
            events = history(platform, tenant, loan_id)
        assert events.count("WrittenOff") == 1
        if paid.status_code == 201:
            # before the write-off a repayment; after it a recovery
            kind = "RepaymentRecorded" if "RepaymentRecorded" in events else "RecoveryRecorded"
            assert (kind == "RepaymentRecorded") == (events.index(kind) < events.index("WrittenOff")), events
            outcomes.append(kind)
        loan = loans.get(brand, loan_id)
        assert len(loan.payments) + len(loan.recoveries) == (paid.status_code == 201)
        agrees(server, platform, tenant, loan_id)
        ledger_at_zero(server, tenant, loan_id)
    print("payment vs settlement / write-off:", outcomes)


# 7: one capture delivered twice at once ----------------------------------------------------------------------------


def test_one_capture_delivered_at_once_under_two_event_ids_is_one_payment(
    platform: Any, server: str, lanes: Lanes, provider_simulators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    tenant = new_tenant(platform)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 28))  # the first instalment due
    one, two = lanes.clients
    for n in range(ROUNDS):
        link = httpx.post(f"{server}/api/v1/loans/{loan_id}/payment-links", json={"amount": "100.00"},
                          headers=tenant.auth)  # fmt: skip
        assert link.status_code == 201, link.text
        order = link.json()["order_id"]
        first, second = captured(order, f"evt-{order}-a"), captured(order, f"evt-{order}-b")
        answers = at_once(
            lambda c=one, d=first: answered(c.post(d.path, content=d.content, headers=d.headers), 200, 409),
            lambda c=two, d=second: answered(c.post(d.path, content=d.content, headers=d.headers), 200, 409),
        )
        outcomes = sorted(a.json()["status"] if a.status_code == 200 else str(a.status_code) for a in answers)
        assert outcomes in (["duplicate", "processed"], ["409", "processed"]), outcomes
        loan = platform.get(Loans).get(tenant.brand_id, loan_id)
        assert [p.reference for p in loan.payments.values()].count(order) == 1 and len(loan.payments) == n + 1
    agrees(server, platform, tenant, loan_id)
    links = httpx.get(f"{server}/api/v1/loans/{loan_id}/payment-links", headers=tenant.auth).json()["items"]
    assert [link["state"] for link in links] == ["paid"] * ROUNDS
