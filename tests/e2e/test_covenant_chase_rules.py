"""What the covenant notification job chases, over the API, the jobs and a real SMTP server: a covenant staff
closed is chased no more (its open records are never marked overdue, its records owe no overdue email, it opens no
new cycle, and its records keep their history), and an overdue email never asks again for proof the borrower (or
staff for them) already sent that no reviewer has decided yet - it says when it came and that it is being
reviewed, while the record stays overdue until a reviewer decides; nor does a reminder."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from adapters.simulators.sms import SmsSimulator
from domain.covenants.application import Covenants
from domain.covenants.status import NoticeKind
from domain.identity.application import Identity
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import sms
from tests.e2e.test_borrower_covenants_page import _customer, _prove
from tests.e2e.test_borrower_documents_page import _borrower as _web_borrower
from tests.e2e.test_borrower_documents_page import _csrf
from tests.e2e.test_covenant_proofs import STOCK, _attach, _pdf
from tests.e2e.test_covenants import _borrower, _covenant, _evaluations, _run
from tests.support import settle

__all__ = ["sms"]  # the fixture, used by name

NOT_FOR_US = {"metric": None, "operator": None, "threshold": None}


def _overdue_mails(mail_sink: Any, application_ref: str) -> list[Any]:
    return [
        m for m in mail_sink.messages if m["Subject"].startswith("Overdue") and f"({application_ref})" in m["Subject"]
    ]


def _bodies(mail: Any) -> tuple[str, str]:
    text = mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    return text, mail.get_body(preferencelist=("html",)).get_content()


def _close(client: Any, tenant: Tenant, covenant_id: str) -> None:
    closed = client.post(f"/api/v1/covenants/{covenant_id}/close", json={"reason": "loan prepaid in full"},
                         headers=tenant.auth)  # fmt: skip
    assert closed.status_code == 200, closed.text


def _status(client: Any, tenant: Tenant, covenant_id: str) -> str:
    return str(client.get(f"/api/v1/covenants/{covenant_id}", headers=tenant.auth).json()["status"])


def test_a_closed_covenant_is_chased_no_more_and_its_records_keep_their_history(
    client: Any, platform: Any, mail_sink: Any
) -> None:
    tenant = make_tenant(platform)
    email = f"closed-{uuid.uuid4().hex[:8]}@example.in"
    customer = _borrower(client, tenant, email)
    app, other_app = f"APP-{uuid.uuid4().hex[:8]}", f"APP-{uuid.uuid4().hex[:8]}"
    due = {"first_due_date": "2024-03-31", "grace_days": 3}
    kept = _covenant(client, tenant, customer, application_ref=app, **due)
    closed_open = _covenant(client, tenant, customer, application_ref=app, **(due | STOCK))
    closed_overdue = _covenant(client, tenant, customer, application_ref=other_app, title="Insurance renewal",
                               type="other", description="Renew the policy", **(due | NOT_FOR_US))  # fmt: skip
    _run(client, platform, tenant, "covenant-evaluation", "2024-03-24")
    (open_record,) = _evaluations(client, tenant, closed_open["id"])
    (overdue_record,) = _evaluations(client, tenant, closed_overdue["id"])

    # One record is Open when its covenant is closed; the other was marked Overdue (its notice not queued yet) first.
    assert platform.get(Covenants).mark_overdue([UUID(overdue_record["id"])], date(2024, 4, 4)) == 1
    _close(client, tenant, closed_open["id"])
    _close(client, tenant, closed_overdue["id"])
    settle(platform, "covenants")
    assert (_status(client, tenant, closed_open["id"]), _status(client, tenant, closed_overdue["id"])) == (
        "closed", "closed",
    )  # fmt: skip

    for as_of in ("2024-04-04", "2024-04-05"):
        run = _run(client, platform, tenant, "covenant-notification", as_of)
        assert run["status"] == "succeeded", run
    # The active covenant is chased as ever; the closed ones are not: no status moved by the system, no email.
    assert [r["status"] for r in _evaluations(client, tenant, kept["id"])] == ["overdue"]
    assert [r["status"] for r in _evaluations(client, tenant, closed_open["id"])] == ["open"]
    assert [r["status"] for r in _evaluations(client, tenant, closed_overdue["id"])] == ["overdue"]
    (mail,) = _overdue_mails(mail_sink, app)
    assert mail["Subject"] == f"Overdue: Debt service coverage due 31 Mar 2024 ({app})"
    assert "Stock statement" not in _bodies(mail)[0]
    assert _overdue_mails(mail_sink, other_app) == []
    notices = client.get("/api/v1/covenant-notices", params={"customer_id": customer}, headers=tenant.auth).json()
    overdue_notices = [n for n in notices["items"] if n["kind"] == "overdue"]
    assert [n["evaluation_ids"] for n in overdue_notices] == [[_evaluations(client, tenant, kept["id"])[0]["id"]]]

    # No new cycle for a closed covenant; the active one opens its next.
    _run(client, platform, tenant, "covenant-evaluation", "2024-04-24")
    assert len(_evaluations(client, tenant, kept["id"])) == 2
    assert [r["id"] for r in _evaluations(client, tenant, closed_open["id"])] == [open_record["id"]]

    # The records keep their history, and staff may still decide them.
    record = client.get(f"/api/v1/covenant-evaluations/{open_record['id']}", headers=tenant.auth).json()
    assert (record["status"], record["overdue_notice_id"]) == ("open", None)
    waived = client.post(f"/api/v1/covenant-evaluations/{open_record['id']}/waive",
                         json={"reason": "covenant closed with the loan"}, headers=tenant.auth)  # fmt: skip
    assert waived.status_code == 200, waived.text


def _received_on(platform: Any, tenant: Tenant, attached_at: str) -> str:
    zone = ZoneInfo(platform.get(Identity).timezone(tenant.brand_id))
    return datetime.fromisoformat(attached_at).astimezone(zone).strftime("%d %B %Y")


def test_an_overdue_email_says_proof_sent_is_being_reviewed_and_asks_only_for_what_is_missing(
    app: Any, client: Any, platform: Any, mail_sink: Any, sms: SmsSimulator
) -> None:
    tenant = make_tenant(platform)
    web, _ = _web_borrower(app, client, sms, tenant)
    try:
        customer = _customer(platform, tenant, web)
        mixed, received, rejected = (f"APP-{uuid.uuid4().hex[:8]}" for _ in range(3))
        stock = _covenant(client, tenant, customer, application_ref=mixed, **STOCK)
        insurance = _covenant(client, tenant, customer, application_ref=mixed, title="Insurance copy",
                              type="other", description="Policy copy", **NOT_FOR_US)  # fmt: skip
        accounts = _covenant(client, tenant, customer, application_ref=received, **(STOCK | {"title": "Accounts"}))
        scan = _covenant(client, tenant, customer, application_ref=rejected, **(STOCK | {"title": "Site photos"}))
        _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
        records = {c["id"]: _evaluations(client, tenant, c["id"])[0]["id"] for c in (stock, insurance, accounts, scan)}

        # The borrower sends the stock statement in the web flow; staff attach the accounts for them; staff attach a
        # scan and then reject its document (no proof then: it is asked for again).
        sent = _prove(web, tenant.slug, _csrf(web, tenant.slug), records[stock["id"]], "stock.pdf", _pdf("stock"))
        assert sent.status_code == 303, sent.text
        assert _attach(client, tenant, records[accounts["id"]], "accounts.pdf", _pdf("accounts")).status_code == 201
        blurred = _attach(client, tenant, records[scan["id"]], "site.pdf", _pdf("blurred")).json()["proofs"][0]
        review = client.post(f"/api/v1/documents/{blurred['document_id']}/review",
                             json={"decision": "rejected", "reason": "unreadable scan"}, headers=tenant.auth)  # fmt: skip
        assert review.status_code == 200, review.text
        settle(platform, "documents")
        settle(platform, "covenants")

        def day(covenant: dict[str, Any]) -> str:
            record = client.get(f"/api/v1/covenant-evaluations/{records[covenant['id']]}", headers=tenant.auth).json()
            return _received_on(platform, tenant, record["proofs"][-1]["attached_at"])

        run = _run(client, platform, tenant, "covenant-notification", "2024-02-06")
        assert run["status"] == "succeeded", run
        # The overdue rule is kept: a record is overdue until a reviewer decides, proof or not.
        for covenant in (stock, insurance, accounts, scan):
            assert [r["status"] for r in _evaluations(client, tenant, covenant["id"])] == ["overdue"]

        (both,) = _overdue_mails(mail_sink, mixed)
        for body in _bodies(both):
            assert f"We received your documents on {day(stock)}; they are being reviewed." in body
            assert "Insurance copy" in body
            assert "Please submit the documents or figures for the covenant we have not received" in body
        assert (
            f"- Stock statement: Monthly stock statement\n  We received your documents on {day(stock)}"
            in (_bodies(both)[0])
        )

        (all_in,) = _overdue_mails(mail_sink, received)
        for body in _bodies(all_in):
            assert f"We received your documents on {day(accounts)}; they are being reviewed." in body
            assert "Please submit" not in body and "You need not send them again" in body

        (asked,) = _overdue_mails(mail_sink, rejected)
        for body in _bodies(asked):
            assert "We received" not in body
            assert "Please submit the documents or figures as soon as possible" in body
    finally:
        web.__exit__(None, None, None)


def test_an_overdue_notice_sent_by_a_later_run_says_the_proof_received_too(
    client: Any, platform: Any, mail_sink: Any
) -> None:
    # The notice was queued (by a run that died before sending, here by the use case) before the job sends it: the
    # send step that picks queued notices up words it as the queueing step would.
    tenant = make_tenant(platform)
    email = f"queued-{uuid.uuid4().hex[:8]}@example.in"
    customer = _borrower(client, tenant, email)
    ref = f"APP-{uuid.uuid4().hex[:8]}"
    covenant = _covenant(client, tenant, customer, application_ref=ref, **STOCK)
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    (record,) = _evaluations(client, tenant, covenant["id"])
    proof = _attach(client, tenant, record["id"], "stock.pdf", _pdf("stock queued")).json()["proofs"][0]
    covenants = platform.get(Covenants)
    assert covenants.mark_overdue([UUID(record["id"])], date(2024, 2, 6)) == 1
    (notice,) = covenants.queue_notices(tenant.brand_id, NoticeKind.OVERDUE, [([UUID(record["id"])], email)],
                                        subject_for=lambda _: f"Overdue: Stock statement ({ref})",
                                        as_of=date(2024, 2, 6))  # fmt: skip
    assert notice is not None
    settle(platform, "covenants")
    assert _overdue_mails(mail_sink, ref) == []

    run = _run(client, platform, tenant, "covenant-notification", "2024-02-06")
    assert run["status"] == "succeeded", run
    (mail,) = _overdue_mails(mail_sink, ref)
    assert mail["Message-ID"] == f"<notice-{notice.id}@covenant-desk>"
    text, html = _bodies(mail)
    day = _received_on(platform, tenant, proof["attached_at"])
    for body in (text, html):
        assert f"We received your documents on {day}; they are being reviewed." in body
        assert "Please submit" not in body


def test_a_reminder_says_proof_already_sent_is_being_reviewed_and_asks_only_for_what_is_missing(
    client: Any, platform: Any, mail_sink: Any
) -> None:
    # The record opens on its reminder date; proof attached before the reminder goes out is not asked for again.
    tenant = make_tenant(platform)
    customer = _borrower(client, tenant, f"remind-{uuid.uuid4().hex[:8]}@example.in")
    mixed, received = f"APP-{uuid.uuid4().hex[:8]}", f"APP-{uuid.uuid4().hex[:8]}"
    stock = _covenant(client, tenant, customer, application_ref=mixed, **STOCK)
    insurance = _covenant(client, tenant, customer, application_ref=mixed, title="Insurance copy", type="other",
                          description="Policy copy", **NOT_FOR_US)  # fmt: skip
    accounts = _covenant(client, tenant, customer, application_ref=received, **(STOCK | {"title": "Accounts"}))
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    days = {}
    for covenant, name in ((stock, "stock.pdf"), (accounts, "accounts.pdf")):
        (record,) = _evaluations(client, tenant, covenant["id"])
        proof = _attach(client, tenant, record["id"], name, _pdf(f"remind {name}")).json()["proofs"][0]
        days[covenant["id"]] = _received_on(platform, tenant, proof["attached_at"])
    settle(platform, "covenants")

    run = _run(client, platform, tenant, "covenant-notification", "2024-01-24")
    assert run["status"] == "succeeded", run
    reminders = [m for m in mail_sink.messages if m["Subject"].startswith("Reminder")]
    (both,) = [m for m in reminders if f"({mixed})" in m["Subject"]]
    for body in _bodies(both):
        assert f"We received your documents on {days[stock['id']]}; they are being reviewed." in body
        assert "Insurance copy" in body
        assert "Please share the documents or figures for the covenant we have not received" in body
    assert (
        f"- Stock statement: Monthly stock statement\n  We received your documents on {days[stock['id']]}"
        in _bodies(both)[0]
    )
    (all_in,) = [m for m in reminders if f"({received})" in m["Subject"]]
    for body in _bodies(all_in):
        assert f"We received your documents on {days[accounts['id']]}; they are being reviewed." in body
        assert "Please share" not in body and "You need not send them again" in body
    # The records stay Open: a reminder decides nothing.
    assert [r["status"] for r in _evaluations(client, tenant, insurance["id"])] == ["open"]
