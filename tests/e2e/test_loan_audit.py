"""Auditor replay of loans (issue #15 item 7) on PostgreSQL: the loan's state as of an instant is what
`GET /api/v1/loans/{id}` said at that instant — recorded while a loan is driven through payments, a reversal, COB
days and business-date moves, then replayed as of each instant and compared; the diff between two instants; the
generic replay of other aggregates unchanged."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, date, datetime
from typing import Any

from api.csv_download import safe
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.shared.rupees import rupees
from tests.conftest import make_tenant
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle
from workers.loan_audit import configuration_id

__all__ = ["catalogue"]  # the fixture faking the product catalogue (penal charges), autouse here too

SERVICING = ("status", "schedule", "outstanding", "dpd", "asset_class", "next_due", "cob_through")


def _instant() -> datetime:
    time.sleep(0.002)  # the next event is strictly later than the recorded instant
    now = datetime.now(UTC)
    time.sleep(0.002)
    return now


def test_state_as_of_each_instant_is_what_the_api_said_then(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    url = f"/api/v1/loans/{loan_id}"
    said: list[tuple[datetime, dict[str, Any]]] = []

    def cob(day: date) -> None:  # the loan's COB day, its read model caught up (the GET's status is the read model)
        settle(platform, Loans.name, loans.close_business_day(tenant.brand_id, loan_id, day).position)

    def record() -> None:
        said.append((_instant(), client.get(url, headers=tenant.auth).json()))

    record()  # disbursed, nothing due
    set_business_date(platform, tenant, date(2026, 2, 28))
    record()  # the first instalment due today
    pay = {"amount": "1000.00", "mode": "upi", "reference": "UTR-A1", "paid_on": "2026-02-28"}
    assert client.post(f"{url}/repayments", json=pay, headers=tenant.auth).status_code == 201
    record()  # partially paid
    cob(date(2026, 2, 28))
    set_business_date(platform, tenant, date(2026, 3, 3))
    for day in (1, 2):
        cob(date(2026, 3, day))
    record()  # overdue, penal charges, SMA-0
    cheque = {"amount": "7051.65", "mode": "cheque", "reference": "CHQ-9", "paid_on": "2026-03-03"}
    paid = client.post(f"{url}/repayments", json=cheque, headers=tenant.auth)
    assert paid.status_code == 201, paid.text
    record()  # the instalment paid
    rid = paid.json()["id"]
    back = client.post(f"{url}/repayments/{rid}/reverse", json={"reason": "cheque bounced"}, headers=tenant.auth)
    assert back.status_code in (200, 201), back.text
    record()  # re-opened by the reversal
    set_business_date(platform, tenant, date(2026, 4, 2))
    record()  # a month on, nothing more paid: higher DPD (the business date alone moved)

    assert len({str(s["dpd"]) + s["status"] for _, s in said}) >= 3  # the walk really moved the loan
    for instant, then in said:
        answer = client.get(
            f"/api/v1/audit/loan/{loan_id}/state", params={"as_of": instant.isoformat()}, headers=tenant.auth
        )
        assert answer.status_code == 200, answer.text
        replayed = answer.json()["state"]
        for key in SERVICING:
            assert replayed[key] == then[key], (instant, key, replayed[key], then[key])
    days = [client.get(f"/api/v1/audit/loan/{loan_id}/state", params={"as_of": i.isoformat()},
                       headers=tenant.auth).json()["state"]["business_date"] for i, _ in said]  # fmt: skip
    assert days == ["2026-01-31", "2026-02-28", "2026-02-28", "2026-03-03", "2026-03-03", "2026-03-03", "2026-04-02"]

    # the diff between the overdue instant and the paid one: the schedule, DPD, outstanding moved
    (start, before), (end, after) = said[3], said[4]
    diff = client.get(
        f"/api/v1/audit/loan/{loan_id}/diff",
        params={"from": start.isoformat(), "to": end.isoformat()},
        headers=tenant.auth,
    ).json()
    assert diff["changes"]["dpd"] == {"from": before["dpd"], "to": after["dpd"]}
    assert diff["changes"]["outstanding"] == {"from": before["outstanding"], "to": after["outstanding"]}
    assert "RepaymentRecorded" in [e["event"] for e in diff["events"]]

    # before the loan existed: no state; another brand: 404
    early = client.get(
        f"/api/v1/audit/loan/{loan_id}/state", params={"as_of": "2020-01-01T00:00:00Z"}, headers=tenant.auth
    ).json()
    assert early["exists"] is False and early["state"] is None
    other = make_tenant(platform)
    elsewhere = f"/api/v1/audit/loan/{loan_id}/state"
    assert client.get(elsewhere, params={"as_of": said[0][0].isoformat()}, headers=other.auth).status_code == 404


def test_the_configuration_id_is_identitys_and_other_types_replay_as_before(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    config = platform.get(Identity).configuration(tenant.brand_id)
    assert config.id == configuration_id(tenant.brand_id)
    state = client.get(
        f"/api/v1/audit/brand_configuration/{config.id}/state",
        params={"as_of": datetime.now(UTC).isoformat()},
        headers=tenant.auth,
    ).json()["state"]
    assert "business_date" not in state and "settings" in state


def test_history_and_ledger_csv_downloads(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 2, 28))
    loan_id = disbursed_loan(platform, tenant)
    url = f"/api/v1/loans/{loan_id}"
    pay = {"amount": "1000.00", "mode": "upi", "reference": "=HYPERLINK(1)", "paid_on": "2026-02-28"}
    assert client.post(f"{url}/repayments", json=pay, headers=tenant.auth).status_code == 201

    ledger = client.get(f"{url}/ledger.csv", headers=tenant.auth)
    assert ledger.status_code == 200 and ledger.headers["content-type"].startswith("text/csv")
    assert "attachment" in ledger.headers["content-disposition"]
    assert ledger.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    rows = list(csv.reader(io.StringIO(ledger.content.decode("utf-8-sig"), newline="")))
    assert b"\r\n" in ledger.content
    assert rows[0][:4] == ["date", "kind", "description", "amount"]
    as_json = client.get(f"{url}/ledger", headers=tenant.auth).json()["items"]
    assert [r[1] for r in rows[1:]] == [p["kind"] for p in as_json]
    assert [r[-1] for r in rows[1:]] == [p["running"]["total"] for p in as_json]
    payment = next(r for r in rows if r[1] == "payment")
    assert "=HYPERLINK" in payment[2] and payment[2].startswith("payment")  # inside the text, never first

    history = client.get(f"{url}/history.csv", headers=tenant.auth)
    assert history.status_code == 200 and history.content.startswith(b"\xef\xbb\xbf")
    events = list(csv.reader(io.StringIO(history.content.decode("utf-8-sig"), newline="")))
    audited = client.get(f"/api/v1/audit/loan/{loan_id}/history", headers=tenant.auth).json()["events"]
    assert [r[1] for r in events[1:]] == [e["event"] for e in audited]
    recorded = next(r for r in events if r[1] == "RepaymentRecorded")
    assert "=HYPERLINK(1)" in json.dumps(json.loads(recorded[5]))  # the data cell is JSON, never a formula

    other = make_tenant(platform)
    assert client.get(f"{url}/history.csv", headers=other.auth).status_code == 404
    assert client.get(f"{url}/ledger.csv", headers=other.auth).status_code == 404


def test_safe_prefixes_formula_cells() -> None:
    assert [safe(t) for t in ("=1+1", "+91", "-x", "@a", "ok", "")] == ["'=1+1", "'+91", "'-x", "'@a", "ok", ""]


def test_the_audit_page_shows_the_loan_as_it_stood(app: Any, client: Any, platform: Any) -> None:
    from tests.e2e.test_access_matrix import _signed_in

    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    set_business_date(platform, tenant, date(2026, 2, 28))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 3, 3))
    for day in (date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)):
        settle(platform, Loans.name, loans.close_business_day(tenant.brand_id, loan_id, day).position)
    overdue = _instant()
    body = {"amount": "8037.57", "mode": "upi", "reference": "UTR-P1", "paid_on": "2026-03-03"}
    assert client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=tenant.auth).status_code == 201
    said = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    browser, _ = _signed_in(app, platform, tenant.brand_id, "admin")
    try:
        then = browser.get(f"/audit/loan/{loan_id}", params={"as_of": overdue.isoformat()})
        assert then.status_code == 200, then.text
        assert 'id="as-of-dpd">3<' in then.text and 'id="as-of-class">SMA-0<' in then.text
        assert 'data-no="1" data-status="overdue"' in then.text
        now = browser.get(f"/audit/loan/{loan_id}")
        first = said["schedule"][0]["status"]
        assert f'id="as-of-dpd">{said["dpd"]}<' in now.text and f'data-no="1" data-status="{first}"' in now.text
        assert f'data-field="total">{rupees(said["outstanding"]["total"])}<' in now.text
        compared = browser.get(
            f"/audit/loan/{loan_id}", params={"from": overdue.isoformat(), "to": datetime.now(UTC).isoformat()}
        )
        assert 'id="diff-table"' in compared.text and 'data-field="dpd"' in compared.text
    finally:
        browser.__exit__(None, None, None)
