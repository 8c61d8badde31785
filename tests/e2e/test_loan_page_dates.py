"""The loan page's disbursal card, next due, schedule and repayments table show dates in the house format the rest of
the pages use (they showed `2026-01-31`), and the history's event reasons show their amounts as money (`repayment
1000.00 (upi ...) paid on 2026-02-10`): the events keep their text, the page formats it."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from domain.loans.application import Loans
from tests.conftest import Tenant
from tests.e2e.test_loan_pages_in_words import _ISO, _section, _text
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]


def test_disbursal_schedule_and_repayments_show_house_dates_and_reasons_show_money(
    app: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 10))
    paid, _ = platform.get(Loans).record_repayment(
        tenant.brand_id, loan_id, "1000.00", "upi", "UTR-WORDS-1", date(2026, 2, 10)
    )
    settle(platform, "loans", paid.position)
    browser, _ = _portal(app, email)
    try:
        page = browser.get(f"/loans/{loan_id}").text
    finally:
        browser.__exit__(None, None, None)
    disbursal = _text(_section(page, "disbursal"))
    assert "Disbursed on 31 Jan 2026." in disbursal and not _ISO.search(disbursal), disbursal
    assert "28 Feb 2026: ₹7,037.57" in _text(_section(page, "next-due", "</dd>"))
    schedule = _text(_section(page, "servicing-schedule", "</table>"))
    assert "28 Feb 2026" in schedule and not _ISO.search(schedule), schedule
    repayments = _text(_section(page, "repayments", "</table>"))
    assert "10 Feb 2026" in repayments and not _ISO.search(repayments), repayments
    history = _text(_section(page, "loan-history", "</table>"))
    assert "repayment ₹1,000.00 (upi UTR-WORDS-1) paid on 10 Feb 2026" in history, history
    assert re.search(r"disbursed ₹[\d,]+\.\d\d \(", history), history
    assert not re.search(r"\b\d{4,}\.\d{2}\b", history)  # no amount in plain digits left


def test_a_disbursed_loan_shows_only_the_schedule_it_was_disbursed_on(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    """The credit card's "Repayment schedule" was built again on today's calendar after disbursal: a holiday added on
    a due date since moved that date there, while the servicing schedule, DPD and reminders kept the loan's own."""
    tenant, email = staff
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    holiday = client.patch("/api/v1/brand/config", json={"repayment_holidays": ["2026-02-28"]}, headers=tenant.auth)
    assert holiday.status_code == 200, holiday.text
    browser, _ = _portal(app, email)
    try:
        page = browser.get(f"/loans/{loan_id}").text
    finally:
        browser.__exit__(None, None, None)
    assert 'id="schedule"' not in page  # no second schedule, on a calendar the loan was not disbursed on
    schedule = _text(_section(page, "servicing-schedule", "</table>"))
    assert "28 Feb 2026" in schedule and "02 Mar 2026" not in schedule, schedule
