"""An address's text is kept trimmed, like every other text we keep: line1 and city used to be checked trimmed but
stored as typed (" 12 MG Road "), so the API kept what the portal's form (which trims) would not, and a field visit
built its address from the padded parts. A blank line2 or state is none."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.e2e.test_onboarding_api import PERSONAL, _pan
from tests.support import mobile

__all__ = ["sms"]  # the fixture, used by name

PADDED = {
    "kind": "permanent",
    "line1": "  12 MG Road ",
    "line2": "  Flat ५ ",
    "city": " Pune  ",
    "state": "   ",
    "pincode": "411001",
}
KEPT = {
    "kind": "permanent",
    "line1": "12 MG Road",
    "line2": "Flat ५",
    "city": "Pune",
    "state": None,
    "pincode": "411001",
}


def test_registered_and_updated_addresses_are_kept_trimmed(client: Any, tenant: Tenant) -> None:
    created = client.post(
        "/api/v1/customers",
        json={"name": "Zoë Ñandú", "phone": mobile(), "addresses": [PADDED]},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    url = f"/api/v1/customers/{created.json()['id']}"
    assert client.get(url, headers=tenant.auth).json()["addresses"] == [KEPT]

    moved = dict(PADDED, kind="current", line1=" 4 Civil Lines\t", city=" Jaipur ")
    assert client.patch(url, json={"addresses": [moved]}, headers=tenant.auth).status_code == 200
    assert client.get(url, headers=tenant.auth).json()["addresses"] == [
        dict(KEPT, kind="current", line1="4 Civil Lines", city="Jaipur")
    ]


def test_the_borrowers_personal_step_keeps_its_addresses_trimmed(
    client: Any, tenant: Tenant, sms: SmsSimulator, dsn: str
) -> None:
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth).status_code == 200
    marker = uuid.uuid4().hex
    personal = dict(PERSONAL, addresses=[dict(PADDED, kind="current", line2=f" {marker} "), PADDED])
    saved = client.put("/api/v1/borrower/steps/personal", json=personal, headers=auth)
    assert saved.status_code == 200, saved.text
    with psycopg.connect(dsn) as conn:
        stored = [
            r[0]
            for r in conn.execute(
                "SELECT convert_from(state, 'UTF8') FROM events.onboarding_events WHERE convert_from(state, 'UTF8') LIKE %s",
                (f"%{marker}%",),
            )
        ]
    assert stored and all(f'"{marker}"' in e and '"12 MG Road"' in e and '"Pune"' in e for e in stored), stored
    assert not any("  12 MG Road" in e or "Pune  " in e for e in stored)
