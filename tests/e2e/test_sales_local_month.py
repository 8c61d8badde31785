"""The sales overview counts a month in the brand's local days: a lead, a sign-up and a loan application made on the
evening of a month's last day (23:00 local) belong to that month, and those of 01:00 on the 1st to the next, for a
brand ahead of UTC (Asia/Kolkata, whose 01:00 on the 1st is still the previous UTC month) and one behind it
(America/New_York, whose 23:00 on the last day is already the next UTC month). The months are fixed, so the test
reads the same at any real hour."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant
from tests.e2e.onboarding_support import sms
from tests.support import mobile

__all__ = ["sms"]

HEADER = "id,created_time,campaign_id,campaign_name,is_organic,full_name,phone_number,email\n"


def _wait_for(dsn: str, sql: str, key: Any) -> None:
    """Until the read model has the row (its projection runs behind the API)."""
    deadline = time.monotonic() + 10
    while True:
        with psycopg.connect(dsn) as conn:
            found = conn.execute(sql, (key,)).fetchone()
        if found is not None:
            return
        assert time.monotonic() < deadline, sql
        time.sleep(0.1)


def _sign_up(client: Any, sms: SmsSimulator, brand: str, utm_source: str) -> str:
    phone = mobile()
    asked = client.post("/api/v1/borrower/otp", json={"brand": brand, "phone": phone})
    assert asked.status_code == 202, asked.text
    body = {"brand": brand, "phone": phone, "otp": sms.last_code(phone), "utm_source": utm_source}
    opened = client.post("/api/v1/borrower/session", json=body)
    assert opened.status_code == 201, opened.text
    return str(opened.json()["borrower_id"])


def _overview(client: Any, tenant: Tenant, month: str) -> dict[str, Any]:
    answer = client.get("/api/v1/sales/overview", params={"month": month}, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return {
        "campaigns": sorted(s["campaign"] for s in body["by_source"]),
        "new": next(s["reached"] for s in body["lead_funnel"] if s["step"] == "new"),
        "utm": sorted((u["utm_source"], u["signups"], u["applications"]) for u in body["by_utm"]),
    }


@pytest.mark.parametrize(
    ("timezone", "last_day", "month", "next_month"),
    [
        ("Asia/Kolkata", (2026, 10, 31), "2026-10", "2026-11"),  # UTC+05:30
        ("America/New_York", (2026, 11, 30), "2026-11", "2026-12"),  # UTC-05:00 (EST)
    ],
)
def test_the_sales_month_is_the_brands_local_month(
    client: Any,
    tenant: Tenant,
    sms: SmsSimulator,
    dsn: str,
    timezone: str,
    last_day: tuple[int, int, int],
    month: str,
    next_month: str,
) -> None:
    patched = client.patch("/api/v1/brand/config", json={"timezone": timezone}, headers=tenant.auth)
    assert patched.status_code == 200, patched.text
    zone = ZoneInfo(timezone)
    late = datetime(*last_day, 23, 0, tzinfo=zone)  # the month's last evening, local time
    first = datetime(int(next_month[:4]), int(next_month[5:]), 1, 1, 0, tzinfo=zone)  # 01:00 on the next 1st
    # one of the two is in another UTC month than its local one (what UTC month bounds miscount)
    in_utc = (late.astimezone(UTC).strftime("%Y-%m"), first.astimezone(UTC).strftime("%Y-%m"))
    assert in_utc != (month, next_month)

    text = HEADER + f"1,,c1,LastEvening,false,Late Lata,{mobile()},\n2,,c2,FirstMorning,false,Early Esha,{mobile()},\n"
    made = client.post(
        "/api/v1/leads/imports",
        files={"file": ("leads.csv", text.encode(), "text/csv")},
        headers=tenant.auth,
    )
    assert made.status_code in (200, 201), made.text
    late_lead, first_lead = (line["lead_id"] for line in made.json()["lines"])
    late_borrower = _sign_up(client, sms, tenant.slug, "late-evening")
    first_borrower = _sign_up(client, sms, tenant.slug, "first-morning")
    for lead in (late_lead, first_lead):
        _wait_for(dsn, "SELECT 1 FROM read.leads WHERE id = %s", lead)
    for borrower in (late_borrower, first_borrower):
        _wait_for(dsn, "SELECT 1 FROM read.borrower_attribution WHERE borrower_id = %s", borrower)

    # The rows' instants moved to the month's edge (the read models keep the instant each was recorded at), and a
    # loan application with each sign-up's UTM at the same instant.
    with psycopg.connect(dsn) as conn:
        for lead, borrower, source, at in (
            (late_lead, late_borrower, "late-evening", late),
            (first_lead, first_borrower, "first-morning", first),
        ):
            conn.execute("UPDATE read.leads SET created_at = %s WHERE id = %s", (at, lead))
            conn.execute(
                "UPDATE read.borrower_attribution SET signed_up_at = %s WHERE borrower_id = %s", (at, borrower)
            )
            conn.execute(
                "INSERT INTO read.loan_attribution (loan_id, brand_id, borrower_id, utm_source, applied_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (uuid.uuid4(), tenant.brand_id, borrower, source, at),
            )

    assert _overview(client, tenant, month) == {"campaigns": ["LastEvening"], "new": 1, "utm": [("late-evening", 1, 1)]}
    assert _overview(client, tenant, next_month) == {
        "campaigns": ["FirstMorning"],
        "new": 1,
        "utm": [("first-morning", 1, 1)],
    }
