"""A CX-approved loan the Sanction Head assigned to a Sanction Manager is that SM's to decide (the spec: the Sanction
Head assigns loans to SMs and handles escalations). Found by the spec audit: any Sanction Manager sanctioned,
rejected, sent back to the CX or escalated a loan the head had given to another SM, 200 every time. Now a 409 naming
the assignee (`rule: assigned_sm`), nothing recorded, in the API and the portal's forms; the assigned SM decides it,
the Sanction Head (SANCTION_HEAD WRITE) and an admin decide any, and an unassigned loan is still any SM's. The same
holds for a product change at the sanction step, which sends the loan back to the CX."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from tests.e2e.test_api_admin import _portal_login, _staff
from tests.e2e.test_api_escalations import _cx_approved
from tests.e2e.test_api_loan_decisions import _events
from tests.e2e.test_api_loans import PRODUCT, catalogue  # noqa: F401 - the autouse catalogue fixture
from tests.e2e.test_assigned_cx import PASSWORD, _signed_in
from tests.support import settle

SANCTION = {"sanctioned_amount": "85000", "remarks": "FOIR within policy"}


def _assign(head: Any, loan_id: str, staff_id: str) -> None:
    assigned = head.post(f"/api/v1/loans/{loan_id}/sanction-assign", json={"staff_id": staff_id, "reason": "yours"})
    assert assigned.status_code == 200, assigned.text


@dataclass
class AssignedLoan:
    """A CX-approved loan the head assigned to Meena (an SM), with Ravi (another SM) and the head signed in, and the
    loan's API view and the event count before anyone acts."""

    loan_id: str
    url: str
    meena: Any
    meena_id: str
    ravi: Any
    head: Any
    before: dict[str, Any]
    events: Any


def _assigned_to_meena(
    client: Any, app: Any, tenant: Any, platform: Any, dsn: str, name: str, phone: str
) -> AssignedLoan:
    loan_id = _cx_approved(client, tenant, name, phone)
    (meena, meena_id), (ravi, _) = (_signed_in(client, app, tenant, "sanction_manager") for _ in range(2))
    head, _ = _signed_in(client, app, tenant, "sanction_head")
    settle(platform, "identity")
    _assign(head, loan_id, meena_id)
    url = f"/api/v1/loans/{loan_id}"
    before, events = client.get(url, headers=tenant.auth).json(), _events(dsn)
    return AssignedLoan(loan_id, url, meena, meena_id, ravi, head, before, events)


def test_a_sanction_manager_does_not_decide_a_loan_assigned_to_another(
    client: Any, app: Any, tenant: Any, platform: Any, dsn: str
) -> None:
    loan = _assigned_to_meena(client, app, tenant, platform, dsn, "Kiran Rao", "9876512371")
    loan_id, url, meena, meena_id, ravi, head = loan.loan_id, loan.url, loan.meena, loan.meena_id, loan.ravi, loan.head
    before, events = loan.before, loan.events

    probes = [
        ("sanction", SANCTION),
        ("reject", {"reason_code": "LOW_SALARY", "remarks": "not my call"}),
        ("send-back", {"to": "cx", "reason": "recheck the salary slips"}),
        ("escalate", {"reason": "I would rather not"}),
    ]
    for path, body in probes:
        refused = ravi.post(f"{url}/{path}", json=body)
        assert refused.status_code == 409, (path, refused.text)
        assert refused.json()["rule"] == "assigned_sm" and refused.json()["assignee_id"] == meena_id, refused.text
    # The loan page shows Ravi whose decision it is instead of forms that would be refused; Meena gets the forms.
    shown = ravi.get(f"/loans/{loan_id}").text
    assert 'id="decided-by"' in shown and 'id="sanction-form"' not in shown and 'id="reject-form"' not in shown
    assert 'id="send-back-form"' not in shown
    mine = meena.get(f"/loans/{loan_id}").text
    assert 'id="sanction-form"' in mine and 'id="decided-by"' not in mine
    # A form posted anyway is refused the same way.
    csrf = ravi.headers["X-CSRF-Token"]
    page = ravi.post(f"/loans/{loan_id}/sanction", data={"csrf_token": csrf, **SANCTION})
    assert page.status_code == 409 and "assigned this loan to another Sanction Manager" in page.text, page.text[:300]
    after = client.get(url, headers=tenant.auth).json()
    assert (after["status"], after["version"]) == ("cx_approved", before["version"])
    assert _events(dsn) == events  # nothing recorded

    # The assigned SM decides it: escalates it to the head, then, the head giving it back, sanctions it.
    escalated = meena.post(f"{url}/escalate", json={"reason": "employer unknown to me"})
    assert escalated.status_code == 200, escalated.text
    _assign(head, loan_id, meena_id)
    sanctioned = meena.post(f"{url}/sanction", json=SANCTION)
    assert sanctioned.status_code == 200 and sanctioned.json()["status"] == "sm_approved", sanctioned.text
    assert sanctioned.json()["history"][-1]["actor"] == f"staff:{meena_id}"


