"""The borrower's bank statement step, refused on the web page, speaks to the borrower (found in Chromium: the
refusal began "document ids:", the API's field name): the page says "The statements you uploaded …"; the API keeps
naming the field `document_ids`."""

from __future__ import annotations

from typing import Any

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant
from tests.e2e.test_statement_months import _at_statement_step, _csrf, _months_back, _pdf, _web, sms

__all__ = ["sms"]  # the fixture, used by name


def test_a_statement_short_of_months_is_refused_in_the_borrowers_words(
    app: Any, client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    auth = _at_statement_step(client, sms, tenant, months=3)
    required = _months_back(3)
    web = _web(app, tenant, auth)
    step = f"/apply/{tenant.slug}/steps/bank_statement"
    try:
        csrf = _csrf(web.get(step).text)
        files = {"statement": ("statement.pdf", _pdf("short"), "application/pdf")}
        short = web.post(step, data={"csrf_token": csrf, "period_from": required[1], "period_to": required[2]},
                         files=files)  # fmt: skip
        assert short.status_code == 422, short.text[:300]
        summary = short.text[short.text.index('id="error"') :]
        summary = summary[: summary.index("</div>")]
        assert "The statements you uploaded" in summary and f"{required[0]} is missing" in summary
        assert "document ids" not in short.text and "document_ids" not in short.text
    finally:
        web.__exit__(None, None, None)
    documents = client.get("/api/v1/borrower/documents", headers=auth).json()
    ids = [d["id"] for d in documents["items"] if d["kind"] == "bank_statement"]
    refused = client.put("/api/v1/borrower/steps/bank_statement", json={"method": "upload", "document_ids": ids},
                         headers=auth)  # fmt: skip
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["document_ids"]
