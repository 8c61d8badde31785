"""The WhatsApp template approval round trip through the API, a real server and the WhatsApp simulator over HTTP
(docs/engagement.md, "WhatsApp approval"): `POST /api/v1/message-templates/{id}/whatsapp-submission` submits the
version (pending, the provider's id kept), WhatsApp's signed `message_template_status_update` records the verdict
through the manual verdict's path (same state, an audit entry by `webhook:whatsapp`), once per event; forged or
stale deliveries and unknown template ids change nothing; the provider down is a 503 with Retry-After and a refusal a
422 with its code, nothing recorded; another brand's template is a 404; an approved template then goes out on
WhatsApp while a pending or rejected one does not; the portal's "Submit to WhatsApp for approval" button."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from adapters.webhooks import sign
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import DAY, NIGHT, poll, zone_at
from tests.e2e.test_engagement import configure, wiring  # noqa: F401 - the webhook secret and our public address
from tests.e2e.test_engagement_forms import HIDDEN, portals  # noqa: F401 - brand A's and B's staff signed in
from tests.e2e.test_refused_forms_keep_input import _form
from tests.support import mobile

URL = "/api/v1/message-templates"
WEBHOOK = "/api/v1/webhooks/whatsapp"


def _template(server: str, tenant: Tenant, name: str = "WA due nudge", kind: str = "custom") -> dict[str, Any]:
    made = httpx.post(f"{server}{URL}", json={"name": name, "kind": kind, "channel": "whatsapp",
                      "body": "Hi {{borrower_name}}, {{amount}} is due on {{due_date}}."}, headers=tenant.auth)  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["approval"] == "pending" and made.json()["whatsapp_template_id"] is None
    return dict(made.json())


def _get(server: str, tenant: Tenant, template_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{server}{URL}/{template_id}", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _submit(server: str, tenant: Tenant, template_id: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{server}{URL}/{template_id}/whatsapp-submission", json=body, headers=tenant.auth)


def _audit(server: str, tenant: Tenant, template_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server}/api/v1/activity", params={"aggregate_id": template_id}, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return list(reversed(answer.json()["items"]))  # oldest first


def _borrower(server: str, tenant: Tenant) -> str:
    phone = mobile("98")
    made = httpx.post(f"{server}/api/v1/customers", json={"name": "Ravi Shankar", "phone": phone},
                      headers=tenant.auth)  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _send(server: str, tenant: Tenant, customer_id: str, template_id: str) -> httpx.Response:
    return httpx.post(f"{server}/api/v1/messages", json={"customer_id": customer_id, "channel": "whatsapp",
                      "template_id": template_id, "idempotency_key": uuid.uuid4().hex}, headers=tenant.auth)  # fmt: skip


def _signed(event: dict[str, Any], secret: str = PROVIDER_WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps({"created_at": datetime.now(UTC).isoformat(), **event}).encode()
    return raw, sign(secret, raw, int(time.time()))


def test_a_submitted_template_is_approved_by_whatsapps_signed_webhook_and_then_goes_out(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))  # not quiet hours: a WhatsApp message goes now
    whatsapp = provider_simulators["whatsapp"]
    template = _template(server, tenant)
    customer = _borrower(server, tenant)

    # Pending and never approved: it does not go out.
    assert _send(server, tenant, customer, template["id"]).status_code == 409

    # Another brand's template is a 404, a role without MESSAGE_TEMPLATES WRITE a 403: nothing goes to WhatsApp.
    assert _submit(server, other, template["id"]).status_code == 404
    collector = make_tenant(platform, role="collection_executive")
    assert _submit(server, collector, template["id"]).status_code == 403
    assert [t for t in whatsapp.templates() if template["id"].replace("-", "")[:8] in t["name"]] == []

    submitted = _submit(server, tenant, template["id"])
    assert submitted.status_code == 202, submitted.text
    shown = submitted.json()
    assert shown["approval"] == "pending" and shown["whatsapp_submissions"] == 1 and shown["whatsapp_submitted_by"]
    at_whatsapp = {t["id"]: t for t in whatsapp.templates()}[shown["whatsapp_template_id"]]
    assert at_whatsapp["status"] == "PENDING" and at_whatsapp["category"] == "UTILITY"
    assert at_whatsapp["text"] == template["body"] and at_whatsapp["language"] == "en"
    assert at_whatsapp["name"] == f"wa_due_nudge_{template['id'].replace('-', '')[:8]}_v1"

    # Awaiting review: a second submission is a 409 and makes nothing at WhatsApp.
    again = _submit(server, tenant, template["id"])
    assert again.status_code == 409 and "awaits its review" in again.text
    assert len([t for t in whatsapp.templates() if t["name"] == at_whatsapp["name"]]) == 1
    assert _send(server, tenant, customer, template["id"]).status_code == 409

    delivery = whatsapp.approve_template(shown["whatsapp_template_id"]).result(timeout=10)
    assert delivery.delivered and json.loads(delivery.body)["type"] == "message_template_status_update"
    approved = _get(server, tenant, template["id"])
    assert (approved["approval"], approved["approval_reason"]) == ("approved", None)
    entries = _audit(server, tenant, template["id"])
    assert [(e["event_type"], e["actor"]) for e in entries] == [
        ("MessageTemplateSubmitted", shown["whatsapp_submitted_by"]),
        ("MessageTemplateApprovalRecorded", "webhook:whatsapp"),
    ]
    assert entries[1]["details"]["approval_before"] == "pending" and entries[1]["details"]["approval"] == "approved"

    # The same delivery again (freshly signed, or byte for byte): a duplicate, nothing changes, no second entry.
    for replay in (False, True):
        assert whatsapp.redeliver(delivery, replay=replay).delivered
    repeated = httpx.post(f"{server}{WEBHOOK}", content=delivery.body,
                          headers=sign(PROVIDER_WEBHOOK_SECRET, delivery.body, int(time.time())))  # fmt: skip
    assert repeated.status_code == 200 and repeated.json()["status"] == "duplicate"
    assert _get(server, tenant, template["id"]) == approved and len(_audit(server, tenant, template["id"])) == 2

    # Approved: it goes out on WhatsApp; submitting it again is a 409.
    sent = _send(server, tenant, customer, template["id"])
    assert sent.status_code == 201, sent.text
    assert (sent.json()["template_version"], sent.json()["status"]) == (1, "sent")
    assert _submit(server, tenant, template["id"]).status_code == 409


def test_a_rejected_template_keeps_its_reason_stays_unsent_and_may_be_submitted_again(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    whatsapp = provider_simulators["whatsapp"]
    template = _template(server, tenant, "Offer nudge", kind="reloan_offer")
    customer = _borrower(server, tenant)
    first = _submit(server, tenant, template["id"]).json()
    assert {t["id"]: t for t in whatsapp.templates()}[first["whatsapp_template_id"]]["category"] == "MARKETING"
    whatsapp.reject_template(first["whatsapp_template_id"], "TAG_CONTENT_MISMATCH").result(timeout=10)
    rejected = _get(server, tenant, template["id"])
    assert (rejected["approval"], rejected["approval_reason"]) == ("rejected", "TAG_CONTENT_MISMATCH")
    assert _send(server, tenant, customer, template["id"]).status_code == 409

    # Submitted again (after a rejection it may be): a new id at WhatsApp, pending, the reason cleared.
    second = _submit(server, tenant, template["id"])
    assert second.status_code == 202, second.text
    assert second.json()["whatsapp_template_id"] != first["whatsapp_template_id"]
    assert (second.json()["approval"], second.json()["approval_reason"], second.json()["whatsapp_submissions"]) == (
        "pending", None, 2)  # fmt: skip
    # A verdict on the replaced submission finds no template of ours: acknowledged, nothing changes.
    late, headers = _signed({"id": uuid.uuid4().hex, "type": "message_template_status_update",
                             "data": {"message_template_id": first["whatsapp_template_id"], "event": "APPROVED",
                                      "reason": "NONE"}})  # fmt: skip
    answer = httpx.post(f"{server}{WEBHOOK}", content=late, headers=headers)
    assert answer.status_code == 200 and answer.json()["status"] == "ignored"
    assert _get(server, tenant, template["id"])["approval"] == "pending"

    # The simulator's fault switch: the next submission is rejected by review on its own.
    whatsapp.reject_next_templates(1, "INCORRECT_CATEGORY", 0.05)
    other = _template(server, tenant, "Offer nudge two")
    _submit(server, tenant, other["id"])
    decided = poll(lambda: _get(server, tenant, other["id"]), lambda t: t["approval"] != "pending")
    assert (decided["approval"], decided["approval_reason"]) == ("rejected", "INCORRECT_CATEGORY")


def test_forged_stale_malformed_and_unknown_verdicts_change_nothing(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    template = _template(server, tenant)
    shown = _submit(server, tenant, template["id"]).json()
    event = {"id": uuid.uuid4().hex, "type": "message_template_status_update",
             "data": {"message_template_id": shown["whatsapp_template_id"], "event": "APPROVED", "reason": "NONE"}}  # fmt: skip
    raw, _ = _signed(event)
    forged = httpx.post(f"{server}{WEBHOOK}", content=raw, headers=sign("not-the-secret", raw, int(time.time())))
    assert forged.status_code == 401
    stale = httpx.post(f"{server}{WEBHOOK}", content=raw, headers=sign(PROVIDER_WEBHOOK_SECRET, raw,
                                                                       int(time.time()) - 3600))  # fmt: skip
    assert stale.status_code == 401
    unsigned = httpx.post(f"{server}{WEBHOOK}", content=raw)
    assert unsigned.status_code == 400
    bad, headers = _signed({**event, "data": {**event["data"], "message_template_id": ["x"]}})
    malformed = httpx.post(f"{server}{WEBHOOK}", content=bad, headers=headers)
    assert malformed.status_code == 422 and "message_template_id" in malformed.text
    unknown, headers = _signed({**event, "id": uuid.uuid4().hex, "data": {**event["data"],
                                                                          "message_template_id": "wat_nobody"}})  # fmt: skip
    ignored = httpx.post(f"{server}{WEBHOOK}", content=unknown, headers=headers)
    assert ignored.status_code == 200 and ignored.json()["status"] == "ignored"
    assert _get(server, tenant, template["id"]) == shown
    assert [e["event_type"] for e in _audit(server, tenant, template["id"])] == ["MessageTemplateSubmitted"]

    # The genuine delivery is recorded, by WhatsApp, and a repeat of it is a duplicate.
    raw, headers = _signed(event)
    assert httpx.post(f"{server}{WEBHOOK}", content=raw, headers=headers).json()["status"] == "processed"
    assert httpx.post(f"{server}{WEBHOOK}", content=raw, headers=headers).json()["status"] == "duplicate"
    assert _get(server, tenant, template["id"])["approval"] == "approved"
    assert [(e["event_type"], e["actor"]) for e in _audit(server, tenant, template["id"])][-1] == (
        "MessageTemplateApprovalRecorded", "webhook:whatsapp")  # fmt: skip

    # A verdict overtaking our record of its submission (its `reference` names a submission not recorded yet): 409,
    # deliver again, nothing kept - the retry is processed once the submission is recorded.
    early = _template(server, tenant, "Overtaken")
    raw, headers = _signed({"id": uuid.uuid4().hex, "type": "message_template_status_update",
                            "data": {"message_template_id": "wat_not_recorded", "event": "APPROVED", "reason": "NONE",
                                     "reference": f"{early['id']}.v1.1"}})  # fmt: skip
    overtaken = httpx.post(f"{server}{WEBHOOK}", content=raw, headers=headers)
    assert overtaken.status_code == 409 and _get(server, tenant, early["id"]) == early

    # Two brands' versions carrying one provider id (two providers' accounts may issue the same): applied to none.
    other = make_tenant(platform)
    theirs = _template(server, other)
    their_id = _submit(server, other, theirs["id"]).json()["whatsapp_template_id"]
    mine = _template(server, tenant, "Same id")
    _submit(server, tenant, mine["id"])
    with platform.db.pool.connection() as conn:
        conn.execute("UPDATE ops.message_template_versions SET whatsapp_template_id = %s WHERE template_id = %s",
                     (their_id, uuid.UUID(mine["id"])))  # fmt: skip
    raw, headers = _signed({"id": uuid.uuid4().hex, "type": "message_template_status_update",
                            "data": {"message_template_id": their_id, "event": "APPROVED", "reason": "NONE"}})  # fmt: skip
    both = httpx.post(f"{server}{WEBHOOK}", content=raw, headers=headers)
    assert both.status_code == 200 and both.json()["status"] == "ignored"
    assert _get(server, other, theirs["id"])["approval"] == _get(server, tenant, mine["id"])["approval"] == "pending"


def test_the_provider_down_or_refusing_records_nothing(server: str, platform: Any, provider_simulators: Any) -> None:
    tenant = make_tenant(platform)
    whatsapp = provider_simulators["whatsapp"]
    template = _template(server, tenant)
    count = len(whatsapp.templates())
    whatsapp.fail_next(3, 503, path="/v1/message_templates")
    try:
        down = _submit(server, tenant, template["id"])
    finally:
        whatsapp.reset_faults()
    assert down.status_code == 503 and down.headers.get("retry-after"), down.text
    whatsapp.refuse_next_templates(1, "template_quality_low", 422)
    refused = _submit(server, tenant, template["id"])
    assert refused.status_code == 422 and "template_quality_low" in refused.text
    assert _get(server, tenant, template["id"]) == template
    assert _audit(server, tenant, template["id"]) == [] and len(whatsapp.templates()) == count
    assert _submit(server, tenant, template["id"], category="PROMO").status_code == 422
    sms = httpx.post(f"{server}{URL}", json={"name": "SMS nudge", "channel": "sms", "body": "Hi {{borrower_name}}"},
                     headers=tenant.auth).json()  # fmt: skip
    assert _submit(server, tenant, sms["id"]).status_code == 409
    assert _submit(server, tenant, str(uuid.uuid4())).status_code == 404


def test_the_manual_verdict_takes_the_same_path_with_its_actor(server: str, platform: Any) -> None:
    tenant = make_tenant(platform)
    template = _template(server, tenant)
    url = f"{server}{URL}/{template['id']}/approval"
    short = httpx.post(url, json={"state": "rejected", "reason": "x"}, headers=tenant.auth)
    assert short.status_code == 422
    done = httpx.post(url, json={"state": "rejected", "reason": "Meta said: wrong category"}, headers=tenant.auth)
    assert done.status_code == 200 and done.json()["approval_reason"] == "Meta said: wrong category"
    entries = _audit(server, tenant, template["id"])
    assert len(entries) == 1 and entries[0]["event_type"] == "MessageTemplateApprovalRecorded"
    assert entries[0]["actor"].startswith("apikey:") and entries[0]["details"]["reason"] == "Meta said: wrong category"
    # The same verdict again changes nothing and writes no entry.
    httpx.post(url, json={"state": "rejected", "reason": "Meta said: wrong category"}, headers=tenant.auth)
    assert len(_audit(server, tenant, template["id"])) == 1


@pytest.mark.usefixtures("provider_simulators")
def test_the_portal_submits_a_template_and_shows_its_state(client: Any, portals: dict[str, Any],  # noqa: F811
                                                           provider_simulators: Any) -> None:  # fmt: skip
    tenant, admin = portals["tenant"], portals["admin"]
    whatsapp = provider_simulators["whatsapp"]
    made = client.post(URL, json={"name": "Portal nudge", "channel": "whatsapp", "body": "Hi {{borrower_name}}"},
                       headers=tenant.auth).json()  # fmt: skip
    page, action = f"/engagement/templates/{made['id']}", f"/engagement/templates/{made['id']}/whatsapp-submission"
    opened = admin.get(page).text
    assert "not submitted to WhatsApp yet" in opened
    fields = dict(HIDDEN.findall(_form(opened, "whatsapp-submission-form")))
    assert fields["version"] == "1" and "Submit to WhatsApp for approval" in opened
    assert 'id="whatsapp-submission-form"' not in portals["reader"].get(page).text
    assert portals["reader"].post(action, data={**fields, "csrf_token": portals["reader_csrf"]}).status_code == 403
    assert portals["other_admin"].post(action, data={**fields,
                                                     "csrf_token": portals["other_admin_csrf"]}).status_code == 404  # fmt: skip
    whatsapp.fail_next(3, 503, path="/v1/message_templates")
    try:
        down = admin.post(action, data=fields)
    finally:
        whatsapp.reset_faults()
    assert down.status_code == 503 and 'id="approval-error"' in down.text and "nothing was submitted" in down.text
    assert client.get(f"{URL}/{made['id']}", headers=tenant.auth).json()["whatsapp_template_id"] is None

    done = admin.post(action, data=fields)
    assert done.status_code == 303 and done.headers["location"] == f"{page}?approval=submitted#approval-card"
    pending = admin.get(done.headers["location"]).text
    assert "Submitted to WhatsApp for approval" in pending and "awaiting its review" in pending
    assert 'id="whatsapp-submission-form"' not in pending
    provider_id = client.get(f"{URL}/{made['id']}", headers=tenant.auth).json()["whatsapp_template_id"]
    whatsapp.reject_template(provider_id, "ABUSIVE_CONTENT").result(timeout=10)
    rejected = admin.get(page).text
    assert 'id="approval-reason">ABUSIVE_CONTENT<' in rejected and 'id="whatsapp-submission-form"' in rejected


def _approved(server: str, tenant: Tenant, whatsapp: Any, name: str) -> tuple[dict[str, Any], str]:
    """A custom WhatsApp template submitted and approved by WhatsApp's webhook: the template and its provider id."""
    template = _template(server, tenant, name)
    provider_id = _submit(server, tenant, template["id"]).json()["whatsapp_template_id"]
    whatsapp.approve_template(provider_id).result(timeout=10)
    assert _get(server, tenant, template["id"])["approval"] == "approved"
    return template, provider_id