def test_the_head_and_an_admin_decide_any_and_an_unassigned_loan_is_any_sms(
    client: Any, app: Any, tenant: Any, platform: Any
) -> None:
    """SANCTION_HEAD WRITE (the head, who assigns and decides himself) and admins decide a loan assigned to an SM; a
    loan nobody was given is the SM queue's pool, any SM's; API keys are not people and are not held to it."""
    to_reject, to_sanction, to_send_back, pool = (
        _cx_approved(client, tenant, name, phone)
        for name, phone in (("Lata Rao", "9876512372"), ("Mohan Das", "9876512373"),
                            ("Uma Iyer", "9876512374"), ("Vikram Shah", "9876512375"))
    )  # fmt: skip
    (_, meena_id), (ravi, _) = (_signed_in(client, app, tenant, "sanction_manager") for _ in range(2))
    head, _ = _signed_in(client, app, tenant, "sanction_head")
    admin, _ = _signed_in(client, app, tenant, "admin")
    settle(platform, "identity")
    for loan_id in (to_reject, to_sanction, to_send_back):
        _assign(head, loan_id, meena_id)

    rejected = head.post(
        f"/api/v1/loans/{to_reject}/reject", json={"reason_code": "LOW_SALARY", "remarks": "bonus is not salary"}
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text
    sanctioned = admin.post(f"/api/v1/loans/{to_sanction}/sanction", json=SANCTION)
    assert sanctioned.status_code == 200 and sanctioned.json()["status"] == "sm_approved", sanctioned.text
    back = {"to": "cx", "reason": "recheck the salary slips"}
    sent = client.post(f"/api/v1/loans/{to_send_back}/send-back", json=back, headers=tenant.auth)  # an API key
    assert sent.status_code == 200 and sent.json()["status"] == "pending", sent.text

    mine = ravi.post(f"/api/v1/loans/{pool}/sanction", json=SANCTION)
    assert mine.status_code == 200 and mine.json()["status"] == "sm_approved", mine.text


def _change(amount: str) -> dict[str, str]:
    return {"product_id": str(PRODUCT), "amount": amount, "reason": "the borrower asked for less"}


def test_another_sanction_manager_does_not_change_the_product_of_a_loan_assigned_to_an_sm(
    client: Any, app: Any, tenant: Any, platform: Any, dsn: str
) -> None:
    """A product change at the sanction step sends the loan back to the CX, undoing the assigned SM's work: found by
    review, any SM holding LOAN_RULE_TYPE changed the product of a loan the head had given to another SM, 200. Now
    the same 409 `rule: assigned_sm` as the decisions, nothing recorded, and the loan page offers him no form."""
    loan = _assigned_to_meena(client, app, tenant, platform, dsn, "Nisha Pillai", "9876512376")
    loan_id, url, meena, meena_id, ravi = loan.loan_id, loan.url, loan.meena, loan.meena_id, loan.ravi
    before, events = loan.before, loan.events

    refused = ravi.post(f"{url}/product", json=_change("80000"))
    assert refused.status_code == 409, refused.text
    assert refused.json()["rule"] == "assigned_sm" and refused.json()["assignee_id"] == meena_id, refused.text
    # The loan page offers Ravi no "Change product" form (whose it is instead); Meena gets it.
    shown = ravi.get(f"/loans/{loan_id}").text
    assert 'id="decided-by"' in shown and 'id="change-product-form"' not in shown
    mine = meena.get(f"/loans/{loan_id}").text
    assert 'id="change-product-form"' in mine and 'id="decided-by"' not in mine
    # The form posted anyway is refused the same way.
    csrf = ravi.headers["X-CSRF-Token"]
    page = ravi.post(f"/loans/{loan_id}/product", data={"csrf_token": csrf, **_change("80000")})
    assert page.status_code == 409 and "assigned this loan to another Sanction Manager" in page.text, page.text[:300]
    settle(platform, "loans")
    assert client.get(url, headers=tenant.auth).json() == before  # the read model unchanged
    assert _events(dsn) == events  # nothing recorded

    changed = meena.post(f"{url}/product", json=_change("80000"))
    assert changed.status_code == 200 and changed.json()["status"] == "pending", changed.text
    assert changed.json()["history"][-1]["actor"] == f"staff:{meena_id}"


def test_the_head_and_an_admin_change_the_product_of_any_and_an_unassigned_loan_is_any_sms(
    client: Any, app: Any, tenant: Any, platform: Any
) -> None:
    """SANCTION_HEAD WRITE and admins change the product of a loan assigned to an SM (and see the form); a loan nobody
    was given is any SM's to change; before the CX approval no sanction assignment holds."""
    by_head, by_admin, pool = (
        _cx_approved(client, tenant, name, phone)
        for name, phone in (("Pooja Nair", "9876512377"), ("Rahul Jain", "9876512378"), ("Sita Rao", "9876512379"))
    )  # fmt: skip
    (_, meena_id), (ravi, _) = (_signed_in(client, app, tenant, "sanction_manager") for _ in range(2))
    head, _ = _signed_in(client, app, tenant, "sanction_head")
    admin, _ = _signed_in(client, app, tenant, "admin")
    settle(platform, "identity")
    for loan_id in (by_head, by_admin):
        _assign(head, loan_id, meena_id)

    for who, loan_id in ((head, by_head), (admin, by_admin)):
        assert 'id="change-product-form"' in who.get(f"/loans/{loan_id}").text
        changed = who.post(f"/api/v1/loans/{loan_id}/product", json=_change("80000"))
        assert changed.status_code == 200 and changed.json()["status"] == "pending", changed.text
    mine = ravi.post(f"/api/v1/loans/{pool}/product", json=_change("80000"))
    assert mine.status_code == 200 and mine.json()["status"] == "pending", mine.text
    # Back in the CX's queue (still Meena's sanction to decide later), the product is any SM's to change again.
    again = ravi.post(f"/api/v1/loans/{by_head}/product", json=_change("70000"))
    assert again.status_code == 200 and again.json()["status"] == "pending", again.text


class _Page(HTMLParser):
    """A page as a browser builds it: the ids of its elements, and the text inside each."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self._open: list[str | None] = []  # the id of each element open around the parser (None: no id)
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("input", "br", "img", "meta", "link", "hr"):  # void elements: nothing inside
            return
        found = dict(attrs).get("id")
        self._open.append(found)
        if found:
            self.text.setdefault(found, "")

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for found in self._open:
            if found:
                self.text[found] += data


def test_a_product_changer_by_custom_grant_is_told_whose_the_loan_is(
    client: Any, app: Any, tenant: Any, platform: Any
) -> None:
    """Found by review: the explanation (`#decided-by`) showed only to SANCTION_MANAGER WRITE holders, so a staff member
    given LOAN_RULE_TYPE by a custom grant, without the role, saw "Change product" vanish on a loan the Sanction Head
    had given to an SM, and no reason. Now whoever would have had a form it hides is told whose the loan is; a staff
    member without such a form is not."""
    loan_id = _cx_approved(client, tenant, "Tara Menon", "9876512380")
    meena_email = f"meena-{uuid.uuid4().hex[:8]}@lender.in"
    meena = _staff(client, tenant, name="Meena Sanction", email=meena_email, roles=["sanction_manager"],
                   password=PASSWORD)  # fmt: skip
    head, _ = _signed_in(client, app, tenant, "sanction_head")
    plain, _ = _signed_in(client, app, tenant, "credit_executive")
    email = f"changer-{uuid.uuid4().hex[:8]}@lender.in"
    changer = _staff(client, tenant, email=email, roles=["credit_executive"], password=PASSWORD)
    granted = client.patch(f"/api/v1/staff/{changer['id']}", json={"permissions": {"LOAN_RULE_TYPE": "WRITE"}},
                           headers=tenant.auth)  # fmt: skip
    assert granted.status_code == 200, granted.text
    assert (
        granted.json()["permissions"].get("LOAN_RULE_TYPE") == "WRITE"
        and "SANCTION_MANAGER" not in granted.json()["permissions"]
    )
    settle(platform, "identity")
    portal = _portal_login(app, email, PASSWORD)

    # Unassigned, the loan's product is theirs to change: the form, nothing to explain.
    before = _Page(portal.get(f"/loans/{loan_id}").text).text
    assert "change-product-form" in before and "decided-by" not in before
    _assign(head, loan_id, meena["id"])
    settle(platform, "loans")
    page = _Page(portal.get(f"/loans/{loan_id}").text).text
    assert "change-product-form" not in page
    assert (
        " ".join(page.get("decided-by", "").split())
        == "Assigned to Meena Sanction by the Sanction Head: they decide it."
    )
    # A credit executive without the grant had no form the assignment hides: nothing to explain to them.
    assert "decided-by" not in _Page(plain.get(f"/loans/{loan_id}").text).text


def test_the_heads_escalations_list_assigns_only_the_loan_it_showed(
    client: Any, app: Any, tenant: Any, platform: Any
) -> None:
    """The escalations list's assign form carries the loan's version as the list read it: a loan assigned meanwhile
    (by another head, or from the loan page) is a 409 there, the other assignment kept."""
    loan_id = _cx_approved(client, tenant, "Nila Rao", "9876512377")
    (_, meena_id), (_, ravi_id) = (_signed_in(client, app, tenant, "sanction_manager") for _ in range(2))
    head, _ = _signed_in(client, app, tenant, "sanction_head")
    settle(platform, "identity")
    escalated = head.post(f"/api/v1/loans/{loan_id}/escalate", json={"reason": "employer unknown"})
    assert escalated.status_code == 200, escalated.text
    settle(platform, "loans")
    listed = head.get("/credit/sanction-head").text
    row = listed[listed.index(f'data-loan="{loan_id}"') :]
    row = row[: row.index("</tr>")]
    assert f'name="expected_version" value="{escalated.json()["version"]}"' in row, row
    _assign(head, loan_id, meena_id)  # another head, meanwhile
    form = {"csrf_token": head.headers["X-CSRF-Token"], "staff_id": ravi_id, "reason": "his employer",
            "expected_version": str(escalated.json()["version"])}  # fmt: skip
    refused = head.post(f"/loans/{loan_id}/sanction-assign", data=form)
    assert refused.status_code == 409, refused.text[:300]
    settle(platform, "loans")
    history = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["history"]
    assigned = [h["details"]["staff_id"] for h in history if h["kind"] == "sanction_assigned"]
    assert assigned == [meena_id], assigned
