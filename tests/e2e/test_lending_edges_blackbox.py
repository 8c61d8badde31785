"""The edges of loan servicing through the HTTP API against a reference written again from ../shared/LENDING.md
(issue #15's outside check; test_lending_blackbox.py walks random loans, this one the corners it does not reach).

Loans disbursed on 29 Feb 2024, 31 Jan 2025 and 30 Nov 2025 (dues clamped to month ends, moved off Sundays and chains
of brand holidays), EMI at 0 %, at 24 % and at 999 % a year, one instalment and 120 instalments, payday loans of one
day and of 45 days; then, day by day through the close-of-business job: payments on the due date, part payments
that pay penal charges and their reversal (penal charges re-opened and recomputed), duplicate references (409,
nothing applied), a payment on the day the class changes (SMA-0 -> SMA-1, SMA-2 -> NPA), a payment link paid at the
gateway simulator whose webhook is delivered again, the payoff less a paisa, a paisa above (422), the paisa that
closes, the closing payment reversed and the loan closed again, a COB rerun for a date already closed. After every
step the schedule, outstanding, DPD, class, status, next due, payoff and each payment's allocation are compared to
the paisa; every answer of GET /loans/{id} is kept with the instant it was given, and at the end the auditor's replay
(`/audit/loan/{id}/state?as_of=`) of each instant, and of instants between them, must say the same.

The reference shares no code with `domain/` nor with test_lending_blackbox.py: integer paise, exact fractions, the
loan replayed day by day from the payments that stand. Where LENDING.md leaves room it follows docs/lending.md's
"Decisions" (penal charges for a day at its close; "fully paid" includes penal charges; interest paid ahead counts
towards the payoff; payday accrual at least one day, at most the tenure; the closing payment settles for the payoff).
Runs standalone too: `python -m tests.e2e.test_lending_edges_blackbox URL cdk_<admin key>` (a scratch database:
it moves the brands' business dates; run with LENDING_EDGES_RANDOM=n for n extra random loans a group)."""

from __future__ import annotations

import calendar
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx

from tests.e2e.blackbox import API, QUEUED_SECONDS, Headers, bank_account_number, ok, poll

EXTRA = int(os.environ.get("LENDING_EDGES_RANDOM", "0"))
SEED = int(os.environ.get("LENDING_EDGES_SEED", "15150229"))

# --- the reference ---------------------------------------------------------------------------------------------


def to_paise(text: str) -> int:
    value = Decimal(text)
    assert value == value.quantize(Decimal("0.01")), text
    return int(value * 100)


def money(p: int) -> str:
    return ("-" if p < 0 else "") + f"{abs(p) // 100}.{abs(p) % 100:02d}"


def rnd(rupee_amount: Fraction) -> int:
    """Rupees, exactly, rounded half up to whole paise."""
    x = rupee_amount * 100
    n = abs(x)
    q = int(n) + (1 if n - int(n) >= Fraction(1, 2) else 0)
    return q if x >= 0 else -q


def frac(text: str) -> Fraction:
    return Fraction(Decimal(text))


@dataclass(frozen=True)
class Terms:
    kind: str  # emi | payday
    rate: str  # annual percent (emi), daily percent (payday)
    tenure: int
    principal: int
    penal: tuple[str, str] | None  # (simple|compound, daily percent)
    fee: tuple[str, str, bool]  # processing fee: (percent|fixed, value, gst inclusive)
    convenience: tuple[str, str, bool] | None
    gst: str = "18"


@dataclass
class Row:
    no: int
    due: date
    principal: int
    interest: int
    opening: int
    start: date
    paid_pen: int = 0
    paid_int: int = 0
    paid_pri: int = 0
    penal: int = 0

    def owed_pi(self) -> int:
        return self.principal - self.paid_pri + self.interest - self.paid_int

    def owed(self) -> int:
        return self.owed_pi() + self.penal - self.paid_pen

    def paid(self) -> int:
        return self.paid_pen + self.paid_int + self.paid_pri


def due_day(disbursed: date, k: int, sunday_off: bool, holidays: set[date]) -> date:
    y, m = divmod(disbursed.year * 12 + disbursed.month - 1 + k, 12)
    d = date(y, m + 1, min(disbursed.day, calendar.monthrange(y, m + 1)[1]))
    return shift(d, sunday_off, holidays)


def shift(d: date, sunday_off: bool, holidays: set[date]) -> date:
    while d in holidays or (sunday_off and d.isoweekday() == 7):
        d += timedelta(days=1)
    return d


def rows_of(t: Terms, disbursed: date, sunday_off: bool, holidays: set[date]) -> list[Row]:
    P = Fraction(t.principal, 100)
    if t.kind == "payday":
        i = rnd(P * frac(t.rate) / 100 * t.tenure)
        return [Row(1, shift(disbursed + timedelta(days=t.tenure), sunday_off, holidays), t.principal, i,
                    t.principal, disbursed)]  # fmt: skip
    r = frac(t.rate) / 1200
    n = t.tenure
    emi = rnd(P / n) if r == 0 else rnd(P * r * (1 + r) ** n / ((1 + r) ** n - 1))
    out, opening, prev = [], t.principal, disbursed
    for k in range(1, n + 1):
        interest = rnd(Fraction(opening, 100) * r)
        principal = opening if k == n else emi - interest
        due = due_day(disbursed, k, sunday_off, holidays)
        out.append(Row(k, due, principal, interest, opening, prev))
        opening -= principal
        prev = due
    return out


