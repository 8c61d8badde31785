"""The portal's long lists are paged (keyset, "Older →" with a cursor) and filtered: the blocklist (by kind, found
by its value), field visits (by status, a manager's by agent) and the approvers' queues and their history. Before,
each showed only its newest 200 or 100 rows, with no way to reach the rest: a blocked value past them could not be
found or removed from the portal. Walking the pages finds every row of the brand exactly once; a filter narrows;
another brand's rows never appear."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from api.pages import blocklist as blocklist_pages
from api.pages import fieldwork_visits as visit_pages
from api.pages import recoveries as recovery_pages
from domain.blocklist.application import Blocklists
from domain.blocklist.entry import BlockKind
from domain.fieldwork.application import FieldWork
from domain.loans.application import Loans
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_fieldwork_api import _agent
from tests.e2e.test_portal_edit_forms import _member
from tests.e2e.test_recoveries_api import _overdue_loan
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import mobile, settle
from tests.unit.test_access_domain import _verhoeff_complete

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests


@pytest.fixture
def admin(app: Any, staff: tuple[Tenant, str]) -> Iterator[tuple[Tenant, TestClient, str]]:
    """Brand A's admin signed in to the portal: the brand, the browser, the CSRF token."""
    tenant, email = staff
    browser, csrf = _portal(app, email)
    try:
        yield tenant, browser, csrf
    finally:
        browser.__exit__(None, None, None)


def _walk(browser: TestClient, first: str, row: str, older_id: str) -> tuple[list[str], list[str]]:
    """Every row id (`row`: the rows' id attribute) of the pages from `first`, following "Older →" (`older_id`)
    until the last page; and the addresses of the pages read."""
    ids: list[str] = []
    pages: list[str] = []
    url: str | None = first
    while url is not None:
        assert len(pages) < 20, pages  # a pager that loops would never end
        page = browser.get(url)
        assert page.status_code == 200, page.text[:300]
        pages.append(url)
        ids += re.findall(rf'<tr {row}="([0-9a-f-]+)"', page.text)
        older = re.search(rf'<a href="([^"]+)" id="{older_id}"', page.text)
        url = html.unescape(older.group(1)) if older else None
    return ids, pages


# The blocklist -----------------------------------------------------------------------------------------------------


def _pan(n: int, tail: str = "Q") -> str:
    return f"AAAPL{n:04d}{tail}"


