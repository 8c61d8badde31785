"""Identity use cases: brands and configuration, staff and invites, the admin roster, logins, API keys."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from uuid import UUID, uuid4

import pytest

from domain.identity.api_key import ApiKeyNotFound
from domain.identity.application import Identity
from domain.identity.authentication import AccountLocked, LoginAttempt
from domain.identity.brand import BrandNotFound
from domain.identity.brand_config import CLOSE_OF_BUSINESS_ACTOR, BrandConfiguration
from domain.identity.permissions import Level, Permission
from domain.identity.principal import OPERATOR, AuthenticationFailed, Principal
from domain.identity.staff import LOCKOUT_AFTER, InviteInvalid, StaffNotFound, StaffUser
from domain.shared.aggregate import acting_as, with_id
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput, NotFound
from tests.application.conftest import in_memory

PASSWORD = "a-long-passphrase-1"


class PlainHasher:
    """A fast stand-in for argon2: the use cases only need hash and verify to agree."""

    def hash(self, password: str) -> str:
        return "sha256$" + hashlib.sha256(password.encode()).hexdigest()

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == self.hash(password)


class CountingThrottle:
    """The login throttle's contract (count before checking, refuse while locked) without the database."""

    def __init__(self) -> None:
        self.failures: dict[str, int] = {}
        self.locked: dict[str, datetime] = {}

    def admit_login(
        self, subject: str, now: datetime, lockout: Callable[[int, datetime], datetime | None]
    ) -> LoginAttempt:
        until = self.locked.get(subject)
        if until is not None and now < until:
            return LoginAttempt(False, self.failures[subject], until)
        self.failures[subject] = self.failures.get(subject, 0) + 1
        locked_until = lockout(self.failures[subject], now)
        if locked_until is not None:
            self.locked[subject] = locked_until
        return LoginAttempt(True, self.failures[subject], locked_until)

    def clear_login_failures(self, subject: str) -> None:
        self.failures.pop(subject, None)
        self.locked.pop(subject, None)


class EndedSessions:
    """Which staff users' sessions were ended."""

    def __init__(self) -> None:
        self.ended: list[UUID] = []

    def end_sessions_of(self, staff_id: UUID) -> int:
        self.ended.append(staff_id)
        return 1


@pytest.fixture
def sessions() -> EndedSessions:
    return EndedSessions()


@pytest.fixture
def identity(clock: FixedClock, sessions: EndedSessions) -> Identity:
    return in_memory(Identity, clock, hasher=PlainHasher(), login_throttle=CountingThrottle(), sessions=sessions)


@pytest.fixture
def brand(identity: Identity) -> UUID:
    return identity.create_brand("acme", "Acme Finance").id


def _events(identity: Identity, aggregate_id: UUID) -> list[str]:
    return [type(e).__name__ for e in identity.events.get(aggregate_id)]


def _head(identity: Identity) -> int:
    return identity.recorder.max_notification_id() or 0


def _admin(identity: Identity, brand: UUID, email: str = "admin@acme.in") -> UUID:
    return identity.create_staff(brand, email, "Asha Admin", ["admin"], PASSWORD, granter=OPERATOR).id


def _key_principal(identity: Identity, brand: UUID, role: str) -> Principal:
    """The principal of a fresh API key of `role` (the operator makes it)."""
    return identity.authenticate_api_key(identity.issue_api_key(brand, role, f"{role} key", granter=OPERATOR).secret)


# Brands and configuration ------------------------------------------------------------------------------------


def test_a_brand_starts_with_its_configuration_at_the_defaults(identity: Identity, clock: FixedClock) -> None:
    brand = identity.create_brand("acme", "  Acme   Finance ", "Asia/Dubai").id
    assert identity.brand_by_slug("acme").id == brand and identity.brand(brand).name == "Acme Finance"
    state = identity.configuration_state(brand)
    assert state.settings.timezone == "Asia/Dubai" and state.settings.min_age == 22
    assert state.business_date == date(2026, 11, 30)  # 14:00 in Dubai