def _send_kind(server: str, tenant: Tenant, customer_id: str) -> httpx.Response:
    return httpx.post(f"{server}/api/v1/messages", json={"customer_id": customer_id, "channel": "whatsapp",
                      "kind": "custom", "idempotency_key": uuid.uuid4().hex}, headers=tenant.auth)  # fmt: skip


def test_a_template_whatsapp_pauses_is_not_sent_until_reinstated_and_a_disabled_one_never(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))  # not quiet hours: a WhatsApp message goes now
    whatsapp = provider_simulators["whatsapp"]
    template, provider_id = _approved(server, tenant, whatsapp, "Quality nudge")
    customer = _borrower(server, tenant)
    assert _send(server, tenant, customer, template["id"]).json()["status"] == "sent"
    sent_before = len(whatsapp.messages())

    # Flagged for low quality: shown, recorded by WhatsApp, still sent.
    whatsapp.flag_template(provider_id).result(timeout=10)
    flagged = _get(server, tenant, template["id"])
    assert (flagged["approval"], flagged["whatsapp_status"]) == ("approved", "flagged")
    assert _send(server, tenant, customer, template["id"]).json()["status"] == "sent"
    assert len(whatsapp.messages()) == sent_before + 1

    # Paused: recorded with its kind of pause, audited once (a repeated delivery is a duplicate), not sent.
    paused_delivery = whatsapp.pause_template(provider_id).result(timeout=10)
    assert paused_delivery.delivered
    paused = _get(server, tenant, template["id"])
    assert (paused["approval"], paused["whatsapp_status"], paused["whatsapp_status_reason"]) == (
        "approved", "paused", "FIRST_PAUSE")  # fmt: skip
    assert whatsapp.redeliver(paused_delivery).delivered
    repeated = httpx.post(f"{server}{WEBHOOK}", content=paused_delivery.body,
                          headers=sign(PROVIDER_WEBHOOK_SECRET, paused_delivery.body, int(time.time())))  # fmt: skip
    assert repeated.status_code == 200 and repeated.json()["status"] == "duplicate"
    entries = [e for e in _audit(server, tenant, template["id"])
               if e["event_type"] == "MessageTemplateWhatsAppStatusRecorded"]  # fmt: skip
    assert [(e["actor"], e["details"]["whatsapp_status_before"], e["details"]["whatsapp_status"]) for e in entries] == [
        ("webhook:whatsapp", None, "flagged"), ("webhook:whatsapp", "flagged", "paused")]  # fmt: skip
    by_id = _send(server, tenant, customer, template["id"])
    assert by_id.status_code == 409 and "paused" in by_id.text, by_id.text
    by_kind = _send_kind(server, tenant, customer)
    assert by_kind.status_code == 409, by_kind.text
    assert len(whatsapp.messages()) == sent_before + 1  # nothing was attempted at WhatsApp

    # Reinstated: sent again.
    whatsapp.reinstate_template(provider_id).result(timeout=10)
    assert _get(server, tenant, template["id"])["whatsapp_status"] == "reinstated"
    again = _send(server, tenant, customer, template["id"])
    assert again.status_code == 201 and again.json()["status"] == "sent", again.text
    assert _send_kind(server, tenant, customer).status_code == 201
    assert len(whatsapp.messages()) == sent_before + 3

    # Disabled after a second pause: never sent again.
    whatsapp.pause_template(provider_id).result(timeout=10)
    assert _get(server, tenant, template["id"])["whatsapp_status_reason"] == "SECOND_PAUSE"
    whatsapp.disable_template(provider_id).result(timeout=10)
    disabled = _get(server, tenant, template["id"])
    assert disabled["whatsapp_status"] == "disabled" and disabled["whatsapp_status_reason"] is None
    assert _send(server, tenant, customer, template["id"]).status_code == 409
    assert _send_kind(server, tenant, customer).status_code == 409
    assert len(whatsapp.messages()) == sent_before + 3


