"""Staff close a borrower's onboarding (docs/onboarding.md, "Closing"), over the API and from the funnel's portal page:
the funnel ends as rejected with the reason and who closed it, its application not yet submitted is cancelled and
leaves the staff queue; a short reason (422 naming it), a funnel closed already or submitted (409 naming its
status), a stale If-Match (409), another brand's borrower (404) and a caller without ONBOARDING_IN_PROGRESS WRITE
(403) are refused with nothing written. The borrower acting between the close's two saves (the cancel, then the
funnel's) does not leave the funnel open over the cancelled application."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from adapters.simulators.sms import SmsSimulator
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.onboarding.application import Onboarding
from domain.onboarding.steps import Step
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.onboarding_support import sms
from tests.e2e.test_borrower_decision import _onboarded
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import settle

__all__ = ["sms"]  # the fixture, used by name

REASON = "duplicate of the borrower's other application"


def _applied(client: Any, tenant: Tenant, sms: SmsSimulator) -> tuple[str, dict[str, str], str]:
    """A borrower whose loan request started an application they have not submitted: the borrower's id, their
    header, the application's id."""
    session, auth, product = _onboarded(client, tenant, sms)
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    applied = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert applied.status_code == 201, applied.text
    return str(session["borrower_id"]), auth, str(applied.json()["id"])


def _queue(client: Any, tenant: Tenant) -> list[str]:
    """The ids on the staff queue of applications in onboarding."""
    found = client.get("/api/v1/loans", params={"status": "onboarding"}, headers=tenant.auth)
    assert found.status_code == 200, found.text
    return [item["id"] for item in found.json()["items"]]


def test_staff_close_an_onboarding_its_application_is_cancelled_and_leaves_the_queue(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    borrower, auth, application = _applied(client, tenant, sms)
    settle(platform, "loans")
    assert application in _queue(client, tenant)
    url = f"/api/v1/onboarding/{borrower}"
    before = client.get(url, headers=tenant.auth).json()
    assert (before["status"], before["closed_at"], before["closed_by"]) == ("in_progress", None, None)

    closed = client.post(f"{url}/close", json={"reason": REASON}, headers={**tenant.auth,
                         "If-Match": f'"{before["version"]}"'})  # fmt: skip
    assert closed.status_code == 200, closed.text
    funnel = closed.json()
    assert (funnel["status"], funnel["reason"], funnel["next_step"]) == ("rejected", REASON, None)
    assert funnel["closed_by"].startswith("apikey:") and funnel["closed_at"] is not None
    shown = client.get(url, headers=tenant.auth).json()
    kept = ("version", "status", "reason", "closed_at", "closed_by", "steps")
    assert {k: shown[k] for k in kept} == {k: funnel[k] for k in kept}

    settle(platform, "loans")  # `GET /loans/{id}` reads the loans read model
    loan = client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()
    assert loan["status"] == "cancelled"
    cancels = [(e["actor"], e["reason"]) for e in loan["history"] if e["kind"] == "cancelled"]
    assert cancels == [(funnel["closed_by"], f"the onboarding was closed: {REASON}")]
    settle(platform, "loans")
    assert application not in _queue(client, tenant)  # off the staff queue with the onboarding
    assert client.get(url, headers=tenant.auth).json()["may_apply_from"] is not None  # the cooldown counts from now
    settle(platform, "onboarding")
    rejected = client.get("/api/v1/onboarding", params={"state": "rejected"}, headers=tenant.auth).json()["items"]
    assert [(r["id"], r["reason"]) for r in rejected] == [(borrower, REASON)]
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["status"] == "rejected" and "closed_by" not in me  # who closed it is the staff's to see
    # Submitting the cancelled application is a 409 that says its state: the refusal's `status` detail clashed with
    # the problem's own (HTTP) `status` and was dropped; it comes out as `current_status`.
    submit = client.post(f"/api/v1/loans/{application}/submit", headers=tenant.auth)
    assert submit.status_code == 409 and submit.json()["status"] == 409, submit.text
    assert submit.json().get("current_status") == "cancelled", submit.text


def test_a_refused_close_writes_nothing(client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any) -> None:
    borrower, _, application = _applied(client, tenant, sms)
    url = f"/api/v1/onboarding/{borrower}"
    before = client.get(url, headers=tenant.auth).json()

    def unchanged() -> None:
        assert client.get(url, headers=tenant.auth).json() == before
        assert client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()["status"] == "onboarding"

    for body in ({"reason": "ab"}, {"reason": "  \u200b\u200b  "}, {}):
        short = client.post(f"{url}/close", json=body, headers=tenant.auth)
        assert short.status_code == 422, short.text
        assert short.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in short.json()["errors"]] == ["reason"]
    stale = client.post(f"{url}/close", json={"reason": REASON},
                        headers={**tenant.auth, "If-Match": f'"{before["version"] - 1}"'})  # fmt: skip
    assert stale.status_code == 409 and stale.headers["content-type"].startswith("application/problem+json")
    assert f"not {before['version'] - 1}" in stale.json()["detail"]
    other = make_tenant(platform)  # another brand's staff: as an unknown borrower
    assert client.post(f"{url}/close", json={"reason": REASON}, headers=other.auth).status_code == 404
    unknown = client.post(f"/api/v1/onboarding/{uuid.uuid4()}/close", json={"reason": REASON}, headers=tenant.auth)
    assert unknown.status_code == 404
    # A credit executive's key of the brand: ONBOARDING_IN_PROGRESS at READ only.
    issued = platform.get(Identity).issue_api_key(tenant.brand_id, "credit_executive", "cx key", granter=OPERATOR)
    settle(platform, "identity", issued.position)
    forbidden = client.post(f"{url}/close", json={"reason": REASON},
                            headers={"Authorization": f"Bearer {issued.secret}"})  # fmt: skip
    assert forbidden.status_code == 403 and forbidden.json()["permission"] == "ONBOARDING_IN_PROGRESS"
    assert forbidden.json()["level"] == "WRITE"
    unchanged()

    closed = client.post(f"{url}/close", json={"reason": REASON}, headers=tenant.auth)
    assert closed.status_code == 200, closed.text
    settle(platform, "loans")  # `may_apply_from` reads the borrower's open applications from the loans read model
    once = client.get(url, headers=tenant.auth).json()
    again = client.post(f"{url}/close", json={"reason": "closing it twice"}, headers=tenant.auth)
    assert again.status_code == 409, again.text
    assert (again.json()["funnel_status"], again.json()["reason"]) == ("rejected", REASON)
    assert again.json()["current_status"] == "rejected" and again.json()["status"] == 409  # as every funnel refusal
    assert "closed already" in again.json()["detail"]
    assert client.get(url, headers=tenant.auth).json() == once  # the second close changed nothing
    assert client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()["status"] == "cancelled"


