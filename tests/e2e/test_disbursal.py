"""Disbursal through the API served by uvicorn (the gateway simulator calls our webhook back over HTTP), on
PostgreSQL: initiate → the simulator confirms → active (never on initiation, never twice); fail (the gateway's
reason) → retry → confirm; repeated and forged webhooks; two staff pressing at once; brand isolation; the SMS.

Loans reach `awaiting_disbursal` through the Loans application (the CX/SM/e-sign steps have their own tests), with
the product catalogue faked as in test_api_loans; the borrower's verified account (verification context) is
stood in for by `VerifiedAccounts.beneficiary`."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest
import structlog.testing

from adapters.webhooks import sign
from api.services.disbursals import WEBHOOK_SECRET_ENV, VerifiedAccounts
from domain.customers.application import Customers
from domain.customers.values import Address
from domain.loans.application import Loans
from domain.providers.messaging import Beneficiary
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import DAY, zone_at
from tests.e2e.test_api_loans import PRODUCT, Catalogue
from tests.e2e.test_engagement import configure, run_job
from tests.support import mobile, settle

CLOSED_ACCOUNT = "acct-closed"


@pytest.fixture(autouse=True)
def wiring(platform: Any, provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fake catalogue, the simulators' webhook secret, and a verified account for every loan."""
    loans = platform.get(Loans)
    before = loans._catalogue
    loans._catalogue = Catalogue()
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)

    def beneficiary(self: Any, brand_id: UUID, customer_id: UUID, ref: str | None) -> Beneficiary | None:
        if not ref:
            return None
        number = "501000000" if ref == CLOSED_ACCOUNT else "501001234"
        return Beneficiary("Meera Iyer", number + ("0000" if ref == CLOSED_ACCOUNT else "5678"), "HDFC0001234")

    monkeypatch.setattr(VerifiedAccounts, "beneficiary", beneficiary)
    yield
    loans._catalogue = before


def _borrower(platform: Any, tenant: Tenant) -> tuple[UUID, str]:
    phone = mobile("98")
    made = platform.get(Customers).register(
        tenant.brand_id, name="Meera Iyer", phone=phone, date_of_birth=date(1990, 1, 15),
        addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
    )  # fmt: skip
    return made.id, phone


def sanctioned_loan(platform: Any, tenant: Tenant) -> tuple[UUID, str, int]:
    """A loan sanctioned at 85,000 of a 100,000 application with its agreement out for e-sign: the loan, its
    borrower's phone and the position of the agreement's issue."""
    loans: Loans = platform.get(Loans)
    customer_id, phone = _borrower(platform, tenant)
    brand = tenant.brand_id
    loan_id = loans.create(brand, customer_id, PRODUCT, "100000", 12).id
    loans.submit(brand, loan_id)
    loans.cx_approve(brand, loan_id, "90000", "salary supports 90k")
    loans.sanction(brand, loan_id, "85000", "FOIR at the limit")
    issued = loans.issue_agreement(
        brand, loan_id, "ab" * 32, "agreements/x.pdf", "es-1", "https://esign/1", datetime.now(UTC) + timedelta(days=2)
    )
    return loan_id, phone, issued.position


def queued_loan(platform: Any, tenant: Tenant, account: str = "acct-1") -> tuple[UUID, str]:
    """A loan awaiting disbursal (sanctioned at 85,000 of a 100,000 application) and its borrower's phone."""
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    loan_id, phone, _ = sanctioned_loan(platform, tenant)
    loans.sign(brand, loan_id, "prov-1", datetime.now(UTC))
    result = loans.ready_for_disbursal(brand, loan_id, account)
    settle(platform, Loans.name, result.position)
    return loan_id, phone


