"""Covenants are scoped by company as notices are: a covenant may belong to a company of the brand
(`Covenant.Created.company`), and a staff member limited to companies sees their companies' covenants and those of no
company (every company's), never another company's -- not by id (404, as an unknown id), not its records, not on any
write (reassign, close, comply, waive, submit a value, attach or read a proof), not in the worklist, the counts, the
notices sent, the Customer 360, the portal's pages, the audit trail or the activity log. Setting one up for a company
they may not see is a 422 naming `company`. Unlimited staff see every company's. A rebuild of the covenants context's
trail gives the same rows, companies included."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from domain.covenants.application import Covenants
from domain.covenants.covenant import CovenantEvaluation
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from projections.activity import ActivityLog
from tests.conftest import Tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_covenant_proofs import _pdf
from tests.e2e.test_covenants import _borrower, _covenant, _evaluations, _run
from tests.e2e.test_notice_decisions_trail import _trail
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle

#: What the staff members of these tests may do (each limited or not by company).
GRANTS = {"COVENANTS": "WRITE", "COVENANT_REVIEW": "WRITE", "AUDIT_REPLAY": "READ", "CUSTOMER": "READ",
          "VIEW_DASHBOARD": "READ"}  # fmt: skip
TITLES = {"SML": "Sml debt service coverage", "KFL": "Kfl stock statement cover", None: "Shared insurance renewal"}
APPS = {"SML": "APP-SML-1", "KFL": "APP-KFL-1", None: "APP-ANY-1"}


def _staff(platform: Any, tenant: Tenant, companies: list[str]) -> str:
    email = f"cov-{uuid.uuid4().hex[:8]}@lender.in"
    identity = platform.get(Identity)
    made = identity.create_staff(
        tenant.brand_id, email, "Kiran Covenants", ["collection_manager"], PASSWORD, companies=companies,
        granter=OPERATOR,
    )  # fmt: skip
    identity.update_staff(tenant.brand_id, made.id, permissions=GRANTS, granter=OPERATOR)
    return email


def _session(app: Any, email: str) -> tuple[Any, str]:
    """A logged-in portal session whose API calls carry the CSRF token, and the token (for the portal's forms)."""
    browser, token = _portal(app, email)
    browser.headers["X-CSRF-Token"] = token
    return browser, token


@pytest.fixture
def companies(
    app: Any, client: Any, platform: Any, mail_sink: Any, staff: tuple[Tenant, str]
) -> Iterator[dict[str, Any]]:
    """A brand with one borrower holding a covenant of SML, one of KFL and one of no company (each under its own
    application), each with an open record and a reminder queued and sent; a staff member limited to SML and an
    unlimited one, both logged in to the portal."""
    tenant, _ = staff
    customer = _borrower(client, tenant, f"borrower-{uuid.uuid4().hex[:6]}@example.in")
    covenants = {
        company: _covenant(
            client,
            tenant,
            customer,
            title=TITLES[company],
            application_ref=APPS[company],
            **({"company": company} if company else {}),
        )
        for company in ("SML", "KFL", None)
    }
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    _run(client, platform, tenant, "covenant-notification", "2024-01-24")
    records = {company: _evaluations(client, tenant, c["id"])[0]["id"] for company, c in covenants.items()}
    notices = client.get("/api/v1/covenant-notices", headers=tenant.auth).json()["items"]
    by_record = {n["evaluation_ids"][0]: n["id"] for n in notices}
    limited_email, unlimited_email = _staff(platform, tenant, ["SML"]), _staff(platform, tenant, [])
    settle(platform, "identity")
    limited, limited_token = _session(app, limited_email)
    unlimited, _ = _session(app, unlimited_email)
    try:
        yield {
            "tenant": tenant, "customer": customer, "ids": {k: c["id"] for k, c in covenants.items()},
            "records": records, "notices": {k: by_record[r] for k, r in records.items()},
            "limited": limited, "token": limited_token, "unlimited": unlimited,
        }  # fmt: skip
    finally:
        limited.__exit__(None, None, None)
        unlimited.__exit__(None, None, None)


def _worklist(session: Any) -> set[str]:
    page = session.get("/api/v1/covenants", params={"limit": 200})
    assert page.status_code == 200, page.text
    return {c["id"] for c in page.json()["items"]}


def _hidden(answer: Any, record_id: str) -> None:
    """A 404 problem that says nothing of the record (as an unknown id's)."""
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "KFL" not in answer.text


def test_staff_limited_to_a_company_see_its_covenants_and_company_less_ones_never_another_companys(
    client: Any, platform: Any, companies: dict[str, Any]
) -> None:
    tenant, limited, unlimited = companies["tenant"], companies["limited"], companies["unlimited"]
    ids, records, notices = companies["ids"], companies["records"], companies["notices"]
    every = set(ids.values())
    # Unlimited (the brand's key, an unlimited staff member): every company's covenant.
    assert _worklist(unlimited) == every
    assert {c["id"] for c in client.get("/api/v1/covenants", headers=tenant.auth).json()["items"]} == every
    for company, covenant_id in ids.items():
        got = unlimited.get(f"/api/v1/covenants/{covenant_id}")
        assert got.status_code == 200 and got.json()["company"] == company, got.text
    counts = unlimited.get("/api/v1/covenant-dashboard").json()
    assert counts["active_covenants"] == 3 and counts["open"] == 3
    assert {n["id"] for n in unlimited.get("/api/v1/covenant-notices").json()["items"]} == set(notices.values())
    # Limited to SML: SML's and the company-less covenant, their records and notices; KFL's nowhere.
    assert _worklist(limited) == {ids["SML"], ids[None]}
    assert _worklist(limited) & {ids["KFL"]} == set()
    for company in ("SML", None):
        assert limited.get(f"/api/v1/covenants/{ids[company]}").status_code == 200
        assert limited.get(f"/api/v1/covenants/{ids[company]}/evaluations").status_code == 200
        assert limited.get(f"/api/v1/covenant-evaluations/{records[company]}").status_code == 200
    kfl, kfl_record = ids["KFL"], records["KFL"]
    _hidden(limited.get(f"/api/v1/covenants/{kfl}"), kfl)
    _hidden(limited.get(f"/api/v1/covenants/{kfl}/evaluations"), kfl)
    _hidden(limited.get(f"/api/v1/covenant-evaluations/{kfl_record}"), kfl_record)
    unknown = str(uuid.uuid4())
    missing = limited.get(f"/api/v1/covenants/{unknown}")
    assert limited.get(f"/api/v1/covenants/{kfl}").json()["detail"] == missing.json()["detail"].replace(unknown, kfl)
    counts = limited.get("/api/v1/covenant-dashboard").json()
    assert counts["active_covenants"] == 2 and counts["open"] == 2
    assert {n["id"] for n in limited.get("/api/v1/covenant-notices").json()["items"]} == {notices["SML"], notices[None]}
    # Every write on KFL's covenant or its record: 404, and nothing changes.
    version = unlimited.get(f"/api/v1/covenants/{kfl}").headers["ETag"]
    writes = [
        limited.patch(f"/api/v1/covenants/{kfl}", json={"assignee_id": None}, headers={"If-Match": version}),
        limited.post(f"/api/v1/covenants/{kfl}/close", json={"reason": "Loan repaid early"}),
        limited.post(f"/api/v1/covenant-evaluations/{kfl_record}/comply", json={"evidence": "DMS-7 statement"}),
        limited.post(f"/api/v1/covenant-evaluations/{kfl_record}/waive", json={"reason": "Board waived it"}),
        limited.post(f"/api/v1/covenant-evaluations/{kfl_record}/submit-value", json={"value": "1.5"}),
        limited.post(
            f"/api/v1/covenant-evaluations/{kfl_record}/proofs",
            files={"file": ("stock.pdf", _pdf("kfl"), "application/pdf")},
        ),
        limited.get(f"/api/v1/covenant-evaluations/{kfl_record}/proofs/{uuid.uuid4()}"),
    ]
    for answer in writes:
        _hidden(answer, kfl)
    kept = unlimited.get(f"/api/v1/covenants/{kfl}")
    assert kept.headers["ETag"] == version and kept.json()["status"] == "active"
    (record,) = kept.json()["evaluations"]
    assert record["status"] == "open" and record["value"] is None and record["proofs"] == []
    # Their own company's record is theirs to decide.
    done = limited.post(f"/api/v1/covenant-evaluations/{records['SML']}/waive", json={"reason": "Board waived it"})
    assert done.status_code == 200 and done.json()["status"] == "waived", done.text
    # Setting one up: their company or none; another company is a 422 naming `company`.
    body = {"customer_id": companies["customer"], "application_ref": "APP-NEW-1", "title": "New stock statement",
            "type": "document", "document": "Stock statement", "frequency": "monthly", "start_date": "2024-01-01",
            "first_due_date": "2024-01-31", "expiry_date": "2024-12-31"}  # fmt: skip
    refused = limited.post("/api/v1/covenants", json=body | {"company": "KFL"})
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["company"], refused.text
    assert limited.post("/api/v1/covenants", json=body | {"company": "SML"}).status_code == 201
    assert limited.post("/api/v1/covenants", json=body).status_code == 201
    assert unlimited.post("/api/v1/covenants", json=body | {"company": "KFL"}).status_code == 201
    # The trail and the activity log: KFL's covenant, record and notice rows for the unlimited, none for the limited.
    for url in ("/api/v1/audit/trail", "/api/v1/activity"):
        for company in ("KFL", "SML", None):
            for aggregate_id in (ids[company], records[company], notices[company]):
                assert _trail(unlimited, None, url, aggregate_id=aggregate_id) != []
                seen = _trail(limited, None, url, aggregate_id=aggregate_id)
                assert (seen == []) is (company == "KFL"), (url, company, aggregate_id)
    everything = {i["aggregate_id"] for i in _trail(limited, None, "/api/v1/audit/trail")}
    assert everything & {kfl, kfl_record, notices["KFL"]} == set()
    assert {ids["SML"], records["SML"], notices["SML"], ids[None]} <= everything
    # The replay of KFL's covenant and of its record: 404, as by id.
    assert limited.get(f"/api/v1/audit/covenant/{kfl}/history").status_code == 404
    assert limited.get(f"/api/v1/audit/covenant_evaluation/{kfl_record}/history").status_code == 404
    assert unlimited.get(f"/api/v1/audit/covenant_evaluation/{kfl_record}/history").status_code == 200


def test_the_portal_shows_a_limited_staff_member_no_covenant_of_another_company(
    platform: Any, companies: dict[str, Any]
) -> None:
    limited, token, unlimited = companies["limited"], companies["token"], companies["unlimited"]
    ids, records = companies["ids"], companies["records"]
    kfl, kfl_record = ids["KFL"], records["KFL"]
    page = unlimited.get("/covenants")
    assert page.status_code == 200 and all(title in page.text for title in TITLES.values())
    page = limited.get("/covenants")
    assert page.status_code == 200 and TITLES["SML"] in page.text and TITLES[None] in page.text
    assert TITLES["KFL"] not in page.text
    customer = limited.get(f"/customers/{companies['customer']}")
    assert customer.status_code == 200 and TITLES["SML"] in customer.text and TITLES["KFL"] not in customer.text
    assert TITLES["KFL"] in unlimited.get(f"/customers/{companies['customer']}").text
    sent = limited.get("/covenant-notices")
    assert sent.status_code == 200 and APPS["SML"] in sent.text and APPS["KFL"] not in sent.text
    assert APPS["KFL"] in unlimited.get("/covenant-notices").text
    assert limited.get(f"/covenants/{ids['SML']}").status_code == 200
    assert limited.get(f"/covenants/{kfl}").status_code == 404
    assert unlimited.get(f"/covenants/{kfl}").status_code == 200
    forms = [
        (f"/covenants/{kfl}/close", {"reason": "Loan repaid early"}),
        (f"/covenants/{kfl}/assignee", {"assignee_id": "", "expected_version": "1"}),
        (f"/covenant-evaluations/{kfl_record}/waive", {"text": "Board waived it"}),
        (f"/covenant-evaluations/{kfl_record}/comply", {"text": "DMS-7 statement"}),
        (f"/covenant-evaluations/{kfl_record}/submit-value", {"text": "1.5"}),
    ]
    for url, form in forms:
        answer = limited.post(url, data={"csrf_token": token, **form})
        assert answer.status_code == 404 and TITLES["KFL"] not in answer.text, (url, answer.status_code)
    upload = limited.post(f"/covenant-evaluations/{kfl_record}/proofs", data={"csrf_token": token},
                          files={"file": ("stock.pdf", _pdf("kfl-page"), "application/pdf")})  # fmt: skip
    assert upload.status_code == 404
    assert limited.get(f"/covenant-evaluations/{kfl_record}/proofs/{uuid.uuid4()}").status_code == 404
    (record,) = unlimited.get(f"/api/v1/covenants/{kfl}").json()["evaluations"]
    assert record["status"] == "open" and record["proofs"] == []
    # The portal's trail: no row of KFL's covenant or record (a brand-wide job run's row may name an id it passed).
    trail = limited.get("/audit")
    assert trail.status_code == 200
    assert f'data-record="{kfl}"' not in trail.text and f'data-record="{kfl_record}"' not in trail.text
    for record_id in (kfl, kfl_record):
        assert f'data-record="{record_id}"' not in limited.get("/audit", params={"aggregate_id": record_id}).text
        assert f'data-record="{record_id}"' in unlimited.get("/audit", params={"aggregate_id": record_id}).text
    assert f'data-record="{ids["SML"]}"' in limited.get("/audit", params={"aggregate_id": ids["SML"]}).text


def _covenant_rows(platform: Any, brand: UUID) -> list[tuple[Any, ...]]:
    """The brand's rows of the covenants context's trail, companies included."""
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT position, aggregate_type, aggregate_id, event_type, actor, details, company FROM read.activity "
            "WHERE source = 'covenants' AND brand_id = %s ORDER BY position",
            (brand,),
        ).fetchall()
    return [tuple(r.values()) for r in rows]


