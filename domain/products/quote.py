"""A pricing preview of a product version: fees, GST, net disbursed and the instalments of a loan of an amount and
tenure (LENDING.md, "Fees, taxes, payout" and "Schedules"), computed with the loans context's own arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from domain.loans.due_dates import RepaymentCalendar
from domain.loans.money import parse_money
from domain.loans.offer import ProductVersion
from domain.loans.pricing import Pricing, price
from domain.loans.schedule import build_schedule
from domain.loans.terms import Discount, LoanKind, LoanTerms
from domain.products.terms import tenure_unit
from domain.shared.errors import FieldChecks, FieldError


@dataclass(frozen=True)
class Quote:
    """What a loan of `amount` over `tenure` on one product version costs, if disbursed on `disbursed_on`."""

    product_id: UUID
    version: int
    kind: LoanKind
    amount: Decimal
    tenure: int
    tenure_unit: str
    rate_percent: Decimal
    coupon_code: str | None
    pricing: Pricing
    disbursed_on: date
    instalments: int
    emi: Decimal | None
    first_due_date: date
    first_instalment: Decimal
    total_interest: Decimal
    total_repayable: Decimal


def quote(
    version: ProductVersion,
    amount: object,
    tenure: int,
    *,
    disbursed_on: date,
    coupon: Discount | None = None,
    coupon_code: str | None = None,
    calendar: RepaymentCalendar | None = None,
) -> Quote:
    """The preview; InvalidInput naming `amount` or `tenure` when they are outside the product's ranges."""
    checks = FieldChecks()
    sanctioned = checks.check(lambda: parse_money(amount, "amount", positive=True))
    if sanctioned is not None and not version.min_amount <= sanctioned <= version.max_amount:
        checks.errors.append(
            FieldError("amount", f"must be between {version.min_amount} and {version.max_amount} for {version.code}")
        )
    if not version.min_tenure <= tenure <= version.max_tenure:
        unit = tenure_unit(version.kind)
        checks.errors.append(
            FieldError("tenure", f"must be between {version.min_tenure} and {version.max_tenure} {unit}")
        )
    checks.raise_if_any()
    assert sanctioned is not None
    pricing = price(
        sanctioned,
        processing_fee=version.processing_fee,
        convenience_fee=version.convenience_fee,
        gst_percent=version.gst_percent,
        coupon=coupon,
    )
    terms = LoanTerms(
        kind=version.kind,
        principal=sanctioned,
        tenure=tenure,
        annual_percent=version.annual_percent if version.kind is LoanKind.EMI else None,
        daily_percent=version.daily_percent if version.kind is LoanKind.PAYDAY else None,
    )
    schedule = build_schedule(terms, disbursed_on, calendar or RepaymentCalendar())
    first = schedule.instalments[0]
    return Quote(
        product_id=version.id,
        version=version.version,
        kind=version.kind,
        amount=sanctioned,
        tenure=tenure,
        tenure_unit=tenure_unit(version.kind),
        rate_percent=terms.rate,
        coupon_code=coupon_code,
        pricing=pricing,
        disbursed_on=disbursed_on,
        instalments=len(schedule.instalments),
        emi=schedule.emi,
        first_due_date=first.due_date,
        first_instalment=first.amount,
        total_interest=schedule.total_interest,
        total_repayable=sanctioned + schedule.total_interest,
    )
