"""The OpenAPI document states the edge's input rules on every request string (tests/e2e/test_api_schema.py then
checks that a schema-valid request is not refused for them)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.openapi import build_openapi
from api.request_input import VISIBLE_MIN_REASON
from api.routes.callbacks import assigned_filter
from api.routes.insight import SearchQuery
from api.services.paylinks import CHANNELS
from domain.engagement.templates import Channel
from domain.identity.principal import Principal
from domain.loans.application_decisions import SEND_BACK_STEPS
from domain.loans.bre import CONFIGURABLE, MIN_OVERRIDE_JUSTIFICATION, OVERRIDABLE
from domain.onboarding.steps import LoanRequestIn, _text
from domain.shared.errors import InvalidInput, InvalidValue
from domain.shared.values import (
    DATE_PATTERN,
    INSTANT_PATTERN,
    MIN_REASON,
    MONEY,
    clean_text,
    parse_date,
    parse_instant,
    text_pattern,
    text_problem,
    visible_pattern,
)
from workers.contexts import CONTEXTS
from workers.platform import compose_web

DOCUMENT = build_openapi(compose_web(CONTEXTS).endpoints)
SCHEMAS = DOCUMENT["components"]["schemas"]


def _strings(schema: Any, seen: set[str]) -> list[dict[str, Any]]:
    """Every string schema within `schema` (through `$ref`s, once each)."""
    if isinstance(schema, list):
        return [found for item in schema for found in _strings(item, seen)]
    if not isinstance(schema, dict):
        return []
    found = [schema] if schema.get("type") == "string" else []
    if schema.get("type") == "object" and schema.get("additionalProperties", True) is not False:
        found.append({"type": "string", **schema.get("propertyNames", {})})  # its keys are strings too
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref not in seen:
        seen.add(ref)
        found += _strings(SCHEMAS[ref.rsplit("/", 1)[1]], seen)
    for key in ("anyOf", "oneOf", "allOf", "items", "additionalProperties"):
        found += _strings(schema.get(key), seen)
    found += _strings(list(schema.get("properties", {}).values()), seen)
    return found


def _request_strings() -> list[tuple[str, str, dict[str, Any]]]:
    strings = []
    for path, operations in DOCUMENT["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                for schema in _strings(param["schema"], set()):
                    strings.append((f"{method.upper()} {path} {param['name']}", param["in"], schema))
            content = op.get("requestBody", {}).get("content", {})
            for media in ("application/json", "multipart/form-data"):  # a form's text fields may hold lines too
                if media in content:
                    for schema in _strings(content[media]["schema"], set()):
                        strings.append((f"{method.upper()} {path} body", "body", schema))
    return strings


def test_every_request_string_says_what_it_may_hold() -> None:
    # A control or bidi-override character is refused in any string of a JSON body, and a tab or line break too in
    # a query, path or header value: a string that states nothing else (no pattern, choice or format) states that.
    unstated = [
        where
        for where, _, schema in _request_strings()
        if not {"pattern", "enum", "const", "format", "$ref"} & {*schema}
    ]
    assert unstated == []
    search = next(p for p in DOCUMENT["paths"]["/api/v1/search"]["get"]["parameters"] if p["name"] == "q")
    # Its own pattern (its 2 characters once folded, `test_the_search_query_states_...`) holds the one-line rule.
    assert text_pattern(multiline=False)[2:-3] in search["schema"]["pattern"]
    assert search["schema"]["minLength"] == 1  # required: an empty `q` is no `q` (422 "Field required")
    # A dictionary's keys are text too (`propertyNames`): the brand's settings have such dictionaries.
    config = DOCUMENT["paths"]["/api/v1/brand/config"]["patch"]["requestBody"]["content"]["application/json"]
    assert {"type": "string", "pattern": text_pattern()} in _strings(config["schema"], set())


def test_the_stated_text_patterns_refuse_what_the_edge_refuses() -> None:
    for where, location, schema in _request_strings():
        pattern = schema.get("pattern")
        if pattern in (text_pattern(), text_pattern(multiline=False)):
            single = location != "body"
            assert pattern == text_pattern(multiline=not single), where
            assert re.fullmatch(pattern[1:-1], "a\x00b") is None
            assert (re.fullmatch(pattern[1:-1], "a\tb") is None) == single
            assert text_problem("a\tb", multiline=not single) is None or single


def test_if_match_states_the_etag_it_reads() -> None:
    headers = [
        p["schema"]
        for operations in DOCUMENT["paths"].values()
        for op in operations.values()
        for p in op.get("parameters", [])
        if p["name"] == "If-Match"
    ]
    assert headers
    for schema in headers:
        pattern = schema["pattern"][1:-1]
        for sent in ('"3"', 'W/"12"', "7"):
            assert re.fullmatch(pattern, sent), sent
        for sent in ("", "abc", '"1_0"', '"٣"', '"3", "4"', "*"):
            assert re.fullmatch(pattern, sent) is None, sent


def test_an_instants_pattern_takes_only_offsets_some_zone_has() -> None:
    pattern = INSTANT_PATTERN[1:-1]
    for text in ("2026-12-01T18:00:00+05:30", "2026-12-01T18:00:00.123456Z", "1900-01-01T00:00:00-12:00",
                 "2200-12-31T23:59:59+14:00"):  # fmt: skip
        assert re.fullmatch(pattern, text), text
        parse_instant(text)
    for text in ("2026-12-01T18:00:00-18:08", "2026-12-01T18:00:00+14:01", "2026-12-01T18:00:00-12:01",
                 "2026-12-01t18:00:00z", "2026-12-01T18:00:00.1234567Z", "0001-01-01T00:00:00Z"):  # fmt: skip
        assert re.fullmatch(pattern, text) is None, text


def _taken(parse: Any, text: str) -> bool:
    try:
        parse(text, "at")
    except InvalidValue:
        return False
    return True


def _real(text: str, shape: str) -> bool:
    """Whether `text` is a real calendar date (time) - what `format: date` (`date-time`) adds to the pattern."""
    try:
        datetime.strptime(text, shape)
    except ValueError:
        return False
    return True


def test_a_dates_and_an_instants_patterns_with_their_format_take_what_the_parser_takes() -> None:
    # Months and days are spelled out (01-12, 01-31), hours, minutes and seconds too (no leap second): the pattern,
    # with the calendar's check that `format` states, takes exactly what the parser takes.
    dates = [f"{y}-{m:02}-{d:02}" for y in (1899, 1900, 2024, 2025, 2200, 2201) for m in range(14) for d in range(33)]
    for text in dates:
        stated = re.fullmatch(DATE_PATTERN, text) is not None and _real(text, "%Y-%m-%d")
        assert stated == _taken(parse_date, text), text
    times = [
        f"2024-02-29T{h:02}:{m:02}:{s:02}Z" for h in (0, 9, 19, 23, 24, 99) for m in (0, 59, 60) for s in (0, 59, 60)
    ]
    for text in [*times, *(f"{day}T10:00:00+05:30" for day in dates[::7])]:
        stated = re.fullmatch(INSTANT_PATTERN, text) is not None and _real(text[:19], "%Y-%m-%dT%H:%M:%S")
        assert stated == _taken(parse_instant, text), text
    # The pattern alone refuses a month, day, hour, minute or second out of range (what a client and a fuzzer read).
    for text in ("2024-00-10", "2024-13-10", "2024-01-00", "2024-01-32"):
        assert re.fullmatch(DATE_PATTERN, text) is None, text
    for text in ("2024-01-10T24:00:00Z", "2024-01-10T10:60:00Z", "2024-01-10T10:00:60Z"):
        assert re.fullmatch(INSTANT_PATTERN, text) is None, text


def _property(model: str, name: str) -> dict[str, Any]:
    return dict(SCHEMAS[model]["properties"][name])


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema's alternatives, nested `anyOf`s flattened, without `null`."""
    if "anyOf" not in schema:
        return [schema]
    return [o for option in schema["anyOf"] for o in _options(option) if o != {"type": "null"}]


