"""Concurrency probe of the commands that create a record or keep a limit: the same request fired at once from
several threads (tests/e2e/racing.py's `Racer`: one keep-alive client each, lined up on a barrier),
repeated for some rounds. Checked: one record is made however many identical requests race (or the limit holds), the
losers get a 409 (problem+json) or the winner's answer, never a 5xx, and the read models list one."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from uuid import UUID

import httpx

from adapters.simulators.sms import SmsSimulator
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.onboarding.application import Onboarding
from tests.conftest import make_tenant
from tests.e2e.racing import Call, Racer, race_fixture  # noqa: F401 (the `race` fixture)
from tests.e2e.test_concurrency_probe import (
    D0,
    ROUNDS,
    borrower,
    disbursed_loan,
    make_product,
    ok,
    one_wins,
    set_business_date,
)
from tests.support import account_number, mobile, settle


def test_a_staff_notice_acknowledged_at_once_is_read_once_and_every_tap_answered(
    platform: Any, server: str, race: Racer
) -> None:
    tenant = make_tenant(platform)
    for n in range(ROUNDS):
        made = httpx.post(f"{server}/api/v1/staff-notifications", headers=tenant.auth, json={
            "title": f"Branch closed {n}", "body": "Closed on Friday", "priority": "HIGH", "roles": ["admin"]})  # fmt: skip
        assert made.status_code == 201, made.text
        url = f"/api/v1/staff-notifications/{made.json()['id']}/ack"
        answers = race(tenant, [Call("POST", url)] * 3)
        # a repeat changes nothing and answers the notice as read (docs): a tap at the same moment too
        assert [a.status_code for a in answers if not ok(a)] == [], [a.text for a in answers]
        settle(platform, "staff_notices")
        shown = httpx.get(f"{server}/api/v1/staff-notifications/{made.json()['id']}/receipts", headers=tenant.auth)
        assert [r["read_at"] is not None for r in shown.json()["receipts"]].count(True) == 1, shown.text


def test_a_settlement_proposed_at_once_is_proposed_once(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    product = make_product(server, tenant)
    for _ in range(2):
        loan_id = disbursed_loan(platform, tenant, product)
        calls = [Call("POST", f"/api/v1/loans/{loan_id}/settlements",
                      {"amount": f"{60000 + i}.00", "remarks": "one-time settlement"}) for i in range(3)]  # fmt: skip
        one_wins(race(tenant, calls))


def test_records_named_by_a_unique_value_are_made_once(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    root = make_tenant(platform, "super_admin")
    product = make_product(server, tenant)
    customer = borrower(platform, tenant)
    other = borrower(platform, tenant)
    for n in range(ROUNDS // 2):
        code = f"C{uuid.uuid4().hex[:6].upper()}"
        unique = [
            Call("POST", "/api/v1/staff", {"email": f"asha-{code.lower()}@lender.in", "name": "Asha Rao",
                                           "roles": ["collection_executive"]}),
            Call("POST", "/api/v1/loan-products", {"name": "Personal loan", "type": "emi", "code": code,
                                                   "min_amount": "10000", "max_amount": "200000", "min_tenure": 3,
                                                   "max_tenure": 24, "annual_percent": "24",
                                                   "processing_fee": {"kind": "percent", "value": "2"}}),
            Call("POST", "/api/v1/coupons", {"code": code, "product_id": str(product), "kind": "percent",
                                             "value": "10", "valid_from": "2026-01-01", "valid_to": "2026-12-31"}),
            Call("POST", "/api/v1/blocklist", {"kind": "mobile", "value": mobile(), "reason": "fraud ring"}),
            Call("POST", "/api/v1/brands", {"slug": f"b{code.lower()}", "name": "Brand"}, root.auth),
            Call("POST", f"/api/v1/customers/{customer}/bank-accounts",
                 {"account_number": account_number(f"5010{n}"), "ifsc": "HDFC0001234",
                  "holder_name": "Meera Iyer"}),
        ]  # fmt: skip
        for call in unique:
            one_wins(race(tenant, [call] * 3), refused=(409,))
        number = f"LN-{code}"
        calls = [Call("POST", f"/api/v1/customers/{c}/loan-numbers", {"loan_number": number})
                 for c in (customer, other, customer)]  # fmt: skip
        answers = race(tenant, calls)
        assert len({a.json()["id"] for a in answers if ok(a)}) == 1, [a.text for a in answers]


def test_a_released_login_email_claimed_at_once_is_claimed_once(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    identity = platform.get(Identity)
    for _ in range(ROUNDS // 2):
        email = f"asha-{uuid.uuid4().hex[:8]}@lender.in"
        holder = identity.create_staff(tenant.brand_id, email, "Asha Rao", ["sales"], granter=OPERATOR).id
        identity.update_staff(
            tenant.brand_id, holder, email=f"moved-{uuid.uuid4().hex[:8]}@lender.in", granter=OPERATOR
        )
        call = Call("POST", "/api/v1/staff", {"email": email, "name": "Asha Rao", "roles": ["collection_executive"]})
        won = one_wins(race(tenant, [call] * 3), refused=(409,))
        assert identity.staff_by_email(email).id == UUID(won.json()["id"])


def test_a_staff_leave_scheduled_at_once_is_scheduled_once(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    staff = platform.get(Identity).create_staff(tenant.brand_id, f"ravi-{uuid.uuid4().hex[:8]}@lender.in", "Ravi",
                                                ["collection_executive"], "collect-pass-2026",
                                                granter=OPERATOR).id  # fmt: skip
    settle(platform, "identity")
    for n in range(ROUNDS):
        day = date(2026, 3, 1 + 2 * n).isoformat()
        call = Call("POST", f"/api/v1/staff/{staff}/leaves", {"start": day, "end": day, "reason": "family"})
        one_wins(race(tenant, [call] * 3))


def test_a_lead_file_imported_at_once_creates_each_lead_once(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    for _ in range(ROUNDS // 2):
        text = "id,created_time,campaign_id,campaign_name,is_organic,full_name,phone_number,email\n" + "".join(
            f"{i},2026-11-01T10:00:00Z,c1,Diwali,false,Asha Rao {i},{mobile()},\n" for i in range(3)
        )
        request = httpx.Request("POST", "/", files={"file": ("leads.csv", text.encode(), "text/csv")})
        headers = tenant.auth | {"Content-Type": request.headers["Content-Type"]}
        call = Call("POST", "/api/v1/leads/imports", headers=headers, content=request.read())
        answers = race(tenant, [call] * 3)
        # the later imports dedupe again against the one committed first and record its people as duplicates
        assert all(ok(a) for a in answers), [a.text for a in answers]
        assert sorted(a.json()["created"] for a in answers) == [0, 0, 3], [a.text for a in answers]


def test_templates_made_at_once_on_a_new_brand_seed_the_defaults_once(platform: Any, server: str, race: Racer) -> None:
    for _ in range(ROUNDS // 2):
        tenant = make_tenant(platform)
        calls = [
            Call(
                "POST",
                "/api/v1/message-templates",
                {"name": f"Festive {i}", "channel": "sms", "body": "Hello {{borrower_name}}"},
            )
            for i in range(3)
        ]
        assert [a.status_code for a in race(tenant, calls)] == [201] * 3
        listed = httpx.get(f"{server}/api/v1/message-templates?limit=100", headers=tenant.auth).json()["items"]
        seeded = [t for t in listed if not t["name"].startswith("Festive")]
        assert seeded and all(t["version"] == 1 for t in seeded), [(t["name"], t["version"]) for t in seeded]


def test_one_code_request_tapped_at_once_sends_one_code(
    platform: Any, server: str, race: Racer, provider_simulators: dict[str, Any]
) -> None:
    sms: SmsSimulator = provider_simulators["sms"]
    tenant = make_tenant(platform)
    for _ in range(ROUNDS):
        phone = mobile()
        call = Call("POST", "/api/v1/borrower/otp", {"brand": tenant.slug, "phone": phone}, headers={})
        answers = race(tenant, [call] * 3)
        assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
        sent = sms.messages(phone)
        # one code within the resend wait: a second SMS would carry a code nobody recorded, refused when typed
        assert len(sent) == 1, [m["text"] for m in sent]
        code = sms.last_code(phone)
        opened = httpx.post(f"{server}/api/v1/borrower/session",
                            json={"brand": tenant.slug, "phone": phone, "otp": code})  # fmt: skip
        assert opened.status_code == 201, opened.text


def test_one_bank_account_added_at_once_pays_for_one_penny_drop(
    platform: Any, server: str, race: Racer, provider_simulators: dict[str, Any]
) -> None:
    penny_drop = provider_simulators["penny_drop"]
    penny_drop.reset_faults()
    tenant = make_tenant(platform)
    customer = borrower(platform, tenant)
    for _ in range(ROUNDS // 2):
        number, ifsc = account_number(), f"HDFC0{uuid.uuid4().hex[:6].upper()}"  # the IFSC names this round's calls
        body = {"account_number": number, "ifsc": ifsc, "holder_name": "Meera Iyer"}
        won = one_wins(race(tenant, [Call("POST", f"/api/v1/customers/{customer}/bank-accounts", body)] * 3))
        # the later requests waited for the first one's record and found it, as a repeat does: no second ₹1
        checked = [m for m in penny_drop.sent_to(number[-4:]) if m.get("ifsc") == ifsc]
        assert len(checked) == 1, checked
        assert won.json()["status"] == "verified" and won.json()["attempts"] == 1, won.text
        again = httpx.post(f"{server}/api/v1/customers/{customer}/bank-accounts", json=body, headers=tenant.auth)
        assert again.status_code == 409 and again.json()["existing_id"] == won.json()["id"], again.text


def test_the_personal_step_sent_at_once_makes_one_borrower_record_and_blames_no_other_account(
    platform: Any, server: str, race: Racer, provider_simulators: dict[str, Any]
) -> None:
    from tests.e2e.test_onboarding_api import PERSONAL, _pan

    sms: SmsSimulator = provider_simulators["sms"]
    tenant = make_tenant(platform)
    for _ in range(ROUNDS // 2):
        phone = mobile()
        asked = httpx.post(f"{server}/api/v1/borrower/otp", json={"brand": tenant.slug, "phone": phone})
        assert asked.status_code == 202, asked.text
        opened = httpx.post(f"{server}/api/v1/borrower/session",
                            json={"brand": tenant.slug, "phone": phone, "otp": sms.last_code(phone)})  # fmt: skip
        auth = {"Authorization": f"Bearer {opened.json()['token']}"}
        assert httpx.put(f"{server}/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth).status_code == 200
        answers = race(tenant, [Call("PUT", "/api/v1/borrower/steps/personal", PERSONAL, headers=auth)] * 3)
        # A tap that starts after the first has committed redoes the step (200, the same record); one that overlaps
        # it loses with a 409. Either way: at least one success, every success names the borrower's own record, and
        # the slower taps never hear "registered with another account; contact us".
        codes = [a.status_code for a in answers]
        won = [a for a in answers if a.status_code == 200]
        assert won and all(a.status_code in (200, 409) for a in answers), (codes, [a.text[:300] for a in answers])
        assert not any("another account" in a.text for a in answers), [a.text for a in answers]
        assert {a.json()["borrower_id"] for a in won} == {opened.json()["borrower_id"]}, [a.text for a in won]
        linked = platform.get(Onboarding).state(tenant.brand_id, UUID(opened.json()["borrower_id"])).customer_id
        settle(platform, "customers")
        found = httpx.get(f"{server}/api/v1/customers", params={"q": phone[-10:]}, headers=tenant.auth).json()
        assert linked is not None and [c["id"] for c in found["items"]] == [str(linked)], found


def test_contacts_logged_at_once_on_one_loan_are_all_logged(platform: Any, server: str, race: Racer) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    product = make_product(server, tenant)
    for _ in range(2):  # each loan's first race is on its case's creation, the next on the case's version
        loan_id = disbursed_loan(platform, tenant, product)
        url = f"/api/v1/loans/{loan_id}/contacts"
        for n in range(ROUNDS // 2):
            calls = [
                Call("POST", url, {"outcome": "not_reachable", "remarks": f"round {n} call {i}"}) for i in range(3)
            ]
            # three executives calling the borrower at once: each contact is theirs to log (they commute), not a 409
            answers = race(tenant, calls)
            assert [a.status_code for a in answers] == [201] * 3, [a.text for a in answers]
        settle(platform, "collections")
        panel = httpx.get(f"{server}/api/v1/loans/{loan_id}/collection", headers=tenant.auth).json()
        assert len(panel["contacts"]) == 3 * (ROUNDS // 2), panel
