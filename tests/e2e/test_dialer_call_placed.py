"""The collections' Call buttons (Customer 360, the worklist, the case page) say "Call placed" only of a call that
was: one of the brand, placed from the signed-in staff member's own extension, about what the page is about (this
borrower, a loan on this page of the worklist, this case's loan) - not of whatever a link's `?called=` says: a
garbage value, a random id, another brand's call, another staff member's call about the same loan, or a call about
another loan (docs/fieldwork.md "Click-to-call", api/services/placed_calls.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_collections import D0, executive, give_case, signed_in
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

PLACED = 'id="call-placed"'


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    yield


def _dialer_on(client: Any, tenant: Tenant, extensions: dict[UUID, str]) -> None:
    on = client.patch("/api/v1/dialer/settings", headers=tenant.auth,
                      json={"enabled": True, "account_id": "covenant-demo", "api_token": "acefone-live-7c1d"})  # fmt: skip
    assert on.status_code == 200, on.text
    for staff_id, extension in extensions.items():
        ext = client.put(f"/api/v1/dialer/extensions/{staff_id}", json={"extension": extension}, headers=tenant.auth)
        assert ext.status_code == 200, ext.text


def _called(location: str) -> tuple[str, str]:
    """The page a portal call came back to and the call it names (`called`)."""
    parts = urlsplit(location)
    return parts.path, parse_qs(parts.query)["called"][0]


def test_the_collections_call_buttons_say_call_placed_only_of_a_call_placed_about_that_page(
    app: Any, client: Any, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    mine, second = disbursed_loan(platform, tenant), disbursed_loan(platform, tenant)  # two borrowers' loans
    (asha, asha_email), (ravi, _) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@lender.in"
    admin = platform.get(Identity).create_staff(
        tenant.brand_id, admin_email, "Dev Admin", ["admin"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", admin.position)
    for loan_id in (mine, second):
        give_case(platform, tenant, loan_id, asha)
    _dialer_on(client, tenant, {asha: "2201", ravi: "2202", admin.id: "2203"})
    elsewhere = make_tenant(platform)  # another brand's call
    set_business_date(platform, elsewhere, D0)
    their_loan = disbursed_loan(platform, elsewhere)
    their_agent, _ = executive(platform, elsewhere, "Other")
    _dialer_on(client, elsewhere, {their_agent: "3201"})
    customer = platform.get(Loans).get(tenant.brand_id, mine).customer_id
    # An executive calls from the worklist and the case page; Customer 360 shows the Call button to whoever holds
    # LOANS too (an admin here: no collections role does).
    executive_browser, admin_browser = signed_in(app, asha_email)[0], signed_in(app, admin_email)[0]
    worklist = executive_browser.get("/collections?stage=collections")
    assert (
        worklist.status_code == 200 and f'id="call-{mine}"' in worklist.text and f'id="call-{second}"' in worklist.text
    )
    profile = admin_browser.get(f"/customers/{customer}")
    assert profile.status_code == 200 and f"/loans/{mine}/call" in profile.text
    dialer = provider_simulators["dialer"]
    dialer.auto_complete = False  # no call event back to this in-process client
    try:
        theirs = client.post(f"/api/v1/loans/{their_loan}/calls", json={"staff_id": str(their_agent)},
                             headers=elsewhere.auth)  # fmt: skip
        by_ravi = client.post(f"/api/v1/loans/{mine}/calls", json={"staff_id": str(ravi)}, headers=tenant.auth)
        calls = [
            who.post(f"/loans/{loan_id}/call", data={"csrf_token": _csrf(page), "next": target})
            for who, page, loan_id, target in (
                (admin_browser, profile, mine, f"/customers/{customer}"),
                (admin_browser, profile, second, f"/customers/{customer}"),  # another borrower's loan
                (executive_browser, worklist, mine, "/collections?stage=collections"),
                (executive_browser, worklist, mine, f"/collections/loans/{mine}"),
                (executive_browser, worklist, second, f"/collections/loans/{mine}"),  # another loan
            )
        ]
    finally:
        dialer.auto_complete = True
    assert theirs.status_code == 202 and by_ravi.status_code == 202, (theirs.text, by_ravi.text)
    assert all(r.status_code == 303 for r in calls), [r.text for r in calls]
    placed = [_called(r.headers["location"]) for r in calls]
    (_, on_360), (_, admins_second), (_, on_worklist), (_, on_case), (_, executives_second) = placed
    bad = ["yes", "not-a-call", str(uuid.uuid4()), theirs.json()["id"], by_ravi.json()["id"]]
    try:
        for browser, page, call_id, others in (
            (admin_browser, f"/customers/{customer}?", on_360, [admins_second, on_case]),  # on_case: Asha's
            (executive_browser, f"/collections/loans/{mine}?", on_case, [executives_second]),
            (executive_browser, "/collections?stage=collections&", on_worklist, []),  # both loans are on this page
        ):
            assert PLACED in browser.get(f"{page}called={call_id}").text, page
            for value in bad + others:
                shown = browser.get(f"{page}called={value}")
                assert shown.status_code == 200 and PLACED not in shown.text, (page, value)
        # The worklist: a call about a loan no longer on it (reallocated to Ravi) is not this page's.
        give_case(platform, tenant, mine, ravi)
        shown = executive_browser.get(f"/collections?stage=collections&called={on_worklist}")
        assert f'id="call-{mine}"' not in shown.text and PLACED not in shown.text
        assert PLACED in executive_browser.get(f"/collections?stage=collections&called={executives_second}").text
    finally:
        executive_browser.close()
        admin_browser.close()


def _csrf(page: Any) -> str:
    return str(page.text.split('name="csrf_token" value="')[1].split('"')[0])


def test_a_call_from_the_worklist_comes_back_to_the_worklist_as_it_was(
    app: Any, client: Any, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    asha, asha_email = executive(platform, tenant, "Asha")
    give_case(platform, tenant, loan_id, asha)
    _dialer_on(client, tenant, {asha: "2301"})
    browser, _ = signed_in(app, asha_email)
    try:
        page = browser.get("/collections?stage=collections&called=stale")
        assert 'name="next" value="/collections?stage=collections"' in page.text  # filters kept, `called` not
        token = _csrf(page)
        dialer = provider_simulators["dialer"]
        dialer.auto_complete = False
        try:
            placed = browser.post(f"/loans/{loan_id}/call",
                                  data={"csrf_token": token, "next": "/collections?stage=collections"})  # fmt: skip
        finally:
            dialer.auto_complete = True
        assert placed.status_code == 303 and placed.headers["location"].startswith("/collections?stage=collections&")
        assert PLACED in browser.get(placed.headers["location"]).text
    finally:
        browser.close()


def test_a_page_shown_again_after_a_refused_form_calls_back_to_its_own_address(
    app: Any, client: Any, platform: Any
) -> None:
    """Customer 360 shown again at `/customers/{id}/notes` after a refused note: its Call buttons sent the call back to
    that POST-only address (a 405 after the call was placed). They name the page's own address now."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    customer = platform.get(Loans).get(tenant.brand_id, loan_id).customer_id
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(tenant.brand_id, admin_email, "Dev Admin", ["admin"], PASSWORD,
                                               granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", made.position)
    browser = signed_in(app, admin_email)[0]
    try:
        profile = browser.get(f"/customers/{customer}")
        refused = browser.post(f"/customers/{customer}/notes", data={"csrf_token": _csrf(profile), "text": ""})
        assert refused.status_code == 422, refused.text[:300]
        assert f"/loans/{loan_id}/call" in refused.text
        assert f'name="next" value="/customers/{customer}"' in refused.text
        assert f'name="next" value="/customers/{customer}/notes"' not in refused.text
    finally:
        browser.close()