def test_a_stale_template_event_never_undoes_a_newer_state(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    whatsapp = provider_simulators["whatsapp"]
    template, provider_id = _approved(server, tenant, whatsapp, "Order nudge")
    customer = _borrower(server, tenant)

    # The simulator reinstates, then disables; the reinstatement (decided first) reaches us last.
    late = whatsapp.pause_template(provider_id)
    assert late is not None and late.result(timeout=10).delivered
    reinstated = whatsapp.reinstate_template(provider_id, delay=0.5)
    time.sleep(0.05)
    disabled = whatsapp.disable_template(provider_id, "LOW_QUALITY")
    assert disabled is not None and disabled.result(timeout=10).delivered
    assert reinstated is not None
    overtaken = reinstated.result(timeout=10)
    assert overtaken.delivered and json.loads(overtaken.attempts[-1].body)["data"]["event"] == "REINSTATED"
    shown = _get(server, tenant, template["id"])
    assert (shown["whatsapp_status"], shown["whatsapp_status_reason"]) == ("disabled", "LOW_QUALITY")
    assert _send(server, tenant, customer, template["id"]).status_code == 409

    # A verdict (or any event) older than the disabling, under a new event id: ignored, nothing changes.
    older = datetime.fromisoformat(shown["whatsapp_status_at"]).timestamp() - 60
    raw, headers = _signed({"id": uuid.uuid4().hex, "type": "message_template_status_update",
                            "created_at": datetime.fromtimestamp(older, UTC).isoformat(),
                            "data": {"message_template_id": provider_id, "event": "APPROVED", "reason": "NONE"}})  # fmt: skip
    answer = httpx.post(f"{server}{WEBHOOK}", content=raw, headers=headers)
    assert answer.status_code == 200 and answer.json()["status"] == "ignored", answer.text
    assert _get(server, tenant, template["id"]) == shown
    statuses = [e["details"]["whatsapp_status"] for e in _audit(server, tenant, template["id"])
                if e["event_type"] == "MessageTemplateWhatsAppStatusRecorded"]  # fmt: skip
    assert statuses == ["paused", "disabled"]

    # Forged: refused, nothing changes.
    raw, _ = _signed({"id": uuid.uuid4().hex, "type": "message_template_status_update",
                      "data": {"message_template_id": provider_id, "event": "REINSTATED", "reason": "NONE"}})  # fmt: skip
    forged = httpx.post(f"{server}{WEBHOOK}", content=raw, headers=sign("not-the-secret", raw, int(time.time())))
    assert forged.status_code == 401 and _get(server, tenant, template["id"]) == shown

    # Pending deletion (newer): not usable either.
    whatsapp.change_template_status(provider_id, "PENDING_DELETION").result(timeout=10)  # type: ignore[union-attr]
    assert _get(server, tenant, template["id"])["whatsapp_status"] == "pending_deletion"
    assert _send(server, tenant, customer, template["id"]).status_code == 409


def test_a_whatsapp_message_waiting_when_its_template_is_paused_is_not_sent(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    from api.services.engagement import Engagement

    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(NIGHT))  # quiet hours: the message waits
    whatsapp = provider_simulators["whatsapp"]
    template, provider_id = _approved(server, tenant, whatsapp, "Night nudge")
    customer = _borrower(server, tenant)
    held = _send(server, tenant, customer, template["id"])
    assert held.status_code == 201 and held.json()["status"] == "deferred", held.text
    whatsapp.pause_template(provider_id).result(timeout=10)
    configure(platform, tenant, timezone=zone_at(DAY))  # morning: its time comes
    with platform.db.pool.connection() as conn:
        conn.execute("UPDATE ops.messages SET next_attempt_at = now() - interval '1 minute' WHERE id = %s",
                     (uuid.UUID(held.json()["id"]),))  # fmt: skip
    sent_before = len(whatsapp.messages())
    done = platform.port(Engagement).deliver_due(tenant.brand_id)
    assert (done.sent, done.suppressed) == (0, 1)
    stored = httpx.get(f"{server}/api/v1/messages/{held.json()['id']}", headers=tenant.auth).json()
    assert (stored["status"], stored["reason"]) == ("suppressed", "template_unsendable")
    assert len(whatsapp.messages()) == sent_before


@pytest.mark.usefixtures("provider_simulators")
def test_the_portal_shows_whatsapps_pause_of_a_template(client: Any, portals: dict[str, Any],  # noqa: F811
                                                        provider_simulators: Any) -> None:  # fmt: skip
    tenant, admin = portals["tenant"], portals["admin"]
    whatsapp = provider_simulators["whatsapp"]
    made = client.post(URL, json={"name": "Portal pause", "channel": "whatsapp", "body": "Hi {{borrower_name}}"},
                       headers=tenant.auth).json()  # fmt: skip
    page = f"/engagement/templates/{made['id']}"
    provider_id = client.post(f"{URL}/{made['id']}/whatsapp-submission", json={},
                              headers=tenant.auth).json()["whatsapp_template_id"]  # fmt: skip
    whatsapp.approve_template(provider_id).result(timeout=10)
    assert 'id="whatsapp-status"' not in admin.get(page).text
    whatsapp.flag_template(provider_id).result(timeout=10)
    flagged = admin.get(page).text
    assert 'id="whatsapp-status">flagged<' in flagged and "still sent" in flagged
    whatsapp.pause_template(provider_id).result(timeout=10)
    paused = admin.get(page).text
    assert 'id="whatsapp-status">paused<' in paused and 'id="whatsapp-status-reason">FIRST_PAUSE<' in paused
    assert "not sent on WhatsApp until WhatsApp reinstates it" in paused and "this version goes out" not in paused
    whatsapp.disable_template(provider_id).result(timeout=10)
    assert 'id="whatsapp-status">disabled<' in admin.get(page).text
