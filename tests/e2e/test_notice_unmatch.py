"""A staff member takes a notice's borrower match back (POST /api/v1/notices/{id}/unmatch and the notice page's
"Remove the match" form): `Notice.MatchRemoved` records who and why, the notice is unmatched in the read model, the
borrower's notices and the dashboard; automatic matching never puts the removed borrower back but may match another.
A role without NOTICES WRITE is a 403, bad input a 422, another brand's notice a 404, a stale or unmatched notice a
409 - nothing changed by any of them."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant, make_tenant
from tests.e2e.test_notice_match_confirm import HIDDEN, _key, _low_match, _member, _notice, simulator
from tests.e2e.test_notices import _item, _sync
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import settle
from workers.notice_sync import NoticeJobPort, Rematcher

# The Softmedia simulator of the notice tests applies here too.
__all__ = ["simulator"]


def _drain(platform: Any) -> None:
    settle(platform, "customers")
    rematcher = Rematcher(platform.port(NoticeJobPort))
    while rematcher.drain():  # the queue also holds borrowers other tests changed
        continue
    settle(platform, "notices")


def test_a_match_is_removed_through_the_api_and_automatic_matching_never_puts_that_borrower_back(
    client: Any, platform: Any, simulator: Any
) -> None:
    tenant = make_tenant(platform)
    made = _low_match(client, platform, simulator, tenant)
    notice_id, guessed, actual = made["notice"]["id"], made["guessed"], made["actual"]
    url = f"/api/v1/notices/{notice_id}/unmatch"
    before = _notice(client, tenant, notice_id)

    reader = _key(platform, tenant, "collection_executive")
    assert client.post(url, json={"reason": "wrong borrower"}, headers=reader).status_code == 403
    for bad in ({"reason": "x"}, {}, {"reason": "ok " * 200}, {"reason": "wrong borrower", "expected_customer_id": 1},
                {"reason": "wrong borrower", "extra": True}):  # fmt: skip
        answer = client.post(url, json=bad, headers=tenant.auth)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    other = make_tenant(platform)
    assert client.post(url, json={"reason": "wrong borrower"}, headers=other.auth).status_code == 404
    stale = client.post(url, json={"reason": "wrong borrower", "expected_customer_id": actual}, headers=tenant.auth)
    assert stale.status_code == 409 and stale.headers["content-type"] == "application/problem+json"
    settle(platform, "notices")
    assert _notice(client, tenant, notice_id) == before

    removed = client.post(url, json={"reason": "not her: different father's name", "expected_customer_id": guessed},
                          headers=tenant.auth)  # fmt: skip
    assert removed.status_code == 200, removed.text
    body = removed.json()
    assert body["match"]["customer_id"] is None and body["match"]["band"] == "unmatched"
    assert body["match"]["confirmed"] is False
    assert guessed in [c["customer_id"] for c in body["match"]["candidates"]]  # still there to review
    entry = body["history"][0]
    assert entry["kind"] == "match_removed" and entry["actor"].startswith("apikey:")
    assert entry["detail"]["previous_customer_id"] == guessed
    assert entry["detail"]["reason"] == "not her: different father's name"
    assert client.get(f"/api/v1/customers/{guessed}/notices", headers=tenant.auth).json()["items"] == []
    dashboard = client.get("/api/v1/notices/dashboard", headers=tenant.auth).json()
    assert dashboard["longest_overdue"]["id"] == notice_id
    assert dashboard["longest_overdue"]["match"]["customer_id"] is None
    assert dashboard["overdue"]["count"] == 1 and dashboard["overdue"]["amount"] == "2500.00"
    (item,) = [n for n in client.get("/api/v1/notices/overdue", headers=tenant.auth).json()["items"]
               if n["id"] == notice_id]  # fmt: skip
    assert item["match"]["customer_id"] is None
    again = client.post(url, json={"reason": "wrong borrower"}, headers=tenant.auth)
    assert again.status_code == 409 and "not matched" in again.json()["detail"]

    # The guessed borrower's record changing rematches the notice, which scores them best as before: not put back.
    patched = client.patch(f"/api/v1/customers/{guessed}", json={"email": "harjeet@example.in"}, headers=tenant.auth)
    assert patched.status_code == 200, patched.text
    _drain(platform)
    assert _notice(client, tenant, notice_id)["match"]["customer_id"] is None
    # Another borrower the evidence points at is matched automatically (the source's loan number, linked to them).
    simulator.dataset.upsert(_item("M1", loan="SML0000004321", name="Harjeet Kaur", phone="9822200055", days=30,
                                   amount="2500.00"))  # fmt: skip
    linked = client.post(f"/api/v1/customers/{actual}/loan-numbers", json={"loan_number": "SML0000004321"},
                         headers=tenant.auth)  # fmt: skip
    assert linked.status_code == 201, linked.text
    _drain(platform)
    _sync(client, platform, tenant, made["source_id"])
    now = _notice(client, tenant, notice_id)
    assert now["match"]["customer_id"] == actual and now["match"]["confirmed"] is False


def test_the_notice_pages_remove_form_unmatches_and_refuses_with_nothing_changed(
    app: Any, client: Any, platform: Any, simulator: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    made = _low_match(client, platform, simulator, tenant)
    notice_id, guessed = made["notice"]["id"], made["guessed"]
    page, action = f"/notices/{notice_id}", f"/notices/{notice_id}/unmatch"
    admin, _ = _portal(app, email)
    reader, reader_csrf = _portal(app, _member(platform, tenant, "collection_executive"))
    other, other_csrf = _portal(app, _member(platform, make_tenant(platform), "admin"))
    try:
        before = _notice(client, tenant, notice_id)
        opened = admin.get(page).text
        fields = dict(HIDDEN.findall(_form(opened, "unmatch-form")))
        assert fields["expected_customer_id"] == guessed
        assert 'id="match-form"' in opened  # next to the confirm / correct form

        assert 'id="unmatch-form"' not in reader.get(page).text
        refused = reader.post(action, data={**fields, "csrf_token": reader_csrf, "reason": "wrong borrower"})
        assert refused.status_code == 403
        short = admin.post(action, data={**fields, "reason": "x"})
        assert short.status_code == 422 and 'id="unmatch-error"' in short.text
        assert 'value="x"' in _form(short.text, "unmatch-form")
        foreign = {**fields, "csrf_token": other_csrf, "reason": "wrong borrower"}
        assert other.post(action, data=foreign).status_code == 404
        settle(platform, "notices")
        assert _notice(client, tenant, notice_id) == before

        saved = admin.post(action, data={**fields, "reason": "different person, same name"})
        assert saved.status_code == 303, saved.text[:400]
        assert saved.headers["location"] == f"{page}?match=removed#notice-match"
        shown = admin.get(saved.headers["location"]).text
        assert 'id="match-saved"' in shown and "Match removed" in shown
        assert 'id="matched-customer"' not in shown and 'id="unmatch-form"' not in shown
        assert 'data-kind="match_removed"' in shown and "different person, same name" in shown
        assert _notice(client, tenant, notice_id)["match"]["customer_id"] is None

        stale = admin.post(action, data={**fields, "reason": "again"})  # the old page's form: nothing to remove
        assert stale.status_code == 409 and 'id="unmatch-error"' in stale.text
    finally:
        for browser in (admin, reader, other):
            browser.__exit__(None, None, None)
