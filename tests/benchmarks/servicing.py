"""Loan servicing (issue #15 item 9): a repayment applied and its read model updated (p95).

Loans are disbursed through the Loans application (every #14 command, as in the e2e tests) with a faked product
catalogue (EMI, 24 %, penal 0.1 % a day), then repaid. The close of business over a book of 1,000,000 loans is
`tests/benchmarks/cob.py` (`--only cob`), which reuses the catalogue and the disbursal here."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

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
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say
from workers.platform import Platform

PRODUCT = uuid.UUID("00000000-0000-4000-8000-0000000c0b01")
D0 = date(2026, 1, 31)
DUE = date(2026, 2, 28)
TARGET_PAYMENT_P95_MS = 50.0


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
    """Disburse a book, pay 90 % of the first instalments, time the payments."""
    total = 500 if quick else 2_000
    payments = 200 if quick else 1_000
    say(f"== Loan servicing ({total:,} disbursed loans, repayments)")
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
        finally:
            stop(runners)
            platform.close()
    return [Verdict("servicing", "payment applied + read model p95", p95, TARGET_PAYMENT_P95_MS, False, " ms")]
