"""Post-collections (legal, settled, written off) and the team's figures on PostgreSQL through the API, on a database
of the module's own (the last checks rebuild the collection read models and compare them with the live ones):

- a legal case asks for what the loan owes - everything overdue and the principal not yet due - not every scheduled
  instalment left with interest never charged, and that figure feeds the post worklist, the team's buckets and
  executives and the allocation report;
- a settled loan's case, and a written-off loan's once the write-off's whole total is recovered, close (`settled`,
  `recovered`) and count as resolved, instead of sitting in post-collections at 0.00 for good;
- a pre-collections case paid before its due date (`not_due`) counts as resolved for the pre team;
- an executive's `collected` counts the payments from a case's opening to its close, not the loan's instalments for
  the rest of its term."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from projections.collection_dues import CollectionDuesView
from projections.collections import CollectionViews
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_collections import D0, cob, worklist
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401 (fixtures)
from tests.support import settle

__all__ = ["catalogue"]

#: Every column of the read models the rebuild must give back as live made them (updated_at aside: the time of the
#: event, the same either way, but the panel's `opened_at` is checked through `opened_on`).
_CASES = (
    "SELECT loan_id, brand_id, stage, open, assignee, dpd, amount, due_on, legal, closed_reason, closed_on, opened_on, "
    "opened_at, contacts, loan_number, customer_id FROM read.collection_cases ORDER BY loan_id"
)
_DUES = "SELECT * FROM read.collection_dues ORDER BY loan_id"


def _desk(platform: Any, roles: list[str]) -> tuple[Tenant, list[UUID]]:
    """A brand with auto-allocation on and one staff member of each role given."""
    tenant = make_tenant(platform)
    identity = platform.get(Identity)
    result, _ = identity.change_configuration(tenant.brand_id, {"auto_allocate_collections": True})
    settle(platform, "identity", result.position)
    set_business_date(platform, tenant, D0)
    staff = []
    for n, role in enumerate(roles):
        created = identity.create_staff(
            tenant.brand_id, f"{role}-{n}-{tenant.slug}@lender.in", f"{role} {n}", [role], PASSWORD, granter=OPERATOR
        )
        staff.append(created.id)
    settle(platform, "identity")
    return tenant, staff


def _ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _team(client: Any, tenant: Tenant, stage: str) -> dict[str, Any]:
    return dict(_ok(client.get("/api/v1/collections/team", params={"stage": stage}, headers=tenant.auth)))


def _panel(client: Any, tenant: Tenant, loan: UUID) -> dict[str, Any]:
    return dict(_ok(client.get(f"/api/v1/loans/{loan}/collection", headers=tenant.auth)))


def _rows(platform: Any, sql: str) -> list[tuple[Any, ...]]:
    with platform.db.pool.connection() as conn:
        return [tuple(r.values()) for r in conn.execute(sql).fetchall()]


def _rebuilt_as_live(platform: Any) -> None:
    """Both collection read models dropped and replayed give the rows live projection gave."""
    cases, dues = _rows(platform, _CASES), _rows(platform, _DUES)
    platform.engine.rebuild(CollectionDuesView.name)
    platform.engine.rebuild(CollectionViews.name)
    assert _rows(platform, _DUES) == dues
    assert _rows(platform, _CASES) == cases


def test_a_legal_case_asks_for_what_the_loan_owes_not_interest_never_charged(client: Any, platform: Any) -> None:
    """85,000 over 12 months at 24 %: 8,037.57 fell due on 28 Feb (1,700.00 of it interest). On legal, the case asked
    96,450.79 - all twelve instalments left, eleven months of interest never charged - while the payoff was about
    86,700. Now: the first instalment (less the 991.96 of interest a payment of 1,000.00 on 2 Mar paid, after one
    day's penal 8.04) and the 78,662.43 of principal not yet due: the payoff as of the next business date less its
    penal charges and the current period's accrued interest (docs/collections.md)."""
    tenant, (head,) = _desk(platform, ["collection_head"])
    loan = disbursed_loan(platform, tenant)
    cob(client, platform, tenant, date(2026, 3, 1))  # overdue since 1 Mar
    set_business_date(platform, tenant, date(2026, 3, 2))
    paid = {"amount": "1000.00", "mode": "upi", "reference": "UPI-L1", "paid_on": "2026-03-02"}
    _ok(client.post(f"/api/v1/loans/{loan}/repayments", json=paid, headers=tenant.auth), 201)
    _ok(client.post(f"/api/v1/loans/{loan}/collection-legal", json={"reason": "no response for 30 days"},
                    headers=tenant.auth))  # fmt: skip
    cob(client, platform, tenant, date(2026, 3, 2))

    case = _panel(client, tenant, loan)["case"]
    assert (case["stage"], case["legal"], case["assignee"]) == ("post", True, str(head))
    assert case["amount"] == "85708.04"  # 8,037.57 - 991.96 + 78,662.43
    quote = _ok(client.get(f"/api/v1/loans/{loan}/payoff", params={"as_of": "2026-03-03"}, headers=tenant.auth))
    owed = Decimal(quote["total"]) - Decimal(quote["overdue_penal"]) - Decimal(quote["accrued_interest"])
    assert Decimal(case["amount"]) == owed
    assert (
        Decimal(quote["overdue_principal"])
        + Decimal(quote["principal_not_due"])
        + Decimal(quote["overdue_interest"])
        - Decimal(quote["interest_paid_ahead"])
        == owed
    )

    # The same figure wherever the case's amount is read.
    [item] = worklist(client, tenant.auth, stage="post")
    assert (item["loan_id"], item["amount"]) == (str(loan), "85708.04")
    team = _team(client, tenant, "post")
    assert {b["bucket"]: b["amount"] for b in team["buckets"]}["1-30"] == "85708.04"
    [figures] = [e for e in team["executives"] if e["staff_id"] == str(head)]
    assert (figures["open_cases"], figures["open_amount"]) == (1, "85708.04")
    report = _ok(client.get("/api/v1/reports/collection-allocation-executive-report",
                            params={"from": "2026-03-01", "to": "2026-03-31"}, headers=tenant.auth))  # fmt: skip
    assert [(r["stage"], r["amount"]) for r in report["rows"]] == [("post", "85708.04")]

    # A later close moves the figure only by what falls due: 31 Mar's instalment is principal + interest now.
    cob(client, platform, tenant, date(2026, 3, 31))
    interest_2 = Decimal(
        next(i for i in _ok(client.get(f"/api/v1/loans/{loan}", headers=tenant.auth))["schedule"] if i["no"] == 2)[
            "interest"
        ]
    )
    assert Decimal(_panel(client, tenant, loan)["case"]["amount"]) == Decimal("85708.04") + interest_2
    _rebuilt_as_live(platform)


def test_a_settled_loan_and_a_written_off_loan_recovered_in_full_close_their_cases(client: Any, platform: Any) -> None:
    """Three overdue loans go to legal (two) or are written off (one). The settled one and the written-off one whose
    whole write-off total came back owe nothing: their cases close (`settled`, `recovered`), leave the post
    worklist and its buckets, and count as resolved; the legal one stays. Before, both stayed open at 0.00 in the
    "0" bucket for good, and the post team's recovery rate was 0."""
    tenant, (head,) = _desk(platform, ["collection_head"])
    legal, settled, written_off = (disbursed_loan(platform, tenant) for _ in range(3))
    cob(client, platform, tenant, date(2026, 3, 1))
    for loan in (legal, settled):
        _ok(client.post(f"/api/v1/loans/{loan}/collection-legal", json={"reason": "no response for 30 days"},
                        headers=tenant.auth))  # fmt: skip
    set_business_date(platform, tenant, date(2026, 3, 2))
    total = _ok(client.post(f"/api/v1/loans/{written_off}/write-off", json={"reason": "absconded; no contact"},
                            headers=tenant.auth))["total"]  # fmt: skip
    settle(platform, Loans.name)
    cob(client, platform, tenant, date(2026, 3, 2))
    assert {i["loan_id"]: i["amount"] for i in worklist(client, tenant.auth, stage="post")}[str(written_off)] == total

    set_business_date(platform, tenant, date(2026, 3, 3))
    recovered = {"amount": total, "mode": "cash", "reference": "REC-ALL", "paid_on": "2026-03-03"}
    _ok(client.post(f"/api/v1/loans/{written_off}/repayments", json=recovered, headers=tenant.auth), 201)
    offer = _ok(client.post(f"/api/v1/loans/{settled}/settlements", json={"amount": "50000.00", "remarks": "one time"},
                            headers=tenant.auth), 201)  # fmt: skip
    _ok(client.post(f"/api/v1/settlements/{offer['id']}/approve", headers=tenant.auth))
    deal = {"amount": "50000.00", "mode": "neft", "reference": "SET-1", "paid_on": "2026-03-03"}
    assert _ok(client.post(f"/api/v1/loans/{settled}/repayments", json=deal, headers=tenant.auth), 201)["status"] == (
        "settled"
    )
    settle(platform, Loans.name)
    cob(client, platform, tenant, date(2026, 3, 3))
    cob(client, platform, tenant, date(2026, 3, 4))  # and they stay closed

    for loan, why in ((settled, "settled"), (written_off, "recovered")):
        panel = _panel(client, tenant, loan)
        assert (panel["open"], panel["closed_reason"], panel["case"]["stage"]) == (False, why, "post"), panel
    assert [i["loan_id"] for i in worklist(client, tenant.auth, stage="post")] == [str(legal)]
    team = _team(client, tenant, "post")
    assert {b["bucket"]: b["count"] for b in team["buckets"]} == {"0": 0, "1-30": 1, "31-60": 0, "61-90": 0, "90+": 0}
    [figures] = [e for e in team["executives"] if e["staff_id"] == str(head)]
    assert (figures["open_cases"], figures["resolved"], figures["recovery_rate"]) == (1, 2, "0.6667")
    assert team["recovery_rate"] == "0.6667"
    _rebuilt_as_live(platform)


def test_a_pre_collections_case_paid_before_its_due_date_counts_as_resolved(client: Any, platform: Any) -> None:
    """A pre-collections case closes `not_due` when its instalment is paid by the due date: the pre team's success,
    which its recovery rate left out (null: nothing resolved, nothing open)."""
    tenant, (asha,) = _desk(platform, ["collection_executive"])
    loan = disbursed_loan(platform, tenant)
    cob(client, platform, tenant, date(2026, 2, 26))  # 28 Feb is within the 3-day window
    assert [i["assignee"] for i in worklist(client, tenant.auth, stage="pre")] == [str(asha)]
    set_business_date(platform, tenant, date(2026, 2, 28))
    paid = {"amount": "8037.57", "mode": "nach", "reference": "NACH-P", "paid_on": "2026-02-28"}
    _ok(client.post(f"/api/v1/loans/{loan}/repayments", json=paid, headers=tenant.auth), 201)
    cob(client, platform, tenant, date(2026, 3, 1))
    assert _panel(client, tenant, loan)["closed_reason"] == "not_due"
    team = _team(client, tenant, "pre")
    [figures] = [e for e in team["executives"] if e["staff_id"] == str(asha)]
    assert (figures["open_cases"], figures["resolved"], figures["recovery_rate"]) == (0, 1, "1.0000")
    assert team["recovery_rate"] == "1.0000"


def test_collected_counts_the_payments_from_a_cases_opening_to_its_close(client: Any, platform: Any) -> None:
    """A loan overdue from 1 Mar pays 100.00 on 2 Mar and the rest of its instalment on 3 Mar: cured at that close.
    Its executive collected those two payments, 8,037.57 + the penal charges they cleared. The next instalment,
    paid ahead on 4 Mar, is the loan being repaid, not collections' work; it was added to the executive's
    `collected` (and every instalment after it for the rest of the term), while the 2 Mar payment was left out (a
    closed case's `opened_on` was the day it closed)."""
    tenant, (asha,) = _desk(platform, ["collection_executive"])
    loan = disbursed_loan(platform, tenant)
    cob(client, platform, tenant, date(2026, 3, 1))
    assert [i["assignee"] for i in worklist(client, tenant.auth, stage="collections")] == [str(asha)]
    set_business_date(platform, tenant, date(2026, 3, 2))
    first = {"amount": "100.00", "mode": "upi", "reference": "UPI-C1", "paid_on": "2026-03-02"}
    _ok(client.post(f"/api/v1/loans/{loan}/repayments", json=first, headers=tenant.auth), 201)
    cob(client, platform, tenant, date(2026, 3, 2))
    set_business_date(platform, tenant, date(2026, 3, 3))
    quote = _ok(client.get(f"/api/v1/loans/{loan}/payoff", params={"as_of": "2026-03-03"}, headers=tenant.auth))
    rest = Decimal(quote["overdue_principal"]) + Decimal(quote["overdue_interest"]) + Decimal(quote["overdue_penal"])
    cure = {"amount": str(rest), "mode": "upi", "reference": "UPI-C2", "paid_on": "2026-03-03"}
    _ok(client.post(f"/api/v1/loans/{loan}/repayments", json=cure, headers=tenant.auth), 201)
    cob(client, platform, tenant, date(2026, 3, 3))
    panel = _panel(client, tenant, loan)
    assert (panel["open"], panel["closed_reason"]) == (False, "cured")

    set_business_date(platform, tenant, date(2026, 3, 4))
    ahead = {"amount": "8037.57", "mode": "nach", "reference": "NACH-C3", "paid_on": "2026-03-04"}
    _ok(client.post(f"/api/v1/loans/{loan}/repayments", json=ahead, headers=tenant.auth), 201)
    cob(client, platform, tenant, date(2026, 3, 4))
    [figures] = [e for e in _team(client, tenant, "collections")["executives"] if e["staff_id"] == str(asha)]
    assert (figures["resolved"], figures["collected"]) == (1, str(Decimal("100.00") + rest))
    _rebuilt_as_live(platform)
