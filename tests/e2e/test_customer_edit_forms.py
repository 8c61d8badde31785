"""The Customer 360's forms for what staff could change about a borrower's record only through the API: the profile
(the API's PATCH, with the version the page showed), an address added or removed (the PATCH's address list, with
that version), an alternate phone added or removed (used for collection follow-up) and an outside loan number linked
(what repayment notices are matched by). Each: saved, post/redirect/get to the 360 with a flash, the change in the
record's audit history as the API's own change is (same event, the staff member as actor); a stale version (the
versioned ones) a 409 in words with the record now, nothing saved, what was typed kept; bad input a 422 naming the
field; staff without CUSTOMER WRITE see no form and their post is a 403; another brand's borrower a 404."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Tenant, make_tenant
from tests.e2e.test_portal_edit_forms import CHANGED_SINCE, _csrf, _hidden, _member, _said
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import mobile, settle


@pytest.fixture
def desk(app: Any, platform: Any) -> Iterator[dict[str, Any]]:
    """Brand A with a borrower, its admin (id and portal), a Collection Executive (CUSTOMER READ, no WRITE), and
    brand B's admin, each signed in to the portal; an API key client for each brand."""
    tenant, other = make_tenant(platform), make_tenant(platform)
    admin_id, admin_email = _member(platform, tenant, "admin", "Asha Admin")
    made: dict[str, Any] = {"tenant": tenant, "other": other, "admin_id": admin_id}
    emails = {
        "admin": admin_email,
        "collector": _member(platform, tenant, "collection_executive")[1],
        "other_admin": _member(platform, other, "admin")[1],
    }
    opened: list[TestClient] = []
    try:
        for who, address in emails.items():
            browser, _ = _portal(app, address)
            opened.append(browser)
            made[who] = browser
        yield made
    finally:
        for browser in opened:
            browser.__exit__(None, None, None)


