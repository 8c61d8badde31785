"""The OpenAPI document states the edge's input rules on every request string (tests/e2e/test_api_schema.py then
checks that a schema-valid request is not refused for them)."""

from __future__ import annotations

import re
from typing import Any

from api.openapi import build_openapi
from domain.shared.values import INSTANT_PATTERN, parse_instant, text_pattern, text_problem
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
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                for schema in _strings(body["schema"], set()):
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
    assert search["schema"]["pattern"] == text_pattern(multiline=False)
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
