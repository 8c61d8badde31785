"""Unlinking a loan number linked to a borrower by mistake (POST /api/v1/customers/{id}/loan-numbers/unlink and the
Customer 360's Unlink button): a required reason and the record's version (If-Match), `LoanNumberUnlinked` in the
timeline, the auditor's history and as-of replay; the directory search and notice matching no longer find the borrower
by it, and another borrower may link it. Refusals (403, 404, 409, 422) are problem+json and change nothing."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.conftest import make_tenant
from tests.e2e.test_customer_edit_forms import _borrower, _history, _record, _refused_elsewhere, _saved, desk
from tests.e2e.test_notice_match_confirm import _key, _notice, simulator
from tests.e2e.test_notice_unmatch import _drain
from tests.e2e.test_notices import _feed, _item, _source, _sync
from tests.e2e.test_portal_edit_forms import _hidden, _said
from tests.support import settle

# The 360 edit forms' desk and the notice tests' Softmedia simulator apply here too.
__all__ = ["desk", "simulator"]


def _instant() -> str:
    time.sleep(0.01)
    moment = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    return moment


def _search(client: Any, tenant: Any, q: str) -> list[str]:
    found = client.get("/api/v1/customers", params={"q": q}, headers=tenant.auth)
    assert found.status_code == 200, found.text
    return [c["id"] for c in found.json()["items"]]


def test_a_wrongly_linked_number_is_unlinked_through_the_api_and_stops_matching_notices(
    client: Any, platform: Any, simulator: Any
) -> None:
    tenant = make_tenant(platform)
    loan = f"SML{uuid.uuid4().int % 10**10:010d}"
    wrong, _ = _borrower(client, platform, tenant, loan_numbers=["SML-KEEP-1"])
    right, _ = _borrower(client, platform, tenant)
    assert client.post(f"/api/v1/customers/{wrong}/loan-numbers", json={"loan_number": loan},
                       headers=tenant.auth).status_code == 201  # fmt: skip
    # A notice of that loan (a name and phone of nobody's) is matched to the borrower by the number alone.
    simulator.dataset.upsert(_item("UL1", loan=loan, name="Zorawar Pillai", phone="9800011122", days=12))
    source_id = _source(client, tenant, simulator)
    _sync(client, platform, tenant, source_id)
    (notice,) = _feed(client, tenant, "overdue")
    assert notice["match"]["customer_id"] == wrong and notice["match"]["methods"] == ["loan_number"]
    settle(platform, "customers")
    assert _search(client, tenant, loan) == [wrong]
    url = f"/api/v1/customers/{wrong}/loan-numbers/unlink"
    before = _record(client, tenant, wrong)
    version = before["version"]
    seen_linked = _instant()

    # Refused, nothing changed: no CUSTOMER WRITE (403), bad input (422), a number not linked (422 naming it), a
    # stale If-Match (409), another brand's staff (404).
    reader = _key(platform, tenant, "collection_executive")
    assert client.post(url, json={"loan_number": loan, "reason": "wrong borrower"}, headers=reader).status_code == 403
    for bad, field in (({"loan_number": loan, "reason": "ab"}, "reason"), ({"loan_number": loan}, "reason"),
                       ({"loan_number": "no spaces here", "reason": "wrong borrower"}, "loan_number"),
                       ({"loan_number": "SML-NOT-LINKED", "reason": "wrong borrower"}, "loan_number")):  # fmt: skip
        answer = client.post(url, json=bad, headers=tenant.auth)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in answer.json()["errors"]}, answer.text
    not_linked = client.post(url, json={"loan_number": "SML-NOT-LINKED", "reason": "wrong borrower"},
                             headers=tenant.auth)  # fmt: skip
    assert "not a loan number linked to this borrower" in not_linked.text
    stale = client.post(url, json={"loan_number": loan, "reason": "wrong borrower"},
                        headers={**tenant.auth, "If-Match": f'"{version - 1}"'})  # fmt: skip
    assert stale.status_code == 409 and stale.headers["content-type"] == "application/problem+json"
    other = make_tenant(platform)
    assert client.post(url, json={"loan_number": loan, "reason": "wrong borrower"},
                       headers=other.auth).status_code == 404  # fmt: skip
    settle(platform, "customers")
    assert _record(client, tenant, wrong) == before

    done = client.post(url, json={"loan_number": loan.lower(), "reason": "belongs to   another borrower"},
                       headers={**tenant.auth, "If-Match": f'"{version}"'})  # fmt: skip
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["loan_numbers"] == ["SML-KEEP-1"] and body["version"] == version + 1
    assert done.headers["etag"] == f'"{version + 1}"'
    entry = body["timeline"][0]
    assert entry["kind"] == "loan_unlinked" and entry["actor"].startswith("apikey:")
    assert entry["details"] == {"loan_number": loan, "reason": "belongs to another borrower"}
    seen_unlinked = _instant()

    # The directory search no longer finds the borrower by it (the number kept still does).
    assert _search(client, tenant, loan) == [] and _search(client, tenant, "SML-KEEP-1") == [wrong]
    # The auditor's history and as-of replay.
    last = _history(client, tenant, wrong)[-1]
    assert (last["event"], last["actor"][:7]) == ("LoanNumberUnlinked", "apikey:")
    states = [client.get(f"/api/v1/audit/customer/{wrong}/state", params={"as_of": at}, headers=tenant.auth).json()
              for at in (seen_linked, seen_unlinked)]  # fmt: skip
    assert [s["state"]["loan_numbers"] for s in states] == [["SML-KEEP-1", loan], ["SML-KEEP-1"]]

    # Notice matching: the rematch leaves the notice unmatched (nothing points at the borrower now) ...
    _drain(platform)
    assert _notice(client, tenant, notice["id"])["match"]["customer_id"] is None
    # ... and the number is free: linked to the right borrower, the notice is matched to them.
    relinked = client.post(f"/api/v1/customers/{right}/loan-numbers", json={"loan_number": loan}, headers=tenant.auth)
    assert relinked.status_code == 201, relinked.text
    _drain(platform)
    assert _notice(client, tenant, notice["id"])["match"]["customer_id"] == right
    assert _search(client, tenant, loan) == [right]


def test_a_loan_number_is_unlinked_from_the_customer_360_with_a_reason_and_the_version_it_showed(
    client: Any, platform: Any, desk: dict[str, Any]
) -> None:
    tenant, admin = desk["tenant"], desk["admin"]
    customer, _ = _borrower(client, platform, tenant, loan_numbers=["SML-A-WRONG", "SML-B-RIGHT"])
    page, action = f"/customers/{customer}", f"/customers/{customer}/loan-numbers/unlink"
    opened = admin.get(page).text
    assert 'data-loan-number="SML-A-WRONG"' in opened
    fields = _hidden(opened, "unlink-loan-0")
    assert fields["loan_number"] == "SML-A-WRONG"
    version = _record(client, tenant, customer)["version"]
    assert fields["expected_version"] == str(version)

    # Refused, nothing changed: no reason (422, said at the form), a Collection Executive (403), brand B (404).
    short = admin.post(action, data={**fields, "reason": "x"})
    assert short.status_code == 422 and "reason" in _said(short.text, "loan-number-error"), short.text[:300]
    unlink = {"loan_number": "SML-A-WRONG", "expected_version": str(version), "reason": "wrong borrower"}
    _refused_elsewhere(desk, customer, action, unlink)
    # A record changed since the page was opened (an alternate phone added): 409 in words, nothing unlinked.
    added = client.post(f"/api/v1/customers/{customer}/alternate-phones", json={"phone": "+91 99887 70011"},
                        headers=tenant.auth)  # fmt: skip
    assert added.status_code == 201
    stale = admin.post(action, data={**fields, "reason": "wrong borrower"})
    assert stale.status_code == 409, stale.text[:300]
    assert _said(stale.text, "loan-number-error") == (
        "Someone else changed this borrower's record since you opened it, so nothing was unlinked. Its loan numbers "
        "are now: SML-A-WRONG, SML-B-RIGHT. Unlink again if it is still wrong."
    )
    assert _record(client, tenant, customer)["loan_numbers"] == ["SML-A-WRONG", "SML-B-RIGHT"]

    fields = _hidden(stale.text, "unlink-loan-0")  # the page as it is now carries the current version
    posted = admin.post(action, data={**fields, "reason": "typed on the wrong borrower"})
    shown = _saved(admin, posted, customer, "loan-unlinked", "Loan number unlinked.")
    assert 'data-loan-number="SML-A-WRONG"' not in shown and "Unlinked loan SML-A-WRONG" in shown
    assert _record(client, tenant, customer)["loan_numbers"] == ["SML-B-RIGHT"]
    last = _history(client, tenant, customer)[-1]
    assert (last["event"], last["actor"]) == ("LoanNumberUnlinked", f"staff:{desk['admin_id']}")
