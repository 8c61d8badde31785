"""A realistic book of one brand for the brand-leak sweep: borrowers, leads, loans at every stage (pending, rejected,
sanctioned, awaiting payout, in a payout file, serviced with payments, overdue after the close of business with
collection cases, contacts, promises, receipts, waivers and field visits, settled, closed), payment links, documents, a bank
account, covenants and their evaluations, Softmedia notices, message templates, messages and reminders, a staff
notice, audit history, a product and a coupon, and a borrower mid-way through onboarding.

Every value a person could recognise carries the brand's `tag` (a made-up word no other data holds), so a plain
substring search of any answer for the tag, and for the book's ids and unique figures, tells whether the book
leaked there."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from adapters.simulators.softmedia import Dataset, SoftmediaSimulator
from domain.collections.application import Collections
from domain.identity.application import Identity
from domain.identity.permissions import ROLES
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.notices.triggering import job_run_id
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import bearer, sign_in
from tests.e2e.test_api_loans import PRODUCT
from tests.support import account_number, mobile, settle
from workers.agreement_jobs import AgreementJobPort, AgreementWorker
from workers.runtime import scheduler_for

D0 = date(2026, 1, 31)  # disbursal; instalment 1 falls due on 28 Feb (the servicing tests' loan)
OVERDUE = date(2026, 3, 20)  # the last close of business: two loans 20 days past due
PASSWORD = "leak-sweep-pass-2026"
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
NOTICE_TOKEN = "sim-token-leak-sweep"
TODAY = date(2026, 11, 28)  # the Softmedia simulator's day


@dataclass
class Book:
    """One brand's book: its tenant, the ids a path may name, and the values no other brand may ever see."""

    tenant: Tenant
    tag: str
    ids: dict[str, str] = field(default_factory=dict)
    values: set[str] = field(default_factory=set)
    staff_emails: dict[str, str] = field(default_factory=dict)  # role -> a signed-in-able staff member's email
    borrower_phone: str = ""
    search_terms: list[str] = field(default_factory=list)
    main_phone: str = ""
    pan: str = ""
    external: str = ""
    lead_phone: str = ""
    shared: set[str] = field(default_factory=set)  # values this brand holds that are the twin's too
    simulator: SoftmediaSimulator | None = None

    def markers(self) -> set[str]:
        """What must never show outside the brand: the tag (in every name, email, remark and reference), ids,
        phones, PANs, loan and customer numbers, unique amounts."""
        return {self.tag, self.tag.lower(), self.tag.upper(), *self.values, *self.ids.values()}


def _pan(letter: str) -> str:
    n = uuid.uuid4().int
    letters = "".join(chr(65 + (n >> (5 * i)) % 26) for i in range(5))
    return f"{letters[:3]}P{letter}{n % 10000:04d}K"


def _ok(answer: Any, *statuses: int) -> dict[str, Any]:
    assert answer.status_code in (statuses or (200, 201)), (answer.request.url, answer.status_code, answer.text)
    return dict(answer.json()) if answer.content else {}


def _job(client: Any, platform: Any, book: Book, job: str, as_of: date) -> None:
    """Run `job` as of `as_of`, the business date moved up to it first when behind (never back: a date the close of
    business processed stays closed, and a run may be as of any date the brand was held at)."""
    if platform.get(Identity).business_date(book.tenant.brand_id) < as_of:
        set_business_date(platform, book.tenant, as_of)
    accepted = _ok(client.post(f"/api/v1/jobs/{job}/runs", json={"as_of": as_of.isoformat()}, headers=book.tenant.auth),
                   202)  # fmt: skip
    scheduler_for(platform).execute(accepted["run_id"])
    settle(platform, "jobs")
    run = _ok(client.get(f"/api/v1/jobs/runs/{accepted['run_id']}", headers=book.tenant.auth))
    assert run["status"] == "succeeded", run
    book.ids.setdefault("run_id", accepted["run_id"])


def set_business_date(platform: Any, tenant: Tenant, day: date) -> None:
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"business_date": day})
    settle(platform, "identity", result.position)


