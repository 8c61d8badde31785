"""An outside walk of three features, from their docs rather than their implementers' tests: a closed covenant is
chased no more while a new covenant for the same borrower is (docs/architecture.md, "Closing stops the chase"), and
the overdue email's day of a re-sent proof is the brand's day; the collections sweep takes a departed executive's
cases (docs/collections.md) - not a re-enabled one's - and shares them by load, their promises and callbacks going
with the case, and without auto-allocation a reopening case is not given back to a disabled executive; WhatsApp's later template statuses (docs/engagement.md, "After the verdict"): a paused newer version
falls back to an older approved one, a manual verdict never clears a pause, a newer verdict does, a reminder naming a
paused template is refused, and an unknown template's status event changes nothing."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx

from adapters.webhooks import sign
from domain.covenants.application import Covenants
from domain.covenants.status import NoticeKind
from tests.conftest import make_tenant
from tests.e2e.blackbox import DAY, zone_at
from tests.e2e.test_collection_departures import auto_allocating, history, owners, reallocate, staff_change
from tests.e2e.test_collections import cob, executive, worklist
from tests.e2e.test_covenant_proofs import STOCK, _attach, _pdf
from tests.e2e.test_covenants import _borrower, _covenant, _evaluations, _run
from tests.e2e.test_engagement import configure, wiring  # noqa: F401 - the webhook secret and our public address
from tests.e2e.test_servicing_api import catalogue, disbursed_loan
from tests.e2e.test_whatsapp_template_submission import (
    URL,
    WEBHOOK,
    _approved,
    _get,
    _send,
    _send_kind,
    _signed,
    _submit,
)
from tests.e2e.test_whatsapp_template_submission import (
    _borrower as _wa_borrower,
)
from tests.support import settle

__all__ = ["catalogue"]


# --- Covenants: closing stops the chase -------------------------------------------------------------------------


def _overdue_mails(mail_sink: Any, application_ref: str) -> list[Any]:
    return [
        m for m in mail_sink.messages if m["Subject"].startswith("Overdue") and f"({application_ref})" in m["Subject"]
    ]


def _texts(mail: Any) -> list[str]:
    return [mail.get_body(preferencelist=(kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html")]


def _other_day_zone() -> str:
    """A fixed-offset zone whose date now is not UTC's (so a day written in UTC would show)."""
    return "Etc/GMT-13" if datetime.now(UTC).hour >= 12 else "Etc/GMT+12"


