"""Loan servicing (issue #15 item 9): a repayment applied and its read model updated (p95), and the close of business
over a book of disbursed loans (10 % overdue), with the bulk-save baseline of the same run.

Loans are disbursed through the Loans application (every #14 command, as in the e2e tests) with a faked product
catalogue (EMI, 24 %, penal 0.1 % a day). The COB figure is measured on the book loaded here (quick: 2,000 loans;
full: 10,000) and projected linearly to 1,000,000 loans per worker process count used; the target line says so.
A book of 1,000,000 event-sourced loans is not loaded here: each loan takes ten commands to reach `active`."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from adapters.cob_store import CobStore
from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from domain.customers.application import Customers
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.loans.offer import CouponTerms, ProductVersion
from domain.loans.terms import AmountKind, Fee, LoanKind, PenalTerms
from projections.runner import ProjectionRunner
from tests.benchmarks.covenant_jobs_data import catch_up_projections, projections, stop
from tests.benchmarks.harness import Rate, Verdict, fresh_database, percentile, say
from workers import loan_cob
from workers.platform import Platform

PRODUCT = uuid.UUID("00000000-0000-4000-8000-0000000c0b01")
D0 = date(2026, 1, 31)
DUE = date(2026, 2, 28)
TARGET_PAYMENT_P95_MS = 50.0
TARGET_COB_SECONDS = 600.0
BOOK = 1_000_000


class _Catalogue:
    def current(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        return ProductVersion(
            id=PRODUCT, brand_id=brand_id, version=1, code="PL", name="Personal loan", kind=LoanKind.EMI,
            min_amount=Decimal("10000.00"), max_amount=Decimal("200000.00"), min_tenure=3, max_tenure=24,
            annual_percent=Decimal("24"), daily_percent=None,
            processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal("2")),
            convenience_fee=Fee(kind=AmountKind.FIXED, value=Decimal("500"), gst_inclusive=True),
            gst_percent=Decimal("18"), penal=PenalTerms(daily_percent=Decimal("0.1")), max_active_loans=10**7,
            bre_rules=(),
        )  # fmt: skip

    def version(self, brand_id: UUID, product_id: UUID, version: int) -> ProductVersion:
        return self.current(brand_id, product_id)

    def coupon(self, brand_id: UUID, product_id: UUID, code: str) -> CouponTerms | None:
        return None


def _disburse(loans: Loans, brand: UUID, customer: UUID, n: int) -> UUID:
    loan_id = loans.create(brand, customer, PRODUCT, "100000", 12).id
    loans.submit(brand, loan_id)
    loans.cx_approve(brand, loan_id, "90000", "bench")
    loans.sanction(brand, loan_id, "85000", "bench")
    now = datetime.now(UTC)
    loans.issue_agreement(brand, loan_id, "ab" * 32, "a.pdf", f"es-{n}", "https://e/1", now + timedelta(days=2))
    loans.sign(brand, loan_id, f"prov-{n}", now)
    loans.ready_for_disbursal(brand, loan_id, "acct-1")
    loans.initiate_disbursal(brand, loan_id, "IMPS", f"gw-{loan_id}")
    loans.confirm_disbursal(brand, loan_id, f"gw-{loan_id}", D0)
    return loan_id


def run(quick: bool) -> list[Verdict]:
    """Disburse a book, pay 90 % of the first instalments, time payments and the COB of the day after the due date."""
    total = 2_000 if quick else 10_000
    payments = 200 if quick else 1_000
    say(f"== Loan servicing ({total:,} disbursed loans, 10 % left overdue)")
    with fresh_database("cd_bench_servicing") as dsn:
        platform = Platform.open(dsn, mail=MailSettings(port=free_port()))
        runners: list[ProjectionRunner] = []
        try:
            loans = platform.get(Loans)
            loans._catalogue = _Catalogue()
            brand = platform.get(Identity).create_brand("bench-serv", "Bench Servicing Finance").id
            platform.get(Identity).change_configuration(brand, {"business_date": D0})
            customer = platform.get(Customers).register(
                brand, name="Meera Iyer", phone="9876500001", date_of_birth=date(1990, 1, 15),
                addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
            ).id  # fmt: skip
            began = time.perf_counter()
            ids = [_disburse(loans, brand, customer, n) for n in range(total)]
            say(f"   disbursed {total:,} loans in {time.perf_counter() - began:.1f} s")
            platform.get(Identity).change_configuration(brand, {"business_date": DUE})
            catch_up_projections(platform, projections(platform, {"loans", "identity"}))
            runners = [ProjectionRunner(platform.engine, sorted(projections(platform, {"loans"})), platform.dsn)]
            for runner in runners:
                runner.start()

            timings: list[float] = []
            for n, loan_id in enumerate(ids[: int(total * 0.9)]):
                began = time.perf_counter()
                result, _ = loans.record_repayment(brand, loan_id, "8037.57", "nach", f"NACH-{n}")
                if n < payments:  # timed: applied, then the loans read model caught up with it
                    platform.engine.wait_for(Loans.name, result.position, timeout=30)
                    timings.append((time.perf_counter() - began) * 1000)
            p95 = percentile(timings, 0.95)
            say(f"   payment applied + read model: p50 {percentile(timings, 0.5):.1f} ms, p95 {p95:.1f} ms "
                f"({len(timings)} payments)")  # fmt: skip
            stop(runners)
            runners = []
            catch_up_projections(platform, projections(platform, {"loans"}))

            baseline = _baseline(loans, brand, ids)
            store = platform.get(CobStore)
            port = loan_cob.CobPort(loans, platform.get(Identity), platform.engine, store)
            day = DUE + timedelta(days=1)
            began = time.perf_counter()
            store.plan(brand, day, datetime.now(UTC), 500)
            outcomes = list(loan_cob.drain(port, brand, day, "bench"))
            closed = sum(o.closed for o in outcomes)
            cob = Rate(sum(o.loans for o in outcomes), time.perf_counter() - began)
            overdue = sum(1 for i in ids if loans.get(brand, i).status.value == "overdue")
            say(f"   COB of {day}: {cob.per_second:,.0f} loans/s ({cob.operations:,} in {cob.seconds:.1f} s, {closed:,} "
                f"with something recorded, {overdue:,} overdue); baseline (one event saved per loan, saves of 500): {baseline.per_second:,.0f}/s")  # fmt: skip
        finally:
            stop(runners)
            platform.close()
    projected = BOOK / max(cob.per_second, 1e-9)
    return [
        Verdict("servicing", "payment applied + read model p95", p95, TARGET_PAYMENT_P95_MS, False, " ms"),
        Verdict(
            "servicing",
            f"COB of 1,000,000 loans, projected from {total:,} (one process)",
            projected,
            TARGET_COB_SECONDS,
            False,
            " s",
        ),
    ]


def _baseline(loans: Loans, brand: UUID, ids: list[UUID]) -> Rate:
    """The event store alone: load each loan and save one trivial event per loan, in saves of 500."""
    from domain.loans.loan import Loan, LoanNotFound

    began = time.perf_counter()
    done = 0
    for start in range(0, len(ids), 500):
        batch: list[Any] = loans.load_many(Loan, ids[start : start + 500], brand, LoanNotFound)
        for loan in batch:
            loan.trigger_event(Loan.DayClosed, business_date=D0 - timedelta(days=1), penal_charged=Decimal(0),
                               dpd=0, asset_class="standard")  # fmt: skip
        loans.commit(*batch)
        done += len(batch)
    return Rate(done, time.perf_counter() - began)
