"""Every loan figure against ../shared/LENDING.md, to the paisa, end to end through the HTTP API (an outside tester's
probe): seeded generated brands (Sundays off or not, repayment holidays), products (EMI and payday, 0 % to high
rates, percent and fixed fees with GST inside or on top, coupons, simple and compound penal charges) and loans
(amounts in paise, disbursed on the 28th-31st and in leap years) are originated, signed at the e-sign simulator and
paid out by a payout file; then the business date moves by odd steps, sometimes by the close of business job, and
the loans take payments of odd amounts (part instalments, advance payments, back-dated ones, the payoff, a paisa
above it). After each step every figure the API shows - quote, pricing, payout file, schedule with paid and penal,
outstanding, DPD, RBI class, status, next due, payoff (on the day and ahead), the ledger (the statement) and its
CSV, the loan page, the no-due certificate - is compared with `Reference`, written here from LENDING.md alone (exact
fractions, integer paise, a day-by-day loan) and sharing no code with `domain/loans`.

Where LENDING.md leaves room the reference follows docs/lending.md's "Decisions" (the day convention: penal charges
for a day at its close, a quote on D counting penal charges through D - 1; "fully paid" includes penal charges;
interest paid ahead counts towards the payoff; payday accrual at least one day and at most the tenure).

The examples are seeded (`SEED`), so a failure reproduces; the unit-level generated suites
(tests/unit/test_loan_reference.py, tests/unit/test_lending_fuzz.py) check the domain package, this one checks what
reaches a client: the API's serialisation, the read models, the COB job, the brand's calendar from its settings.

Runs under pytest (a live test server and its simulators) and against a running server on a scratch database:
`python -m tests.e2e.test_lending_blackbox http://127.0.0.1:8000 cdk_<admin key>` (the walk moves the brand's
business date: one brand per run there)."""

from __future__ import annotations

import calendar
import csv
import io
import os
import random
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any

import httpx

from tests.e2e.blackbox import API, Headers, bank_account_number, ok, poll

#: The walk's seed; `LENDING_PROBE_SEED` runs another sample (a failure names the loan and the date).
SEED = int(os.environ.get("LENDING_PROBE_SEED", "20261205"))
PASSWORD = "lending-probe-2026!"

# --- the reference: LENDING.md in integer paise and exact fractions ---------------------------------------------


def paise(text: str | Decimal) -> int:
    """A money string ("12500.00") as integer paise (refusing anything but two places)."""
    value = Decimal(text)
    assert value == value.quantize(Decimal("0.01")), text
    return int(value * 100)


def rupees(amount: int) -> str:
    """Integer paise as the API writes money: "12500.00", "-3.05"."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


def half_up(rupee_value: Fraction) -> int:
    """An exact rupee amount rounded half up (away from zero) to the paisa, in paise."""
    scaled = rupee_value * 100
    magnitude = abs(scaled)
    rounded = int(magnitude + Fraction(1, 2)) if magnitude.denominator != 1 else int(magnitude)
    return rounded if scaled >= 0 else -rounded


def rate(text: str) -> Fraction:
    return Fraction(Decimal(text))


def add_months(day: date, months: int, on_day: int) -> date:
    """`months` months after `day`'s month, on `on_day` clamped to that month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(on_day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class Calendar:
    sunday_off: bool
    holidays: frozenset[date]

    def working(self, day: date) -> date:
        while (self.sunday_off and day.weekday() == 6) or day in self.holidays:
            day += timedelta(days=1)
        return day


@dataclass(frozen=True)
class Fee:
    kind: str  # percent | fixed
    value: str
    inclusive: bool

    def body(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "gst_inclusive": self.inclusive}


@dataclass(frozen=True)
class Product:
    kind: str  # emi | payday
    rate: str  # annual_percent (emi) or daily_percent (payday)
    processing: Fee
    convenience: Fee | None
    gst: str
    penal_kind: str | None  # simple | compound | None (no penal charges)
    penal_rate: str
    coupon: tuple[str, str] | None  # (kind, value)


@dataclass(frozen=True)
class Pricing:
    fee_before: int
    discount: int
    processing: int
    processing_gst: int
    convenience: int
    convenience_gst: int
    net: int

    @property
    def gst(self) -> int:
        return self.processing_gst + self.convenience_gst


def price(product: Product, sanctioned: int, coupon: bool) -> Pricing:
    """Fees, taxes, payout (LENDING.md): fees on the sanctioned amount, the coupon on the processing fee only."""
    P = Fraction(sanctioned, 100)
    g = rate(product.gst)

    def fee(f: Fee | None) -> int:
        if f is None:
            return 0
        return half_up(P * rate(f.value) / 100) if f.kind == "percent" else paise(f.value)

    def gst(f: Fee | None, amount: int) -> int:
        if f is None:
            return 0
        base = Fraction(amount, 100)
        return half_up(base * g / (100 + g)) if f.inclusive else half_up(base * g / 100)

    before = fee(product.processing)
    discount = 0
    if coupon and product.coupon is not None:
        kind, value = product.coupon
        off = half_up(Fraction(before, 100) * rate(value) / 100) if kind == "percent" else paise(value)
        discount = min(off, before)
    processing = before - discount
    convenience = fee(product.convenience)
    p_gst, c_gst = gst(product.processing, processing), gst(product.convenience, convenience)
    on_top = (0 if product.processing.inclusive else p_gst) + (
        0 if product.convenience is None or product.convenience.inclusive else c_gst
    )
    return Pricing(
        before, discount, processing, p_gst, convenience, c_gst, sanctioned - processing - convenience - on_top
    )


@dataclass
class Instalment:
    no: int
    due: date
    principal: int
    interest: int
    opening: int
    start: date  # the previous due date (the disbursal date for the first)
    paid_principal: int = 0
    paid_interest: int = 0
    penal: int = 0
    paid_penal: int = 0

    @property
    def amount(self) -> int:
        return self.principal + self.interest

    @property
    def unpaid_pi(self) -> int:
        return self.principal - self.paid_principal + self.interest - self.paid_interest

    @property
    def unpaid(self) -> int:
        return self.unpaid_pi + self.penal - self.paid_penal

    @property
    def paid(self) -> int:
        return self.paid_principal + self.paid_interest + self.paid_penal


