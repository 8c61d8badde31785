"""The shared input rules: what text may hold, decimal precision and range, the dates inputs may name."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from api.pages.borrower_forms import step_input
from api.request_input import nests_deeper_than
from domain.covenants.terms import parse_measured_value
from domain.identity.brand_config import BrandSettings
from domain.identity.brand_lists import parse_hike
from domain.loans.bre import parse_rules
from domain.loans.money import RATE, parse_money, parse_rate
from domain.onboarding.steps import LoanRequestIn, Step
from domain.shared.errors import InvalidInput, InvalidValue
from domain.shared.values import (
    MEASURE,
    MIN_REASON,
    MONEY,
    _text_classes,
    _visible_ranges,
    clean_text,
    normalise_name,
    parse_date,
    parse_instant,
    text_pattern,
    text_problem,
    visible_characters,
    visible_pattern,
)
from workers.contexts import CONTEXTS


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Nul\x00Byte Name", "NUL"),
        ("lone \ud800 surrogate", "unpaired surrogate"),
        ("trailing \udfff", "unpaired surrogate"),
        ("bell\x07", "control character (U+0007)"),
        ("escape\x1b[31m", "control character (U+001B)"),
        ("c1\x85", "control character (U+0085)"),
        ("\u202eevil", "bidirectional-override"),
        ("isolate\u2066x\u2069", "bidirectional-override"),
    ],
)
def test_text_that_no_input_may_hold_is_named(text: str, says: str) -> None:
    problem = text_problem(text)
    assert problem is not None and says in problem


def test_ordinary_text_passes_and_line_breaks_only_where_text_may_have_lines() -> None:
    for text in ("Asha Verma", "आशा वर्मा", "श्री\u200dराम", "emoji 🙂 ok", "tab\tand\nlines\r\n"):
        assert text_problem(text) is None, text
    assert text_problem("two\nlines", multiline=False) == "must be a single line (contains U+000A)"


@pytest.mark.parametrize(
    "name", ["\u200b\u200b", "\u200b\u200ba", "\u3164\u3164", "\u2800\u2800", "  ", "\u200e\u200f"]
)
def test_names_made_of_invisible_characters_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalise_name(name)
    assert err.value.errors[0].field == "name"


def test_a_name_with_a_bidi_override_or_nul_is_refused_and_line_breaks_collapse() -> None:
    for bad in ("\u202e\u202eab", "Ravi\x00Kumar"):
        with pytest.raises(InvalidInput):
            normalise_name(bad)
    assert normalise_name(" Ravi\n  Kumar ") == "Ravi Kumar"


def test_clean_text_counts_only_visible_characters() -> None:
    assert visible_characters("a\u200bb\u0301 \u3164") == 2
    assert clean_text("  key for SFTP  ", "label") == "key for SFTP"
    with pytest.raises(InvalidInput, match="label: must contain visible text"):
        clean_text("\u200b\u200c\u2060", "label")
    with pytest.raises(InvalidInput, match="reason: give a reason"):
        clean_text("a\u200b\u200bb", "reason", min_visible=3, missing="give a reason")
    with pytest.raises(InvalidInput, match="single line"):
        clean_text("line one\nline two", "label")
    assert clean_text("line one\nline two", "evidence", multiline=True) == "line one\nline two"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("1e999999999", "at most 14 digits before the decimal point"),
        ("1e28", "at most 14 digits"),
        ("1e10000", "at most 14 digits"),
        ("1e999999999999999999999999", "out of range"),
        ("NaN", "finite"),
        ("-Infinity", "finite"),
        (float("inf"), "finite"),
        ("-0", "-0 is not a number"),
        ("-0.00", "-0 is not a number"),
        ("1.005", "at most 2 decimal places"),
        ("-5", "must be at least 0"),
        ("1_000", "not a decimal number"),
        ("١٢٣", "not a decimal number"),
        ("12 000", "not a decimal number"),
        (True, "must be a number"),
    ],
)
def test_money_outside_its_column_is_refused(raw: object, says: str) -> None:
    with pytest.raises(InvalidInput) as err:
        MONEY.parse(raw, "min_salary")
    assert err.value.errors[0].field == "min_salary" and says in err.value.errors[0].message


def test_money_is_kept_in_paise_and_fits_numeric_16_2() -> None:
    assert MONEY.parse("15000") == Decimal("15000.00")
    assert MONEY.parse(15000.5) == Decimal("15000.50")
    assert MONEY.parse(1e3) == Decimal("1000.00")  # a JSON number is a number, however it was written
    assert MONEY.parse(Decimal("1E+3")) == Decimal("1000.00")  # a Decimal computed here is no typo
    assert MONEY.parse("1000.50") == Decimal("1000.50")
    assert MONEY.parse("99999999999999.99") == Decimal("99999999999999.99")
    with pytest.raises(InvalidInput):
        MONEY.parse("100000000000000")


@pytest.mark.parametrize("raw", ["1e3", "1E+3", " 1e3 ", "2.5e2", "0e-99999", "1E0"])
def test_an_amount_written_with_an_exponent_is_refused_naming_the_field(raw: str) -> None:
    # Found by review: the portal's repayment, settlement and collection forms (which hand the typed text to MONEY's
    # `parse`) read "1e3" as 1000.00, while the API refused it. "1e5" typed for "1.5" would be a lakh of rupees: every
    # input of an amount now refuses it, as the API does.
    with pytest.raises(InvalidInput) as err:
        parse_money(raw, "amount")
    assert err.value.errors[0].field == "amount" and "exponent" in err.value.errors[0].message
    with pytest.raises(ValueError, match="no exponent"):
        MONEY.validate(raw)


@pytest.mark.parametrize("raw", ["1e1", "1E-2", " 1e1 ", "2.5E+1", "1E0"])
def test_a_rate_or_a_measure_written_with_an_exponent_is_refused_naming_the_field(raw: str) -> None:
    # Found by review: RATE (interest, fee, GST, FOIR percentages) and MEASURE (covenant thresholds and measured
    # values) read "1e1" as 10 in the portal's forms (the CAM, the coupon, the covenant record's value), while MONEY
    # refused it and the API refused it for all three. "1e1" typed for a rate of 1.1 % would be 10 %.
    for parse, field in ((lambda: parse_rate(raw, "recommended_rate"), "recommended_rate"),
                         (lambda: RATE.parse(raw, "gst_percent"), "gst_percent"),
                         (lambda: parse_measured_value(raw), "value"),
                         (lambda: MEASURE.parse(raw, "threshold"), "threshold")):  # fmt: skip
        with pytest.raises(InvalidInput) as err:
            parse()
        assert err.value.errors[0].field == field and "written with an exponent" in err.value.errors[0].message
    for rule in (RATE, MEASURE):
        with pytest.raises(ValueError, match="no exponent"):
            rule.validate(raw)


def test_rates_and_measures_in_plain_digits_and_numbers_are_read_as_before() -> None:
    assert parse_rate("10", "rate") == Decimal("10") and parse_rate("0.01", "rate") == Decimal("0.01")
    assert parse_rate("24.5", "rate") == Decimal("24.5") and RATE.validate("18") == Decimal("18")
    assert MEASURE.parse("-0.01") == Decimal("-0.01") and MEASURE.validate("1.25") == Decimal("1.25")
    assert RATE.parse(1e1) == Decimal("10.0") and MEASURE.parse(1e-2) == Decimal("0.01")  # JSON numbers are numbers
    assert RATE.parse(Decimal("1E+1")) == Decimal("10")  # a Decimal computed here is no typo
    assert MEASURE.parse(Decimal("1E+3")) == Decimal("1000")


def test_measured_values_have_fifteen_digits_and_six_places() -> None:
    assert parse_measured_value("1.25") == Decimal("1.25")
    assert parse_measured_value(1.4) == Decimal("1.4")
    assert parse_measured_value("-2.5") == Decimal("-2.5")
    assert parse_measured_value("1000") == Decimal("1000")
    assert parse_measured_value("1.50000000") == Decimal("1.500000")
    for raw in ("1e999999999", "1.0000001", "1e15", "NaN", "abc", "-0"):
        with pytest.raises(InvalidInput) as err:
            parse_measured_value(raw)
        assert err.value.errors[0].field == "value"
    assert MEASURE.parse("0") == Decimal(0)


def test_dates_are_iso_and_between_1900_and_2200() -> None:
    assert parse_date("2026-11-20") == date(2026, 11, 20)
    assert parse_date(date(1950, 1, 1)) == date(1950, 1, 1)
    for raw in ("0001-01-01", "9999-12-31", "1899-12-31", "2201-01-01"):
        with pytest.raises(InvalidInput, match="between 1900 and 2200"):
            parse_date(raw, "as_of")
    for raw in ("-1", "0", "20261120", "2026-1-1", "2026-11-20T00:00:00", 0, datetime(2026, 1, 1)):
        with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
            parse_date(raw, "as_of")
    with pytest.raises(InvalidInput, match="not a calendar date"):
        parse_date("2026-02-30")


def test_instants_are_iso_and_within_range() -> None:
    assert parse_instant("2026-11-20T10:00:00+05:30").utcoffset() is not None
    assert parse_instant("2026-11-20T10:00Z") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_instant("2026-11-20 10:00:00.123").tzinfo is None
    for raw in ("-1", "0", "1700000000", "2026-11-20", "tomorrow"):
        with pytest.raises(InvalidInput, match="YYYY-MM-DDTHH:MM"):
            parse_instant(raw, "as_of")
    for raw in ("0001-01-01T00:00:00+05:30", "9999-12-31T23:59:59-05:00"):
        with pytest.raises(InvalidInput, match="between 1900 and 2200"):
            parse_instant(raw, "as_of")
    # Every zone's offset is taken (Kiribati's +14:00, Baker Island's -12:00); one PostgreSQL cannot store, or no zone
    # has, is refused before anything is recorded.
    assert parse_instant("2026-11-20T10:00:00+14:00").utcoffset() == timedelta(hours=14)
    assert parse_instant("2026-11-20T10:00:00-12:00").utcoffset() == -timedelta(hours=12)
    for raw in (
        "2124-04-01T06:02:46-18:08",
        "2026-11-20T10:00:00+16:00",
        "2026-11-20T10:00:00+14:01",
        "2026-11-20T10:00-1201",
    ):
        with pytest.raises(InvalidInput, match="offset must lie between -12:00 and \\+14:00"):
            parse_instant(raw, "callback_at")


def test_brand_settings_changes_follow_the_input_rules() -> None:
    settings = BrandSettings()
    for updates, field in (
        ({"min_salary": "1e28"}, "min_salary"),
        ({"min_salary": "1e10000"}, "min_salary"),
        ({"min_loan_amount": "1e999999999"}, "min_loan_amount"),
        ({"min_salary": "-0"}, "min_salary"),
        ({"min_salary": "NaN"}, "min_salary"),
        ({"business_date": "9999-12-31"}, "business_date"),
        ({"business_date": "0001-01-01"}, "business_date"),
        ({"timezone": "Asia/Kolkata\x00"}, "timezone"),
    ):
        with pytest.raises(InvalidInput) as err:
            settings.changed(updates)
        assert [e.field for e in err.value.errors] == [field], updates
    changed = settings.changed({"min_salary": "25000", "business_date": "2026-11-20"})
    assert changed.min_salary == Decimal("25000.00") and changed.business_date == date(2026, 11, 20)
    assert settings.changed({"business_date": ""}).business_date is None


def test_recorded_settings_replay_without_the_input_rules() -> None:
    # A value recorded before the rules existed (here a salary of 1e20) must still load from its event.
    replayed = BrandSettings.model_validate({**BrandSettings().model_dump(mode="json"), "min_salary": "1E+20"})
    assert replayed.min_salary == Decimal("1E+20")


def test_an_empty_sender_recorded_before_the_rule_replays_and_does_not_refuse_other_changes() -> None:
    recorded = {**BrandSettings().model_dump(mode="json"), "message_senders": {"sms": "", "whatsapp": "CVDESK"}}
    settings = BrandSettings.model_validate(recorded)  # replay reads it
    # The settings page sends every setting: the sender as it is now passes, another setting changes.
    changed = settings.changed({"message_senders": {"sms": "", "whatsapp": "CVDESK"}, "min_age": 23})
    assert changed.min_age == 23 and changed.message_senders == {"sms": "", "whatsapp": "CVDESK"}
    with pytest.raises(InvalidInput) as err:  # a new empty sender is refused
        settings.changed({"message_senders": {"sms": "", "whatsapp": " "}})
    assert [e.field for e in err.value.errors] == ["message_senders.whatsapp"]


def test_json_nesting_is_measured_without_parsing_and_ignores_brackets_in_strings() -> None:
    assert nests_deeper_than(b'{"a": [1, {"b": [2]}]}', 3)
    assert not nests_deeper_than(b'{"a": [1, {"b": [2]}]}', 4)
    assert not nests_deeper_than(b'{"a": "' + b"[" * 100 + b'"}', 2)
    assert not nests_deeper_than(b'{"a": "\\"' + b"[" * 100 + b'\\""}', 2)
    assert not nests_deeper_than(b'{"a": "\\\\", "b": "' + b"{" * 100 + b'"}', 2)
    assert nests_deeper_than(b"[" * 1000 + b"]" * 1000, 32)
    assert nests_deeper_than(b"[" * 100_000, 32)
    assert not nests_deeper_than(b"[" + b"{}," * 100_000 + b"{}]", 2)


@pytest.mark.parametrize("raw", ["1e3", "1E+3", "+100", " 100", "100 ", "1.", ".5", "1_000", "0x10"])
def test_an_api_decimal_string_is_the_schemas_plain_digits(raw: str) -> None:
    # `parse` (files, the command line) reads these; the API's schemas publish plain digits, and "1e5" typed for
    # "1.5" must not become a lakh of rupees.
    with pytest.raises(ValueError, match="no exponent"):
        MONEY.validate(raw)
    assert re.fullmatch(str(MONEY.json_schema()["anyOf"][1]["pattern"]), raw) is None  # type: ignore[index]


def test_plain_api_decimals_and_numbers_are_read_as_before() -> None:
    assert MONEY.validate("1000") == Decimal("1000.00")
    assert MONEY.validate("1000.5") == Decimal("1000.50")
    assert MONEY.validate(1e3) == Decimal("1000.00")  # a JSON number may have an exponent: it is a number
    assert MEASURE.validate("-2.5") == Decimal("-2.5")
    for raw, says in (("-5", "at least 0"), ("1.005", "decimal places"), ("NaN", "finite"), ("Infinity", "finite")):
        with pytest.raises(ValueError, match=says):
            MONEY.validate(raw)


@pytest.mark.parametrize("raw", ["12", " 12 ", "1_2", 12.5, 12.000001, True, float("nan"), float("inf")])
def test_a_whole_number_is_a_json_integer(raw: object) -> None:
    with pytest.raises(ValidationError) as refused:
        LoanRequestIn.model_validate({"product_id": str(uuid.uuid4()), "amount": "50000", "tenure": raw})
    assert [e["loc"] for e in refused.value.errors()] == [("tenure",)]
    assert LoanRequestIn.model_validate({"product_id": str(uuid.uuid4()), "amount": "50000", "tenure": 12}).tenure == 12


@pytest.mark.parametrize("raw", ["12.0", "1.2e1", "12.000"])
def test_a_whole_number_written_with_a_zero_fraction_is_that_integer(raw: str) -> None:
    # JSON Schema's `integer` (what the document states) is any number whose fraction is zero: 12.0 is 12.
    body = f'{{"product_id": "{uuid.uuid4()}", "amount": "50000", "tenure": {raw}}}'
    tenure = LoanRequestIn.model_validate_json(body).tenure
    assert tenure == 12 and type(tenure) is int


def test_a_borrower_forms_number_field_is_read_as_its_plain_digits() -> None:
    form = {"product_id": str(uuid.uuid4()), "amount": "50000", "tenure": " 12 ", "coupon_code": ""}
    assert LoanRequestIn.model_validate(step_input(Step.LOAN_REQUEST, form)).tenure == 12
    for text in ("twelve", "1_2", "١٢", "12.0", ""):
        with pytest.raises(ValidationError) as refused:
            LoanRequestIn.model_validate(step_input(Step.LOAN_REQUEST, {**form, "tenure": text}))
        assert [e["loc"] for e in refused.value.errors()] == [("tenure",)], text


def _integer_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[tuple[type[BaseModel], str, Any]]:
    """Every field of a request body (and of the models inside it) that holds an int, directly or as a dict's value."""
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        inner = [a for arg in (field.annotation, *get_args(field.annotation)) for a in (arg, *get_args(arg))]
        for sub in inner:
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                yield from _integer_fields(sub, seen)
        if int in inner:
            yield model, name, field.annotation