def test_amounts_their_commands_refuse_at_zero_state_more_than_zero() -> None:
    # "must be more than 0" (parse_money(..., positive=True)): a schema-valid 0 was refused with a 422.
    amounts = [("PtpIn", "amount"), ("WaiverIn", "amount"), ("SettlementIn", "amount"), ("RepaymentIn", "amount"),
               ("CollectionIn", "amount"), ("PaymentLinkIn", "amount"), ("LoanIn", "amount"),
               ("ProductChangeIn", "amount"), ("CxApproveIn", "approved_amount"), ("SanctionIn", "sanctioned_amount"),
               ("CamIn", "recommended_amount"), ("LoanRequestIn", "amount"), ("MandateIn", "max_amount"),
               ("ProductIn", "min_amount"), ("ProductIn", "max_amount"), ("ProductPatch", "min_amount"),
               ("EmploymentIn", "monthly_salary")]  # fmt: skip
    for model, name in amounts:
        number, text = _options(_property(model, name))
        assert number["exclusiveMinimum"] == 0 and "minimum" not in number, (model, name)
        assert text["pattern"] == MONEY.json_schema(positive=True)["anyOf"][1]["pattern"], (model, name)  # type: ignore[index]
    # An amount that may be 0 (a CAM's existing EMIs) still says so.
    assert _options(_property("CamIn", "existing_emis"))[0]["minimum"] == 0