def schedule(product: Product, principal: int, tenure: int, disbursed: date, cal: Calendar) -> list[Instalment]:
    """EMI (reducing balance, last instalment takes the rest) or payday bullet, due dates on the brand's calendar."""
    P = Fraction(principal, 100)
    if product.kind == "payday":
        interest = half_up(P * rate(product.rate) / 100 * tenure)
        return [
            Instalment(1, cal.working(disbursed + timedelta(days=tenure)), principal, interest, principal, disbursed)
        ]
    r = rate(product.rate) / 1200
    emi = half_up(P / tenure) if r == 0 else half_up(P * r * (1 + r) ** tenure / ((1 + r) ** tenure - 1))
    out: list[Instalment] = []
    opening, start = principal, disbursed
    for k in range(1, tenure + 1):
        interest = half_up(Fraction(opening, 100) * r)
        part = opening if k == tenure else emi - interest
        due = cal.working(add_months(disbursed, k, disbursed.day))
        out.append(Instalment(k, due, part, interest, opening, start))
        opening, start = opening - part, due
    return out


def rbi_class(dpd: int) -> str:
    if dpd == 0:
        return "standard"
    return "SMA-0" if dpd <= 30 else "SMA-1" if dpd <= 60 else "SMA-2" if dpd <= 90 else "NPA"


@dataclass
class Payment:
    on: date
    amount: int
    reference: str


@dataclass
class View:
    """The loan on a date: what the API should show."""

    instalments: list[Instalment]
    dpd: int
    asset_class: str
    completed_on: date | None
    payoff: dict[str, int]
    allocations: dict[str, list[dict[str, Any]]]
    closing: str | None  # the reference of the payment that closed the loan
    status: str  # the servicing status on the date (LENDING.md's states; docs/lending.md decision 9)


@dataclass
class Reference:
    """One disbursed loan, replayed day by day from its payments (LENDING.md; docs/lending.md's decisions)."""

    product: Product
    principal: int
    tenure: int
    disbursed: date
    cal: Calendar
    payments: list[Payment] = field(default_factory=list)

    def fresh(self) -> list[Instalment]:
        return schedule(self.product, self.principal, self.tenure, self.disbursed, self.cal)

    # payoff on D: overdue (due before D) + principal not due + the current period's interest by days - interest
    # paid ahead; penal charges through D - 1 (the caller closes the days before D first)
    def payoff_parts(self, items: list[Instalment], on: date) -> dict[str, int]:
        overdue = [i for i in items if i.due < on]
        not_due = [i for i in items if i.due >= on]
        accrued = 0
        if not_due:
            current = not_due[0]
            if self.product.kind == "payday":
                days = min(max((on - self.disbursed).days, 1), self.tenure)
                accrued = half_up(Fraction(self.principal, 100) * rate(self.product.rate) / 100 * days)
            else:
                r = rate(self.product.rate) / 1200
                elapsed, period = (on - current.start).days, (current.due - current.start).days
                accrued = half_up(Fraction(current.opening, 100) * r * elapsed / period)
        parts = {
            "overdue_penal": sum(i.penal - i.paid_penal for i in overdue),
            "overdue_interest": sum(i.interest - i.paid_interest for i in overdue),
            "overdue_principal": sum(i.principal - i.paid_principal for i in overdue),
            "principal_not_due": sum(i.principal - i.paid_principal for i in not_due),
            "accrued_interest": accrued,
            "interest_paid_ahead": sum(i.paid_interest for i in not_due),
        }
        parts["total"] = (
            parts["overdue_penal"] + parts["overdue_interest"] + parts["overdue_principal"]
            + parts["principal_not_due"] + accrued - parts["interest_paid_ahead"]
        )  # fmt: skip
        return parts

    def close_day(self, items: list[Instalment], day: date) -> None:
        """The COB of `day`: a day's penal charge on every instalment due before it and not fully paid."""
        if self.product.penal_kind is None:
            return
        pct = rate(self.product.penal_rate)
        for i in items:
            if i.due < day and i.unpaid > 0:
                base = i.unpaid_pi if self.product.penal_kind == "simple" else i.unpaid
                i.penal += half_up(Fraction(base, 100) * pct / 100)

    @staticmethod
    def dpd(items: list[Instalment], day: date) -> int:
        oldest = next((i for i in items if i.unpaid > 0), None)
        return (day - oldest.due).days if oldest is not None and oldest.due < day else 0

    @staticmethod
    def waterfall(items: list[Instalment], amount: int) -> list[dict[str, Any]]:
        """Oldest instalment first; penal, interest, principal; the rest ahead."""
        lines = []
        for i in items:
            if amount == 0:
                break
            if i.unpaid == 0:
                continue
            pen = min(amount, i.penal - i.paid_penal)
            amount -= pen
            intr = min(amount, i.interest - i.paid_interest)
            amount -= intr
            prin = min(amount, i.principal - i.paid_principal)
            amount -= prin
            i.paid_penal += pen
            i.paid_interest += intr
            i.paid_principal += prin
            lines.append({"no": i.no, "penal": rupees(pen), "interest": rupees(intr), "principal": rupees(prin)})
        assert amount == 0, "a payment above the payoff"
        return lines

    def status(self, items: list[Instalment], day: date, completed: bool) -> str:
        if completed:
            return "completed"
        if self.dpd(items, day) > 0:
            return "overdue"
        oldest = next((i for i in items if i.unpaid > 0), None)
        return "partially_paid" if oldest is not None and oldest.paid > 0 else "active"

    def view(self, on: date) -> View:
        items = self.fresh()
        npa = False
        completed_on: date | None = None
        closing: str | None = None
        allocations: dict[str, list[dict[str, Any]]] = {}
        day = self.disbursed
        while True:
            for p in (p for p in self.payments if p.on == day):
                quote = self.payoff_parts(items, day)["total"]
                assert completed_on is None and p.amount <= quote, (p, quote)
                if p.amount == quote:  # the closing payment: what is owed on the day, interest by days
                    completed_on, closing = day, p.reference
                    for i in items:
                        i.paid_penal, i.paid_interest, i.paid_principal = i.penal, i.interest, i.principal
                    allocations[p.reference] = []
                else:
                    allocations[p.reference] = self.waterfall(items, p.amount)
            dpd = 0 if completed_on else self.dpd(items, day)
            npa = (npa or dpd > 90) and dpd > 0
            if day == on:
                break
            if completed_on is None:
                self.close_day(items, day)
            day += timedelta(days=1)
        payoff = self.payoff_parts(items, on)
        if completed_on:
            payoff = dict.fromkeys(payoff, 0)
        klass = "NPA" if npa else rbi_class(dpd)
        status = self.status(items, on, completed_on is not None)
        return View(items, dpd, klass, completed_on, payoff, allocations, closing, status)