def test_every_integer_in_a_request_body_is_a_json_integer() -> None:
    """`true`, "12" or 12.5 where a whole number is asked for (a product's max_active_loans, a job's batch_size, a
    criterion's weight, ...) is a 422 naming the field, in every operation's body, not a quiet 1 or 12; 12.0 is the
    JSON integer 12 (JSON Schema's `integer`, which the document states), read as 12."""
    seen: set[type[BaseModel]] = set()
    fields = [f for context in CONTEXTS for ep in context.endpoints if ep.body for f in _integer_fields(ep.body, seen)]
    assert len(fields) >= 15, fields
    for model, name, annotation in fields:
        for raw in (True, "12", 12.5, 12.0):
            if get_origin(annotation) is dict:
                key = next(iter(get_args(annotation)[0]))
                value, loc = {key.value: raw}, (name, key.value)
            else:
                value, loc = raw, (name,)
            try:
                model.model_validate({name: value})
                errors = []
            except ValidationError as refused:
                errors = refused.errors()
            named = [e for e in errors if e["loc"][: len(loc)] == loc]
            if raw == 12.0:  # whatever else the body lacks, this field is read
                assert named == [] or all(e["type"] not in ("int_type", "int_from_float") for e in named), (
                    model.__name__,
                    name,
                    named,
                )
                continue
            assert any(e["type"] == "int_type" for e in named), (model.__name__, name, raw, errors)


