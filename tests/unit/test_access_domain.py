from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.blocklist.entry import BlockKind, mask_blocked_value, normalise_blocked_value
from domain.identity.application import parse_overrides
from domain.identity.brand_config import BrandConfiguration, BrandSettings
from domain.identity.permissions import ROLES, Level, Permission, effective_grants, role_grants
from domain.identity.principal import Principal
from domain.identity.staff import Leave, StaffUser, lockout_until
from domain.shared.aggregate import with_id
from domain.shared.errors import Conflict, InvalidInput
from domain.shared.values import sees_company

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SPEC_PERMISSIONS = """CUSTOMER ONBOARDING_IN_PROGRESS ONBOARDING_COMPLETED RELOCATE_USER GLOBAL_SEARCH LOANS LOAN_OPS
SANCTION_MANAGER SANCTION_HEAD COMPLETED_LOANS LOAN_REACTIVATE LOAN_RULE_TYPE LOAN_RELOCATE LOAN_SEND_BACK
LOAN_FORCE_BYPASS PRE_COLLECTIONS COLLECTIONS POST_COLLECTIONS COLLECTION_REALLOCATE_LOANS BRAND_SETTINGS
PARTNER_USER_MANAGEMENT VIEW_DASHBOARD MASTER_REPORTS""".split()


def _verhoeff_complete(digits: str) -> str:
    from domain.blocklist.entry import _VERHOEFF_D, _VERHOEFF_P

    inv = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]
    check = 0
    for i, d in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[(i + 1) % 8][int(d)]]
    return digits + str(inv[check])


def test_every_spec_permission_and_role_exists() -> None:
    assert set(SPEC_PERMISSIONS) <= {p.value for p in Permission}
    assert set(ROLES) == {
        "credit_executive", "sanction_manager", "sanction_head", "collection_executive", "collection_manager",
        "collection_head", "loan_ops", "admin", "super_admin", "sales", "sales_manager", "sales_head",
    }  # fmt: skip
    assert all(level is Level.ALL for level in role_grants(["admin"]).values())


def test_overrides_raise_lower_and_deny_role_defaults() -> None:
    grants = effective_grants(
        ["collection_executive"],
        {Permission.COLLECTIONS: Level.ALL, Permission.CUSTOMER: None, Permission.JOBS: Level.READ},
    )
    assert grants[Permission.COLLECTIONS] is Level.ALL
    assert Permission.CUSTOMER not in grants
    assert grants[Permission.JOBS] is Level.READ
    assert role_grants(["sales", "sales_manager"])[Permission.RELOCATE_USER] is Level.WRITE
    assert role_grants(["sales_head"]) == role_grants(["sales_manager"])  # the spec's "Sales Manager / Head"


def test_override_parsing_names_each_bad_entry() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_overrides({"NOPE": "READ", "CUSTOMER": "SOMETIMES", "LOANS": "NONE"})
    assert {e.field for e in err.value.errors} == {"permissions.NOPE", "permissions.CUSTOMER"}


def _staff() -> StaffUser:
    return StaffUser(
        brand_id=uuid.uuid4(),
        email="a@b.in",
        name="A B",
        roles=["admin"],
        password_hash="x",
        companies=[],
        manager_id=None,
    )


def test_leave_rules() -> None:
    staff = _staff()
    with pytest.raises(InvalidInput):
        staff.schedule_leave(Leave(id=uuid.uuid4(), start=date(2026, 12, 5), end=date(2026, 12, 1)))
    staff.schedule_leave(Leave(id=uuid.uuid4(), start=date(2026, 12, 1), end=date(2026, 12, 5)))
    with pytest.raises(Conflict):
        staff.schedule_leave(Leave(id=uuid.uuid4(), start=date(2026, 12, 5), end=date(2026, 12, 6)))
    assert staff.on_leave(date(2026, 12, 3)) and not staff.on_leave(date(2026, 12, 6))


def test_failed_logins_lock_with_growing_backoff_and_success_resets() -> None:
    staff = _staff()
    for _ in range(4):
        staff.fail_login("1.2.3.4", "wrong password", NOW)
    assert not staff.is_locked(NOW)
    staff.fail_login("1.2.3.4", "wrong password", NOW)
    assert staff.is_locked(NOW + timedelta(seconds=59)) and not staff.is_locked(NOW + timedelta(minutes=1))
    staff.fail_login("1.2.3.4", "wrong password", NOW)
    assert staff.locked_until == NOW + timedelta(minutes=2)
    staff.record_login("1.2.3.4", "test")
    assert staff.failed_logins == 0 and staff.locked_until is None