# --- driving the API ------------------------------------------------------------------------------------------


@dataclass
class Drive:
    """What a live server's workers do by themselves and the pytest app's are asked to: run a requested job run,
    issue agreements and queue signed loans."""

    execute: Callable[[str], None] | None = None
    tick: Callable[[], None] | None = None


@dataclass
class Loan:
    id: str
    number: str
    ref: Reference
    pricing: Pricing
    sanctioned: int
    requested: int
    coupon: bool
    status: str = "active"  # what the last event left (COB or a payment)
    repaid: int = 0
    defaulter: bool = False  # pays nothing until past 90 DPD, then the oldest instalment, then all overdue
    partly_cured: bool = False


def _random_product(rng: random.Random) -> Product:
    def fee(big: bool) -> Fee:
        if rng.random() < 0.5:
            return Fee("percent", rng.choice(["0", "1", "2.5", "3.33", "1.75", "4.125"]), rng.random() < 0.5)
        return Fee(
            "fixed", rng.choice(["0", "99", "499.99", "1234.56", "333.33"]) if big else "49.50", rng.random() < 0.5
        )

    kind = "payday" if rng.random() < 0.3 else "emi"
    if kind == "emi":
        r = rng.choice(["0", "0", "11.99", "18", "24", "35.5", "7.25", "42.1234", "9.8765"])
    else:
        r = rng.choice(["0", "0.5", "1", "0.333", "1.25", "0.0125"])
    coupon = None
    if rng.random() < 0.4:
        coupon = ("percent", rng.choice(["10", "50", "100", "12.5"])) if rng.random() < 0.5 else ("fixed", rng.choice(["100", "250.55", "99999"]))  # fmt: skip
    penal = rng.choice([None, "simple", "simple", "compound"])
    return Product(
        kind=kind,
        rate=r,
        processing=fee(True),
        convenience=fee(False) if rng.random() < 0.6 else None,
        gst=rng.choice(["18", "18", "12", "0", "28"]),
        penal_kind=penal,
        penal_rate=rng.choice(["0.1", "0.25", "1", "0.0333", "2.5"]),
        coupon=coupon,
    )


def _product_body(product: Product, code: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code, "name": f"Probe {code}", "type": product.kind, "min_amount": "5000", "max_amount": "900000",
        "min_tenure": 1, "max_tenure": 24 if product.kind == "emi" else 90, "gst_percent": product.gst,
        "max_active_loans": 20, "bre_rules": [], "processing_fee": product.processing.body(),
    }  # fmt: skip
    body["annual_percent" if product.kind == "emi" else "daily_percent"] = product.rate
    if product.convenience is not None:
        body["convenience_fee"] = product.convenience.body()
    if product.penal_kind is not None:
        body["penal"] = {"kind": product.penal_kind, "daily_percent": product.penal_rate}
    return body


def _money(value: str) -> int:
    return paise(value)


