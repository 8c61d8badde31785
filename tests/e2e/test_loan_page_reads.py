"""The staff portal's loan page reads the loan's events once for all its cards (the pricing preview, servicing and the
money received): it read them three times before, each a replay of the whole history -- about 40 ms apiece for a loan
with 1,000 repayments (tests/benchmarks/routes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from domain.loans.application import Loans
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_servicing_api import D0, PenalCatalogue, disbursed_loan, set_business_date


@pytest.fixture
def catalogue(platform: Any) -> Iterator[None]:
    loans = platform.get(Loans)
    before = loans._catalogue
    loans._catalogue = PenalCatalogue()
    yield
    loans._catalogue = before


def test_the_loan_page_replays_a_serviced_loan_once_and_shows_every_card(
    app: Any, platform: Any, staff: tuple[Any, str], catalogue: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, email = staff
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 28))
    with TestClient(app, follow_redirects=False) as client:
        body = {"amount": "1234.00", "mode": "upi", "reference": "UTR-PAGE-1", "paid_on": "2026-02-28"}
        paid = client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=tenant.auth)
        assert paid.status_code == 201, paid.text
        signed = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/dashboard"})
        assert signed.status_code == 303, signed.text

        loans = platform.get(Loans)  # every load of a loan (from a snapshot or replayed) goes through find/find_many
        find, find_many = loans.find, loans.find_many
        replays: list[UUID] = []

        def counted(aggregate_id: UUID) -> Any:
            replays.append(aggregate_id)
            return find(aggregate_id)

        def counted_many(aggregate_ids: Any) -> Any:
            replays.extend(aggregate_ids)
            return find_many(aggregate_ids)

        monkeypatch.setattr(loans, "find", counted)
        monkeypatch.setattr(loans, "find_many", counted_many)
        page = client.get(f"/loans/{loan_id}")
    assert page.status_code == 200, page.text
    # every card that needs the loan's events is there: the pricing preview, the schedule, the money received
    for card in (
        'id="repayments"',
        "UTR-PAGE-1",
        "28 Feb 2026",  # the repayment's day, in the house date format
        "Processing fee",
        "Personal loan (PL)",
        'id="servicing-schedule"',
    ):
        assert card in page.text, card
    assert replays.count(loan_id) == 1, replays