def _loan(server: str, tenant: Tenant, loan_id: UUID) -> dict[str, Any]:
    answer = httpx.get(f"{server}/api/v1/loans/{loan_id}", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _until(server: str, tenant: Tenant, loan_id: UUID, state: str) -> dict[str, Any]:
    """The loan once its disbursement is in `state` and the other read models (each catches up on its own) show it
    too: its history the event, and on a confirmed payout the loan itself no longer awaiting disbursal. The callers
    assert what the loan's status then is."""
    kind = {"failed": "disbursal_failed", "disbursed": "disbursed", "exported": "payout_exported"}.get(state)
    deadline = time.monotonic() + 10
    while True:
        loan = _loan(server, tenant, loan_id)
        shown = kind is None or any(e["kind"] == kind for e in loan["history"])
        moved = state != "disbursed" or loan["status"] != "awaiting_disbursal"
        if (loan.get("disbursement") or {}).get("state") == state and shown and moved:
            return loan
        assert time.monotonic() < deadline, (
            f"the disbursement never became {state}: {loan['status']}, {loan.get('disbursement')}"
        )
        time.sleep(0.05)


def _disburse(server: str, tenant: Tenant, loan_id: UUID, mode: str = "IMPS") -> httpx.Response:
    return httpx.post(f"{server}/api/v1/loans/{loan_id}/disburse", json={"mode": mode}, headers=tenant.auth, timeout=30)


def test_disbursed_only_on_the_gateways_confirmation_and_once(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform, "loan_ops")
    # A zone where it is day now, set before the disbursal: its business date is the day the `disbursed` message
    # is for, and outside the quiet hours the SMS goes at once (whatever the hour this test runs at).
    configure(platform, tenant, timezone=zone_at(DAY))
    loan_id, phone = queued_loan(platform, tenant)
    started = _disburse(server, tenant, loan_id)
    assert started.status_code == 202, started.text
    block = started.json()["disbursement"]
    assert block["state"] == "initiated" and block["mode"] == "IMPS" and block["net_disbursed"]
    assert [a["state"] for a in block["attempts"]] == ["initiated"] and block["simulator_url"]
    loan = _loan(server, tenant, loan_id)
    assert loan["status"] == "awaiting_disbursal"  # never on initiation
    assert loan["disbursement"]["gateway_reference"] == block["gateway_reference"]
    assert Decimal(block["net_disbursed"]) == Decimal(block["attempts"][0]["amount"])

    again = _disburse(server, tenant, loan_id, "NEFT")  # a payout is in flight
    assert again.status_code == 409, again.text

    settled = httpx.post(block["simulator_url"], json={"action": "confirm"})
    assert settled.status_code == 200, settled.text
    loan = _until(server, tenant, loan_id, "disbursed")
    assert loan["status"] == "active"
    assert [a["state"] for a in loan["disbursement"]["attempts"]] == ["confirmed"]
    assert loan["disbursement"]["simulator_url"] is None
    assert sum(1 for e in loan["history"] if e["kind"] == "disbursed") == 1
    assert _disburse(server, tenant, loan_id).status_code == 409  # active: never twice
    # The borrower hears of it once, from the engagement context's `disbursed` message (not a second SMS here).
    assert provider_simulators["sms"].sent_to(phone) == []
    run_job(server, platform, tenant)
    run_job(server, platform, tenant)  # a rerun sends nothing more
    sms = provider_simulators["sms"].sent_to(phone)
    assert len(sms) == 1 and loan["loan_number"] in sms[0]["text"] and "disbursed" in sms[0]["text"]


def test_a_failed_payout_shows_the_reason_and_a_retry_pays(platform: Any, server: str) -> None:
    tenant = make_tenant(platform, "loan_ops")
    loan_id, _ = queued_loan(platform, tenant)
    first = _disburse(server, tenant, loan_id, "NEFT").json()["disbursement"]
    failed = httpx.post(first["simulator_url"], json={"action": "fail", "reason": "Beneficiary bank offline"})
    assert failed.status_code == 200
    loan = _until(server, tenant, loan_id, "failed")
    assert loan["status"] == "awaiting_disbursal" and loan["disbursement"]["reason"] == "Beneficiary bank offline"
    assert loan["disbursement"]["attempts"][0]["reason"] == "Beneficiary bank offline"
    assert any("Beneficiary bank offline" in (e["reason"] or "") for e in loan["history"])

    retry = _disburse(server, tenant, loan_id, "UPI")
    assert retry.status_code == 202, retry.text
    second = retry.json()["disbursement"]
    assert second["gateway_reference"] != first["gateway_reference"] and second["mode"] == "UPI"
    httpx.post(second["simulator_url"], json={"action": "confirm"})
    loan = _until(server, tenant, loan_id, "disbursed")
    assert loan["status"] == "active"
    assert [(a["attempt"], a["state"]) for a in loan["disbursement"]["attempts"]] == [(1, "failed"), (2, "confirmed")]


def test_a_closed_account_fails_with_the_gateways_reason(platform: Any, server: str) -> None:
    tenant = make_tenant(platform, "loan_ops")
    loan_id, _ = queued_loan(platform, tenant, CLOSED_ACCOUNT)
    block = _disburse(server, tenant, loan_id).json()["disbursement"]
    httpx.post(block["simulator_url"], json={"action": "confirm"})
    assert _until(server, tenant, loan_id, "failed")["disbursement"]["reason"] == "account_closed"


def test_repeated_and_forged_webhooks_change_nothing(platform: Any, server: str, provider_simulators: Any) -> None:
    gateway = provider_simulators["gateway"]
    tenant = make_tenant(platform, "loan_ops")
    loan_id, _ = queued_loan(platform, tenant)
    block = _disburse(server, tenant, loan_id).json()["disbursement"]
    hook = f"{server}/api/v1/webhooks/gateway"

    # A forged confirmation: signed with a secret that is not the gateway's, or not signed at all.
    body = json.dumps({"id": "evt_forged", "type": "payout.processed", "created_at": datetime.now(UTC).isoformat(),
                       "data": {"payout_id": block["gateway_reference"], "utr": "1"}}).encode()  # fmt: skip
    forged = httpx.post(hook, content=body, headers={**sign("not-the-secret", body, int(time.time())),
                                                     "Content-Type": "application/json"})  # fmt: skip
    assert forged.status_code == 401 and forged.json()["reason"] == "bad_signature"
    unsigned = httpx.post(hook, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 400 and unsigned.json()["reason"] == "missing_header"
    stale = httpx.post(hook, content=body, headers=sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time()) - 3600))
    assert stale.status_code == 401 and stale.json()["reason"] == "stale_timestamp"
    # Signed by the gateway but not an event: 422 naming each field to fix
    shapeless = json.dumps({"id": "evt_shapeless", "data": []}).encode()
    refused = httpx.post(hook, content=shapeless, headers=sign(PROVIDER_WEBHOOK_SECRET, shapeless, int(time.time())))
    assert refused.status_code == 422, refused.text
    assert {e["field"] for e in refused.json()["errors"]} == {"body.type", "body.created_at", "body.data"}, refused.text
    assert _loan(server, tenant, loan_id)["status"] == "awaiting_disbursal"

    delivery = gateway.settle(block["gateway_reference"]).result(timeout=10)
    assert delivery.delivered
    loan = _until(server, tenant, loan_id, "disbursed")
    version = loan["version"]
    for replay in (False, True):  # the provider's repeat (freshly signed) and a captured request sent again
        repeat = gateway.redeliver(delivery, replay=replay)
        assert repeat.delivered and repeat.attempts[-1].status == 200
    time.sleep(0.3)
    loan = _loan(server, tenant, loan_id)
    assert loan["version"] == version and loan["status"] == "active"
    assert sum(1 for e in loan["history"] if e["kind"] == "disbursed") == 1
    # The same facts under a new event id: the loan answers it as a no-op.
    fresh = json.dumps({"id": "evt_again", "type": "payout.processed", "created_at": datetime.now(UTC).isoformat(),
                        "data": {"payout_id": block["gateway_reference"], "utr": "1"}}).encode()  # fmt: skip
    answer = httpx.post(hook, content=fresh, headers=sign(PROVIDER_WEBHOOK_SECRET, fresh, int(time.time())))
    assert answer.status_code == 200 and answer.json()["status"] == "duplicate"
    assert _loan(server, tenant, loan_id)["version"] == version


