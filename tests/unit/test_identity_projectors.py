"""The identity projectors: which rows each event writes (no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from domain.identity.api_key import ApiKey
from domain.identity.brand_config import BrandConfiguration, BrandSettings
from domain.identity.permissions import Level, Permission
from domain.identity.staff import Leave, StaffUser
from domain.shared.aggregate import with_id
from projections.brands import BrandDirectory
from projections.identity_projectors import ApiKeyList, BrandConfigHistory, StaffDirectory

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _staff_events() -> list[object]:
    staff = StaffUser(
        brand_id=uuid.uuid4(), email="neha@lender.in", name="Neha Gupta", roles=["sales"], password_hash="",
        companies=[], manager_id=None,
    )  # fmt: skip
    staff.edit_profile("Neha G", None)
    staff.override_permission(Permission.JOBS, Level.READ)
    staff.schedule_leave(Leave(id=uuid.uuid4(), start=date(2026, 12, 1), end=date(2026, 12, 2)))
    staff.issue_invite("hash", NOW)
    staff.fail_login("10.0.0.1", "wrong password", NOW, 1)
    staff.record_login("10.0.0.1", "Firefox")
    staff.disable()
    return list(staff.collect_events())


def test_every_staff_event_the_directory_reads_moves_the_row_and_its_version() -> None:
    directory = StaffDirectory()
    for position, event in enumerate(_staff_events(), 1):
        writes = list(directory.project(position, event))
        assert writes, type(event).__name__
        first = writes[0]
        assert first.sql.startswith("INSERT INTO read.staff" if position == 1 else "UPDATE read.staff SET")
        assert isinstance(first.params, tuple) and event.originator_version in first.params  # type: ignore[attr-defined]


def test_logins_add_a_line_of_history_with_their_outcome() -> None:
    events = _staff_events()
    failed, succeeded = events[5], events[6]
    _, line = StaffDirectory().project(7, failed)
    assert line.sql.startswith("INSERT INTO read.staff_logins")
    assert isinstance(line.params, tuple) and line.params[1:5] == (7, failed.timestamp, False, "10.0.0.1")  # type: ignore[attr-defined]
    assert "wrong password" in line.params
    _, line = StaffDirectory().project(8, succeeded)
    assert isinstance(line.params, tuple) and line.params[3] is True and "Firefox" in line.params


def test_events_of_other_aggregates_write_nothing() -> None:
    key = ApiKey(brand_id=uuid.uuid4(), label="crm", role="sales", secret_hash="h", prefix="abcdef", owner_id=None)
    (issued,) = key.collect_events()
    assert list(StaffDirectory().project(1, issued)) == []
    (write,) = ApiKeyList().project(1, issued)
    assert write.sql.startswith("INSERT INTO read.api_keys")


def test_a_configuration_change_writes_each_setting_and_a_new_timezone_reaches_the_brand() -> None:
    config = with_id(BrandConfiguration, uuid.uuid4(), brand_id=uuid.uuid4(), settings=BrandSettings())
    config.change({"min_age": 21, "timezone": "Asia/Dubai"})
    initialised, changed = config.collect_events()
    (owner,) = BrandConfigHistory().project(1, initialised)
    assert owner.sql.startswith("INSERT INTO read.brand_config_owner")
    writes = list(BrandConfigHistory().project(2, changed))
    assert [w.sql.split(" (")[0] for w in writes] == [
        "INSERT INTO read.brand_config_history",
        "INSERT INTO read.brand_config_history",
    ]
    # The brand directory's own projection of the same events moves its timezone (never another read model's).
    (linked,) = BrandDirectory().project(1, initialised)
    assert linked.sql.startswith("UPDATE read.brands SET config_id")
    moved = list(BrandDirectory().project(2, changed))
    assert [w.sql.split(" (")[0] for w in moved] == [
        "UPDATE read.brands SET timezone = %s WHERE config_id = %s",
        "INSERT INTO read.brand_timezones",
    ]
    assert all(w.params[-1] == config.id for w in moved)