def test_the_personal_forms_reference_rows_are_the_steps_references_and_fill_again() -> None:
    from api.pages.borrower_forms import field_of, prefill

    form = {"name": "Asha Verma", "date_of_birth": "1994-05-17", "email": "asha@example.in",
            "reference1_name": "", "reference1_relation": "", "reference1_phone": "",
            "reference2_name": "Sunita Verma", "reference2_relation": "parent", "reference2_phone": "98450 12345"}  # fmt: skip
    built = step_input(Step.PERSONAL, form)
    assert built["references"] == [{"name": "Sunita Verma", "relation": "parent", "phone": "98450 12345"}]
    again = prefill(Step.PERSONAL, {"references": [{"name": "Sunita Verma", "relation": "parent",
                                                    "phone": "+919845012345"}]})  # fmt: skip
    assert (again["reference1_name"], again["reference1_relation"], again["reference1_phone"]) == (
        "Sunita Verma", "parent", "+919845012345"
    )  # fmt: skip
    assert field_of(Step.PERSONAL, "references[1].phone") == "reference2_phone"
    assert step_input(Step.PERSONAL, {k: v for k, v in form.items() if not k.startswith("reference2")})[
        "references"] == []  # fmt: skip


@pytest.mark.parametrize("raw", ["1e1", "1E-2", "2.5E+1"])
def test_every_decimal_rule_refuses_an_exponent_the_settings_and_bre_thresholds_too(raw: str) -> None:
    # Found by review: after amounts, rates and measures, the re-loan hike's percent (brand settings) and the BRE's
    # thresholds (a count such as a credit score, a FOIR percent) still read "1e1" as 10. No input rule takes one now.
    with pytest.raises(InvalidInput) as err:
        parse_hike({"kind": "percent", "value": raw}, "reloan_hike")
    assert err.value.errors[0].field == "reloan_hike.value" and "exponent" in err.value.errors[0].message
    with pytest.raises(InvalidInput) as err:
        parse_rules([{"rule": "FOIR", "max": raw}, {"rule": "CREDIT_SCORE", "min": "7e2"}])
    fields = sorted(e.field for e in err.value.errors)
    assert fields == ["bre_rules[0].max", "bre_rules[1].min"], err.value.errors
    assert all("exponent" in e.message for e in err.value.errors)
    assert parse_hike({"kind": "percent", "value": "10"}, "reloan_hike").value == Decimal("10")
    [foir] = parse_rules([{"rule": "FOIR", "max": "50.5"}])
    assert foir.rule == "FOIR"