def test_the_blocklist_is_paged_filtered_by_kind_and_found_by_value(
    app: Any, platform: Any, admin: tuple[Tenant, TestClient, str]
) -> None:
    tenant, browser, csrf = admin
    other = make_tenant(platform)
    blocklists: Blocklists = platform.get(Blocklists)
    size = blocklist_pages.PAGE_SIZE
    pans = [_pan(n) for n in range(2 * size + 10)]  # three pages of PANs
    phones = [mobile() for _ in range(4)]
    aadhaar = _verhoeff_complete("23412341234")
    ids: dict[str, str] = {}
    for pan in pans:
        ids[pan] = str(blocklists.add(tenant.brand_id, BlockKind.PAN, pan, "fraud ring").id)
    for phone in phones:
        ids[phone] = str(blocklists.add(tenant.brand_id, BlockKind.MOBILE, phone, "fraud ring").id)
    ids[aadhaar] = str(blocklists.add(tenant.brand_id, BlockKind.AADHAAR, aadhaar, "forged card").id)
    # Brand B blocks the same first PAN and a PAN of its own: neither of its entries is ever A's.
    theirs = {
        str(blocklists.add(other.brand_id, BlockKind.PAN, pans[0], "their own").id),
        str(blocklists.add(other.brand_id, BlockKind.PAN, _pan(9999, "Z"), "their own").id),
    }
    settle(platform, Blocklists.name)

    # Every entry of the brand once, newest first, in pages of PAGE_SIZE; none of B's.
    walked, pages = _walk(browser, "/blocklist", "data-entry", "blocklist-older")
    assert len(pages) == math.ceil(len(ids) / size) == 3
    assert len(walked) == len(set(walked)) == len(ids) and set(walked) == set(ids.values())
    assert walked[0] == ids[aadhaar] and walked[-1] == ids[pans[0]]  # newest first: the oldest on the last page
    assert not theirs & set(walked)
    older_page = browser.get(pages[1]).text
    assert 'id="blocklist-newest"' in older_page  # back to the first page from an older one

    # By kind: the mobiles alone.
    mobiles, _ = _walk(browser, "/blocklist?kind=mobile", "data-entry", "blocklist-older")
    assert sorted(mobiles) == sorted(ids[p] for p in phones)
    # By value: the oldest PAN (past the first pages), typed in lower case; a mobile written another way; the
    # Aadhaar by its last four digits (all that is shown of it) and by the whole number with spaces.
    for query, expected in (
        (f"/blocklist?q={pans[0].lower()}", ids[pans[0]]),
        (f"/blocklist?kind=mobile&q={phones[1][:5]}+{phones[1][5:]}", ids[phones[1]]),
        (f"/blocklist?q={aadhaar[-4:]}", ids[aadhaar]),
        (f"/blocklist?q={aadhaar[:4]}+{aadhaar[4:8]}+{aadhaar[8:]}", ids[aadhaar]),
    ):
        found, _ = _walk(browser, query, "data-entry", "blocklist-older")
        assert found == [expected], query
    # A part of a value pages through its matches with the search kept in the links.
    part, part_pages = _walk(browser, "/blocklist?q=AAAPL00", "data-entry", "blocklist-older")
    assert sorted(part) == sorted(ids[p] for p in pans[:100]) and len(part_pages) == 2
    assert "q=AAAPL00" in part_pages[1]
    nothing = browser.get(f"/blocklist?kind=mobile&q={pans[0]}")
    assert nothing.status_code == 200 and "Nothing matches." in nothing.text
    # B's admin searching A's values finds only B's own.
    other_browser, _ = _portal(app, _member(platform, other, "admin", "Brand B Admin")[1])
    try:
        found_by_b, _ = _walk(other_browser, f"/blocklist?q={pans[0]}", "data-entry", "blocklist-older")
        assert set(found_by_b) <= theirs and len(found_by_b) == 1
        assert _walk(other_browser, f"/blocklist?q={pans[5]}", "data-entry", "blocklist-older")[0] == []
    finally:
        other_browser.__exit__(None, None, None)

    # The oldest entry, found by its value, is removed from the filtered list, which it comes back to.
    action = f"/blocklist/{ids[pans[0]]}/remove?q={pans[0]}"
    removed = browser.post(action, data={"csrf_token": csrf, "reason": "cleared by the bureau"})
    assert removed.status_code == 303 and removed.headers["location"] == f"/blocklist?q={pans[0]}", removed.text
    assert _walk(browser, f"/blocklist?q={pans[0]}", "data-entry", "blocklist-older")[0] == []
    gone, _ = _walk(browser, f"/blocklist?show=removed&q={pans[0]}", "data-entry", "blocklist-older")
    assert gone == [ids[pans[0]]]


