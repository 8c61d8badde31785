"""Request and response models of the loan product and coupon endpoints (api/routes/products.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import InstantOut
from api.request_input import VISIBLE_OR_BLANK
from domain.loans.bre import Rule
from domain.loans.pricing import FeeCharge
from domain.loans.terms import AmountKind, LoanKind, PenalKind
from domain.products.quote import Quote
from domain.products.terms import CODE_PATTERN
from domain.shared.values import BusinessDate, Flag, Measure, PositiveMoney, WholeNumber, stated_pattern

_RATE = "a percent: a number or decimal string, 0 to 999.9999 (at most 100 for fees and GST)"


class FeeIn(BaseModel):
    """A fee taken out of the payout: a percent of the sanctioned amount or fixed rupees; GST inside or on top."""

    model_config = ConfigDict(extra="forbid")

    kind: AmountKind
    value: Measure = Field(description="percent (at most 100, 4 places) or rupees (2 places)")
    gst_inclusive: Flag = False


class PenalIn(BaseModel):
    """Penal charges a day on overdue instalments, simple or compound."""

    model_config = ConfigDict(extra="forbid")

    kind: PenalKind = PenalKind.SIMPLE
    daily_percent: Measure = Field(Decimal(0), description=_RATE)


class RuleIn(BaseModel):
    """A BRE rule and its thresholds: CREDIT_SCORE min; SALARY min?; AGE min?/max?; FOIR max (percent);
    EXISTING_LOANS max; DPD max; PINCODE none. BLOCKLIST and COOLDOWN always run and are not configured."""

    model_config = ConfigDict(extra="forbid")

    rule: Rule
    min: Measure | None = None
    max: Measure | None = None


class _Terms(BaseModel):
    """What the create and patch bodies share, as the domain's terms (`type` is the domain's `kind`)."""

    def terms(self) -> dict[str, Any]:
        """The fields given, keyed as `ProductTerms` names them."""
        values = self.model_dump(exclude_unset=True, exclude={"code"})
        if "type" in values:
            values["kind"] = values.pop("type")
        return values


#: A product or coupon code (`normalise_code`), its schema stated on the string type.
Code = Annotated[str, Field(max_length=40), stated_pattern(CODE_PATTERN, max_length=40)]


class ProductIn(_Terms):
    """A loan product: its ranges, interest, fees and GST, penal terms, loan limit and BRE rules."""

    model_config = ConfigDict(extra="forbid")

    code: Code = Field(description="2 to 32 letters, digits, '-' or '_'; unique in the brand")
    name: str = Field(max_length=200)
    type: LoanKind = Field(description="emi: tenure in months; payday: tenure in days")
    min_amount: PositiveMoney
    max_amount: PositiveMoney
    min_tenure: WholeNumber = Field(ge=-(2**31), le=2**31)
    max_tenure: WholeNumber = Field(ge=-(2**31), le=2**31)
    annual_percent: Measure | None = Field(None, description=f"emi products: {_RATE}")
    daily_percent: Measure | None = Field(None, description=f"payday products: {_RATE}")
    processing_fee: FeeIn
    convenience_fee: FeeIn | None = Field(None, description="none when left out")
    gst_percent: Measure | None = Field(None, description="18 when left out")
    penal: PenalIn | None = Field(None, description="no penal charges when left out")
    max_active_loans: WholeNumber = Field(1, ge=-(2**31), le=2**31)
    bre_rules: list[RuleIn] = Field(default_factory=list, max_length=20)

    def terms(self) -> dict[str, Any]:
        """The terms, with the defaults of what was left out."""
        return {k: v for k, v in super().terms().items() if v is not None}


class ProductPatch(_Terms):
    """Any terms to change; the product records them with the rest as its next version. The code never changes."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    type: LoanKind | None = None
    min_amount: PositiveMoney | None = None
    max_amount: PositiveMoney | None = None
    min_tenure: WholeNumber | None = Field(None, ge=-(2**31), le=2**31)
    max_tenure: WholeNumber | None = Field(None, ge=-(2**31), le=2**31)
    annual_percent: Measure | None = None
    daily_percent: Measure | None = None
    processing_fee: FeeIn | None = None
    convenience_fee: FeeIn | None = None
    gst_percent: Measure | None = None
    penal: PenalIn | None = None
    max_active_loans: WholeNumber | None = Field(None, ge=-(2**31), le=2**31)
    bre_rules: list[RuleIn] | None = Field(None, max_length=20)


class ReasonIn(BaseModel):
    """Why (recorded on the event)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500, json_schema_extra=VISIBLE_OR_BLANK)


class ProductQuery(BaseModel):
    """Product filters and paging."""

    model_config = ConfigDict(extra="forbid")

    active: bool | None = None
    type: LoanKind | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class QuoteQuery(BaseModel):
    """A loan to price: amount, tenure (months for emi, days for payday), an optional coupon and disbursal day."""

    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney
    tenure: int = Field(ge=1, le=3650)
    coupon_code: str | None = Field(None, max_length=40)
    disbursed_on: BusinessDate | None = Field(None, description="today's business date when left out")


class CouponIn(BaseModel):
    """A coupon on a product's processing fee."""

    model_config = ConfigDict(extra="forbid")

    code: Code = Field(description="2 to 32 letters, digits, '-' or '_'; unique per product, any case")
    product_id: UUID
    kind: AmountKind
    value: Measure = Field(description="percent of the fee (at most 100) or rupees off it")
    valid_from: BusinessDate
    valid_to: BusinessDate
    max_uses: WholeNumber | None = Field(None, ge=-(2**31), le=2**31, description="no limit when left out")