def test_a_taken_slug_is_a_conflict_and_bad_values_name_each_field(identity: Identity) -> None:
    identity.create_brand("acme", "Acme Finance")
    head = _head(identity)
    with pytest.raises(Conflict):
        identity.create_brand("acme", "Another Acme")
    with pytest.raises(InvalidInput) as refused:
        identity.create_brand("Bad Slug!", "X", "Mars/Olympus")
    assert {e.field for e in refused.value.errors} == {"slug", "name", "timezone"}
    assert _head(identity) == head  # nothing recorded
    with pytest.raises(BrandNotFound):
        identity.brand_by_slug("nobody")


def test_configuration_changes_are_recorded_old_to_new_and_a_repeat_records_nothing(
    identity: Identity, brand: UUID
) -> None:
    result, changes = identity.change_configuration(brand, {"min_age": 21, "business_date": "2026-10-01"})
    assert result.changed and {(c.setting, c.old, c.new) for c in changes} == {
        ("min_age", 22, 21),
        ("business_date", None, "2026-10-01"),
    }
    state = identity.configuration_state(brand)
    assert state.business_date == date(2026, 10, 1) and state.version == identity.configuration(brand).version
    again, none = identity.change_configuration(brand, {"min_age": 21})
    assert (again.changed, again.position, none) == (False, 0, [])
    with pytest.raises(ConcurrentModification):
        identity.change_configuration(brand, {"min_age": 30}, expected_version=state.version - 1)


def test_a_business_date_an_admin_sets_is_held_and_one_only_the_close_of_business_moved_follows_the_calendar(
    identity: Identity, brand: UUID
) -> None:
    """Read from who set `business_date` last (the configuration's history): the COB moving the date on leaves a
    held brand held and a calendar-following one following; anyone else holds it at a date or, clearing it, lets
    it follow the calendar. Other settings change nothing of it, and a replay gives the same."""

    def move(actor: str, business_date: str | None, held: bool) -> None:
        with acting_as(actor):
            identity.change_configuration(brand, {"business_date": business_date})
        assert identity.business_date_held(brand) is held
        assert identity.configuration_state(brand).business_date_held is held

    assert not identity.business_date_held(brand)  # never set: today in its timezone
    move(CLOSE_OF_BUSINESS_ACTOR, "2026-11-01", held=False)  # the COB moved it on
    move(CLOSE_OF_BUSINESS_ACTOR, "2026-11-02", held=False)
    move("staff:" + str(uuid4()), "2026-11-10", held=True)  # an admin set it
    move(CLOSE_OF_BUSINESS_ACTOR, "2026-11-11", held=True)  # the COB moving a held date on: still held
    with acting_as("staff:" + str(uuid4())):
        identity.change_configuration(brand, {"min_age": 25})
    assert identity.business_date_held(brand)
    move("apikey:" + str(uuid4()), None, held=False)  # cleared: the calendar's again
    move("system", "2026-12-01", held=True)  # the CLI, a migration: held
    replayed = identity.repository.get(identity.configuration(brand).id)
    assert isinstance(replayed, BrandConfiguration) and replayed.business_date_held


def test_a_brand_created_at_a_fixed_business_date_is_held(identity: Identity, brand: UUID) -> None:
    settings = identity.settings(brand).changed({"business_date": "2026-10-01"})
    assert with_id(BrandConfiguration, uuid4(), brand_id=brand, settings=settings).business_date_held


# Staff and invites -----------------------------------------------------------------------------------------


def test_a_staff_user_created_with_an_invite_gets_both_in_one_transaction(
    identity: Identity, brand: UUID, clock: FixedClock
) -> None:
    created = identity.create_staff(brand, "Neha@Lender.in", "Neha Gupta", ["sales"], invite=True, granter=OPERATOR)
    assert created.invite is not None and created.invite.code.startswith("inv_")
    assert created.invite.position == created.position == _head(identity)
    assert created.invite.expires_at == clock.now() + timedelta(days=3)
    assert _events(identity, created.id) == ["Created", "InviteIssued"]
    assert (
        identity.staff(brand, created.id).email == "neha@lender.in"
        and not identity.staff(brand, created.id).has_password
    )


