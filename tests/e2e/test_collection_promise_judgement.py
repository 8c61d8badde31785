"""Promises to pay judged by the money as the books come to show it, on PostgreSQL through the API and the close of
business (docs/collections.md, "Contacts, evidence, promises"):

- money collected within a promise's dates but applied only after its date closed (a collection request Ops
  approved the next day) keeps it at the next close - a re-judgement, not a rewrite - and a reversal of that money
  breaks it again; the worklist follows the latest judgement, and the read models rebuilt from the events agree;
- a borrower who pays the loan off (or settles it) before the promised date, at that day's figure below the
  promise's, kept the promise: the loan owes nothing;
- money recorded before the promise was made does not keep it; the same money recorded after it does.

On a database of their own: the test rebuilds the collections read models, which replays every event of the
database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.collections.application import Collections
from domain.collections.case import CollectionCase, case_id
from domain.loans.application import Loans
from projections.collection_dues import CollectionDuesView
from projections.collections import CollectionViews
from tests.conftest import Tenant, make_tenant, private_database, running_platform
from tests.e2e.test_collections import D0, cob, worklist
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]


@pytest.fixture(scope="module")
def platform(platform_template: str, mail_sink: Any) -> Iterator[Any]:
    """A database of these tests' own: a rebuild replays only what they wrote."""
    with private_database(platform_template) as dsn, running_platform(dsn, mail_sink.port) as p:
        yield p


@pytest.fixture(scope="module")
def app(platform: Any) -> Any:
    from workers.web_app import build_app

    return build_app(lambda: platform, close_platform=False)


