"""Pricing a loan (LENDING.md, "Fees, taxes, payout"): processing fee and its coupon, convenience fee, GST per fee,
net disbursed. One `Pricing` carries the whole breakdown the payout file, the ledger and the no-due certificate show.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from pydantic import BaseModel, ConfigDict

from domain.loans.money import ZERO, parse_money, parse_rate, percent_of, round_money
from domain.loans.terms import HUNDRED, AmountKind, Discount, Fee
from domain.shared.errors import FieldChecks, InvalidValue

#: The product's GST rate when it names none.
DEFAULT_GST_PERCENT = Decimal("18.00")


class FeeCharge(BaseModel):
    """One fee as charged: its amount, the GST on it, and whether that GST is inside the amount or on top."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Decimal
    gst: Decimal
    gst_inclusive: bool

    @property
    def gst_on_top(self) -> Decimal:
        """The GST the borrower pays beyond the fee (zero when the fee already contains it)."""
        return ZERO if self.gst_inclusive else self.gst

    @property
    def deducted(self) -> Decimal:
        """What this fee takes out of the payout: the fee, plus its GST when that comes on top."""
        return self.amount + self.gst_on_top


class Pricing(BaseModel):
    """The amounts of a loan at sanction: fees before and after the coupon, GST, net disbursed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sanctioned: Decimal
    gst_percent: Decimal
    processing_fee_before_discount: Decimal
    coupon_discount: Decimal
    processing_fee: FeeCharge
    convenience_fee: FeeCharge
    net_disbursed: Decimal

    @property
    def gst(self) -> Decimal:
        """GST on both fees (inclusive or not): the tax figure of the ledger and the agreement."""
        return self.processing_fee.gst + self.convenience_fee.gst

    @property
    def deductions(self) -> Decimal:
        """Everything taken out of the sanctioned amount: sanctioned − net disbursed."""
        return self.processing_fee.deducted + self.convenience_fee.deducted


def fee_amount(fee: Fee, sanctioned: Decimal) -> Decimal:
    """A fee in rupees: `round(sanctioned * value / 100)` for a percent fee, the value itself for a fixed one."""
    if fee.kind is AmountKind.PERCENT:
        return percent_of(sanctioned, fee.value)
    return round_money(fee.value)


def coupon_discount(discount: Discount | None, fee: Decimal) -> Decimal:
    """What a coupon takes off a processing fee of `fee`: a rounded percent of it or the fixed amount, never more
    than the fee itself (the fee never goes below zero)."""
    if discount is None:
        return ZERO
    if discount.kind is AmountKind.PERCENT:
        amount = percent_of(fee, discount.value)
    else:
        amount = round_money(discount.value)
    return min(amount, fee)


def gst_on(amount: Decimal, gst_percent: Decimal, *, inclusive: bool) -> Decimal:
    """GST on a fee of `amount`: `round(fee * g / (100 + g))` already inside it, or `round(fee * g / 100)` on top."""
    g = Fraction(gst_percent)
    return round_money(Fraction(amount) * g / ((100 + g) if inclusive else 100))


def price(
    sanctioned: Decimal,
    *,
    processing_fee: Fee,
    convenience_fee: Fee | None = None,
    gst_percent: Decimal = DEFAULT_GST_PERCENT,
    coupon: Discount | None = None,
) -> Pricing:
    """The pricing of a loan of `sanctioned` rupees; InvalidInput when a value is out of bounds, InvalidValue on
    `sanctioned` when the deductions leave nothing to disburse."""
    checks = FieldChecks()
    checks.check(lambda: parse_money(sanctioned, "sanctioned", positive=True))
    checks.check(lambda: processing_fee.checked("processing_fee"))
    if convenience_fee is not None:
        checks.check(lambda: convenience_fee.checked("convenience_fee"))
    checks.check(lambda: parse_rate(gst_percent, "gst_percent", at_most=HUNDRED))
    if coupon is not None:
        checks.check(lambda: coupon.checked("coupon"))
    checks.raise_if_any()

    before = fee_amount(processing_fee, sanctioned)
    discount = coupon_discount(coupon, before)
    after = before - discount
    processing = FeeCharge(
        amount=after,
        gst=gst_on(after, gst_percent, inclusive=processing_fee.gst_inclusive),
        gst_inclusive=processing_fee.gst_inclusive,
    )
    convenience_amount = ZERO if convenience_fee is None else fee_amount(convenience_fee, sanctioned)
    inclusive = convenience_fee is not None and convenience_fee.gst_inclusive
    convenience = FeeCharge(
        amount=convenience_amount,
        gst=gst_on(convenience_amount, gst_percent, inclusive=inclusive),
        gst_inclusive=inclusive,
    )
    net = sanctioned - processing.deducted - convenience.deducted
    if net <= 0:
        raise InvalidValue(
            "sanctioned",
            f"fees and GST of {processing.deducted + convenience.deducted} leave nothing to disburse from {sanctioned}",
        )
    return Pricing(
        sanctioned=round_money(sanctioned),
        gst_percent=gst_percent,
        processing_fee_before_discount=before,
        coupon_discount=discount,
        processing_fee=processing,
        convenience_fee=convenience,
        net_disbursed=round_money(net),
    )