class CouponQuery(BaseModel):
    """Coupon filters and paging."""

    model_config = ConfigDict(extra="forbid")

    product_id: UUID | None = None
    active: bool | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class FeeOut(BaseModel):
    """A fee as configured."""

    kind: AmountKind
    value: Decimal
    gst_inclusive: bool


class PenalOut(BaseModel):
    """Penal terms as configured."""

    kind: PenalKind
    daily_percent: Decimal


class RuleOut(BaseModel):
    """A configured BRE rule."""

    rule: Rule
    min: Decimal | None
    max: Decimal | None


class VersionOut(BaseModel):
    """One version in a product's history."""

    version: int
    name: str
    recorded_at: InstantOut
    recorded_by: str


class ProductSummaryOut(BaseModel):
    """A product at its current version."""

    id: UUID
    code: str
    version: int
    active: bool
    name: str
    type: LoanKind
    tenure_unit: str
    min_amount: Decimal
    max_amount: Decimal
    min_tenure: int
    max_tenure: int
    annual_percent: Decimal | None
    daily_percent: Decimal | None
    processing_fee: FeeOut
    convenience_fee: FeeOut
    gst_percent: Decimal
    penal: PenalOut
    max_active_loans: int
    bre_rules: list[RuleOut]
    created_at: InstantOut
    changed_at: InstantOut
    changed_by: str


class ProductOut(ProductSummaryOut):
    """A product at its current version, with its versions (newest first)."""

    versions: list[VersionOut]


class ProductVersionOut(ProductSummaryOut):
    """One version of a product exactly as recorded (`changed_at`/`changed_by`: when and by whom);
    `current_version` is the product's latest."""

    current_version: int


class ProductPageOut(BaseModel):
    """Products by code."""

    items: list[ProductSummaryOut]
    next_cursor: str | None


class CouponOut(BaseModel):
    """A coupon on a product's processing fee (uses are counted by the loans context against `max_uses`)."""

    id: UUID
    product_id: UUID
    product_code: str
    code: str
    kind: AmountKind
    value: Decimal
    valid_from: date
    valid_to: date
    max_uses: int | None
    active: bool
    created_at: InstantOut
    created_by: str


class CouponPageOut(BaseModel):
    """Coupons by code."""

    items: list[CouponOut]
    next_cursor: str | None


class ChargeOut(BaseModel):
    """One fee as charged."""

    amount: Decimal
    gst: Decimal
    gst_inclusive: bool
    deducted: Decimal


class QuoteOut(BaseModel):
    """What a loan of `amount` over `tenure` costs on the product's current version, disbursed on `disbursed_on`."""

    product_id: UUID
    version: int
    type: LoanKind
    amount: Decimal
    tenure: int
    tenure_unit: str
    rate_percent: Decimal
    coupon_code: str | None
    gst_percent: Decimal
    processing_fee_before_discount: Decimal
    coupon_discount: Decimal
    processing_fee: ChargeOut
    convenience_fee: ChargeOut
    gst: Decimal
    deductions: Decimal
    net_disbursed: Decimal
    disbursed_on: date
    instalments: int
    emi: Decimal | None
    first_due_date: date
    first_instalment: Decimal
    total_interest: Decimal
    total_repayable: Decimal

    @classmethod
    def of(cls, quote: Quote) -> QuoteOut:
        """The preview as the API shows it (staff's product quote and the borrower's re-loan offer alike)."""
        p = quote.pricing
        return cls(
            product_id=quote.product_id,
            version=quote.version,
            type=quote.kind,
            amount=quote.amount,
            tenure=quote.tenure,
            tenure_unit=quote.tenure_unit,
            rate_percent=quote.rate_percent,
            coupon_code=quote.coupon_code,
            gst_percent=p.gst_percent,
            processing_fee_before_discount=p.processing_fee_before_discount,
            coupon_discount=p.coupon_discount,
            processing_fee=_charge(p.processing_fee),
            convenience_fee=_charge(p.convenience_fee),
            gst=p.gst,
            deductions=p.deductions,
            net_disbursed=p.net_disbursed,
            disbursed_on=quote.disbursed_on,
            instalments=quote.instalments,
            emi=quote.emi,
            first_due_date=quote.first_due_date,
            first_instalment=quote.first_instalment,
            total_interest=quote.total_interest,
            total_repayable=quote.total_repayable,
        )


def _charge(charge: FeeCharge) -> ChargeOut:
    return ChargeOut(amount=charge.amount, gst=charge.gst, gst_inclusive=charge.gst_inclusive, deducted=charge.deducted)