def test_a_submitted_onboarding_is_not_closed_here(client: Any, tenant: Tenant, sms: SmsSimulator) -> None:
    borrower, auth, application = _applied(client, tenant, sms)
    submitted = client.post(f"/api/v1/borrower/applications/{application}/submit", headers=auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    url = f"/api/v1/onboarding/{borrower}"
    before = client.get(url, headers=tenant.auth).json()
    refused = client.post(f"{url}/close", json={"reason": REASON}, headers=tenant.auth)
    assert refused.status_code == 409 and refused.json()["funnel_status"] == "completed", refused.text
    assert refused.json()["current_status"] == "completed", refused.text
    assert "cancel or reject its application" in refused.json()["detail"]
    assert client.get(url, headers=tenant.auth).json() == before
    assert client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()["status"] == "pending"


def test_an_application_submitted_meanwhile_keeps_its_onboarding_open(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    """The application submitted while the funnel still says in progress - as the borrower's submit leaves it between
    its loans-side submit and its funnel save, which a close landing then fails - is the credit team's: the close is a
    409 naming the application's status, the funnel stays open, the application on the queue. It was a 200 that closed
    the funnel as rejected over an application left pending."""
    borrower, auth, application = _applied(client, tenant, sms)
    submitted = client.post(f"/api/v1/loans/{application}/submit", headers=tenant.auth)  # the loans side only
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    url = f"/api/v1/onboarding/{borrower}"
    before = client.get(url, headers=tenant.auth).json()
    assert before["status"] == "in_progress"
    refused = client.post(f"{url}/close", json={"reason": REASON}, headers=tenant.auth)
    assert refused.status_code == 409 and refused.headers["content-type"].startswith("application/problem+json")
    assert (refused.json()["application_id"], refused.json()["application_status"]) == (application, "pending")
    assert "cancel or reject the application" in refused.json()["detail"]
    assert client.get(url, headers=tenant.auth).json() == before
    assert client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()["status"] == "pending"
    assert client.get("/api/v1/borrower/me", headers=auth).json()["status"] == "in_progress"


class _ActingAfterTheCancel:
    """The onboarding context's loan desk, running `act` once right after the first cancel it makes: between the
    close's two saves (the application's cancel, then the funnel's)."""

    def __init__(self, desk: Any, act: Callable[[], None]) -> None:
        self.desk = desk
        self.act: Callable[[], None] | None = act

    def __getattr__(self, name: str) -> Any:
        return getattr(self.desk, name)

    def cancel_unsubmitted(self, brand_id: uuid.UUID, loan_id: uuid.UUID, reason: str) -> bool:
        cancelled = self.desk.cancel_unsubmitted(brand_id, loan_id, reason)
        act, self.act = self.act, None
        if act is not None:
            act()
        return bool(cancelled)


def test_a_borrower_acting_between_the_close_s_two_saves_leaves_no_funnel_open_over_its_cancelled_application(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any, monkeypatch: Any
) -> None:
    """The borrower redoes a step in the instant between the close's cancel and its funnel save: the close is made
    on the funnel's latest version (200, closed, by whom, the borrower's step kept). It was a 409 that left the funnel
    in progress over the cancelled application, the borrower's submit refused."""
    borrower, auth, application = _applied(client, tenant, sms)
    url = f"/api/v1/onboarding/{borrower}"
    before = client.get(url, headers=tenant.auth).json()
    onboarding = platform.get(Onboarding)
    redone = {"method": "account_aggregator", "consent_id": "AA-78"}

    def borrower_redoes_a_step() -> None:
        answer = client.put("/api/v1/borrower/steps/bank_statement", json=redone, headers=auth)
        assert answer.status_code == 200, answer.text

    monkeypatch.setattr(onboarding, "_loans", _ActingAfterTheCancel(onboarding.loans, borrower_redoes_a_step))
    closed = client.post(f"{url}/close", json={"reason": REASON},
                         headers={**tenant.auth, "If-Match": f'"{before["version"]}"'})  # fmt: skip
    monkeypatch.undo()

    assert closed.status_code == 200, closed.text
    funnel = closed.json()
    assert (funnel["status"], funnel["reason"], funnel["version"]) == ("rejected", REASON, before["version"] + 2)
    assert funnel["closed_by"].startswith("apikey:") and funnel["closed_at"] is not None
    statement = onboarding.details(tenant.brand_id, uuid.UUID(borrower), Step.BANK_STATEMENT) or {}
    assert statement["consent_id"] == "AA-78", statement  # the borrower's step stands, before the close
    settle(platform, "loans")  # `GET /loans/{id}` reads the loans read model
    loan = client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()
    assert loan["status"] == "cancelled"
    cancels = [(e["actor"], e["reason"]) for e in loan["history"] if e["kind"] == "cancelled"]
    assert cancels == [(funnel["closed_by"], f"the onboarding was closed: {REASON}")]  # once
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["status"] == "rejected"


def test_staff_close_an_onboarding_from_its_portal_page(
    app: Any, client: Any, platform: Any, sms: SmsSimulator, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    borrower, _, application = _applied(client, tenant, sms)
    page_url = f"/onboarding/{borrower}"
    credit_email = f"credit-{uuid.uuid4().hex[:6]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, credit_email, "Meera Credit", ["credit_executive"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)

    reader, reader_csrf = _portal(app, credit_email)  # sees the funnel (READ), not the form (no WRITE)
    try:
        shown = reader.get(page_url)
        assert shown.status_code == 200 and 'id="close-form"' not in shown.text
        version = client.get(f"/api/v1/onboarding/{borrower}", headers=tenant.auth).json()["version"]
        forced = reader.post(f"{page_url}/close", data={"csrf_token": reader_csrf, "reason": REASON,
                                                        "expected_version": str(version)})  # fmt: skip
        assert forced.status_code == 403
    finally:
        reader.__exit__(None, None, None)

    browser, csrf = _portal(app, email)
    try:
        page = browser.get(page_url)
        assert page.status_code == 200
        form = _form(page.text, "close-form")
        assert f'action="{page_url}/close" id="close-form"' in page.text and f'name="csrf_token" value="{csrf}"' in form
        assert f'name="expected_version" value="{version}"' in form and 'name="reason"' in form

        short = browser.post(f"{page_url}/close", data={"csrf_token": csrf, "reason": "ab",
                                                        "expected_version": str(version)})  # fmt: skip
        assert short.status_code == 422 and 'role="alert"' in short.text and "reason" in short.text
        assert 'id="close-form"' in short.text and ">ab</textarea>" in short.text  # what was typed, kept
        stale = browser.post(f"{page_url}/close", data={"csrf_token": csrf, "reason": REASON,
                                                        "expected_version": str(version - 1)})  # fmt: skip
        assert stale.status_code == 409 and f"not {version - 1}" in stale.text
        assert client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()["status"] == "onboarding"

        closed = browser.post(f"{page_url}/close", data={"csrf_token": csrf, "reason": REASON,
                                                         "expected_version": str(version)})  # fmt: skip
        assert closed.status_code == 303 and closed.headers["location"].startswith(page_url), closed.text[:300]
        after = browser.get(page_url)
        assert after.status_code == 200
        status = re.search(r'id="funnel-status">([^<]*)<', after.text)
        assert status is not None and status.group(1) == "rejected"
        assert REASON.replace("'", "&#39;") in after.text
        closer = re.search(
            r'id="funnel-closed">Closed [^<]* by <span class="actor" title="([^"]+)">([^<]+)<', after.text
        )
        assert closer is not None and closer.group(2) == "Priya Ops", after.text  # the staff fixture's name
        funnel = client.get(f"/api/v1/onboarding/{borrower}", headers=tenant.auth).json()
        assert closer.group(1) == funnel["closed_by"] and funnel["closed_by"].startswith("staff:")
        assert 'id="close-form"' not in after.text and 'id="send-back-form"' not in after.text
        settle(platform, "loans")  # `GET /loans/{id}` reads the loans read model
        assert client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()["status"] == "cancelled"

        again = browser.post(f"{page_url}/close", data={"csrf_token": csrf, "reason": "closing it twice",
                                                        "expected_version": str(version + 1)})  # fmt: skip
        assert again.status_code == 409 and "closed already" in again.text
    finally:
        browser.__exit__(None, None, None)


def test_a_refused_send_back_comes_back_with_the_step_and_reason_typed(
    app: Any, client: Any, sms: SmsSimulator, staff: tuple[Tenant, str]
) -> None:
    """The funnel page's send-back form, refused (a reason too short), is shown again as typed - its step chosen and
    its reason - as the close form beside it is; it came back empty, the first step chosen."""
    tenant, email = staff
    borrower, _, _ = _applied(client, tenant, sms)
    page_url = f"/onboarding/{borrower}"
    browser, csrf = _portal(app, email)
    try:
        refused = browser.post(f"{page_url}/send-back", data={"csrf_token": csrf, "step": "bank_account",
                                                               "reason": "x"})  # fmt: skip
        assert refused.status_code == 422 and 'role="alert"' in refused.text and "reason" in refused.text
        form = _form(refused.text, "send-back-form")
        assert 'name="reason" required minlength="3" value="x"' in form
        assert re.search(r'<option value="bank_account" selected>', form), form
        assert '<option value="pan" selected>' not in form
        assert 'name="reason" required minlength="3" maxlength="500"></textarea>' in refused.text  # not the close's
    finally:
        browser.__exit__(None, None, None)


def test_a_send_back_from_the_funnel_page_redirects_and_a_stale_one_is_refused(
    app: Any, client: Any, sms: SmsSimulator, staff: tuple[Tenant, str]
) -> None:
    """The funnel page's send back answers with a redirect to the funnel (post/redirect/get): a reload or a second tap
    is sent to the same page, not posted again (the page was the post's answer: reloaded, it sent the form again and
    showed a 409 once the step was open). A send back from a page read before the funnel changed is a 409, as typed."""
    tenant, email = staff
    borrower, _, _ = _applied(client, tenant, sms)
    page_url = f"/onboarding/{borrower}"
    browser, csrf = _portal(app, email)
    try:
        page = browser.get(page_url)
        nonce = re.search(r'name="form_nonce" value="([0-9a-f]+)"', _form(page.text, "send-back-form"))
        version = re.search(r'name="expected_version" value="(\d+)"', _form(page.text, "send-back-form"))
        assert nonce is not None and version is not None
        form = {"csrf_token": csrf, "form_nonce": nonce.group(1), "expected_version": version.group(1),
                "step": "bank_account", "reason": "the account holder's name differs"}  # fmt: skip
        sent = browser.post(f"{page_url}/send-back", data=form)
        assert sent.status_code == 303 and sent.headers["location"] == page_url, sent.text[:300]
        assert browser.post(f"{page_url}/send-back", data=form).headers.get("location") == page_url  # replayed
        funnel = client.get(f"/api/v1/onboarding/{borrower}", headers=tenant.auth).json()
        assert funnel["next_step"] == "bank_account" and funnel["version"] == int(version.group(1)) + 1

        stale = browser.post(f"{page_url}/send-back", data={**form, "form_nonce": "", "step": "pan",
                                                             "reason": "PAN photo is blurred"})  # fmt: skip
        assert stale.status_code == 409, stale.text[:300]
        assert 'value="PAN photo is blurred"' in _form(stale.text, "send-back-form")
        assert client.get(f"/api/v1/onboarding/{borrower}", headers=tenant.auth).json()["version"] == funnel["version"]
    finally:
        browser.__exit__(None, None, None)
