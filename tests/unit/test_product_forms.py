"""The portal's product form: its fields to terms and back, and errors named after its own fields."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from api.pages.product_forms import field_of, form_values, terms_of, values_of
from domain.products.terms import terms_from
from domain.shared.errors import InvalidInput
from projections.product_queries import ProductRecord


def _form(**given: str) -> dict[str, str]:
    values = form_values(lambda name: "")
    values.update(
        name="Payday 30", type="payday", rate="1", min_amount="5000", max_amount="50000", min_tenure="7",
        max_tenure="45", processing_fee_kind="fixed", processing_fee_value="499",
    )  # fmt: skip
    values.update(given)
    return values


def test_the_rate_goes_to_the_types_rate_and_empty_optional_fields_take_the_defaults() -> None:
    terms = terms_from(terms_of(_form()))
    assert terms.daily_percent == Decimal("1") and terms.annual_percent is None
    assert terms.convenience_fee.value == 0 and terms.gst_percent == Decimal("18.00") and terms.penal.daily_percent == 0
    assert terms.max_active_loans == 1 and terms.bre_rules == ()
    emi = terms_from(terms_of(_form(type="emi", rate="18", min_tenure="3", max_tenure="24")))
    assert emi.annual_percent == Decimal("18") and emi.daily_percent is None


def test_ticked_rule_rows_become_rules_with_their_thresholds() -> None:
    values = _form(bre_AGE_on="on", bre_AGE_min="25", bre_FOIR_on="on", bre_FOIR_max="50", bre_DPD_max="9")
    terms = terms_from(terms_of(values))
    assert [(r.rule.value, r.min, r.max) for r in terms.bre_rules] == [("AGE", 25, None), ("FOIR", None, 50)]


def test_errors_are_named_after_the_forms_fields() -> None:
    values = _form(rate="", bre_CREDIT_SCORE_on="on", bre_AGE_on="on", bre_AGE_min="10")
    with pytest.raises(InvalidInput) as refused:
        terms_from(terms_of(values))
    named = {field_of(e.field, values) for e in refused.value.errors}
    assert named == {"rate", "CREDIT_SCORE min", "AGE min"}
    assert field_of("processing_fee.value", values) == "processing_fee value"


def test_a_product_fills_the_edit_form_and_round_trips() -> None:
    terms = terms_from(terms_of(_form(convenience_fee_value="2", convenience_fee_kind="percent", bre_PINCODE_on="on")))
    now = datetime(2026, 11, 30, tzinfo=UTC)
    record = ProductRecord(
        id=uuid4(), code="PD-30", version=1, active=True, name=terms.name, type=terms.kind, tenure_unit="days",
        min_amount=terms.min_amount, max_amount=terms.max_amount, min_tenure=terms.min_tenure,
        max_tenure=terms.max_tenure, annual_percent=terms.annual_percent, daily_percent=terms.daily_percent,
        processing_fee=terms.processing_fee, convenience_fee=terms.convenience_fee, gst_percent=terms.gst_percent,
        penal=terms.penal, max_active_loans=terms.max_active_loans, bre_rules=terms.bre_rules, created_at=now,
        changed_at=now, changed_by="staff:x", current_version=1,
    )  # fmt: skip
    values = values_of(record)
    assert values["rate"] == "1" and values["bre_PINCODE_on"] == "on" and values["convenience_fee_kind"] == "percent"
    assert terms_from(terms_of(values)) == terms