def fees(t: Terms) -> dict[str, int]:
    """Processing and convenience fees, their GST, net disbursed (no coupon here: test_lending_blackbox has them)."""
    g = frac(t.gst)

    def one(f: tuple[str, str, bool] | None) -> tuple[int, int, int]:
        if f is None:
            return 0, 0, 0
        kind, value, inclusive = f
        amount = rnd(Fraction(t.principal, 100) * frac(value) / 100) if kind == "percent" else to_paise(value)
        gst = rnd(Fraction(amount, 100) * g / (100 + g)) if inclusive else rnd(Fraction(amount, 100) * g / 100)
        return amount, gst, 0 if inclusive else gst

    pf, pg, pt = one(t.fee)
    cf, cg, ct = one(t.convenience)
    return {"processing": pf, "processing_gst": pg, "convenience": cf, "convenience_gst": cg,
            "net": t.principal - pf - cf - pt - ct}  # fmt: skip


@dataclass
class Paid:
    ref: str
    on: date
    amount: int
    reversed: bool = False
    recorded: list[dict[str, str]] = field(default_factory=list)  # the allocation the API answered at recording


@dataclass
class State:
    rows: list[Row]
    dpd: int
    klass: str
    closed_on: date | None
    payoff: dict[str, int]
    lines: dict[str, list[dict[str, str]]]
    status: str


def klass_of(dpd: int) -> str:
    for top, name in ((0, "standard"), (30, "SMA-0"), (60, "SMA-1"), (90, "SMA-2")):
        if dpd <= top:
            return name
    return "NPA"


@dataclass
class Ref:
    """One loan, replayed from its disbursal day by day: the payments that stand (in date, then recorded, order)."""

    terms: Terms
    disbursed: date
    sunday_off: bool
    holidays: set[date]
    payments: list[Paid] = field(default_factory=list)

    def quote(self, rows: list[Row], on: date) -> dict[str, int]:
        t = self.terms
        late = [x for x in rows if x.due < on]
        ahead = [x for x in rows if x.due >= on]
        accrued = 0
        if ahead:
            if t.kind == "payday":
                days = max(1, min((on - self.disbursed).days, t.tenure))
                accrued = rnd(Fraction(t.principal, 100) * frac(t.rate) / 100 * days)
            else:
                cur = ahead[0]
                accrued = rnd(Fraction(cur.opening, 100) * frac(t.rate) / 1200 * Fraction((on - cur.start).days, (cur.due - cur.start).days))  # fmt: skip
        q = {
            "overdue_penal": sum(x.penal - x.paid_pen for x in late),
            "overdue_interest": sum(x.interest - x.paid_int for x in late),
            "overdue_principal": sum(x.principal - x.paid_pri for x in late),
            "principal_not_due": sum(x.principal - x.paid_pri for x in ahead),
            "accrued_interest": accrued,
            "interest_paid_ahead": sum(x.paid_int for x in ahead),
        }
        q["total"] = sum(v for k, v in q.items() if k != "interest_paid_ahead") - q["interest_paid_ahead"]
        return q

    def state(self, on: date) -> State:
        rows = rows_of(self.terms, self.disbursed, self.sunday_off, self.holidays)
        lines: dict[str, list[dict[str, str]]] = {}
        closed_on: date | None = None
        npa, day, dpd = False, self.disbursed, 0
        standing = [p for p in self.payments if not p.reversed]
        while True:
            for p in [p for p in standing if p.on == day]:
                total = self.quote(rows, day)["total"]
                assert closed_on is None and 0 < p.amount <= total, ("reference: above the payoff", p, total)
                if p.amount == total:
                    closed_on = day
                    lines[p.ref] = []
                    for x in rows:
                        x.paid_pen, x.paid_int, x.paid_pri = x.penal, x.interest, x.principal
                    continue
                left, out = p.amount, []
                for x in rows:
                    if not left:
                        break
                    if not x.owed():
                        continue
                    a = min(left, x.penal - x.paid_pen)
                    b = min(left - a, x.interest - x.paid_int)
                    c = min(left - a - b, x.principal - x.paid_pri)
                    x.paid_pen += a
                    x.paid_int += b
                    x.paid_pri += c
                    left -= a + b + c
                    out.append({"no": x.no, "penal": money(a), "interest": money(b), "principal": money(c)})
                lines[p.ref] = out
            oldest = next((x for x in rows if x.owed()), None)
            dpd = (day - oldest.due).days if closed_on is None and oldest and oldest.due < day else 0
            npa = dpd > 0 and (npa or dpd > 90)
            if day == on:
                break
            if closed_on is None and self.terms.penal:
                kind, pct = self.terms.penal
                for x in rows:  # the close of `day`: a day's penal charge on every instalment overdue on it
                    if x.due < day and x.owed():
                        base = x.owed_pi() if kind == "simple" else x.owed()
                        x.penal += rnd(Fraction(base, 100) * frac(pct) / 100)
            day += timedelta(days=1)
        payoff = dict.fromkeys(self.quote(rows, on), 0) if closed_on else self.quote(rows, on)
        oldest = next((x for x in rows if x.owed()), None)
        status = ("completed" if closed_on else "overdue" if dpd else
                  "partially_paid" if oldest is not None and oldest.paid() else "active")  # fmt: skip
        return State(rows, dpd, "NPA" if npa else klass_of(dpd), closed_on, payoff, lines, status)


# --- the product, through HTTP ---------------------------------------------------------------------------------


@dataclass
class Drive:
    """What the pytest platform needs doing by hand that a live server's workers do: run a job, drain the queues."""

    execute: Callable[[str], None] | None = None
    tick: Callable[[], None] | None = None


@dataclass
class Case:
    id: str
    number: str
    ref: Ref
    status: str = "active"  # the read model's: set by the last payment, reversal or close of business
    said: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)  # GET /loans/{id} with its instant