def test_a_new_covenant_after_a_closed_one_is_chased_and_its_resent_proof_is_dated_in_the_brands_day(
    client: Any, platform: Any, mail_sink: Any
) -> None:
    tenant = make_tenant(platform)
    zone = _other_day_zone()
    configure(platform, tenant, timezone=zone)
    customer = _borrower(client, tenant, f"walk-{uuid.uuid4().hex[:8]}@example.in")
    app, queued_app = f"APP-{uuid.uuid4().hex[:8]}", f"APP-{uuid.uuid4().hex[:8]}"
    old = _covenant(client, tenant, customer, application_ref=app, **(STOCK | {"title": "Quarterly stock"}))
    owed = _covenant(client, tenant, customer, application_ref=queued_app, **(STOCK | {"title": "Audit letter"}))
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    assert [r["status"] for r in _evaluations(client, tenant, old["id"])] == ["open"]
    (owed_record,) = _evaluations(client, tenant, owed["id"])

    # A notice queued before its covenant is closed is still sent ("it was owed when queued").
    covenants = platform.get(Covenants)
    assert covenants.mark_overdue([UUID(owed_record["id"])], date(2024, 2, 6)) == 1
    (notice,) = covenants.queue_notices(tenant.brand_id, NoticeKind.OVERDUE, [([UUID(owed_record["id"])],
                                        f"walk-{uuid.uuid4().hex[:8]}@example.in")],
                                        subject_for=lambda _: f"Overdue: Audit letter ({queued_app})",
                                        as_of=date(2024, 2, 6))  # fmt: skip
    assert notice is not None
    for covenant in (old, owed):
        closed = client.post(f"/api/v1/covenants/{covenant['id']}/close", json={"reason": "replaced by a new one"},
                             headers=tenant.auth)  # fmt: skip
        assert closed.status_code == 200, closed.text
    settle(platform, "covenants")

    # The same borrower, the same application: a new covenant after the close is chased as any other.
    new = _covenant(client, tenant, customer, application_ref=app, **(STOCK | {"title": "Renewed stock"}))
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-25")
    (new_record,) = _evaluations(client, tenant, new["id"])
    # A proof staff reject, then another file: the second one is received (the first is not what counts).
    bad = _attach(client, tenant, new_record["id"], "stock.pdf", _pdf("blurred walk")).json()["proofs"][0]
    review = client.post(f"/api/v1/documents/{bad['document_id']}/review",
                         json={"decision": "rejected", "reason": "unreadable scan"}, headers=tenant.auth)  # fmt: skip
    assert review.status_code == 200, review.text
    settle(platform, "documents")
    time.sleep(0.01)
    good = _attach(client, tenant, new_record["id"], "stock2.pdf", _pdf("clear walk"))
    assert good.status_code == 201, good.text
    settle(platform, "covenants")
    record = client.get(f"/api/v1/covenant-evaluations/{new_record['id']}", headers=tenant.auth).json()
    attached = datetime.fromisoformat(record["proofs"][-1]["attached_at"])
    assert record["proofs"][-1]["document_id"] != bad["document_id"]

    run = _run(client, platform, tenant, "covenant-notification", "2024-02-06")
    assert run["status"] == "succeeded", run
    assert [r["status"] for r in _evaluations(client, tenant, old["id"])] == ["open"]
    assert [r["status"] for r in _evaluations(client, tenant, new["id"])] == ["overdue"]
    (mail,) = _overdue_mails(mail_sink, app)
    brand_day = attached.astimezone(ZoneInfo(zone)).strftime("%d %B %Y")
    utc_day = attached.astimezone(UTC).strftime("%d %B %Y")
    for body in _texts(mail):
        assert "Renewed stock" in body and "Quarterly stock" not in body
        assert f"We received your documents on {brand_day}; they are being reviewed." in body, body
        assert brand_day == utc_day or utc_day not in body
    (sent,) = _overdue_mails(mail_sink, queued_app)
    assert sent["Message-ID"] == f"<notice-{notice.id}@covenant-desk>"


# --- Collections: a departed executive's cases ------------------------------------------------------------------


def _least_loaded(load: dict[UUID, int], loans: list[UUID]) -> dict[UUID, UUID]:
    """The doc's rule, applied by hand: each loan (equal DPD and amount: by id) to the least loaded, ties the smaller
    id."""
    given = {}
    for loan in sorted(loans, key=str):
        who = min(load, key=lambda s: (load[s], s))
        given[loan] = who
        load[who] += 1
    return given