@pytest.mark.parametrize(
    "raw", ["0", "00", "0.0", "0.00", "000.00", "1", "0.01", "0.1", "0.10", "10", "10.5", "99999999999999.99",
            "00000000000001", "0.001", "-1", "1.", ".5", "1e3", "100000000000000"],
)  # fmt: skip
def test_a_positive_amounts_pattern_takes_exactly_what_more_than_0_takes(raw: str) -> None:
    pattern = str(MONEY.json_schema(positive=True)["anyOf"][1]["pattern"])  # type: ignore[index]
    try:
        taken = MONEY.validate(raw) > 0
    except ValueError:
        taken = False
    assert bool(re.fullmatch(pattern, raw)) == taken


def test_choices_the_server_checks_are_stated() -> None:
    assert _property("OverrideIn", "rule")["enum"] == list(OVERRIDABLE)
    assert _property("OverrideIn", "result")["enum"] == ["pass", "fail"]
    assert _property("BacktestRuleIn", "rule")["enum"] == list(CONFIGURABLE)
    assert _property("PaymentLinkIn", "channel")["enum"] == list(CHANNELS) == ["sms", "whatsapp"]
    assert _property("PreferencesIn", "opted_out")["items"]["enum"] == [c.value for c in Channel]
    send_back = SCHEMAS["api__routes__loan_decisions__SendBackIn"]
    assert _options(send_back["properties"]["step"])[0]["enum"] == list(SEND_BACK_STEPS)
    # A step only when sending back to the borrower: `to` is `borrower`, or there is no step.
    assert send_back["anyOf"] == [
        {"properties": {"to": {"const": "borrower"}}},
        {"properties": {"step": {"type": "null"}}},
    ]
    parameters = {
        (path, p["name"]): p["schema"]
        for path, operations in DOCUMENT["paths"].items()
        for op in operations.values()
        for p in op.get("parameters", [])
    }
    for path in ("/api/v1/collections/team", "/api/v1/collections/worklist", "/api/v1/credit/team-figures"):
        words, staff_id = _options(parameters[(path, "team")])
        assert words["enum"] == ["mine"] and staff_id == {"type": "string", "format": "uuid"}, path
    words, staff_id = _options(parameters[("/api/v1/customers", "agent")])
    assert words["enum"] == ["me", "none"] and staff_id == {"type": "string", "format": "uuid"}


@pytest.mark.parametrize(
    ("raw", "taken"),
    [("me", True), ("ME", True), (" Unassigned\u3000", True), ("unassigned", True), ("", False), ("  ", True),
     ("mine", False), ("un assigned", False), ("me\u200b", False), ("nobody", False)],
)  # fmt: skip
def test_assigned_to_states_the_words_the_queue_reads(raw: str, taken: bool) -> None:
    schema = next(
        p["schema"]
        for p in DOCUMENT["paths"]["/api/v1/callback-requests"]["get"]["parameters"]
        if p["name"] == "assigned_to"
    )
    words, staff_id = _options(schema)
    assert bool(re.fullmatch(words["pattern"][1:-1], raw)) == taken
    assert staff_id == {"type": "string", "format": "uuid"}
    staff = Principal("staff", uuid.uuid4(), uuid.uuid4(), "A B", ("admin",), {})
    try:
        if raw == "":  # the query edge (`parse_query`) refuses an empty value before `assigned_filter` reads it
            raise InvalidValue("assigned_to", "is empty; give a value or leave the parameter out")
        assigned_filter(raw, staff)
    except InvalidValue:
        assert not taken
    else:
        assert taken


def test_numbers_state_their_bounds_under_json_schemas_names() -> None:
    # An optional WholeNumber (a validator of its own before the integer) had its bounds written `ge`/`le`, which
    # JSON Schema ignores: `retry_count` of 0-20 was stated as any integer.
    assert _options(_property("JobSettingsPatch", "retry_count")) == [{"type": "integer", "minimum": 0, "maximum": 20}]
    assert not re.search(r'"(ge|le|gt|lt)":', json.dumps(DOCUMENT))