class Walk:
    def __init__(self, http: httpx.Client, h: Headers, drive: Drive) -> None:
        self.http, self.h, self.drive = http, h, drive
        self.cases: list[Case] = []
        self.today = date(2000, 1, 1)
        self.sunday_off, self.holidays = False, set[date]()
        self.compared = 0
        self.events = 0
        self.seen: dict[str, int] = {}

    def saw(self, what: str) -> None:
        self.seen[what] = self.seen.get(what, 0) + 1

    def get(self, path: str, **params: Any) -> Any:
        return ok(self.http.get(f"{API}{path}", params=params or None, headers=self.h))

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        return ok(self.http.post(f"{API}{path}", json=body, headers=self.h), status)

    # -- origination (a product per loan, e-sign at the simulator, one payout file)
    def originate(self, disbursed: date, sunday_off: bool, holidays: set[date], terms: list[Terms]) -> None:
        self.sunday_off, self.holidays, self.today = sunday_off, holidays, disbursed
        ok(self.http.patch(f"{API}/brand/config", json={"business_date": disbursed.isoformat(), "sunday_off": sunday_off,
           "repayment_holidays": sorted(d.isoformat() for d in holidays)}, headers=self.h))  # fmt: skip
        for t in terms:
            code = "LE" + uuid.uuid4().hex[:8].upper()
            body: dict[str, Any] = {"code": code, "name": f"Edge {code}", "type": t.kind, "min_amount": "1000",
                                    "max_amount": "9000000", "min_tenure": 1, "max_tenure": 600 if t.kind == "emi" else 365,
                                    "gst_percent": t.gst, "max_active_loans": 20, "bre_rules": [],
                                    "processing_fee": {"kind": t.fee[0], "value": t.fee[1], "gst_inclusive": t.fee[2]},
                                    "annual_percent" if t.kind == "emi" else "daily_percent": t.rate}  # fmt: skip
            if t.convenience:
                c = t.convenience
                body["convenience_fee"] = {"kind": c[0], "value": c[1], "gst_inclusive": c[2]}
            if t.penal:
                body["penal"] = {"kind": t.penal[0], "daily_percent": t.penal[1]}
            product = self.post("/loan-products", body, 201)["id"]
            rows = rows_of(t, disbursed, sunday_off, holidays)
            quote = self.get(f"/loan-products/{product}/quote", amount=money(t.principal), tenure=t.tenure,
                             disbursed_on=disbursed.isoformat())  # fmt: skip
            want = fees(t)
            got = (quote["first_due_date"], to_paise(quote["first_instalment"]), to_paise(quote["total_interest"]),
                   to_paise(quote["net_disbursed"]), to_paise(quote["processing_fee"]["gst"]))  # fmt: skip
            assert got == (rows[0].due.isoformat(), rows[0].principal + rows[0].interest, sum(r.interest for r in rows),
                           want["net"], want["processing_gst"]), (t, got)  # fmt: skip
            self.compared += 5
            person = {"name": "Meena Iyer", "phone": f"9{uuid.uuid4().int % 10**7:07d}15", "date_of_birth": "1990-02-28",
                      "addresses": [{"line1": "3 Lake Road", "city": "Kochi", "pincode": "682001"}]}  # fmt: skip
            customer = self.post("/customers", person, 201)["id"]
            self.post(f"/customers/{customer}/bank-accounts", {"account_number": bank_account_number(),
                      "ifsc": "SBIN0001234", "holder_name": "Meena Iyer"}, 201)  # fmt: skip
            made = self.post("/loans", {"customer_id": customer, "product_id": product, "amount": money(t.principal),
                                        "tenure": t.tenure}, 201)  # fmt: skip
            url = f"/loans/{made['id']}"
            self.post(f"{url}/submit")
            self.post(f"{url}/cx-approve", {"approved_amount": money(t.principal), "remarks": "income verified"})
            sanctioned = self.post(
                f"{url}/sanction", {"sanctioned_amount": money(t.principal), "remarks": "within policy"}
            )
            amounts = {
                k: to_paise(sanctioned["amounts"][k]) for k in ("processing_fee", "convenience_fee", "net_disbursed")
            }
            assert amounts == {"processing_fee": want["processing"], "convenience_fee": want["convenience"],
                               "net_disbursed": want["net"]}, (t, amounts, want)  # fmt: skip
            self.compared += 3
            self.cases.append(Case(made["id"], made["loan_number"], Ref(t, disbursed, sunday_off, set(holidays))))
        for case in self.cases:
            sent = poll(lambda c=case: self.loan(c.id), lambda v: bool(v.get("esign")))
            ok(httpx.post(sent["esign"]["link"], json={"action": "sign"}, timeout=30))
        for case in self.cases:
            queued = poll(lambda c=case: self.loan(c.id), lambda v: v["status"] == "awaiting_disbursal", QUEUED_SECONDS)
            if queued["status"] != "awaiting_disbursal":  # the whole story, not pytest's cut of a long message
                raise AssertionError(f"a signed loan not queued in {QUEUED_SECONDS:g} s: {self.not_queued(queued)}")
        payout = self.post("/payout-files", {"loan_ids": [c.id for c in self.cases]}, 201)
        assert to_paise(payout["total"]) == sum(fees(c.ref.terms)["net"] for c in self.cases), payout
        self.post(f"/payout-files/{payout['id']}/confirm")
        for case in self.cases:
            active = poll(lambda c=case: self.loan(c.id), lambda v: v["status"] == "active")
            assert (active["status"], active["disbursed_on"]) == ("active", disbursed.isoformat()), case.number
        self.check_all()

    def not_queued(self, loan: dict[str, Any]) -> dict[str, Any]:
        """Why a signed loan is not in the disbursal queue, for the failure message: its status and e-sign state, its
        borrower's bank accounts, and each attempt of the e-sign simulator's webhooks for its request."""
        esign = loan.get("esign") or {}
        base, _, request_id = str(esign.get("link", "")).rpartition("/sign/")
        attempts = []
        if base:
            records = ok(httpx.get(f"{base}/_sim/outbox", params={"kind": "webhook"}, timeout=30))["records"]
            attempts = [
                {k: r["payload"].get(k) for k in ("type", "attempt", "status", "error")} | {"at": r["at"]}
                for r in records
                if ((r["payload"].get("body") or {}).get("data") or {}).get("request_id") == request_id
            ]
        accounts = self.get(f"/customers/{loan['customer_id']}/bank-accounts")["items"]
        return {"status": loan["status"], "esign": esign, "webhook_attempts": attempts,
                "accounts": [(a["status"], a.get("checked_at")) for a in accounts]}  # fmt: skip

    def loan(self, loan_id: str) -> dict[str, Any]:
        if self.drive.tick is not None:
            self.drive.tick()
        return dict(self.get(f"/loans/{loan_id}"))

    # -- the clock
    def cob(self, through: date, rerun: bool = False) -> None:
        """Close business dates through `through` with the COB job (the business date moves to the next day)."""
        if self.today != through:
            ok(self.http.patch(f"{API}/brand/config", json={"business_date": through.isoformat()}, headers=self.h))
        runs = 2 if rerun else 1
        before: list[Any] = []
        for n in range(runs):
            run = self.post("/jobs/loan-cob/runs", {"as_of": through.isoformat()}, 202)
            if self.drive.execute is not None:
                self.drive.execute(str(run["run_id"]))
            done = poll(lambda r=run: self.get(f"/jobs/runs/{r['run_id']}"), lambda r: r["status"] in ("succeeded", "failed"), 120)  # fmt: skip
            assert done["status"] == "succeeded", done
            moved = poll(lambda: self.get("/brand/config")["business_date"], lambda d: d == (through + timedelta(days=1)).isoformat())  # fmt: skip
            assert moved == (through + timedelta(days=1)).isoformat(), moved
            now = [self.get(f"/loans/{c.id}") for c in self.cases]
            if n:
                assert now == before, "a second COB run for one date changed a loan"
                self.saw("cob_rerun")
            before = now
        self.today = through + timedelta(days=1)
        self.events += 1
        for c in self.cases:
            if c.status in ("active", "partially_paid") and c.ref.state(through).dpd > 0:
                c.status = "overdue"
        self.check_all()

    def until(self, day: date) -> None:
        """The COB job through the day before `day`: `day` is the business date after."""
        self.cob(day - timedelta(days=1))

    # -- payments
    def pay(self, c: Case, amount: int, on: date | None = None, ref: str | None = None) -> dict[str, Any]:
        on = on or self.today
        ref = ref or f"UTR{uuid.uuid4().hex[:10]}"
        body = {"amount": money(amount), "mode": "neft", "reference": ref, "paid_on": on.isoformat()}
        answer = self.post(f"/loans/{c.id}/repayments", body, 201)
        c.ref.payments.append(Paid(ref, on, amount, recorded=answer["allocation"]))
        self.after_payment(c, answer, ref, amount)
        return dict(answer)

    def after_payment(self, c: Case, answer: dict[str, Any], ref: str, amount: int) -> None:
        s = c.ref.state(self.today)
        where = (c.number, self.today.isoformat(), ref, money(amount))
        if s.lines.get(ref) == [] and s.closed_on is not None:
            assert answer["closes_loan"] is True, (where, answer)
            total = sum(
                to_paise(a["penal"]) + to_paise(a["interest"]) + to_paise(a["principal"]) for a in answer["allocation"]
            )
            assert total == amount, (where, answer["allocation"])
            self.saw("closed")
        else:
            assert answer["closes_loan"] is False, (where, answer)
            assert answer["allocation"] == s.lines[ref], (where, answer["allocation"], s.lines[ref])
            if any(to_paise(x["penal"]) for x in s.lines[ref]):
                self.saw("payment_to_penal")
        assert to_paise(answer["payoff_after"]) == s.payoff["total"], (where, answer["payoff_after"], s.payoff)
        c.status = s.status
        assert answer["status"] == c.status, (where, answer["status"], c.status)
        self.compared += 4
        self.events += 1
        self.check(c)

    def reverse(self, c: Case, answer: dict[str, Any]) -> None:
        paid = next(p for p in c.ref.payments if p.ref == answer["reference"])
        rid = answer["id"]
        out = self.post(f"/loans/{c.id}/repayments/{rid}/reverse", {"reason": "cheque bounced at the drawee bank"})
        paid.reversed = True
        s = c.ref.state(self.today)
        c.status = s.status
        assert out["reversed_on"] is not None and out["status"] == c.status, (c.number, out, c.status)
        # a second reversal of the same payment: refused, nothing changes
        before = self.get(f"/loans/{c.id}")
        again = self.http.post(f"{API}/loans/{c.id}/repayments/{rid}/reverse", json={"reason": "again, by mistake"}, headers=self.h)  # fmt: skip
        assert again.status_code == 409, (again.status_code, again.text[:300])
        assert self.get(f"/loans/{c.id}") == before
        self.compared += 3
        self.events += 1
        self.check(c)

    def refused(self, c: Case, amount: int, ref: str | None = None, status: int = 422) -> None:
        before = self.get(f"/loans/{c.id}")
        body = {"amount": money(amount), "mode": "upi", "reference": ref or f"UTR{uuid.uuid4().hex[:10]}",
                "paid_on": self.today.isoformat()}  # fmt: skip
        answer = self.http.post(f"{API}/loans/{c.id}/repayments", json=body, headers=self.h)
        assert answer.status_code == status, (c.number, money(amount), answer.status_code, answer.text[:300])
        after = self.get(f"/loans/{c.id}")
        assert (after["schedule"], after["outstanding"], after["status"]) == (before["schedule"], before["outstanding"], before["status"])  # fmt: skip
        self.compared += 2

    # -- the figures
    def check_all(self) -> None:
        for c in self.cases:
            self.check(c)

    def check(self, c: Case) -> None:
        s = c.ref.state(self.today)
        shown = self.get(f"/loans/{c.id}")
        at = datetime.now(UTC)
        where = (c.number, self.today.isoformat())
        assert shown["status"] == c.status, (where, shown["status"], c.status)
        assert len(shown["schedule"]) == len(s.rows), where
        for x, y in zip(s.rows, shown["schedule"], strict=True):
            status = (
                "paid" if not x.owed() else "overdue" if x.due < self.today else "partially_paid" if x.paid() else "due"
            )
            want = {"no": x.no, "due_date": x.due.isoformat(), "principal": money(x.principal), "unpaid": money(x.owed()),
                    "status": status}  # fmt: skip
            if s.closed_on is None:
                want |= {"interest": money(x.interest), "amount": money(x.principal + x.interest),
                         "penal": money(x.penal), "paid": money(x.paid())}  # fmt: skip
            got = {k: y[k] for k in want}
            assert got == want, (where, got, want)
            self.compared += len(want)
        q = s.payoff
        out = {"principal": q["overdue_principal"] + q["principal_not_due"], "penal": q["overdue_penal"], "fees": 0,
               "interest": q["overdue_interest"] + q["accrued_interest"] - q["interest_paid_ahead"], "total": q["total"]}  # fmt: skip
        assert {k: to_paise(v) for k, v in shown["outstanding"].items()} == out, (where, shown["outstanding"], out)
        assert (shown["dpd"], shown["asset_class"]) == (s.dpd, s.klass), (where, shown["dpd"], shown["asset_class"], s.dpd, s.klass)  # fmt: skip
        coming = [x for x in s.rows if x.owed() and x.due >= self.today]
        nxt = None if s.closed_on or not coming else {"no": coming[0].no, "due_date": coming[0].due.isoformat(), "amount": money(coming[0].owed())}  # fmt: skip
        assert shown["next_due"] == nxt, (where, shown["next_due"], nxt)
        payoff = self.get(f"/loans/{c.id}/payoff")
        assert {k: to_paise(payoff[k]) for k in q} == q, (where, payoff, q)
        self.compared += 5 + len(out) + len(q)
        c.said.append((at, shown))
        # the repayments list: each payment's allocation as recorded (its receipt's, docs/loans.md), its reversal
        listed = self.get(f"/loans/{c.id}/repayments")["items"]
        assert [r["reference"] for r in listed] == [p.ref for p in c.ref.payments], where
        for r, p in zip(listed, c.ref.payments, strict=True):
            assert (r["reversed_on"] is not None, r["allocation"]) == (p.reversed, p.recorded), (where, r, p)
            self.compared += 2
        # the ledger: each payment's postings as the replay re-allocates it now (a reversal, a back-dated payment),
        # reversals posting back what their payment paid, the running principal and penal left unpaid
        items = self.get(f"/loans/{c.id}/ledger")["items"]
        ids = {r["id"]: r["reference"] for r in listed}
        for item in items:
            if item["kind"] not in ("payment", "reversal"):
                continue
            p = next(p for p in c.ref.payments if p.ref == ids[item["payment_id"]])
            assert to_paise(item["amount"]) == p.amount, (where, item)
            parts = [to_paise(item[b]) for b in ("penal", "interest", "principal")]
            sign = -1 if item["kind"] == "payment" else 1
            if p.reversed:  # its posting and its reversal cancel
                continue
            assert item["kind"] == "payment" and sign * sum(parts) == p.amount, (where, item)
            if s.lines[p.ref]:
                want = [sum(to_paise(x[b]) for x in s.lines[p.ref]) for b in ("penal", "interest", "principal")]
                assert [sign * v for v in parts] == want, (where, p.ref, item, want)
            self.compared += 2
        pairs = [i for i in items if i["kind"] in ("payment", "reversal")]
        for rid in {i["payment_id"] for i in pairs}:
            mine = [i for i in pairs if i["payment_id"] == rid]
            if len(mine) == 2:
                assert all(to_paise(mine[0][b]) == -to_paise(mine[1][b]) for b in ("penal", "interest", "principal")), (where, mine)  # fmt: skip
        last = items[-1]["running"]
        unpaid = (sum(x.principal - x.paid_pri for x in s.rows), sum(x.penal - x.paid_pen for x in s.rows))
        assert (to_paise(last["principal"]), to_paise(last["penal"])) == unpaid, (where, last, unpaid)
        if s.closed_on:
            assert to_paise(last["total"]) == 0, (where, last)
        self.compared += 4

    def payoff_on(self, c: Case, day: date) -> None:
        want = c.ref.state(day).payoff
        got = self.get(f"/loans/{c.id}/payoff", as_of=day.isoformat())
        assert {k: to_paise(got[k]) for k in want} == want, (c.number, day, got, want)
        self.compared += len(want)

    def replay(self) -> None:
        """The auditor's state of each loan as of every instant an answer was given, and of instants between two
        answers: what GET /loans/{id} said then."""
        keys = ("status", "schedule", "outstanding", "dpd", "asset_class", "next_due")
        for c in self.cases:
            for n, (at, said) in enumerate(c.said):
                instants = [at]
                if n + 1 < len(c.said):
                    later = c.said[n + 1][0]
                    if said == c.said[n + 1][1]:  # nothing changed between: any instant between says the same
                        instants.append(at + (later - at) / 2)
                for instant in instants:
                    state = self.get(f"/audit/loan/{c.id}/state", as_of=instant.isoformat())
                    figures = state.get("state", state)
                    got = {k: figures[k] for k in keys}
                    want = {k: said[k] for k in keys}
                    assert got == want, (c.number, instant.isoformat(), {k: (got[k], want[k]) for k in keys if got[k] != want[k]})  # fmt: skip
                    self.compared += len(keys)
            self.saw("replayed")