def test_an_invite_sets_the_password_once_and_expires(identity: Identity, brand: UUID, clock: FixedClock) -> None:
    created = identity.create_staff(brand, "neha@lender.in", "Neha Gupta", ["sales"], invite=True, granter=OPERATOR)
    assert created.invite is not None
    with pytest.raises(InvalidInput):
        identity.accept_invite(created.invite.code, "short")
    identity.accept_invite(created.invite.code, PASSWORD)
    with pytest.raises(InviteInvalid):
        identity.accept_invite(created.invite.code, "another-passphrase-2")
    assert identity.authenticate_staff("neha@lender.in", PASSWORD).id == created.id

    later = identity.issue_invite(brand, created.id, granter=OPERATOR)
    clock.instant += timedelta(days=3, seconds=1)
    with pytest.raises(InviteInvalid):
        identity.accept_invite(later.code, "another-passphrase-2")
    with pytest.raises(InviteInvalid):
        identity.accept_invite("inv_not-a-code", "another-passphrase-2")


def test_a_login_email_is_unique_across_brands_and_refusals_record_nothing(identity: Identity, brand: UUID) -> None:
    other = identity.create_brand("beta", "Beta Loans").id
    identity.create_staff(brand, "neha@lender.in", "Neha Gupta", ["sales"], granter=OPERATOR)
    head = _head(identity)
    with pytest.raises(Conflict):
        identity.create_staff(other, "NEHA@lender.in", "Neha Again", ["sales"], granter=OPERATOR)
    with pytest.raises(InvalidInput) as refused:
        identity.create_staff(brand, "not-an-email", "X", ["wizard"], "short", granter=OPERATOR)
    assert {e.field for e in refused.value.errors} == {"email", "name", "roles", "password"}
    assert _head(identity) == head


def test_staff_of_one_brand_are_not_found_from_another(identity: Identity, brand: UUID) -> None:
    other = identity.create_brand("beta", "Beta Loans").id
    staff = identity.create_staff(brand, "neha@lender.in", "Neha Gupta", ["sales"], granter=OPERATOR).id
    with pytest.raises(StaffNotFound):
        identity.staff(other, staff)
    with pytest.raises(NotFound):
        identity.update_staff(other, staff, name="Stolen", granter=OPERATOR)


def test_overrides_raise_lower_deny_and_return_to_the_role_default(identity: Identity, brand: UUID) -> None:
    staff = identity.create_staff(brand, "neha@lender.in", "Neha Gupta", ["collection_executive"], granter=OPERATOR).id
    identity.update_staff(brand, staff, permissions={"COLLECTIONS": "ALL", "CUSTOMER": "NONE"}, granter=OPERATOR)
    grants = identity.staff(brand, staff).grants
    assert grants[Permission.COLLECTIONS] is Level.ALL and Permission.CUSTOMER not in grants
    identity.update_staff(brand, staff, permissions={"CUSTOMER": None}, granter=OPERATOR)
    assert identity.staff(brand, staff).grants[Permission.CUSTOMER] is Level.READ
    with pytest.raises(InvalidInput) as refused:
        identity.update_staff(brand, staff, permissions={"TELEPORT": "READ", "LOANS": "MOST"}, granter=OPERATOR)
    assert {e.field for e in refused.value.errors} == {"permissions.TELEPORT", "permissions.LOANS"}


def test_a_reporting_cycle_and_a_manager_of_another_brand_are_refused(identity: Identity, brand: UUID) -> None:
    other = identity.create_brand("beta", "Beta Loans").id
    a = identity.create_staff(brand, "a@acme.in", "Alpha One", ["sales"], granter=OPERATOR).id
    b = identity.create_staff(brand, "b@acme.in", "Beta Two", ["sales"], manager_id=a, granter=OPERATOR).id
    c = identity.create_staff(brand, "c@acme.in", "Gamma Three", ["sales"], manager_id=b, granter=OPERATOR).id
    outsider = identity.create_staff(other, "x@beta.in", "Outside Person", ["sales"], granter=OPERATOR).id
    for manager in (c, a, outsider):
        with pytest.raises(InvalidInput) as refused:
            identity.update_staff(brand, a, manager_id=manager, granter=OPERATOR)
        assert refused.value.errors[0].field == "manager_id"
    identity.update_staff(brand, c, manager_id=None, granter=OPERATOR)
    assert identity.staff(brand, c).manager_id is None