def test_a_form_field_is_never_null() -> None:
    # A multipart field holds text: "null" is no date (a receipt's `collected_on` was stated as date or null).
    form = DOCUMENT["paths"]["/api/v1/loans/{loan_id}/receipts"]["post"]["requestBody"]["content"]
    collected_on = form["multipart/form-data"]["schema"]["properties"]["collected_on"]
    assert collected_on["type"] == "string" and collected_on["format"] == "date" and "anyOf" not in collected_on
    assert "default" not in collected_on


@pytest.mark.parametrize(
    "raw", ["AB", " ab ", "\tX1\n", "ab-_9", "A" * 40, "", "  ", "a", "AB CD", "%?", "ab\u200b", "A" * 41],
)  # fmt: skip
def test_a_loan_requests_coupon_pattern_takes_what_the_request_takes(raw: str) -> None:
    # A schema-valid coupon code was refused: "a coupon code is letters, digits, - and _" (read trimmed, upper case).
    schema = _options(_property("LoanRequestIn", "coupon_code"))[0]
    stated = bool(re.fullmatch(schema["pattern"][1:-1], raw)) and len(raw) <= schema["maxLength"]
    body = {"product_id": str(uuid.uuid4()), "amount": "50000", "tenure": 12, "coupon_code": raw}
    try:
        LoanRequestIn.model_validate(body).checked(date(2026, 12, 1))
    except (ValidationError, InvalidInput):
        assert not stated
    else:
        assert stated