# --- the scripts -----------------------------------------------------------------------------------------------


def first_overdue(c: Case, today: date) -> Row:
    return next(x for x in c.ref.state(today).rows if x.owed())


def leap_day_group(w: Walk, rng: random.Random) -> None:
    """29 Feb 2024 (Thursday), Sundays off, a holiday on a due date: EMI 24 % compound penal, 0 % over 7 months,
    one instalment, a payday loan of one day and of 30 days."""
    holidays = {date(2024, 4, 29), date(2024, 6, 29)}  # a Monday due date; a Saturday before a Sunday: to 1 Jul
    terms = [
        Terms("emi", "24", 12, 150000_00, ("compound", "0.5"), ("percent", "2.5", True), ("fixed", "199", False)),
        Terms("emi", "0", 7, 10000_01, ("simple", "1"), ("fixed", "0", False), None),
        Terms("emi", "36", 1, 50000_00, ("simple", "0.25"), ("percent", "1", False), None, "12"),
        Terms("payday", "1", 1, 7000_00, ("simple", "0.1"), ("percent", "3.33", True), None),
        Terms(
            "payday", "0.5", 30, 20000_00, ("compound", "2.5"), ("fixed", "499.99", False), ("percent", "1", True), "28"
        ),
    ] + [random_terms(rng) for _ in range(EXTRA)]
    w.originate(date(2024, 2, 29), True, holidays, terms)
    emi, zero, single, payday1, payday30 = w.cases[:5]
    for c in w.cases:
        w.payoff_on(c, date(2024, 2, 29))
        w.payoff_on(c, date(2024, 3, 30))
    w.pay(payday1, 1)  # on the disbursal day: a paisa; the payday payoff accrues one day at least
    w.until(date(2024, 3, 1))  # payday1 due today
    w.pay(payday1, w_payoff(payday1, w.today) - 1)
    w.refused(payday1, 2)  # a paisa above the payoff
    w.pay(payday1, 1)  # the paisa that closes
    w.until(date(2024, 3, 29))  # first EMI due (Friday)
    w.pay(zero, first_overdue(zero, w.today).owed())  # exactly the instalment, on the due date
    w.pay(single, 1234_56)  # part of the single instalment
    w.until(date(2024, 4, 3))  # EMI and payday30 overdue (payday30 due 30 Mar, a Saturday)
    part = w.pay(emi, 300_00)  # pays penal charges first, then interest
    payday_part = w.pay(payday30, 500_00)
    w.refused(emi, 300_00, ref=part["reference"], status=409)  # the same reference again
    w.until(date(2024, 4, 9))
    w.reverse(emi, part)  # the part payment that had paid penal charges: re-opened, penal recomputed from 3 Apr
    w.reverse(payday30, payday_part)
    w.pay(single, w_payoff(single, w.today))  # the rest of the single instalment with its penal charges
    w.until(date(2024, 4, 30))  # 29 Apr a holiday (Monday): the second EMI due 30 Apr
    w.payoff_on(emi, date(2024, 4, 29))
    w.until(date(2024, 5, 2))  # 31 DPD on the first EMI: SMA-1 today
    assert w.get(f"/loans/{emi.id}")["asset_class"] == "SMA-1"
    w.pay(emi, first_overdue(emi, w.today).owed())  # on the day of the change: the oldest paid, DPD from the second
    w.pay(payday30, first_overdue(payday30, w.today).owed())  # closes it (nothing else owed): or a part payment
    w.until(date(2024, 7, 2))  # 29 Jun a Saturday holiday -> 30 Jun Sunday -> 1 Jul
    w.until(date(2024, 8, 1))
    c = emi
    state = c.ref.state(w.today)
    if state.dpd > 90:
        w.pay(c, first_overdue(c, w.today).owed())
        assert w.get(f"/loans/{c.id}")["asset_class"] == "NPA" or c.ref.state(w.today).dpd == 0
    total = w_payoff(c, w.today)
    w.pay(c, total - 1)
    closing = w.pay(c, 1)
    w.reverse(c, closing)  # the closing paisa reversed: open again
    w.pay(c, w_payoff(c, w.today))
    for c in w.cases:
        if c.ref.state(w.today).closed_on is None:
            w.pay(c, w_payoff(c, w.today))