def test_a_reenabled_executive_keeps_its_cases_and_a_departed_ones_go_by_load_with_their_promise_and_callback(
    client: Any, platform: Any
) -> None:
    tenant = auto_allocating(platform)
    people = {n: executive(platform, tenant, n)[0] for n in ("Asha", "Ravi", "Kiran", "Meera")}
    loans = [disbursed_loan(platform, tenant) for _ in range(5)]
    cob(client, platform, tenant, date(2026, 3, 1))
    reallocate(client, platform, tenant, loans[:3], people["Asha"])
    reallocate(client, platform, tenant, loans[3:4], people["Ravi"])
    reallocate(client, platform, tenant, loans[4:], people["Kiran"])
    # Meera holds nothing. Asha's first loan has an open promise, her second a callback the borrower asked for.
    ptp = client.post(f"/api/v1/loans/{loans[0]}/ptps", json={"date": "2026-03-05", "amount": "500.00"},
                      headers=tenant.auth)  # fmt: skip
    assert ptp.status_code == 201, ptp.text
    call_at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    contact = client.post(f"/api/v1/loans/{loans[1]}/contacts", json={"outcome": "callback_requested",
                          "remarks": "call me on Thursday", "callback_at": call_at}, headers=tenant.auth)  # fmt: skip
    assert contact.status_code == 201, contact.text
    settle(platform, "collections")

    # Kiran is disabled and enabled again before the sweep: not a departure. Asha is disabled.
    staff_change(client, platform, tenant, "POST", f"{people['Kiran']}/disable")
    staff_change(client, platform, tenant, "POST", f"{people['Kiran']}/enable")
    staff_change(client, platform, tenant, "POST", f"{people['Asha']}/disable")
    kirans = history(client, tenant, loans[4])
    cob(client, platform, tenant, date(2026, 3, 2))

    now = owners(client, tenant)
    assert now[str(loans[4])] == str(people["Kiran"]) and history(client, tenant, loans[4]) == kirans
    assert now[str(loans[3])] == str(people["Ravi"])
    load = {people[n]: held for n, held in (("Ravi", 1), ("Kiran", 1), ("Meera", 0))}
    expected = _least_loaded(load, loans[:3])
    assert {str(loan): now[str(loan)] for loan in loans[:3]} == {str(k): str(v) for k, v in expected.items()}
    for loan in loans[:3]:
        assert history(client, tenant, loan)[0] == ("sweep", now[str(loan)], str(people["Asha"]), "executive disabled")

    # The promise and the callback are the case's: they follow it to its new executive's worklist.
    def item(loan: UUID) -> dict[str, Any]:
        (found,) = [i for i in worklist(client, tenant.auth, stage="collections", assignee=now[str(loan)])
                    if i["loan_id"] == str(loan)]  # fmt: skip
        return found

    assert item(loans[0])["next_action"] == "follow up the promise due 2026-03-05", item(loans[0])
    assert item(loans[1])["last_outcome"] == "callback_requested", item(loans[1])
    promises = client.get(f"/api/v1/loans/{loans[0]}/ptps", headers=tenant.auth).json()["items"]
    assert [(p["status"], p["amount"]) for p in promises] == [("open", "500.00")]


# --- WhatsApp: template statuses after the verdict --------------------------------------------------------------


def _post_event(server: str, provider_id: str, event: str, at: datetime) -> httpx.Response:
    raw, headers = _signed({"id": uuid.uuid4().hex, "type": "message_template_status_update",
                            "created_at": at.isoformat(),
                            "data": {"message_template_id": provider_id, "event": event, "reason": "NONE"}})  # fmt: skip
    return httpx.post(f"{server}{WEBHOOK}", content=raw, headers=headers)


def test_a_paused_newer_version_falls_back_and_only_a_newer_verdict_clears_the_pause(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))  # not quiet hours: a WhatsApp message goes now
    whatsapp = provider_simulators["whatsapp"]
    template, first_id = _approved(server, tenant, whatsapp, "Walk fallback")
    changed = httpx.put(f"{server}{URL}/{template['id']}", json={"body": "Hello {{borrower_name}}, a reminder."},
                        headers=tenant.auth)  # fmt: skip
    assert changed.status_code == 200, changed.text
    second_id = _submit(server, tenant, template["id"]).json()["whatsapp_template_id"]
    assert second_id != first_id
    whatsapp.approve_template(second_id).result(timeout=10)
    customer = _wa_borrower(server, tenant)
    assert _send(server, tenant, customer, template["id"]).json()["template_version"] == 2

    # WhatsApp pauses version 2: a send by id falls back to version 1 (approved, not paused), and so does by kind.
    whatsapp.pause_template(second_id).result(timeout=10)
    shown = _get(server, tenant, template["id"])
    assert (shown["version"], shown["whatsapp_status"]) == (2, "paused")
    by_id = _send(server, tenant, customer, template["id"])
    assert by_id.status_code == 201 and by_id.json()["template_version"] == 1, by_id.text
    assert _send_kind(server, tenant, customer).json()["template_version"] == 1
    # Another brand sees none of it.
    assert httpx.get(f"{server}{URL}/{template['id']}", headers=other.auth).status_code == 404

    # Staff's manual verdict records no status: the pause stays.
    manual = httpx.post(f"{server}{URL}/{template['id']}/approval", json={"state": "approved"}, headers=tenant.auth)
    assert manual.status_code == 200, manual.text
    assert _get(server, tenant, template["id"])["whatsapp_status"] == "paused"
    # A verdict WhatsApp gave before the pause changes nothing; a newer one clears it: version 2 goes out again.
    paused_at = datetime.fromisoformat(_get(server, tenant, template["id"])["whatsapp_status_at"])
    stale = _post_event(server, second_id, "APPROVED", paused_at - timedelta(minutes=1))
    assert stale.status_code == 200 and stale.json()["status"] == "ignored", stale.text
    assert _get(server, tenant, template["id"])["whatsapp_status"] == "paused"
    fresh = _post_event(server, second_id, "APPROVED", datetime.now(UTC) + timedelta(seconds=1))
    assert fresh.status_code == 200 and fresh.json()["status"] == "processed", fresh.text
    assert _get(server, tenant, template["id"])["whatsapp_status"] is None
    assert _send(server, tenant, customer, template["id"]).json()["template_version"] == 2