def test_a_form_field_states_the_text_rule_the_edge_applies() -> None:
    # Found by the acceptance check: a multipart form's text fields had no pattern, so a schema-valid upload with a
    # control character in `period_to` was refused (api/uploads.py applies the multi-line text rule to every field).
    form = DOCUMENT["paths"]["/api/v1/borrower/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]
    period_to = form["schema"]["properties"]["period_to"]
    stated = [option.get("pattern") for option in period_to.get("anyOf", [period_to]) if option.get("type") == "string"]
    assert stated and all(pattern is not None for pattern in stated)
    assert form["schema"]["properties"]["file"] == {**form["schema"]["properties"]["file"], "format": "binary"}


def test_a_reason_states_its_visible_characters() -> None:
    # A reason, remark or title (`description=VISIBLE_MIN_REASON`) states the rule its validator enforces as a
    # pattern: "   ", "ok" and zero-width characters are not a reason; its minLength alone would take them.
    reasons = [
        (where, schema) for where, _, schema in _request_strings() if schema.get("description") == VISIBLE_MIN_REASON
    ]
    assert len(reasons) > 20
    for where, schema in reasons:
        assert schema["minLength"] == MIN_REASON, where
        pattern = re.compile(schema["pattern"])
        assert schema["pattern"] in (visible_pattern(), visible_pattern(multiline=False, stripped=True)), where
        for refused in ("   ", "ok", "o\u200bk\u200b", "\u3164\u3164\u3164", "a\u0301\u0301"):
            assert pattern.fullmatch(refused) is None, (where, refused)
        assert pattern.fullmatch(" Asha paid\u00a0cash ") is not None, where


def test_a_patch_field_that_refuses_null_does_not_offer_it() -> None:
    # PATCH /staff/{id} and /customers/{id} refuse an explicit null (`refuse_null`: nothing is cleared); the schema
    # said `anyOf: [..., null]`, so a schema-valid PATCH was refused. `manager_id: null` means "no manager": kept.
    for path, never_null in (
        ("/api/v1/staff/{staff_id}", {"name", "email", "roles", "companies", "permissions", "available"}),
        (
            "/api/v1/customers/{customer_id}",
            {"name", "phone", "pan", "email", "date_of_birth", "addresses", "loan_numbers"},
        ),
    ):
        body = DOCUMENT["paths"][path]["patch"]["requestBody"]["content"]["application/json"]["schema"]
        properties = SCHEMAS[body["$ref"].rsplit("/", 1)[1]]["properties"]
        for name in never_null:
            assert {"type": "null"} not in properties[name].get("anyOf", []), (path, name)
            assert properties[name].get("type") != "null" and "default" not in properties[name], (path, name)
    staff = SCHEMAS[
        DOCUMENT["paths"]["/api/v1/staff/{staff_id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"][
            "$ref"
        ].rsplit("/", 1)[1]
    ]
    assert {"type": "null"} in staff["properties"]["manager_id"]["anyOf"]


def test_an_invite_password_states_its_length() -> None:
    accept = DOCUMENT["paths"]["/api/v1/invites/accept"]["post"]["requestBody"]["content"]["application/json"]
    password = SCHEMAS[accept["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]["password"]
    assert password["minLength"] == 10  # check_password's MIN_PASSWORD_LENGTH, code points as JSON Schema counts


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \t\n\u3000\u200b\u0085\x0b\x1f\u00a0é🙂\u2028")), max_size=6))
def test_the_search_query_states_its_two_characters_once_folded(raw: str) -> None:
    # A search is at least 2 characters once its whitespace is folded (a zero-width space is a character there), one
    # line without the characters the edge refuses: the document's pattern says so, as the server reads it.
    pattern = next(
        p["schema"]["pattern"] for p in DOCUMENT["paths"]["/api/v1/search"]["get"]["parameters"] if p["name"] == "q"
    )
    try:
        taken = text_problem(raw, multiline=False) is None and SearchQuery(q=raw) is not None
    except ValidationError:
        taken = False
    assert bool(re.fullmatch(pattern, raw)) == taken


_TEXT = st.text(alphabet=st.sampled_from(list("ab \t\n\r\u3000\u200b\u0301\x0b\x1f\u00a0é🙂\u2028\u202e")), max_size=6)


def _if_given(at_least: int, blank: bool, required: bool = False, multiline: bool = True) -> Any:
    """`clean_text(raw, multiline=multiline, min_visible=at_least)` where a value is given: "" (or, `blank`,
    whitespace only) is none, unless `required`."""

    def takes(raw: str, field: str) -> bool:
        if not required and not (raw.strip() if blank else raw):
            return True
        try:
            return bool(clean_text(raw, field, multiline=multiline, min_visible=at_least))
        except InvalidValue:
            return False

    return takes


def _step_text(raw: str, field: str) -> bool:
    """An onboarding step's text as the step reads it (`_text`: a visible character, one line once stripped)."""
    try:
        return bool(_text(raw, field))
    except InvalidValue:
        return False


@pytest.mark.parametrize(
    ("model", "field", "takes"),
    [
        ("PreferencesIn", "reason", _if_given(1, blank=False)),
        ("RatingIn", "note", _if_given(1, blank=False)),
        ("CancelRequestIn", "reason", _if_given(1, blank=True)),
        ("DeclineIn", "reason", _if_given(MIN_REASON, blank=True)),
        ("AgentIn", "reason", _if_given(MIN_REASON, blank=True)),
        ("NoteIn", "text", _if_given(1, blank=False, required=True)),
        ("RespondIn", "remarks", _if_given(MIN_REASON, blank=False, required=True)),
        ("ReturnIn", "reason", _if_given(MIN_REASON, blank=False, required=True)),
        ("OverrideIn", "justification", _if_given(MIN_OVERRIDE_JUSTIFICATION, blank=False, required=True)),
        ("AssignIn", "reason", _if_given(MIN_REASON, blank=False)),
        ("CallbackRequestIn", "note", _if_given(1, blank=True)),
        ("CovenantIn", "application_ref", _if_given(1, blank=False, required=True, multiline=False)),
        ("CovenantIn", "company", _if_given(1, blank=True, multiline=False)),
        # A borrower's address as staff and the borrower give it (`Address.checked`), the two models' components.
        *(
            (f"{module}__AddressIn", field, _if_given(1, blank=False, required=True, multiline=False))
            for module in ("api__routes__customers", "domain__onboarding__steps")
            for field in ("line1", "city")
        ),
        ("EmploymentIn", "company_name", _step_text),
        ("EmploymentIn", "designation", _step_text),
        ("EmploymentIn", "office_address", _step_text),
    ],
)
@settings(max_examples=300, deadline=None)
@given(raw=_TEXT)
def test_a_text_states_what_its_command_takes(model: str, field: str, takes: Any, raw: str) -> None:
    # Each command's own reading of its text, of what the edge lets through in a JSON body (`text_problem`).
    pattern = next(o["pattern"] for o in _options(_property(model, field)) if o.get("type") == "string")
    taken = text_problem(raw, multiline=True) is None and takes(raw, field)
    assert bool(re.fullmatch(pattern, raw)) == taken, raw