def test_two_staff_pressing_at_once_make_one_payout(platform: Any, server: str, provider_simulators: Any) -> None:
    tenant = make_tenant(platform, "loan_ops")
    loan_id, _ = queued_loan(platform, tenant)
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def press(mode: str) -> None:
        barrier.wait()
        answers.append(_disburse(server, tenant, loan_id, mode).status_code)

    threads = [threading.Thread(target=press, args=(m,)) for m in ("IMPS", "IMPS", "NEFT", "UPI")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [202, 409, 409, 409], answers
    loan = _loan(server, tenant, loan_id)
    assert len(loan["disbursement"]["attempts"]) == 1
    sent = [p for p in provider_simulators["gateway"].payouts() if p["reference"] == loan["loan_number"]]
    assert len(sent) == 1  # the gateway made one payout: every press carried the attempt's idempotency key


def test_roles_and_brands(platform: Any, server: str) -> None:
    tenant = make_tenant(platform, "loan_ops")
    loan_id, _ = queued_loan(platform, tenant)
    other = make_tenant(platform, "loan_ops")
    assert _disburse(server, other, loan_id).status_code == 404  # another brand's loan
    viewer = make_tenant(platform, "credit_executive")
    assert _disburse(server, viewer, loan_id).status_code == 403
    bad = httpx.post(f"{server}/api/v1/loans/{loan_id}/disburse", json={"mode": "RTGS"}, headers=tenant.auth)
    assert bad.status_code == 422 and "mode" in bad.text
    assert _loan(server, tenant, loan_id)["disbursement"]["state"] == "queued"


def test_a_webhook_before_the_attempt_is_recorded_is_delivered_again(platform: Any, server: str) -> None:
    from adapters.payout_store import AttemptRecord, PayoutStore

    tenant = make_tenant(platform, "loan_ops")
    loan_id, _ = queued_loan(platform, tenant)
    # The gateway answered, we noted its payout, and its webhook comes before the attempt is on the loan.
    platform.get(PayoutStore).note_attempt(
        AttemptRecord("pout_early", tenant.brand_id, loan_id, 1, "IMPS", None, datetime.now(UTC))
    )
    body = json.dumps({"id": "evt_early", "type": "payout.processed", "created_at": datetime.now(UTC).isoformat(),
                       "data": {"payout_id": "pout_early", "utr": "1"}}).encode()  # fmt: skip
    hook = f"{server}/api/v1/webhooks/gateway"
    early = httpx.post(hook, content=body, headers=sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())))
    assert early.status_code == 409, early.text
    loans: Loans = platform.get(Loans)
    loans.initiate_disbursal(tenant.brand_id, loan_id, "IMPS", "pout_early", attempt=1)
    again = httpx.post(hook, content=body, headers=sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())))
    assert again.status_code == 200 and again.json()["status"] == "processed"  # the same event id, now processed
    assert loans.get(tenant.brand_id, loan_id).status.value == "active"
    unknown = body.replace(b"pout_early", b"pout_nobody").replace(b"evt_early", b"evt_nobody")
    answer = httpx.post(hook, content=unknown, headers=sign(PROVIDER_WEBHOOK_SECRET, unknown, int(time.time())))
    assert answer.status_code == 200 and answer.json()["status"] == "ignored", answer.text  # nobody's: acknowledged