def w_payoff(c: Case, day: date) -> int:
    return c.ref.state(day).payoff["total"]


def month_end_group(w: Walk, rng: random.Random, gateway: Any | None) -> None:
    """31 Jan 2025 (Friday), Sundays off, holidays chained after month ends: 999 % a year, 120 months, payday 45 days;
    a class change SMA-2 -> NPA with a payment on that day; a payment link paid twice over by its webhook."""
    holidays = {date(2025, 3, 1), date(2025, 3, 3), date(2025, 3, 17)}  # 28 Feb Fri ... not moved; 31 Mar Mon
    terms = [
        Terms("emi", "999.9999", 6, 80000_00, ("simple", "0.0333"), ("percent", "4.125", False), None),
        Terms(
            "emi", "13.5", 120, 2500000_37, ("compound", "0.1"), ("fixed", "1234.56", True), ("fixed", "49.5", False)
        ),
        Terms("payday", "0.0125", 45, 9999_99, None, ("percent", "0", False), None),
    ] + [random_terms(rng) for _ in range(EXTRA)]
    w.originate(date(2025, 1, 31), True, holidays, terms)
    high, long, payday = w.cases[:3]
    w.payoff_on(long, date(2025, 2, 15))
    w.pay(long, 30000_00, on=date(2025, 1, 31))  # an advance payment on the disbursal day
    w.until(date(2025, 2, 28))  # all EMIs due today (Friday)
    w.pay(high, first_overdue(high, w.today).owed() - 1)  # a paisa short of the instalment on its due date
    w.until(date(2025, 3, 18))  # payday due 17 Mar (holiday) -> 18 Mar
    if gateway is not None:
        link = w.post(f"/loans/{payday.id}/payment-links", {"amount": "5000.00"}, 201)
        delivery = gateway.pay(link["order_id"]).result(timeout=10)
        assert delivery.delivered
        for replay in (False, True):
            assert gateway.redeliver(delivery, replay=replay).attempts[-1].status == 200
        paid = [r for r in w.get(f"/loans/{payday.id}/repayments")["items"] if r["reference"] == link["order_id"]]
        assert len(paid) == 1, paid
        payday.ref.payments.append(
            Paid(link["order_id"], date.fromisoformat(paid[0]["paid_on"]), 5000_00, recorded=paid[0]["allocation"])
        )
        # Recorded by the gateway's webhook, not by this client: the loan's read model is not awaited for us (the
        # repayments list can show the payment a moment before the loan's status does).
        want = payday.ref.state(w.today).status
        poll(lambda: w.get(f"/loans/{payday.id}")["status"], lambda status: status == want, 30)
        w.after_payment(payday, paid[0] | {"status": paid[0]["status"]}, link["order_id"], 5000_00)
        w.saw("webhook_repeats")
        w.reverse(payday, paid[0])  # a chargeback; the gateway then delivers the captured payment once more
        assert gateway.redeliver(delivery).attempts[-1].status == 200
        w.check(payday)  # still reversed, not recorded again
        w.saw("webhook_after_chargeback")
    w.until(date(2025, 5, 30))  # high: 28 Feb + 91 = 30 May -> NPA today
    assert w.get(f"/loans/{high.id}")["asset_class"] == "NPA", w.get(f"/loans/{high.id}")["dpd"]
    # the oldest paid on the day the DPD reached 91, before its close of business: the day's class is settled at
    # its close (docs/lending.md decision 1), so the loan never closed a day as NPA - SMA-1 by the DPD left
    w.pay(high, first_overdue(high, w.today).owed())
    assert w.get(f"/loans/{high.id}")["asset_class"] == "SMA-1"
    w.saw("npa_day_payment")
    w.until(date(2025, 7, 2))  # the second EMI (31 Mar) 93 days past due: NPA at the closes of 30 Jun - 1 Jul
    for c in (high, long, payday):
        w.payoff_on(c, date(2025, 7, 20))
    w.pay(high, first_overdue(high, w.today).owed())  # the oldest paid: the DPD drops, the class stays NPA
    assert w.get(f"/loans/{high.id}")["asset_class"] == "NPA"
    w.saw("npa_held")
    overdue = sum(x.owed() for x in high.ref.state(w.today).rows if x.due < w.today)
    cured = w.pay(high, overdue)  # every overdue amount: standard again
    assert w.get(f"/loans/{high.id}")["asset_class"] == "standard"
    w.reverse(high, cured)  # bounced: NPA again, as the replay from 2 Jun has it
    assert w.get(f"/loans/{high.id}")["asset_class"] == "NPA"
    w.pay(high, overdue)
    w.pay(long, w_payoff(long, w.today))
    w.refused(payday, w_payoff(payday, w.today) + 1)
    for bad in (
        {"amount": "0.00"},
        {"amount": "-5.00"},
        {"amount": "1.005"},
        {"paid_on": (w.today + timedelta(days=1)).isoformat()},
        {"paid_on": "2025-01-30"},
    ):
        body = {"amount": "10.00", "mode": "neft", "reference": f"UTR{uuid.uuid4().hex[:10]}",
                "paid_on": w.today.isoformat()} | bad  # fmt: skip
        answer = w.http.post(f"{API}/loans/{payday.id}/repayments", json=body, headers=w.h)
        assert answer.status_code == 422, (bad, answer.status_code, answer.text[:300])
    w.check(payday)
    w.pay(payday, w_payoff(payday, w.today))


