"""Concurrency probe of the loan lifecycle through the API served by uvicorn: the same command (or commands that
exclude each other) fired at once from several threads, one keep-alive HTTP client each, lined up on a barrier, and
repeated for some rounds since races are probabilistic. Checked after each race: a refusal is a 409 (or the 4xx the
docs name) as problem+json, never a 5xx, and never two successes where the rules allow one; nothing half-written
(no orphan record, no event twice); the read models agree with the aggregates once settled.

Races that found a defect (each fixed in its own commit): a CX's reject landing on a loan CX-approved meanwhile;
two applications or reactivations of one borrower past `max_active_loans`; two applications taking a coupon's last
use, and a reactivation taking it back; a re-loan offer accepted twice (or declined as it was accepted) leaving an
application behind; two reallocations of one loan recording moves from an assignee it no longer had; two mandates
registered on one loan. The rest stay as guards.

Loans reach each state through the Loans application (their own tests cover the steps), priced by a real product
of the products context made through the API."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.webhooks import sign
from api.services.disbursals import WEBHOOK_SECRET_ENV, VerifiedAccounts
from domain.collections.application import Collections
from domain.collections.case import PromiseTally, Stage
from domain.collections.moves import Move
from domain.customers.application import Customers
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.loans.loan_events import Transitioned
from domain.loans.states import LoanStatus
from domain.providers.messaging import Beneficiary
from domain.reloans.application import ReloanOffers
from domain.shared.errors import InvalidInput
from projections.loan_queries import LoanQueries
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.racing import Call, Racer, race_fixture  # noqa: F401 (the `race` fixture)
from tests.support import mobile, settle

#: Rounds of each race: enough for a check-then-act window to be met (each defect above showed in the first few).
ROUNDS = 6
D0 = date(2026, 1, 31)
LATE = date(2026, 3, 20)  # the first instalment (28 Feb) overdue: penal charges to waive
PRODUCT = {
    "name": "Personal loan",
    "type": "emi",
    "min_amount": "10000",
    "max_amount": "200000",
    "min_tenure": 3,
    "max_tenure": 24,
    "annual_percent": "24",
    "processing_fee": {"kind": "percent", "value": "2"},
    "penal": {"kind": "simple", "daily_percent": "0.1"},
}


# Racing ------------------------------------------------------------------------------------------------------------


def ok(answer: httpx.Response) -> bool:
    return answer.status_code < 300


def one_wins(answers: Sequence[httpx.Response], refused: Sequence[int] = (409,)) -> httpx.Response:
    """Exactly one answer is a success; every other is one of `refused`. Returns the success."""
    codes = [a.status_code for a in answers]
    won = [a for a in answers if ok(a)]
    assert len(won) == 1, f"{codes}: {[a.text[:300] for a in answers]}"
    assert all(a.status_code in refused for a in answers if not ok(a)), [a.text[:300] for a in answers]
    return won[0]


# Set-up through the applications -----------------------------------------------------------------------------------


def set_business_date(platform: Any, tenant: Tenant, day: date) -> None:
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"business_date": day})
    settle(platform, "identity", result.position)


def make_product(server: str, tenant: Tenant, **changes: Any) -> UUID:
    code = "P" + uuid.uuid4().hex[:8].upper()
    made = httpx.post(f"{server}/api/v1/loan-products", json={**PRODUCT, "code": code, **changes},
                      headers=tenant.auth)  # fmt: skip
    assert made.status_code == 201, made.text
    return UUID(made.json()["id"])


def borrower(platform: Any, tenant: Tenant) -> UUID:
    made = platform.get(Customers).register(
        tenant.brand_id, name="Meera Iyer", phone=mobile("98"), date_of_birth=date(1990, 1, 15),
        addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
    )  # fmt: skip
    return UUID(str(made.id))


def pending_loan(platform: Any, tenant: Tenant, product: UUID, customer: UUID | None = None) -> UUID:
    loans: Loans = platform.get(Loans)
    loan_id = loans.create(tenant.brand_id, customer or borrower(platform, tenant), product, "100000", 12).id
    loans.submit(tenant.brand_id, loan_id)
    return loan_id


def cx_approved_loan(platform: Any, tenant: Tenant, product: UUID) -> UUID:
    loan_id = pending_loan(platform, tenant, product)
    platform.get(Loans).cx_approve(tenant.brand_id, loan_id, "90000", "salary supports 90k")
    return loan_id


def disbursed_loan(platform: Any, tenant: Tenant, product: UUID) -> UUID:
    """A loan of 85,000 (12 months, 24 %) disbursed on D0 (the brand's business date then)."""
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    loan_id = cx_approved_loan(platform, tenant, product)
    loans.sanction(brand, loan_id, "85000", "FOIR at the limit")
    now = datetime.now(UTC)
    loans.issue_agreement(brand, loan_id, "ab" * 32, "a.pdf", "es-1", "https://esign/1", now + timedelta(days=2))
    loans.sign(brand, loan_id, "prov-1", now)
    loans.ready_for_disbursal(brand, loan_id, "acct-1")
    loans.initiate_disbursal(brand, loan_id, "IMPS", f"gw-{loan_id}")
    result = loans.confirm_disbursal(brand, loan_id, f"gw-{loan_id}", D0)
    settle(platform, Loans.name, result.position)
    return loan_id


def agrees(server: str, platform: Any, tenant: Tenant, *loan_ids: UUID) -> dict[str, Any]:
    """Each loan's read model, once settled, shows what its aggregate says (status, and the payoff once serviced);
    the last one's as shown."""
    settle(platform, Loans.name)
    today = platform.get(Identity).business_date(tenant.brand_id)
    shown: dict[str, Any] = {}
    for loan_id in loan_ids:
        loan = platform.get(Loans).get(tenant.brand_id, loan_id)
        shown = httpx.get(f"{server}/api/v1/loans/{loan_id}", headers=tenant.auth).json()
        assert shown["status"] == loan.status.value, (shown["status"], loan.status)
        if loan.servicing_open:
            payoff = platform.get(Loans).payoff(tenant.brand_id, loan_id, today).total
            assert payoff >= 0 and Decimal(shown["outstanding"]["total"]) == payoff, (shown["outstanding"], payoff)
    return shown


def history(platform: Any, tenant: Tenant, loan_id: UUID) -> list[str]:
    """The loan's event names, from the event store."""
    return [type(e).__name__ for e in platform.get(Loans).repository.event_store.get(loan_id)]


# Servicing ---------------------------------------------------------------------------------------------------------


def test_repayments_and_reversals_racing_on_one_loan_are_recorded_once(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant, make_product(server, tenant))
    url = f"/api/v1/loans/{loan_id}"
    payoff = Decimal(httpx.get(f"{server}{url}/payoff", headers=tenant.auth).json()["total"])
    for n in range(ROUNDS):
        # two repayments, each within the payoff, above it together: one is recorded, the other refused
        big = str(payoff - 100 * n - Decimal("1000.00"))  # each round's last repayment below stands
        calls = [Call("POST", f"{url}/repayments", {"amount": big, "mode": "neft", "reference": f"UTR-{n}-{i}"})
                 for i in range(2)]  # fmt: skip
        won = one_wins(race(tenant, calls), refused=(409, 422))
        assert won.status_code == 201 and won.json()["payoff_after"] == "1000.00", won.text
        # the same repayment reversed three times at once: reversed once, the payoff whole again
        reverse = Call("POST", f"{url}/repayments/{won.json()['id']}/reverse", {"reason": "cheque bounced"})
        assert one_wins(race(tenant, [reverse] * 3)).json()["reversed_on"] == D0.isoformat()
        # one reference sent three times at once: recorded once
        same = {"amount": "100.00", "mode": "upi", "reference": f"UTR-SAME-{n}"}
        assert one_wins(race(tenant, [Call("POST", f"{url}/repayments", same)] * 3)).status_code == 201
        events = history(platform, tenant, loan_id)
        assert (events.count("RepaymentRecorded"), events.count("RepaymentReversed")) == (2 * (n + 1), n + 1)
    shown = agrees(server, platform, tenant, loan_id)
    assert Decimal(shown["outstanding"]["total"]) == payoff - 100 * ROUNDS
    listed = httpx.get(f"{server}{url}/repayments", headers=tenant.auth).json()["items"]
    assert sum(1 for r in listed if r["reversed_on"] is None) == ROUNDS


# The credit decision -----------------------------------------------------------------------------------------------


def transitions(platform: Any, tenant: Tenant, loan_id: UUID) -> int:
    """How many status changes the loan's events record (each decision command makes exactly one)."""
    return sum(isinstance(e, Transitioned) for e in platform.get(Loans).repository.event_store.get(loan_id))


def key(platform: Any, tenant: Tenant, role: str) -> dict[str, str]:
    issued = platform.get(Identity).issue_api_key(tenant.brand_id, role, f"{role} key", granter=OPERATOR)
    settle(platform, "identity", issued.position)
    return {"Authorization": f"Bearer {issued.secret}"}


def test_credit_decisions_racing_on_one_application_take_one(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    product = make_product(server, tenant)
    loans: Loans = platform.get(Loans)
    executive = key(platform, tenant, "credit_executive")  # rejects pending applications only (no SANCTION_MANAGER)
    reject = {"reason_code": "LOW_SALARY", "remarks": "salary below the policy"}
    cx_approve = {"approved_amount": "90000", "remarks": "salary supports 90k"}
    sanction = {"sanctioned_amount": "85000", "remarks": "FOIR at the limit"}
    decided = []
    for _ in range(ROUNDS):
        loan_id = loans.create(tenant.brand_id, borrower(platform, tenant), product, "100000", 12).id
        url = f"/api/v1/loans/{loan_id}"
        approve, refuse = (
            Call("POST", f"{url}/cx-approve", cx_approve),
            Call("POST", f"{url}/reject", reject, executive),
        )
        back = Call("POST", f"{url}/send-back", {"to": "cx", "reason": "recheck salary"})
        steps: list[tuple[list[Call], tuple[str, ...]]] = [
            ([Call("POST", f"{url}/submit")] * 3, ("pending",)),
            # two CXs approve while two others reject: whichever lands first decides; a CX's reject never lands on
            # the CX-approved loan (that is the Sanction Manager's decision: 403)
            ([approve, refuse] * 2, ("cx_approved", "rejected")),
            # the SM sanctions twice and sends back at once
            ([Call("POST", f"{url}/sanction", sanction)] * 2 + [back], ("sm_approved", "pending")),
        ]
        for calls, outcomes in steps:
            before = transitions(platform, tenant, loan_id)
            won = one_wins(race(tenant, calls), refused=(403, 409))
            assert won.json()["status"] in outcomes, won.text
            assert transitions(platform, tenant, loan_id) == before + 1
            if won.json()["status"] == "rejected":
                *_, rejected = platform.get(Loans).repository.event_store.get(loan_id)
                assert rejected.previous_status == "pending"  # the CX's, before any approval
                break
        decided.append(loan_id)
    agrees(server, platform, tenant, *decided)


# Money in and out through providers -------------------------------------------------------------------------------


def test_a_payout_pressed_at_once_is_initiated_once(
    platform: Any, server: str, race: Racer, provider_simulators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(VerifiedAccounts, "beneficiary", lambda *_: Beneficiary("Meera Iyer", "50100012345678",
                                                                                "HDFC0001234"))  # fmt: skip
    tenant = make_tenant(platform)
    product = make_product(server, tenant)
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    for _ in range(ROUNDS // 2):
        loan_id = cx_approved_loan(platform, tenant, product)
        loans.sanction(brand, loan_id, "85000", "FOIR at the limit")
        now = datetime.now(UTC)
        loans.issue_agreement(brand, loan_id, "ab" * 32, "a.pdf", "es-1", "https://esign/1", now + timedelta(days=2))
        loans.sign(brand, loan_id, "prov-1", now)
        settle(platform, Loans.name, loans.ready_for_disbursal(brand, loan_id, "acct-1").position)
        calls = [Call("POST", f"/api/v1/loans/{loan_id}/disburse", {"mode": mode}) for mode in ("IMPS", "NEFT", "UPI")]
        assert one_wins(race(tenant, calls)).status_code == 202
        loan = loans.get(brand, loan_id)
        assert len(loan.attempts) == 1 and loan.status is LoanStatus.AWAITING_DISBURSAL
        sent = [p for p in provider_simulators["gateway"].payouts() if p["reference"] == loan.loan_number]
        assert len(sent) == 1  # one payout at the gateway: every press carried the attempt's idempotency key


def captured(order: str, event_id: str) -> Call:
    """The gateway's signed `payment.captured` of 100.00 for the payment link's order."""
    body = json.dumps({"id": event_id, "type": "payment.captured", "created_at": datetime.now(UTC).isoformat(),
                       "data": {"order_id": order, "amount": "100.00"}}).encode()  # fmt: skip
    headers = {**sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())), "Content-Type": "application/json"}
    return Call("POST", "/api/v1/webhooks/payments", headers=headers, content=body)


def test_a_payment_delivered_at_once_under_one_or_several_event_ids_is_recorded_once(
    platform: Any, server: str, race: Racer, provider_simulators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant, make_product(server, tenant))
    set_business_date(platform, tenant, date(2026, 2, 28))  # the first instalment due
    for n in range(ROUNDS // 2):
        link = httpx.post(f"{server}/api/v1/loans/{loan_id}/payment-links", json={"amount": "100.00"},
                          headers=tenant.auth)  # fmt: skip
        assert link.status_code == 201, link.text
        order = link.json()["order_id"]
        # the gateway's delivery twice at once, and two redeliveries under event ids of their own
        calls = [captured(order, f"evt-{order}")] * 2 + [captured(order, f"evt-{order}-{i}") for i in range(2)]
        outcomes = [a.json()["status"] if ok(a) else a.status_code for a in race(tenant, calls)]
        assert outcomes.count("processed") == 1 and set(outcomes) <= {"processed", "duplicate", 409}, outcomes
        paid = httpx.get(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth).json()["items"]
        assert [p["reference"] for p in paid].count(order) == 1 and len(paid) == n + 1
    agrees(server, platform, tenant, loan_id)


def test_a_mandate_registered_twice_at_once_leaves_one_live_mandate(
    platform: Any, server: str, race: Racer, provider_simulators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    product = make_product(server, tenant)
    for _ in range(ROUNDS // 2):
        loan_id = disbursed_loan(platform, tenant, product)
        url = f"/api/v1/loans/{loan_id}/mandates"
        body = {"vpa": "meera@okbank", "max_amount": "10000.00", "frequency": "monthly"}
        assert one_wins(race(tenant, [Call("POST", url, body)] * 3)).status_code == 201
        listed = httpx.get(f"{server}{url}", headers=tenant.auth).json()["items"]
        assert [m["state"] for m in listed] == ["registered"], listed  # one registered or active mandate a loan


# Collection money --------------------------------------------------------------------------------------------------


def overdue_loan(platform: Any, server: str, tenant: Tenant, product: UUID) -> UUID:
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant, product)
    set_business_date(platform, tenant, LATE)
    return loan_id


def test_collection_money_decided_at_once_is_decided_once(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    product = make_product(server, tenant)
    loans: Loans = platform.get(Loans)
    loan_id = overdue_loan(platform, server, tenant, product)
    reason = {"reason": "not this time"}
    brand = tenant.brand_id
    waivers = [loans.request_waiver(brand, loan_id, "1.00", "goodwill")[1].waiver_id for _ in range(ROUNDS)]
    requests = [loans.request_collection(brand, loan_id, "10.00", "cash", f"RCPT-{n}")[1].request_id
                for n in range(ROUNDS)]  # fmt: skip
    settle(platform, Loans.name)  # the decisions find each request through its read model
    for waiver_id, request_id in zip(waivers, requests, strict=True):
        # a penal waiver approved twice and rejected at once
        url = f"/api/v1/waivers/{waiver_id}"
        one_wins(race(tenant, [Call("POST", f"{url}/approve")] * 2 + [Call("POST", f"{url}/reject", reason)]))
        # a partial collection approved twice and rejected at once: its money counted once at most
        url = f"/api/v1/collection-requests/{request_id}"
        paid_before = history(platform, tenant, loan_id).count("RepaymentRecorded")
        won = one_wins(race(tenant, [Call("POST", f"{url}/approve")] * 2
                            + [Call("POST", f"{url}/reject", reason)]))  # fmt: skip
        paid = history(platform, tenant, loan_id).count("RepaymentRecorded") - paid_before
        assert paid == (1 if won.json()["status"] == "approved" else 0), won.text
    events = history(platform, tenant, loan_id)
    assert events.count("WaiverApproved") + events.count("WaiverRejected") == ROUNDS
    assert events.count("CollectionApproved") + events.count("CollectionRejected") == ROUNDS
    agrees(server, platform, tenant, loan_id)
    # a settlement approved twice and rejected twice at once (one open at a time: a new one after a rejection)
    for _ in range(ROUNDS):
        result, settlement = loans.propose_settlement(tenant.brand_id, loan_id, "60000.00", "one-time settlement")
        settle(platform, Loans.name, result.position)
        url = f"/api/v1/settlements/{settlement.settlement_id}"
        won = one_wins(race(tenant, [Call("POST", f"{url}/approve")] * 2
                            + [Call("POST", f"{url}/reject", reason)] * 2))  # fmt: skip
        if won.json()["status"] == "approved":
            break
    events = history(platform, tenant, loan_id)
    assert events.count("SettlementApproved") + events.count("SettlementRejected") == events.count("SettlementProposed")
    assert events.count("SettlementApproved") <= 1
    agrees(server, platform, tenant, loan_id)


# Collections -------------------------------------------------------------------------------------------------------


def test_a_promise_to_pay_made_twice_at_once_is_made_once(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    product = make_product(server, tenant)
    collections: Collections = platform.get(Collections)
    for _ in range(2):  # each loan's first race is on its case's creation, the next on the case's version
        loan_id = disbursed_loan(platform, tenant, product)
        url = f"/api/v1/loans/{loan_id}/ptps"
        for n in range(ROUNDS // 2):
            calls = [Call("POST", url, {"date": "2026-02-28", "amount": f"{8000 + i}.00"}) for i in range(3)]
            made = one_wins(race(tenant, calls))
            settle(platform, Collections.name)
            listed = httpx.get(f"{server}{url}", headers=tenant.auth).json()["items"]
            assert [p["status"] for p in listed].count("open") == 1 and len(listed) == n + 1, listed
            assert made.json()["ptp_id"] in {p["ptp_id"] for p in listed}
            # broken the day after its date: the next round's promise is the only open one again
            tally = PromiseTally(loan_id, UUID(made.json()["ptp_id"]), Decimal(0))
            assert collections.judge_promises(tenant.brand_id, date(2026, 3, 1), [tally])["judged"] == 1


def test_two_reallocations_at_once_move_each_loan_from_where_the_other_left_it(
    platform: Any, server: str, race: Racer
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    product = make_product(server, tenant)
    identity: Identity = platform.get(Identity)
    staff = [
        identity.create_staff(tenant.brand_id, f"{name}-{uuid.uuid4().hex[:8]}@lender.in", name,
                              ["collection_executive"], "collect-pass-2026", granter=OPERATOR).id
        for name in ("Asha", "Ravi", "Kiran")
    ]  # fmt: skip
    settle(platform, "identity")
    loan_ids = [disbursed_loan(platform, tenant, product) for _ in range(2)]
    opened = [Move(loan_id=loan_id, stage=Stage.COLLECTIONS, staff_id=None, previous=None, dpd=3,
                   amount=Decimal("8037.57"), closed=None) for loan_id in loan_ids]  # fmt: skip
    settle(platform, Collections.name, platform.get(Collections).record_moves(tenant.brand_id, D0, opened))
    for n in range(ROUNDS):
        # two managers each move both loans, to two different executives, at once: both are done, one after the
        # other (a reallocation is "these loans to X", not a decision taken once)
        calls = [Call("POST", "/api/v1/collections/allocations",
                      {"loan_ids": [str(i) for i in loan_ids], "staff_id": str(staff[(n + k) % 3])})
                 for k in range(2)]  # fmt: skip
        assert [a.status_code for a in race(tenant, calls)] == [201, 201]
    settle(platform, Collections.name)
    for loan_id in loan_ids:
        panel = httpx.get(f"{server}/api/v1/loans/{loan_id}/collection", headers=tenant.auth).json()
        moves = sorted(panel["allocations"], key=lambda m: m["at"])
        # each move starts where the one before left the loan, and the case sits where the last one put it
        assert all(later["previous"] == earlier["staff_id"] for earlier, later in pairwise(moves)), moves
        assert panel["case"]["assignee"] == moves[-1]["staff_id"]


# Limits across applications ----------------------------------------------------------------------------------------


def open_loans(server: str, platform: Any, tenant: Tenant, customer: UUID) -> list[str]:
    """The borrower's loans that are not closed, as the read model lists them once settled."""
    settle(platform, Loans.name)
    listed = httpx.get(f"{server}/api/v1/customers/{customer}/loans", headers=tenant.auth).json()["items"]
    closed = {"rejected", "cancelled", "completed", "settled", "written_off"}
    return [loan["status"] for loan in listed if loan["status"] not in closed]


def test_two_applications_at_once_keep_the_products_limit_of_open_loans(
    platform: Any, server: str, race: Racer
) -> None:
    tenant = make_tenant(platform)
    product = make_product(server, tenant, max_active_loans=1)
    for _ in range(ROUNDS):
        customer = borrower(platform, tenant)
        body = {"customer_id": str(customer), "product_id": str(product), "amount": "50000", "tenure": 12}
        one_wins(race(tenant, [Call("POST", "/api/v1/loans", body)] * 2), refused=(409, 422))
        assert open_loans(server, platform, tenant, customer) == ["onboarding"]


def test_an_application_right_after_another_is_counted_before_the_read_model_shows_the_first(
    platform: Any, server: str
) -> None:
    # the count adds what was committed under it and not projected yet: nobody waits for the read model
    tenant = make_tenant(platform)
    product = make_product(server, tenant, max_active_loans=2)
    loans: Loans = platform.get(Loans)
    for _ in range(ROUNDS):
        customer = borrower(platform, tenant)
        for _ in range(2):
            loans.create(tenant.brand_id, customer, product, "50000", 12)
        with pytest.raises(InvalidInput) as refused:
            loans.create(tenant.brand_id, customer, product, "50000", 12)
        assert "open loan" in str(refused.value)
        assert open_loans(server, platform, tenant, customer) == ["onboarding", "onboarding"]


def test_many_applications_of_other_borrowers_at_once_are_all_recorded(platform: Any, server: str) -> None:
    # the counts' holds keep pooled connections: they must not take them all and leave the commands inside waiting
    tenant = make_tenant(platform)
    product = make_product(server, tenant, max_active_loans=1)
    crowd = Racer(server, lanes=24)
    try:
        calls = [Call("POST", "/api/v1/loans", {"customer_id": str(borrower(platform, tenant)),
                                                "product_id": str(product), "amount": "50000", "tenure": 12})
                 for _ in range(24)]  # fmt: skip
        assert [a.status_code for a in crowd(tenant, calls)] == [201] * 24
    finally:
        crowd.close()


def test_reactivations_and_an_application_at_once_keep_the_products_limit_of_open_loans(
    platform: Any, server: str, race: Racer
) -> None:
    tenant = make_tenant(platform)
    product = make_product(server, tenant, max_active_loans=1)
    loans: Loans = platform.get(Loans)
    for _ in range(ROUNDS):
        customer = borrower(platform, tenant)
        cancelled = []
        for _ in range(2):
            loan_id = pending_loan(platform, tenant, product, customer)
            settle(platform, Loans.name, loans.cancel(tenant.brand_id, loan_id, "borrower withdrew").position)
            cancelled.append(loan_id)
        # both back at once, and a new application beside them: one of the three opens
        calls = [Call("POST", f"/api/v1/loans/{loan_id}/reactivate", {"reason": "borrower came back"})
                 for loan_id in cancelled]  # fmt: skip
        body = {"customer_id": str(customer), "product_id": str(product), "amount": "50000", "tenure": 12}
        won = one_wins(race(tenant, [*calls, Call("POST", "/api/v1/loans", body)]), refused=(409, 422))
        assert open_loans(server, platform, tenant, customer) == [won.json()["status"]]


def test_a_coupon_used_up_at_once_is_used_its_number_of_times(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    product = make_product(server, tenant)
    for n in range(ROUNDS):
        code = f"ONCE{n}"
        coupon = httpx.post(f"{server}/api/v1/coupons", headers=tenant.auth, json={
            "code": code, "product_id": str(product), "kind": "percent", "value": "50",
            "valid_from": "2026-01-01", "valid_to": "2026-12-31", "max_uses": 1})  # fmt: skip
        assert coupon.status_code == 201, coupon.text
        calls = [
            Call("POST", "/api/v1/loans", {"customer_id": str(borrower(platform, tenant)), "product_id": str(product),
                                           "amount": "50000", "tenure": 12, "coupon_code": spelt})
            for spelt in (code, f" {code.lower()} ")  # one coupon however it is typed
        ]  # fmt: skip
        answers = race(tenant, calls)
        won = one_wins(answers, refused=(409, 422))
        assert won.json()["coupon_code"] == code
        assert all("used" in a.json()["detail"] for a in answers if a is not won), [a.text for a in answers]
        settle(platform, Loans.name)
        assert platform.get(LoanQueries).coupon_uses(tenant.brand_id, product, code) == 1


def test_a_reactivation_and_an_application_at_once_take_a_coupons_last_use_once(
    platform: Any, server: str, race: Racer
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    product = make_product(server, tenant)
    loans: Loans = platform.get(Loans)
    for n in range(ROUNDS // 2):
        code = f"BACK{n}"
        coupon = httpx.post(f"{server}/api/v1/coupons", headers=tenant.auth, json={
            "code": code, "product_id": str(product), "kind": "fixed", "value": "500",
            "valid_from": "2026-01-01", "valid_to": "2026-12-31", "max_uses": 1})  # fmt: skip
        assert coupon.status_code == 201, coupon.text
        first = loans.create(tenant.brand_id, borrower(platform, tenant), product, "50000", 12, code).id
        loans.submit(tenant.brand_id, first)
        settle(platform, Loans.name, loans.cancel(tenant.brand_id, first, "borrower withdrew").position)  # use freed
        body = {"customer_id": str(borrower(platform, tenant)), "product_id": str(product), "amount": "50000",
                "tenure": 12, "coupon_code": code}  # fmt: skip
        calls = [Call("POST", f"/api/v1/loans/{first}/reactivate", {"reason": "came back"}),
                 Call("POST", "/api/v1/loans", body)]  # fmt: skip
        one_wins(race(tenant, calls), refused=(409, 422))
        settle(platform, Loans.name)
        assert platform.get(LoanQueries).coupon_uses(tenant.brand_id, product, code) == 1


def test_a_reloan_offer_decided_at_once_starts_an_application_only_when_accepted_and_once(
    platform: Any, server: str, race: Racer
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    product = make_product(server, tenant, max_active_loans=3)  # the limit does not stop a second application
    loans: Loans = platform.get(Loans)
    for n in range(ROUNDS):
        loan_id = disbursed_loan(platform, tenant, product)
        payoff = loans.payoff(tenant.brand_id, loan_id).total
        loans.record_repayment(tenant.brand_id, loan_id, payoff, "neft", "UTR-END")
        loan = loans.get(tenant.brand_id, loan_id)
        assert loan.status is LoanStatus.COMPLETED
        made = platform.get(ReloanOffers).offer(tenant.brand_id, loan_id, loan.loan_number, loan.customer_id,
                                                product, 12, Decimal("85000.00"), "percent", Decimal("10"))  # fmt: skip
        assert made is not None
        settle(platform, ReloanOffers.name, made.position)
        url = f"/api/v1/reloan-offers/{made.id}"
        if n % 2 == 0:  # accepted twice at once: one application
            one_wins(race(tenant, [Call("POST", f"{url}/accept")] * 2))
            assert open_loans(server, platform, tenant, loan.customer_id) == ["onboarding"]
        else:  # accepted while the borrower declines and staff withdraw it: an application only if accepted
            reason = {"reason": "changed their mind"}
            calls = [Call("POST", f"{url}/accept"), Call("POST", f"{url}/reject", reason),
                     Call("POST", f"{url}/cancel", reason)]  # fmt: skip
            won = one_wins(race(tenant, calls))
            expected = ["onboarding"] if won.json()["status"] == "approved" else []
            assert open_loans(server, platform, tenant, loan.customer_id) == expected, won.json()["status"]


# Products, idempotency, borrowers ----------------------------------------------------------------------------------


def test_a_product_patched_at_once_with_one_if_match_takes_one_version(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    product = make_product(server, tenant)
    for n in range(ROUNDS):
        calls = [Call("PATCH", f"/api/v1/loan-products/{product}", {"name": f"Personal loan {n}-{i}"},
                      tenant.auth | {"If-Match": f'"{n + 1}"'}) for i in range(3)]  # fmt: skip
        won = one_wins(race(tenant, calls))
        assert won.json()["version"] == n + 2 and won.headers["ETag"] == f'"{n + 2}"'
    shown = httpx.get(f"{server}/api/v1/loan-products/{product}", headers=tenant.auth).json()
    assert len(shown["versions"]) == ROUNDS + 1


def test_one_idempotency_key_sent_twice_at_once_records_once(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant, make_product(server, tenant))
    for n in range(ROUNDS):
        body = {"amount": "100.00", "mode": "upi", "reference": f"UTR-K{n}"}
        call = Call("POST", f"/api/v1/loans/{loan_id}/repayments", body, tenant.auth | {"Idempotency-Key": f"k-{n}"})
        answers = race(tenant, [call] * 3)
        fresh = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
        assert len(fresh) == 1, [(a.status_code, a.text[:200]) for a in answers]
        for other in answers:
            if other is not fresh[0]:
                assert other.status_code == 409 or other.json()["id"] == fresh[0].json()["id"], other.text
        assert history(platform, tenant, loan_id).count("RepaymentRecorded") == n + 1
    agrees(server, platform, tenant, loan_id)


def test_one_borrower_registered_twice_at_once_is_registered_once(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    for _ in range(ROUNDS):
        body = {"name": "Kavya Rao", "phone": mobile("98")}
        one_wins(race(tenant, [Call("POST", "/api/v1/customers", body)] * 3))