@pytest.mark.parametrize("multiline", [True, False])
def test_the_text_pattern_takes_exactly_what_text_problem_takes(multiline: bool) -> None:
    # The OpenAPI document states the rule with this pattern (ECMA-262 `\uXXXX`, which Python's re also reads); every
    # code point is taken by both or refused by both.
    body = text_pattern(multiline=multiline).removeprefix("^").removesuffix("$")
    for code in [*range(0x2200), 0x3000, 0xFEFF, 0xFFFD, 0x1F600]:  # every refused one lies below U+2200
        text = f"a{chr(code)}b"
        stated = re.fullmatch(body, text) is not None
        assert stated == (text_problem(text, multiline=multiline) is None), hex(code)


@pytest.mark.parametrize("rule", [MONEY, MEASURE, RATE])
def test_a_decimal_schemas_strings_and_numbers_are_taken(rule: Any) -> None:
    # What the schema states is taken: "-0" (a measure may be negative) is refused by the rule, so the pattern says
    # so; a number's places are its `multipleOf` (decimal), so 0.001 is not a schema-valid amount.
    anyof = rule.json_schema()["anyOf"]
    number, pattern = anyof[0], str(anyof[1]["pattern"])
    for raw in ("-0", "-0.0", "-000.000000", "-0." + "0" * rule.places):
        assert re.fullmatch(pattern, raw) is None, raw
    for raw in ("0", "12", "12.5", "-12", "-0.5", "-0.05", "-10.00", "0." + "0" * (rule.places - 1) + "1"):
        if re.fullmatch(pattern, raw):
            rule.validate(raw)
    assert Decimal(str(number["multipleOf"])) == Decimal(1).scaleb(-rule.places)
    with pytest.raises(ValueError, match="decimal places"):
        rule.validate(float("0." + "0" * rule.places + "1"))


