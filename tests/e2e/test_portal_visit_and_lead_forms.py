"""Portal forms for what staff could do only through the API: reassigning and cancelling a field visit (the visit's
page, under the API's COLLECTION_REALLOCATE_LOANS) and linking a lead by hand to the borrower it became (the leads
list, by the borrower's phone or customer id, under LEADS). Each: a save is post/redirect/get to the page saying
what was done; staff without the API's permission see no form and their post is a 403, nothing changed; bad input
is a 422 in words, nothing changed; another brand's record is a 404; the form posted twice runs once."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from domain.fieldwork.application import FieldWork
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_leads_api import HEADER, _upload
from tests.e2e.test_portal_edit_forms import _hidden, _member
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import mobile, settle

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests


@pytest.fixture
def portals(app: Any, platform: Any, staff: tuple[Tenant, str]) -> Iterator[dict[str, Any]]:
    """Brand A with its admin, a collection executive (Meena: COLLECTIONS, not COLLECTION_REALLOCATE_LOANS), a
    credit executive (no LEADS) and another agent (Ravi); brand B with its admin. Each signed in to the portal."""
    tenant, email = staff
    other = make_tenant(platform)
    meena_id, meena = _member(platform, tenant, "collection_executive", "Meena Das")
    ravi_id, _ = _member(platform, tenant, "collection_executive", "Ravi Rao")
    made: dict[str, Any] = {"tenant": tenant, "other": other, "meena_id": UUID(meena_id), "ravi_id": UUID(ravi_id)}
    emails = {
        "admin": email,
        "meena": meena,
        "credit_executive": _member(platform, tenant, "credit_executive")[1],
        "other_admin": _member(platform, other, "admin")[1],
    }
    opened = []
    try:
        for who, address in emails.items():
            browser, _ = _portal(app, address)
            opened.append(browser)
            made[who] = browser
        yield made
    finally:
        for browser in opened:
            browser.__exit__(None, None, None)


def _alert(page: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]*)<', page)
    assert found is not None, page[:600]
    return html.unescape(found.group(1))


# Field visits: reassign and cancel ---------------------------------------------------------------------------------


def test_a_manager_reassigns_and_cancels_a_visit_from_its_page(
    client: Any, platform: Any, portals: dict[str, Any]
) -> None:
    tenant, admin, meena = portals["tenant"], portals["admin"], portals["meena"]
    set_business_date(platform, tenant, D0)
    loan = disbursed_loan(platform, tenant)
    flagged = platform.get(FieldWork).flag_visit(tenant.brand_id, loan, portals["ravi_id"], "three promises missed")
    settle(platform, FieldWork.name)
    page, api = f"/field-visits/{flagged.id}", f"/api/v1/field-visits/{flagged.id}"

    def visit() -> tuple[str, str]:
        body = client.get(api, headers=tenant.auth).json()
        return body["assignee_id"], body["status"]

    # A manager (the admin) sees both forms; the agent the visit is with is not offered.
    opened = admin.get(page).text
    reassign = _form(opened, "reassign-form")
    assert f'value="{portals["meena_id"]}"' in reassign and f'value="{portals["ravi_id"]}"' not in reassign
    assert 'id="cancel-visit-form"' in opened

    # Bad input: 422 in words, nothing changed; the typed reason kept.
    fields = _hidden(opened, "reassign-form")
    staff_member = _member(platform, tenant, "credit_executive", "Not Afield")[0]  # may not work collections loans
    for wrong, words in (
        ("", "assignee: choose the field agent to send"),
        ("not-an-id", "assignee: choose the field agent to send"),
        (staff_member, "assignee id: not an enabled staff member of the brand who may work collections loans"),
        (str(uuid.uuid4()), "assignee id: not an enabled staff member"),
    ):
        bad = admin.post(f"{page}/reassign", data={**fields, "assignee_id": wrong})
        assert bad.status_code == 422 and words in _alert(bad.text), (wrong, bad.text[:400])
        assert 'id="reassign-form"' in bad.text
    short = admin.post(f"{page}/cancel", data={**_hidden(opened, "cancel-visit-form"), "reason": "x"})
    assert short.status_code == 422 and "reason" in _alert(short.text), short.text[:400]
    assert 'value="x"' in _form(short.text, "cancel-visit-form")
    # The agent it is with already: a conflict (409), said in words.
    same = admin.post(f"{page}/reassign", data={**fields, "assignee_id": str(portals["ravi_id"])})
    assert same.status_code == 409 and "already assigned to this agent" in _alert(same.text)
    assert visit() == (str(portals["ravi_id"]), "assigned")

    # Saved: post/redirect/get to the visit, which says so; the same form posted again runs once.
    fields = _hidden(admin.get(page).text, "reassign-form")
    saved = admin.post(f"{page}/reassign", data={**fields, "assignee_id": str(portals["meena_id"])})
    assert saved.status_code == 303 and saved.headers["location"] == f"{page}?done=reassigned", saved.text[:300]
    assert visit() == (str(portals["meena_id"]), "assigned")
    again = admin.post(f"{page}/reassign", data={**fields, "assignee_id": str(portals["meena_id"])})
    assert again.status_code == 303 and again.headers["location"] == saved.headers["location"]  # not a 409
    shown = admin.get(saved.headers["location"]).text
    assert 'id="visit-done"' in shown and "The visit was given to Meena Das." in html.unescape(shown)

    # Meena (COLLECTIONS, not COLLECTION_REALLOCATE_LOANS) sees the visit, now hers, without the forms; her posts
    # are refused (403) and change nothing.
    hers = meena.get(page)
    assert hers.status_code == 200 and 'id="reassign-form"' not in hers.text and "cancel-visit-form" not in hers.text
    token = _hidden(admin.get(page).text, "cancel-visit-form")["csrf_token"]
    meena_token = re.search(r'name="csrf-token" content="([^"]+)"', hers.text)
    assert meena_token is not None and meena_token.group(1) != token
    for action, data in (("reassign", {"assignee_id": str(portals["ravi_id"])}), ("cancel", {"reason": "not needed"})):
        refused = meena.post(f"{page}/{action}", data={"csrf_token": meena_token.group(1), **data})
        assert refused.status_code == 403, refused.text[:300]
    assert visit() == (str(portals["meena_id"]), "assigned")

    # Brand B's admin, by the visit's id: 404, nothing changed.
    other_admin = portals["other_admin"]
    b_token = re.search(r'name="csrf-token" content="([^"]+)"', other_admin.get("/dashboard").text)
    assert b_token is not None
    for action, data in (("reassign", {"assignee_id": str(portals["ravi_id"])}), ("cancel", {"reason": "not needed"})):
        stranger = other_admin.post(f"{page}/{action}", data={"csrf_token": b_token.group(1), **data})
        assert stranger.status_code == 404, stranger.text[:300]
    assert other_admin.get(page).status_code == 404
    assert visit() == (str(portals["meena_id"]), "assigned")

    # Cancelled: said on the page, which offers neither form any more.
    fields = _hidden(admin.get(page).text, "cancel-visit-form")
    cancelled = admin.post(f"{page}/cancel", data={**fields, "reason": "paid in full at the branch"})
    assert cancelled.status_code == 303 and cancelled.headers["location"] == f"{page}?done=cancelled"
    assert visit() == (str(portals["meena_id"]), "cancelled")
    after = admin.get(cancelled.headers["location"]).text
    assert "The visit was cancelled." in after and 'id="reassign-form"' not in after
    assert "paid in full at the branch" in after
    # A form of the page as it was before (another nonce): the visit is no longer open, a 409 in words.
    late = admin.post(
        f"{page}/reassign", data={**_hidden(opened, "reassign-form"), "assignee_id": str(portals["ravi_id"])}
    )
    assert late.status_code == 409 and "the visit is cancelled" in _alert(late.text)


# Leads: link to a borrower -----------------------------------------------------------------------------------------


def _lead(client: Any, tenant: Tenant, name: str) -> str:
    made = _upload(client, tenant, HEADER + f"1,,,,false,{name},{mobile()},\n")
    assert made.status_code == 201, made.text
    return str(made.json()["lines"][0]["lead_id"])


def test_a_lead_is_linked_to_its_borrower_by_phone_or_customer_id(
    client: Any, platform: Any, portals: dict[str, Any]
) -> None:
    tenant, other, admin = portals["tenant"], portals["other"], portals["admin"]
    phone = mobile()
    borrower = client.post("/api/v1/customers", json={"name": "Neel Kapoor", "phone": phone}, headers=tenant.auth)
    assert borrower.status_code == 201, borrower.text
    second = client.post("/api/v1/customers", json={"name": "Tara Sen", "phone": mobile()}, headers=tenant.auth)
    theirs_phone = mobile()
    theirs = client.post("/api/v1/customers", json={"name": "Farah B", "phone": theirs_phone}, headers=other.auth)
    assert second.status_code == 201 and theirs.status_code == 201
    by_phone, by_id = _lead(client, tenant, "Ira Lead"), _lead(client, tenant, "Om Lead")
    settle(platform, "leads")

    def lead(lead_id: str) -> tuple[Any, str]:
        body = client.get(f"/api/v1/leads/{lead_id}", headers=tenant.auth).json()
        return body["borrower_id"], body["status"]

    listed = admin.get("/leads").text
    fields = _hidden(listed, f"link-{by_phone}")
    action = f"/leads/{by_phone}/borrower"

    # Bad input: 422 in words, the lead unchanged, what was typed kept.
    unknown = mobile()
    for wrong, words in (
        ("", "borrower: give the borrower's phone or customer id"),
        (unknown, "borrower: no borrower of this brand has this phone number"),  # no such borrower
        (f"+91 {theirs_phone}", "borrower: no borrower of this brand has this phone number"),  # brand B's
        (theirs.json()["id"], "borrower id: no borrower with this id in the brand"),  # brand B's, by id
        ("DEMO-C-999999", "borrower: no borrower of this brand has this customer id or phone number"),
    ):
        bad = admin.post(action, data={**fields, "borrower": wrong})
        assert bad.status_code == 422 and words in _alert(bad.text), (wrong, bad.text[:400])
        assert f'value="{html.escape(wrong)}"' in _form(bad.text, f"link-{by_phone}")
    assert lead(by_phone) == (None, "new")

    # Staff without LEADS: no form on a page they cannot open, and a post is refused (403), nothing changed.
    ce = portals["credit_executive"]
    assert ce.get("/leads").status_code == 403
    ce_token = re.search(r'name="csrf-token" content="([^"]+)"', ce.get("/dashboard").text)
    assert ce_token is not None
    assert ce.post(action, data={"csrf_token": ce_token.group(1), "borrower": phone}).status_code == 403
    # Brand B's admin, by the lead's id (with B's own borrower): 404, nothing changed.
    other_admin = portals["other_admin"]
    b_token = re.search(r'name="csrf-token" content="([^"]+)"', other_admin.get("/dashboard").text)
    assert b_token is not None
    stranger = other_admin.post(action, data={"csrf_token": b_token.group(1), "borrower": theirs_phone})
    assert stranger.status_code == 404, stranger.text[:300]
    assert lead(by_phone) == (None, "new")

    # By phone, written as staff write it: linked and applied; the list says so, once however often it is posted.
    spaced = f"{phone[:5]} {phone[5:]}"
    linked = admin.post(action, data={**fields, "borrower": spaced})
    assert linked.status_code == 303 and linked.headers["location"] == f"/leads?linked={by_phone}", linked.text[:300]
    assert lead(by_phone) == (borrower.json()["id"], "applied")
    again = admin.post(action, data={**fields, "borrower": spaced})
    assert again.status_code == 303 and again.headers["location"] == linked.headers["location"]
    shown = admin.get(linked.headers["location"]).text
    assert "Ira Lead is linked to the borrower Neel Kapoor." in html.unescape(shown)
    assert f'id="link-{by_phone}"' not in shown and f'href="/customers/{borrower.json()["id"]}"' in shown
    # Linked already: another borrower is a conflict (409), said in words.
    other_borrower = admin.post(action, data={**_hidden(listed, f"link-{by_phone}"), "borrower": second.json()["id"]})
    assert other_borrower.status_code == 409 and "linked to another borrower already" in _alert(other_borrower.text)
    assert lead(by_phone) == (borrower.json()["id"], "applied")

    # By customer id.
    by_customer = admin.post(
        f"/leads/{by_id}/borrower", data={**_hidden(listed, f"link-{by_id}"), "borrower": second.json()["id"]}
    )
    assert by_customer.status_code == 303, by_customer.text[:300]
    assert lead(by_id) == (second.json()["id"], "applied")
