"""The committed event catalogue (docs/events/) agrees with the event models, and breaking changes are caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from domain.identity.staff import StaffUser
from domain.notices.notice import Notice
from domain.shared.aggregate import SECRET_FIELDS
from workers import event_catalogue
from workers.event_catalogue import breaking_changes, check, schema_of, schema_path


def test_committed_schemas_match_the_event_models() -> None:
    problems = check()
    assert problems == [], "\n".join(map(str, problems)) + "\nrun: covenant-desk events write"


def test_every_stored_event_type_has_a_schema_with_its_topic() -> None:
    classes = event_catalogue.event_classes()
    assert len(classes) > 60
    for cls in classes:
        schema = json.loads(schema_path(cls, cls.class_version).read_text())
        assert schema["x-topic"].endswith(cls.__qualname__) and "originator_id" in schema["properties"]


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    root = tmp_path / "events"
    shutil.copytree(event_catalogue.CATALOGUE, root)
    return root


def _edit(root: Path, change: Any) -> Path:
    path = schema_path(Notice.MarkedInactive, 1, root)
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema))
    return path


def test_a_field_the_code_no_longer_has_is_a_breaking_change(catalogue: Path) -> None:
    # As if the committed schema had a field that the model has since dropped.
    _edit(catalogue, lambda s: s["properties"].update(reason={"type": "string"}))
    (problem,) = [p for p in check(catalogue) if "MarkedInactive" in p.path]
    assert problem.breaking and "'reason' was removed" in problem.message and "upcast_v1_v2" in problem.message


def test_a_retyped_field_is_a_breaking_change(catalogue: Path) -> None:
    _edit(catalogue, lambda s: s["properties"].update(run_id={"type": "integer"}))
    (problem,) = [p for p in check(catalogue) if "MarkedInactive" in p.path]
    assert problem.breaking and "'run_id' changed type" in problem.message


def test_an_added_optional_field_only_asks_for_a_regeneration(catalogue: Path) -> None:
    _edit(catalogue, lambda s: s["properties"].pop("run_id"))  # the code has a field the catalogue lacks
    (problem,) = [p for p in check(catalogue) if "MarkedInactive" in p.path]
    assert not problem.breaking and "events write" in problem.message


def test_a_vanished_event_type_and_a_missing_upcaster_are_breaking(catalogue: Path) -> None:
    gone = catalogue / "notices" / "Notice.Withdrawn.v1.json"
    gone.write_text(json.dumps({"x-topic": "domain.notices.notice:Notice.Withdrawn", "x-class-version": 1}))
    newer = json.loads(schema_path(Notice.Matched, 1, catalogue).read_text()) | {"x-class-version": 2}
    (catalogue / "notices" / "Notice.Matched.v2.json").write_text(json.dumps(newer))
    problems = [p for p in check(catalogue) if p.breaking]
    assert any("Notice.Withdrawn is gone" in p.message for p in problems)
    assert any("version 2 is committed but the code is at 1" in p.message for p in problems)


def test_breaking_changes_look_inside_nested_models() -> None:
    new = schema_of(Notice.Imported)
    old = json.loads(json.dumps(new))
    old["$defs"]["NoticeFacts"]["properties"]["branch"] = {"type": "string"}
    assert breaking_changes(old, new) == ["NoticeFacts: field 'branch' was removed"]


def test_the_schemas_promise_no_credential_and_name_the_withheld_ones() -> None:
    """The relay withholds SECRET_FIELDS from every record (only at the payload's top level): the published schemas
    do not list them (`additionalProperties` is false, so a record carrying one is invalid) and say which."""
    withheld = {}
    for cls in event_catalogue.event_classes():
        committed = json.loads(schema_path(cls, cls.class_version).read_text())
        assert not SECRET_FIELDS & set(committed["properties"]) and not SECRET_FIELDS & set(committed["required"])
        assert committed["additionalProperties"] is False
        for definition in committed.get("$defs", {}).values():  # nested: the relay would not withhold it
            assert not SECRET_FIELDS & set(definition.get("properties", {})), cls.__qualname__
        if stored := sorted(SECRET_FIELDS & set(cls.model_fields)):
            withheld[cls.__qualname__] = committed["x-withheld"]
            assert committed["x-withheld"] == stored
    assert withheld == {
        "ApiKey.Issued": ["secret_hash"],
        "BorrowerAccount.CodeSent": ["code_hash"],
        "StaffUser.Created": ["password_hash"],
        "StaffUser.InviteAccepted": ["password_hash"],
        "StaffUser.InviteIssued": ["code_hash"],
        "StaffUser.PasswordChanged": ["password_hash"],
    }


def test_a_withheld_credential_is_not_a_removed_field() -> None:
    new = schema_of(StaffUser.PasswordChanged)
    assert new["x-withheld"] == ["password_hash"] and "password_hash" not in new["properties"]
    old = json.loads(json.dumps(new))
    old["properties"]["password_hash"] = {"type": "string"}  # as published before it was withheld
    old["properties"]["note"] = {"type": "string"}
    assert breaking_changes(old, new) == ["field 'note' was removed"]