def test_leave_may_not_end_before_it_starts_or_overlap(identity: Identity, brand: UUID) -> None:
    staff = identity.create_staff(brand, "neha@lender.in", "Neha Gupta", ["sales"], granter=OPERATOR).id
    with pytest.raises(InvalidInput):
        identity.schedule_leave(brand, staff, date(2026, 12, 10), date(2026, 12, 1), None)
    identity.schedule_leave(brand, staff, date(2026, 12, 1), date(2026, 12, 10), "wedding")
    with pytest.raises(Conflict):
        identity.schedule_leave(brand, staff, date(2026, 12, 9), date(2026, 12, 12), None)
    leave = next(iter(identity.staff(brand, staff).leaves))
    identity.cancel_leave(brand, staff, leave)
    assert identity.staff(brand, staff).leaves == {}


def test_a_leave_reason_with_nothing_visible_is_no_reason(identity: Identity, brand: UUID) -> None:
    staff = identity.create_staff(brand, "ravi@lender.in", "Ravi Kumar", ["sales"], granter=OPERATOR).id
    for day, reason in ((1, "\u200b\u200b"), (3, " \u2060 "), (5, "  "), (7, " wedding ")):
        identity.schedule_leave(brand, staff, date(2026, 12, day), date(2026, 12, day), reason)
    reasons = sorted((leave.start.day, leave.reason) for leave in identity.staff(brand, staff).leaves.values())
    assert reasons == [(1, None), (3, None), (5, None), (7, "wedding")]


# The admin roster ----------------------------------------------------------------------------------------------


def test_nobody_disables_themselves_or_leaves_a_brand_without_an_admin(identity: Identity, brand: UUID) -> None:
    admin = _admin(identity, brand)
    with pytest.raises(Conflict, match="yourself"):
        identity.set_enabled(brand, admin, False, actor_id=admin, granter=OPERATOR)
    with pytest.raises(Conflict, match="without an enabled admin"):
        identity.set_enabled(brand, admin, False, granter=OPERATOR)
    with pytest.raises(Conflict):
        identity.update_staff(brand, admin, actor_id=admin, roles=["sales"], granter=OPERATOR)
    with pytest.raises(Conflict, match="without an enabled admin"):
        identity.update_staff(brand, admin, roles=["sales"], granter=OPERATOR)


def test_disabling_ends_sessions_and_stops_passwords_and_owned_keys(
    identity: Identity, brand: UUID, sessions: EndedSessions
) -> None:
    _admin(identity, brand)
    worker = identity.create_staff(brand, "ops@acme.in", "Ops Person", ["admin"], PASSWORD, granter=OPERATOR).id
    key = identity.issue_api_key(brand, "loan_ops", "ops script", owner_id=worker, granter=OPERATOR)
    assert identity.authenticate_api_key(key.secret).brand_id == brand
    identity.set_enabled(brand, worker, False, granter=OPERATOR)
    assert sessions.ended == [worker]
    with pytest.raises(AuthenticationFailed):
        identity.authenticate_api_key(key.secret)
    with pytest.raises(AuthenticationFailed, match="invalid email or password"):
        identity.authenticate_staff("ops@acme.in", PASSWORD)
    identity.set_enabled(brand, worker, True, granter=OPERATOR)
    assert sessions.ended == [worker]  # enabling ends nothing
    assert identity.authenticate_api_key(key.secret).id == key.id


# Granters: who gives roles, permissions and companies --------------------------------------------------------------


