"""The Ops disbursal queue in headless Chromium, as a Loan Ops staff member: the queue, multi-select export of a
payout file (downloaded and read back), initiating a payout, its failure with the gateway's reason, the retry, and
the confirmed loan leaving the queue; the bank's payment of the file confirmed from the page."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal
from typing import Any

from openpyxl import load_workbook

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from projections.disbursal_queries import DisbursalQueries
from tests.conftest import make_tenant
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_disbursal import queued_loan, wiring
from tests.support import settle

__all__ = ["wiring"]


def test_the_ops_queue_exports_initiates_and_retries(
    server: str, browser: Any, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    email = f"loan-ops-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Ravi Ops", ["loan_ops"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    first, second, third = (queued_loan(platform, tenant, f"acct-{n}")[0] for n in range(3))
    queries: DisbursalQueries = platform.get(DisbursalQueries)

    page = browser.new_page()
    login(page, server, email)
    page.click("nav >> text=Disbursal")
    page.wait_for_url(f"{server}/disbursals")
    assert page.locator("#queue tbody tr").count() == 3

    page.check(f"tr[data-loan='{first}'] input[name=loan_id]")
    page.check(f"tr[data-loan='{second}'] input[name=loan_id]")
    page.click("#export")
    page.wait_for_selector("#info")
    assert "Payout file of 2 loans" in page.locator("#info").inner_text()
    assert page.locator(f"tr[data-loan='{first}'] .state").inner_text() == "exported"
    with page.expect_download() as download:
        page.click("#files a.payout-file")
    rows = list(load_workbook(io.BytesIO(open(download.value.path(), "rb").read()), read_only=True)["Payouts"]
                .iter_rows(values_only=True))  # fmt: skip
    nets = [queries.disbursement(tenant.brand_id, loan_id).net_disbursed for loan_id in (first, second)]  # type: ignore[union-attr]
    assert len(rows) == 4 and Decimal(str(rows[-1][5])).quantize(Decimal("0.01")) == sum(nets)

    page.check(f"tr[data-loan='{third}'] input[name=loan_id]")
    page.select_option("#mode", "NEFT")
    page.click("#initiate")
    page.wait_for_selector("#info")
    assert page.locator(f"tr[data-loan='{third}'] .state").inner_text() == "initiated"
    reference = queries.disbursement(tenant.brand_id, third).gateway_reference  # type: ignore[union-attr]
    provider_simulators["gateway"].settle(reference, confirm=False, reason="beneficiary_bank_offline").result(10)
    for _ in range(100):
        page.goto(f"{server}/disbursals")
        if page.locator(f"tr[data-loan='{third}'] .state").inner_text() == "failed":
            break
    assert "beneficiary_bank_offline" in page.locator(f"tr[data-loan='{third}']").inner_text()

    page.check(f"tr[data-loan='{third}'] input[name=loan_id]")  # retry, a new attempt
    page.select_option("#mode", "IMPS")
    page.click("#initiate")
    page.wait_for_selector("#info")
    row = page.locator(f"tr[data-loan='{third}']").inner_text()
    assert "initiated" in row and "IMPS" in row
    page.screenshot(path=str(ARTIFACTS / "disbursal_queue.png"), full_page=True)
    reference = queries.disbursement(tenant.brand_id, third).gateway_reference  # type: ignore[union-attr]
    provider_simulators["gateway"].settle(reference).result(10)
    for _ in range(100):
        page.goto(f"{server}/disbursals")
        if page.locator(f"tr[data-loan='{third}']").count() == 0:
            break
    assert page.locator(f"tr[data-loan='{third}']").count() == 0  # active: out of the queue
    page.goto(f"{server}/loans/{third}")
    assert "active" in page.locator("#loan-status").inner_text()

    page.goto(f"{server}/disbursals")  # the bank paid the exported file: its two loans are disbursed
    page.click("#files .file-confirm button")
    page.wait_for_selector("#info")
    assert "disbursed" in page.locator("#info").inner_text()
    assert page.locator("#queue tbody tr[data-loan]").count() == 0
    assert "confirmed" in page.locator("#files").inner_text()
