"""A staff member's rating history is in the brand's months, as the sales page's: the newest month is the month of the
brand's business date (a brand held at 1 November 2025 is in November 2025, whatever the wall clock says), and an
action counts in the month of its local day in the brand's timezone (for Asia/Kolkata, 20:00 UTC on 31 October is
01:30 IST on 1 November: November's). Before, the months were the database clock's UTC calendar months and the
activity's UTC months: the history, and the portal's rating form, showed the wall clock's month. The dates are fixed,
so the test reads the same at any real hour."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.conftest import Tenant
from tests.e2e.test_refused_forms_keep_input import _form, _portal

BUSINESS_DATE = "2025-11-01"
MONTHS = ["2025-11", "2025-10", "2025-09", "2025-08", "2025-07", "2025-06"]
MATRIX = {
    "criteria": [
        {"metric": "loans_processed_per_week", "label": "Loans a week", "weight": 60, "role": "credit_executive",
         "target": "2"},
        {"metric": "manual", "label": "Conduct", "weight": 40, "role": "credit_executive"},
        {"metric": "tat_hours", "label": "TAT", "weight": 100, "role": "collection_executive", "target": "24"},
    ]
}  # fmt: skip


def _utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _act(conn: Any, brand_id: Any, actor: str, loan: uuid.UUID, at: datetime) -> None:
    """A row of the activity trail: `actor` acted on the loan at the instant `at` (the trail keeps each event's
    instant; rows of their own, so the months' edges are exact)."""
    conn.execute(
        "INSERT INTO read.activity (source, position, brand_id, occurred_at, actor, aggregate_type, aggregate_id, "
        "event_type, summary, details) VALUES ('loans', %s, %s, %s, %s, 'Loan', %s, 'Loan.CxApproved', "
        "'loan cx approved', %s)",
        (10**15 + uuid.uuid4().int % 10**12, brand_id, at, actor, loan, Jsonb({})),
    )


def _per_week(loans: int, days: int) -> str:
    return str((Decimal(loans) * 7 / Decimal(days)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_the_rating_months_are_the_brands_business_months_in_its_timezone(
    app: Any, client: Any, dsn: str, staff: tuple[Tenant, str]
) -> None:
    tenant, admin_email = staff
    config = {"timezone": "Asia/Kolkata", "business_date": BUSINESS_DATE}
    patched = client.patch("/api/v1/brand/config", json=config, headers=tenant.auth)
    assert patched.status_code == 200, patched.text
    # the brand's month is not the wall clock's UTC month (what the history showed before)
    assert datetime.now(UTC).strftime("%Y-%m") != MONTHS[0]
    assert client.put("/api/v1/rating-matrix", json=MATRIX, headers=tenant.auth).status_code == 200
    body = {"name": "Ravi Exec", "email": f"ravi-{uuid.uuid4().hex[:8]}@lender.in",
            "roles": ["credit_executive", "collection_executive"]}  # fmt: skip
    made = client.post("/api/v1/staff", json=body, headers=tenant.auth)
    assert made.status_code == 201, made.text
    rated_id = str(made.json()["id"])

    me, someone = f"staff:{rated_id}", f"staff:{uuid.uuid4()}"
    with psycopg.connect(dsn) as conn:
        # November (IST): 01:30 on the 1st (20:00 UTC on 31 October), 10 h after the loan was opened; and mid-month,
        # 6 h after. Its TAT: (10 + 6) / 2 = 8 h.
        late, mid = uuid.uuid4(), uuid.uuid4()
        _act(conn, tenant.brand_id, someone, late, _utc(2025, 10, 31, 10, 0))
        _act(conn, tenant.brand_id, me, late, _utc(2025, 10, 31, 20, 0))
        _act(conn, tenant.brand_id, someone, mid, _utc(2025, 11, 15, 0, 0))
        _act(conn, tenant.brand_id, me, mid, _utc(2025, 11, 15, 6, 0))
        # October (IST): 23:30 on the 31st (18:00 UTC), 4 h after the loan was opened.
        october = uuid.uuid4()
        _act(conn, tenant.brand_id, someone, october, _utc(2025, 10, 31, 14, 0))
        _act(conn, tenant.brand_id, me, october, _utc(2025, 10, 31, 18, 0))
        # December (IST) already: 00:30 on 1 December (19:00 UTC on 30 November), after the brand's month.
        _act(conn, tenant.brand_id, me, uuid.uuid4(), _utc(2025, 11, 30, 19, 0))
        # June (IST), the oldest month: 00:30 on 1 June (19:00 UTC on 31 May); and 23:30 on 31 May, before it.
        _act(conn, tenant.brand_id, me, uuid.uuid4(), _utc(2025, 5, 31, 19, 0))
        _act(conn, tenant.brand_id, me, uuid.uuid4(), _utc(2025, 5, 31, 18, 0))

    history = client.get(f"/api/v1/staff/{rated_id}/ratings", headers=tenant.auth)
    assert history.status_code == 200, history.text
    periods = history.json()["periods"]
    assert [p["period"] for p in periods] == MONTHS
    measured = {
        p["period"]: {c["metric"]: c["value"] for c in p["criteria"] if c["metric"] != "manual"} for p in periods
    }
    assert measured == {
        "2025-11": {"loans_processed_per_week": _per_week(2, 30), "tat_hours": "8.00"},
        "2025-10": {"loans_processed_per_week": _per_week(1, 31), "tat_hours": "4.00"},
        "2025-09": {"loans_processed_per_week": None, "tat_hours": None},
        "2025-08": {"loans_processed_per_week": None, "tat_hours": None},
        "2025-07": {"loans_processed_per_week": None, "tat_hours": None},
        "2025-06": {"loans_processed_per_week": _per_week(1, 30), "tat_hours": "0.00"},
    }, measured

    # The portal's rating form offers the brand's month, and a rating saved with it is that month's.
    browser, _ = _portal(app, admin_email)
    try:
        page = browser.get(f"/staff/{rated_id}/ratings")
        assert page.status_code == 200, page.text[:500]
        form = _form(page.text, "rate-form")
        offered = re.search(r'name="period" value="([^"]*)"', form)
        assert offered is not None and offered.group(1) == "2025-11", form
        hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form))
        typed = {**hidden, "period": offered.group(1), "score_manual": "8"}
        saved = browser.post(f"/staff/{rated_id}/ratings", data=typed)
        assert saved.status_code == 303, saved.text[:500]
    finally:
        browser.__exit__(None, None, None)
    newest = client.get(f"/api/v1/staff/{rated_id}/ratings", headers=tenant.auth).json()["periods"][0]
    assert newest["period"] == "2025-11"
    assert {c["metric"]: c["rated"] for c in newest["criteria"]}["manual"] == 8