def november_group(w: Walk, rng: random.Random, gateway: Any | None) -> None:
    """30 Nov 2025 (Sunday), Sundays worked, a holiday on 30 Dec: EMI due 30 Dec -> 31 Dec, 28 Feb in a common year;
    a reversal of a back-dated payment; payday of 1 day on a Sunday disbursal."""
    holidays = {date(2025, 12, 30), date(2026, 3, 30)}
    terms = [
        Terms("emi", "18", 4, 40000_00, ("simple", "1"), ("percent", "2", False), ("percent", "0.5", True)),
        Terms("payday", "1", 7, 15000_00, ("compound", "1"), ("fixed", "99", True), None),
    ] + [random_terms(rng) for _ in range(EXTRA)]
    w.originate(date(2025, 11, 30), False, holidays, terms)
    emi, payday = w.cases[:2]
    if gateway is not None:  # a link for more than the payoff once paid: the gateway's payment is not applied
        link = w.post(f"/loans/{payday.id}/payment-links", {"amount": "15000.00"}, 201)
    w.until(date(2026, 1, 5))
    w.pay(emi, 2000_00, on=date(2026, 1, 4))
    back = w.pay(emi, 5000_00, on=date(2026, 1, 2))  # back-dated before the payment of 4 Jan: that one re-allocated
    w.pay(payday, w_payoff(payday, w.today) - 100_00)  # 100.00 left: below the link's 15000.00
    if gateway is not None:
        before = w.get(f"/loans/{payday.id}")
        delivery = gateway.pay(link["order_id"]).result(timeout=10)
        assert delivery.delivered
        assert w.get(f"/loans/{payday.id}") == before
        assert [r for r in w.get(f"/loans/{payday.id}/repayments")["items"] if r["reference"] == link["order_id"]] == []
        w.saw("link_above_payoff_ignored")
    w.until(date(2026, 3, 2))  # 28 Feb 2026 due (Saturday, Sundays worked)
    w.reverse(emi, back)  # back-dated and reversed two months later: penal charges recomputed since 2 Jan
    w.pay(emi, sum(x.owed() for x in emi.ref.state(w.today).rows if x.due < w.today))
    w.cob(w.today, rerun=True)
    if gateway is not None:  # UPI Autopay: the debit on the last due date (30 Mar a holiday: 31 Mar)
        made = w.post(f"/loans/{emi.id}/mandates", {"vpa": "meena@okbank", "max_amount": "20000.00"}, 201)
        httpx.get(made["approval_url"], params={"outcome": "approve"}, timeout=30)
        active = poll(lambda: w.get(f"/loans/{emi.id}/mandates")["items"], lambda m: m[0]["state"] == "active")
        assert active[0]["state"] == "active", active
        w.until(date(2026, 3, 31))
        before = emi.ref.state(w.today)
        want = min(sum(x.owed() for x in before.rows if x.due <= w.today), before.payoff["total"], 20000_00)
        run = w.post("/jobs/mandate-debits/runs", {"as_of": w.today.isoformat()}, 202)
        if w.drive.execute is not None:
            w.drive.execute(str(run["run_id"]))
        debits = poll(lambda: w.get(f"/loans/{emi.id}/mandates")["items"][0]["debits"], lambda d: bool(d) and d[0]["state"] == "paid")  # fmt: skip
        assert [(d["state"], to_paise(d["amount"])) for d in debits] == [("paid", want)], (debits, money(want))
        paid = next(r for r in w.get(f"/loans/{emi.id}/repayments")["items"] if r["id"] == debits[0]["repayment_id"])
        emi.ref.payments.append(
            Paid(paid["reference"], date.fromisoformat(paid["paid_on"]), want, recorded=paid["allocation"])
        )
        w.after_payment(emi, paid, paid["reference"], want)
        w.saw("mandate_debit")
    for c in w.cases:
        if c.ref.state(w.today).closed_on is None:
            w.pay(c, w_payoff(c, w.today))


