"""The staff profile and permissions forms post every field, so a profile opened before another admin's change undid
that change when saved (roles and permission overrides put back as the page showed them): a silent overwrite. A
save now applies what the form changed from the version it showed (`Identity.update_staff_shown`); the staff
member's own logins, which move the version, cause no conflict; a field changed both there and since is a 409 that
saves nothing."""

from __future__ import annotations

import re
import uuid
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.e2e.test_stale_settings_form import _FormFields, _read
from tests.support import settle


def _form(page: str, form_id: str) -> dict[str, Any]:
    parser = _FormFields(form_id)
    parser.feed(page)
    fields: dict[str, Any] = {}
    for name, value in parser.fields:
        if name == "roles":
            fields.setdefault("roles", []).append(value)
        else:
            fields[name] = value
    return fields


def _selects(page: str, form_id: str) -> dict[str, str]:
    """Each select of the form and its selected option's value (the parser above reads inputs only)."""

    form = page[page.index(f'id="{form_id}"') :]
    form = form[: form.index("</form>")]
    chosen = {}
    for select in re.finditer(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        picked = re.search(r'<option value="([^"]*)"\s*selected', select.group(2))
        first = re.search(r'<option value="([^"]*)"', select.group(2))
        chosen[select.group(1)] = (picked or first).group(1) if (picked or first) else ""
    return chosen


def _staff(client: Any, tenant: Tenant, staff_id: Any) -> dict[str, Any]:
    return _read(client, tenant, f"staff/{staff_id}")


def test_a_staff_profile_opened_before_another_admins_change_saves_only_its_own(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    identity: Identity = platform.get(Identity)
    member_email = f"cx-{uuid.uuid4().hex[:6]}@lender.in"
    member = identity.create_staff(
        tenant.brand_id, member_email, "Kiran Rao", ["credit_executive"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", member.position)
    browser, _ = _portal(app, email)
    try:
        page = browser.get(f"/staff/{member.id}").text
        profile = {**_form(page, "edit-staff"), **_selects(page, "edit-staff")}
        permissions = {**_form(page, "permissions"), **_selects(page, "permissions")}
        conflicting = dict(profile)
        assert profile["roles"] == ["credit_executive"] and profile["expected_version"].isdigit()

        # Since the page was opened: the member signs in (the version moves), another admin adds a role and
        # overrides a permission.
        signed_in, _ = _portal(app, member_email)
        signed_in.__exit__(None, None, None)
        changed = client.patch(f"/api/v1/staff/{member.id}", headers=tenant.auth,
                               json={"roles": ["credit_executive", "sales"], "permissions": {"RELOCATE_USER": "READ"}})  # fmt: skip
        assert changed.status_code == 200, changed.text

        # This admin, from the page as it was, renames the member: the role and the override stand.
        profile["name"] = "Kiran Rao Menon"
        saved = browser.post(f"/staff/{member.id}/edit", data=profile)
        assert saved.status_code == 303, saved.text[:500]
        now = _staff(client, tenant, member.id)
        assert now["name"] == "Kiran Rao Menon"
        assert sorted(now["roles"]) == ["credit_executive", "sales"]  # not put back to the page's one role
        assert now["overrides"].get("RELOCATE_USER") == "READ"

        # The stale permissions form sets another override: the other admin's RELOCATE_USER stays.
        permissions["perm_LOANS"] = "READ"
        assert browser.post(f"/staff/{member.id}/permissions", data=permissions).status_code == 303
        now = _staff(client, tenant, member.id)
        assert now["overrides"].get("LOANS") == "READ" and now["overrides"].get("RELOCATE_USER") == "READ"

        # A stale form that changes the roles too: 409, nothing saved.
        version = identity.staff(tenant.brand_id, member.id).version
        conflicting["roles"] = ["credit_executive", "collection_executive"]
        refused = browser.post(f"/staff/{member.id}/edit", data=conflicting)
        assert refused.status_code == 409 and "roles" in refused.text and "reload the page" in refused.text
        shown = _form(refused.text, "edit-staff")  # as the member is now, not the stale form typed back
        assert sorted(shown["roles"]) == ["credit_executive", "sales"] and shown["name"] == "Kiran Rao Menon"
        assert identity.staff(tenant.brand_id, member.id).version == version
    finally:
        browser.__exit__(None, None, None)
