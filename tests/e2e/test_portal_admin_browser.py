"""Brand administration in the portal, driven in headless Chromium."""

from __future__ import annotations

import json
import uuid
from typing import Any

from domain.identity.application import Identity
from domain.shared.aggregate import acting_as
from tests.e2e.conftest import ARTIFACTS, login


def test_admin_invites_staff_who_sets_a_password_and_signs_in(
    server: str, browser: Any, staff: tuple[Any, str]
) -> None:
    _tenant, admin_email = staff
    page = browser.new_page()
    login(page, server, admin_email)
    page.click("nav >> text=Staff")
    page.wait_for_url(f"{server}/staff")
    email = f"kiran-{uuid.uuid4().hex[:6]}@lender.in"
    page.fill("#new-staff input[name=name]", "Kiran Rao")
    page.fill("#new-staff input[name=email]", email)
    page.check("#new-staff input[value=collection_executive]")
    page.fill("#new-staff input[name=companies]", "Acme Finance")
    page.click("#new-staff button[type=submit]")
    page.wait_for_selector("#invite")
    assert page.locator("#invite svg").count() == 1
    invite_url = page.locator("#invite code").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "staff-invite.png"), full_page=True)

    # Override one permission from the profile's editor.
    page.select_option("select[name=perm_COLLECTIONS]", "ALL")
    page.click("#permissions button[type=submit]")
    page.wait_for_selector("#permissions")
    row = page.locator("#permissions tr:has-text('COLLECTIONS')").first
    assert "ALL" in row.inner_text()

    invitee = browser.new_page()
    invitee.goto(invite_url)
    invitee.fill("input[name=password]", "kiran-password-1")
    invitee.fill("input[name=confirm]", "kiran-password-1")
    invitee.click("button[type=submit]")
    invitee.wait_for_url(f"{server}/login?next=/customers")
    invitee.fill("input[name=email]", email)
    invitee.fill("input[name=password]", "kiran-password-1")
    invitee.click("button[type=submit]")
    invitee.wait_for_url(f"{server}/customers")
    nav = invitee.locator("nav").inner_text()
    assert "Customers" in nav and "Staff" not in nav and "Settings" not in nav
    assert invitee.goto(f"{server}/settings").status == 403


def test_settings_history_and_api_keys_pages(server: str, browser: Any, staff: tuple[Any, str]) -> None:
    _tenant, admin_email = staff
    page = browser.new_page()
    login(page, server, admin_email)
    page.goto(f"{server}/settings")
    page.fill("#settings input[name=min_age]", "21")
    page.check("#settings input[name=auto_allocate_loans]")
    page.click("#settings button[type=submit]")
    page.wait_for_url(f"{server}/settings")
    history = page.locator("#history tbody").inner_text()
    assert "min_age" in history and "auto_allocate_loans" in history
    page.fill("#settings input[name=max_age]", "19")
    page.click("#settings button[type=submit]")
    assert "max_age" in page.locator(".alert").inner_text()
    page.screenshot(path=str(ARTIFACTS / "settings.png"), full_page=True)

    page.goto(f"{server}/api-keys")
    page.fill("#key-form input[name=label]", "dialer integration")
    page.select_option("#key-form select[name=role]", "collection_executive")
    page.click("#key-form button[type=submit]")
    secret = page.locator("#new-key code").inner_text()
    assert secret.startswith("cdk_")
    page.goto(f"{server}/api-keys")
    assert page.locator("#new-key").count() == 0 and secret not in page.content()
    page.click("#keys tr:has-text('dialer integration') button:has-text('Revoke')")
    page.wait_for_url(f"{server}/api-keys")
    assert "revoked" in page.locator("#keys tr:has-text('dialer integration')").inner_text()


def test_settings_with_per_frequency_overrides_save_unchanged_from_the_form(
    server: str, browser: Any, staff: tuple[Any, str], platform: Any
) -> None:
    tenant, admin_email = staff
    overrides = {"covenant_lead_days": {"monthly": 5, "quarterly": 20}, "covenant_grace_days": {"annual": 3}}
    with acting_as("test"):
        platform.get(Identity).change_configuration(tenant.brand_id, overrides)
    before = platform.get(Identity).configuration(tenant.brand_id)
    page = browser.new_page()
    login(page, server, admin_email)
    page.goto(f"{server}/settings")
    # The JSON stays whole inside the attribute (quotes were cutting it short at `{`).
    assert json.loads(page.input_value("#settings input[name=covenant_lead_days]")) == {"monthly": 5, "quarterly": 20}
    page.click("#settings button[type=submit]")
    page.wait_for_url(f"{server}/settings")
    assert page.locator(".alert").count() == 0
    after = platform.get(Identity).configuration(tenant.brand_id)
    assert after.version == before.version  # saved unchanged: nothing to record
    assert after.settings.covenant_lead_days == {"monthly": 5, "quarterly": 20}

    page.fill("#settings input[name=covenant_grace_days]", '{"annual": 4, "monthly": 1}')
    page.click("#settings button[type=submit]")
    page.wait_for_url(f"{server}/settings")
    assert platform.get(Identity).configuration(tenant.brand_id).settings.covenant_grace_days == {
        "annual": 4,
        "monthly": 1,
    }


def test_a_keyboard_user_skips_the_navigation_to_the_page(server: str, browser: Any, staff: tuple[Any, str]) -> None:
    # Found by a browser walk: a keyboard user tabbed through some 35 navigation links before reaching a page's
    # forms. The first Tab now reaches "Skip to content", shown while focused, which moves focus to the page.
    _tenant, admin_email = staff
    page = browser.new_page()
    login(page, server, admin_email)
    page.goto(f"{server}/settings")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => [document.activeElement.textContent, document.activeElement.getAttribute('href')]")
    assert focused == ["Skip to content", "#content"]
    assert page.locator(".skip-link").bounding_box()["x"] >= 0  # visible while it has focus
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "content"
    page.keyboard.press("Tab")  # the next stop is in the page, not the navigation
    assert page.evaluate("() => document.activeElement.closest('main') !== null")
    page.close()
