"""The audit page's timeline in pages by version (api/pages/audit.py `TIMELINE_PAGE`, `AuditReplay.history_page`):
walking its "later" links from the first page, or its "earlier" links from the page it opens on, shows every event
of a long loan exactly once, in order; as of an instant it opens on the page holding that version."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

import pytest

from api.pages import audit as audit_pages
from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue"]  # the fixture faking the product catalogue (penal charges), autouse here too

PAGE = 7


def _versions(text: str) -> list[int]:
    timeline = text[text.index('id="audit-timeline"') :]
    timeline = timeline[: timeline.index("</ol>")]
    return [int(v) for v in re.findall(r'<li data-version="(\d+)"', timeline)]


def _link(text: str, kind: str) -> str | None:
    found = re.search(rf'<a href="([^"]*)" class="{kind}"', text)
    return html.unescape(found.group(1)) if found else None


def test_walking_the_timeline_pages_sees_every_event_once(
    app: Any, client: Any, platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.test_access_matrix import _signed_in

    monkeypatch.setattr(audit_pages, "TIMELINE_PAGE", PAGE)
    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    set_business_date(platform, tenant, date(2026, 2, 28))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 5, 1))
    for n in range(12):
        loans.record_repayment(tenant.brand_id, loan_id, "250.00", "upi", f"UTR-{n}", date(2026, 3, 1 + n))
    for day in range(1, 20):
        loans.close_business_day(tenant.brand_id, loan_id, date(2026, 4, day))
    latest = loans.get(tenant.brand_id, loan_id).version
    assert latest > 4 * PAGE
    url = f"/audit/loan/{loan_id}"
    browser, _ = _signed_in(app, platform, tenant.brand_id, "admin")
    try:
        # Opened as of now: the page holding the latest version, which is the state's.
        opened = browser.get(url)
        assert opened.status_code == 200, opened.text
        assert f"Replay · {latest} events" in opened.text
        last = _versions(opened.text)
        assert last[-1] == latest and 1 <= len(last) <= PAGE and last == list(range(last[0], latest + 1))
        assert _link(opened.text, "later") is None
        # Forward from the first page.
        seen: list[int] = []
        page = browser.get(url, params={"after": 0})
        pages = 0
        while True:
            pages += 1
            versions = _versions(page.text)
            assert 0 < len(versions) <= PAGE
            seen.extend(versions)
            nxt = _link(page.text, "later")
            if nxt is None:
                break
            page = browser.get(url + nxt)
            assert page.status_code == 200
        assert seen == list(range(1, latest + 1)) and pages == -(-latest // PAGE)
        # Backward from the page it opened on.
        back: list[int] = []
        page = opened
        while True:
            back = _versions(page.text) + back
            prev = _link(page.text, "earlier")
            if prev is None:
                break
            page = browser.get(url + prev)
        assert back == list(range(1, latest + 1))
        # As of an instant: the page holding that version, the version marked current; other query kept in links.
        middle = loans.repository.get(loan_id, version=2 * PAGE + 3)
        as_of = browser.get(url, params={"as_of": middle.modified_on.isoformat()})
        assert 2 * PAGE + 3 in _versions(as_of.text)
        assert f'<li data-version="{2 * PAGE + 3}" data-event=' in as_of.text
        assert "as_of=" in (_link(as_of.text, "later") or "") and "as_of=" in (_link(as_of.text, "earlier") or "")
        assert re.search(rf'<li data-version="{2 * PAGE + 3}" data-event="\w+" class="current"', as_of.text)
        # A page past the end lists nothing and links back.
        beyond = browser.get(url, params={"after": latest + 50})
        assert beyond.status_code == 200 and _versions(beyond.text) == [] and _link(beyond.text, "earlier")
    finally:
        browser.__exit__(None, None, None)