#: The characters where a visible-text rule could go wrong: zero-width and formatting ones, combining marks on their
#: own, the blank look-alikes, whitespace `str.strip` removes (and one it does not), line breaks, refused controls and
#: bidi overrides, and astral ones (a letter, an emoji, a private-use character, a tag, one not assigned yet).
EDGE_CHARACTERS = (
    "aZ9.€\u0905\u200b\u200c\u200d\u2060\ufeff\u00ad\u0301\u0300\u115f\u1160\u3164\uffa0\u2800"
    " \t\n\r\x0b\x0c\x1c\x85\xa0\u1680\u2028\u2029\u3000\u180e\x00\x07\x7f\u202e\u2066"
    "\U0001d400\U0001f600\U00020000\U000f0000\U000e0001\U0003fffd"
)
_NO_SURROGATES = st.characters(exclude_categories=["Cs"])  # no UTF-8 request carries one (as `text_pattern`)


def _takes(raw: str, *, multiline: bool, stripped: bool, or_empty: bool, or_blank: bool) -> bool:
    """What the server takes: the edge's text rule over the raw value (a JSON body's string may hold line breaks, a
    query value not), then the default for a blank one, then `clean_text` with at least MIN_REASON visible."""
    if text_problem(raw, multiline=multiline or stripped) is not None:
        return False
    if (or_empty and raw == "") or (or_blank and not raw.strip()):
        return True
    try:
        clean_text(raw, "reason", multiline=multiline, min_visible=MIN_REASON)
    except InvalidValue:
        return False
    return True


