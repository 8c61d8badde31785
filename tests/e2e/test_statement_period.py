"""Staff state (or correct) the months a bank statement covers after its upload: `POST /documents/{id}/period`
moves the checklist's coverage from "period not given" to the months stated, the same months again record nothing,
bad months are refused naming the field with nothing written, another brand's statement is a 404 and a role that
cannot review documents a 403; on the Customer 360, a statement without its months has a small form to state them,
its refusals shown at the form."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.testclient import TestClient

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_statement_months import (
    _customer,
    _events,
    _fields,
    _months_back,
    _pdf,
    _staff_upload,
    _this_month,
)
from tests.support import settle

PASSWORD = "statement-period-2026"


def _period(client: Any, auth: dict[str, str], document: str, first: str, last: str, **headers: str) -> Any:
    body = {"period_from": first, "period_to": last}
    return client.post(f"/api/v1/documents/{document}/period", json=body, headers=auth | headers)


def test_stating_a_statements_months_moves_the_checklist_from_period_not_given_to_the_months_covered(
    client: Any, platform: Any, tenant: Tenant, dsn: str
) -> None:
    customer = _customer(client, tenant)
    required = _months_back(3)
    uploaded = _staff_upload(client, tenant, customer, _pdf("no months"))
    assert uploaded.status_code == 201 and uploaded.json()["period_from"] is None
    document = uploaded.json()["id"]
    settle(platform, "documents")
    url = f"/api/v1/customers/{customer}/document-checklist"
    before = client.get(url, headers=tenant.auth).json()["bank_statements"]
    assert before["period_not_given"] == 1 and before["covered"] == [] and before["missing"] == required

    stated = _period(client, tenant.auth, document, required[0], _this_month())
    assert stated.status_code == 200, stated.text
    assert (stated.json()["id"], stated.json()["period_from"], stated.json()["period_to"]) == (
        document,
        required[0],
        _this_month(),
    )
    after = client.get(url, headers=tenant.auth).json()["bank_statements"]
    assert after["period_not_given"] == 0 and after["missing"] == [] and after["complete"] is True
    assert after["covered"] == [*required, _this_month()]
    assert after["summary"] == f"{required[0]}..{_this_month()} (3 of 3 months)"

    written = _events(dsn)
    again = _period(client, tenant.auth, document, required[0], _this_month())
    assert again.status_code == 200 and again.json()["period_to"] == _this_month()
    assert _events(dsn) == written  # the same months again: nothing recorded

    corrected = _period(client, tenant.auth, document, required[1], _this_month())
    assert corrected.status_code == 200 and corrected.json()["period_from"] == required[1]
    gap = client.get(url, headers=tenant.auth).json()["bank_statements"]
    assert gap["missing"] == [required[0]] and gap["complete"] is False

    stale = _period(client, tenant.auth, document, required[0], _this_month(), **{"If-Match": '"1"'})
    assert stale.status_code == 409, stale.text  # the document is at version 3 now
    assert _events(dsn) == written + 1


def test_bad_months_a_wrong_kind_and_a_rejected_statement_are_refused_with_nothing_written(
    client: Any, platform: Any, tenant: Tenant, dsn: str
) -> None:
    customer = _customer(client, tenant)
    first, _, last = _months_back(3)
    document = _staff_upload(client, tenant, customer, _pdf("to state")).json()["id"]
    written = _events(dsn)
    assert _fields(_period(client, tenant.auth, document, "2026-13", last)) == ["period_from"]
    assert _fields(_period(client, tenant.auth, document, last, first)) == ["period_to"]  # backwards
    assert _fields(_period(client, tenant.auth, document, "", "")) == ["period_from", "period_to"]
    missing = client.post(f"/api/v1/documents/{document}/period", json={"period_from": first}, headers=tenant.auth)
    assert missing.status_code == 422 and "period_to" in missing.text
    pan = client.post(
        f"/api/v1/customers/{customer}/documents",
        data={"kind": "pan_card"},
        files={"file": ("pan.pdf", _pdf("pan"), "application/pdf")},
        headers=tenant.auth,
    ).json()["id"]
    written = _events(dsn)
    assert _fields(_period(client, tenant.auth, pan, first, last)) == ["period_from"]
    assert _events(dsn) == written

    review = {"decision": "rejected", "reason": "another account"}
    assert client.post(f"/api/v1/documents/{document}/review", json=review, headers=tenant.auth).status_code == 200
    written = _events(dsn)
    assert _period(client, tenant.auth, document, first, last).status_code == 409
    assert _events(dsn) == written


def test_another_brands_statement_is_not_found_and_a_role_that_cannot_review_is_refused(
    client: Any, platform: Any, tenant: Tenant, dsn: str
) -> None:
    first, _, last = _months_back(3)
    document = _staff_upload(client, tenant, _customer(client, tenant), _pdf("ours")).json()["id"]
    written = _events(dsn)
    other = make_tenant(platform)
    assert _period(client, other.auth, document, first, last).status_code == 404
    viewer = platform.get(Identity).issue_api_key(tenant.brand_id, "collection_executive", "viewer", granter=OPERATOR)
    settle(platform, "identity", viewer.position)
    auth = {"Authorization": f"Bearer {viewer.secret}"}
    assert client.get(f"/api/v1/documents/{document}", headers=auth).status_code == 200
    denied = _period(client, auth, document, first, last)
    assert denied.status_code == 403 and denied.json()["permission"] == "CUSTOMER"
    assert _events(dsn) == written
    assert client.get(f"/api/v1/documents/{document}", headers=tenant.auth).json()["period_from"] is None


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_customer_360_states_a_statements_months_at_its_row_and_shows_a_refusal_there(
    app: Any, client: Any, platform: Any, tenant: Tenant, dsn: str
) -> None:
    customer = _customer(client, tenant)
    required = _months_back(3)
    document = _staff_upload(client, tenant, customer, _pdf("portal")).json()["id"]
    given = _staff_upload(client, tenant, customer, _pdf("given"), period_from=required[0], period_to=required[0])
    email = f"period-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(tenant.brand_id, email, "Nina Ops", ["admin"], PASSWORD, granter=OPERATOR)
    settle(platform, "identity")
    settle(platform, "documents")
    page_url = f"/customers/{customer}"
    action = f"/customers/{customer}/documents/{document}/period"
    with TestClient(app, follow_redirects=False) as staff:
        assert staff.post("/login", data={"email": email, "password": PASSWORD}).status_code in (302, 303)
        card = staff.get(page_url).text
        assert f'id="period-form-{document}"' in card and f'action="{action}"' in card
        assert f'id="period-form-{given.json()["id"]}"' not in card  # its months were given at upload
        assert 'data-period-not-given="1"' in card
        csrf = _csrf(card)

        written = _events(dsn)
        refused = staff.post(action, data={"csrf_token": csrf, "period_from": required[2], "period_to": required[0]})
        assert refused.status_code == 422
        error = re.search(rf'id="period-error-{document}" data-fields="([^"]*)">([^<]+)<', refused.text)
        assert error is not None and error.group(1) == "period_to" and "before period_from" in error.group(2)
        assert f'value="{required[2]}"' in refused.text  # what was typed is kept
        assert _events(dsn) == written

        no_token = staff.post(action, data={"period_from": required[1], "period_to": required[2]})
        assert no_token.status_code == 403 and _events(dsn) == written

        other = make_tenant(platform)
        theirs = _staff_upload(client, other, _customer(client, other), _pdf("theirs")).json()["id"]
        written = _events(dsn)
        stray = staff.post(
            f"/customers/{customer}/documents/{theirs}/period",
            data={"csrf_token": csrf, "period_from": required[1], "period_to": required[2]},
        )
        assert stray.status_code == 404 and _events(dsn) == written

        stated = staff.post(action, data={"csrf_token": csrf, "period_from": required[1], "period_to": required[2]})
        assert stated.status_code == 303, stated.text
        assert stated.headers["location"] == f"{page_url}#customer-documents"
        card = staff.get(page_url).text
    assert f'id="period-form-{document}"' not in card
    assert f'data-period="{required[1]}">{required[1]}..{required[2]}<' in card
    line = re.search(r'id="document-checklist-statement-months"[^>]*data-complete="(\w+)"[^>]*>([^<]+)<', card)
    assert line is not None and line.group(1) == "true"
    assert line.group(2) == f"Bank statements: {required[0]}..{required[2]} (3 of 3 months)"


def test_customer_360_says_why_months_were_refused_for_a_statement_rejected_since_the_page_was_read(
    app: Any, client: Any, platform: Any, tenant: Tenant, dsn: str
) -> None:
    # The row of a rejected statement has no months form, so the refusal is said at the row itself: the 409 had
    # re-rendered the page without a word of why.
    first, _, last = _months_back(3)
    with _card_with_a_months_form(app, client, platform, tenant, "rejected meanwhile") as (staff, card, document):
        action = f"/customers/{_customer_of(card)}/documents/{document}/period"
        review = {"decision": "rejected", "reason": "another person's account"}
        assert client.post(f"/api/v1/documents/{document}/review", json=review, headers=tenant.auth).status_code == 200
        settle(platform, "documents")
        written = _events(dsn)
        refused = staff.post(action, data={"csrf_token": _csrf(card), "period_from": first, "period_to": last})
    assert refused.status_code == 409 and _events(dsn) == written
    assert f'id="period-form-{document}"' not in refused.text  # rejected: no form to correct
    error = re.search(rf'id="period-error-{document}"[^>]*>([^<]+)<', refused.text)
    assert error is not None and "rejected" in error.group(1)


def test_customer_360_does_not_replace_months_another_staff_member_stated_since_the_page_was_read(
    app: Any, client: Any, platform: Any, tenant: Tenant, dsn: str
) -> None:
    """The form is offered while the statement says no months; a page read before another staff member stated them
    replaced their months with its own without a word (the statement's coverage feeds the credit checks)."""
    first, middle, last = _months_back(3)
    with _card_with_a_months_form(app, client, platform, tenant, "stated meanwhile") as (staff, card, document):
        action = f"/customers/{_customer_of(card)}/documents/{document}/period"
        stated = _period(client, tenant.auth, document, first, last)  # another staff member, meanwhile
        assert stated.status_code == 200, stated.text
        settle(platform, "documents")
        written = _events(dsn)
        refused = staff.post(action, data={"csrf_token": _csrf(card), "period_from": middle, "period_to": last})
        assert refused.status_code == 409 and _events(dsn) == written, refused.text[:300]
        error = re.search(rf'id="period-error-{document}"[^>]*>([^<]+)<', refused.text)
        assert error is not None and "stated meanwhile" in error.group(1) and first in error.group(1)
        same = staff.post(action, data={"csrf_token": _csrf(card), "period_from": first, "period_to": last})
        assert same.status_code == 303 and _events(dsn) == written  # the months it says: nothing to change


@contextmanager
def _card_with_a_months_form(
    app: Any, client: Any, platform: Any, tenant: Tenant, text: str
) -> Iterator[tuple[TestClient, str, str]]:
    """A staff member signed in on a borrower's Customer 360 showing a statement (of `text`) without its months, its
    months form offered: (the staff client, the card's HTML, the statement's id)."""
    customer = _customer(client, tenant)
    document = _staff_upload(client, tenant, customer, _pdf(text)).json()["id"]
    email = f"period-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(tenant.brand_id, email, "Nina Ops", ["admin"], PASSWORD, granter=OPERATOR)
    settle(platform, "identity")
    settle(platform, "documents")
    with TestClient(app, follow_redirects=False) as staff:
        assert staff.post("/login", data={"email": email, "password": PASSWORD}).status_code in (302, 303)
        card = staff.get(f"/customers/{customer}").text
        assert f'id="period-form-{document}"' in card
        yield staff, card, document


def _customer_of(card: str) -> str:
    """The borrower's id on their Customer 360 page (its months forms' address)."""
    found = re.search(r'action="/customers/([0-9a-f-]{36})/documents/', card)
    assert found is not None
    return found.group(1)