def test_a_failure_counted_by_the_login_throttle_sets_the_lock_it_implies() -> None:
    staff = _staff()
    staff.fail_login("1.2.3.4", "wrong password", NOW, failures=7)  # two more were counted elsewhere meanwhile
    assert staff.locked_until == NOW + timedelta(minutes=4) and staff.failed_logins == 1
    assert lockout_until(4, NOW) is None and lockout_until(5, NOW) == NOW + timedelta(minutes=1)
    assert lockout_until(10_000, NOW) == NOW + timedelta(minutes=60)


def test_configuration_changes_record_old_and_new() -> None:
    config = with_id(BrandConfiguration, uuid.uuid4(), brand_id=uuid.uuid4(), settings=BrandSettings())
    changes = config.change({"min_age": 21, "dashboard_version": "V2", "sunday_off": True})
    assert [(c.setting, c.old, c.new) for c in changes] == [("min_age", 22, 21), ("dashboard_version", "V1", "V2")]
    assert config.settings.dashboard_version.value == "V2"
    with pytest.raises(InvalidInput) as err:
        config.change({"max_age": 20, "colour": "blue", "timezone": "Mars/Olympus"})
    assert {e.field for e in err.value.errors} == {"colour"}
    with pytest.raises(InvalidInput) as err:
        config.change({"max_age": 20, "timezone": "Mars/Olympus"})
    assert {e.field for e in err.value.errors} == {"max_age", "timezone"}


def test_a_new_timezone_names_a_place_but_a_recorded_one_still_loads() -> None:
    config = with_id(BrandConfiguration, uuid.uuid4(), brand_id=uuid.uuid4(), settings=BrandSettings())
    for name in ("localtime", "posixrules", "right/UTC", "Factory"):
        with pytest.raises(InvalidInput) as err:
            config.change({"max_age": 20, "timezone": name})
        assert {e.field for e in err.value.errors} == {"max_age", "timezone"}
    assert config.change({"timezone": "Asia/Dubai"})[0].new == "Asia/Dubai"
    # A change recorded before the rule replays (no context): only a new value is held to it.
    assert BrandSettings.model_validate({"timezone": "localtime"}).timezone == "localtime"


def test_blocked_values_are_normalised_and_checked() -> None:
    aadhaar = _verhoeff_complete("23412341234")
    assert normalise_blocked_value(BlockKind.AADHAAR, f"{aadhaar[:4]} {aadhaar[4:8]} {aadhaar[8:]}") == aadhaar
    wrong = aadhaar[:-1] + str((int(aadhaar[-1]) + 1) % 10)
    with pytest.raises(InvalidInput):
        normalise_blocked_value(BlockKind.AADHAAR, wrong)
    assert normalise_blocked_value(BlockKind.MOBILE, "098765-43210") == "+919876543210"
    assert normalise_blocked_value(BlockKind.PAN, "abcde1234f") == "ABCDE1234F"
    assert (
        normalise_blocked_value(BlockKind.BANK_ACCOUNT, "5010 0012 3456 78@hdfc0001234") == "50100012345678@HDFC0001234"
    )
    with pytest.raises(InvalidInput):
        normalise_blocked_value(BlockKind.PINCODE, "012345")
    assert mask_blocked_value(BlockKind.AADHAAR, aadhaar).endswith(aadhaar[-4:])
    assert aadhaar[:8] not in mask_blocked_value(BlockKind.AADHAAR, aadhaar)


def test_company_codes_are_kept_as_typed_and_compared_case_insensitively() -> None:
    # A staff user authorised for "sml": the record keeps the code as typed (shown so); the principal acting for them
    # compares it as SML, whatever case a record of the company was stored in.
    user = StaffUser(brand_id=uuid.uuid4(), email="a@b.in", name="A B", roles=["admin"], password_hash="x",
                     companies=["sml", "KFL"], manager_id=None)  # fmt: skip
    assert user.companies == ["sml", "KFL"]
    limited = Principal("staff", uuid.uuid4(), uuid.uuid4(), "A B", ("admin",), {}, tuple(user.companies))
    assert limited.companies == ("SML", "KFL") and limited.sees_company("SML") and limited.sees_company("kfl")
    assert not limited.sees_company("ABC")
    assert sees_company(["SML"], "sml") and sees_company(["sml"], "SML") and sees_company(["KFL"], None)
    assert not sees_company(["KFL"], "sml")
