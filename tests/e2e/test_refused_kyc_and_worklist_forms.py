"""The Customer 360's verification forms and the collections worklist's reallocation, refused, come back on their
page with the refusal said at the form and what staff typed (api/web.py `kept`) - before, each was an error page
without the form: the document upload (its kind and months; never the file), a document's reject reason (409 when
someone reviewed it meanwhile), the bank account form; the reallocation's ticked loans, the executive chosen and
the worklist's filters. Nothing is recorded."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_collections import D0, cob
from tests.e2e.test_covenant_proofs import _pdf
from tests.e2e.test_covenants import _borrower
from tests.e2e.test_refused_forms_keep_input import _csrf_fields, _form, _portal
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]


def _alert(page: str, alert_id: str) -> str:
    start = page.index(f'id="{alert_id}"')
    return page[start : page.index("</p>", start)]


def test_refused_verification_forms_come_back_on_the_360_with_what_was_typed(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    customer = _borrower(client, tenant)
    upload = client.post(f"/api/v1/customers/{customer}/documents", data={"kind": "salary_slip"},
                         files={"file": ("slip.pdf", _pdf("slip"), "application/pdf")}, headers=tenant.auth)  # fmt: skip
    assert upload.status_code == 201, upload.text
    document = upload.json()["id"]
    settle(platform, "documents")
    documents_before = client.get(f"/api/v1/customers/{customer}/documents", headers=tenant.auth).json()["items"]
    browser, csrf = _portal(app, email)
    try:
        # Not a PDF, JPEG or PNG: refused naming the file at the upload form; the kind and months as chosen.
        refused = browser.post(f"/customers/{customer}/documents",
                               data={"csrf_token": csrf, "kind": "bank_statement", "period_from": "2024-01",
                                     "period_to": "2024-03"},
                               files={"file": ("statement.pdf", b"MZ\x90\x00not a pdf", "application/pdf")})  # fmt: skip
        assert refused.status_code == 422, refused.text[:300]
        page = refused.text
        assert "file:" in _alert(page, "document-error")
        form = _form(page, "document-form")
        assert '<option value="bank_statement" selected>' in form and '<option value="other">' in form
        assert 'name="period_from" aria-label="Statement\'s first month" placeholder="YYYY-MM" value="2024-01"' in form
        assert 'value="2024-03"' in form and "not a pdf" not in page
        assert _csrf_fields(page) == {csrf}
        assert 'value=""' in _form(page, "bank-account-form")  # the other forms as read

        # A reject reason too short: said at the document's row, the reason kept in the reject form only.
        short = browser.post(f"/customers/{customer}/documents/{document}/review",
                             data={"csrf_token": csrf, "decision": "rejected", "reason": "<b"})  # fmt: skip
        assert short.status_code == 422, short.text[:300]
        assert "reason:" in _alert(short.text, f"review-error-{document}")
        assert 'aria-label="Why reject" required value="&lt;b"' in _form(short.text, f"reject-form-{document}")
        assert 'name="decision" value="accepted"' in _form(short.text, f"accept-form-{document}")

        # Someone accepted it meanwhile: a 409 said at its row (was an error page), the document as they left it.
        accepted = client.post(f"/api/v1/documents/{document}/review", json={"decision": "accepted"},
                               headers=tenant.auth)  # fmt: skip
        assert accepted.status_code == 200, accepted.text
        settle(platform, "documents")
        late = browser.post(f"/customers/{customer}/documents/{document}/review",
                            data={"csrf_token": csrf, "decision": "rejected", "reason": "blurred scan"})  # fmt: skip
        assert late.status_code == 409, late.text[:300]
        assert "already accepted" in _alert(late.text, f"review-error-{document}")

        # A bank account in the wrong shape: said at its form, the number, IFSC and holder as typed.
        bank = browser.post(f"/customers/{customer}/bank-accounts",
                            data={"csrf_token": csrf, "account_number": "12-AB", "ifsc": "HDFC1234567",
                                  "holder_name": "Suresh <Menon>"})  # fmt: skip
        assert bank.status_code == 422, bank.text[:300]
        alert = _alert(bank.text, "bank-account-error")
        assert "account number:" in alert and "ifsc:" in alert
        form = _form(bank.text, "bank-account-form")
        assert 'value="12-AB"' in form and 'value="HDFC1234567"' in form and 'value="Suresh &lt;Menon&gt;"' in form
        assert 'value="2024-01"' not in _form(bank.text, "document-form")
    finally:
        browser.__exit__(None, None, None)
    after = client.get(f"/api/v1/customers/{customer}/documents", headers=tenant.auth).json()["items"]
    assert [(d["id"], d["status"]) for d in after] == [(d["id"], "accepted") for d in documents_before]
    accounts = client.get(f"/api/v1/customers/{customer}/bank-accounts", headers=tenant.auth)
    assert accounts.status_code == 200 and accounts.json()["items"] == [], accounts.text


def _staff(platform: Any, brand_id: Any, name: str, role: str) -> tuple[Any, str]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(brand_id, email, name, [role], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    return made.id, email


def test_a_refused_reallocation_keeps_the_ticked_loans_the_executive_and_the_worklist_filters(
    app: Any, client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    asha, _ = _staff(platform, tenant.brand_id, "Asha", "collection_executive")
    ravi, _ = _staff(platform, tenant.brand_id, "Ravi", "collection_executive")
    _, manager_email = _staff(platform, tenant.brand_id, "Meena", "collection_manager")
    loans = sorted(str(disbursed_loan(platform, tenant)) for _ in range(2))
    cob(client, platform, tenant, date(2026, 3, 1))
    browser, csrf = _portal(app, manager_email)
    filters = "stage=collections&assignee=unassigned"
    try:
        listed = browser.get(f"/collections?{filters}").text
        assert all(f'data-loan="{loan}"' in listed for loan in loans), listed[:500]
        assert f'action="/collections/allocations?{filters.replace("&", "&amp;")}"' in listed

        # One ticked loan left collections since the page was read (here: an id no longer there): the move is
        # refused naming it, on the worklist as it was filtered, the ticks and Ravi still chosen. Before, an error
        # page without the list.
        gone = str(uuid.uuid4())
        refused = browser.post(f"/collections/allocations?{filters}",
                               data={"csrf_token": csrf, "loan_id": [loans[0], gone], "staff_id": str(ravi)})  # fmt: skip
        assert refused.status_code == 422, refused.text[:300]
        page = refused.text
        assert gone in _alert(page, "reallocate-error")
        form = page[page.index('id="reallocate-form"') :]
        assert re.search(rf'value="{loans[0]}" aria-label="[^"]*" checked>', form)
        assert re.search(rf'value="{loans[1]}" aria-label="[^"]*">', form)
        assert f'<option value="{ravi}" selected>' in form and f'<option value="{asha}">' in form
        assert "Loans nobody has yet" in page  # still the unassigned list
        assert _csrf_fields(page) == {csrf}

        assert _allocations(client, tenant, loans[0]) == []  # nothing moved

        # Nothing ticked: said at the form, Asha still chosen.
        none = browser.post(f"/collections/allocations?{filters}", data={"csrf_token": csrf, "staff_id": str(asha)})
        assert none.status_code == 422 and "loan ids:" in _alert(none.text, "reallocate-error"), none.text[:300]
        assert f'<option value="{asha}" selected>' in none.text

        # Moved: back to the worklist as it was filtered.
        moved = browser.post(f"/collections/allocations?{filters}",
                             data={"csrf_token": csrf, "loan_id": [loans[0]], "staff_id": str(ravi)})  # fmt: skip
        assert moved.status_code == 303, moved.text[:300]
        assert moved.headers["location"].startswith(f"/collections?{filters}")
    finally:
        browser.__exit__(None, None, None)
    assert [m["staff_id"] for m in _allocations(client, tenant, loans[0])] == [str(ravi)]
    assert _allocations(client, tenant, loans[1]) == []


def _allocations(client: Any, tenant: Tenant, loan_id: str) -> list[dict[str, Any]]:
    panel = client.get(f"/api/v1/loans/{loan_id}/collection", headers=tenant.auth)
    assert panel.status_code == 200, panel.text
    return list(panel.json()["allocations"])
