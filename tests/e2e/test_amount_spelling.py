"""An amount is written the same way in every input: plain digits with an optional point and paise. Found by review:
the portal's repayment, collection request and settlement forms handed the typed text to the shared MONEY rule,
which read "1e3" as 1000.00, while the API refused it and the promise-to-pay form read it with its own rule (as
1000, unpadded). "1e5" typed for "1.5" would be a lakh of rupees: each form now refuses an exponent with a 422
naming `amount`, nothing recorded, and the promise-to-pay form uses the shared rule; JSON numbers (1000.5) and plain
strings ("1000.50") still work, in the API and the forms."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest

from domain.collections.application import Collections
from tests.conftest import Tenant
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

DAY = date(2026, 2, 28)
#: (the form's action under /loans/{id} or /collections/loans/{id}, what else it posts)
FORMS = {
    "repayment": ("/loans/{}/repayments", {"mode": "upi", "reference": "UTR-1E3", "paid_on": DAY.isoformat()}),
    "collection request": (
        "/loans/{}/collection-requests",
        {"mode": "cash", "reference": "CASH-1", "collected_on": DAY.isoformat()},
    ),
    "settlement": ("/loans/{}/settlements", {"remarks": "one time settlement"}),
    "promise to pay": ("/collections/loans/{}/ptps", {"date": "2026-03-10"}),
}


def _events(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM events.{table}").fetchone()[0])  # type: ignore[index]
            for table in ("loans_events", "collections_events")
        }


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("typed", ["1e3", "1E+3"])
def test_a_forms_amount_written_with_an_exponent_is_refused_naming_the_amount(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str], dsn: str, form: str, typed: str
) -> None:
    tenant, email = staff
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, DAY)
    url = f"/api/v1/loans/{loan_id}"
    before, events = client.get(url, headers=tenant.auth).json(), _events(dsn)
    action, posted = FORMS[form]
    browser, csrf = _portal(app, email)
    try:
        refused = browser.post(action.format(loan_id), data={"csrf_token": csrf, "amount": typed, **posted})
    finally:
        browser.__exit__(None, None, None)
    assert refused.status_code == 422, (form, refused.status_code, refused.text[:300])
    assert "amount" in refused.text and "written with an exponent" in refused.text, refused.text[:2000]
    assert _events(dsn) == events  # nothing recorded
    settle(platform, "loans")
    assert client.get(url, headers=tenant.auth).json() == before
    assert client.get(f"{url}/ptps", headers=tenant.auth).json()["items"] == []


def test_plain_amounts_and_json_numbers_still_work_in_the_ptp_form_and_the_api(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    set_business_date(platform, tenant, D0)
    by_form, by_number, by_string = (disbursed_loan(platform, tenant) for _ in range(3))
    set_business_date(platform, tenant, DAY)
    browser, csrf = _portal(app, email)
    try:
        made = browser.post(f"/collections/loans/{by_form}/ptps",
                            data={"csrf_token": csrf, "date": "2026-03-10", "amount": "1000.5"})  # fmt: skip
        assert made.status_code == 303, made.text[:300]
    finally:
        browser.__exit__(None, None, None)
    for loan_id, amount in ((by_number, 1000.5), (by_string, "1000.50")):
        sent = client.post(f"/api/v1/loans/{loan_id}/ptps", json={"date": "2026-03-10", "amount": amount},
                           headers=tenant.auth)  # fmt: skip
        assert sent.status_code == 201, sent.text
    settle(platform, "collections")
    for loan_id in (by_form, by_number, by_string):
        promises = client.get(f"/api/v1/loans/{loan_id}/ptps", headers=tenant.auth).json()["items"]
        assert [p["amount"] for p in promises] == ["1000.50"], promises  # in paise, as every amount
        # recorded in paise too, whichever way it came (the form's own rule recorded "1000.5")
        promise = platform.get(Collections).case(tenant.brand_id, loan_id).open_promise
        assert promise is not None and str(promise.amount) == "1000.50"
    # The API refuses the exponent string as before (the same rule's words), and takes the JSON number 1e3.
    refused = client.post(f"/api/v1/loans/{by_number}/repayments",
                          json={"amount": "1e3", "mode": "upi", "reference": "R-1", "paid_on": DAY.isoformat()},
                          headers=tenant.auth)  # fmt: skip
    assert refused.status_code == 422 and "amount" in refused.text and "exponent" in refused.text, refused.text
