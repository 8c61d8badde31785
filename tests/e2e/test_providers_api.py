"""The providers' API and page: the outbound call log (admins, brand-scoped, keyset) and the dev simulators list."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.providers.directory import DevSimulators, ProviderDirectory
from adapters.simulators.sms import SmsSimulator
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.providers.calls import Caller
from domain.providers.errors import ProviderRejected
from tests.conftest import Tenant, make_tenant
from tests.support import settle

PASSWORD = "provider-pass-2026"


@pytest.fixture
def sms(platform: Any) -> Iterator[SmsSimulator]:
    directory = platform.get(ProviderDirectory)
    before = directory.config("sms")
    with SmsSimulator() as simulator:
        directory.configure_url("sms", simulator.base_url)
        yield simulator
    if before is not None:
        directory.configure(before)


def _send(platform: Any, tenant: Tenant, to: str, text: str) -> None:
    platform.get(ProviderDirectory).sms().send(to, text, caller=Caller(tenant.brand_id, uuid.uuid4()))


def test_dev_simulators_admin_only_and_404_when_none_run(client: Any, platform: Any, sms: SmsSimulator) -> None:
    admin, clerk = make_tenant(platform), make_tenant(platform, role="credit_executive")
    announced = platform.get(DevSimulators)
    assert announced.urls() == {}
    none = client.get("/api/v1/dev/simulators", headers=admin.auth)
    assert none.status_code == 404 and none.headers["content-type"] == "application/problem+json"
    announced.add("sms", sms.base_url)
    try:
        listed = client.get("/api/v1/dev/simulators", headers=admin.auth)
        assert listed.status_code == 200 and listed.json()["sms"] == sms.base_url
        assert client.get("/api/v1/dev/simulators", headers=clerk.auth).status_code == 403
    finally:
        announced.clear()


def test_the_call_log_is_brand_scoped_filtered_and_paged(client: Any, platform: Any, sms: SmsSimulator) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    for n in range(3):
        _send(platform, tenant, "9876543210", f"Your code is 10000{n}")
    with pytest.raises(ProviderRejected):
        _send(platform, tenant, "+919876540000", "blocked")
    _send(platform, other, "9876543210", "Your code is 999999")

    calls = client.get("/api/v1/provider-calls", headers=tenant.auth).json()["items"]
    assert [(c["provider"], c["kind"], c["status"]) for c in calls] == [("sms", "send_sms", "error")] + [
        ("sms", "send_sms", "ok")
    ] * 3
    assert (
        calls[0]["outcome"] == "rejected" and calls[0]["http_status"] == 422 and "blocked_number" in calls[0]["error"]
    )
    assert all("code is" not in str(c) for c in calls)  # no payload in the log
    errors = client.get("/api/v1/provider-calls", params={"status": "error"}, headers=tenant.auth).json()["items"]
    assert [c["id"] for c in errors] == [calls[0]["id"]]
    assert client.get("/api/v1/provider-calls", params={"provider": "pan"}, headers=tenant.auth).json()["items"] == []
    assert len(client.get("/api/v1/provider-calls", headers=other.auth).json()["items"]) == 1

    first = client.get("/api/v1/provider-calls", params={"limit": 2}, headers=tenant.auth).json()
    second = client.get(
        "/api/v1/provider-calls", params={"limit": 2, "cursor": first["next_cursor"]}, headers=tenant.auth
    ).json()
    assert [c["id"] for c in first["items"] + second["items"]] == [c["id"] for c in calls]
    assert second["next_cursor"] is None

    bad = client.get("/api/v1/provider-calls", params={"provider": "fax"}, headers=tenant.auth)
    assert bad.status_code == 422 and "provider" in bad.text
    forged = client.get("/api/v1/provider-calls", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=tenant.auth)
    assert forged.status_code == 422 and "cursor" in forged.text
    clerk = make_tenant(platform, role="collection_executive")
    assert client.get("/api/v1/provider-calls", headers=clerk.auth).status_code == 403


def test_the_provider_calls_page(app: Any, platform: Any, sms: SmsSimulator) -> None:
    tenant = make_tenant(platform)
    email = f"admin-{uuid.uuid4().hex[:8]}@lender.in"
    created = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Asha Admin", ["admin"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", created.position)
    _send(platform, tenant, "9876543210", "Your code is 424242")
    with pytest.raises(ProviderRejected):
        _send(platform, tenant, "12345", "nope")
    with TestClient(app, follow_redirects=False) as browser:
        assert browser.post("/login", data={"email": email, "password": PASSWORD, "next": "/"}).status_code == 303
        page = browser.get("/provider-calls")
        assert page.status_code == 200 and 'href="/provider-calls"' in page.text
        rows = re.findall(r"<tr class=\"(ok|error)\">", page.text)
        assert rows == ["error", "ok"] and "invalid_number" in page.text and "424242" not in page.text
        errors = browser.get("/provider-calls", params={"status": "error"})
        assert re.findall(r"<tr class=\"(ok|error)\">", errors.text) == ["error"]
        stale = browser.get("/provider-calls", params={"cursor": "forged"})
        assert stale.status_code == 422 and "first page" in stale.text  # said on the page, as every list does
        assert re.findall(r"<tr class=\"(ok|error)\">", stale.text) == ["error", "ok"]


def test_the_shared_fixture_points_the_platform_at_every_simulator(platform: Any, provider_simulators: Any) -> None:
    tenant = make_tenant(platform)
    directory = platform.get(ProviderDirectory)
    assert set(directory.urls()) >= set(provider_simulators)
    receipt = directory.sms().send("9876500001", "Your code is 135790", caller=Caller(tenant.brand_id))
    assert receipt.status == "queued"
    assert provider_simulators["sms"].last_code("9876500001") == "135790"