def random_terms(rng: random.Random) -> Terms:
    if rng.random() < 0.3:
        return Terms("payday", rng.choice(["0", "0.2", "1", "2.5"]), rng.choice([1, 6, 14, 29, 31, 60]),
                     rng.randint(2000_00, 90000_99), rng.choice([None, ("simple", "0.5"), ("compound", "0.25")]),
                     ("percent", rng.choice(["1", "2.5"]), rng.random() < 0.5), None)  # fmt: skip
    return Terms("emi", rng.choice(["0", "9.99", "29", "59.5", "180"]), rng.choice([1, 2, 5, 13, 36, 60]),
                 rng.randint(20000_00, 900000_99), rng.choice([("simple", "0.1"), ("compound", "0.5"), None]),
                 ("fixed", rng.choice(["0", "350", "999.99"]), rng.random() < 0.5),
                 ("fixed", "59", rng.random() < 0.5) if rng.random() < 0.5 else None)  # fmt: skip


def run_all(http: httpx.Client, brands: Callable[[], Headers], drive: Drive, gateway: Any | None) -> list[Walk]:
    rng = random.Random(SEED)
    walks = []
    for group in (
        leap_day_group,
        lambda w, r: month_end_group(w, r, gateway),
        lambda w, r: november_group(w, r, gateway),
    ):
        w = Walk(http, brands(), drive)
        started = time.monotonic()
        group(w, rng)
        walked = time.monotonic()
        w.replay()
        print("group:", len(w.cases), "loans", round(walked - started, 1), "s; replay", round(time.monotonic() - walked, 1), "s")  # fmt: skip
        walks.append(w)
    return walks