def _borrower(client: Any, platform: Any, tenant: Tenant, **extra: Any) -> tuple[str, str]:
    """A borrower of the brand: its id and primary phone."""
    phone = mobile()
    made = client.post("/api/v1/customers", json={"name": "Kavya Rao", "phone": phone, **extra}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    settle(platform, "customers")
    return str(made.json()["id"]), phone


def _record(client: Any, tenant: Tenant, customer: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/api/v1/customers/{customer}", headers=tenant.auth).json()
    return found


def _history(client: Any, tenant: Tenant, customer: str) -> list[dict[str, Any]]:
    found = client.get(f"/api/v1/audit/customer_record/{customer}/history", headers=tenant.auth)
    assert found.status_code == 200, found.text
    events: list[dict[str, Any]] = found.json()["events"]
    return events


def _saved(browser: TestClient, posted: Any, customer: str, changed: str, words: str) -> str:
    """A save answered post/redirect/get to the 360, which flashes `words`: the page."""
    assert posted.status_code == 303, posted.text[:400]
    assert posted.headers["location"] == f"/customers/{customer}?changed={changed}#customer-edit"
    page = browser.get(posted.headers["location"]).text
    assert _said(page, "customer-saved") == words
    return page


def _refused_elsewhere(desk: dict[str, Any], customer: str, action: str, data: dict[str, str]) -> None:
    """A Collection Executive (CUSTOMER READ only) sees the 360 without the edit card and is refused the post (403);
    brand B's admin gets a 404 for the borrower's page and for the post."""
    collector, theirs = desk["collector"], desk["other_admin"]
    seen = collector.get(f"/customers/{customer}")
    assert seen.status_code == 200 and 'id="customer-edit"' not in seen.text
    assert collector.post(action, data={"csrf_token": _csrf(collector), **data}).status_code == 403
    assert theirs.get(f"/customers/{customer}").status_code == 404
    posted = theirs.post(action, data={"csrf_token": _csrf(theirs), **data})
    assert posted.status_code == 404, posted.text[:300]


def test_the_profile_is_edited_from_the_customer_360_with_the_version_it_showed(
    client: Any, platform: Any, desk: dict[str, Any]
) -> None:
    tenant, admin = desk["tenant"], desk["admin"]
    customer, phone = _borrower(client, platform, tenant)
    page, api, action, form = f"/customers/{customer}", f"/api/v1/customers/{customer}", "", "profile-form"
    action = f"{page}/profile"
    shown = {"name": "Kavya Rao", "phone": phone, "email": "", "pan": "", "date_of_birth": ""}

    # Saved: the API's change (DetailsUpdated), by the staff member, and the 360 shows it.
    fields = _hidden(admin.get(page).text, form)
    assert fields["expected_version"] == "1"
    data = {**shown, "name": "Kavya R Rao", "email": "kavya@example.in", "date_of_birth": "1990-04-02"}
    after = _saved(admin, admin.post(action, data={**fields, **data}), customer, "profile", "Profile saved.")
    record = _record(client, tenant, customer)
    assert (record["name"], record["email"], record["date_of_birth"], record["version"]) == (
        "Kavya R Rao", "kavya@example.in", "1990-04-02", 2)  # fmt: skip
    assert 'value="kavya@example.in"' in _form(after, form)
    last = _history(client, tenant, customer)[-1]
    assert (last["event"], last["actor"], last["version"]) == ("DetailsUpdated", f"staff:{desk['admin_id']}", 2)
    assert any(e["kind"] == "details_updated" and e["actor"] == f"staff:{desk['admin_id']}"
               for e in record["timeline"])  # fmt: skip

    # A form opened before someone else's change: 409 in words with the profile now, nothing saved, input kept.
    stale = _hidden(admin.get(page).text, form)
    other = client.patch(api, json={"name": "Kavya Iyer"}, headers=tenant.auth | {"If-Match": '"2"'})
    assert other.status_code == 200, other.text
    refused = admin.post(action, data={**stale, **data, "name": "Kavya Typed"})
    assert refused.status_code == 409, refused.text[:300]
    now = f"name Kavya Iyer, phone +91{phone}, email kavya@example.in, PAN none, date of birth 1990-04-02"
    assert CHANGED_SINCE.format("this borrower's profile", now) in _said(refused.text, "profile-error")
    kept = _form(refused.text, form)
    assert 'value="Kavya Typed"' in kept and 'name="expected_version" value="3"' in kept
    assert (_record(client, tenant, customer)["name"], _record(client, tenant, customer)["version"]) == (
        "Kavya Iyer",
        3,
    )

    # Bad input: 422 naming the field, nothing saved, what was typed kept.
    fields = _hidden(admin.get(page).text, form)
    for wrong, words in (({"phone": "12345"}, "phone"), ({"email": "not-an-email"}, "email"),
                         ({"email": ""}, "email: an email cannot be removed, only changed"),
                         ({"pan": "ABC"}, "pan"), ({"date_of_birth": "02/04/1990"}, "date of birth")):  # fmt: skip
        bad = admin.post(action, data={**fields, **data, "name": "Kavya Iyer", **wrong})
        assert bad.status_code == 422, (wrong, bad.text[:300])
        assert words in _said(bad.text, "profile-error"), (wrong, _said(bad.text, "profile-error"))
    assert 'value="12345"' not in _form(admin.get(page).text, form)
    assert _record(client, tenant, customer)["version"] == 3

    _refused_elsewhere(desk, customer, action, {**data, "expected_version": "3"})
    assert (_record(client, tenant, customer)["name"], _record(client, tenant, customer)["version"]) == (
        "Kavya Iyer",
        3,
    )


def test_an_address_is_added_and_removed_from_the_customer_360_with_the_version_it_showed(
    client: Any, platform: Any, desk: dict[str, Any]
) -> None:
    tenant, admin = desk["tenant"], desk["admin"]
    home = {"kind": "current", "line1": "12 MG Road", "city": "Pune", "pincode": "411001"}
    customer, _ = _borrower(client, platform, tenant, addresses=[home])
    page, api, action = f"/customers/{customer}", f"/api/v1/customers/{customer}", f"/customers/{customer}/addresses"
    office = {"kind": "office", "line1": "4 Park St", "line2": "Floor 2", "city": "Kolkata", "state": "WB",
              "pincode": "700016"}  # fmt: skip

    # Added after the one the record has (the API's PATCH with the list), by the staff member.
    fields = _hidden(admin.get(page).text, "address-form")
    _saved(admin, admin.post(action, data={**fields, **office}), customer, "address-added", "Address added.")
    record = _record(client, tenant, customer)
    assert [(a["kind"], a["city"], a["line2"]) for a in record["addresses"]] == [
        ("current", "Pune", None), ("office", "Kolkata", "Floor 2")]  # fmt: skip
    last = _history(client, tenant, customer)[-1]
    assert (last["event"], last["actor"]) == ("DetailsUpdated", f"staff:{desk['admin_id']}")

    # Removed: the first one (the Remove button next to it).
    opened = admin.get(page).text
    removed = admin.post(f"{action}/remove", data=_hidden(opened, "remove-address-0"))
    _saved(admin, removed, customer, "address-removed", "Address removed.")
    assert [a["city"] for a in _record(client, tenant, customer)["addresses"]] == ["Kolkata"]
    assert _history(client, tenant, customer)[-1]["event"] == "DetailsUpdated"
    version = _record(client, tenant, customer)["version"]

    # Opened before someone else's change: 409 in words with the addresses now, nothing saved, input kept.
    opened = admin.get(page).text
    stale_add, stale_remove = _hidden(opened, "address-form"), _hidden(opened, "remove-address-0")
    other = client.patch(api, json={"addresses": [home]}, headers=tenant.auth | {"If-Match": f'"{version}"'})
    assert other.status_code == 200, other.text
    refused = admin.post(action, data={**stale_add, **office, "line1": "9 Typed Lane"})
    assert refused.status_code == 409, refused.text[:300]
    assert CHANGED_SINCE.format("this borrower's addresses", "current: 12 MG Road, Pune, 411001") in _said(
        refused.text, "address-error"
    )
    kept = _form(refused.text, "address-form")
    assert 'value="9 Typed Lane"' in kept and f'name="expected_version" value="{version + 1}"' in kept
    gone = admin.post(f"{action}/remove", data=stale_remove)  # the button was next to the Kolkata address
    assert gone.status_code == 409 and "Someone else changed" in _said(gone.text, "address-error")
    assert [a["city"] for a in _record(client, tenant, customer)["addresses"]] == ["Pune"]

    # Bad input: 422 naming the field, nothing saved.
    fields = _hidden(admin.get(page).text, "address-form")
    bad = admin.post(action, data={**fields, **office, "pincode": "011001"})
    assert bad.status_code == 422 and "not a valid pincode" in _said(bad.text, "address-error"), bad.text[:300]
    assert 'value="011001"' in _form(bad.text, "address-form")
    missing = admin.post(action, data={**fields, **office, "city": ""})
    assert missing.status_code == 422 and "city: required" in _said(missing.text, "address-error")
    assert _record(client, tenant, customer)["version"] == version + 1

    _refused_elsewhere(desk, customer, action, {**office, "expected_version": str(version + 1)})
    assert _record(client, tenant, customer)["version"] == version + 1


def test_an_alternate_phone_is_added_and_removed_from_the_customer_360(
    client: Any, platform: Any, desk: dict[str, Any]
) -> None:
    tenant, admin = desk["tenant"], desk["admin"]
    customer, phone = _borrower(client, platform, tenant)
    page, action = f"/customers/{customer}", f"/customers/{customer}/alternate-phones"
    brother = mobile()
    kept_as = f"+91{brother}"  # as the record keeps a phone

    # Added (the API's alternate phone, with its label), by the staff member; the 360 lists it.
    fields = _hidden(admin.get(page).text, "alternate-phone-form")
    posted = admin.post(action, data={**fields, "phone": brother, "label": "brother"})
    shown = _saved(admin, posted, customer, "phone-added", "Alternate phone added.")
    assert f'data-phone="{kept_as}"' in shown
    assert _record(client, tenant, customer)["alternate_phones"] == [{"phone": kept_as, "label": "brother"}]
    last = _history(client, tenant, customer)[-1]
    assert (last["event"], last["actor"]) == ("AlternatePhoneAdded", f"staff:{desk['admin_id']}")

    # Bad input: 422 naming the field, nothing saved, what was typed kept.
    fields = _hidden(admin.get(page).text, "alternate-phone-form")
    for wrong, words in (({"phone": "12"}, "phone"), ({"phone": phone}, "the borrower's primary phone"),
                         ({"phone": mobile(), "label": "x" * 61}, "label: at most 60 characters")):  # fmt: skip
        bad = admin.post(action, data={**fields, **wrong})
        assert bad.status_code == 422 and words in _said(bad.text, "alternate-phone-error"), (wrong, bad.text[:300])
    again = admin.post(action, data={**fields, "phone": brother, "label": "typed"})
    assert again.status_code == 409 and "already an alternate phone" in _said(again.text, "alternate-phone-error")
    assert 'value="typed"' in _form(again.text, "alternate-phone-form")
    assert len(_record(client, tenant, customer)["alternate_phones"]) == 1

    # Removed (the Remove button next to it); a second press of a page kept open says it is gone, 409.
    remove = _hidden(admin.get(page).text, f"remove-phone-{kept_as}")
    _saved(admin, admin.post(f"{action}/remove", data=remove), customer, "phone-removed", "Alternate phone removed.")
    assert _record(client, tenant, customer)["alternate_phones"] == []
    assert _history(client, tenant, customer)[-1]["event"] == "AlternatePhoneRemoved"
    twice = admin.post(f"{action}/remove", data={**remove, "form_nonce": uuid.uuid4().hex})
    assert twice.status_code == 409 and "not an alternate phone" in _said(twice.text, "alternate-phone-error")
    version = _record(client, tenant, customer)["version"]

    _refused_elsewhere(desk, customer, action, {"phone": mobile()})
    _refused_elsewhere(desk, customer, f"{action}/remove", {"phone": brother})
    assert _record(client, tenant, customer)["version"] == version


def test_an_outside_loan_number_is_linked_from_the_customer_360(
    client: Any, platform: Any, desk: dict[str, Any]
) -> None:
    tenant, admin = desk["tenant"], desk["admin"]
    customer, _ = _borrower(client, platform, tenant)
    someone_else, _ = _borrower(client, platform, tenant, loan_numbers=["SML-TAKEN-1"])
    page, action = f"/customers/{customer}", f"/customers/{customer}/loan-numbers"

    # Linked (the API's LoanNumberLinked), by the staff member; linking it again changes nothing and says so.
    fields = _hidden(admin.get(page).text, "loan-number-form")
    posted = admin.post(action, data={**fields, "loan_number": "SML-000123"})
    _saved(admin, posted, customer, "loan-linked", "Loan number linked.")
    assert _record(client, tenant, customer)["loan_numbers"] == ["SML-000123"]
    last = _history(client, tenant, customer)[-1]
    assert (last["event"], last["actor"]) == ("LoanNumberLinked", f"staff:{desk['admin_id']}")
    version = _record(client, tenant, customer)["version"]
    fields = _hidden(admin.get(page).text, "loan-number-form")
    already = admin.post(action, data={**fields, "loan_number": "SML-000123"})
    _saved(admin, already, customer, "loan-already",
           "That loan number was already linked to this borrower; nothing changed.")  # fmt: skip
    assert _record(client, tenant, customer)["version"] == version

    # Bad input (422) and another borrower's number (409): said at the form, what was typed kept, nothing linked.
    bad = admin.post(action, data={**fields, "loan_number": "no spaces allowed here!"})
    assert bad.status_code == 422 and "loan number" in _said(bad.text, "loan-number-error"), bad.text[:300]
    taken = admin.post(action, data={**fields, "loan_number": "SML-TAKEN-1"})
    assert taken.status_code == 409, taken.text[:300]
    assert 'value="SML-TAKEN-1"' in _form(taken.text, "loan-number-form")
    assert _record(client, tenant, customer)["loan_numbers"] == ["SML-000123"]
    assert _record(client, tenant, someone_else)["loan_numbers"] == ["SML-TAKEN-1"]

    _refused_elsewhere(desk, customer, action, {"loan_number": "SML-999"})
    assert _record(client, tenant, customer)["loan_numbers"] == ["SML-000123"]
