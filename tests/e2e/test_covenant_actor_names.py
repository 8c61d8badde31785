"""A covenant's page names the staff member who decided a record or attached a proof (found in Chromium: it read
"by staff:<uuid>"), as the loan and notice pages resolve `staff:<id>` actors to names (api/pages/actors.py); an API
key is named by its label, and the API keeps the recorded actor."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant
from tests.e2e.test_covenant_proofs import _attach, _open_record, _pdf
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle


def test_the_covenant_page_names_who_complied_and_attached(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff  # "Priya Ops"
    _, record_id = _open_record(client, platform, tenant)
    url = f"/api/v1/covenant-evaluations/{record_id}"
    covenant_id = client.get(url, headers=tenant.auth).json()["covenant_id"]
    browser, csrf = _portal(app, email)
    try:
        attached = browser.post(f"/covenant-evaluations/{record_id}/proofs", data={"csrf_token": csrf},
                                files={"file": ("stock.pdf", _pdf("stock"), "application/pdf")})  # fmt: skip
        assert attached.status_code in (200, 303), attached.text[:300]
        settle(platform, "covenants")
        complied = browser.post(f"/covenant-evaluations/{record_id}/comply",
                                data={"csrf_token": csrf, "text": "December stock statement"})  # fmt: skip
        assert complied.status_code in (200, 303), complied.text[:300]
        settle(platform, "covenants")
        record = client.get(url, headers=tenant.auth).json()
        assert record["status"] == "complied" and record["reviewed_by"].startswith("staff:")
        page = browser.get(f"/covenants/{covenant_id}").text
        assert "by Priya Ops" in page and "staff:" not in page
    finally:
        browser.__exit__(None, None, None)


def test_an_api_keys_proof_is_named_by_its_label(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    _, record_id = _open_record(client, platform, tenant)
    assert _attach(client, tenant, record_id, "annex.pdf", _pdf("annex")).status_code in (200, 201)
    covenant_id = client.get(f"/api/v1/covenant-evaluations/{record_id}", headers=tenant.auth).json()["covenant_id"]
    settle(platform, "covenants")
    browser, _ = _portal(app, email)
    try:
        page = browser.get(f"/covenants/{covenant_id}").text
        assert "by API key" in page and "apikey:" not in page
    finally:
        browser.__exit__(None, None, None)
