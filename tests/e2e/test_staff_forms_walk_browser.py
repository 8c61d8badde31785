"""The staff portal's edit forms walked in a real headless Chromium as a staff member works them: typing, choosing
and clicking, never posting a form by hand. What HTTP tests of the same forms cannot see is checked on every page
the walk opens: no console error and no script error, nothing wider than the screen, and after each action the
state really changed (read back through the API) and the page says so. A Customer 360 form opened before someone
else's change is refused in words with what was typed kept, and saved when sent again."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import expect

from domain.fieldwork.application import FieldWork
from tests.conftest import Tenant
from tests.e2e.conftest import login
from tests.e2e.test_covenants import _covenant, _run
from tests.e2e.test_notice_match_confirm import _low_match, simulator
from tests.e2e.test_portal_edit_forms import _member
from tests.e2e.test_portal_visit_and_lead_forms import _lead
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import mobile, settle

__all__ = ["catalogue", "simulator"]  # fixtures: the servicing tests' penal catalogue, the Softmedia simulator

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}  # field agents and collectors open the same pages on a phone
API = "/api/v1"
# Chromium reports a page answered 4xx on the console; a walk's refusal it expects is said as this, nothing else.
REFUSED_PAGE = re.compile(r"^Failed to load resource: the server responded with a status of (409|422) ")


class Walk:
    """One signed-in Chromium page of a staff member and what went wrong on it: console errors, script errors,
    dialogs (a confirm() would stop a real user, so none is expected) and pages wider than the screen. Its context
    is closed by the `browser` fixture after the test."""

    def __init__(self, browser: Any, server: str, email: str) -> None:
        self.server = server
        self.problems: list[str] = []
        self.refusals: list[str] = []
        self.page = browser.new_context(viewport=DESKTOP).new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("dialog", self._dialog)
        login(self.page, server, email)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        if REFUSED_PAGE.match(message.text):
            self.refusals.append(message.text)
        else:
            self.problems.append(f"console: {message.text} at {self.page.url}")

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog {dialog.type}: {dialog.message} at {self.page.url}")
        dialog.dismiss()

    def fits(self) -> None:
        """The page as it is now no wider than the screen (measured here, not in a load listener, which Playwright
        may run only after the screen changed again)."""
        wide = self.page.evaluate("document.documentElement.scrollWidth")
        screen = self.page.viewport_size["width"]
        if wide > screen:
            self.problems.append(f"{self.page.url} is {wide} px wide on a {screen} px screen")

    def on_phone(self, *paths: str) -> None:
        """Open `paths` again on a phone's screen (each checked to fit, as every page is), then the desktop's."""
        self.page.set_viewport_size(PHONE)
        for path in paths:
            self.open(path)
        self.page.set_viewport_size(DESKTOP)

    def open(self, path: str) -> Any:
        self.page.goto(f"{self.server}{path}")
        self.fits()
        return self.page

    def follow(self, link: str, address: str | re.Pattern[str]) -> None:
        """Click the link `link` and wait for the page at `address`."""
        self.page.click(link)
        self.page.wait_for_url(address)
        self.fits()

    def submit(self, form: str) -> None:
        """Click the form's submit button and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.locator(f"{form} button[type=submit]").click()
        self.page.wait_for_load_state()
        self.fits()

    def clean(self, refusals: int = 0) -> None:
        """No console or script error, no dialog, no page wider than the screen; `refusals` pages answered 4xx."""
        assert not self.problems, self.problems
        assert len(self.refusals) == refusals, self.refusals