def test_a_payout_id_another_gateway_gave_another_loan_settles_neither(platform: Any, server: str) -> None:
    """Each brand has its own gateway, whose payout ids are unique only to it. Brand A's payout was noted under an id
    brand B's gateway then gave B's loan too: B's signed confirmation (its `reference` B's loan number) found A's
    payout and disbursed A's loan on B's event. Now an event whose reference names another loan is ignored."""
    from adapters.payout_store import AttemptRecord, PayoutStore

    ours, theirs = make_tenant(platform, "loan_ops"), make_tenant(platform, "loan_ops")
    loan_id, _ = queued_loan(platform, ours)
    other_id, _ = queued_loan(platform, theirs)
    loans: Loans = platform.get(Loans)
    store = platform.get(PayoutStore)
    store.note_attempt(AttemptRecord("pout_shared", ours.brand_id, loan_id, 1, "IMPS", None, datetime.now(UTC)))
    loans.initiate_disbursal(ours.brand_id, loan_id, "IMPS", "pout_shared", attempt=1)
    with structlog.testing.capture_logs() as logs:  # B's gateway gives B's loan the same id: the first is kept
        store.note_attempt(AttemptRecord("pout_shared", theirs.brand_id, other_id, 1, "IMPS", None, datetime.now(UTC)))
    assert [e for e in logs if e["event"] == "payout.reference_taken"], logs
    assert store.attempt("pout_shared").loan_id == loan_id  # type: ignore[union-attr]
    other_number = loans.get(theirs.brand_id, other_id).loan_number
    hook = f"{server}/api/v1/webhooks/gateway"
    body = json.dumps({"id": "evt_b_confirms", "type": "payout.processed", "created_at": datetime.now(UTC).isoformat(),
                       "data": {"payout_id": "pout_shared", "reference": other_number, "utr": "1"}}).encode()  # fmt: skip
    crossed = httpx.post(hook, content=body, headers=sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())))
    assert crossed.status_code == 200 and crossed.json()["status"] == "ignored", crossed.text
    assert loans.get(ours.brand_id, loan_id).status.value != "active"  # not disbursed on B's event
    own = body.replace(other_number.encode(), loans.get(ours.brand_id, loan_id).loan_number.encode())
    own = own.replace(b"evt_b_confirms", b"evt_a_confirms")
    mine = httpx.post(hook, content=own, headers=sign(PROVIDER_WEBHOOK_SECRET, own, int(time.time())))
    assert mine.status_code == 200 and mine.json()["status"] == "processed", mine.text
    assert loans.get(ours.brand_id, loan_id).status.value == "active"