def test_the_blocklist_api_finds_a_value_and_pages_with_it(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    phone = mobile()
    made = client.post(
        "/api/v1/blocklist", json={"kind": "mobile", "value": phone, "reason": "fraud ring"}, headers=tenant.auth
    )
    assert made.status_code == 201, made.text
    for n in range(3):
        client.post("/api/v1/blocklist", json={"kind": "pan", "value": _pan(n), "reason": "x y z"}, headers=tenant.auth)
    found = client.get(f"/api/v1/blocklist?q=+91{phone}", headers=tenant.auth)
    assert found.status_code == 200 and [e["id"] for e in found.json()["items"]] == [made.json()["id"]]
    first = client.get("/api/v1/blocklist?q=AAAPL&limit=2", headers=tenant.auth).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(f"/api/v1/blocklist?q=AAAPL&limit=2&cursor={first['next_cursor']}", headers=tenant.auth)
    assert rest.status_code == 200 and len(rest.json()["items"]) == 1
    # The cursor is bound to its search: with another one it is refused, not read at the wrong place.
    mixed = client.get(f"/api/v1/blocklist?q=AAAPL0&limit=2&cursor={first['next_cursor']}", headers=tenant.auth)
    assert mixed.status_code == 422 and "cursor" in mixed.text


# Field visits ------------------------------------------------------------------------------------------------------


def test_field_visits_are_paged_and_filtered_by_status_and_agent(
    platform: Any, admin: tuple[Tenant, TestClient, str]
) -> None:
    tenant, browser, _ = admin
    other = make_tenant(platform)
    size = visit_pages.PAGE_SIZE
    fieldwork: FieldWork = platform.get(FieldWork)
    set_business_date(platform, tenant, D0)
    set_business_date(platform, other, D0)
    loan, their_loan = disbursed_loan(platform, tenant), disbursed_loan(platform, other)
    ravi, meena, their_agent = _agent(platform, tenant), _agent(platform, tenant), _agent(platform, other)
    ravis = [str(fieldwork.flag_visit(tenant.brand_id, loan, ravi, f"visit {n}").id) for n in range(size + 5)]
    meenas = [str(fieldwork.flag_visit(tenant.brand_id, loan, meena, f"visit {n}").id) for n in range(6)]
    cancelled = meenas[:2]
    for visit in cancelled:
        fieldwork.cancel_visit(tenant.brand_id, UUID(visit), "paid at the branch")
    theirs = {str(fieldwork.flag_visit(other.brand_id, their_loan, their_agent, "their visit").id) for _ in range(3)}
    settle(platform, FieldWork.name)

    walked, pages = _walk(browser, "/field-visits", "data-visit", "visits-older")
    assert len(pages) == 2 and len(walked) == len(set(walked)) == len(ravis) + len(meenas)
    assert set(walked) == set(ravis + meenas) and not theirs & set(walked)
    assert walked[0] == meenas[-1] and walked[-1] == ravis[0]  # newest first

    by_agent, agent_pages = _walk(browser, f"/field-visits?agent={ravi}", "data-visit", "visits-older")
    assert sorted(by_agent) == sorted(ravis) and len(agent_pages) == 2 and f"agent={ravi}" in agent_pages[1]
    gone, _ = _walk(browser, "/field-visits?status=cancelled", "data-visit", "visits-older")
    assert sorted(gone) == sorted(cancelled)
    both, _ = _walk(browser, f"/field-visits?status=assigned&agent={meena}", "data-visit", "visits-older")
    assert sorted(both) == sorted(meenas[2:])
    # Another brand's agent as the filter: nothing of A's (and nothing of theirs).
    assert _walk(browser, f"/field-visits?agent={their_agent}", "data-visit", "visits-older")[0] == []


# The approvers' queues ---------------------------------------------------------------------------------------------


def test_an_approval_queue_and_its_history_are_paged(platform: Any, admin: tuple[Tenant, TestClient, str]) -> None:
    tenant, browser, _ = admin
    other = make_tenant(platform)
    size = recovery_pages.PAGE_SIZE
    loans: Loans = platform.get(Loans)
    loan, their_loan = _overdue_loan(platform, tenant), _overdue_loan(platform, other)
    asked = [
        loans.request_collection(tenant.brand_id, loan, "10.00", "cash", f"PG-{n}", date(2026, 3, 19))[1].request_id
        for n in range(size + 8)
    ]
    rejected = asked[:5]
    for request_id in rejected:
        loans.decide(tenant.brand_id, loan, "collection", request_id, approve=False, reason="never reached us")
    theirs = {
        loans.request_collection(other.brand_id, their_loan, "10.00", "cash", f"PG-{n}", date(2026, 3, 19))[
            1
        ].request_id
        for n in range(3)
    }
    settle(platform, Loans.name)

    pending, pages = _walk(browser, "/approvals/collections", "data-id", "approvals-older")
    assert len(pages) == 2 and len(pending) == len(set(pending)) == len(asked) - len(rejected)
    assert set(pending) == {str(r) for r in asked[5:]} and not {str(t) for t in theirs} & set(pending)
    history, history_pages = _walk(browser, "/approvals/collections?status=rejected", "data-id", "approvals-older")
    assert sorted(history) == sorted(str(r) for r in rejected) and len(history_pages) == 1
    assert _walk(browser, "/approvals/collections?status=approved", "data-id", "approvals-older")[0] == []
