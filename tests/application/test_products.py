"""Products use cases: versioned products, their validation, coupons, the catalogue the loans context reads, and
the pricing preview, on the in-memory event store."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.loans.bre import Rule, RuleSpec
from domain.loans.offer import ProductCatalogue
from domain.loans.terms import AmountKind, Discount, Fee, LoanKind, PenalKind
from domain.products.application import Products
from domain.products.product import CouponNotFound, LoanProduct, ProductNotFound, product_id
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000c2")


def emi_terms(**changes: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "name": "Salary Advance EMI",
        "kind": "emi",
        "min_amount": "15000",
        "max_amount": "500000",
        "min_tenure": 3,
        "max_tenure": 36,
        "annual_percent": "24",
        "processing_fee": {"kind": "percent", "value": "2.5", "gst_inclusive": False},
        "convenience_fee": {"kind": "fixed", "value": "499", "gst_inclusive": True},
        "gst_percent": "18",
        "penal": {"kind": "simple", "daily_percent": "0.1"},
        "max_active_loans": 2,
        "bre_rules": [{"rule": "CREDIT_SCORE", "min": "700"}, {"rule": "FOIR", "max": "55"}],
    }
    terms.update(changes)
    return terms


def payday_terms(**changes: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "name": "Payday 30",
        "kind": "payday",
        "min_amount": "5000",
        "max_amount": "50000",
        "min_tenure": 7,
        "max_tenure": 45,
        "daily_percent": "1",
        "processing_fee": {"kind": "fixed", "value": "500", "gst_inclusive": False},
    }
    terms.update(changes)
    return terms


@pytest.fixture
def products(clock: FixedClock) -> Products:
    return in_memory(Products, clock)


def _nothing_recorded(app: Products) -> bool:
    return app.recorder.max_notification_id() in (None, 0)


def _fields(refused: pytest.ExceptionInfo[InvalidInput]) -> set[str]:
    return {e.field for e in refused.value.errors}


def test_a_product_is_created_as_version_1_with_its_terms_normalised(products: Products) -> None:
    result = products.create(BRAND, " sal-emi ", emi_terms())
    assert result.id == product_id(BRAND, "SAL-EMI")
    version = products.current(BRAND, result.id)
    assert (version.version, version.code, version.kind, version.active) == (1, "SAL-EMI", LoanKind.EMI, True)
    assert version.min_amount == Decimal("15000.00") and version.annual_percent == Decimal("24")
    assert version.daily_percent is None
    assert version.processing_fee == Fee(kind=AmountKind.PERCENT, value=Decimal("2.5"), gst_inclusive=False)
    assert version.convenience_fee == Fee(kind=AmountKind.FIXED, value=Decimal("499.00"), gst_inclusive=True)
    assert version.penal.kind is PenalKind.SIMPLE and version.penal.daily_percent == Decimal("0.1")
    assert version.bre_rules == (RuleSpec(Rule.CREDIT_SCORE, min=Decimal(700)), RuleSpec(Rule.FOIR, max=Decimal(55)))


def test_defaults_no_convenience_fee_18_percent_gst_no_penal_one_loan_no_rules(products: Products) -> None:
    version = products.current(BRAND, products.create(BRAND, "PD30", payday_terms()).id)
    assert version.convenience_fee.value == 0 and version.gst_percent == Decimal("18.00")
    assert version.penal.daily_percent == 0 and version.max_active_loans == 1 and version.bre_rules == ()


def test_the_application_is_a_product_catalogue(products: Products) -> None:
    catalogue: ProductCatalogue = products
    assert catalogue.current(BRAND, products.create(BRAND, "PD30", payday_terms()).id).code == "PD30"


def test_a_duplicate_code_in_any_case_is_a_conflict_and_other_brands_may_use_it(products: Products) -> None:
    first = products.create(BRAND, "SAL-EMI", emi_terms())
    with pytest.raises(Conflict) as refused:
        products.create(BRAND, "sal-emi", emi_terms(name="Another"))
    assert refused.value.details["existing_id"] == str(first.id)
    assert products.create(OTHER, "SAL-EMI", emi_terms()).id != first.id


@pytest.mark.parametrize(
    ("code", "changes", "fields"),
    [
        ("A", {}, {"code"}),
        ("BAD CODE", {}, {"code"}),
        ("<script>", {}, {"code"}),
        ("OK1", {"name": " "}, {"name"}),
        ("OK1", {"min_amount": "600000"}, {"min_amount"}),
        ("OK1", {"min_amount": "0"}, {"min_amount"}),
        ("OK1", {"max_amount": "12.345"}, {"max_amount"}),
        ("OK1", {"min_tenure": 40}, {"min_tenure"}),
        ("OK1", {"max_tenure": 601}, {"max_tenure"}),
        ("OK1", {"min_tenure": 0}, {"min_tenure"}),
        ("OK1", {"annual_percent": None}, {"annual_percent"}),
        ("OK1", {"daily_percent": "1"}, {"daily_percent"}),
        ("OK1", {"annual_percent": "1000"}, {"annual_percent"}),
        ("OK1", {"processing_fee": {"kind": "percent", "value": "101"}}, {"processing_fee.value"}),
        ("OK1", {"processing_fee": {"kind": "fixed", "value": "-1"}}, {"processing_fee.value"}),
        ("OK1", {"processing_fee": {"kind": "flat", "value": "1"}}, {"processing_fee.kind"}),
        ("OK1", {"convenience_fee": {"kind": "fixed", "value": "1.001"}}, {"convenience_fee.value"}),
        ("OK1", {"gst_percent": "100.5"}, {"gst_percent"}),
        ("OK1", {"penal": {"kind": "compound", "daily_percent": "-0.1"}}, {"penal.daily_percent"}),
        ("OK1", {"max_active_loans": 0}, {"max_active_loans"}),
        ("OK1", {"bre_rules": [{"rule": "CREDIT_SCORE"}]}, {"bre_rules[0].min"}),
        ("OK1", {"bre_rules": [{"rule": "CREDIT_SCORE", "min": "1000"}]}, {"bre_rules[0].min"}),
        ("OK1", {"bre_rules": [{"rule": "PINCODE", "min": "1"}]}, {"bre_rules[0].min"}),
        ("OK1", {"bre_rules": [{"rule": "FOIR", "max": "55"}, {"rule": "FOIR", "max": "60"}]}, {"bre_rules[1].rule"}),
        ("OK1", {"bre_rules": [{"rule": "BLOCKLIST"}]}, {"bre_rules[0].rule"}),
        ("OK1", {"bre_rules": [{"rule": "LUCK"}]}, {"bre_rules[0].rule"}),
        ("OK1", {"bre_rules": [{"rule": "AGE", "min": "40", "max": "30"}]}, {"bre_rules[0].max"}),
    ],
)
def test_each_bad_field_is_named_and_nothing_is_recorded(
    products: Products, code: str, changes: dict[str, Any], fields: set[str]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        products.create(BRAND, code, emi_terms(**changes))
    assert _fields(refused) == fields
    assert _nothing_recorded(products)


def test_several_bad_fields_are_named_at_once(products: Products) -> None:
    with pytest.raises(InvalidInput) as refused:
        products.create(BRAND, "x", payday_terms(max_tenure=4000, annual_percent="12", daily_percent=None))
    assert _fields(refused) == {"code", "max_tenure", "daily_percent", "annual_percent"}


def test_payday_tenures_are_days_up_to_ten_years(products: Products) -> None:
    version = products.current(BRAND, products.create(BRAND, "PD-LONG", payday_terms(max_tenure=3650)).id)
    assert version.max_tenure == 3650


def test_a_revision_records_the_next_version_with_the_full_terms(products: Products) -> None:
    created = products.create(BRAND, "SAL-EMI", emi_terms())
    products.revise(BRAND, created.id, {"annual_percent": "21", "bre_rules": []})
    products.revise(BRAND, created.id, {"name": "Salary EMI (2027)"}, expected_version=2)
    current = products.current(BRAND, created.id)
    assert (current.version, current.annual_percent, current.bre_rules, current.name) == (
        3, Decimal("21"), (), "Salary EMI (2027)"
    )  # fmt: skip
    first = products.version(BRAND, created.id, 1)
    assert (first.version, first.annual_percent, first.name, len(first.bre_rules)) == (1, 24, "Salary Advance EMI", 2)
    assert products.version(BRAND, created.id, 2).annual_percent == 21
    with pytest.raises(ProductNotFound):
        products.version(BRAND, created.id, 4)


def test_a_revision_on_a_stale_version_is_a_conflict_and_records_nothing(products: Products) -> None:
    created = products.create(BRAND, "SAL-EMI", emi_terms())
    products.revise(BRAND, created.id, {"annual_percent": "21"})
    with pytest.raises(ConcurrentModification):
        products.revise(BRAND, created.id, {"annual_percent": "20"}, expected_version=1)
    assert products.current(BRAND, created.id).annual_percent == 21


def test_an_invalid_revision_names_the_field_and_records_nothing(products: Products) -> None:
    created = products.create(BRAND, "SAL-EMI", emi_terms())
    with pytest.raises(InvalidInput) as refused:
        products.revise(BRAND, created.id, {"max_amount": "1000"})
    assert _fields(refused) == {"min_amount"}
    with pytest.raises(InvalidInput) as refused:
        products.revise(BRAND, created.id, {"code": "NEW"})
    assert _fields(refused) == {"code"}
    assert products.current(BRAND, created.id).version == 1
    assert len(list(products.events.get(created.id))) == 1


def test_unchanged_terms_record_no_version(products: Products) -> None:
    created = products.create(BRAND, "SAL-EMI", emi_terms())
    result = products.revise(BRAND, created.id, {"annual_percent": "24.00", "min_tenure": 3})
    assert not result.changed and products.current(BRAND, created.id).version == 1


def test_changing_the_kind_drops_the_other_rate_and_needs_the_new_one(products: Products) -> None:
    created = products.create(BRAND, "FLEX", emi_terms())
    with pytest.raises(InvalidInput) as refused:
        products.revise(BRAND, created.id, {"kind": "payday"})
    assert _fields(refused) == {"daily_percent"}
    products.revise(BRAND, created.id, {"kind": "payday", "daily_percent": "0.9", "max_tenure": 30, "min_tenure": 7})
    current = products.current(BRAND, created.id)
    assert (current.kind, current.daily_percent, current.annual_percent) == (LoanKind.PAYDAY, Decimal("0.9"), None)


def test_deactivating_and_reactivating(products: Products) -> None:
    created = products.create(BRAND, "SAL-EMI", emi_terms())
    products.deactivate(BRAND, created.id, "replaced by SAL-EMI-2")
    assert not products.current(BRAND, created.id).active
    assert not products.version(BRAND, created.id, 1).active
    with pytest.raises(Conflict):
        products.deactivate(BRAND, created.id)
    products.reactivate(BRAND, created.id)
    assert products.current(BRAND, created.id).active
    with pytest.raises(Conflict):
        products.reactivate(BRAND, created.id)
    events = [type(e).__name__ for e in products.events.get(created.id)]
    assert events == ["Created", "Deactivated", "Reactivated"]


def test_another_brands_product_is_not_found(products: Products) -> None:
    created = products.create(BRAND, "SAL-EMI", emi_terms())
    for attempt in (
        lambda: products.current(OTHER, created.id),
        lambda: products.version(OTHER, created.id, 1),
        lambda: products.revise(OTHER, created.id, {"name": "Stolen"}),
        lambda: products.deactivate(OTHER, created.id),
    ):
        with pytest.raises(ProductNotFound):
            attempt()
    assert len(list(products.events.get(created.id))) == 1


# Coupons ---------------------------------------------------------------------------------------------------------


def test_a_coupon_is_found_by_its_code_in_any_case(products: Products) -> None:
    product = products.create(BRAND, "SAL-EMI", emi_terms()).id
    issued = products.issue_coupon(
        BRAND, product, "Diwali50", "percent", "50", date(2026, 10, 1), date(2026, 11, 15), 500
    )
    coupon = products.coupon(BRAND, product, "diwali50")
    assert coupon is not None and coupon.id == issued.id and coupon.code == "DIWALI50"
    assert coupon.discount == Discount(kind=AmountKind.PERCENT, value=Decimal("50"))
    assert (coupon.valid_from, coupon.valid_to, coupon.max_uses) == (date(2026, 10, 1), date(2026, 11, 15), 500)
    assert products.coupon(OTHER, product, "DIWALI50") is None
    assert products.coupon(BRAND, product, "NOPE") is None
    assert products.coupon(BRAND, product, "not a code!") is None


def test_a_coupon_code_is_unique_per_product_whatever_its_case(products: Products) -> None:
    first = products.create(BRAND, "SAL-EMI", emi_terms()).id
    second = products.create(BRAND, "PD30", payday_terms()).id
    products.issue_coupon(BRAND, first, "WELCOME", "fixed", "200", date(2026, 1, 1), date(2026, 12, 31))
    with pytest.raises(Conflict):
        products.issue_coupon(BRAND, first, "welcome", "fixed", "100", date(2026, 1, 1), date(2026, 12, 31))
    products.issue_coupon(BRAND, second, "welcome", "fixed", "100", date(2026, 1, 1), date(2026, 12, 31))
    found = products.coupon(BRAND, second, "WELCOME")
    assert found is not None and found.max_uses is None and found.discount.value == Decimal("100.00")


@pytest.mark.parametrize(
    ("kind", "value", "start", "end", "uses", "fields"),
    [
        ("percent", "101", date(2026, 1, 1), date(2026, 1, 2), None, {"value"}),
        ("percent", "0", date(2026, 1, 1), date(2026, 1, 2), None, {"value"}),
        ("fixed", "-5", date(2026, 1, 1), date(2026, 1, 2), None, {"value"}),
        ("bogus", "5", date(2026, 1, 1), date(2026, 1, 2), None, {"kind"}),
        ("fixed", "5", date(2026, 1, 3), date(2026, 1, 2), None, {"valid_from"}),
        ("fixed", "5", date(2026, 1, 1), date(2026, 1, 2), 0, {"max_uses"}),
        ("fixed", "5", date(1800, 1, 1), date(2026, 1, 2), None, {"valid_from"}),
    ],
)
def test_a_bad_coupon_names_its_field_and_records_nothing(
    products: Products, kind: str, value: str, start: date, end: date, uses: int | None, fields: set[str]
) -> None:
    product = products.create(BRAND, "SAL-EMI", emi_terms()).id
    head = products.recorder.max_notification_id()
    with pytest.raises(InvalidInput) as refused:
        products.issue_coupon(BRAND, product, "C1", kind, value, start, end, uses)
    assert _fields(refused) == fields
    assert products.recorder.max_notification_id() == head


def test_a_coupon_needs_a_product_of_the_brand(products: Products) -> None:
    product = products.create(OTHER, "SAL-EMI", emi_terms()).id
    with pytest.raises(InvalidInput) as refused:
        products.issue_coupon(BRAND, product, "C1", "fixed", "5", date(2026, 1, 1), date(2026, 1, 2))
    assert _fields(refused) == {"product_id"}


def test_a_withdrawn_coupon_is_no_longer_offered(products: Products) -> None:
    product = products.create(BRAND, "SAL-EMI", emi_terms()).id
    issued = products.issue_coupon(BRAND, product, "C1", "fixed", "5", date(2026, 1, 1), date(2026, 12, 31))
    with pytest.raises(CouponNotFound):
        products.withdraw_coupon(OTHER, issued.id)
    products.withdraw_coupon(BRAND, issued.id, "campaign over")
    assert products.coupon(BRAND, product, "C1") is None
    with pytest.raises(Conflict):
        products.withdraw_coupon(BRAND, issued.id)


# Quotes ----------------------------------------------------------------------------------------------------------


def test_an_emi_quote_prices_fees_gst_and_the_emi(products: Products) -> None:
    product = products.create(BRAND, "SAL-EMI", emi_terms()).id
    quote = products.quote(BRAND, product, Decimal("100000"), 12, disbursed_on=date(2026, 11, 30))
    p = quote.pricing
    # 2.5 % of 1,00,000 = 2500, GST on top 450; 499 inclusive of GST: 499 * 18 / 118 = 76.12.
    assert (p.processing_fee.amount, p.processing_fee.gst, p.convenience_fee.gst) == (2500, 450, Decimal("76.12"))
    assert p.net_disbursed == Decimal("100000") - 2500 - 450 - 499
    # EMI at 2 % a month over 12 months: 9456.0 (LENDING.md's formula, rounded half up).
    assert quote.emi == Decimal("9455.96") and quote.instalments == 12
    assert quote.first_due_date == date(2026, 12, 30) and quote.first_instalment == quote.emi
    assert quote.total_repayable == Decimal("100000") + quote.total_interest


def test_a_payday_quote_with_a_coupon(products: Products) -> None:
    product = products.create(BRAND, "PD30", payday_terms()).id
    products.issue_coupon(BRAND, product, "HALF", "percent", "50", date(2026, 11, 1), date(2026, 11, 30))
    quote = products.quote(BRAND, product, Decimal("10000"), 30, "half", disbursed_on=date(2026, 11, 30))
    assert quote.coupon_code == "HALF" and quote.pricing.coupon_discount == 250
    assert quote.pricing.processing_fee.amount == 250 and quote.pricing.processing_fee.gst == 45
    assert quote.emi is None and quote.instalments == 1
    assert quote.total_interest == 3000 and quote.first_instalment == 13000
    with pytest.raises(InvalidInput) as refused:
        products.quote(BRAND, product, Decimal("10000"), 30, "HALF", disbursed_on=date(2026, 12, 1))
    assert _fields(refused) == {"coupon_code"}


def test_a_quote_outside_the_ranges_names_amount_and_tenure(products: Products) -> None:
    product = products.create(BRAND, "PD30", payday_terms()).id
    with pytest.raises(InvalidInput) as refused:
        products.quote(BRAND, product, Decimal("60000"), 60)
    assert _fields(refused) == {"amount", "tenure"}


def test_the_aggregate_keeps_every_version(products: Products) -> None:
    created = products.create(BRAND, "SAL-EMI", emi_terms())
    products.revise(BRAND, created.id, {"max_active_loans": 3})
    product = products.load(LoanProduct, created.id, BRAND, ProductNotFound)
    assert [t.max_active_loans for t in product.versions] == [2, 3]


def test_a_quote_is_disbursed_on_the_brands_business_date_by_default(clock: FixedClock) -> None:
    products = in_memory(Products, clock, business_day=lambda brand: date(2026, 3, 31))
    product = products.create(BRAND, "SAL-EMI", emi_terms()).id
    quote = products.quote(BRAND, product, Decimal("100000"), 12)
    assert quote.disbursed_on == date(2026, 3, 31) and quote.first_due_date == date(2026, 4, 30)
