"""The Ops disbursal queue's "Queued" time (found in Chromium): the page and the API show when each loan entered the
queue (its `awaiting_disbursal` status change), not when the application was started, and the queue is in that order,
oldest queued first. Plain HTTP against the served app."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import make_tenant
from tests.e2e.test_disbursal import wiring  # noqa: F401 - the autouse wiring fixture
from tests.e2e.test_loan_page_disbursal import _portal, _queue, _sanctioned, _signed


def test_the_queue_shows_when_each_loan_was_queued_oldest_queued_first(platform: Any, server: str) -> None:
    tenant = make_tenant(platform, "loan_ops")
    browser = _portal(server, platform, tenant)
    started_first = _sanctioned(platform, tenant)
    started_second = _sanctioned(platform, tenant)
    for loan_id in (started_first, started_second):
        _signed(platform, tenant, loan_id)
    _queue(platform, tenant, started_second)  # the later application enters the queue first
    time.sleep(0.05)
    _queue(platform, tenant, started_first)

    items = httpx.get(f"{server}/api/v1/disbursal-queue", headers=tenant.auth).json()["items"]
    assert [i["loan_id"] for i in items] == [str(started_second), str(started_first)]
    loans = {i["loan_id"]: httpx.get(f"{server}/api/v1/loans/{i['loan_id']}", headers=tenant.auth).json()
             for i in items}  # fmt: skip
    for item in items:
        queued = next(e for e in loans[item["loan_id"]]["history"] if e["kind"] == "disbursal_queued")
        assert datetime.fromisoformat(item["queued_at"]) == datetime.fromisoformat(queued["at"])
        assert datetime.fromisoformat(item["queued_at"]) > datetime.fromisoformat(item["created_at"])

    page = browser.get("/disbursals").text
    assert "<th>Queued</th>" in page
    rows = re.findall(r'<tr data-loan="([^"]+)">(.*?)</tr>', page, re.S)
    assert [r[0] for r in rows] == [str(started_second), str(started_first)]
    shown = {i["loan_id"]: re.search(r'class="queued-at" datetime="([^"]+)"', row) for i in items for r, row in rows
             if r == i["loan_id"]}  # fmt: skip
    for item in items:
        at = shown[item["loan_id"]]
        assert at is not None, "the row shows no queued time"
        assert datetime.fromisoformat(at.group(1)) == datetime.fromisoformat(item["queued_at"])
    browser.close()
