"""Every link the dashboard shows a staff member opens for them: the loan figures link to the loan list only for
whoever may list loans. Sales and collection staff see the dashboard without LOANS; its four loan figures linked to
`/loans`, a 403 for them."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD
from tests.support import settle


@pytest.mark.parametrize("role", ["sales", "collection_executive", "admin"])
def test_every_dashboard_link_opens_for_whoever_sees_the_dashboard(app: Any, platform: Any, role: str) -> None:
    tenant = make_tenant(platform)
    email = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Dash Viewer", [role], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    with TestClient(app, follow_redirects=False) as browser:
        assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
        page = browser.get("/dashboard")
        assert page.status_code == 200 and 'id="kpi-total"' in page.text
        main = page.text[page.text.index('<main id="content"') :]
        links = set(re.findall(r'href="(/[^"#]*)', main))
        # the loan list, for whoever may list loans only (LOANS READ: a collection executive too, not Sales)
        assert ("/loans" in links) is (role in ("admin", "collection_executive"))
        for link in sorted(links):
            opened = browser.get(link.replace("&amp;", "&"))
            assert opened.status_code in (200, 303), (role, link, opened.status_code)
