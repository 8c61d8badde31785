"""A covenant notice owed to a borrower with no email address, end to end on PostgreSQL and the SMTP sink.

Email is optional on a borrower and setting up a covenant does not ask for one, so the notification job may owe a
notice it cannot send. It used to skip such a borrower with only a log line: the covenant's page and "Notices sent"
showed nothing, and staff never learned the borrower was not told. Now the notice is recorded `not_sent` with the
reason `no_email`, once per record and kind however often the job reruns, and shows on the covenant page, the
notices page and in the API; the record still owes the notice, so once the borrower has an address the next run
sends it to the mail server as any other.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.conftest import Tenant, make_tenant
from tests.e2e.test_access_matrix import _signed_in
from tests.e2e.test_covenants import _borrower, _covenant, _evaluations, _mail_to, _run
from tests.support import settle

NOT_SENT_WORDS = "Not sent: the borrower has no email address — add one on"


def _notices(client: Any, tenant: Tenant, customer_id: str) -> list[dict[str, Any]]:
    found = client.get("/api/v1/covenant-notices", params={"customer_id": customer_id}, headers=tenant.auth)
    assert found.status_code == 200, found.text
    return list(found.json()["items"])


def _record_notices(client: Any, tenant: Tenant, covenant_id: str) -> list[tuple[str, str, str | None]]:
    (record,) = _evaluations(client, tenant, covenant_id)
    return [(n["kind"], n["status"], n["reason"]) for n in record["notices"]]


def _add_email(client: Any, platform: Any, tenant: Tenant, customer_id: str, email: str) -> None:
    changed = client.patch(f"/api/v1/customers/{customer_id}", json={"email": email}, headers=tenant.auth)
    assert changed.status_code == 200, changed.text
    settle(platform, "customers")  # the notification job reads the borrower's address from the read model


def test_a_notice_to_a_borrower_without_email_is_recorded_not_sent_once_shown_and_sent_once_an_address_is_added(
    app: Any, client: Any, platform: Any, mail_sink: Any
) -> None:
    tenant = make_tenant(platform)
    late, prompt = _borrower(client, tenant), _borrower(client, tenant)  # neither has an email address
    stock = _covenant(client, tenant, late, first_due_date="2024-03-31", grace_days=3, title="Stock statement",
                      type="document", document="Monthly stock statement", metric=None, operator=None, threshold=None)  # fmt: skip
    dscr = _covenant(client, tenant, prompt, first_due_date="2024-03-31", grace_days=3)
    # Set up all the same (nothing refused), with a warning saying why no email will reach the borrower.
    for created in (stock, dscr):
        assert [w["code"] for w in created["warnings"]] == ["no_email"], created
        assert "no email address" in created["warnings"][0]["message"]
    assert "warnings" not in client.get(f"/api/v1/covenants/{stock['id']}", headers=tenant.auth).json()
    _run(client, platform, tenant, "covenant-evaluation", "2024-03-24")

    # The reminder date: neither borrower can be emailed. The run still says skipped; each record now says why.
    run = _run(client, platform, tenant, "covenant-notification", "2024-03-24")
    assert run["status"] == "succeeded", run
    assert run["skipped"] == 2 and run["succeeded"] == 0, run  # the two groups, as before
    for covenant, borrower in ((stock, late), (dscr, prompt)):
        assert _record_notices(client, tenant, covenant["id"]) == [("reminder", "not_sent", "no_email")]
        (notice,) = _notices(client, tenant, borrower)
        assert (notice["status"], notice["reason"], notice["recipient"], notice["sent_at"]) == (
            "not_sent", "no_email", "", None
        ), notice  # fmt: skip
        (record,) = _evaluations(client, tenant, covenant["id"])
        assert notice["evaluation_ids"] == [record["id"]] and record["reminder_notice_id"] is None

    # A rerun of the same day records nothing again: the records remember the notice not sent, and the job's feed
    # leaves them out while their borrowers still have no address (nothing to load, nothing skipped).
    again = _run(client, platform, tenant, "covenant-notification", "2024-03-24")
    assert again["status"] == "succeeded" and (again["skipped"], again["succeeded"]) == (0, 0), again
    assert len(_notices(client, tenant, late)) == len(_notices(client, tenant, prompt)) == 1

    # Staff see it on the covenant page and on "Notices sent", pointing at Customer 360.
    browser, _ = _signed_in(app, platform, tenant.brand_id, "credit_executive")  # COVENANTS READ
    try:
        page = browser.get(f"/covenants/{stock['id']}")
        assert page.status_code == 200
        assert NOT_SENT_WORDS in page.text and f'href="/customers/{late}">Customer 360</a>' in page.text
        assert len(re.findall(r'data-status="not_sent"', page.text)) == 1
        assert 'id="borrower-no-email"' in page.text
        listed = browser.get(f"/covenant-notices?customer_id={late}")
        assert listed.status_code == 200 and NOT_SENT_WORDS in listed.text and "not sent" in listed.text
    finally:
        browser.__exit__(None, None, None)

    # One borrower is given an address the same day: the rerun sends the reminder it still owed, as any other.
    prompt_email = f"prompt-{uuid.uuid4().hex[:6]}@example.in"
    _add_email(client, platform, tenant, prompt, prompt_email)
    sent = _run(client, platform, tenant, "covenant-notification", "2024-03-24")
    assert sent["status"] == "succeeded" and sent["succeeded"] >= 1, sent
    (reminder,) = _mail_to(mail_sink, prompt_email)
    assert reminder["Subject"] == "Reminder: Debt service coverage due 31 Mar 2024 (APP-2024-001)"
    assert _record_notices(client, tenant, dscr["id"]) == [
        ("reminder", "not_sent", "no_email"), ("reminder", "sent", None)
    ]  # fmt: skip
    assert sorted(n["status"] for n in _notices(client, tenant, prompt)) == ["not_sent", "sent"]
    _run(client, platform, tenant, "covenant-notification", "2024-03-24")
    assert len(_mail_to(mail_sink, prompt_email)) == 1  # sent once
    later = _covenant(client, tenant, prompt, first_due_date="2024-12-31", title="Insurance renewal")
    assert later["warnings"] == []

    # Overdue: the borrower still without an address gets an overdue notice recorded not sent, once over two runs.
    _run(client, platform, tenant, "covenant-notification", "2024-04-04")
    _run(client, platform, tenant, "covenant-notification", "2024-04-05")
    assert _record_notices(client, tenant, stock["id"]) == [
        ("reminder", "not_sent", "no_email"), ("overdue", "not_sent", "no_email")
    ]  # fmt: skip
    (record,) = _evaluations(client, tenant, stock["id"])
    assert record["status"] == "overdue" and record["overdue_notice_id"] is None
    overdue_mail = [m for m in _mail_to(mail_sink, prompt_email) if m["Subject"].startswith("Overdue")]
    assert len(overdue_mail) == 1  # the borrower with an address is chased as ever

    # Given an address later, the next run sends the overdue notice it still owes (the reminder's day has passed).
    late_email = f"late-{uuid.uuid4().hex[:6]}@example.in"
    _add_email(client, platform, tenant, late, late_email)
    _run(client, platform, tenant, "covenant-notification", "2024-04-06")
    (overdue,) = _mail_to(mail_sink, late_email)
    assert overdue["Subject"] == "Overdue: Stock statement due 31 Mar 2024 (APP-2024-001)"
    assert _record_notices(client, tenant, stock["id"]) == [
        ("reminder", "not_sent", "no_email"), ("overdue", "not_sent", "no_email"), ("overdue", "sent", None)
    ]  # fmt: skip
    _run(client, platform, tenant, "covenant-notification", "2024-04-07")
    assert len(_mail_to(mail_sink, late_email)) == 1
    browser, _ = _signed_in(app, platform, tenant.brand_id, "credit_executive")
    try:
        page = browser.get(f"/covenants/{stock['id']}")
        assert 'id="borrower-no-email"' not in page.text and NOT_SENT_WORDS in page.text  # the history stays
        assert f"Overdue sent to {late_email}" in page.text
    finally:
        browser.__exit__(None, None, None)