def test_a_webhook_overtaking_the_gateways_answer_is_delivered_again_and_disburses_once(
    platform: Any, server: str, provider_simulators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's webhook arrives before its answer to our payout request does (a fast gateway, or our process
    slow between the two). Before, the payout was nobody's to the webhook (200 `ignored`, final): the money left and
    the loan never became active."""
    from api.services.disbursals import Disbursals

    simulator = provider_simulators["gateway"]
    tenant = make_tenant(platform, "loan_ops")
    loan_id, _ = queued_loan(platform, tenant)
    first_answers: list[int | None] = []
    deliveries: list[Any] = []
    real = Disbursals._gateway

    class WebhookFirst:
        """The real gateway (the simulator), which settles the payout and calls us back before answering."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def create_payout(self, amount: Decimal, **kw: Any) -> Any:
            payout = self.inner.create_payout(amount, **kw)
            since = simulator.outbox.last_seq
            deliveries.append(simulator.settle(payout.payout_id))
            (first,) = simulator.outbox.wait_for("webhook", since=since, type="payout.processed", attempt=1)
            first_answers.append(first.payload["status"])
            return payout

    monkeypatch.setattr(Disbursals, "_gateway", lambda self, brand_id: WebhookFirst(real(self, brand_id)))
    started = _disburse(server, tenant, loan_id)
    assert started.status_code == 202, started.text
    assert first_answers == [409]  # ours, not recorded yet: deliver again
    delivery = deliveries[0].result(timeout=20)
    statuses = [a.status for a in delivery.attempts]
    assert statuses[-1] == 200 and set(statuses) == {409, 200}, statuses  # the simulator's retry was processed
    loan = _until(server, tenant, loan_id, "disbursed")
    assert loan["status"] == "active"
    assert [a["state"] for a in loan["disbursement"]["attempts"]] == ["confirmed"]
    assert sum(1 for e in loan["history"] if e["kind"] == "disbursed") == 1
    repeat = simulator.redeliver(delivery)
    assert repeat.attempts[-1].status == 200
    time.sleep(0.3)
    again = _loan(server, tenant, loan_id)
    assert again["version"] == loan["version"] and sum(1 for e in again["history"] if e["kind"] == "disbursed") == 1
    # The initiation was completed when the payout was noted: a payout of nobody's under this loan number is ignored.
    body = json.dumps({"id": "evt_" + uuid.uuid4().hex, "type": "payout.processed",
                       "created_at": datetime.now(UTC).isoformat(),
                       "data": {"payout_id": "pout_nobody", "reference": loan["loan_number"]}}).encode()  # fmt: skip
    hook = f"{server}/api/v1/webhooks/gateway"
    answer = httpx.post(hook, content=body, headers=sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())))
    assert answer.status_code == 200 and answer.json()["status"] == "ignored", answer.text


