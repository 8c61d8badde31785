"""Two edges of the reports an outside tester probed (issue #18 item 1): the emailed CSV is the very file the
download gives (byte for byte: a cell's lone CR, Devanagari, emoji, the BOM), and a report over instants files each
on the brand's local day - for a brand far east and one far west of UTC, so that whatever the hour of the run one
of them is on another day than UTC, as Asia/Kolkata is from 18:30 UTC."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.collections.application import Collections
from domain.collections.case import Outcome
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_reports import _loan, _rows, _settle
from tests.e2e.test_servicing_api import D0, catalogue, set_business_date
from tests.support import settle
from workers.runtime import scheduler_for

__all__ = ["catalogue"]

REMARKS = ("first\r\nsecond", "only\rcarriage", "=cmd|' /C calc'!A0", 'line\u2028sep, "quoted"')


def _contacts(platform: Any, tenant: Tenant, name: str, remarks: tuple[str, ...]) -> None:
    set_business_date(platform, tenant, D0)
    loan_id = _loan(platform, tenant, name)
    _settle(platform)
    for text in remarks:
        platform.get(Collections).log_contact(tenant.brand_id, loan_id, Outcome.CONNECTED, text)
    settle(platform, "collections")


def test_the_emailed_csv_is_the_downloaded_file_byte_for_byte(client: Any, platform: Any, mail_sink: Any) -> None:
    # The job attached the CSV as text: the mail library re-ended its lines and a remark's lone CR arrived as CRLF.
    tenant = make_tenant(platform)
    _contacts(platform, tenant, "राम कुमार 😀", REMARKS)
    window = {"from": "2020-01-01", "to": "2030-12-31"}
    download = client.get("/api/v1/reports/collection-remarks-report.csv", params=window, headers=tenant.auth)
    assert download.status_code == 200 and download.content.count(b"\n") > len(REMARKS)
    recipient = f"remarks-{uuid.uuid4().hex[:6]}@lender.in"
    body = {"to": recipient, "from": window["from"], "to_date": window["to"]}
    answer = client.post("/api/v1/reports/collection-remarks-report/email", json=body, headers=tenant.auth)
    assert answer.status_code == 202, answer.text
    scheduler_for(platform).execute(answer.json()["run_id"])
    (mail,) = [m for m in mail_sink.messages if m["To"] == recipient]
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == download.content


def test_an_instant_is_filed_on_the_brands_local_day_east_and_west_of_utc(client: Any, platform: Any) -> None:
    for timezone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14 and UTC-11
        tenant = make_tenant(platform)
        patched = client.patch("/api/v1/brand/config", json={"timezone": timezone}, headers=tenant.auth)
        assert patched.status_code == 200, patched.text
        settle(platform, "identity")
        before = datetime.now(ZoneInfo(timezone)).date()
        _contacts(platform, tenant, "Day Boundary", ("called",))
        after = datetime.now(ZoneInfo(timezone)).date()
        if before != after:
            continue  # the brand's midnight passed while logging: no single day to expect
        for slug in ("collection-remarks-report", "agent-performance-report"):
            for day, expected in ((after - timedelta(days=1), 0), (after, 1), (after + timedelta(days=1), 0)):
                got = _rows(client, tenant, slug, **{"from": day.isoformat(), "to": day.isoformat()})
                assert got["totals"]["rows"] == expected, (timezone, slug, day, got["rows"])
        # The CSV writes the instant in the brand's zone, as the page shows it (it wrote the session's UTC, `+00`).
        day = {"from": after.isoformat(), "to": after.isoformat()}
        download = client.get("/api/v1/reports/collection-remarks-report.csv", params=day, headers=tenant.auth)
        rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
        offset = "+14" if timezone == "Pacific/Kiritimati" else "-11"
        assert len(rows) == 1 and rows[0]["at"].endswith(offset), (timezone, rows)
        assert datetime.fromisoformat(rows[0]["at"]).astimezone(ZoneInfo(timezone)).date() == after
        # the UTC day differs from the local one for one of the two zones at any hour of the run
        utc = datetime.now(UTC).date()
        if utc != after:
            on_utc_day = {"from": utc.isoformat(), "to": utc.isoformat()}
            assert _rows(client, tenant, "collection-remarks-report", **on_utc_day)["rows"] == []


def test_only_who_may_email_reports_runs_the_report_email_job(client: Any, app: Any, platform: Any) -> None:
    """A manual run of report-email needed JOBS WRITE alone, so a Loan Ops user (without MASTER_REPORTS, which
    POST /reports/{slug}/email needs) mailed any report of the brand to any address through the jobs API or the
    jobs page's "Run now"."""
    from tests.e2e.test_access_matrix import _signed_in

    tenant = make_tenant(platform)
    mail = {"slug": "master-report", "to": "outside@example.com", "from": "2020-01-01", "to_date": "2030-12-31"}
    ops, csrf = _signed_in(app, platform, tenant.brand_id, "loan_ops")
    try:
        refused = ops.post("/api/v1/jobs/report-email/runs", json={"variables": mail}, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403, refused.text
        assert refused.json()["permission"] == "MASTER_REPORTS"
        configured = client.patch("/api/v1/jobs/report-email", json={"variables": mail}, headers=tenant.auth)
        assert configured.status_code == 200, configured.text
        page = ops.post("/jobs/report-email/run", data={"csrf_token": csrf, "as_of": ""})
        assert page.status_code == 403 and "MASTER_REPORTS" in page.text
    finally:
        ops.__exit__(None, None, None)

    allowed = client.post("/api/v1/jobs/report-email/runs", json={"variables": mail}, headers=tenant.auth)
    assert allowed.status_code == 202, allowed.text
    runs = client.get("/api/v1/jobs/report-email/runs", headers=tenant.auth).json()["items"]
    assert [r["id"] for r in runs] == [allowed.json()["run_id"]]  # the admin's; none of the refused ones
