"""Issue #16's "How it will be checked", walked black-box through HTTP only (no application objects) against a
running server (`make run` = `covenant-desk serve --seed`): loans originated and disbursed through the API (penny
drop, e-sign and gateway simulators), pushed overdue by closing business dates (`POST /jobs/loan-cob/runs`),
allocation respecting leave and workload, a partial collection applied only after approval (never when rejected),
promises kept and broken by real payments, settlement and write-off end states with the ledger at zero, forged and
repeated dialer webhooks, executives probing loans of other executives and of another brand.

`python -m tests.e2e.test_collections_blackbox http://127.0.0.1:8000 cdk_<admin key> cdk_<another brand's key>`
(the walk moves the brand's business date forward: run it on a scratch database). Under pytest it runs against the
session's live server (the `server` fixture) on a fresh brand."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adapters.webhooks import sign
from tests.e2e.blackbox import API, QUEUED_SECONDS, Headers, eventually, ok, phone, staff_session
from tests.support import account_number, settle

PASSWORD = "bb16-Password-2026!"
SECRET = "whsec_demo_providers"  # the demo simulators' webhook secret (PROVIDER_WEBHOOK_SECRET unset)


def _loan(http: httpx.Client, h: Headers, loan_id: str) -> dict[str, Any]:
    return dict(ok(http.get(f"{API}/loans/{loan_id}", headers=h)))


def disbursed_loan(http: httpx.Client, h: Headers, product: str, amount: str = "60000") -> str:
    """A borrower with a penny-dropped account, applied, approved, sanctioned, e-signed at the simulator and paid out
    by the gateway simulator: an `active` loan disbursed on the business date."""
    body = {"name": "Ravi Kumar", "phone": phone(), "date_of_birth": "1990-01-15",
            "addresses": [{"line1": "4 Lake Road", "city": "Chennai", "pincode": "600001"}]}  # fmt: skip
    customer = ok(http.post(f"{API}/customers", json=body, headers=h), 201)["id"]
    account = {"account_number": account_number(), "ifsc": "HDFC0001234", "holder_name": "Ravi Kumar"}  # fmt: skip
    assert ok(http.post(f"{API}/customers/{customer}/bank-accounts", json=account, headers=h), 201)["verified"]
    loan = ok(http.post(f"{API}/loans", json={"customer_id": customer, "product_id": product, "amount": amount, "tenure": 12}, headers=h), 201)  # fmt: skip
    loan_id = loan["id"]
    assert ok(http.post(f"{API}/loans/{loan_id}/submit", headers=h))["status"] == "pending"
    ok(http.post(f"{API}/loans/{loan_id}/cx-approve", json={"approved_amount": amount, "remarks": "salary fine"}, headers=h))  # fmt: skip
    ok(http.post(f"{API}/loans/{loan_id}/sanction", json={"sanctioned_amount": amount, "remarks": "FOIR fine"}, headers=h))  # fmt: skip
    for drain in DRAIN:
        drain(False)
    link = eventually(lambda: (_loan(http, h, loan_id).get("esign") or {}).get("link"), "the e-sign link")
    ok(httpx.post(link, json={"action": "sign"}, timeout=30))

    def queued() -> bool:
        for drain in DRAIN:
            drain(True)
        return bool(_loan(http, h, loan_id)["status"] == "awaiting_disbursal")

    eventually(queued, "the signature", QUEUED_SECONDS)
    ok(http.post(f"{API}/loans/{loan_id}/disburse", json={"mode": "IMPS"}, headers=h), 202)
    payout = eventually(lambda: (_loan(http, h, loan_id).get("disbursement") or {}).get("simulator_url"), "the payout")
    ok(httpx.post(payout, json={"action": "confirm"}, timeout=30))
    eventually(lambda: _loan(http, h, loan_id)["status"] == "active", "the disbursal")
    return str(loan_id)


def _in_status(http: httpx.Client, h: Headers, loan_id: str, status: str) -> dict[str, Any] | None:
    loan = _loan(http, h, loan_id)
    return loan if loan["status"] == status else None


def _staff(http: httpx.Client, h: Headers, role: str) -> tuple[str, str]:
    email = f"{role}.{uuid.uuid4().hex[:8]}@bb16.example.in"
    made = ok(http.post(f"{API}/staff", json={"name": f"{role} {email[-20:-16]}", "email": email, "roles": [role], "password": PASSWORD}, headers=h), 201)  # fmt: skip
    return str(made["id"]), email


#: The agreement worker's pass (issue agreements; with True also queue signed loans): a thread of the live server;
#: under pytest the test drains it.
DRAIN: list[Callable[[bool], None]] = []
#: How a requested job run is executed: the live server's scheduler picks it up itself; under pytest the test runs it.
RUN_JOB: list[Callable[[str], None]] = []


def _cob(http: httpx.Client, h: Headers, as_of: date) -> None:
    """Close every business date through `as_of` (the brand's business date then moves to the next day): the
    business date is set to `as_of` first (the run closes every date from the day after the last one done)."""
    if ok(http.get(f"{API}/brand/config", headers=h))["business_date"] != as_of.isoformat():
        ok(http.patch(f"{API}/brand/config", json={"business_date": as_of.isoformat()}, headers=h))
    run = ok(http.post(f"{API}/jobs/loan-cob/runs", json={"as_of": as_of.isoformat()}, headers=h), 202)
    for execute in RUN_JOB:
        execute(str(run["run_id"]))

    def finished() -> bool:
        states = [ok(http.get(f"{API}/jobs/runs/{rid}", headers=h))["status"] for rid in run.get("run_ids") or [run["run_id"]]]  # fmt: skip
        assert "failed" not in states, states
        return all(s == "succeeded" for s in states)

    eventually(finished, f"the close of business through {as_of}", 120)
    nxt = (as_of + timedelta(days=1)).isoformat()
    eventually(lambda: ok(http.get(f"{API}/brand/config", headers=h))["business_date"] == nxt, "the business date")


def _ledger_zero(http: httpx.Client, h: Headers, loan_id: str) -> None:
    items = ok(http.get(f"{API}/loans/{loan_id}/ledger", headers=h))["items"]
    sums = {b: sum((Decimal(p[b]) for p in items), Decimal(0)) for b in ("principal", "interest", "penal", "fees")}
    assert all(v == 0 for v in sums.values()), sums


def _worklist(http: httpx.Client, h: Headers | None = None, **params: str) -> list[dict[str, Any]]:
    return list(ok(http.get(f"{API}/collections/worklist", params=params, headers=h or {}))["items"])


def walk(base: str, http: httpx.Client, h: Headers, other: Headers, product: str, report: Callable[[str, bool, str], None],
         secret: str = SECRET, dialer_url: str | None = None) -> None:  # fmt: skip
    """Every point of the issue's list in order; `report(name, passed, detail)` after each."""

    def check(name: str, fn: Callable[[], str]) -> None:
        try:
            report(name, True, fn())
        except AssertionError as exc:
            report(name, False, str(exc)[:1500])

    state: dict[str, Any] = {}

    def setup() -> str:
        ok(http.patch(f"{API}/brand/config", json={"auto_allocate_collections": True}, headers=h))
        today = date.fromisoformat(ok(http.get(f"{API}/brand/config", headers=h))["business_date"])
        # executives already in the brand (a demo database walked before) are marked unavailable: the walk's
        # loans can then only go to its own executives, which also checks the availability flag
        cursor: str | None = None
        while True:
            page = ok(http.get(f"{API}/staff", params={"limit": 100, **({"cursor": cursor} if cursor else {})}, headers=h))  # fmt: skip
            for person in page["items"]:
                if "collection_executive" in person["roles"] and person["available"]:
                    ok(http.patch(f"{API}/staff/{person['id']}", json={"available": False}, headers=h))
            cursor = page.get("next_cursor")
            if not cursor:
                break
        execs = [_staff(http, h, "collection_executive") for _ in range(3)]
        # the third is on leave over the whole walk: never allocated
        ok(http.post(f"{API}/staff/{execs[2][0]}/leaves", json={"start": today.isoformat(), "end": (today + timedelta(days=90)).isoformat(), "reason": "holiday"}, headers=h), 201)  # fmt: skip
        loans = [disbursed_loan(http, h, product) for _ in range(6)]
        first_due = date.fromisoformat(_loan(http, h, loans[0])["next_due"]["due_date"])
        _cob(http, h, first_due + timedelta(days=2))
        state.update(today=today, execs=execs, loans=loans, due=first_due)
        state["sessions"] = [staff_session(base, email, PASSWORD) for _, email in execs]
        state["manager"] = staff_session(base, _staff(http, h, "collection_manager")[1], PASSWORD)
        state["head"] = staff_session(base, _staff(http, h, "collection_head")[1], PASSWORD)
        state["ops"] = staff_session(base, _staff(http, h, "loan_ops")[1], PASSWORD)
        return f"6 loans disbursed {today}, closed through {first_due + timedelta(days=2)}"

    def overdue_and_allocation() -> str:
        loans, execs = state["loans"], state["execs"]
        for loan_id in loans:
            loan = _loan(http, h, loan_id)
            assert loan["status"] == "overdue" and loan["dpd"] > 0, (loan["status"], loan["dpd"])
        everyone = _worklist(state["manager"], stage="collections", limit="200")
        assert set(loans) <= {str(r.get("loan_id") or r.get("id")) for r in everyone}, everyone[:1]
        rid = lambda r: str(r.get("loan_id") or r.get("id"))  # noqa: E731
        per = {sid: [rid(r) for r in _worklist(s, limit="200")] for (sid, _), s in zip(execs, state["sessions"], strict=True)}  # fmt: skip
        counts = [len(per[sid]) for sid, _ in execs]
        # leave and availability respected; the workload balanced; every loan of the walk allocated
        assert counts == [3, 3, 0] and set(per[execs[0][0]] + per[execs[1][0]]) == set(loans), (counts, per)
        owner = {lid: i for i, (sid, _) in enumerate(execs) for lid in per[sid]}
        # sticky: another close leaves every loan with its executive
        _cob(http, h, state["due"] + timedelta(days=3))
        again = {rid(r): i for i, s in enumerate(state["sessions"]) for r in _worklist(s, limit="200")}
        assert {k: v for k, v in again.items() if k in owner} == owner, (again, owner)
        # a manager reallocates (the walk's loans: three to each executive at work); an executive may not
        body = {"loan_ids": loans[:3], "staff_id": execs[0][0]}
        assert state["sessions"][1].post(f"{API}/collections/allocations", json=body).status_code == 403
        ok(state["manager"].post(f"{API}/collections/allocations", json=body), 201)
        ok(state["manager"].post(f"{API}/collections/allocations", json={"loan_ids": loans[3:], "staff_id": execs[1][0]}), 201)  # fmt: skip
        state["owner"] = {lid: (0 if n < 3 else 1) for n, lid in enumerate(loans)}
        assert set(loans[3:]) <= {rid(r) for r in _worklist(state["sessions"][1], limit="200")}
        moved = next((lid for lid in loans[:3] if owner.get(lid) == 1), None)
        if moved is not None:
            panel = ok(state["manager"].get(f"{API}/loans/{moved}/collection"))
            assert len(panel.get("allocations") or []) >= 2, {k: panel[k] for k in panel if "alloc" in k}
        return f"allocation {counts}, sticky after another close, reallocation recorded"

    def mine(i: int) -> list[str]:
        return [lid for lid, owner in state["owner"].items() if owner == i]

    def partial_collection() -> str:
        loan_id = mine(1)[0]
        ex = state["sessions"][1]
        url = f"{API}/loans/{loan_id}"
        bd = ok(http.get(f"{API}/brand/config", headers=h))["business_date"]
        body = {"amount": "1500.00", "mode": "cash", "reference": f"R-{uuid.uuid4().hex[:6]}", "collected_on": bd}
        made = ok(ex.post(f"{url}/collection-requests", json=body), 201)
        assert made["status"] == "pending_approval", made
        before = ok(http.get(f"{url}/repayments", headers=h))["items"]
        assert before == [], before
        assert ex.post(f"{API}/collection-requests/{made['id']}/approve").status_code == 403
        rejected = ok(state["ops"].post(f"{API}/collection-requests/{made['id']}/reject", json={"reason": "cash never deposited"}))  # fmt: skip
        assert rejected["status"] == "rejected"
        assert state["ops"].post(f"{API}/collection-requests/{made['id']}/approve").status_code == 409
        assert ok(http.get(f"{url}/repayments", headers=h))["items"] == []
        second = ok(ex.post(f"{url}/collection-requests", json=body | {"reference": body["reference"] + "B"}), 201)
        payoff = Decimal(ok(http.get(f"{url}/payoff", headers=h))["total"])
        ok(state["manager"].post(f"{API}/collection-requests/{second['id']}/approve"))
        (paid,) = ok(http.get(f"{url}/repayments", headers=h))["items"]
        assert paid["amount"] == "1500.00"
        assert Decimal(ok(http.get(f"{url}/payoff", headers=h))["total"]) == payoff - Decimal("1500.00")
        return "rejected never counted; approved counted once (payoff down 1500.00)"

    def promises() -> str:
        kept, broken = mine(0)[0], mine(0)[1]
        ex = state["sessions"][0]
        bd = date.fromisoformat(ok(http.get(f"{API}/brand/config", headers=h))["business_date"])
        for loan_id in (kept, broken):
            ok(ex.post(f"{API}/loans/{loan_id}/ptps", json={"date": bd.isoformat(), "amount": "2000.00"}), 201)
        ref = f"UTR-{uuid.uuid4().hex[:6]}"
        ok(http.post(f"{API}/loans/{kept}/repayments", json={"amount": "2000.00", "mode": "upi", "reference": ref, "paid_on": bd.isoformat()}, headers=h), 201)  # fmt: skip
        _cob(http, h, bd)

        def status(loan_id: str) -> str:
            items = ok(ex.get(f"{API}/loans/{loan_id}/ptps"))["items"]
            return str(items[0]["status"])

        eventually(lambda: status(kept) != "open" and status(broken) != "open", "the promises judged")
        assert (status(kept), status(broken)) == ("kept", "broken"), (status(kept), status(broken))
        top = _worklist(ex)[0]
        assert (top.get("loan_id") or top.get("id")) == broken, top
        return "kept by a real payment, broken resurfaced at the top"

    def settlement() -> str:
        loan_id = mine(1)[1]
        ex = state["sessions"][1]
        url = f"{API}/loans/{loan_id}"
        payoff = Decimal(ok(http.get(f"{url}/payoff", headers=h))["total"])
        offer = (payoff * Decimal("0.7")).quantize(Decimal("0.01"))
        made = ok(ex.post(f"{url}/settlements", json={"amount": str(offer), "remarks": "job lost, one-time offer"}), 201)  # fmt: skip
        assert ex.post(f"{API}/settlements/{made['id']}/approve").status_code == 403
        ok(state["head"].post(f"{API}/settlements/{made['id']}/approve"))
        bd = ok(http.get(f"{API}/brand/config", headers=h))["business_date"]
        ok(http.post(f"{url}/repayments", json={"amount": str(offer), "mode": "neft", "reference": f"S-{uuid.uuid4().hex[:6]}", "paid_on": bd}, headers=h), 201)  # fmt: skip
        loan = eventually(lambda: _in_status(http, h, loan_id, "settled"), "settled")
        assert Decimal(loan["outstanding"]["total"]) == 0, loan["outstanding"]
        _ledger_zero(http, h, loan_id)
        return f"settled at {offer} of {payoff}, ledger at zero"

    def write_off() -> str:
        loan_id = mine(1)[2] if len(mine(1)) > 2 else mine(0)[2]
        url = f"{API}/loans/{loan_id}"
        assert state["head"].post(f"{url}/write-off", json={"reason": "uncontactable"}).status_code == 403
        ok(http.post(f"{url}/write-off", json={"reason": "uncontactable for 90 days"}, headers=h))
        loan = eventually(lambda: _in_status(http, h, loan_id, "written_off"), "written off")
        assert Decimal(loan["outstanding"]["total"]) == 0
        _ledger_zero(http, h, loan_id)
        bd = ok(http.get(f"{API}/brand/config", headers=h))["business_date"]
        ok(http.post(f"{url}/repayments", json={"amount": "500.00", "mode": "cash", "reference": f"W-{uuid.uuid4().hex[:6]}", "paid_on": bd}, headers=h), 201)  # fmt: skip
        ledger = ok(http.get(f"{url}/ledger", headers=h))["items"]
        assert any(p.get("kind") == "recovery" or p.get("type") == "recovery" for p in ledger), ledger[-2:]
        return "written off, ledger at zero, a later recovery recorded"

    def dialer() -> str:
        sid, _ = state["execs"][0]
        ex = state["sessions"][0]
        ok(http.patch(f"{API}/dialer/settings", json={"enabled": True, "account_id": "acc-bb16", "api_token": "tok_bb16_secret"}, headers=h))  # fmt: skip
        extension = f"{uuid.uuid4().int % 10**6:06d}"  # one extension is one person's: a fresh one each walk
        ok(http.put(f"{API}/dialer/extensions/{sid}", json={"extension": extension}, headers=h))
        loan_id = mine(0)[0]
        call = ok(ex.post(f"{API}/loans/{loan_id}/calls", json={}), 202)
        eventually(lambda: ok(ex.get(f"{API}/calls/{call['id']}"))["status"] != "placed", "the call ended")

        def contacts() -> list[dict[str, Any]]:
            panel = ok(ex.get(f"{API}/loans/{loan_id}/collection"))
            return [c for c in panel["contacts"] if c.get("channel") == "dialer"]

        eventually(contacts, "the call on the contact log")
        assert len(contacts()) == 1
        dialer_sim = dialer_url or ok(http.get(f"{API}/dev/simulators", headers=h))["dialer"]
        outbox = ok(httpx.get(f"{dialer_sim}/outbox", timeout=30))["items"]
        provider_id = next(item["call_id"] for item in outbox if item["reference"] == call["id"])
        data = {"call_id": provider_id, "reference": call["id"], "status": "answered", "duration_seconds": 42,
                "recording_url": "https://rec.example/x.mp3", "ended_at": "2026-12-01T10:00:00+05:30"}  # fmt: skip
        body = json.dumps({"id": uuid.uuid4().hex, "type": "call.completed", "created_at": "2026-12-01T10:00:00+05:30", "data": data}).encode()  # fmt: skip
        hook = f"{API}/webhooks/dialer"
        ts = int(time.time())
        assert http.post(hook, content=body, headers={"Content-Type": "application/json"}).status_code == 400
        forged = sign("not-the-secret", body, ts)
        assert http.post(hook, content=body, headers={**forged, "Content-Type": "application/json"}).status_code == 401
        stale = sign(secret, body, ts - 3600)
        assert http.post(hook, content=body, headers={**stale, "Content-Type": "application/json"}).status_code == 401
        repeated = http.post(hook, content=body, headers={**sign(secret, body, ts), "Content-Type": "application/json"})
        assert repeated.status_code == 200 and repeated.json().get("status") == "duplicate", repeated.text
        assert len(contacts()) == 1
        return "call logged once; unsigned 400, forged/stale 401, repeated duplicate"

    def isolation() -> str:
        theirs = mine(1)[0]
        ex = state["sessions"][0]
        bd = ok(http.get(f"{API}/brand/config", headers=h))["business_date"]
        probes = [("get", f"/loans/{theirs}/collection", None), ("post", f"/loans/{theirs}/contacts", {"outcome": "connected", "remarks": "x"}),
                  ("post", f"/loans/{theirs}/ptps", {"date": bd, "amount": "100.00"}),
                  ("post", f"/loans/{theirs}/collection-requests", {"amount": "10.00", "mode": "cash", "reference": "ISO-1", "collected_on": bd}),
                  ("post", f"/loans/{theirs}/settlements", {"amount": "10.00", "remarks": "probe"}),
                  ("post", f"/loans/{theirs}/waivers", {"amount": "1.00", "justification": "probe probe"}),
                  ("post", f"/loans/{theirs}/field-visits", {"assignee_id": state["execs"][0][0], "reason": "probe"}),
                  ("post", f"/loans/{theirs}/calls", {})]  # fmt: skip
        for method, path, body in probes:
            answer = getattr(ex, method)(f"{API}{path}", **({"json": body} if body is not None else {}))
            assert answer.status_code == 404, (path, answer.status_code, answer.text[:200])
            # another brand's caller names a staff member of theirs (an API key must, to call): still 404
            probe = {"staff_id": str(uuid.uuid4())} if path.endswith("/calls") else body
            answer = http.request(method.upper(), f"{API}{path}", json=probe, headers=other)
            assert answer.status_code == 404, ("other brand", path, answer.status_code, answer.text[:200])
        assert ex.get(f"{API}/collections/worklist", params={"assignee": state["execs"][1][0]}).status_code == 403
        listed = json.dumps(ok(http.get(f"{API}/collections/worklist", headers=other)))
        assert theirs not in listed
        return "another executive's loan 404 on every action; another brand 404"

    for name, fn in (("setup", setup), ("overdue_and_allocation", overdue_and_allocation),
                     ("partial_collection", partial_collection), ("promises", promises), ("settlement", settlement),
                     ("write_off", write_off), ("dialer", dialer), ("isolation", isolation)):  # fmt: skip
        check(name, fn)
        if name == "setup" and "sessions" not in state:
            return


def test_collections_black_box(
    server: str, platform: Any, provider_simulators: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk against the session's live server (uvicorn) on a fresh brand, each point its own failure line."""
    from domain.loans.application import Loans
    from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
    from tests.e2e.test_origination_blackbox import _product
    from workers.agreement_jobs import AgreementJobPort, AgreementWorker
    from workers.runtime import scheduler_for

    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", server)  # providers call us back at the test server
    worker = AgreementWorker(platform.port(AgreementJobPort))

    def drain(check_queue: bool) -> None:
        worker.drain(check_queue=check_queue)
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())

    monkeypatch.setattr(sys.modules[__name__], "DRAIN", [drain])
    monkeypatch.setattr(sys.modules[__name__], "RUN_JOB", [lambda run_id: scheduler_for(platform).execute(run_id)])
    tenant, other = make_tenant(platform), make_tenant(platform)
    failures: list[str] = []

    def collect(name: str, passed: bool, detail: str) -> None:
        if not passed:
            failures.append(f"{name}: {detail}")

    with httpx.Client(base_url=server, timeout=60) as http:
        product = _product(http, tenant.auth)
        walk(server, http, tenant.auth, other.auth, product, collect, PROVIDER_WEBHOOK_SECRET,
             provider_simulators["dialer"].base_url)  # fmt: skip
    assert not failures, "\n".join(failures)


if __name__ == "__main__":
    base, key, other_key = sys.argv[1], sys.argv[2], sys.argv[3]
    with httpx.Client(base_url=base, timeout=60) as live:
        auth, other_auth = {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {other_key}"}
        products = ok(live.get(f"{API}/loan-products", headers=auth))["items"]
        product = next(p["id"] for p in products if not p.get("bre_rules") and p.get("type", "emi") == "emi")

        def show(name: str, passed: bool, detail: str) -> None:
            print(f"{'PASS' if passed else 'FAIL'} {name}: {detail}", flush=True)

        walk(base, live, auth, other_auth, product, show)