class Probe:
    """One brand's walk: products, loans, business dates, payments, and every figure compared on the way."""

    def __init__(self, http: httpx.Client, h: Headers, rng: random.Random, drive: Drive, base: str) -> None:
        self.http, self.h, self.rng, self.drive, self.base = http, h, rng, drive, base
        self.loans: list[Loan] = []
        self.today = date(2000, 1, 1)
        self.cob_through: date | None = None
        self.checked = 0
        self.seen: dict[str, int] = {}  # the paths walked (NPA held after a part payment, upgraded, completed, ...)

    def saw(self, what: str) -> None:
        self.seen[what] = self.seen.get(what, 0) + 1

    # -- plumbing
    def get(self, path: str, **params: Any) -> Any:
        return ok(self.http.get(f"{API}{path}", params=params or None, headers=self.h))

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        return ok(self.http.post(f"{API}{path}", json=body, headers=self.h), status)

    def set_date(self, day: date) -> None:
        ok(self.http.patch(f"{API}/brand/config", json={"business_date": day.isoformat()}, headers=self.h))
        self.today = day

    def cob(self, through: date) -> None:
        """Close every business date through `through` with the COB job; the business date moves to the next day."""
        if self.today != through:
            self.set_date(through)
        run = self.post("/jobs/loan-cob/runs", {"as_of": through.isoformat()}, 202)
        if self.drive.execute is not None:
            self.drive.execute(str(run["run_id"]))
        finished = poll(lambda: self.get(f"/jobs/runs/{run['run_id']}"), lambda r: r["status"] in ("succeeded", "failed"), 120)  # fmt: skip
        assert finished["status"] == "succeeded", finished
        nxt = through + timedelta(days=1)
        moved = poll(lambda: self.get("/brand/config")["business_date"], lambda d: d == nxt.isoformat(), 30)
        assert moved == nxt.isoformat(), moved
        self.today, self.cob_through = nxt, through
        if self.rng.random() < 0.3:  # rerun for the date already closed: changes nothing (nor the business date)
            before = [self.get(f"/loans/{loan.id}") for loan in self.loans]
            again = self.post("/jobs/loan-cob/runs", {"as_of": through.isoformat()}, 202)
            if self.drive.execute is not None:
                self.drive.execute(str(again["run_id"]))
            done = poll(lambda: self.get(f"/jobs/runs/{again['run_id']}"), lambda r: r["status"] in ("succeeded", "failed"), 120)  # fmt: skip
            assert done["status"] == "succeeded", done
            assert self.get("/brand/config")["business_date"] == nxt.isoformat()
            assert [self.get(f"/loans/{loan.id}") for loan in self.loans] == before, "a COB rerun changed a loan"
            self.saw("cob_rerun")
        for loan in self.loans:  # COB moves active / partially paid loans overdue on the date it closes
            if loan.status in ("active", "partially_paid") and loan.ref.view(through).dpd > 0:
                loan.status = "overdue"

    # -- origination
    def originate(self, disbursed: date, cal: Calendar, count: int) -> None:
        rng = self.rng
        settings = {"business_date": disbursed.isoformat(), "sunday_off": cal.sunday_off,
                    "repayment_holidays": sorted(d.isoformat() for d in cal.holidays)}  # fmt: skip
        ok(self.http.patch(f"{API}/brand/config", json=settings, headers=self.h))
        self.today = disbursed
        pending: list[tuple[str, Product, int, int, int, bool]] = []
        for _ in range(count):
            product = _random_product(rng)
            code = "LB" + uuid.uuid4().hex[:8].upper()
            product_id = self.post("/loan-products", _product_body(product, code), 201)["id"]
            coupon = False
            if product.coupon is not None:
                kind, value = product.coupon
                self.post("/coupons", {"code": "C" + code, "product_id": product_id, "kind": kind, "value": value,
                                       "valid_from": "2000-01-01", "valid_to": "2199-12-31"}, 201)  # fmt: skip
                coupon = rng.random() < 0.8
            tenure = (
                rng.choice([1, 2, 3, 6, 9, 12, 24]) if product.kind == "emi" else rng.choice([1, 7, 15, 30, 45, 61])
            )
            requested = rng.randint(5000_00, 300000_99)
            sanctioned = requested if rng.random() < 0.5 else rng.randint(5000_00, requested)
            if price(product, sanctioned, coupon).net <= 0:
                sanctioned = requested = 300000_00
            # the quote on the disbursal day, against the reference
            params = {"amount": rupees(sanctioned), "tenure": tenure, "disbursed_on": disbursed.isoformat()}
            if coupon:
                params["coupon_code"] = "C" + code
            quote = self.get(f"/loan-products/{product_id}/quote", **params)
            self.check_quote(quote, product, sanctioned, tenure, disbursed, cal, coupon)
            for _ in range(2):  # quotes for other disbursal days: month ends, leap days, the brand's calendar
                year, month = rng.choice([2024, 2025, 2028, 2100]), rng.randint(1, 12)
                on = date(year, month, min(rng.choice([28, 29, 30, 31]), calendar.monthrange(year, month)[1]))
                span = rng.randint(1, 24) if product.kind == "emi" else rng.randint(1, 90)
                other = self.get(f"/loan-products/{product_id}/quote", **{**params, "tenure": span, "disbursed_on": on.isoformat()})  # fmt: skip
                self.check_quote(other, product, sanctioned, span, on, cal, coupon)
            pending.append((product_id, product, tenure, requested, sanctioned, coupon))
            pending[-1] = (product_id, product, tenure, requested, sanctioned, coupon)
            self._apply(pending[-1], code)
        # sign every agreement, pay out one file, confirm it
        for loan in self.loans:
            sent = poll(partial(self._loan, loan.id), lambda v: bool(v.get("esign")))
            ok(httpx.post(sent["esign"]["link"], json={"action": "sign"}, timeout=30))
        for loan in self.loans:
            queued = poll(partial(self._loan, loan.id), lambda v: v["status"] == "awaiting_disbursal")
            assert queued["status"] == "awaiting_disbursal", queued["status"]
        payout = self.post("/payout-files", {"loan_ids": [loan.id for loan in self.loans]}, 201)
        assert _money(payout["total"]) == sum(loan.pricing.net for loan in self.loans), payout
        self.check_payout_file(payout["id"])
        self.post(f"/payout-files/{payout['id']}/confirm")
        for loan in self.loans:
            active = poll(partial(self._loan, loan.id), lambda v: v["status"] == "active")
            assert active["status"] == "active" and active["disbursed_on"] == disbursed.isoformat(), active["status"]

    def _loan(self, loan_id: str) -> dict[str, Any]:
        if self.drive.tick is not None:
            self.drive.tick()
        return dict(self.get(f"/loans/{loan_id}"))

    def _apply(self, spec: tuple[str, Product, int, int, int, bool], code: str) -> None:
        product_id, product, tenure, requested, sanctioned, coupon = spec
        body = {"name": "Lakshmi Rao", "phone": f"9{uuid.uuid4().int % 10**7:07d}72", "date_of_birth": "1988-03-29",
                "addresses": [{"line1": "7 Temple Street", "city": "Madurai", "pincode": "625001"}]}  # fmt: skip
        customer = self.post("/customers", body, 201)["id"]
        account = {"account_number": bank_account_number("5010"), "ifsc": "HDFC0001234",
                   "holder_name": "Lakshmi Rao"}  # fmt: skip
        self.post(f"/customers/{customer}/bank-accounts", account, 201)
        application = {"customer_id": customer, "product_id": product_id, "amount": rupees(requested), "tenure": tenure}
        if coupon:
            application["coupon_code"] = "C" + code
        made = self.post("/loans", application, 201)
        url = f"/loans/{made['id']}"
        assert self.post(f"{url}/submit")["status"] == "pending"
        self.post(f"{url}/cx-approve", {"approved_amount": rupees(requested), "remarks": "salary supports it"})
        sanctioned_loan = self.post(
            f"{url}/sanction", {"sanctioned_amount": rupees(sanctioned), "remarks": "FOIR fine"}
        )
        pricing = price(product, sanctioned, coupon)
        self.check_pricing(sanctioned_loan["sanctioned_pricing"], pricing, sanctioned, where="sanctioned_pricing")
        self.check_pricing(made["pricing"], price(product, requested, coupon), requested, where="pricing")
        amounts = sanctioned_loan["amounts"]
        expected = {"requested": requested, "sanctioned": sanctioned, "processing_fee": pricing.processing,
                    "processing_fee_before_discount": pricing.fee_before, "convenience_fee": pricing.convenience,
                    "gst": pricing.gst, "net_disbursed": pricing.net}  # fmt: skip
        assert {k: _money(amounts[k]) for k in expected} == expected, (amounts, expected)
        ref = Reference(product, sanctioned, tenure, self.today, Calendar(False, frozenset()))
        defaulter = self.rng.random() < 0.3
        self.loans.append(Loan(made["id"], made["loan_number"], ref, pricing, sanctioned, requested, coupon,
                               defaulter=defaulter))  # fmt: skip

    # -- checks
    def check_pricing(self, shown: dict[str, Any], want: Pricing, principal: int, where: str) -> None:
        got = {
            "sanctioned": _money(shown["sanctioned"]),
            "fee_before": _money(shown["processing_fee_before_discount"]),
            "discount": _money(shown["coupon_discount"]),
            "processing": _money(shown["processing_fee"]["amount"]),
            "processing_gst": _money(shown["processing_fee"]["gst"]),
            "convenience": _money(shown["convenience_fee"]["amount"]) if shown.get("convenience_fee") else 0,
            "convenience_gst": _money(shown["convenience_fee"]["gst"]) if shown.get("convenience_fee") else 0,
            "net": _money(shown["net_disbursed"]),
        }
        expected = {"sanctioned": principal, "fee_before": want.fee_before, "discount": want.discount,
                    "processing": want.processing, "processing_gst": want.processing_gst,
                    "convenience": want.convenience, "convenience_gst": want.convenience_gst, "net": want.net}  # fmt: skip
        assert got == expected, (where, got, expected)
        self.checked += len(expected)

    def check_quote(self, quote: dict[str, Any], product: Product, sanctioned: int, tenure: int, on: date,
                    cal: Calendar, coupon: bool) -> None:  # fmt: skip
        want = price(product, sanctioned, coupon)
        self.check_pricing({**quote, "sanctioned": quote["amount"]}, want, sanctioned, where="quote")
        items = schedule(product, sanctioned, tenure, on, cal)
        inclusive_p = product.processing.inclusive
        assert _money(quote["processing_fee"]["deducted"]) == want.processing + (0 if inclusive_p else want.processing_gst)  # fmt: skip
        assert _money(quote["gst"]) == want.gst and _money(quote["net_disbursed"]) == want.net, quote
        assert _money(quote["deductions"]) == sanctioned - want.net, quote
        assert quote["first_due_date"] == items[0].due.isoformat(), (quote["first_due_date"], items[0].due)
        assert _money(quote["first_instalment"]) == items[0].amount, (quote, items[0])
        if product.kind == "emi":
            assert _money(quote["emi"]) == items[0].amount, (quote["emi"], items[0])
        assert _money(quote["total_interest"]) == sum(i.interest for i in items), quote
        assert _money(quote["total_repayable"]) == sanctioned + sum(i.interest for i in items), quote
        self.checked += 8

    def check_payout_file(self, file_id: str) -> None:
        import openpyxl

        answer = self.http.get(f"{API}/payout-files/{file_id}/payout.xlsx", headers=self.h)
        assert answer.status_code == 200, answer.text[:300]
        sheet = openpyxl.load_workbook(io.BytesIO(answer.content))["Payouts"]
        nets = {loan.number: loan.pricing.net for loan in self.loans}
        seen: dict[str, int] = {}
        for row in sheet.iter_rows(values_only=True):
            cells = [c for c in row if c is not None]
            number = next((c for c in cells if isinstance(c, str) and c in nets), None)
            if number is not None:
                amounts = [c for c in cells if isinstance(c, (int, float, Decimal)) and not isinstance(c, bool)]
                seen[number] = half_up(Fraction(Decimal(str(amounts[-1]))))
        assert seen == nets, (seen, nets)
        # the breakdown of each net amount (LENDING.md: as the ledger and the no-due certificate show it)
        loans = {loan.number: loan for loan in self.loans}
        rows = list(openpyxl.load_workbook(io.BytesIO(answer.content))["Breakdown"].iter_rows(values_only=True))
        got = {row[0]: [v if isinstance(v, str) else rupees(half_up(Fraction(Decimal(str(v))))) for v in row[1:]]
               for row in rows[1:]}  # fmt: skip
        want = {}
        for number, loan in loans.items():
            p, product = loan.pricing, loan.ref.product
            inside = (product.processing.inclusive, product.convenience is not None and product.convenience.inclusive)
            want[number] = [rupees(loan.sanctioned), rupees(p.fee_before), rupees(p.discount), rupees(p.processing),
                            rupees(p.processing_gst), "yes" if inside[0] else "no", rupees(p.convenience),
                            rupees(p.convenience_gst), "yes" if inside[1] else "no", rupees(loan.sanctioned - p.net),
                            rupees(p.net)]  # fmt: skip
        assert got == want, (got, want)
        self.checked += 11 * len(want)

    def check_loan(self, loan: Loan) -> View:
        """GET /loans/{id}, its payoff (today and ahead) and ledger against the reference on the business date."""
        view = loan.ref.view(self.today)
        shown = self.get(f"/loans/{loan.id}")
        where = (loan.number, self.today.isoformat())
        expected_status = "completed" if view.completed_on else loan.status
        assert shown["status"] == expected_status, (where, shown["status"], expected_status)
        rows = []
        for i, s in zip(view.instalments, shown["schedule"], strict=True):
            status = (
                "paid" if i.unpaid == 0 else "overdue" if i.due < self.today
                else "partially_paid" if i.paid > 0 else "due"
            )  # fmt: skip
            want = {"no": i.no, "due_date": i.due.isoformat(), "principal": rupees(i.principal),
                    "interest": rupees(i.interest), "amount": rupees(i.amount), "penal": rupees(i.penal),
                    "paid": rupees(i.paid), "unpaid": rupees(i.unpaid), "status": status}  # fmt: skip
            if view.completed_on:  # the closing payment re-sets interest not yet due: amounts are what was owed
                want = {k: v for k, v in want.items() if k in ("no", "due_date", "principal", "unpaid", "status")}
            rows.append(({k: s[k] for k in want}, want))
        bad = [(got, want) for got, want in rows if got != want]
        assert not bad, (where, bad[:3])
        self.checked += 9 * len(rows)
        p = view.payoff
        outstanding = {"principal": p["overdue_principal"] + p["principal_not_due"],
                       "interest": p["overdue_interest"] + p["accrued_interest"] - p["interest_paid_ahead"],
                       "penal": p["overdue_penal"], "fees": 0, "total": p["total"]}  # fmt: skip
        got_out = {k: _money(v) for k, v in shown["outstanding"].items()}
        assert got_out == outstanding, (where, got_out, outstanding)
        assert (shown["dpd"], shown["asset_class"]) == (view.dpd, view.asset_class), (where, shown["dpd"], shown["asset_class"], view.dpd, view.asset_class)  # fmt: skip
        # the next instalment coming due (overdue ones are in `dpd` and `outstanding`)
        coming = [i for i in view.instalments if i.unpaid > 0 and i.due >= self.today]
        nxt = coming[0] if coming and not view.completed_on else None
        want_next = (
            None if nxt is None else {"no": nxt.no, "due_date": nxt.due.isoformat(), "amount": rupees(nxt.unpaid)}
        )
        assert shown["next_due"] == want_next, (where, shown["next_due"], want_next)
        quote = self.get(f"/loans/{loan.id}/payoff")
        got_quote = {k: _money(quote[k]) for k in p}
        assert got_quote == p, (where, got_quote, p)
        self.checked += 6 + len(p)
        self.check_ledger(loan, view)
        return view

    def check_payoff_before(self, loan: Loan) -> None:
        """A quote as of an earlier day counts the payments up to it only; before the disbursal it is a 422."""
        span = (self.today - loan.ref.disbursed).days
        if span > 0:
            self.check_payoff_ahead(loan, loan.ref.disbursed + timedelta(days=self.rng.randint(0, span - 1)))
        before = (loan.ref.disbursed - timedelta(days=1)).isoformat()
        refused = self.http.get(f"{API}/loans/{loan.id}/payoff", params={"as_of": before}, headers=self.h)
        assert refused.status_code == 422, (loan.number, refused.status_code, refused.text[:300])

    def check_payoff_ahead(self, loan: Loan, ahead: date) -> None:
        # a quote is refused more than 366 days after the later of the last due date and the business date
        ahead = min(ahead, max(loan.ref.fresh()[-1].due, self.today) + timedelta(days=366))
        want = loan.ref.view(ahead).payoff
        quote = self.get(f"/loans/{loan.id}/payoff", as_of=ahead.isoformat())
        got = {k: _money(quote[k]) for k in want}
        assert got == want, (loan.number, ahead.isoformat(), got, want)
        self.checked += len(want)

    def check_ledger(self, loan: Loan, view: View) -> None:
        """The statement: postings sum to the running figures; fees as priced and deducted; principal, penal and
        what was paid as the reference has them; the CSV the same rows."""
        items = self.get(f"/loans/{loan.id}/ledger")["items"]
        where = (loan.number, self.today.isoformat())
        buckets = ("principal", "interest", "penal", "fees")
        running = dict.fromkeys(buckets, 0)
        for item in items:
            for b in buckets:
                running[b] += _money(item[b])
            assert {b: _money(item["running"][b]) for b in buckets} == running, (where, item)
            assert _money(item["running"]["total"]) == sum(running.values()), (where, item)
        kinds: dict[str, int] = {}
        for item in items:
            kinds[item["kind"]] = kinds.get(item["kind"], 0) + _money(item["amount"])
        on_top = (
            loan.pricing.gst
            - (loan.pricing.processing_gst if loan.ref.product.processing.inclusive else 0)
            - (
                loan.pricing.convenience_gst
                if loan.ref.product.convenience and loan.ref.product.convenience.inclusive
                else 0
            )
        )
        assert kinds.get("disbursal") == loan.sanctioned, (where, kinds)
        assert kinds.get("fee", 0) == loan.pricing.processing + loan.pricing.convenience, (where, kinds)
        assert kinds.get("gst", 0) == on_top, (where, kinds)
        assert kinds.get("fees_deducted", 0) == loan.sanctioned - loan.pricing.net, (where, kinds)
        assert kinds.get("payment", 0) == loan.repaid, (where, kinds.get("payment"), loan.repaid)
        unpaid_principal = sum(i.principal - i.paid_principal for i in view.instalments)
        unpaid_penal = sum(i.penal - i.paid_penal for i in view.instalments)
        assert running["principal"] == unpaid_principal, (where, running, unpaid_principal)
        assert running["penal"] == unpaid_penal, (where, running, unpaid_penal)
        assert running["fees"] == 0, (where, running)
        if view.completed_on:
            assert sum(running.values()) == 0, (where, running)
        else:  # interest posted on each due date (through the business date), less interest paid
            posted = sum(i.interest for i in view.instalments if i.due <= self.today)
            assert running["interest"] == posted - sum(i.paid_interest for i in view.instalments), (where, running)
        text = self.http.get(f"{API}/loans/{loan.id}/ledger.csv", headers=self.h).content.decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [(r["kind"], r["amount"], r["outstanding_total"]) for r in rows] == [
            (i["kind"], i["amount"], i["running"]["total"]) for i in items
        ], where
        self.checked += 10 + len(items)

    # -- payments
    def pay(self, loan: Loan, amount: int, on: date) -> dict[str, Any]:
        reference = f"UTR-{uuid.uuid4().hex[:12]}"
        body = {"amount": rupees(amount), "mode": self.rng.choice(["upi", "neft", "cash", "imps"]), "reference": reference,
                "paid_on": on.isoformat()}  # fmt: skip
        answer = self.post(f"/loans/{loan.id}/repayments", body, 201)
        loan.ref.payments.append(Payment(on, amount, reference))
        loan.repaid += amount
        view = loan.ref.view(self.today)
        where = (loan.number, on.isoformat(), rupees(amount))
        if view.closing == reference:
            assert answer["closes_loan"] is True and answer["status"] == "completed", (where, answer)
            got = [(_money(a["penal"]), _money(a["interest"]), _money(a["principal"])) for a in answer["allocation"]]
            assert sum(sum(line) for line in got) == amount, (where, answer["allocation"])
        else:
            assert answer["closes_loan"] is False, (where, answer)
            assert answer["allocation"] == view.allocations[reference], (where, answer["allocation"], view.allocations[reference])  # fmt: skip
        # the status and payoff on the business date once it was applied (a back-dated one replayed)
        loan.status = view.status
        assert answer["status"] == loan.status, (where, answer["status"], loan.status)
        assert _money(answer["payoff_after"]) == view.payoff["total"], (where, answer["payoff_after"], view.payoff)
        self.checked += 4
        return dict(answer)

    def refuse_above_payoff(self, loan: Loan) -> None:
        """A paisa above the payoff: 422 naming `amount`, nothing applied."""
        payoff = loan.ref.view(self.today).payoff["total"]
        before = self.get(f"/loans/{loan.id}")
        body = {"amount": rupees(payoff + 1), "mode": "neft", "reference": f"UTR-{uuid.uuid4().hex[:12]}"}
        refused = self.http.post(f"{API}/loans/{loan.id}/repayments", json=body, headers=self.h)
        assert refused.status_code == 422, (loan.number, refused.status_code, refused.text[:300])
        assert refused.json()["errors"][0]["field"] == "amount", refused.text
        after = self.get(f"/loans/{loan.id}")
        assert (after["history"], after["outstanding"], after["schedule"]) == (before["history"], before["outstanding"], before["schedule"])  # fmt: skip
        self.checked += 2

    def act(self, loan: Loan) -> None:
        """One random thing a borrower does on the business date (or back-dated to a day not before any payment)."""
        rng = self.rng
        view = loan.ref.view(self.today)
        if view.completed_on:
            return
        payoff = view.payoff["total"]
        if loan.defaulter:
            self.act_as_defaulter(loan, view)
            return
        roll = rng.random()
        if roll < 0.25 or payoff <= 1:
            return  # pays nothing
        if roll < 0.33:
            self.refuse_above_payoff(loan)
            return
        if roll < 0.43:
            self.pay(loan, payoff, self.today)
            return
        nxt = next(i for i in view.instalments if i.unpaid > 0)
        choices = [
            max(1, nxt.unpaid * rng.randint(1, 99) // 100),  # part of the oldest unpaid instalment
            nxt.unpaid,  # exactly it
            nxt.unpaid + rng.randint(1, 5000_00),  # and something ahead
            rng.randint(1, 999),  # a few paise or rupees
            sum(i.unpaid for i in view.instalments if i.due < self.today),  # everything overdue
        ]
        amount = min(rng.choice(choices), payoff - 1)
        if amount <= 0:
            return
        # sometimes back-dated: after the last payment and the disbursal, before today
        last = max([p.on for p in loan.ref.payments] + [loan.ref.disbursed])
        on = self.today
        if rng.random() < 0.2 and (self.today - last).days > 1:
            on = last + timedelta(days=rng.randint(1, (self.today - last).days - 1))
            amount = min(amount, loan.ref.view(on).payoff["total"] - 1)
            if amount <= 0:
                return
        self.pay(loan, amount, on)

    def check_reports(self, closed: date) -> None:
        """Right after the close of business of `closed`: the outstanding report (unpaid scheduled principal and
        interest, DPD and class of the last close of business) and the active loans by due date (the next instalment
        not fully paid) against the reference."""
        day = self.loans[0].ref.disbursed.isoformat()
        rows = {r["loan_number"]: r for r in self.get("/reports/outstanding-data-report", **{"from": day, "to": day, "limit": 500})["rows"]}  # fmt: skip
        due_rows = self.get("/reports/active-loans-by-due-date-report", **{"from": "1990-01-01", "to": "2199-12-31", "limit": 500})["rows"]  # fmt: skip
        by_due = {r["loan_number"]: r for r in due_rows}
        for loan in self.loans:
            view, cob = loan.ref.view(self.today), loan.ref.view(closed)
            where = (loan.number, self.today.isoformat())
            if view.completed_on:
                assert loan.number not in rows and loan.number not in by_due, where
                continue
            row = rows[loan.number]
            principal = sum(i.principal - i.paid_principal for i in view.instalments)
            interest = sum(i.interest - i.paid_interest for i in view.instalments)
            got = (_money(row["outstanding_principal"]), _money(row["outstanding_interest"]), _money(row["outstanding_total"]), row["dpd"], row["asset_class"], row["status"])  # fmt: skip
            want = (principal, interest, principal + interest, cob.dpd, cob.asset_class, loan.status)
            assert got == want, ("outstanding-data-report", where, got, want)
            nxt = next(i for i in view.instalments if i.unpaid > 0)
            due = by_due[loan.number]
            got_due = (due["next_due_date"], _money(due["next_due_amount"]), _money(due["outstanding_principal"]), _money(due["outstanding_interest"]), due["dpd"])  # fmt: skip
            want_due = (nxt.due.isoformat(), nxt.unpaid_pi, principal, interest, cob.dpd)  # penal apart, as above
            assert got_due == want_due, ("active-loans-by-due-date-report", where, got_due, want_due)
            self.checked += 11

    def act_as_defaulter(self, loan: Loan, view: View) -> None:
        """Past 90 DPD: the oldest instalment (or part of a bullet) paid - the DPD drops, the class stays NPA while
        anything overdue is unpaid; later everything overdue paid - standard again (LENDING.md's NPA upgrade)."""
        overdue = [i for i in view.instalments if i.due < self.today and i.unpaid > 0]
        if not loan.partly_cured and view.dpd > 91:  # NPA at a close of business already, not only today
            oldest = overdue[0]
            part = oldest.unpaid if len(overdue) > 1 else oldest.unpaid // 2
            self.pay(loan, part, self.today)
            after = loan.ref.view(self.today)
            assert after.dpd > 0 and after.asset_class == "NPA", (loan.number, after.dpd, after.asset_class)
            loan.partly_cured = True
            self.saw("npa_held_after_part_payment")
        elif loan.partly_cured and overdue:
            self.pay(loan, min(sum(i.unpaid for i in overdue), view.payoff["total"]), self.today)
            after = loan.ref.view(self.today)
            assert after.asset_class == "standard" and after.dpd == 0, (loan.number, after.dpd, after.asset_class)
            self.saw("npa_upgraded")

    # -- the loan page and the no-due certificate
    def check_page_and_certificate(self, loans: list[Loan], staff: httpx.Client | None) -> None:
        from pypdf import PdfReader

        for loan in loans:
            view = loan.ref.view(self.today)
            # Customer 360's loans: the payoff on the business date, DPD, class
            customer = self.get(f"/loans/{loan.id}")["customer_id"]
            listed = self.get(f"/customers/{customer}/loans")
            mine = next(x for x in (listed["items"] if isinstance(listed, dict) else listed) if x["id"] == loan.id)
            got = (_money(mine["outstanding"]), mine["dpd"], mine["asset_class"])
            assert got == (view.payoff["total"], view.dpd, view.asset_class), (loan.number, got, view.payoff)
            self.checked += 3
            if staff is not None:
                page = staff.get(f"/loans/{loan.id}")
                assert page.status_code == 200, page.status_code
                html = page.text

                def text_of(element_id: str, html: str = html) -> str:
                    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
                    assert found, element_id
                    return found.group(1)

                def figure(s: str) -> int:
                    return paise(re.sub(r"[^0-9.\-]", "", s))

                assert figure(text_of("outstanding-total")) == view.payoff["total"], (loan.number, text_of("outstanding-total"))  # fmt: skip
                assert int(text_of("dpd")) == view.dpd and text_of("asset-class").strip() == view.asset_class
                table = html[html.index('id="servicing-schedule"') : html.index("</table>", html.index('id="servicing-schedule"'))]  # fmt: skip
                cells = re.findall(r'data-label="(Principal|Penal|Paid|Unpaid)">([^<]*)<', table)
                shown = [figure(v) for _, v in cells]
                want = []
                for i in view.instalments:
                    want += [i.principal, i.penal, i.paid, i.unpaid]
                if not view.completed_on:
                    assert shown == want, (loan.number, shown[:8], want[:8])
                self.checked += 3 + len(want)
            if view.completed_on:
                pdf = self.http.get(f"{API}/loans/{loan.id}/no-due-certificate", headers=self.h)
                assert pdf.status_code == 200, pdf.text[:300]
                text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
                # the certificate writes amounts `Rs. 1,50,000.00`: compared as the API writes them
                text = re.sub(r"(-?)Rs\. ?([0-9][0-9,]*\.[0-9]{2})", lambda m: m[1] + m[2].replace(",", ""), text)
                # the labelled figures (a label's note in brackets apart): the payout's breakdown as priced
                figures: dict[str, str] = {}
                for line in text.splitlines():
                    label, _, value = line.rpartition(" ")
                    if re.fullmatch(r"-?[0-9]+\.[0-9]{2}", value):
                        figures[label.split(" (")[0].strip()] = value
                pricing = loan.pricing
                expected = {
                    "Amount sanctioned": rupees(loan.sanctioned),
                    "Processing fee before discount": rupees(pricing.fee_before),
                    "Coupon discount": rupees(pricing.discount),
                    "Processing fee charged": rupees(pricing.processing),
                    "GST on the processing fee": rupees(pricing.processing_gst),
                    "Convenience fee": rupees(pricing.convenience),
                    "GST on the convenience fee": rupees(pricing.convenience_gst),
                    "Deducted from the payout": rupees(loan.sanctioned - pricing.net),
                    "Amount disbursed": rupees(pricing.net),
                    "Amount repaid": rupees(loan.repaid),
                }
                assert {k: figures.get(k) for k in expected} == expected, (loan.number, figures, expected)
                inside = "inside the fee" if loan.ref.product.processing.inclusive else "on top"
                assert f"GST on the processing fee ({inside})" in text, (loan.number, text[:1200])
                assert view.completed_on.isoformat() in text, (loan.number, text[:800])
                self.checked += len(expected) + 2


def walk_brand(http: httpx.Client, h: Headers, rng: random.Random, drive: Drive, base: str,
               staff: httpx.Client | None, loans: int = 4, steps: int = 7) -> Probe:  # fmt: skip
    """One brand: a disbursal date, a calendar, `loans` loans, `steps` moves of the business date; figures checked."""
    year = rng.choice([2023, 2024, 2024, 2025, 2028])
    month = rng.randint(1, 12)
    last = calendar.monthrange(year, month)[1]
    day = rng.choice([last, last, min(29, last), min(30, last), 28, rng.randint(1, last)])
    disbursed = date(year, month, day)
    holidays = frozenset(disbursed + timedelta(days=rng.randint(20, 300)) for _ in range(rng.randint(0, 6)))
    cal = Calendar(rng.random() < 0.6, holidays)
    probe = Probe(http, h, rng, drive, base)
    probe.originate(disbursed, cal, loans)
    for loan in probe.loans:
        loan.ref.cal = cal
        probe.check_loan(loan)
        probe.check_payoff_ahead(loan, disbursed + timedelta(days=rng.randint(1, 400)))
        if not loan.defaulter and rng.random() < 0.2:  # paid on the disbursal day (a payday loan accrues a day)
            probe.act(loan)
            probe.check_loan(loan)
    for _ in range(steps):
        # the next business date: odd steps; sometimes through the COB job, sometimes by setting the date
        gap = rng.choice([1, 2, 3, 13, 29, 31, 33, 45, 62])
        target = probe.today + timedelta(days=gap)
        if rng.random() < 0.5:
            probe.cob(target - timedelta(days=1))
            probe.check_reports(target - timedelta(days=1))
        else:
            probe.set_date(target)
        for loan in probe.loans:
            probe.act(loan)
            if rng.random() < 0.3:
                probe.act(loan)
        for loan in probe.loans:
            probe.check_loan(loan)
            if rng.random() < 0.3:
                probe.check_payoff_ahead(loan, probe.today + timedelta(days=rng.randint(1, 120)))
            if rng.random() < 0.2:
                probe.check_payoff_before(loan)
    # the rest of them close: the payoff on the business date
    for loan in probe.loans:
        if rng.random() < 0.6 and loan.ref.view(probe.today).completed_on is None:
            probe.pay(loan, loan.ref.view(probe.today).payoff["total"], probe.today)
            probe.check_loan(loan)
    probe.check_page_and_certificate(probe.loans, staff)
    for loan in probe.loans:
        view = loan.ref.view(probe.today)
        probe.saw("completed" if view.completed_on else "open")
        probe.saw(f"{loan.ref.product.kind}_{loan.ref.product.penal_kind}")
        probe.saw(view.asset_class)
    return probe


def staff_login(base: str, h: Headers) -> httpx.Client:
    """A staff admin of the brand signed in through the portal's login (the loan page is the portal's)."""
    email = f"probe.{uuid.uuid4().hex[:8]}@lending.example.in"
    with httpx.Client(base_url=base, timeout=60) as http:
        ok(http.post(f"{API}/staff", json={"name": "Probe Admin", "email": email, "roles": ["admin"], "password": PASSWORD}, headers=h), 201)  # fmt: skip
    browser = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    return browser


def test_every_loan_figure_follows_lending_md_through_the_api(
    server: str, platform: Any, provider_simulators: dict[str, Any], monkeypatch: Any
) -> None:
    from api.services.disbursals import WEBHOOK_SECRET_ENV
    from domain.loans.application import Loans
    from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
    from tests.support import settle
    from workers.agreement_jobs import AgreementJobPort, AgreementWorker
    from workers.runtime import scheduler_for

    monkeypatch.setenv("PUBLIC_BASE_URL", server)  # the e-sign webhook comes back to the test server
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    worker = AgreementWorker(platform.port(AgreementJobPort))

    def tick() -> None:
        worker.drain(check_queue=True)
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())

    drive = Drive(execute=scheduler_for(platform).execute, tick=tick)
    rng = random.Random(SEED)
    checked, seen = 0, dict[str, int]()
    with httpx.Client(base_url=server, timeout=60) as http:
        for _ in range(BRANDS):
            tenant = make_tenant(platform)
            staff = staff_login(server, tenant.auth)
            try:
                probe = walk_brand(http, tenant.auth, rng, drive, server, staff)
            finally:
                staff.close()
            checked += probe.checked
            for what, n in probe.seen.items():
                seen[what] = seen.get(what, 0) + n
    # the sample walked the paths it is for (a seed that does not is no check of them)
    assert checked > 1000, checked
    wanted = ("npa_held_after_part_payment", "npa_upgraded", "completed", "emi_simple", "emi_compound", "cob_rerun")
    assert all(seen.get(w) for w in wanted) and any(k.startswith("payday_") for k in seen), str(sorted(seen.items()))


BRANDS = int(os.environ.get("LENDING_PROBE_BRANDS", "5"))

if __name__ == "__main__":  # against a running server (scratch database): base URL, an admin key
    base_url, key = sys.argv[1], sys.argv[2]
    with httpx.Client(base_url=base_url, timeout=60) as live:
        auth = {"Authorization": f"Bearer {key}"}
        portal = staff_login(base_url, auth)
        walked = walk_brand(live, auth, random.Random(SEED), Drive(), base_url, portal)
        print("figures checked:", walked.checked, walked.seen)