def _overdue_loans(client: Any, platform: Any, count: int) -> tuple[Tenant, list[UUID]]:
    """A brand's loans disbursed on 31 Jan, overdue since 1 Mar; the business date 3 Mar."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loans = [disbursed_loan(platform, tenant) for _ in range(count)]
    cob(client, platform, tenant, date(2026, 3, 2))
    return tenant, loans


def _promise(client: Any, tenant: Tenant, loan: UUID, on: str, amount: str) -> str:
    made = client.post(f"/api/v1/loans/{loan}/ptps", json={"date": on, "amount": amount}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return str(made.json()["ptp_id"])


def _pay(client: Any, tenant: Tenant, loan: UUID, amount: str, reference: str, paid_on: str) -> dict[str, Any]:
    body = {"amount": amount, "mode": "upi", "reference": reference, "paid_on": paid_on}
    paid = client.post(f"/api/v1/loans/{loan}/repayments", json=body, headers=tenant.auth)
    assert paid.status_code == 201, paid.text
    return dict(paid.json())


def _judged(client: Any, tenant: Tenant, loan: UUID) -> tuple[str, str, str | None]:
    (promise,) = client.get(f"/api/v1/loans/{loan}/ptps", headers=tenant.auth).json()["items"]
    return promise["status"], promise["paid"], promise["judged_on"]


def _case(client: Any, tenant: Tenant, loan: UUID) -> dict[str, Any]:
    panel = client.get(f"/api/v1/loans/{loan}/collection", headers=tenant.auth).json()
    return {"open": panel["open"], "closed": panel["closed_reason"], **panel["case"]}


def _rows(platform: Any, loan: UUID) -> dict[str, list[Any]]:
    """Every row the collections read models hold for the loan."""
    tables = {
        "read.collection_ptps": "loan_id",
        "read.collection_cases": "loan_id",
        "read.collection_payments": "loan_id",
        "read.collection_dues": "loan_id",
    }
    with platform.db.pool.connection() as conn:
        return {
            table: [dict(r) for r in conn.execute(f"SELECT * FROM {table} WHERE {key} = %s ORDER BY 1, 2", (loan,))]
            for table, key in tables.items()
        }


def test_money_collected_within_a_promise_but_approved_after_its_date_keeps_it_and_a_reversal_breaks_it_again(
    client: Any, platform: Any
) -> None:
    """The executive collects the promised money in the field on the promised date and files a collection request;
    the date's close of business judges the promise broken (nothing applied yet); Ops approve the next day and the
    payment is dated the day it was collected. It was broken for good, though the loan was then cured. Now the next
    close judges it again: kept; and when that payment is reversed, broken again."""
    tenant, (loan,) = _overdue_loans(client, platform, 1)
    ptp_id = _promise(client, tenant, loan, "2026-03-05", "8037.57")
    cob(client, platform, tenant, date(2026, 3, 3))
    cob(client, platform, tenant, date(2026, 3, 4))
    request = {"amount": "8100.00", "mode": "cash", "reference": "FIELD-B", "collected_on": "2026-03-05"}
    filed = client.post(f"/api/v1/loans/{loan}/collection-requests", json=request, headers=tenant.auth)
    assert filed.status_code == 201, filed.text
    cob(client, platform, tenant, date(2026, 3, 5))  # the promise's date closes while the request waits
    assert _judged(client, tenant, loan) == ("broken", "0.00", "2026-03-05")
    (top,) = worklist(client, tenant.auth, stage="collections")
    assert top["next_action"] == "promise broken: call again"

    approved = client.post(f"/api/v1/collection-requests/{filed.json()['id']}/approve", headers=tenant.auth)
    assert approved.status_code == 200, approved.text
    settle(platform, Loans.name)
    (payment,) = client.get(f"/api/v1/loans/{loan}/repayments", headers=tenant.auth).json()["items"]
    assert payment["paid_on"] == "2026-03-05"  # the day it was collected
    cob(client, platform, tenant, date(2026, 3, 6))
    assert _judged(client, tenant, loan) == ("kept", "8100.00", "2026-03-06")
    case = _case(client, tenant, loan)
    assert (case["open"], case["closed"], case["ptp_status"], case["attention_at"]) == (False, "cured", "kept", None)
    assert case["next_action"] != "promise broken: call again"

    reversed_ = client.post(f"/api/v1/loans/{loan}/repayments/{payment['id']}/reverse",
                            json={"reason": "cash deposit short"}, headers=tenant.auth)  # fmt: skip
    assert reversed_.status_code == 200, reversed_.text
    settle(platform, Loans.name)
    cob(client, platform, tenant, date(2026, 3, 7))
    assert _judged(client, tenant, loan) == ("broken", "0.00", "2026-03-07")
    case = _case(client, tenant, loan)
    assert (case["open"], case["ptp_status"]) == (True, "broken") and case["attention_at"] is not None
    (top,) = worklist(client, tenant.auth, stage="collections")
    assert top["loan_id"] == str(loan) and top["next_action"] == "promise broken: call again"
    cob(client, platform, tenant, date(2026, 3, 8))  # nothing changed: nothing recorded

    # Events are facts: the first judgement stands on record, each change after it is a re-judgement.
    events = platform.get(Collections).events.get(case_id(tenant.brand_id, loan))
    judgements = [(type(e).__name__, str(getattr(e, "previous", "")), str(e.status), str(e.paid), str(e.judged_on))
                  for e in events if isinstance(e, CollectionCase.PromiseJudged | CollectionCase.PromiseRejudged)]  # fmt: skip
    assert judgements == [
        ("PromiseJudged", "", "broken", "0.00", "2026-03-05"),
        ("PromiseRejudged", "broken", "kept", "8100.00", "2026-03-06"),
        ("PromiseRejudged", "kept", "broken", "0.00", "2026-03-07"),
    ]
    assert all(str(getattr(e, "ptp_id", ptp_id)) == ptp_id for e in events)

    # The read models rebuilt from the events are the live ones.
    settle(platform, Collections.name)
    live = _rows(platform, loan)
    assert live["read.collection_payments"][0]["recorded_at"] is not None
    platform.engine.rebuild(CollectionViews.name)
    platform.engine.rebuild(CollectionDuesView.name)
    assert _rows(platform, loan) == live


def test_a_promise_is_kept_when_the_loan_is_paid_off_or_settled_before_its_date_below_its_amount(
    client: Any, platform: Any
) -> None:
    """A promise is of at most the payoff as of its date. A borrower who pays the loan off earlier pays that day's
    lower payoff (less interest accrued, fewer penal days), and one who settles pays the settlement: the loan owes
    nothing, yet the promise was judged broken because the money was below its amount."""
    tenant, (paid_off, settled) = _overdue_loans(client, platform, 2)
    promised = {}
    for loan in (paid_off, settled):
        quote = client.get(f"/api/v1/loans/{loan}/payoff", params={"as_of": "2026-03-10"}, headers=tenant.auth)
        promised[loan] = quote.json()["total"]
        _promise(client, tenant, loan, "2026-03-10", promised[loan])
    today = client.get(f"/api/v1/loans/{paid_off}/payoff", params={"as_of": "2026-03-03"}, headers=tenant.auth)
    payoff = today.json()["total"]
    assert Decimal(payoff) < Decimal(promised[paid_off])
    assert _pay(client, tenant, paid_off, payoff, "PAYOFF-A", "2026-03-03")["status"] == "completed"
    offer = {"amount": "60000.00", "remarks": "job lost, one-time offer"}
    made = client.post(f"/api/v1/loans/{settled}/settlements", json=offer, headers=tenant.auth)
    assert made.status_code == 201, made.text
    approved = client.post(f"/api/v1/settlements/{made.json()['id']}/approve", headers=tenant.auth)
    assert approved.status_code == 200, approved.text
    set_business_date(platform, tenant, date(2026, 3, 4))
    assert _pay(client, tenant, settled, "60000.00", "SETTLE-B", "2026-03-04")["status"] == "settled"
    settle(platform, Loans.name)
    cob(client, platform, tenant, date(2026, 3, 10))
    assert _judged(client, tenant, paid_off) == ("kept", payoff, "2026-03-10")
    assert _judged(client, tenant, settled) == ("kept", "60000.00", "2026-03-10")
    for loan in (paid_off, settled):
        case = _case(client, tenant, loan)
        assert (case["ptp_status"], case["attention_at"]) == ("kept", None), case
        assert case["next_action"] != "promise broken: call again"


def test_money_recorded_before_the_promise_was_made_does_not_keep_it(client: Any, platform: Any) -> None:
    """A payment recorded on the business date, then a promise of that amount made the same day: no new money came,
    yet the payment (paid on the day the promise was made) counted. Only money recorded after the promise does; the
    same payment recorded after the promise keeps it."""
    tenant, (before, after) = _overdue_loans(client, platform, 2)
    _pay(client, tenant, before, "500.00", "C-500", "2026-03-03")
    _promise(client, tenant, before, "2026-03-05", "500.00")
    _promise(client, tenant, after, "2026-03-05", "500.00")
    _pay(client, tenant, after, "500.00", "D-500", "2026-03-03")
    settle(platform, Loans.name)
    cob(client, platform, tenant, date(2026, 3, 5))
    assert _judged(client, tenant, before) == ("broken", "0.00", "2026-03-05")
    assert _judged(client, tenant, after) == ("kept", "500.00", "2026-03-05")
