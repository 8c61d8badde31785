"""Pricing a loan (LENDING.md "Fees, taxes, payout"): worked examples, figures worked out by hand in the comments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.loans.money import round_money
from domain.loans.pricing import Pricing, price
from domain.loans.terms import AmountKind, Discount, Fee
from domain.shared.errors import InvalidInput, InvalidValue

D = Decimal


def fee(kind: str, value: str, inclusive: bool = False) -> Fee:
    return Fee(kind=AmountKind(kind), value=D(value), gst_inclusive=inclusive)


def coupon(kind: str, value: str) -> Discount:
    return Discount(kind=AmountKind(kind), value=D(value))


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("0.125", "0.13"),
        ("0.135", "0.14"),
        ("2.004999", "2.00"),
        ("83.335", "83.34"),
        ("-1.005", "-1.01"),
        ("0", "0.00"),
    ],
)
def test_money_rounds_half_up_to_the_paisa_not_to_even(value: str, rounded: str) -> None:
    assert str(round_money(D(value))) == rounded


def test_percent_fee_with_gst_on_top_and_an_inclusive_fixed_convenience_fee() -> None:
    p = price(D("100000.00"), processing_fee=fee("percent", "2"), convenience_fee=fee("fixed", "500.00", True))
    # 2 % of 1,00,000 = 2000.00 with 18 % on top = 360.00; the 500.00 holds round(500 * 18 / 118) = 76.27.
    assert p.processing_fee_before_discount == D("2000.00") == p.processing_fee.amount
    assert p.coupon_discount == D("0.00")
    assert (p.processing_fee.gst, p.processing_fee.gst_on_top) == (D("360.00"), D("360.00"))
    assert (p.convenience_fee.amount, p.convenience_fee.gst, p.convenience_fee.gst_on_top) == (
        D("500.00"),
        D("76.27"),
        D("0.00"),
    )
    assert p.gst == D("436.27")
    # 1,00,000 − 2000 − 500 − 360 (the 76.27 is inside the 500)
    assert p.net_disbursed == D("97140.00")
    assert p.deductions == D("2860.00") == p.sanctioned - p.net_disbursed


def test_inclusive_processing_fee_takes_nothing_beyond_the_fee() -> None:
    p = price(D("100000.00"), processing_fee=fee("percent", "2", inclusive=True))
    assert p.processing_fee.gst == D("305.08")  # 2000 * 18 / 118 = 305.0847…
    assert p.net_disbursed == D("98000.00")


def test_exclusive_and_inclusive_gst_differ_on_the_same_fee() -> None:
    on_top = price(D("50000.00"), processing_fee=fee("fixed", "1180.00"))
    inside = price(D("50000.00"), processing_fee=fee("fixed", "1180.00", True))
    assert on_top.processing_fee.gst == D("212.40")  # 1180 * 0.18
    assert inside.processing_fee.gst == D("180.00")  # 1180 * 18 / 118
    assert (on_top.net_disbursed, inside.net_disbursed) == (D("48607.60"), D("48820.00"))


def test_percent_fee_and_its_gst_are_each_rounded_half_up() -> None:
    p = price(D("1234.50"), processing_fee=fee("percent", "1"))
    assert p.processing_fee.amount == D("12.35")  # 12.345 -> 12.35 (half up, not to even)
    assert p.processing_fee.gst == D("2.22")  # 12.35 * 0.18 = 2.223
    assert p.net_disbursed == D("1219.93")


def test_percent_coupon_reduces_only_the_processing_fee_and_keeps_both_amounts() -> None:
    p = price(
        D("100000.00"),
        processing_fee=fee("percent", "2"),
        convenience_fee=fee("fixed", "500.00"),
        coupon=coupon("percent", "10"),
    )
    assert (p.processing_fee_before_discount, p.coupon_discount, p.processing_fee.amount) == (
        D("2000.00"),
        D("200.00"),
        D("1800.00"),
    )
    assert p.processing_fee.gst == D("324.00")  # GST on the fee charged, after the discount
    assert (p.convenience_fee.amount, p.convenience_fee.gst) == (D("500.00"), D("90.00"))
    assert p.net_disbursed == D("97286.00")  # 1,00,000 − 1800 − 324 − 500 − 90


def test_percent_coupon_is_rounded_to_the_paisa() -> None:
    p = price(D("12345.00"), processing_fee=fee("percent", "1"), coupon=coupon("percent", "15"))
    assert p.processing_fee_before_discount == D("123.45")
    assert p.coupon_discount == D("18.52")  # 15 % of 123.45 = 18.5175
    assert p.processing_fee.amount == D("104.93")


def test_coupon_larger_than_the_fee_brings_the_fee_to_zero_not_below() -> None:
    p = price(D("100000.00"), processing_fee=fee("fixed", "2000.00"), coupon=coupon("fixed", "5000.00"))
    assert (p.processing_fee_before_discount, p.coupon_discount, p.processing_fee.amount) == (
        D("2000.00"),
        D("2000.00"),
        D("0.00"),
    )
    assert p.processing_fee.gst == D("0.00")
    assert p.net_disbursed == D("100000.00")


def test_gst_percent_is_the_products_and_zero_means_no_tax() -> None:
    p = price(D("10000.00"), processing_fee=fee("fixed", "100.00"), gst_percent=D("0"))
    assert p.gst == D("0.00") and p.net_disbursed == D("9900.00")
    p12 = price(D("10000.00"), processing_fee=fee("fixed", "100.00"), gst_percent=D("12.5"))
    assert p12.processing_fee.gst == D("12.50")


def test_fees_that_leave_nothing_to_disburse_are_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        price(D("1000.00"), processing_fee=fee("fixed", "900.00"), convenience_fee=fee("fixed", "100.00"))
    assert caught.value.field == "sanctioned"
    assert "nothing to disburse" in caught.value.message


def test_out_of_bounds_terms_are_refused_naming_every_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        price(
            D("1000.005"),
            processing_fee=fee("percent", "150"),
            convenience_fee=fee("fixed", "-1"),
            gst_percent=D("18.00001"),
            coupon=coupon("percent", "101"),
        )
    fields = {e.field for e in caught.value.errors}
    assert fields == {
        "sanctioned",
        "processing_fee.value",
        "convenience_fee.value",
        "gst_percent",
        "coupon.value",
    }


def test_a_zero_sanctioned_amount_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        price(D("0"), processing_fee=fee("fixed", "0"))
    assert [e.field for e in caught.value.errors] == ["sanctioned"]


def test_pricing_round_trips_through_json_exactly() -> None:
    p = price(D("100000.00"), processing_fee=fee("percent", "2"), coupon=coupon("percent", "10"))
    data = p.model_dump(mode="json")
    assert data["net_disbursed"] == "97876.00"  # 1,00,000 − 1800 − 324
    assert Pricing.model_validate(data) == p