def test_every_grant_names_its_granter_there_is_no_default(identity: Identity, brand: UUID) -> None:
    """Who gives is one required argument, a principal or the OPERATOR: a call that forgets it is refused before
    anything is saved, never run as someone who may give anything."""
    _admin(identity, brand)
    staff = identity.create_staff(brand, "neha@lender.in", "Neha Gupta", ["sales"], granter=OPERATOR).id
    head = _head(identity)
    forgetful: list[Callable[[], object]] = [
        lambda: identity.create_staff(brand, "sam@acme.in", "Sam Root", ["super_admin"], PASSWORD),
        lambda: identity.update_staff(brand, staff, roles=["admin"]),
        lambda: identity.update_staff_shown(brand, staff, None, roles=["admin"]),
        lambda: identity.set_enabled(brand, staff, False),
        lambda: identity.issue_invite(brand, staff),
        lambda: identity.issue_api_key(brand, "super_admin", "root"),
    ]
    for call in forgetful:
        with pytest.raises(TypeError, match="granter"):
            call()
    assert _head(identity) == head


def test_a_granter_gives_a_super_admin_only_when_cross_brand(identity: Identity, brand: UUID) -> None:
    """The granter's own `cross_brand` decides: a brand's admin (a principal holding every permission of its brand)
    neither gives the role nor changes its holder; a Super Admin and the OPERATOR do both."""
    _admin(identity, brand)
    admin, root = _key_principal(identity, brand, "admin"), _key_principal(identity, brand, "super_admin")
    assert (admin.cross_brand, root.cross_brand, OPERATOR.cross_brand) == (False, True, True)
    head = _head(identity)
    with pytest.raises(InvalidInput) as refused:
        identity.create_staff(brand, "sam@acme.in", "Sam Root", ["super_admin"], PASSWORD, granter=admin)
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("roles", "only a Super Admin may give the role 'super_admin'")
    ]
    with pytest.raises(InvalidInput, match="only a Super Admin may create a 'super_admin' key"):
        identity.issue_api_key(brand, "super_admin", "root", granter=admin)
    assert _head(identity) == head
    by_root = identity.create_staff(brand, "sam@acme.in", "Sam Root", ["super_admin"], PASSWORD, granter=root).id
    by_operator = identity.create_staff(brand, "ola@acme.in", "Ola Root", ["super_admin"], granter=OPERATOR).id
    head = _head(identity)
    for holder in (by_root, by_operator):
        for change in (
            partial(identity.update_staff, brand, holder, name="Taken Over", granter=admin),
            partial(identity.update_staff_shown, brand, holder, None, name="Taken Over", granter=admin),
            partial(identity.set_enabled, brand, holder, False, granter=admin),
            partial(identity.issue_invite, brand, holder, granter=admin),
        ):
            with pytest.raises(
                Conflict, match="only a Super Admin may change a staff user with the role 'super_admin'"
            ):
                change()
    assert _head(identity) == head
    identity.update_staff(brand, by_operator, name="Ola Platform", granter=root)
    identity.issue_invite(brand, by_root, granter=OPERATOR)
    identity.issue_api_key(brand, "super_admin", "root", granter=root)
    assert identity.staff(brand, by_operator).name == "Ola Platform"


# Logins --------------------------------------------------------------------------------------------------------


def test_a_login_gives_the_staff_principal_and_is_recorded(identity: Identity, brand: UUID) -> None:
    staff = identity.create_staff(
        brand, "neha@lender.in", "Neha Gupta", ["collection_executive"], PASSWORD, granter=OPERATOR
    ).id
    principal = identity.authenticate_staff(" Neha@Lender.in ", PASSWORD, "10.0.0.1", "Firefox")
    assert (principal.kind, principal.id, principal.brand_id, principal.actor) == (
        "staff",
        staff,
        brand,
        f"staff:{staff}",
    )
    assert principal.holds(Permission.COLLECTIONS, Level.WRITE) and not principal.holds("JOBS", "WRITE")
    assert _events(identity, staff)[-1] == "LoggedIn"