def test_lending_edges_follow_lending_md_through_the_api(
    server: str, platform: Any, provider_simulators: dict[str, Any], monkeypatch: Any
) -> None:
    from api.services.disbursals import WEBHOOK_SECRET_ENV
    from domain.loans.application import Loans
    from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
    from tests.support import settle
    from workers.agreement_jobs import AgreementJobPort, AgreementWorker
    from workers.runtime import scheduler_for

    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    worker = AgreementWorker(platform.port(AgreementJobPort))

    def tick() -> None:
        worker.drain(check_queue=True)
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())

    drive = Drive(execute=scheduler_for(platform).execute, tick=tick)
    with httpx.Client(base_url=server, timeout=60) as http:
        walks = run_all(http, lambda: make_tenant(platform).auth, drive, provider_simulators["gateway"])
    seen: dict[str, int] = {}
    for w in walks:
        for k, v in w.seen.items():
            seen[k] = seen.get(k, 0) + v
    wanted = (
        "payment_to_penal",
        "closed",
        "cob_rerun",
        "webhook_repeats",
        "npa_day_payment",
        "npa_held",
        "webhook_after_chargeback",
        "link_above_payoff_ignored",
        "mandate_debit",
        "replayed",
    )
    assert all(seen.get(k) for k in wanted), seen
    compared = sum(w.compared for w in walks)
    print(
        "edges: loans", sum(len(w.cases) for w in walks), "events", sum(w.events for w in walks), "compared", compared
    )
    assert compared > 2000, compared


if __name__ == "__main__":  # against a running server on a scratch database: base URL, an admin key
    base_url, key = sys.argv[1], sys.argv[2]
    with httpx.Client(base_url=base_url, timeout=60) as live:
        done = run_all(live, lambda: {"Authorization": f"Bearer {key}"}, Drive(), None)
        print("loans", sum(len(w.cases) for w in done), "events", sum(w.events for w in done),
              "figures compared", sum(w.compared for w in done), {k: v for w in done for k, v in w.seen.items()})  # fmt: skip