def test_an_open_payout_initiation_holds_webhooks_within_its_window_only(platform: Any, server: str) -> None:
    """An unknown payout whose reference is the loan number of a request waiting for the gateway's answer is a 409
    (and changes nothing); once that request is refused, or older than INITIATION_WINDOW, it is nobody's again."""
    from adapters.payout_store import PayoutStore
    from api.services.disbursals import INITIATION_WINDOW

    store: PayoutStore = platform.get(PayoutStore)
    tenant = make_tenant(platform, "loan_ops")
    loan_id, _ = queued_loan(platform, tenant)
    loan = _loan(server, tenant, loan_id)
    number = loan["loan_number"]
    hook = f"{server}/api/v1/webhooks/gateway"

    def deliver(event_id: str, kind: str = "payout.processed") -> httpx.Response:
        body = json.dumps({"id": event_id, "type": kind, "created_at": datetime.now(UTC).isoformat(),
                           "data": {"payout_id": "pout_unseen", "reference": number, "reason": "x"}}).encode()  # fmt: skip
        return httpx.post(hook, content=body, headers=sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())))

    now = datetime.now(UTC)
    store.begin_initiation(tenant.brand_id, loan_id, 1, number, now - INITIATION_WINDOW - timedelta(seconds=5))
    stale = deliver("evt_window_1")
    assert stale.status_code == 200 and stale.json()["status"] == "ignored", stale.text
    waiting = store.begin_initiation(tenant.brand_id, loan_id, 1, number, now)
    for kind in ("payout.processed", "payout.failed"):
        early = deliver("evt_window_2", kind)
        assert early.status_code == 409, early.text
        assert early.headers["content-type"].startswith("application/problem+json")
    assert _loan(server, tenant, loan_id)["version"] == loan["version"]  # nothing touched
    store.refuse_initiation(waiting, datetime.now(UTC))
    refused = deliver("evt_window_2")  # the same event id: nothing was kept by the 409s
    assert refused.status_code == 200 and refused.json()["status"] == "ignored", refused.text
    assert _loan(server, tenant, loan_id)["version"] == loan["version"]