def build_book(client: Any, platform: Any, sms: Any, tag: str, cents: int, twin: Book | None = None) -> Book:
    """A brand with the whole book below; `cents` makes its figures unique (e.g. 87 -> a repayment of 4321.87).

    With a `twin` (another brand's book), the same people deal with this brand too: a borrower with the twin's main
    borrower's phone, PAN and external loan number, a notice naming that loan and phone, a lead and an onboarding
    borrower with the twin's phones -- the values that then belong to both brands are `shared`, and a query joining
    on them without the brand would show the twin's names and ids here."""
    tenant = make_tenant(platform)
    book = Book(tenant=tenant, tag=tag)
    auth = tenant.auth
    book.ids["brand_id"] = str(tenant.brand_id)
    book.values.add(tenant.slug)
    identity: Identity = platform.get(Identity)
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    result, _ = identity.change_configuration(brand, {"auto_allocate_collections": True, "business_date": D0})
    settle(platform, "identity", result.position)

    # Staff: one signed-in-able member per role (the sweep signs them in), a named collection executive, a field agent.
    for role in ROLES:
        email = f"{role.replace('_', '-')}.{tag.lower()}.{uuid.uuid4().hex[:6]}@staff-{tag.lower()}.in"
        staff = identity.create_staff(
            brand, email, f"{tag} {role.title().replace('_', '')}", [role], PASSWORD, granter=OPERATOR
        )
        book.staff_emails[role] = email
        book.ids[f"staff:{role}"] = str(staff.id)
    book.ids["staff_id"] = book.ids["staff:collection_executive"]
    settle(platform, "identity")
    _ok(client.post(f"/api/v1/staff/{book.ids['staff_id']}/leaves", json={"start": "2026-12-01", "end": "2026-12-02",
                    "reason": f"{tag} leave"}, headers=auth))  # fmt: skip
    _ok(client.post(f"/api/v1/staff/{book.ids['staff_id']}/ratings",
                    json={"period": "2026-02", "scores": {"manual": 7}}, headers=auth))  # fmt: skip
    key = _ok(client.post("/api/v1/api-keys", json={"label": f"{tag} robot", "role": "sales"}, headers=auth))
    book.ids["api_key"] = key["id"]
    blocked = _ok(client.post("/api/v1/blocklist", json={"kind": "pincode", "value": "799" + str(cents).zfill(3),
                              "reason": f"{tag} flood zone"}, headers=auth))  # fmt: skip
    book.ids["blocklist"] = blocked["id"]

    # A product and a coupon of the brand's own (the loans below are priced by the tests' catalogue).
    product = _ok(client.post("/api/v1/loan-products", json=_product_body(tag), headers=auth))
    book.ids["product_id"] = product["id"]
    coupon = _ok(client.post("/api/v1/coupons", json={"product_id": product["id"], "code": f"{tag.upper()}50",
                             "kind": "fixed", "value": "50", "valid_from": "2026-01-01", "valid_to": "2026-12-31",
                             "max_uses": 10}, headers=auth))  # fmt: skip
    book.ids["coupon_id"] = coupon["id"]

    # Borrowers: the main one (external loan number, email, PAN, address), one per loan.
    phone = mobile("93")
    pan = _pan(tag[0].upper())
    external = f"SML{uuid.uuid4().int % 10**10:010d}"  # tagless: a twin brand holds the same number
    main = _ok(client.post("/api/v1/customers", json={
        "name": f"{tag} Brandaleak", "phone": phone, "pan": pan, "email": f"{tag.lower()}.brandaleak@mail.in",
        "date_of_birth": "1990-01-15", "loan_numbers": [external],
        "addresses": [{"line1": f"77 {tag} Lane", "city": "Chennai", "pincode": "600001"}]}, headers=auth))  # fmt: skip
    book.ids["customer_id"] = main["id"]
    book.values |= {phone, phone[-10:], pan, external, main["number"]}
    book.search_terms = ["Brandaleak", phone, pan, external, main["number"]]
    book.main_phone, book.pan, book.external = phone, pan, external
    customers = {"main": UUID(main["id"])}
    if twin is not None:
        made = _ok(client.post("/api/v1/customers", json={
            "name": f"{tag} Twin", "phone": twin.main_phone, "pan": twin.pan, "loan_numbers": [twin.external],
            "date_of_birth": "1990-01-15"}, headers=auth))  # fmt: skip
        book.ids["customer:twin"] = made["id"]
        book.shared |= {twin.main_phone, twin.main_phone[-10:], twin.pan, twin.external, twin.lead_phone,
                        twin.borrower_phone}  # fmt: skip
    for name in ("pending", "rejected", "sanctioned", "queued", "filed", "paid", "late", "later", "closed"):
        other_phone = mobile("93")
        made = _ok(client.post("/api/v1/customers", json={"name": f"{tag} {name.title()}", "phone": other_phone,
                                                          "date_of_birth": "1991-02-20", "addresses": [{"line1": "1 Road",
                                                          "city": "Pune", "pincode": "411001"}]}, headers=auth))  # fmt: skip
        customers[name] = UUID(made["id"])
        book.values.add(other_phone)
        book.ids[f"customer:{name}"] = made["id"]

    # Documents, a bank account (penny drop at the simulator), messaging preferences.
    doc = _ok(client.post(f"/api/v1/customers/{main['id']}/documents", data={"kind": "pan_card"},
                          files={"file": (f"{tag.lower()}-pan.pdf", PDF + tag.encode(), "application/octet-stream")},
                          headers=auth))  # fmt: skip
    book.ids["document_id"] = doc["id"]
    book.values.add(doc["sha256"])
    acct = account_number()
    bank = _ok(client.post(f"/api/v1/customers/{main['id']}/bank-accounts",
                           json={"account_number": acct, "ifsc": "HDFC0001234", "holder_name": f"{tag} Brandaleak"},
                           headers=auth))  # fmt: skip
    book.ids["bank_account_id"] = bank["id"]
    book.values.add(acct)

    # Loans at every stage.
    amount = f"8{cents:02d}00"  # sanctioned: e.g. 88700, unique to the brand

    filed_acct = account_number()
    filed_bank = _ok(client.post(f"/api/v1/customers/{customers['filed']}/bank-accounts",
                                 json={"account_number": filed_acct, "ifsc": "HDFC0001234", "holder_name": f"{tag} Filed"},
                                 headers=auth))  # fmt: skip
    assert filed_bank["status"] == "verified", filed_bank
    book.values.add(filed_acct)
    accounts = {customers["filed"]: filed_bank["id"]}

    def sanctioned(customer: UUID, upto: str) -> UUID:
        loan_id = UUID(str(loans.create(brand, customer, PRODUCT, "100000", 12).id))
        loans.submit(brand, loan_id)
        if upto == "rejected":
            loans.reject(brand, loan_id, "LOW_SALARY", f"{tag} income unverifiable")
        elif upto != "pending":
            loans.cx_approve(brand, loan_id, "90000", f"{tag} salary supports 90k")
            loans.sanction(brand, loan_id, amount, f"{tag} FOIR at the limit")
        return loan_id

    stages = {"main": "pending", "pending": "pending", "rejected": "rejected", "sanctioned": "sanctioned",
              "queued": "queued", "filed": "queued", "paid": "active", "late": "active", "later": "active",
              "closed": "active"}  # fmt: skip
    ids = {name: sanctioned(customers[name], upto) for name, upto in stages.items()}
    # The agreement worker renders each sanctioned loan's agreement PDF and texts its e-sign link; then the signature
    # (the provider's callback), the Ops queue and the payout.
    settle(platform, Loans.name)
    AgreementWorker(platform.port(AgreementJobPort)).drain()
    settle(platform, Loans.name)
    for name, upto in stages.items():
        if upto not in ("queued", "active"):
            continue
        loans.sign(brand, ids[name], f"esign-{tag}", datetime.now(UTC))
        loans.ready_for_disbursal(brand, ids[name], accounts.get(customers[name], f"acct-{tag}"))
        if upto == "active":
            loans.initiate_disbursal(brand, ids[name], "IMPS", f"gw-{ids[name]}")
            loans.confirm_disbursal(brand, ids[name], f"gw-{ids[name]}", D0)
    settle(platform, Loans.name)
    for name, loan_id in ids.items():
        book.ids[f"loan:{name}"] = str(loan_id)
        number = _ok(client.get(f"/api/v1/loans/{loan_id}", headers=auth))["loan_number"]
        book.values.add(number)
    book.ids["loan_id"] = str(ids["late"])
    # Notes on the records: the main borrower's (one about its loan, with a callback to come) and the late one's.
    callback = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    for customer, loan, text in ((main["id"], ids["main"], f"{tag} asked for a callback after 6 pm"),
                                 (main["id"], None, f"{tag} salary credited late this month"),
                                 (book.ids["customer:late"], ids["late"], f"{tag} promised to pay on Friday")):  # fmt: skip
        body = {"text": text} | ({"loan_id": str(loan), "callback_at": callback} if loan else {})
        note = _ok(client.post(f"/api/v1/customers/{customer}/notes", json=body, headers=auth))
        book.ids.setdefault("note_id", note["id"])
    # A credit executive's dialer call about the main application (the API key holds LOAN_RELOCATE: any of the brand's).
    credit_executive = book.ids["staff:credit_executive"]
    _ok(client.patch("/api/v1/dialer/settings", json={"enabled": True, "account_id": f"{tag.lower()}-dialer",
                     "api_token": f"{tag.lower()}-token-{cents}"}, headers=auth))  # fmt: skip
    _ok(client.put(f"/api/v1/dialer/extensions/{credit_executive}", json={"extension": f"21{cents:02d}"}, headers=auth))
    call = _ok(client.post(f"/api/v1/loans/{ids['main']}/credit-calls", json={"staff_id": credit_executive},
                           headers=auth), 202)  # fmt: skip
    book.ids["call_id"] = call["id"]
    # The main borrower's owning agent: the brand's sales staff member (a manager's move, with a reason).
    _ok(client.post(f"/api/v1/customers/{main['id']}/agent", json={"agent_id": book.ids["staff:sales"],
                    "reason": f"{tag} moved to the sales desk"}, headers=auth))  # fmt: skip
    book.search_terms.append(_ok(client.get(f"/api/v1/loans/{ids['late']}", headers=auth))["loan_number"])
    book.values.add(f"{amount}.00")
    filed = _ok(client.post("/api/v1/payout-files", json={"loan_ids": [str(ids["filed"])]}, headers=auth))
    book.ids["file_id"] = filed["id"]

    # Servicing: a repayment, a payment link, a loan paid off (closed, with its no-due certificate).
    set_business_date(platform, tenant, date(2026, 2, 28))
    paid = _ok(client.post(f"/api/v1/loans/{ids['paid']}/repayments", json={
        "amount": f"4321.{cents:02d}", "mode": "upi", "reference": f"UTR{tag.upper()}1", "paid_on": "2026-02-28"},
        headers=auth))  # fmt: skip
    book.ids["repayment_id"] = paid["id"]
    book.values |= {f"4321.{cents:02d}", f"UTR{tag.upper()}1"}
    link = _ok(client.post(f"/api/v1/loans/{ids['paid']}/payment-links", json={"amount": f"123.{cents:02d}"},
                           headers=auth))  # fmt: skip
    book.values |= {link["order_id"], f"123.{cents:02d}"}
    payoff = _ok(client.get(f"/api/v1/loans/{ids['closed']}/payoff", headers=auth))["total"]
    _ok(client.post(f"/api/v1/loans/{ids['closed']}/repayments", json={
        "amount": payoff, "mode": "neft", "reference": f"UTR{tag.upper()}CLOSE", "paid_on": "2026-02-28"},
        headers=auth))  # fmt: skip

    # The close of business moves the book past due: collection cases open and are allocated.
    for day in (date(2026, 3, 1), OVERDUE):
        _job(client, platform, book, "loan-cob", day)
    settle(platform, Collections.name)
    late = ids["late"]
    contact = _ok(client.post(f"/api/v1/loans/{late}/contacts", json={"outcome": "switched_off",
                              "remarks": f"{tag} twice, no answer"}, headers=auth))  # fmt: skip
    _ok(client.post(f"/api/v1/loans/{late}/contacts/{contact['contact_id']}/evidence",
                    files={"file": ("visit.pdf", PDF + b"evidence" + tag.encode(), "application/pdf")},
                    headers=auth))  # fmt: skip
    _ok(client.post(f"/api/v1/loans/{late}/ptps", json={"date": "2026-03-25", "amount": f"777.{cents:02d}"},
                    headers=auth))  # fmt: skip
    book.values.add(f"777.{cents:02d}")
    receipt = _ok(client.post(f"/api/v1/loans/{late}/receipts", files={"file": ("receipt.png", PNG, "image/png")},
                              data={"amount": f"55.{cents:02d}", "mode": "cash", "reference": f"MR{tag.upper()}"},
                              headers=auth))  # fmt: skip
    book.ids["request_id"] = receipt["id"]
    _ok(client.post(f"/api/v1/loans/{late}/collection-requests", json={
        "amount": f"66.{cents:02d}", "mode": "cash", "reference": f"RC{tag.upper()}", "collected_on": "2026-03-19"},
        headers=auth))  # fmt: skip
    _ok(client.post(f"/api/v1/loans/{late}/waivers", json={"amount": "1.00", "justification": f"{tag} hospital stay"},
                    headers=auth))  # fmt: skip
    settlement = _ok(client.post(f"/api/v1/loans/{ids['later']}/settlements", json={"amount": "40000.00",
                                 "remarks": f"{tag} job lost"}, headers=auth))  # fmt: skip
    # Settled: approved and paid (the loan's settlement letter).
    _ok(client.post(f"/api/v1/settlements/{settlement['id']}/approve", headers=auth))
    _ok(client.post(f"/api/v1/loans/{ids['later']}/repayments", json={
        "amount": "40000.00", "mode": "neft", "reference": f"UTR{tag.upper()}SETTLE"}, headers=auth))  # fmt: skip
    book.values.add(f"UTR{tag.upper()}SETTLE")
    visit = _ok(
        client.post(
            f"/api/v1/loans/{late}/field-visits",
            json={"assignee_id": book.ids["staff:collection_executive"], "reason": f"{tag} not reachable"},
            headers=auth,
        )
    )
    book.ids["visit_id"] = visit["id"]
    done = _ok(client.post(f"/api/v1/field-visits/{visit['id']}/visit", data={
        "outcome": "promised_to_pay", "latitude": "13.082680", "longitude": "80.270718", "remarks": f"{tag} met him"},
        files={"file": ("door.jpg", JPEG + tag.encode(), "image/jpeg")}, headers=auth))  # fmt: skip
    book.ids["sha256"] = done["photos"][0] if isinstance(done["photos"][0], str) else done["photos"][0]["sha256"]

    # Covenants with an evaluation record (the evaluation job opens it).
    covenant = _ok(client.post("/api/v1/covenants", json={
        "customer_id": main["id"], "application_ref": f"APP-{tag.upper()}-1", "title": f"{tag} debt service coverage",
        "type": "financial", "metric": "DSCR", "operator": ">=", "threshold": "1.25", "frequency": "monthly",
        "start_date": "2026-01-01", "first_due_date": "2026-01-31", "expiry_date": "2026-12-31", "grace_days": 5,
        "notification_lead_days": 7}, headers=auth))  # fmt: skip
    book.ids["covenant_id"] = covenant["id"]
    _job(client, platform, book, "covenant-evaluation", OVERDUE)
    settle(platform, "covenants")
    evaluations = _ok(client.get(f"/api/v1/covenants/{covenant['id']}/evaluations", headers=auth))["items"]
    book.ids["evaluation_id"] = evaluations[0]["id"]
    proof = _ok(client.post(f"/api/v1/covenant-evaluations/{evaluations[0]['id']}/proofs",
                            files={"file": (f"{tag.lower()}-stock.pdf", PDF + b"proof" + tag.encode(), "application/pdf")},
                            headers=auth))  # fmt: skip
    book.ids["proof_document_id"] = proof["proofs"][0]["document_id"]
    book.values.add(proof["proofs"][0]["sha256"])

    # Engagement: a template, a message sent now, a reminder, a staff notice to every role.
    template = _ok(
        client.post(
            "/api/v1/message-templates",
            json={"name": f"{tag} nudge", "channel": "sms", "body": f"Hi {{{{borrower_name}}}}, {tag} says pay"},
            headers=auth,
        )
    )
    book.ids["template_id"] = template["id"]
    message = _ok(client.post("/api/v1/messages", json={"customer_id": main["id"], "channel": "sms",
                              "template_id": template["id"], "idempotency_key": f"{tag}-1"}, headers=auth))  # fmt: skip
    book.ids["message_id"] = message["id"]
    reminder = _ok(client.post("/api/v1/reminders", json={
        "customer_id": main["id"], "channel": "sms", "template_id": template["id"],
        "scheduled_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()}, headers=auth))  # fmt: skip
    book.ids["reminder_id"] = reminder["id"]
    notice = _ok(client.post("/api/v1/staff-notifications", json={
        "title": f"{tag} month-end close", "body": f"{tag} receipts by 6 pm", "priority": "HIGH", "roles": list(ROLES)},
        headers=auth))  # fmt: skip
    book.ids["notice_id:staff"] = notice["id"]

    # Leads, and a borrower of the web flow mid-way through onboarding.
    lead_phone = book.lead_phone = mobile("93")
    lines = f"full_name,phone_number\n{tag} Leadperson,{lead_phone}\n" + (
        f"{tag} Twinlead,{twin.lead_phone}\n" if twin else ""
    )
    leads = _ok(client.post("/api/v1/leads/imports", files={"file": ("leads.csv", lines.encode(), "text/csv")},
                            headers=auth))  # fmt: skip
    book.ids["import_id"] = leads["id"]
    book.ids["lead_id"] = leads["lines"][0]["lead_id"]
    book.values.add(lead_phone)
    book.borrower_phone = twin.borrower_phone if twin else mobile("93")
    session = sign_in(client, sms, tenant.slug, book.borrower_phone)
    book.ids["borrower_id"] = session["borrower_id"]
    book.values.add(book.borrower_phone)
    book.ids["borrower_token"] = session["token"]
    _ok(client.put("/api/v1/borrower/steps/pan", json={"pan": _pan("Q")}, headers=bearer(session)))
    # ... who asks to be called back (the staff queue and the borrower's own list).
    asked = _ok(client.post("/api/v1/borrower/callback-requests", headers=bearer(session),
                            json={"window": "evening", "note": f"{tag} please call me about the EMI date"}))  # fmt: skip
    book.ids["callback_id"] = asked["id"]

    # Softmedia notices naming the main borrower, synced from the brand's own source.
    simulator = SoftmediaSimulator(Dataset(TODAY), token=NOTICE_TOKEN)
    simulator.start()
    book.simulator = simulator
    for n, mode in enumerate(("overdue", "upcoming")):
        due = TODAY - timedelta(days=12) if mode == "overdue" else TODAY + timedelta(days=3)
        simulator.dataset.upsert({
            "notice_id": f"N{tag.upper()}{n}", "company_code": "SML", "loan_number": external,
            "customer_name": f"{tag} Brandaleak", "phone": phone, "due_date": due.isoformat(), "instalment_no": 3,
            "amount_due": f"999.{cents:02d}", "days_overdue": 12 if mode == "overdue" else 0, "mode": mode,
            "updated_at": "2026-11-27T10:00:00+05:30"})  # fmt: skip
    if twin is not None:
        simulator.dataset.upsert({
            "notice_id": f"N{tag.upper()}TWIN", "company_code": "SML", "loan_number": twin.external,
            "customer_name": f"{tag} Twin", "phone": twin.main_phone, "due_date": (TODAY - timedelta(days=5)).isoformat(),
            "instalment_no": 1, "amount_due": "10.00", "days_overdue": 5, "mode": "overdue",
            "updated_at": "2026-11-27T10:00:00+05:30"})  # fmt: skip
    book.values.add(f"N{tag.upper()}0")
    source = _ok(client.post("/api/v1/notice-sources", json={"company": "SML", "base_url": simulator.base_url,
                             "token": NOTICE_TOKEN, "schedule": "*/30 * * * *"}, headers=auth))  # fmt: skip
    book.ids["source_id"] = source["id"]
    sync = _ok(client.post(f"/api/v1/notice-sources/{source['id']}/sync", headers=auth), 202)
    scheduler_for(platform).execute(job_run_id(UUID(sync["run_id"])))
    book.ids["sync_run_id"] = sync["run_id"]
    for source_name in platform.engine.applications:
        settle(platform, source_name)
    overdue = _ok(client.get("/api/v1/notices/overdue", headers=auth))["items"]
    assert overdue, "the sync imported the brand's notices"
    book.ids["notice_id"] = overdue[0]["id"]
    return book


def _product_body(tag: str) -> dict[str, Any]:
    return {
        "code": f"{tag.upper()}-EMI",
        "name": f"{tag} salary loan",
        "type": "emi",
        "min_amount": "10000",
        "max_amount": "200000",
        "min_tenure": 3,
        "max_tenure": 24,
        "annual_percent": "24",
        "processing_fee": {"kind": "percent", "value": "2"},
        "gst_percent": "18",
    }