def test_the_rebuilt_covenant_trail_keeps_each_rows_company(
    platform: Any, companies: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = _covenant_rows(platform, companies["tenant"].brand_id)
    of = {str(r[2]): r[6] for r in live}
    for company in ("SML", "KFL", None):
        for aggregate_id in (companies["ids"][company], companies["records"][company], companies["notices"][company]):
            assert of[aggregate_id] == company
    platform.engine.rebuild("activity_covenants", batch=5000)
    assert _covenant_rows(platform, companies["tenant"].brand_id) == live
    platform.engine.rebuild("activity_covenants", batch=3)
    assert _covenant_rows(platform, companies["tenant"].brand_id) == live
    with monkeypatch.context() as patch:
        patch.setattr(ActivityLog, "applies_stored", lambda self, topic, state: False)
        platform.engine.rebuild("activity_covenants", batch=5000)
    assert _covenant_rows(platform, companies["tenant"].brand_id) == live


def _run_id(client: Any, tenant: Tenant, job: str) -> str:
    runs = client.get(f"/api/v1/jobs/{job}/runs", headers=tenant.auth)
    assert runs.status_code == 200, runs.text
    return str(runs.json()["items"][0]["id"])


def test_a_brand_wide_job_runs_cursor_is_null_to_staff_limited_to_companies(
    client: Any, platform: Any, companies: dict[str, Any]
) -> None:
    """The covenant-evaluation job is brand-wide: its batches' cursor is the last covenant id it passed, of any
    company. Staff limited to companies read it as null (the field kept) in the trail, the activity log and the
    audit replay of the run; unlimited staff read the id."""
    tenant, limited, unlimited = companies["tenant"], companies["limited"], companies["unlimited"]
    run_id = _run_id(client, tenant, "covenant-evaluation")
    ids = set(companies["ids"].values())
    for url in ("/api/v1/audit/trail", "/api/v1/activity"):
        full = [i for i in _trail(unlimited, None, url, aggregate_id=run_id) if i["event_type"] == "BatchCompleted"]
        assert full and {i["details"]["cursor"] for i in full} <= ids, full
        seen = [i for i in _trail(limited, None, url, aggregate_id=run_id) if i["event_type"] == "BatchCompleted"]
        assert len(seen) == len(full) and all("cursor" in i["details"] for i in seen), seen
        assert {i["details"]["cursor"] for i in seen} == {None}, seen
        assert seen[0]["details"]["counts"] == full[0]["details"]["counts"]  # only the cursor is withheld
    history = f"/api/v1/audit/job_run/{run_id}/history"
    full = [e for e in unlimited.get(history).json()["events"] if e["event"] == "BatchCompleted"]
    seen = [e for e in limited.get(history).json()["events"] if e["event"] == "BatchCompleted"]
    assert full and {e["data"]["cursor"] for e in full} <= ids
    assert len(seen) == len(full) and {e["data"]["cursor"] for e in seen} == {None}
    state = f"/api/v1/audit/job_run/{run_id}/state"
    at = {"as_of": "2100-01-01T00:00:00Z"}
    assert unlimited.get(state, params=at).json()["state"]["cursor"] in ids
    limited_state = limited.get(state, params=at).json()["state"]
    assert "cursor" in limited_state and limited_state["cursor"] is None
    diff = limited.get(
        f"/api/v1/audit/job_run/{run_id}/diff", params={"from": "2000-01-01T00:00:00Z", "to": at["as_of"]}
    )
    assert diff.status_code == 200 and all(i not in diff.text for i in ids), diff.text
    portal = limited.get(f"/audit/job_run/{run_id}")
    assert portal.status_code == 200 and all(i not in portal.text for i in ids)
    assert any(i in unlimited.get(f"/audit/job_run/{run_id}").text for i in ids)


def _forget_company(platform: Any, aggregate_ids: list[str]) -> None:
    """Rewrite the creation events of `aggregate_ids` as they were stored before they carried a company: without the
    field (the class reads it as None)."""
    table = platform.get(Covenants).recorder.events_table_name
    with platform.db.pool.connection() as conn:
        changed = conn.execute(
            f"UPDATE events.{table} SET state = convert_to((convert_from(state, 'UTF8')::jsonb - 'company')::text, 'UTF8') "
            "WHERE originator_id = ANY(%s::uuid[]) AND originator_version = 1",
            ([UUID(i) for i in aggregate_ids],),
        ).rowcount
    assert changed == len(aggregate_ids)


def test_a_record_and_notice_stored_without_a_company_take_their_covenants(
    client: Any, platform: Any, companies: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record opened, and a notice queued, before those events carried their company are their covenant's: a staff
    member limited to another company sees no trail row of them (after a rebuild, in any batch size or decoded, and
    live for a record saved now without one), nor their replay; the unlimited see them."""
    tenant, limited, unlimited = companies["tenant"], companies["limited"], companies["unlimited"]
    kfl_record, kfl_notice = companies["records"]["KFL"], companies["notices"]["KFL"]
    _forget_company(platform, [kfl_record, kfl_notice])

    def hidden_from_limited(*aggregate_ids: str) -> None:
        for aggregate_id in aggregate_ids:
            for url in ("/api/v1/audit/trail", "/api/v1/activity"):
                assert _trail(unlimited, None, url, aggregate_id=aggregate_id) != []
                assert _trail(limited, None, url, aggregate_id=aggregate_id) == [], (url, aggregate_id)
        rows = {str(r[2]): r[6] for r in _covenant_rows(platform, tenant.brand_id)}
        assert all(rows[i] == "KFL" for i in aggregate_ids), rows

    for batch in (5000, 3):
        platform.engine.rebuild("activity_covenants", batch=batch)
        hidden_from_limited(kfl_record, kfl_notice)
    with monkeypatch.context() as patch:
        patch.setattr(ActivityLog, "applies_stored", lambda self, topic, state: False)
        platform.engine.rebuild("activity_covenants", batch=5000)
    hidden_from_limited(kfl_record, kfl_notice)
    # The replay of either: 404 to the limited, as their covenant's.
    for kind, aggregate_id in (("covenant_evaluation", kfl_record), ("covenant_notice", kfl_notice)):
        assert limited.get(f"/api/v1/audit/{kind}/{aggregate_id}/history").status_code == 404
        assert unlimited.get(f"/api/v1/audit/{kind}/{aggregate_id}/history").status_code == 200
    # Live: a record of KFL's covenant saved now without its company (as an old writer did).
    covenants = platform.get(Covenants)
    covenant = covenants.repository.get(UUID(companies["ids"]["KFL"]))
    record = CovenantEvaluation._create(
        CovenantEvaluation.Opened, id=uuid.uuid4(), brand_id=covenant.brand_id, covenant_id=covenant.id,
        customer_id=covenant.customer_id, application_ref=covenant.application_ref, title=covenant.title,
        terms=covenant.terms, cycle=99, due_date=date(2031, 1, 31), grace_days=0, notification_date=date(2031, 1, 24),
        expiry_date=date(2031, 12, 31),
    )  # fmt: skip
    assert record.company is None
    covenants.save(record)
    _forget_company(platform, [str(record.id)])
    settle(platform, "covenants")
    hidden_from_limited(str(record.id))


def test_company_codes_are_case_insensitive(client: Any, app: Any, platform: Any, staff: tuple[Tenant, str]) -> None:
    """A company code is the same code however it is typed ("sml" is SML): kept and shown as typed, for a covenant and
    a staff member's companies, and compared case-insensitively, live and after a rebuild."""
    tenant, _ = staff
    customer = _borrower(client, tenant, f"borrower-{uuid.uuid4().hex[:6]}@example.in")
    typed = _covenant(client, tenant, customer, title="Lower case company", application_ref="APP-LC-1", company="sml")
    assert typed["company"] == "sml"
    old = _covenant(client, tenant, customer, title="Mixed case company", application_ref="APP-LC-2", company="Sml")
    settle(platform, "covenants")
    platform.engine.rebuild("covenants", batch=5000)
    platform.engine.rebuild("activity_covenants", batch=5000)
    upper_email, lower_email, other_email = (_staff(platform, tenant, c) for c in (["SML"], ["sml"], ["KFL"]))
    settle(platform, "identity")
    with platform.db.pool.connection() as conn:
        kept = conn.execute("SELECT companies FROM read.staff WHERE email = %s", (lower_email,)).fetchone()
    assert kept["companies"] == ["sml"]
    for email, sees in ((upper_email, True), (lower_email, True), (other_email, False)):
        session, _ = _session(app, email)
        try:
            mine = _worklist(session)
            for covenant in (typed, old):
                assert (covenant["id"] in mine) is sees, (email, covenant)
                got = session.get(f"/api/v1/covenants/{covenant['id']}")
                assert got.status_code == (200 if sees else 404), got.text
                trail = _trail(session, None, "/api/v1/activity", aggregate_id=covenant["id"])
                assert (trail != []) is sees
                replay = session.get(f"/api/v1/audit/covenant/{covenant['id']}/history")
                assert replay.status_code == (200 if sees else 404)
            assert session.get("/api/v1/covenant-dashboard").json()["active_covenants"] == (2 if sees else 0)
        finally:
            session.__exit__(None, None, None)
    for email, sees in ((upper_email, True), (other_email, False)):
        session, _ = _session(app, email)
        try:
            made = session.post("/api/v1/covenants", json={
                "customer_id": customer, "application_ref": "APP-LC-3", "title": "Typed in lower case",
                "type": "document", "document": "Stock statement", "frequency": "monthly",
                "start_date": "2024-01-01", "first_due_date": "2024-01-31", "expiry_date": "2024-12-31",
                "company": "sml"})  # fmt: skip
            assert made.status_code == (201 if sees else 422), made.text
        finally:
            session.__exit__(None, None, None)
