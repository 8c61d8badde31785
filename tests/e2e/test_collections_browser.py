"""Collections in headless Chromium (issue #16): an executive's worklist at a phone's width (nothing overflows
sideways), logging a contact and a promise from the loan's panel, a refusal shown on the page; a manager's worklist
with the reallocation form, and the team view."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_collections import D0, cob
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]

PHONE = {"width": 390, "height": 844}


def _staff(platform: Any, brand_id: Any, name: str, role: str) -> tuple[Any, str]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(brand_id, email, name, [role], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    return made.id, email


def test_worklist_panel_reallocation_and_team(server: str, browser: Any, client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"auto_allocate_collections": True})
    settle(platform, "identity", result.position)
    set_business_date(platform, tenant, D0)
    asha, asha_email = _staff(platform, tenant.brand_id, "Asha", "collection_executive")
    ravi, _ = _staff(platform, tenant.brand_id, "Ravi", "collection_executive")
    _, manager_email = _staff(platform, tenant.brand_id, "Meena", "collection_manager")
    loans = [disbursed_loan(platform, tenant) for _ in range(2)]
    cob(client, platform, tenant, date(2026, 3, 1))

    phone = browser.new_context(viewport=PHONE).new_page()
    login(phone, server, asha_email)
    phone.goto(f"{server}/collections")
    items = phone.locator("#worklist .work-item")
    assert items.count() == 1  # one loan each, by workload
    assert "DPD 1" in items.first.inner_text() and "call the borrower" in items.first.inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    mine = items.first.get_attribute("data-loan")
    assert mine in {str(i) for i in loans}
    phone.screenshot(path=str(ARTIFACTS / "collections_worklist_phone.png"), full_page=True)

    items.first.locator("a").click()
    phone.wait_for_selector("#contact-form")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.select_option("#contact-form select[name=outcome]", "promised_to_pay")
    phone.fill("#contact-form textarea[name=remarks]", "will pay on salary day")
    phone.click("#contact-form button")
    phone.wait_for_selector("#contacts")
    assert "will pay on salary day" in phone.locator("#contacts").inner_text()
    phone.fill("#ptp-form input[name=date]", "2026-03-05")
    phone.fill("#ptp-form input[name=amount]", "8037.57")
    phone.click("#ptp-form button")
    phone.wait_for_selector("#ptps")
    assert "₹8,037.57" in phone.locator("#ptps").inner_text() and "open" in phone.locator("#ptps").inner_text()
    phone.fill("#ptp-form input[name=date]", "2026-03-06")  # a second open promise: refused, shown
    phone.fill("#ptp-form input[name=amount]", "10")
    phone.click("#ptp-form button")
    phone.wait_for_selector("[role=alert]")
    assert "still open" in phone.locator("[role=alert]").inner_text()
    theirs = next(str(i) for i in loans if str(i) != mine)
    assert phone.goto(f"{server}/collections/loans/{theirs}").status == 404  # another executive's loan
    assert phone.goto(f"{server}/collections/team").status == 403

    page = browser.new_page()
    login(page, server, manager_email)
    page.goto(f"{server}/collections")
    assert page.locator("#worklist .work-item").count() == 2
    page.check(f"#worklist .work-item[data-loan='{theirs}'] input[type=checkbox]")
    page.select_option("#reallocate-form select[name=staff_id]", str(asha))
    page.click("#reallocate-form button[type=submit]:not(.call-button)")  # the Call buttons submit their own forms
    page.wait_for_selector("#worklist")
    page.goto(f"{server}/collections/team")
    rows = {r.locator("td").first.inner_text(): r.inner_text() for r in page.locator("#executives tbody tr").all()}
    assert rows["Asha"].split("\t")[1] == "2", rows
    assert "Ravi" not in rows or rows["Ravi"].split("\t")[1] == "0"
    assert "1-30\t2" in page.locator("#buckets").inner_text()
    page.screenshot(path=str(ARTIFACTS / "collections_team.png"), full_page=True)
    page.goto(f"{server}/collections/loans/{theirs}")
    assert "reallocation" in page.locator("#allocations").inner_text()
    assert "Ravi" in page.locator("#allocations").inner_text()  # by name
    assert page.locator(f"#allocations .actor[title='{ravi}']").count() >= 1


def test_an_executive_attaches_the_borrowers_payment_proof_to_a_contact_from_the_case(
    server: str, browser: Any, client: Any, platform: Any
) -> None:
    """Spec, Collection Executive: "Upload documents/evidence shared by the customer (payment proof, etc.)" - from
    the case's contact list, as `POST /loans/{id}/contacts/{cid}/evidence` does; the file opens from the case."""
    tenant = make_tenant(platform)
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"auto_allocate_collections": True})
    settle(platform, "identity", result.position)
    set_business_date(platform, tenant, D0)
    _, email = _staff(platform, tenant.brand_id, "Kavya", "collection_executive")
    loan = disbursed_loan(platform, tenant)
    cob(client, platform, tenant, date(2026, 3, 1))

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/collections/loans/{loan}")
    page.select_option("#contact-form select[name=outcome]", "promised_to_pay")
    page.fill("#contact-form textarea[name=remarks]", "sent a screenshot of the transfer")
    page.click("#contact-form button")
    row = page.locator("#contacts tbody tr[data-contact]")
    row.wait_for()
    assert row.locator("a[data-evidence]").count() == 0

    ARTIFACTS.mkdir(exist_ok=True)
    fake = ARTIFACTS / "not-a-proof.pdf"
    fake.write_bytes(b"just some text")
    row.locator("input[type=file]").set_input_files(str(fake))
    row.locator("button:has-text('Attach')").click()
    assert "PDF, JPEG or PNG" in page.locator("[role=alert]").inner_text()  # refused, said, nothing attached
    assert page.locator("#contacts a[data-evidence]").count() == 0

    proof = ARTIFACTS / "payment-proof.png"
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    proof.write_bytes(png)
    page.locator("#contacts tbody tr[data-contact] input[type=file]").set_input_files(str(proof))
    page.locator("#contacts tbody tr[data-contact] button:has-text('Attach')").click()
    link = page.locator("#contacts a[data-evidence]")
    link.wait_for()
    document_id = link.get_attribute("data-evidence")
    with page.expect_download() as opened:
        link.click()
    assert opened.value.path().read_bytes() == png
    panel = client.get(f"/api/v1/loans/{loan}/collection", headers=tenant.auth).json()
    assert [str(d) for d in panel["contacts"][0]["evidence"]] == [document_id]
    # Only a document attached to one of this loan's contacts opens from the case.
    other = page.request.get(f"{server}/collections/loans/{loan}/evidence/{uuid.uuid4()}")
    assert other.status == 404
    page.close()
