"""An auditor's replay of one loan driven through its whole life over the API, on PostgreSQL, a real HTTP server
and the provider simulators: created, submitted, CX-approved, sanctioned, agreement issued, e-signed at the
simulator, queued, disbursed through the gateway simulator, a partial payment, COB days to overdue with penal
charges, a back-dated payment, a penal waiver, a settlement and its payment. At every step the instant and the
loan's GET are recorded; afterwards the replay (`GET /api/v1/audit/loan/{id}/state` and the audit page) is asked
for the state at each recorded instant and at an instant between steps, and must answer what the GET said then -
status, schedule and outstanding to the paisa, DPD, class. Every status change in the history names its actor and
reason, and the money ones their amounts (LENDING.md, "Loan states")."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from api.services.disbursals import WEBHOOK_SECRET_ENV
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.shared.rupees import rupees
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.test_esign import PRODUCT, _issue, _verified_account, catalogue, wired
from tests.e2e.test_servicing_api import set_business_date
from tests.support import mobile, settle
from workers.agreement_jobs import AgreementJobPort, AgreementWorker
from workers.runtime import scheduler_for

__all__ = ["catalogue", "wired"]  # the e-sign tests' product catalogue (autouse) and simulator wiring

SERVICING = ("status", "schedule", "outstanding", "dpd", "asset_class", "next_due", "cob_through")
D0 = date(2026, 1, 31)


def _now() -> datetime:
    time.sleep(0.003)  # strictly after the last event, strictly before the next
    moment = datetime.now(UTC)
    time.sleep(0.003)
    return moment


def _key(platform: Any, tenant: Tenant, role: str) -> dict[str, str]:
    issued = platform.get(Identity).issue_api_key(tenant.brand_id, role, f"{role} key", granter=OPERATOR)
    settle(platform, "identity", issued.position)
    return {"Authorization": f"Bearer {issued.secret}"}


def _cob(client: Any, platform: Any, tenant: Tenant, as_of: str) -> None:
    """The business date moved to `as_of`, then the `loan-cob` job run through the jobs API as of it."""
    set_business_date(platform, tenant, date.fromisoformat(as_of))
    accepted = client.post("/api/v1/jobs/loan-cob/runs", json={"as_of": as_of}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    scheduler_for(platform).execute(accepted.json()["run_id"])
    settle(platform, "jobs")
    settle(platform, "identity")
    settle(platform, Loans.name)


def _until(client: Any, tenant: Tenant, platform: Any, loan_id: str, status: str) -> None:
    deadline = time.monotonic() + 15
    while client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["status"] != status:
        assert time.monotonic() < deadline, f"the loan never became {status}"
        time.sleep(0.05)
    settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())


@pytest.fixture
def payouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)


def test_a_loans_whole_life_replays_to_what_the_api_said_at_every_instant(
    app: Any, client: Any, platform: Any, wired: dict[str, Any], payouts: None
) -> None:
    tenant = make_tenant(platform)
    manager, head = _key(platform, tenant, "collection_manager"), _key(platform, tenant, "collection_head")
    set_business_date(platform, tenant, D0)
    said: list[tuple[datetime, datetime, dict[str, Any]]] = []
    loan_id = ""

    def record(status: str) -> None:
        """The instant, the loan's GET, and an instant after it (still before the next step)."""
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())
        at = _now()
        answer = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == status, (status, answer.json()["status"])
        said.append((at, _now(), answer.json()))

    before_it = _now()
    made = client.post(
        "/api/v1/customers",
        json={"name": "Kavya Raman", "phone": mobile("98765"), "date_of_birth": "1991-04-12",
              "pan": "ABCPK1234L", "addresses": [{"line1": "12 Temple Street", "city": "Madurai", "pincode": "625001"}]},
        headers=tenant.auth,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    body = {"customer_id": made.json()["id"], "product_id": str(PRODUCT), "amount": "120000", "tenure": 12}
    created = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert created.status_code == 201, created.text
    loan_id = created.json()["id"]
    url = f"/api/v1/loans/{loan_id}"
    record("onboarding")
    assert client.post(f"{url}/submit", headers=tenant.auth).status_code == 200
    record("pending")
    approve = {"approved_amount": "110000", "remarks": "salary supports 110k"}
    assert client.post(f"{url}/cx-approve", json=approve, headers=tenant.auth).status_code == 200
    record("cx_approved")
    sanction = {"sanctioned_amount": "100000.00", "remarks": "FOIR at the limit"}
    assert client.post(f"{url}/sanction", json=sanction, headers=tenant.auth).status_code == 200
    record("sm_approved")
    _issue(platform)
    record("sm_approved")  # the agreement issued, the link sent
    link = client.get(url, headers=tenant.auth).json()["esign"]["link"]
    assert httpx.post(link, json={"action": "sign"}, timeout=10).status_code == 200
    _until(client, tenant, platform, loan_id, "approved")
    record("approved")
    _verified_account(client, tenant, made.json()["id"])
    AgreementWorker(platform.port(AgreementJobPort)).drain(check_queue=True)
    _until(client, tenant, platform, loan_id, "awaiting_disbursal")
    record("awaiting_disbursal")
    started = client.post(f"{url}/disburse", json={"mode": "IMPS"}, headers=tenant.auth)
    assert started.status_code == 202, started.text
    confirm = httpx.post(started.json()["disbursement"]["simulator_url"], json={"action": "confirm"}, timeout=10)
    assert confirm.status_code == 200, confirm.text
    _until(client, tenant, platform, loan_id, "active")
    record("active")

    set_business_date(platform, tenant, date(2026, 2, 28))
    record("active")  # the first instalment due today
    pay = {"amount": "1000.00", "mode": "upi", "reference": "UTR-A1", "paid_on": "2026-02-28"}
    assert client.post(f"{url}/repayments", json=pay, headers=tenant.auth).status_code == 201
    record("partially_paid")
    _cob(client, platform, tenant, "2026-03-04")  # 28 Feb .. 4 Mar: overdue, penal charges; business date 5 Mar
    record("overdue")
    back = {"amount": "500.00", "mode": "cheque", "reference": "CHQ-7", "paid_on": "2026-03-01"}
    assert client.post(f"{url}/repayments", json=back, headers=tenant.auth).status_code == 201
    record("overdue")  # back-dated: re-allocated from 1 Mar, penal charges recomputed
    penal = client.get(url, headers=tenant.auth).json()["outstanding"]["penal"]
    asked = client.post(f"{url}/waivers", json={"amount": penal, "justification": "hospital stay"}, headers=manager)
    assert asked.status_code == 201, asked.text
    record("overdue")  # asked, not yet decided: nothing moved
    assert client.post(f"/api/v1/waivers/{asked.json()['id']}/approve", headers=head).status_code == 200
    record("overdue")
    _cob(client, platform, tenant, "2026-03-09")
    record("overdue")
    offer = {"amount": "60000.00", "remarks": "job lost; one-time"}
    proposed = client.post(f"{url}/settlements", json=offer, headers=manager)
    assert proposed.status_code == 201, proposed.text
    assert client.post(f"/api/v1/settlements/{proposed.json()['id']}/approve", headers=head).status_code == 200
    record("overdue")
    final = {"amount": "60000.00", "mode": "neft", "reference": "UTR-SETTLE"}
    assert client.post(f"{url}/repayments", json=final, headers=tenant.auth).status_code == 201
    record("settled")

    assert len({(s["status"], s["dpd"], s["outstanding"] and s["outstanding"]["total"]) for *_, s in said}) >= 10
    early = client.get(f"/api/v1/audit/loan/{loan_id}/state", params={"as_of": before_it.isoformat()},
                       headers=tenant.auth)  # fmt: skip
    assert early.status_code == 200 and early.json()["exists"] is False and early.json()["state"] is None
    for at, after, then in said:
        for instant in (at, after):
            answer = client.get(
                f"/api/v1/audit/loan/{loan_id}/state", params={"as_of": instant.isoformat()}, headers=tenant.auth
            )
            assert answer.status_code == 200, answer.text
            replayed = answer.json()["state"]
            assert replayed["status"] == then["status"], (instant, replayed["status"], then["status"])
            assert replayed["version"] == then["version"], (instant, then["status"])
            assert replayed["schedule"] == then["schedule"], (instant, then["status"], "schedule")
            for key in SERVICING if then["dpd"] is not None else ():
                assert replayed[key] == then[key], (instant, key, replayed[key], then[key])

    history = client.get(f"/api/v1/audit/loan/{loan_id}/history", headers=tenant.auth).json()["events"]
    moves = [e for e in history if "status" in e["data"]]
    assert [e["data"]["status"] for e in moves][:8] == [
        "pending", "cx_approved", "sm_approved", "approved", "awaiting_disbursal", "active", "partially_paid", "overdue"
    ]  # fmt: skip
    for event in moves:
        assert event["actor"] != "system" and event["data"]["reason"], event
    money = {e["event"]: e["data"] for e in history}
    closes = [e for e in history if e["event"] in ("DayClosed", "StatusMoved")]
    assert closes and {e["actor"] for e in closes} == {"job:loan-cob"}, [(e["event"], e["actor"]) for e in closes]
    assert all(str(e["trace_id"]).startswith("job-run:") for e in closes), [e["trace_id"] for e in closes]
    assert money["CxApproved"]["approved_amount"] == "110000.00"
    assert money["Sanctioned"]["sanctioned_amount"] == "100000.00"
    net = said[-1][2]["amounts"]["net_disbursed"]
    assert money["Disbursed"]["amount"] == money["DisbursalQueued"]["net_disbursed"] == net
    assert money["WaiverApproved"]["amount"] == penal
    assert money["Settled"]["status"] == "settled"

    # The audit page shows the same figures as of the overdue instant after the back-dated payment.
    from tests.e2e.test_access_matrix import _signed_in

    at, _, then = next(s for s in said if s[2]["status"] == "overdue")
    browser, _ = _signed_in(app, platform, tenant.brand_id, "admin")
    try:
        page = browser.get(f"/audit/loan/{loan_id}", params={"as_of": at.isoformat()})
        assert page.status_code == 200, page.text
        assert f'id="as-of-dpd">{then["dpd"]}<' in page.text and f'id="as-of-class">{then["asset_class"]}<' in page.text
        assert f'data-field="total">{rupees(then["outstanding"]["total"])}<' in page.text
    finally:
        browser.__exit__(None, None, None)


def _problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, (answer.request.url, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    return dict(answer.json())


def test_the_auditor_is_told_what_is_wrong_with_an_instant_or_a_loan_and_sees_no_other_brands(
    app: Any, client: Any, platform: Any
) -> None:
    """An instant before the loan: no state. The same instant written in UTC, without an offset (read as UTC) or in
    India's offset: the same state. In the future: as of now (not a forecast on a business date not yet reached). Malformed,
    an unknown loan, another brand's loan: a 4xx problem naming the field, never a 500 and nothing of the loan."""
    tenant, other = make_tenant(platform), make_tenant(platform)
    made = client.post("/api/v1/customers", json={"name": "Ravi Kumar", "phone": mobile("98764")},
                       headers=tenant.auth)  # fmt: skip
    before = _now()
    body = {"customer_id": made.json()["id"], "product_id": str(PRODUCT), "amount": "50000", "tenure": 6}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
    assert client.post(f"/api/v1/loans/{loan['id']}/submit", headers=tenant.auth).status_code == 200
    submitted = _now().replace(microsecond=0) + timedelta(seconds=1)  # whole seconds: every spelling is exact
    while datetime.now(UTC) <= submitted:
        time.sleep(0.05)
    state = f"/api/v1/audit/loan/{loan['id']}/state"

    def at(as_of: str, auth: dict[str, str] = tenant.auth) -> httpx.Response:
        return client.get(state, params={"as_of": as_of}, headers=auth)

    assert at(before.isoformat()).json()["exists"] is False
    spellings = [submitted.isoformat(), submitted.strftime("%Y-%m-%dT%H:%M:%S"),
                 submitted.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()]  # fmt: skip
    answers = [at(s).json() for s in spellings]
    assert answers[0]["state"]["status"] == "pending"
    assert {datetime.fromisoformat(a["as_of"]) for a in answers} == {submitted}
    assert all((a["version"], a["state"]) == (answers[0]["version"], answers[0]["state"]) for a in answers)

    # An instant still to come is answered as of now: the latest state, not a forecast (DPD and the business date
    # of a day not yet reached).
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = at(tomorrow).json()
    latest = at(_now().isoformat()).json()
    assert datetime.fromisoformat(later["as_of"]) <= datetime.now(UTC)
    assert (later["version"], later["state"]) == (latest["version"], latest["state"])
    diff = client.get(f"/api/v1/audit/loan/{loan['id']}/diff", params={"from": before.isoformat(), "to": tomorrow},
                      headers=tenant.auth)  # fmt: skip
    assert diff.status_code == 200 and diff.json()["changes"]["status"]["to"] == "pending", diff.text
    for bad in ("yesterday", "2026-02-30T10:00:00Z", "2026-01-01", "2026-01-01T10:00:00+24:00", "0001-01-01T00:00Z"):
        assert _problem(at(bad), 422)["errors"][0]["field"] == "as_of", bad
    unknown = client.get(f"/api/v1/audit/loan/{uuid.uuid4()}/state", params={"as_of": before.isoformat()},
                         headers=tenant.auth)  # fmt: skip
    _problem(unknown, 404)
    for answer in (at(submitted.isoformat(), other.auth), at(tomorrow, other.auth)):
        assert answer.status_code in (404, 422) and loan["loan_number"] not in answer.text, answer.text
    assert _problem(at(submitted.isoformat(), other.auth), 404)

    from tests.e2e.test_access_matrix import _signed_in

    browser, _ = _signed_in(app, platform, tenant.brand_id, "admin")
    try:
        page = browser.get(f"/audit/loan/{loan['id']}", params={"as_of": tomorrow})
        assert page.status_code == 200 and loan["loan_number"] in page.text, page.status_code
        assert browser.get(f"/audit/loan/{loan['id']}", params={"as_of": submitted.isoformat()}).status_code == 200
    finally:
        browser.__exit__(None, None, None)
    theirs, _ = _signed_in(app, platform, other.brand_id, "admin")
    try:
        page = theirs.get(f"/audit/loan/{loan['id']}", params={"as_of": submitted.isoformat()})
        assert page.status_code == 404 and loan["loan_number"] not in page.text
    finally:
        theirs.__exit__(None, None, None)


def test_a_sanctioned_loans_planned_schedule_replays_on_the_calendar_and_business_date_of_each_instant(
    client: Any, platform: Any
) -> None:
    """Before disbursal the GET shows the sanctioned schedule from the business date on the brand's repayment
    calendar; a holiday added and the business date moved later change it, and the replay of each earlier instant
    keeps what was shown then."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    made = client.post("/api/v1/customers", json={"name": "Anil Menon", "phone": mobile("98763")},
                       headers=tenant.auth)  # fmt: skip
    body = {"customer_id": made.json()["id"], "product_id": str(PRODUCT), "amount": "60000", "tenure": 6}
    url = f"/api/v1/loans/{client.post('/api/v1/loans', json=body, headers=tenant.auth).json()['id']}"
    assert client.post(f"{url}/submit", headers=tenant.auth).status_code == 200
    approve = {"approved_amount": "60000", "remarks": "fits"}
    assert client.post(f"{url}/cx-approve", json=approve, headers=tenant.auth).status_code == 200
    sanction = {"sanctioned_amount": "60000.00", "remarks": "fits"}
    assert client.post(f"{url}/sanction", json=sanction, headers=tenant.auth).status_code == 200
    shown: list[tuple[datetime, list[dict[str, Any]]]] = []

    def record() -> None:
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())
        shown.append((_now(), client.get(url, headers=tenant.auth).json()["schedule"]))

    record()  # first due 28 Feb 2026 (a Saturday)
    changed, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"repayment_holidays": ["2026-02-28"]})
    settle(platform, "identity", changed.position)
    record()  # moved past the holiday and the Sunday: 2 Mar
    set_business_date(platform, tenant, date(2026, 2, 10))
    record()  # expected on 10 Feb now: due 10 Mar onwards
    assert [s[0]["due_date"] for _, s in shown] == ["2026-02-28", "2026-03-02", "2026-03-10"]
    for instant, schedule in shown:
        answer = client.get(f"/api/v1/audit/loan/{url.rsplit('/', 1)[1]}/state", params={"as_of": instant.isoformat()},
                            headers=tenant.auth)  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"]["schedule"] == schedule, instant
