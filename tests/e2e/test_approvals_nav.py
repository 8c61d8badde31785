"""The portal's "Approvals" entry is in the bar of whoever may use any approvals queue (partial collections, manual
receipts, waivers, settlements, write-offs), not of COLLECTION_APPROVALS holders alone: a staff member holding only
LOAN_WRITE_OFF, who decides write-off proposals, sees it and `/approvals` opens the write-offs queue for them."""

from __future__ import annotations

from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.e2e.test_collections import executive, signed_in
from tests.e2e.test_recovery_second_approver import _Staff
from tests.e2e.test_servicing_api import catalogue
from tests.support import settle

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

ENTRY = '<a href="/approvals" '


def test_approvals_is_in_the_bar_of_any_approver_and_opens_their_first_queue(
    app: Any, client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)  # (`client`: the app's lifespan, which the sessions below share)
    (writer, writer_email), (_, plain_email) = executive(platform, tenant, "Wendy"), executive(platform, tenant, "Pia")
    # A collection executive holds none of the queues' permissions; Wendy is given LOAN_WRITE_OFF alone on top.
    platform.get(Identity).update_staff(
        tenant.brand_id, writer, permissions={"LOAN_WRITE_OFF": "WRITE"}, granter=OPERATOR
    )
    settle(platform, "identity")
    wendy, _ = signed_in(app, writer_email)
    pia, _ = signed_in(app, plain_email)
    manager = _Staff(app, platform, tenant, ["collection_manager"])  # COLLECTION_APPROVALS and PENAL_WAIVERS
    try:
        bar = wendy.get("/dashboard").text
        assert ENTRY in bar and ">Approvals</a>" in bar
        landed = wendy.get("/approvals")
        assert landed.status_code == 303 and landed.headers["location"] == "/approvals/write-offs"
        queue = wendy.get(landed.headers["location"])
        assert queue.status_code == 200 and "<h2>Write-offs</h2>" in queue.text
        assert 'href="/approvals" aria-current="page">Approvals' in queue.text
        assert wendy.get("/approvals/collections").status_code == 403  # still only the queue she may use

        bar = pia.get("/dashboard").text
        assert ENTRY not in bar and ">Approvals</a>" not in bar
        nowhere = pia.get("/approvals")
        assert nowhere.status_code == 303 and nowhere.headers["location"] == "/approvals/collections"
        assert pia.get(nowhere.headers["location"]).status_code == 403  # which says the permission it needs

        assert ENTRY in manager.client.get("/dashboard").text
        first = manager.client.get("/approvals")
        assert first.status_code == 303 and first.headers["location"] == "/approvals/collections"
    finally:
        wendy.close()
        pia.close()
        manager.client.close()


def test_every_loan_link_of_a_queue_opens_for_who_decides_it(app: Any, client: Any, platform: Any) -> None:
    """Loan Ops confirm manual receipts, yet every loan link of their queue went to the loan's collections page, which
    needs COLLECTIONS (a 403 for them). Each link now opens a page its reader may see."""
    import re

    from tests.e2e.test_recoveries_api import PNG, _key, _overdue_loan

    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    receipt = client.post(f"/api/v1/loans/{loan_id}/receipts", headers=_key(platform, tenant, "collection_manager"),
                          files={"file": ("receipt.png", PNG, "image/png")},
                          data={"amount": "50.00", "mode": "cash", "reference": "MR-LINK"})  # fmt: skip
    assert receipt.status_code == 201, receipt.text
    ops = _Staff(app, platform, tenant, ["loan_ops"])
    try:
        queue = ops.client.get("/approvals/receipts")
        assert queue.status_code == 200 and "MR-LINK" in queue.text, queue.text[:300]
        links = re.findall(r'href="(/loans/[^"]+)"', queue.text)
        assert links, queue.text[:500]
        for link in links:
            assert ops.client.get(link).status_code == 200, link
    finally:
        ops.client.close()
