"""A long loan's lists a page at a time: `GET /api/v1/loans/{id}/events` (the loan's history from the read model,
keyset by version, oldest or newest first) and `GET /api/v1/loans/{id}/repayments` (the money received, in the order
recorded) walk every entry once, in order, with `next_cursor` null on the last page; a cursor not made by the list,
for the loan and the order is a 422 problem, as is a limit out of range; an unknown loan or another brand's is a 404.
The staff loan page shows the latest 20 history entries and repayments with links to their pages, which walk all of
them; `GET /api/v1/loans/{id}` still lists the whole history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from starlette.testclient import TestClient

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.loans.money_received import money_received
from domain.shared.aggregate import acting_as
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_servicing_api import D0, PenalCatalogue, disbursed_loan, set_business_date
from tests.support import settle

TODAY = date(2026, 2, 28)
PAYMENTS = 45


@pytest.fixture
def catalogue(platform: Any) -> Iterator[None]:
    loans = platform.get(Loans)
    before = loans._catalogue
    loans._catalogue = PenalCatalogue()
    yield
    loans._catalogue = before


@pytest.fixture
def long_loan(platform: Any, staff: tuple[Any, str], catalogue: None) -> tuple[Any, str, UUID]:
    """A loan of PAYMENTS repayments paid on days out of order (back-dated), one reversed."""
    tenant, email = staff
    loans: Loans = platform.get(Loans)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, TODAY)
    first = None
    for n in range(PAYMENTS):
        paid_on = date(2026, 2, 1) + timedelta(days=n * 7 % 27)
        _, record = loans.record_repayment(tenant.brand_id, loan_id, "10.00", "upi", f"UTR-{n:03d}", paid_on)
        first = first or record
    assert first is not None
    loans.reverse_repayment(tenant.brand_id, loan_id, first.payment_id, "cheque bounced")
    settle(platform, Loans.name)
    return tenant, email, loan_id


def _walk(client: TestClient, url: str, auth: dict[str, str], **params: Any) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        answer = client.get(url, params={**params, **({"cursor": cursor} if cursor else {})}, headers=auth)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100


def _problem(answer: Any, status: int, field: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert field in answer.text


def test_the_history_pages_walk_every_entry_once_in_order(app: Any, platform: Any, long_loan: Any) -> None:
    tenant, _, loan_id = long_loan
    url = f"/api/v1/loans/{loan_id}/events"
    with TestClient(app) as client:
        whole = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["history"]
        assert len(whole) > PAYMENTS  # the loan's GET keeps every entry
        pages = _walk(client, url, tenant.auth, limit=7)
        assert [len(p) for p in pages[:-1]] == [7] * (len(pages) - 1) and 1 <= len(pages[-1]) <= 7
        walked = [e for p in pages for e in p]
        assert walked == whole  # every entry once, oldest first, as `history` lists them
        newest = [e for p in _walk(client, url, tenant.auth, limit=10, order="desc") for e in p]
        assert newest == whole[::-1]
        assert client.get(url, headers=tenant.auth).json()["items"] == whole[:50]  # the default limit
        last = client.get(url, params={"limit": 200}, headers=tenant.auth).json()
        assert last["next_cursor"] is None and last["items"] == whole

        first = client.get(url, params={"limit": 5}, headers=tenant.auth).json()
        cursor = first["next_cursor"]
        _problem(client.get(url, params={"cursor": "not-a-cursor"}, headers=tenant.auth), 422, "cursor")
        _problem(client.get(url, params={"cursor": cursor, "order": "desc"}, headers=tenant.auth), 422, "cursor")
        _problem(client.get(url, params={"limit": 0}, headers=tenant.auth), 422, "limit")
        _problem(client.get(url, params={"limit": 201}, headers=tenant.auth), 422, "limit")
        repayments = client.get(f"/api/v1/loans/{loan_id}/repayments", params={"limit": 5}, headers=tenant.auth)
        _problem(client.get(url, params={"cursor": repayments.json()["next_cursor"]}, headers=tenant.auth), 422)

        other_loan = disbursed_loan(platform, tenant)
        settle(platform, Loans.name)
        _problem(client.get(f"/api/v1/loans/{other_loan}/events", params={"cursor": cursor}, headers=tenant.auth),
                 422, "cursor")  # fmt: skip
        _problem(client.get(f"/api/v1/loans/{uuid4()}/events", headers=tenant.auth), 404)
        stranger = make_tenant(platform)
        _problem(client.get(url, headers=stranger.auth), 404)
        _problem(client.get(url, params={"cursor": cursor}, headers=stranger.auth), 404)


def test_the_repayment_pages_walk_every_repayment_once_in_the_order_recorded(
    app: Any, platform: Any, long_loan: Any
) -> None:
    tenant, _, loan_id = long_loan
    loans: Loans = platform.get(Loans)
    recorded = [r.record.payment_id for r in money_received(loans.get(tenant.brand_id, loan_id))]
    assert len(recorded) == PAYMENTS
    url = f"/api/v1/loans/{loan_id}/repayments"
    with TestClient(app) as client:
        pages = _walk(client, url, tenant.auth, limit=8)
        assert [len(p) for p in pages] == [8] * 5 + [5]
        walked = [item for p in pages for item in p]
        assert [i["id"] for i in walked] == recorded
        assert walked[0]["reversed_on"] is not None and walked[0]["reference"] == "UTR-000"
        default = client.get(url, headers=tenant.auth).json()
        assert default["next_cursor"] is None and default["items"] == walked  # no limit nor cursor: all, as always
        first = client.get(url, params={"limit": 3}, headers=tenant.auth).json()
        _problem(client.get(url, params={"cursor": "e30"}, headers=tenant.auth), 422, "cursor")
        _problem(client.get(url, params={"limit": 500}, headers=tenant.auth), 422, "limit")
        events = client.get(f"/api/v1/loans/{loan_id}/events", params={"limit": 3}, headers=tenant.auth).json()
        _problem(client.get(url, params={"cursor": events["next_cursor"]}, headers=tenant.auth), 422, "cursor")
        _problem(client.get(f"/api/v1/loans/{uuid4()}/repayments", headers=tenant.auth), 404)
        stranger = make_tenant(platform)
        _problem(client.get(url, params={"cursor": first["next_cursor"]}, headers=stranger.auth), 404)


def _rows(html: str, table: str) -> list[str]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr[ >].*?</tr>", body.split("<tbody>", 1)[1], flags=re.S)


def _payments(rows: list[str]) -> list[str]:
    return [m.group(1) for r in rows if (m := re.search(r'data-payment="([^"]+)"', r)) is not None]


def _follow(client: TestClient, url: str, table: str, older: str) -> list[list[str]]:
    pages = []
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.text
        pages.append(_rows(page.text, table))
        found = re.search(rf'href="([^"]+)" id="{older}"', page.text)
        url = found.group(1).replace("&amp;", "&") if found else ""
        assert len(pages) < 50
    return pages


def test_the_loan_page_shows_the_latest_twenty_and_links_to_all(app: Any, platform: Any, long_loan: Any) -> None:
    tenant, email, loan_id = long_loan
    loans: Loans = platform.get(Loans)
    by_day = sorted(enumerate(money_received(loans.get(tenant.brand_id, loan_id))),
                    key=lambda p: (p[1].record.paid_on, p[0]))  # fmt: skip
    with TestClient(app, follow_redirects=False) as client:
        history = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["history"]
        signed = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/dashboard"})
        assert signed.status_code == 303, signed.text
        page = client.get(f"/loans/{loan_id}")
        assert page.status_code == 200, page.text
        shown = _rows(page.text, "repayments")
        assert len(shown) == 20
        # the newest 20 by the day paid, shown by the day paid (oldest of them first), as the whole list was
        assert _payments(shown) == [r.record.payment_id for _, r in by_day[-20:]]
        assert 'id="repayments-all"' in page.text and 'id="history-all"' in page.text
        journey = _rows(page.text, "loan-history")
        assert len(journey) == 20 and len(history) > 20
        assert "repayment reversed" in journey[-1]  # the newest entry is last, as in the whole history

        walked = _follow(client, f"/loans/{loan_id}/history", "loan-history", "history-older")
        assert [len(p) for p in walked[:-1]] == [50] * (len(walked) - 1)
        assert sum(len(p) for p in walked) == len(history)
        assert "repayment reversed" in walked[0][0] and "<td>created</td>" in walked[-1][-1]

        paid = _follow(client, f"/loans/{loan_id}/repayment-history", "repayments", "repayments-older")
        newest_day_first = [r.record.payment_id for _, r in reversed(by_day)]
        assert _payments([r for p in paid for r in p]) == newest_day_first  # each once

        assert client.get(f"/loans/{uuid4()}/history").status_code == 404
        other = make_tenant(platform)
        foreign = disbursed_loan(platform, other)
        settle(platform, Loans.name)
        assert client.get(f"/loans/{foreign}/history").status_code == 404
        assert client.get(f"/loans/{foreign}/repayment-history").status_code == 404


def test_the_credit_review_page_shows_the_latest_twenty_and_links_to_all(
    app: Any, platform: Any, long_loan: Any
) -> None:
    """The credit-decision review page reads the newest 20 history entries, as the loan page does, and names the
    actors of those it shows (what it derives from the history)."""
    tenant, email, loan_id = long_loan
    loans: Loans = platform.get(Loans)
    made = platform.get(Identity).create_staff(
        tenant.brand_id, f"asha-{uuid4().hex[:8]}@lender.in", "Asha Reviewer", ["admin"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    with acting_as(f"staff:{made.id}"):  # the newest entry is a staff member's, named on the page
        loans.record_repayment(tenant.brand_id, loan_id, "10.00", "upi", "UTR-STAFF", date(2026, 2, 27))
    settle(platform, Loans.name)
    with TestClient(app, follow_redirects=False) as client:
        history = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["history"]
        signed = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/dashboard"})
        assert signed.status_code == 303, signed.text
        page = client.get(f"/credit/review/{loan_id}")
        assert page.status_code == 200, page.text
        journey = _rows(page.text, "loan-history")
        assert len(history) > 20 and len(journey) == 20
        assert f'href="/loans/{loan_id}/history" id="history-all"' in page.text
        assert "The latest 20 entries." in page.text
        assert "<td>created</td>" not in page.text  # the oldest entries are on the history pages only
        assert "Asha Reviewer" in journey[-1] and f"staff:{made.id}" not in page.text  # the newest, its actor named
        assert "repayment reversed" in journey[-2]
        # The 20 shown are the newest 20 of the whole history, oldest of them first.
        kinds = [re.findall(r"<td>(.*?)</td>", row)[1] for row in journey]
        assert kinds == [h["kind"].replace("_", " ") for h in history[-20:]]