def test_the_beneficiary_is_the_verified_account_of_the_verification_context(
    platform: Any, server: str, provider_simulators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domain.verification.application import Verifications

    monkeypatch.undo()  # the real VerifiedAccounts, not the stand-in of `wiring`
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    tenant = make_tenant(platform, "loan_ops")
    loans: Loans = platform.get(Loans)
    customer_id, _ = _borrower(platform, tenant)
    added = platform.get(Verifications).add_bank_account(
        tenant.brand_id, customer_id, "50100098761234", "ICIC0001234", "Meera Iyer"
    )
    unverified = platform.get(Verifications).add_bank_account(
        tenant.brand_id, customer_id, "50100098760000", "ICIC0001234", "Meera Iyer"
    )  # penny drop fails: invalid account
    for account, expected in ((unverified.id, 409), (added.id, 202)):
        loan_id = loans.create(tenant.brand_id, customer_id, PRODUCT, "100000", 12).id
        loans.submit(tenant.brand_id, loan_id)
        loans.cx_approve(tenant.brand_id, loan_id, "90000", "salary supports it")
        loans.sanction(tenant.brand_id, loan_id, "85000", "within FOIR")
        now = datetime.now(UTC)
        loans.issue_agreement(
            tenant.brand_id, loan_id, "ab" * 32, "a.pdf", "es", "https://e/1", now + timedelta(days=1)
        )
        loans.sign(tenant.brand_id, loan_id, "prov", now)
        settle(platform, Loans.name, loans.ready_for_disbursal(tenant.brand_id, loan_id, str(account)).position)
        answer = _disburse(server, tenant, loan_id)
        assert answer.status_code == expected, answer.text
    (payout,) = [
        p
        for p in provider_simulators["gateway"].payouts()
        if p["payout_id"] == answer.json()["disbursement"]["gateway_reference"]
    ]
    assert Decimal(payout["amount"]) == Decimal(answer.json()["disbursement"]["net_disbursed"])
    requests = provider_simulators["gateway"].outbox.records()
    assert any("50100098761234" in str(r.payload) and "ICIC0001234" in str(r.payload) for r in requests)


def test_payouts_left_unanswered_past_the_window_are_reconciled_with_the_gateway_once(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    """We asked the gateway for a payout and died before noting its answer; its webhook never reached us (within
    INITIATION_WINDOW). The `payout-reconciliation` job asks the gateway by the request's idempotency key and records
    what became of it: paid (active, once), failed (with the gateway's reason), or no payout made (settled, the loan
    untouched). Before, the loan stayed awaiting disbursal until staff confirmed it by hand, and the request's row
    in ops.payout_initiations was kept for ever."""
    from adapters.payout_store import PayoutStore
    from api.services.disbursals import INITIATION_WINDOW
    from workers.runtime import scheduler_for

    store: PayoutStore = platform.get(PayoutStore)
    gateway = provider_simulators["gateway"]
    admin = make_tenant(platform)
    long_ago = datetime.now(UTC) - INITIATION_WINDOW - timedelta(minutes=1)

    def net(loan_id: UUID) -> str:
        return str(platform.get(Loans).get(admin.brand_id, loan_id).net_disbursed)

    def asked_and_died(loan_id: UUID, settle_as: str | None) -> tuple[str, str]:
        """Our request, noted and sent (its payout settled as `settle_as`), its answer never read; its webhook is
        lost (sent to a closed port). The loan number and the payout id."""
        number = _loan(server, admin, loan_id)["loan_number"]
        store.begin_initiation(admin.brand_id, loan_id, 1, number, long_ago)
        if settle_as is None:
            return number, ""
        made = httpx.post(f"{gateway.base_url}/v1/payouts", headers={"Authorization": "Bearer sim-key"}, json={
            "amount": net(loan_id), "mode": "IMPS", "reference": number, "idempotency_key": f"{loan_id}:1",
            "beneficiary": {"name": "Meera Iyer", "account_number": "5010012345678", "ifsc": "HDFC0001234"},
            "callback_url": "http://127.0.0.1:9/api/v1/webhooks/gateway"})  # fmt: skip
        assert made.status_code == 202, made.text
        payout_id = made.json()["payout_id"]
        if settle_as != "pending":
            gateway.settle(payout_id, confirm=settle_as == "processed", reason="beneficiary_bank_down")
        return number, payout_id

    def reconcile() -> dict[str, Any]:
        accepted = httpx.post(f"{server}/api/v1/jobs/payout-reconciliation/runs", json={}, headers=admin.auth)
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        scheduler_for(platform).execute(run_id)
        settle(platform, "jobs")
        return dict(httpx.get(f"{server}/api/v1/jobs/runs/{run_id}", headers=admin.auth).json())

    paid, _ = queued_loan(platform, admin)
    failed, _ = queued_loan(platform, admin)
    never, _ = queued_loan(platform, admin)
    pending, _ = queued_loan(platform, admin)
    _, paid_payout = asked_and_died(paid, "processed")
    _, failed_payout = asked_and_died(failed, "failed")
    asked_and_died(never, None)  # the request never reached the gateway
    _, pending_payout = asked_and_died(pending, "pending")
    fresh, _ = queued_loan(platform, admin)
    store.begin_initiation(admin.brand_id, fresh, 1, "NOT-YET", datetime.now(UTC))  # within the window: left alone

    with structlog.testing.capture_logs() as logs:
        run = reconcile()
    assert run["status"] == "succeeded", run
    # Each outcome logged as the plain string it always was (the outcomes are an enum inside).
    logged = {e["loan_id"]: e["outcome"] for e in logs if e["event"] == "disbursal.reconciled"}
    assert logged == {str(paid): "paid", str(failed): "failed", str(never): "no_payout", str(pending): "pending"}
    assert {type(o) for o in logged.values()} == {str}
    settle(platform, Loans.name)
    active = _loan(server, admin, paid)
    assert active["status"] == "active"
    assert sum(1 for e in active["history"] if e["kind"] == "disbursed") == 1
    assert [a["gateway_reference"] for a in active["disbursement"]["attempts"]] == [paid_payout]
    lost = _loan(server, admin, failed)
    assert lost["status"] == "awaiting_disbursal"
    assert [(a["gateway_reference"], a["state"]) for a in lost["disbursement"]["attempts"]] == [
        (failed_payout, "failed")
    ]
    assert _loan(server, admin, never)["disbursement"]["attempts"] == []
    waiting = _loan(server, admin, pending)["disbursement"]["attempts"]
    assert [(a["gateway_reference"], a["state"]) for a in waiting] == [(pending_payout, "initiated")]
    # Settled requests are gone; the one within its window stays open.
    with platform.db.pool.connection() as conn:
        left = conn.execute("SELECT loan_id FROM ops.payout_initiations WHERE brand_id = %s",
                            (admin.brand_id,)).fetchall()  # fmt: skip
    assert [r["loan_id"] for r in left] == [fresh]

    # A second run changes nothing: each outcome was recorded once.
    versions = {loan_id: _loan(server, admin, loan_id)["version"] for loan_id in (paid, failed, never, pending)}
    again = reconcile()
    assert again["status"] == "succeeded", again
    settle(platform, Loans.name)
    assert {loan_id: _loan(server, admin, loan_id)["version"] for loan_id in versions} == versions
    # The pending payout's webhook, when the bank settles it, finds the attempt the reconciliation recorded.
    assert store.attempt(pending_payout) is not None


def test_a_payout_the_loan_failed_to_record_stays_open_until_reconciled_not_paid_again(
    platform: Any, server: str, provider_simulators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway made the payout and its answer was noted, but the loan failed to record the attempt (the process
    died, a race). Before, noting the answer closed the request first: nothing then stopped a payout file or a
    cancel (the bank paid the loan again, or it was cancelled with its money paid out), and the reconciliation,
    which reads open requests, never found it. Now the request stays open until the loan has it."""
    from adapters.payout_store import PayoutStore
    from api.services.disbursals import INITIATION_WINDOW
    from workers.runtime import scheduler_for

    admin = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    loan_id, _ = queued_loan(platform, admin)

    def dies(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died before the loan recorded the payout")

    with monkeypatch.context() as patched:
        patched.setattr(loans, "initiate_disbursal", dies)
        assert _disburse(server, admin, loan_id).status_code == 500
    number = _loan(server, admin, loan_id)["loan_number"]
    (payout,) = [p for p in provider_simulators["gateway"].payouts() if p["reference"] == number]
    assert _loan(server, admin, loan_id)["disbursement"]["attempts"] == []
    exported = httpx.post(f"{server}/api/v1/payout-files", json={"loan_ids": [str(loan_id)]}, headers=admin.auth)
    assert exported.status_code == 422, exported.text  # not paid a second time by the bank
    cancelled = httpx.post(f"{server}/api/v1/loans/{loan_id}/cancel", json={"reason": "borrower withdrew it"},
                           headers=admin.auth)  # fmt: skip
    assert cancelled.status_code == 409, cancelled.text
    with platform.db.pool.connection() as conn:  # the window passes with nobody pressing again
        conn.execute("UPDATE ops.payout_initiations SET started_at = started_at - %s WHERE loan_id = %s",
                     (INITIATION_WINDOW + timedelta(minutes=1), loan_id))  # fmt: skip
    run_id = httpx.post(f"{server}/api/v1/jobs/payout-reconciliation/runs", json={}, headers=admin.auth).json()[
        "run_id"
    ]
    scheduler_for(platform).execute(run_id)
    settle(platform, "jobs")
    settle(platform, Loans.name)
    attempts = _loan(server, admin, loan_id)["disbursement"]["attempts"]
    assert [(a["gateway_reference"], a["state"]) for a in attempts] == [(payout["payout_id"], "initiated")]
    assert platform.get(PayoutStore).initiation_open(admin.brand_id, loan_id) is False