def test_every_refusal_is_the_same_answer_and_failures_lock_the_email(identity: Identity, brand: UUID) -> None:
    identity.create_staff(brand, "neha@lender.in", "Neha Gupta", ["sales"], PASSWORD, granter=OPERATOR)
    identity.create_staff(brand, "pending@lender.in", "Pending Person", ["sales"], granter=OPERATOR)  # no password yet
    answers = set()
    for email in ("nobody@lender.in", "pending@lender.in", "neha@lender.in"):
        with pytest.raises(AuthenticationFailed) as refused:
            identity.authenticate_staff(email, "wrong-guess-1")
        answers.add(refused.value.message)
    assert answers == {"invalid email or password"}
    for _ in range(LOCKOUT_AFTER - 1):
        with pytest.raises(AuthenticationFailed):
            identity.authenticate_staff("neha@lender.in", "wrong-guess-1")
    with pytest.raises(AccountLocked) as locked:
        identity.authenticate_staff("neha@lender.in", PASSWORD)  # even the right password, while locked
    assert int(str(locked.value.details["retry_after"])) > 0
    staff = identity.staff_by_email("neha@lender.in")
    assert staff.locked_until is not None and _events(identity, staff.id).count("LoginFailed") == LOCKOUT_AFTER


# API keys ------------------------------------------------------------------------------------------------------


def test_an_api_key_acts_with_its_role_in_its_brand_until_revoked(identity: Identity, brand: UUID) -> None:
    issued = identity.issue_api_key(brand, "collection_executive", "  dialer  ", granter=OPERATOR)
    assert issued.secret.startswith("cdk_") and (issued.label, issued.role) == ("dialer", "collection_executive")
    principal = identity.authenticate_api_key(issued.secret)
    assert (principal.kind, principal.brand_id, principal.roles) == ("apikey", brand, ("collection_executive",))
    identity.revoke_api_key(brand, issued.id)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        identity.authenticate_api_key(issued.secret)
    with pytest.raises(Conflict):
        identity.revoke_api_key(brand, issued.id)


def test_forged_keys_and_cross_brand_roles_are_refused(identity: Identity, brand: UUID) -> None:
    issued = identity.issue_api_key(brand, "sales", "crm", granter=OPERATOR)
    for token in ("cdk_nothex_secret", f"cdk_{issued.id.hex}_wrong", "Bearer x", f"xyz_{issued.id.hex}_s"):
        with pytest.raises(AuthenticationFailed):
            identity.authenticate_api_key(token)
    with pytest.raises(InvalidInput):
        identity.issue_api_key(brand, "super_admin", "root", granter=_key_principal(identity, brand, "admin"))
    with pytest.raises(InvalidInput):
        identity.issue_api_key(brand, "wizard", "x", granter=OPERATOR)
    root = identity.issue_api_key(brand, "super_admin", "root", granter=OPERATOR)
    principal = identity.authenticate_api_key(root.secret)
    other = identity.create_brand("beta", "Beta Loans").id
    assert principal.cross_brand and principal.within(other).home_brand_id == brand
    with pytest.raises(AuthenticationFailed):
        identity.authenticate_api_key(issued.secret).within(other)
    with pytest.raises(ApiKeyNotFound):
        identity.revoke_api_key(other, issued.id)
    with pytest.raises(ApiKeyNotFound):
        identity.revoke_api_key(brand, uuid4())


def test_a_staff_form_saved_while_another_admins_edit_lands_keeps_that_edit(
    identity: Identity, brand: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form showed the current version, so its whole content was applied - onto an edit another admin saved
    between the form's read and its save, putting the name they had just changed back without a word."""
    staff = identity.create_staff(brand, "ravi@acme.in", "Ravi Kumar", ["credit_executive"], granter=OPERATOR).id
    shown = identity.staff(brand, staff).version
    read = identity.staff
    landed: list[bool] = []

    def another_admin_saves_first(brand_id: UUID, staff_id: UUID) -> StaffUser:
        found = read(brand_id, staff_id)
        if not landed:
            landed.append(True)
            identity.update_staff(brand, staff, name="Ravi K. Menon", granter=OPERATOR)
        return found

    monkeypatch.setattr(identity, "staff", another_admin_saves_first)
    identity.update_staff_shown(
        brand, staff, shown, name="Ravi Kumar", email="ravi.k@acme.in", roles=["credit_executive"], granter=OPERATOR
    )
    monkeypatch.undo()
    now = identity.staff(brand, staff)
    assert landed and (now.name, now.email) == ("Ravi K. Menon", "ravi.k@acme.in")
