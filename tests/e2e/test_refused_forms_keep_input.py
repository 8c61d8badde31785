"""A portal form the use case refuses comes back on its page with the refusal and with what staff typed (api/web.py
`kept`): the Customer 360's note and agent forms, a covenant record's comply form (its ticked proofs too), the loan
page's CX approval and product change. The text is escaped; the CSRF token is the session's, never the posted one;
a secret-looking field is never echoed; the page's other forms stay empty; nothing is recorded."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.testclient import TestClient

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_covenant_proofs import _attach, _open_record, _pdf
from tests.e2e.test_covenants import _borrower, _covenant, _evaluations, _run
from tests.e2e.test_loan_product_change import EMI, PAYDAY, _application, _product
from tests.support import settle

TYPED = 'Called twice <b>no answer</b> & "left a message"'
ESCAPED = "Called twice &lt;b&gt;no answer&lt;/b&gt; &amp; &#34;left a message&#34;"


def _portal(app: Any, email: str) -> tuple[TestClient, str]:
    browser = TestClient(app, follow_redirects=False)
    browser.__enter__()
    assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', browser.get("/dashboard").text)
    assert token is not None
    return browser, token.group(1)


def _form(page: str, form_id: str) -> str:
    """The HTML of the form with `id="<form_id>"`."""
    start = page.index(f'id="{form_id}"')
    return page[start : page.index("</form>", start)]


def _csrf_fields(page: str) -> set[str]:
    return set(re.findall(r'name="csrf_token" value="([^"]*)"', page))


def test_a_refused_note_and_agent_move_come_back_with_what_was_typed(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    customer = _borrower(client, tenant)
    agent = platform.get(Identity).create_staff(tenant.brand_id, f"agent-{uuid.uuid4().hex[:6]}@lender.in",
                                                "Asha Agent", ["sales"], PASSWORD, granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", agent.position)
    browser, csrf = _portal(app, email)
    try:
        before = client.get(f"/api/v1/customers/{customer}/notes", headers=tenant.auth).json()["items"]
        # A loan that is not the borrower's: the use case refuses the note (422 naming loan_id). Before, the refusal
        # was an error page without the form, the note lost.
        stranger = str(uuid.uuid4())
        refused = browser.post(
            f"/customers/{customer}/notes",
            data={"csrf_token": csrf, "text": TYPED, "loan_id": stranger, "callback_at": "2031-05-04T18:30",
                  "api_token": "sk-should-never-come-back"},
        )  # fmt: skip
        assert refused.status_code == 422, refused.text[:300]
        page = refused.text
        assert 'id="note-error"' in page and "loan id" in page
        note_form = _form(page, "note-form")
        assert f">{ESCAPED}</textarea>" in note_form
        assert 'name="callback_at" value="2031-05-04T18:30"' in note_form
        assert TYPED not in page and "sk-should-never-come-back" not in page
        assert _csrf_fields(page) == {csrf}  # every form carries the session's token
        assert 'name="reason" placeholder="optional" maxlength="500" value=""' in _form(page, "agent-form")
        assert client.get(f"/api/v1/customers/{customer}/notes", headers=tenant.auth).json()["items"] == before

        # A move made on a stale version: 409 at the move's form, the agent chosen and the reason kept.
        moved = browser.post(
            f"/customers/{customer}/agent",
            data={"csrf_token": csrf, "agent_id": str(agent.id), "version": "0", "reason": "Asha <covers> Pune"},
        )
        assert moved.status_code == 409, moved.text[:300]
        agent_form = _form(moved.text, "agent-form")
        assert 'id="agent-error"' in moved.text
        assert f'<option value="{agent.id}" selected>' in agent_form
        assert 'value="Asha &lt;covers&gt; Pune"' in agent_form
        assert "></textarea>" in _form(moved.text, "note-form")  # the note form stays empty
        profile = client.get(f"/api/v1/customers/{customer}", headers=tenant.auth).json()
        assert profile.get("agent_id") != str(agent.id)

        # Read as a page again (not a refused post), nothing typed comes back.
        fresh = browser.get(f"/customers/{customer}").text
        assert "Asha &lt;covers&gt; Pune" not in fresh and ESCAPED not in fresh
    finally:
        browser.__exit__(None, None, None)


def test_a_refused_comply_keeps_its_evidence_and_ticked_proofs(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    customer = _borrower(client, tenant)
    covenant = _covenant(client, tenant, customer)  # financial: complying needs a passing measured value
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    (record,) = _evaluations(client, tenant, covenant["id"])
    first = _attach(client, tenant, str(record["id"]), "dscr.pdf", _pdf("dscr"))
    second = _attach(client, tenant, str(record["id"]), "annex.pdf", _pdf("annex"))
    assert first.status_code == second.status_code == 201, first.text
    ticked = first.json()["proofs"][0]["document_id"]
    untouched = second.json()["proofs"][1]["document_id"]
    settle(platform, "covenants")
    browser, csrf = _portal(app, email)
    try:
        refused = browser.post(
            f"/covenant-evaluations/{record['id']}/comply",
            data={"csrf_token": csrf, "text": "Q4 <audited> accounts", "proof_document_ids": [ticked]},
        )
        # No measured value yet: a conflict with the record's state, 409 as the API says (was 422).
        assert refused.status_code == 409 and "submit the measured value first" in refused.text, refused.text[:300]
        comply = _form(refused.text, "comply-form-" + str(record["id"]))
        assert 'value="Q4 &lt;audited&gt; accounts"' in comply
        assert f'value="{ticked}" checked>' in comply and f'value="{untouched}">' in comply
        waive = _form(refused.text, "waive-form-" + str(record["id"]))
        assert 'aria-label="Waiver reason" required value=""' in waive  # the same field name, another form
    finally:
        browser.__exit__(None, None, None)
    assert client.get(f"/api/v1/covenant-evaluations/{record['id']}", headers=tenant.auth).json()["status"] == "open"


def test_comply_citing_a_proof_rejected_since_is_refused_at_its_record_and_a_decided_record_is_a_409(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    _, record_id = _open_record(client, platform, tenant)
    url = f"/api/v1/covenant-evaluations/{record_id}"
    clear = _attach(client, tenant, record_id, "stock.pdf", _pdf("clear")).json()["proofs"][0]["document_id"]
    blurred = _attach(client, tenant, record_id, "annex.pdf", _pdf("blurred")).json()["proofs"][1]["document_id"]
    review = client.post(f"/api/v1/documents/{blurred}/review",
                         json={"decision": "rejected", "reason": "unreadable <scan>"}, headers=tenant.auth)  # fmt: skip
    assert review.status_code == 200, review.text
    covenant_id = client.get(url, headers=tenant.auth).json()["covenant_id"]
    settle(platform, "covenants")
    browser, csrf = _portal(app, email)
    try:
        # Before, the approval went through with the blurred annex reading "rejected" on the borrower's documents.
        refused = browser.post(f"/covenant-evaluations/{record_id}/comply",
                               data={"csrf_token": csrf, "text": "December <stock> statement",
                                     "proof_document_ids": [clear, blurred]})  # fmt: skip
        assert refused.status_code == 422, refused.text[:300]
        page = refused.text
        alert = page[page.index(f'id="review-error-{record_id}"') :]
        alert = alert[: alert.index("</p>")]
        assert "proof document ids[1]" in alert and "annex.pdf" in alert and "unreadable &lt;scan&gt;" in alert
        comply = _form(page, f"comply-form-{record_id}")
        # The clear proof stays ticked as typed; the rejected one is never ticked again (marked "rejected: ...").
        assert f'value="{clear}" checked>' in comply and f'value="{blurred}" checked>' not in comply
        assert f'value="{blurred}"' in comply and "rejected: unreadable &lt;scan&gt;" in comply
        assert 'value="December &lt;stock&gt; statement"' in comply
        record = client.get(url, headers=tenant.auth).json()
        assert record["status"] == "open" and not any(p["approved"] for p in record["proofs"])

        # Someone else decides the record meanwhile: the waive and an upload are conflicts, 409 (were 422), said
        # at the record, the waiver reason kept.
        decided = client.post(f"{url}/comply", json={"evidence": "seen", "proof_document_ids": [clear]},
                              headers=tenant.auth)  # fmt: skip
        assert decided.status_code == 200, decided.text
        settle(platform, "covenants")
        waive = browser.post(f"/covenant-evaluations/{record_id}/waive",
                             data={"csrf_token": csrf, "text": "borrower <travelling>"})  # fmt: skip
        assert waive.status_code == 409, waive.text[:300]
        assert f'id="review-error-{record_id}"' in waive.text and "already complied" in waive.text
        upload = browser.post(f"/covenant-evaluations/{record_id}/proofs", data={"csrf_token": csrf},
                              files={"file": ("late.pdf", _pdf("late"), "application/pdf")})  # fmt: skip
        assert upload.status_code == 409 and "already complied" in upload.text, upload.text[:300]
        assert browser.get(f"/covenants/{covenant_id}").status_code == 200
    finally:
        browser.__exit__(None, None, None)
    record = client.get(url, headers=tenant.auth).json()
    assert record["status"] == "complied" and len(record["proofs"]) == 2


def test_refused_loan_page_forms_keep_amounts_remarks_and_choices(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    emi, payday = _product(client, tenant, EMI), _product(client, tenant, PAYDAY)
    loan_id = _application(client, tenant, emi)
    settle(platform, "loans")
    browser, csrf = _portal(app, email)
    try:
        # Above the product's maximum: refused naming the amount, the amount and remarks as typed.
        approve = browser.post(f"/loans/{loan_id}/cx-approve", data={"csrf_token": csrf, "approved_amount": "900000",
                                                                      "remarks": "Salary <verified> twice"})  # fmt: skip
        assert approve.status_code == 422, approve.text[:300]
        form = _form(approve.text, "cx-approve-form")
        assert 'name="approved_amount" inputmode="decimal" value="900000"' in form
        assert ">Salary &lt;verified&gt; twice</textarea>" in form

        # A payday tenure too long: the product chosen, the amount, tenure and reason as typed.
        version = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["version"]
        change = browser.post(f"/loans/{loan_id}/product", data={
            "csrf_token": csrf, "product_id": payday, "amount": "30000", "tenure": "90",
            "reason": "qualifies for payday only", "expected_version": str(version)})  # fmt: skip
        assert change.status_code == 422, change.text[:300]
        form = _form(change.text, "change-product-form")
        assert f'<option value="{payday}" selected>' in form and f'<option value="{emi}" >' in form
        assert 'value="30000"' in form and 'value="90"' in form
        assert ">qualifies for payday only</textarea>" in form
        # The hidden version is the loan's as read (unchanged: nothing was recorded).
        assert f'name="expected_version" value="{version}"' in form
        # The other forms of the page are as read.
        assert "></textarea>" in _form(change.text, "cx-approve-form")
    finally:
        browser.__exit__(None, None, None)
    loan = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    assert (loan["status"], loan["product_id"]) == ("pending", emi)


#: Numbers a form field or query parameter may hold that `str.isdigit()` takes and `int()` refuses: a superscript
#: two, and more digits than `int()` reads.
NOT_NUMBERS = ["\u00b2", "9" * 5000]


def test_a_version_or_count_in_other_digits_is_no_number_not_a_server_error(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    # Each read its number with `int(x) if x.isdigit()`: the pages raised ValueError (500) on these.
    tenant, email = staff
    product = _product(client, tenant, EMI)
    browser, csrf = _portal(app, email)
    try:
        for odd in NOT_NUMBERS:
            read = (200,) if len(odd) == 1 else (200, 422)  # a page refuses a query value of 5,000 characters
            saved = browser.post("/settings", data={"csrf_token": csrf, "expected_version": odd, "min_age": "23"})
            assert saved.status_code in (303, 422), saved.text[:300]
            shown = browser.get(f"/products/{product}", params={"version": odd})
            assert shown.status_code in read  # the current version (as for any version that is no number)
            quoted = browser.get(f"/products/{product}", params={"amount": "50000", "tenure": odd})
            assert quoted.status_code == 422  # refused as any tenure that is no whole number
            assert len(odd) > 1 or "a whole number of months" in quoted.text
            queue = browser.get("/disbursals", params={"initiated": odd, "refused": odd, "mode": "NEFT"})
            assert queue.status_code in read and "Payout initiated" not in queue.text
    finally:
        browser.__exit__(None, None, None)