@pytest.mark.parametrize(
    ("multiline", "stripped", "or_empty", "or_blank"),
    [(True, False, False, False), (True, False, False, True), (False, True, False, False), (False, False, True, False)],
)
@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(
    drawn=st.lists(
        st.one_of(st.sampled_from(EDGE_CHARACTERS), _NO_SURROGATES, st.sampled_from(["\r\n", "ab", " x "])),
        max_size=12,
    )
)
def test_the_visible_pattern_takes_exactly_what_the_reason_rule_takes(
    multiline: bool, stripped: bool, or_empty: bool, or_blank: bool, drawn: list[str]
) -> None:
    # A reason's schema states `visible_pattern`: Python's re (which schemathesis and hypothesis read it with) takes
    # exactly the strings the server takes, visible_characters and text_problem deciding.
    options = {"multiline": multiline, "stripped": stripped, "or_empty": or_empty, "or_blank": or_blank}
    pattern = re.compile(visible_pattern(MIN_REASON, **options), re.ASCII)
    raw = "".join(drawn)
    assert (pattern.fullmatch(raw) is not None) == _takes(raw, **options), ascii(raw)


@settings(max_examples=100, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_what_the_visible_pattern_draws_the_server_takes(data: st.DataObject) -> None:
    # hypothesis draws from the pattern itself (as schemathesis does for a schema-valid case), quickly and all taken.
    for multiline, stripped in ((True, False), (False, True)):
        pattern = re.compile(visible_pattern(multiline=multiline, stripped=stripped), re.ASCII)
        raw = data.draw(st.from_regex(pattern, fullmatch=True))
        assert _takes(raw, multiline=multiline, stripped=stripped, or_empty=False, or_blank=False), ascii(raw)


def test_the_visible_pattern_is_linear_on_a_long_refused_reason() -> None:
    # Each `[hidden]*[visible]` matches one way only: a refused 2,000-character reason is refused at once, not after
    # backtracking through every split (a long run of zero-width spaces with two visible characters).
    pattern = re.compile(visible_pattern(), re.ASCII)
    assert pattern.fullmatch("ab" + "\u200b" * 1998) is None
    assert pattern.fullmatch("ab" + "\u200b" * 1997 + "\U0001d400") is not None


def test_the_visible_pattern_sorts_every_code_point_as_the_text_rule_does() -> None:
    # The pattern's classes are built from one string of every code point's category (`_visible_ranges`): checked here
    # against the rule itself, a call of `visible_characters` per code point (surrogates aside, which no request can
    # carry), so a run joined across the surrogate gap or a blank look-alike left in would show.
    every = "".join(map(chr, (*range(0xD800), *range(0xE000, 0x110000))))
    shown = "".join(ch for ch in every if visible_characters(ch) == 1)
    assert "".join(chr(code) for low, high in _visible_ranges() for code in range(low, high + 1)) == shown
    assert "a" in shown and "\U0001d400" in shown and "\u3164" not in shown and "\ud7fb" in shown
    # And the classes the pattern is written with, over the BMP (the refused characters, the look-alikes, the gap).
    bmp = every[: 0x10000 - 0x800]
    for multiline in (True, False):
        shown_class, hidden_class, _, _ = _text_classes(multiline)
        allowed = [ch for ch in bmp if text_problem(ch, multiline=multiline) is None]
        assert re.findall(shown_class, bmp) == [ch for ch in allowed if visible_characters(ch) == 1]
        assert re.findall(hidden_class, bmp) == [ch for ch in allowed if visible_characters(ch) == 0]
        assert re.compile(visible_pattern(1, multiline=multiline)).fullmatch("\u200b" * 3 + shown[-1] + allowed[-1])
