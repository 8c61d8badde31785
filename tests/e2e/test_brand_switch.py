"""The Super Admin's brand switch on the portal: `/brands` lists every brand, acting within one makes every page
show and change that brand's data under a banner, "Back to my brand" ends it; no one else may switch (the page is a
403, and a forged cookie changes nothing)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.testclient import TestClient

from api.web import ACTING_BRAND_COOKIE
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD
from tests.support import mobile, settle


def _signed_in(app: Any, platform: Any, brand_id: uuid.UUID, role: str) -> tuple[TestClient, str]:
    email = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(brand_id, email, f"Staff {role}", [role], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    client = TestClient(app, follow_redirects=False)
    client.__enter__()
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    csrf = client.get("/").text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/customers").text)
    assert token is not None, csrf[:300]
    return client, token.group(1)


def _listed(client: TestClient, name: str, customer_id: uuid.UUID) -> bool:
    page = client.get("/customers", params={"q": name})
    assert page.status_code == 200, page.text[:300]
    return f"/customers/{customer_id}" in page.text


def test_a_super_admin_acts_within_another_brand_and_back_and_no_one_else_can(app: Any, platform: Any) -> None:
    home, other = make_tenant(platform), make_tenant(platform)
    there = f"Zara Otherbrand {uuid.uuid4().hex[:6]}"
    registered = platform.get(Customers).register(other.brand_id, name=there, phone=mobile("97"))
    settle(platform, "customers", registered.position)
    other_name = platform.get(Identity).brand(other.brand_id).name

    root, csrf = _signed_in(app, platform, home.brand_id, "super_admin")
    try:
        assert 'id="brands-link"' in root.get("/customers").text
        listing = root.get("/brands")
        assert listing.status_code == 200 and f'data-brand="{other.slug}"' in listing.text
        assert not _listed(root, there, registered.id) and 'id="acting-brand"' not in root.get("/customers").text

        for bad in ("not-an-id", str(uuid.uuid4())):
            refused = root.post("/brands/act", data={"csrf_token": csrf, "brand_id": bad})
            assert refused.status_code == 422, refused.text[:300]
        assert root.post("/brands/act", data={"brand_id": str(other.brand_id)}).status_code == 403  # no CSRF token
        moved = root.post("/brands/act", data={"csrf_token": csrf, "brand_id": str(other.brand_id)})
        assert moved.status_code == 303 and ACTING_BRAND_COOKIE in moved.headers["set-cookie"]
        page = root.get("/customers")
        assert f"Acting in <strong>{other_name}</strong>" in page.text
        assert _listed(root, there, registered.id)  # the other brand's borrowers, and not the home brand's
        assert 'id="acting-now"' in root.get("/brands").text.split(f'data-brand="{other.slug}"', 1)[1].split("</tr>")[0]

        back = root.post("/brands/act", data={"csrf_token": csrf, "brand_id": str(home.brand_id)})
        assert back.status_code == 303 and 'id="acting-brand"' not in root.get("/customers").text
        assert not _listed(root, there, registered.id)
    finally:
        root.__exit__(None, None, None)

    admin, admin_csrf = _signed_in(app, platform, home.brand_id, "admin")
    try:
        assert 'id="brands-link"' not in admin.get("/customers").text
        assert admin.get("/brands").status_code == 403
        act = admin.post("/brands/act", data={"csrf_token": admin_csrf, "brand_id": str(other.brand_id)})
        assert act.status_code == 403
        admin.cookies.set(ACTING_BRAND_COOKIE, str(other.brand_id))  # forged: a preference only a Super Admin has
        assert not _listed(admin, there, registered.id) and 'id="acting-brand"' not in admin.get("/customers").text
    finally:
        admin.__exit__(None, None, None)
