"""A departed staff member's open callback requests go back by the routing rule, on PostgreSQL through the API
(docs/callbacks.md, "When the holder leaves"): a staff member disabled (`POST /api/v1/staff/{id}/disable`) or no
longer holding CALLBACKS at WRITE (`PATCH /api/v1/staff/{id}`) loses their open requests - a follow-up they promised
too - to whoever then holds the borrower (the active CX), or to nobody (the queue's unassigned), each move a
`Reassigned` with cause `holder_departed` and why; a new ask or a follow-up is never routed to them. Re-enabled before
the router runs, nothing moves; another brand's requests are never touched. A request released to the pool goes to the
CX a manager then assigns the application to, unless someone took it from the pool meanwhile."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from adapters.simulators.sms import SmsSimulator
from domain.callbacks.application import Callbacks
from domain.callbacks.request import CallbackRequest, CallbackSource, CallbackWindow, RerouteCause
from domain.loans.application import Loans
from domain.shared.aggregate import acting_as
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_callbacks import _application, _assign, _key, _my_notices, _portal, _route, _staff, sms, wiring
from tests.support import settle

__all__ = ["sms", "wiring"]  # the fixtures, used by name

ASKS = "/api/v1/borrower/callback-requests"


def _ask(client: Any, auth: dict[str, str], loan_id: str | None = None) -> str:
    asked = client.post(ASKS, json={"note": "EMI date?", **({"loan_id": loan_id} if loan_id else {})}, headers=auth)
    assert asked.status_code == 201, asked.text
    return str(asked.json()["id"])


def _request(client: Any, tenant: Tenant, request_id: str) -> dict[str, Any]:
    got = client.get(f"/api/v1/callback-requests/{request_id}", headers=tenant.auth)
    assert got.status_code == 200, got.text
    return dict(got.json())


def _staff_change(client: Any, platform: Any, tenant: Tenant, method: str, path: str, body: Any = None) -> None:
    answer = client.request(method, f"/api/v1/staff/{path}", json=body, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    settle(platform, "identity")


def _moves(platform: Any, request_id: str | UUID) -> list[CallbackRequest.Reassigned]:
    events = platform.get(Callbacks).repository.event_store.get(UUID(str(request_id)))
    return [e for e in events if isinstance(e, CallbackRequest.Reassigned)]


def test_a_follow_up_promised_by_a_staff_member_since_disabled_goes_to_the_borrowers_active_cx(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    cx, cx_email = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    colleague, colleague_email = _staff(platform, tenant, "sales", "Sunil Sales")
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    asked = _ask(client, auth, application["id"])
    colleagues, token = _portal(app, colleague_email)
    cxs, _ = _portal(app, cx_email)
    try:
        later = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=2)).replace(microsecond=0)
        answered = colleagues.post(f"/api/v1/callback-requests/{asked}/respond", headers={"X-CSRF-Token": token},
                                   json={"outcome": "callback_requested", "remarks": "call me in two days",
                                         "callback_at": later.isoformat()})  # fmt: skip
        assert answered.status_code == 200, answered.text
        follow_up = answered.json()["follow_up_id"]
        assert _request(client, tenant, follow_up)["assignee_id"] == str(colleague)  # they promised it
        _route(platform)
        assert _request(client, tenant, follow_up)["assignee_id"] == str(colleague)  # nothing moves while active

        _staff_change(client, platform, tenant, "POST", f"{colleague}/disable")
        _route(platform)
        moved = _request(client, tenant, follow_up)
        assert (moved["assignee_id"], moved["assignee_name"], moved["status"], moved["source"]) == (
            str(cx), "Kavya Credit", "open", "follow_up")  # fmt: skip
        assert datetime.fromisoformat(moved["due_at"]) == later  # the promise stands, with its time
        [move] = _moves(platform, follow_up)
        assert (move.assignee_id, move.previous_assignee_id, move.cause, move.reason, move.loan_id, move.actor) == (
            cx, colleague, RerouteCause.HOLDER_DEPARTED, "staff member disabled", UUID(application["id"]),
            "job:callback-router")  # fmt: skip
        mine = client.get("/api/v1/callback-requests", params={"assigned_to": str(cx)}, headers=tenant.auth)
        assert [r["id"] for r in mine.json()["items"]] == [follow_up]
        assert [n["title"] for n in _my_notices(cxs)] == ["Follow-up callback now yours: " + moved["borrower_name"]]

        _route(platform)  # a repeat moves nothing again and tells nobody twice
        assert len(_moves(platform, follow_up)) == 1 and len(_my_notices(cxs)) == 1
    finally:
        colleagues.__exit__(None, None, None)
        cxs.__exit__(None, None, None)


def test_a_disabled_or_callbacks_less_holders_request_goes_to_the_pool_and_new_asks_skip_them(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    gone, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    reader, _ = _staff(platform, tenant, "credit_executive", "Arun Credit")
    kept, _ = _staff(platform, tenant, "credit_executive", "Mohan Credit")
    asks = {}
    for cx in (gone, reader, kept):
        application, auth = _application(client, tenant, sms)
        _assign(client, tenant, application["id"], cx)
        asks[cx] = _ask(client, auth, application["id"] if cx != reader else None)
    late, late_auth = _application(client, tenant, sms)  # asks only once its CX has left
    _assign(client, tenant, late["id"], gone)

    _staff_change(client, platform, tenant, "POST", f"{gone}/disable")
    _staff_change(client, platform, tenant, "PATCH", str(reader), {"permissions": {"CALLBACKS": "READ"}})
    late_ask = _ask(client, late_auth, late["id"])
    assert _request(client, tenant, late_ask)["assignee_id"] is None  # never routed to who left: the pool
    _route(platform)

    # Their applications are still theirs (nobody reassigned them): nobody active holds the borrowers, so the pool.
    assert _request(client, tenant, asks[gone])["assignee_id"] is None
    assert _request(client, tenant, asks[reader])["assignee_id"] is None
    assert _request(client, tenant, asks[kept])["assignee_id"] == str(kept) and _moves(platform, asks[kept]) == []
    [disabled] = _moves(platform, asks[gone])
    [demoted] = _moves(platform, asks[reader])
    assert (disabled.previous_assignee_id, disabled.cause, disabled.reason) == (
        gone, RerouteCause.HOLDER_DEPARTED, "staff member disabled")  # fmt: skip
    assert (demoted.previous_assignee_id, demoted.cause, demoted.reason, demoted.loan_id) == (
        reader, RerouteCause.HOLDER_DEPARTED, "staff member no longer holds CALLBACKS at WRITE", None)  # fmt: skip
    pool = client.get("/api/v1/callback-requests", params={"assigned_to": "unassigned"}, headers=tenant.auth)
    assert {r["id"] for r in pool.json()["items"]} == {asks[gone], asks[reader], late_ask}
    assert _moves(platform, late_ask) == []


def test_an_api_key_answering_a_departed_holders_request_opens_the_follow_up_for_the_active_cx(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    cx, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    cx2, _ = _staff(platform, tenant, "credit_executive", "Mohan Credit")
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    asked = _ask(client, auth, application["id"])
    # The application goes to another CX and its first CX leaves before the router has moved the request.
    _assign(client, tenant, application["id"], cx2)
    _staff_change(client, platform, tenant, "POST", f"{cx}/disable")
    assert _request(client, tenant, asked)["assignee_id"] == str(cx)
    later = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=1)).replace(microsecond=0)
    answered = client.post(f"/api/v1/callback-requests/{asked}/respond", headers=_key(platform, tenant, "admin"),
                           json={"outcome": "callback_requested", "remarks": "call tomorrow",
                                 "callback_at": later.isoformat()})  # fmt: skip
    assert answered.status_code == 200, answered.text
    follow_up = _request(client, tenant, answered.json()["follow_up_id"])
    assert follow_up["assignee_id"] == str(cx2)  # not the answered request's holder, who left


def test_a_staff_member_re_enabled_before_the_router_runs_keeps_their_requests(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    cx, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    asked = _ask(client, auth, application["id"])
    _staff_change(client, platform, tenant, "POST", f"{cx}/disable")
    _staff_change(client, platform, tenant, "POST", f"{cx}/enable")
    _route(platform)
    assert _request(client, tenant, asked)["assignee_id"] == str(cx) and _moves(platform, asked) == []


def test_a_departure_never_touches_another_brands_requests(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    cx, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    asked = _ask(client, auth, application["id"])
    other = make_tenant(platform)
    theirs, _ = _staff(platform, other, "credit_executive", "Oscar Credit")
    other_application, other_auth = _application(client, other, sms)
    _assign(client, other, other_application["id"], theirs)
    their_ask = _ask(client, other_auth, other_application["id"])
    # A probe: another brand's request held (as no command allows) by this brand's staff id. The brand's own staff
    # records alone are judged, and this brand's disabled CX is nobody's departure there.
    probe = CallbackRequest(
        brand_id=other.brand_id, borrower_id=uuid.uuid4(), customer_id=None, phone="+919800000003", loan_id=None,
        loan_number=None, window=CallbackWindow.ANYTIME, note="", assignee_id=cx, source=CallbackSource.API,
    )  # fmt: skip
    settle(platform, Callbacks.name, platform.get(Callbacks).commit(probe).position)

    _staff_change(client, platform, tenant, "POST", f"{cx}/disable")
    _route(platform)
    assert _request(client, tenant, asked)["assignee_id"] is None  # this brand's: to the pool
    assert _request(client, other, their_ask)["assignee_id"] == str(theirs) and _moves(platform, their_ask) == []
    assert platform.get(Callbacks).get(other.brand_id, probe.id).assignee_id == cx and _moves(platform, probe.id) == []
    assert client.get(f"/api/v1/callback-requests/{asked}", headers=other.auth).status_code == 404


def test_a_request_released_to_the_pool_goes_to_the_cx_the_application_is_then_assigned_to(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    gone, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    cx2, cx2_email = _staff(platform, tenant, "credit_executive", "Mohan Credit")
    colleague, colleague_email = _staff(platform, tenant, "sales", "Sunil Sales")
    application, auth = _application(client, tenant, sms)
    taken, taken_auth = _application(client, tenant, sms)  # another borrower, whose request a colleague takes
    for loan in (application, taken):
        _assign(client, tenant, loan["id"], gone)
    asked = _ask(client, auth, application["id"])
    other_ask = _ask(client, taken_auth)  # about none: routed by the borrower's open application
    assert _request(client, tenant, asked)["assignee_id"] == str(gone)

    _staff_change(client, platform, tenant, "POST", f"{gone}/disable")
    _route(platform)
    assert _request(client, tenant, asked)["assignee_id"] is None  # the pool: nobody active holds the borrower
    assert _request(client, tenant, other_ask)["assignee_id"] is None
    colleagues, token = _portal(app, colleague_email)
    cx2s, _ = _portal(app, cx2_email)
    try:
        # A colleague takes the other request from the pool: they answer it and promise the call themselves.
        later = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=1)).replace(microsecond=0)
        answered = colleagues.post(f"/api/v1/callback-requests/{other_ask}/respond", headers={"X-CSRF-Token": token},
                                   json={"outcome": "callback_requested", "remarks": "call me tomorrow",
                                         "callback_at": later.isoformat()})  # fmt: skip
        assert answered.status_code == 200, answered.text
        promised = answered.json()["follow_up_id"]
        assert _request(client, tenant, promised)["assignee_id"] == str(colleague)

        # A manager hands both applications to another CX: the request in the pool goes with the application.
        for loan in (application, taken):
            _assign(client, tenant, loan["id"], cx2)
        settle(platform, Loans.name)  # the hand-overs queued
        _route(platform)
        moved = _request(client, tenant, asked)
        assert (moved["assignee_id"], moved["assignee_name"], moved["status"]) == (str(cx2), "Mohan Credit", "open")
        released, handed = _moves(platform, asked)
        assert (released.cause, released.assignee_id) == (RerouteCause.HOLDER_DEPARTED, None)
        assert (handed.assignee_id, handed.previous_assignee_id, handed.cause, handed.loan_id, handed.reason,
                handed.actor) == (cx2, None, RerouteCause.APPLICATION_ASSIGNED, UUID(application["id"]),
                                  "assigned by a manager", "job:callback-router")  # fmt: skip
        assert handed.changed_at > released.changed_at
        mine = client.get("/api/v1/callback-requests", params={"assigned_to": str(cx2)}, headers=tenant.auth)
        assert [r["id"] for r in mine.json()["items"]] == [asked]
        assert [n["title"] for n in _my_notices(cx2s)] == ["New callback request: " + moved["borrower_name"]]
        # What the colleague took stays theirs: they promised the call.
        assert _request(client, tenant, promised)["assignee_id"] == str(colleague) and _moves(platform, promised) == []

        _route(platform)  # a repeat moves nothing again and tells nobody twice
        assert len(_moves(platform, asked)) == 2 and len(_my_notices(cx2s)) == 1
        assert _request(client, tenant, asked)["assignee_id"] == str(cx2)
    finally:
        colleagues.__exit__(None, None, None)
        cx2s.__exit__(None, None, None)


def test_an_application_assigned_to_someone_without_callbacks_leaves_a_pool_request_for_the_next_holder(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    gone, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    reader, _ = _staff(platform, tenant, "credit_executive", "Arun Credit")
    cx2, _ = _staff(platform, tenant, "credit_executive", "Mohan Credit")
    _staff_change(client, platform, tenant, "PATCH", str(reader), {"permissions": {"CALLBACKS": "READ"}})
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], gone)
    asked = _ask(client, auth, application["id"])
    _staff_change(client, platform, tenant, "POST", f"{gone}/disable")
    _route(platform)
    assert _request(client, tenant, asked)["assignee_id"] is None

    # The application goes to a CX who may not answer requests: it stays in the pool (they would only release it).
    _assign(client, tenant, application["id"], reader)
    settle(platform, Loans.name)
    _route(platform)
    assert _request(client, tenant, asked)["assignee_id"] is None and len(_moves(platform, asked)) == 1
    _assign(client, tenant, application["id"], cx2)  # then to one who may: theirs
    settle(platform, Loans.name)
    _route(platform)
    assert _request(client, tenant, asked)["assignee_id"] == str(cx2)
    assert [m.cause for m in _moves(platform, asked)] == [
        RerouteCause.HOLDER_DEPARTED, RerouteCause.APPLICATION_ASSIGNED]  # fmt: skip


@pytest.mark.parametrize(
    "order",
    ["release_first", "reassignment_first", "release_after_the_reassignment", "release_after_two_reassignments"],
)
def test_a_departure_and_a_reassignment_at_the_same_moment_end_with_the_new_cx_in_any_order(
    order: str, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    """The CX leaves as a manager reassigns their application. `release_first`: the router releases the request to
    the pool, then sees the reassignment (the next holder named takes it). `reassignment_first`: the router sees the
    reassignment while the request is still with the one who left (it follows the application; nothing left to
    release). `release_after_the_reassignment`: the router's release read the routing rule while `read.loans` still
    showed the CX who left (so, to nobody), after the reassignment was made - the hand-over is older than the
    release, and the request still goes to the application's holder now. `release_after_two_reassignments`: the same
    after the application went on to a third CX: only the hand-over naming its holder now takes it."""
    gone, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    cx2, _ = _staff(platform, tenant, "credit_executive", "Mohan Credit")
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], gone)
    asked = _ask(client, auth, application["id"])
    holder = cx2  # who holds the application in the end
    if order == "release_first":
        _staff_change(client, platform, tenant, "POST", f"{gone}/disable")
        _route(platform)
        assert _request(client, tenant, asked)["assignee_id"] is None
        _assign(client, tenant, application["id"], cx2)
        settle(platform, Loans.name)
    elif order == "reassignment_first":
        _assign(client, tenant, application["id"], cx2)
        _staff_change(client, platform, tenant, "POST", f"{gone}/disable")
        settle(platform, Loans.name)
    else:
        _assign(client, tenant, application["id"], cx2)
        if order == "release_after_two_reassignments":
            cx3, _ = _staff(platform, tenant, "credit_executive", "Nisha Credit")
            _assign(client, tenant, application["id"], cx3)
            holder = cx3
        settle(platform, Loans.name)  # the hand-overs queued, not yet applied
        _staff_change(client, platform, tenant, "POST", f"{gone}/disable")
        with acting_as("job:callback-router"):  # the release as the router applies it from its stale read
            released = platform.get(Callbacks).release(
                tenant.brand_id, UUID(asked), to=None, previous=gone, reason="staff member disabled"
            )
        settle(platform, Callbacks.name, released.position)
        assert _request(client, tenant, asked)["assignee_id"] is None
    _route(platform)

    request = _request(client, tenant, asked)
    assert (request["assignee_id"], request["status"]) == (str(holder), "open")
    moves = _moves(platform, asked)
    handed = moves[-1]
    assert (handed.cause, handed.assignee_id, handed.loan_id, handed.reason, handed.actor) == (
        RerouteCause.APPLICATION_ASSIGNED, holder, UUID(application["id"]), "assigned by a manager",
        "job:callback-router")  # fmt: skip
    if order == "reassignment_first":
        assert len(moves) == 1 and handed.previous_assignee_id == gone
    else:
        released_move, _ = moves
        assert (released_move.cause, released_move.assignee_id, handed.previous_assignee_id) == (
            RerouteCause.HOLDER_DEPARTED, None, None)  # fmt: skip

    _route(platform)  # a repeat moves nothing
    platform.engine.rebuild("callback_loan_handovers")  # every assignment queued again: nothing moves twice
    _route(platform)
    assert _request(client, tenant, asked)["assignee_id"] == str(holder) and len(_moves(platform, asked)) == len(moves)