def test_a_reminder_naming_a_paused_template_is_refused_and_unknown_or_forged_status_events_change_nothing(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    whatsapp = provider_simulators["whatsapp"]
    template, provider_id = _approved(server, tenant, whatsapp, "Walk reminder")
    customer = _wa_borrower(server, tenant)
    whatsapp.pause_template(provider_id).result(timeout=10)

    def remind() -> httpx.Response:
        at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        return httpx.post(f"{server}/api/v1/reminders", json={"customer_id": customer, "channel": "whatsapp",
                          "template_id": template["id"], "scheduled_at": at}, headers=tenant.auth)  # fmt: skip

    refused = remind()
    assert refused.status_code == 422 and "template_id" in refused.text and "paused" in refused.text, refused.text
    before = _get(server, tenant, template["id"])

    unknown = _post_event(server, f"9{uuid.uuid4().int % 10**12}", "REINSTATED", datetime.now(UTC))
    assert unknown.status_code == 200 and unknown.json()["status"] == "ignored", unknown.text
    raw, _ = _signed({"id": uuid.uuid4().hex, "type": "message_template_status_update",
                      "data": {"message_template_id": provider_id, "event": "REINSTATED", "reason": "NONE"}})  # fmt: skip
    forged = httpx.post(f"{server}{WEBHOOK}", content=raw, headers=sign("wrong", raw, int(time.time())))
    assert forged.status_code == 401
    assert _get(server, tenant, template["id"]) == before

    whatsapp.reinstate_template(provider_id).result(timeout=10)
    assert remind().status_code == 201


def test_without_auto_allocation_a_case_reopening_is_not_given_back_to_a_disabled_executive(
    client: Any, platform: Any
) -> None:
    """A case closed (the instalment paid) keeps who worked it; when the loan comes back into a stage the case
    reopens with its executive - unless that executive has left since: then it opens unassigned, for the managers."""
    tenant = auto_allocating(platform, on=False)
    (asha, _), (ravi, _) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    mine, theirs = disbursed_loan(platform, tenant), disbursed_loan(platform, tenant)
    cob(client, platform, tenant, date(2026, 2, 26))  # both due on 28 Feb: pre-collections, unassigned
    reallocate(client, platform, tenant, [mine], asha)
    reallocate(client, platform, tenant, [theirs], ravi)
    for loan in (mine, theirs):
        paid = {"amount": "8037.57", "mode": "nach", "reference": f"NACH-{loan}", "paid_on": "2026-02-27"}
        assert client.post(f"/api/v1/loans/{loan}/repayments", json=paid, headers=tenant.auth).status_code == 201
    cob(client, platform, tenant, date(2026, 2, 27))
    assert worklist(client, tenant.auth, stage="pre") == []  # closed, each with who worked it
    staff_change(client, platform, tenant, "POST", f"{asha}/disable")

    cob(client, platform, tenant, date(2026, 3, 28))  # the next instalment (31 Mar) within the window: reopened
    pre = {i["loan_id"]: i["assignee"] for i in worklist(client, tenant.auth, stage="pre")}
    assert pre == {str(mine): None, str(theirs): str(ravi)}, pre