def _get(server: str, tenant: Tenant, path: str) -> Any:
    answer = httpx.get(f"{server}{API}{path}", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _said(page: Any, selector: str) -> str:
    text: str = page.locator(selector).inner_text()
    return text.strip()


def test_the_customer_360_edit_forms_and_a_covenant_walked_in_the_browser(
    server: str, browser: Any, staff: tuple[Tenant, str], platform: Any, provider_simulators: Any
) -> None:
    """Walks 1 and 2: the 360's profile, address, alternate phone, loan number, messaging preferences and Send now; a
    stale profile form; then the borrower's covenant reassigned and closed, and the borrower's notices sent."""
    tenant, email = staff
    asha_id, _ = _member(platform, tenant, "admin", "Asha Iyer")
    phone = mobile()
    made = httpx.post(f"{server}{API}/customers", json={"name": "Kavya Rao", "phone": phone}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    customer = made.json()["id"]
    settle(platform, "customers")
    walk = Walk(browser, server, email)
    page = walk.open(f"/customers/{customer}")

    # The profile: typed and saved.
    page.fill("#profile-form input[name=name]", "Kavya R Rao")
    page.fill("#profile-form input[name=email]", "kavya@example.in")
    page.fill("#profile-form input[name=date_of_birth]", "1990-04-02")
    walk.submit("#profile-form")
    assert _said(page, "#customer-saved") == "Profile saved."
    record = _get(server, tenant, f"/customers/{customer}")
    assert (record["name"], record["email"], record["date_of_birth"]) == ("Kavya R Rao", "kavya@example.in",
                                                                          "1990-04-02")  # fmt: skip
    expect(page.locator("h1")).to_have_text("Kavya R Rao")

    # An address, chosen and typed.
    page.select_option("#address-form select[name=kind]", "office")
    page.fill("#address-form input[name=line1]", "4th floor, Prestige Tower")
    page.fill("#address-form input[name=city]", "Bengaluru")
    page.fill("#address-form input[name=pincode]", "560001")
    walk.submit("#address-form")
    assert "address" in _said(page, "#customer-saved").lower()
    addresses = _get(server, tenant, f"/customers/{customer}")["addresses"]
    assert [(a["kind"], a["line1"], a["city"], a["pincode"]) for a in addresses] == [
        ("office", "4th floor, Prestige Tower", "Bengaluru", "560001")]  # fmt: skip
    expect(page.locator("#address-list li")).to_have_count(1)

    # An alternate phone with whose it is.
    alternate = mobile()
    page.fill("#alternate-phone-form input[name=phone]", alternate)
    page.fill("#alternate-phone-form input[name=label]", "brother")
    walk.submit("#alternate-phone-form")
    phones = _get(server, tenant, f"/customers/{customer}")["alternate_phones"]
    assert [(p["phone"][-10:], p["label"]) for p in phones] == [(alternate, "brother")]
    expect(page.locator("#alternate-phone-list li[data-phone]")).to_have_count(1)

    # An outside loan number linked.
    loan_number = f"SML{uuid.uuid4().int % 10**10:010d}"
    page.fill("#loan-number-form input[name=loan_number]", loan_number)
    walk.submit("#loan-number-form")
    assert _get(server, tenant, f"/customers/{customer}")["loan_numbers"] == [loan_number]
    assert loan_number in _said(page, "dl.facts")

    # Messaging preferences: a language chosen, WhatsApp ticked, a reason typed.
    page.select_option("#preferences-form select[name=language]", "hi")
    page.check("#preferences-form input[name=opted_out][value=whatsapp]")
    page.fill("#preferences-form input[name=reason]", "asked on the phone")
    walk.submit("#preferences-form")
    assert _said(page, "#preferences-saved") == "Messaging preferences saved."
    preferences = _get(server, tenant, f"/customers/{customer}/messaging-preferences")
    assert (preferences["language"], preferences["opted_out"], preferences["reason"]) == (
        "hi", ["whatsapp"], "asked on the phone")  # fmt: skip
    assert _said(page, "#messaging-opted-out") == "whatsapp"

    # Send a message now: an SMS of the first due reminder.
    page.select_option("#send-message-form select[name=channel]", "sms")
    page.select_option("#send-message-form select[name=kind]", "due_1")
    walk.submit("#send-message-form")
    expect(page.locator("#message-sent")).to_be_visible()
    sent = _get(server, tenant, f"/messages?customer_id={customer}")["items"]
    assert [(m["channel"], m["source"]) for m in sent] == [("sms", "manual")]

    # A profile form opened before someone else's change: refused in words, what was typed kept; sent again, saved.
    version = _get(server, tenant, f"/customers/{customer}")["version"]
    other = httpx.patch(f"{server}{API}/customers/{customer}", json={"name": "Kavya Iyer"},
                        headers=tenant.auth | {"If-Match": f'"{version}"'})  # fmt: skip
    assert other.status_code == 200, other.text
    page.fill("#profile-form input[name=name]", "Kavya Typed")
    page.fill("#profile-form input[name=email]", "kavya.typed@example.in")
    walk.submit("#profile-form")
    said = _said(page, "#profile-error")
    assert said.startswith("Someone else changed this borrower's profile since you opened it") and "Kavya Iyer" in said
    assert page.input_value("#profile-form input[name=name]") == "Kavya Typed"
    assert page.input_value("#profile-form input[name=email]") == "kavya.typed@example.in"
    assert _get(server, tenant, f"/customers/{customer}")["name"] == "Kavya Iyer"
    walk.submit("#profile-form")
    assert _said(page, "#customer-saved") == "Profile saved."
    record = _get(server, tenant, f"/customers/{customer}")
    assert (record["name"], record["email"]) == ("Kavya Typed", "kavya.typed@example.in")
    walk.on_phone(f"/customers/{customer}")
    walk.clean(refusals=1)

    # Walk 2: the borrower's covenant, its assignee changed and then closed; its notices sent, by borrower.
    with httpx.Client(base_url=server) as api:
        covenant = _covenant(api, tenant, customer, first_due_date="2024-06-30")
        settle(platform, "covenants")
        _run(api, platform, tenant, "covenant-evaluation", "2024-06-23")
        assert _run(api, platform, tenant, "covenant-notification", "2024-06-23")["status"] == "succeeded"
    page = walk.open(f"/customers/{customer}")
    walk.follow(f"#customer-covenants a[href='/covenants/{covenant['id']}']", f"{server}/covenants/{covenant['id']}")
    page.select_option("#assignee-form select[name=assignee_id]", label="Asha Iyer")
    walk.submit("#assignee-form")
    assert _said(page, "#assignee-saved") == "Assigned to Asha Iyer."
    assert _get(server, tenant, f"/covenants/{covenant['id']}")["assignee_id"] == asha_id
    assert _said(page, "#covenant-assignee") == "Asha Iyer"
    walk.on_phone(f"/covenants/{covenant['id']}")  # its open record's forms too
    walk.open(f"/covenants/{covenant['id']}")
    page.click("#covenant-close summary")
    page.fill("#close-form textarea[name=reason]", "loan prepaid; covenant no longer needed")
    walk.submit("#close-form")
    expect(page.locator("#covenant-closed")).to_be_visible()
    assert _get(server, tenant, f"/covenants/{covenant['id']}")["status"] == "closed"
    expect(page.locator("#close-form")).to_have_count(0)

    # "Notices sent" from the covenants list, then one borrower's by the row's link.
    page = walk.open("/covenants")
    walk.follow("#notices-link", f"{server}/covenant-notices")
    walk.follow(
        f"#covenant-notices a[data-borrower='{customer}']", re.compile(rf".*/covenant-notices\?customer_id={customer}$")
    )
    expect(page.locator("#notices-filter")).to_be_visible()
    rows = page.locator("#covenant-notices tr[data-notice]")
    expect(rows).to_have_count(1)
    mine = _get(server, tenant, f"/covenant-notices?customer_id={customer}")["items"]
    assert [rows.first.get_attribute("data-notice")] == [n["id"] for n in mine]
    walk.follow("#notices-all", f"{server}/covenant-notices")
    walk.on_phone(f"/covenant-notices?customer_id={customer}")
    walk.clean(refusals=1)


def test_a_field_visit_a_lead_and_a_notice_match_walked_in_the_browser(
    server: str, browser: Any, staff: tuple[Tenant, str], platform: Any, simulator: Any
) -> None:
    """Walks 3 and 4: a field visit given to another agent, then cancelled; a lead linked to its borrower by phone;
    a repayment notice's guessed borrower confirmed, then corrected to another borrower by their id."""
    tenant, email = staff
    ravi_id, _ = _member(platform, tenant, "collection_executive", "Ravi Rao")
    meena_id, _ = _member(platform, tenant, "collection_executive", "Meena Das")
    set_business_date(platform, tenant, D0)
    loan = disbursed_loan(platform, tenant)
    flagged = platform.get(FieldWork).flag_visit(tenant.brand_id, loan, uuid.UUID(ravi_id), "three promises missed")
    settle(platform, FieldWork.name)
    walk = Walk(browser, server, email)

    # The visit from the list: given to Meena, then cancelled with a reason.
    page = walk.open("/field-visits")
    walk.follow(f"a[href='/field-visits/{flagged.id}']", f"{server}/field-visits/{flagged.id}")
    page.select_option("#reassign-form select[name=assignee_id]", label="Meena Das")
    walk.submit("#reassign-form")
    assert _said(page, "#visit-done") == "The visit was given to Meena Das."
    assert _get(server, tenant, f"/field-visits/{flagged.id}")["assignee_id"] == meena_id
    walk.on_phone(f"/field-visits/{flagged.id}")
    walk.open(f"/field-visits/{flagged.id}")
    page.fill("#cancel-visit-form input[name=reason]", "paid in full at the branch")
    walk.submit("#cancel-visit-form")
    assert _said(page, "#visit-done") == "The visit was cancelled."
    assert _get(server, tenant, f"/field-visits/{flagged.id}")["status"] == "cancelled"
    assert _said(page, "#visit-status") == "cancelled"
    expect(page.locator("#reassign-form")).to_have_count(0)

    # A lead linked to the borrower it became, by the phone as staff write it (with a space).
    phone = mobile()
    borrower = httpx.post(f"{server}{API}/customers", json={"name": "Neel Kapoor", "phone": phone},
                          headers=tenant.auth)  # fmt: skip
    assert borrower.status_code == 201, borrower.text
    with httpx.Client(base_url=server) as api:
        lead = _lead(api, tenant, "Ira Lead")
    settle(platform, "leads")
    settle(platform, "customers")
    page = walk.open("/leads")
    page.fill(f"#link-{lead} input[name=borrower]", f"{phone[:5]} {phone[5:]}")
    walk.submit(f"#link-{lead}")
    assert _said(page, "#lead-linked") == "Ira Lead is linked to the borrower Neel Kapoor."
    linked = _get(server, tenant, f"/leads/{lead}")
    assert (linked["borrower_id"], linked["status"]) == (borrower.json()["id"], "applied")
    expect(page.locator(f"#link-{lead}")).to_have_count(0)

    # A notice matched on the name alone: its guess confirmed, then corrected to the borrower it really is.
    with httpx.Client(base_url=server) as api:
        made = _low_match(api, platform, simulator, tenant)
    notice, guessed, actual = made["notice"]["id"], made["guessed"], made["actual"]
    page = walk.open(f"/notices/{notice}")
    assert page.locator("#match-form select[name=customer_id]").input_value() == guessed
    page.fill("#match-form input[name=reason]", "borrower confirmed on call")
    walk.submit("#match-form")
    assert _said(page, "#match-saved") == "Match confirmed."
    match = _get(server, tenant, f"/notices/{notice}")["match"]
    assert (match["customer_id"], match["confirmed"]) == (guessed, True)
    page.select_option("#match-form select[name=customer_id]", "")
    page.fill("#match-form input[name=other_customer_id]", actual)
    page.fill("#match-form input[name=reason]", "same person, second record")
    walk.submit("#match-form")
    assert _said(page, "#match-saved") == "Match corrected."
    match = _get(server, tenant, f"/notices/{notice}")["match"]
    assert (match["customer_id"], match["confirmed"]) == (actual, True)
    assert page.locator("#matched-customer").get_attribute("href") == f"/customers/{actual}"
    walk.on_phone("/leads", f"/notices/{notice}")
    walk.clean()


def test_job_settings_a_notice_source_and_a_message_template_walked_in_the_browser(
    server: str, browser: Any, staff: tuple[Tenant, str]
) -> None:
    """Walk 5: a job's settings saved; a notice source connected, then its settings edited; a message template
    created."""
    tenant, email = staff
    walk = Walk(browser, server, email)

    page = walk.open("/jobs")
    page.click("#settings-housekeeping summary")
    form = "#settings-form-housekeeping"
    page.fill(f"{form} input[name=batch_size]", "250")
    page.fill(f"{form} input[name=retry_count]", "4")
    walk.submit(form)
    assert _said(page, "#settings-saved") == "Housekeeping: settings saved."
    settings = _get(server, tenant, "/jobs/housekeeping")["settings"]
    assert (settings["batch_size"], settings["retry_count"]) == (250, 4)

    # A source connected from the sync page, disabled at first; then its settings edited.
    page = walk.open("/sync")
    page.fill("#connect-form input[name=company]", "KSF")
    page.fill("#connect-form input[name=base_url]", "http://127.0.0.1:9/softmedia")
    page.fill("#connect-form input[name=token]", "tok-walk-1234567890")
    page.fill("#connect-form input[name=schedule]", "*/20 * * * *")
    page.uncheck("#connect-form input[name=enabled]")
    walk.submit("#connect-form")
    assert _said(page, "#source-connected") == "Source of KSF connected, its scheduled syncs disabled."
    (source,) = [s for s in _get(server, tenant, "/notice-sources")["items"] if s["company"] == "KSF"]
    assert (source["base_url"], source["schedule"], source["enabled"]) == (
        "http://127.0.0.1:9/softmedia", "*/20 * * * *", False)  # fmt: skip
    page.click(f"#source-settings-{source['id']} summary")
    edit = f"#source-form-{source['id']}"
    page.fill(f"{edit} input[name=schedule]", "0 * * * *")
    page.check(f"{edit} input[name=enabled]")
    walk.submit(edit)
    assert _said(page, "#source-saved") == "Settings of KSF saved."
    now = _get(server, tenant, f"/notice-sources/{source['id']}")
    assert (now["schedule"], now["enabled"], now["token"]) == ("0 * * * *", True, source["token"])  # token kept

    # A message template created from the templates list.
    page = walk.open("/engagement/templates")
    name = f"Festive greeting {uuid.uuid4().hex[:6]}"
    page.fill("#new-template-form input[name=name]", name)
    page.select_option("#new-template-form select[name=channel]", "sms")
    page.select_option("#new-template-form select[name=language]", "en")
    page.fill("#new-template-form textarea[name=body]", "Happy Diwali {{borrower_name}} from us")
    walk.submit("#new-template-form")
    assert "Saved as version 1." in _said(page, "#template-saved")
    created = [t for t in _get(server, tenant, "/message-templates?limit=200")["items"] if t["name"] == name]
    assert [(t["channel"], t["language"], t["version"]) for t in created] == [("sms", "en", 1)]
    assert page.url.startswith(f"{server}/engagement/templates/{created[0]['id']}")
    walk.on_phone("/jobs", "/sync", "/engagement/templates", page.url.removeprefix(server))
    walk.clean()
