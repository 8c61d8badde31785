"""The disbursal queue's actions post/redirect/get (plain HTTP on the ASGI app): initiating payouts, exporting a
payout file and settling one answer 303 to the queue, which says what was done; reloading the queue initiates
nothing again (before, the initiate answered 200 with the page, and a browser reload re-posted the payouts). A
refusal that changed nothing stays a 422 at the queue, the ticked loans and the mode kept."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from projections.disbursal_queries import DisbursalQueries
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_disbursal import queued_loan, wiring
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle

__all__ = ["wiring"]


def _info(page: str) -> str:
    found = re.search(r'id="info">([^<]*)<', page)
    return html.unescape(found.group(1)) if found else ""


def test_initiating_exporting_and_settling_redirect_and_a_reload_repeats_nothing(
    app: Any, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    email = f"loan-ops-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Ravi Ops", ["loan_ops"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    paid, filed = (queued_loan(platform, tenant, f"acct-{n}")[0] for n in range(2))
    queries: DisbursalQueries = platform.get(DisbursalQueries)
    browser, csrf = _portal(app, email)
    try:
        initiated = browser.post("/disbursals/initiate", data={"csrf_token": csrf, "loan_id": [str(paid)],
                                                               "mode": "NEFT"})  # fmt: skip
        assert initiated.status_code == 303, initiated.text[:300]
        target = initiated.headers["location"]
        assert target.startswith("/disbursals?") and "initiated=1" in target and "mode=NEFT" in target
        for _ in range(2):  # the page, then a reload of it
            page = browser.get(target)
            assert page.status_code == 200
            assert _info(page.text) == (
                "Payout initiated for 1 loan(s) by NEFT; each is disbursed when the gateway confirms it."
            )
        shown = queries.disbursement(tenant.brand_id, paid)
        assert shown is not None and shown.state == "initiated" and len(shown.attempts) == 1  # one payout, not two

        # Paying it again while its payout is pending: refused, nothing changed, the mode chosen kept at the queue.
        again = browser.post("/disbursals/initiate", data={"csrf_token": csrf, "loan_id": [str(paid)],
                                                           "mode": "UPI"})  # fmt: skip
        assert again.status_code in (409, 422) and 'id="error"' in again.text, again.text[:300]
        assert '<option value="UPI" selected>' in again.text

        # A mode the gateway does not take: every ticked loan refused, nothing initiated, the loan still ticked.
        bad = browser.post("/disbursals/initiate", data={"csrf_token": csrf, "loan_id": [str(filed)], "mode": "CASH"})
        assert bad.status_code == 422 and 'id="info"' not in bad.text, bad.text[:300]
        assert re.search(rf'value="{filed}" aria-label="[^"]*" checked>', bad.text)
        assert queries.disbursement(tenant.brand_id, filed).state == "queued"  # type: ignore[union-attr]

        exported = browser.post("/disbursals/export", data={"csrf_token": csrf, "loan_id": [str(filed)]})
        assert exported.status_code == 303, exported.text[:300]
        assert exported.headers["location"].startswith("/disbursals?exported=")
        listed = browser.get(exported.headers["location"]).text
        assert _info(listed).startswith("Payout file of 1 loans, total Rs ")
        file_id = re.search(r'action="/disbursals/files/([0-9a-f-]+)/return"', listed)
        assert file_id is not None

        refused = browser.post(f"/disbursals/files/{file_id.group(1)}/return", data={"csrf_token": csrf,
                                                                                    "reason": "x"})  # fmt: skip
        assert refused.status_code == 422 and 'value="x"' in refused.text, refused.text[:300]
        unseen = browser.post(f"/disbursals/files/{file_id.group(1)}/return", data={"csrf_token": csrf,
                                                                                   "reason": "\u200b" * 4})  # fmt: skip
        assert unseen.status_code == 422 and "say why the bank returned" in _error(unseen.text), unseen.text[:300]
        returned = browser.post(f"/disbursals/files/{file_id.group(1)}/return",
                                data={"csrf_token": csrf, "reason": "beneficiary name mismatch"})  # fmt: skip
        assert returned.status_code == 303 and returned.headers["location"] == "/disbursals?file=returned"
        assert _info(browser.get("/disbursals?file=returned").text) == "The file's loans may be paid again."
        assert _info(browser.get("/disbursals?initiated=1&mode=<b>").text) == ""  # only known values are said
    finally:
        browser.__exit__(None, None, None)


def _error(page: str) -> str:
    found = re.search(r'id="error">([^<]*)<', page)
    return html.unescape(found.group(1)) if found else ""


def test_the_queue_names_refused_loans_by_number_and_a_files_maker_by_name(
    app: Any, platform: Any, provider_simulators: Any
) -> None:
    """A refused payout or payout file names each loan by its number (before: its uuid, and the API's `loan ids[0]`),
    and the payout files list says who exported each file by name (before: `staff:<uuid>`)."""
    tenant = make_tenant(platform)
    email = f"loan-ops-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Ravi Ops", ["loan_ops"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    paid, filed = (queued_loan(platform, tenant, f"acct-{n}")[0] for n in range(2))
    loans = platform.get(Loans)
    paid_number, filed_number = (loans.get(tenant.brand_id, i).loan_number for i in (paid, filed))
    browser, csrf = _portal(app, email)
    try:
        bad = browser.post("/disbursals/initiate", data={"csrf_token": csrf, "loan_id": [str(filed)], "mode": "CASH"})
        assert bad.status_code == 422
        assert _error(bad.text).startswith(f"{filed_number}: ") and str(filed) not in _error(bad.text)

        started = browser.post("/disbursals/initiate", data={"csrf_token": csrf, "loan_id": [str(paid)],
                                                             "mode": "NEFT"})  # fmt: skip
        assert started.status_code == 303, started.text[:300]
        in_flight = browser.post("/disbursals/export", data={"csrf_token": csrf, "loan_id": [str(filed), str(paid)]})
        assert in_flight.status_code == 422, in_flight.text[:300]
        said = _error(in_flight.text)
        assert said.startswith(f"loan {paid_number}: ") and str(paid) not in said and "loan ids" not in said, said

        exported = browser.post("/disbursals/export", data={"csrf_token": csrf, "loan_id": [str(filed)]})
        assert exported.status_code == 303, exported.text[:300]
        files = browser.get(exported.headers["location"]).text
        files = files[files.index('id="files"') :]
        assert "<td>Ravi Ops</td>" in files and "staff:" not in files
    finally:
        browser.__exit__(None, None, None)
