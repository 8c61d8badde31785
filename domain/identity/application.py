"""Use cases of the identity context: brands and their configuration, staff users, invites, API keys.

Reading credentials (password logins, API keys, the principal) is `domain.identity.authentication`, which this
application extends; the principal itself is `domain.identity.principal`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, cast
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from domain.identity.api_key import ApiKey, ApiKeyNotFound
from domain.identity.authentication import API_KEY_PREFIX, INVITE_PREFIX, Authentication, secret_hash, split_token
from domain.identity.brand import Brand, BrandNotFound, check_slug, check_timezone
from domain.identity.brand_config import BrandConfiguration, BrandSettings, SettingChange
from domain.identity.permissions import CROSS_BRAND_ROLES, ROLES, Grants, Level, Permission, role_grants
from domain.identity.principal import Granter, Principal
from domain.identity.roster import ADMIN_ROLES, BrandAdmins
from domain.identity.staff import InviteInvalid, Leave, StaffNotFound, StaffUser, clean_companies
from domain.shared.aggregate import Aggregate, with_id
from domain.shared.application import CommandResult, ConcurrentModification
from domain.shared.clock import DEFAULT_TIMEZONE, brand_business_date, business_date
from domain.shared.errors import Conflict, DomainError, FieldChecks, FieldError, InvalidValue
from domain.shared.index import UniqueValue, index_id
from domain.shared.values import (
    check_date_range,
    clean_text,
    company_code,
    normalise_email,
    normalise_name,
    visible_characters,
)

INVITE_LIFETIME = timedelta(days=3)
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class IssuedInvite:
    """A fresh invite; `code` is shown once (and encoded in the QR code)."""

    staff_id: UUID
    code: str
    expires_at: datetime
    position: int


@dataclass(frozen=True)
class StaffCreated(CommandResult):
    """A new staff user, with their invite when one was asked for."""

    invite: IssuedInvite | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A freshly generated API key; `secret` is the full key, shown once."""

    id: UUID
    secret: str
    position: int
    label: str
    role: str


@dataclass(frozen=True)
class ConfigurationState:
    """A brand's settings, the configuration's version and the brand's business date (held at a date an admin set,
    or following the calendar: `Identity.business_date_held`)."""

    brand_id: UUID
    settings: BrandSettings
    version: int
    business_date: date
    business_date_held: bool = False
    #: Whether `settings.min_loan_amount` binds: the brand has set it (its starting value was never enforced).
    min_loan_amount_enforced: bool = False


def check_role(role: str, field: str = "role") -> str:
    """A role id must be one of the known roles."""
    if role not in ROLES:
        raise InvalidValue(field, f"unknown role '{role}' (known: {', '.join(sorted(ROLES))})")
    return role


def check_roles(roles: list[str]) -> list[str]:
    """At least one role, each known."""
    if not roles:
        raise InvalidValue("roles", "at least one role is required")
    checks = FieldChecks()
    for role in roles:
        checks.check(partial(check_role, role, "roles"))
    checks.raise_if_any()
    return roles


def check_cross_brand_grant(roles: list[str], granter: Granter) -> None:
    """Only a cross-brand granter (a Super Admin, or the OPERATOR) may give a cross-brand role: a brand's admin
    who could would make a staff member who reads and changes every other brand (422 naming `roles`)."""
    granted = sorted(CROSS_BRAND_ROLES & set(roles))
    if granted and not granter.cross_brand:
        raise InvalidValue("roles", f"only a Super Admin may give the role '{granted[0]}'")


def beyond(granted: Grants, wanted: Grants) -> list[str]:
    """The permissions `wanted` holds above what `granted` holds (`PERMISSION LEVEL`), in permission order."""
    return [
        f"{p.value} {level.value}"
        for p, level in sorted(wanted.items(), key=lambda item: list(Permission).index(item[0]))
        if not (granted.get(p) is not None and granted[p].covers(level))
    ]


def wider_companies(granter: Granter, companies: list[str] | tuple[str, ...]) -> bool:
    """True when `companies` (empty: every company) reach a company `granter` may not see."""
    mine = {company_code(c) for c in granter.companies}
    return bool(mine) and (not companies or not {company_code(c) for c in companies} <= mine)


def check_grant_within(granter: Granter, roles: list[str], field: str = "roles") -> None:
    """A granter (the staff member or key making the change, or the OPERATOR, who holds everything) gives only roles
    whose defaults it holds itself: whoever holds PARTNER_USER_MANAGEMENT or API_KEYS without being an admin would
    else make an admin - of someone else, of themselves, or of a key they keep (422 naming `field`)."""
    if not all(role in ROLES for role in roles):
        return
    above = beyond(granter.grants, role_grants(roles))
    if above:
        raise InvalidValue(field, f"you may give only what you hold yourself: {', '.join(roles)} holds {above[0]}")


def check_password(password: str) -> str:
    """Passwords have at least MIN_PASSWORD_LENGTH characters and are not all one kind of character."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValue("password", f"use at least {MIN_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise InvalidValue("password", "use a less repetitive password")
    return password


_DEFAULT = object()
UNCHANGED: Any = object()


def _own_changes(shown: dict[str, Any], wanted: dict[str, Any], now: dict[str, Any], record: Aggregate) -> list[str]:
    """The fields a form made from the record as `shown` changes (to `wanted`), to apply onto the record as it is
    `now`; a ConcurrentModification (409 naming the fields) when one of them was also changed since, to another
    value."""
    mine = [k for k in wanted if wanted[k] != shown[k]]
    clashes = sorted(k for k in mine if now[k] not in (shown[k], wanted[k]))
    if clashes:
        raise ConcurrentModification(
            f"changed since this page was opened (now version {record.version}): {', '.join(clashes)}; reload the "
            "page to see the current values, then make the change again",
            id=str(record.id),
            current_version=record.version,
            fields=clashes,
        )
    return mine


def _editable(staff: StaffUser) -> dict[str, Any]:
    """What the staff profile and permissions forms edit, comparably: permissions as the form writes them."""
    values: dict[str, Any] = {
        "name": staff.name,
        "email": staff.email,
        "roles": sorted(staff.roles),
        "companies": sorted(staff.companies),
        "manager_id": staff.manager_id,
        "available": staff.available,
    }
    for permission in Permission:
        shown: str | None = None  # the role default
        if permission in staff.overrides:
            level = staff.overrides[permission]
            shown = "NONE" if level is None else level.value
        values[f"permissions.{permission.value}"] = shown
    return values


def _wanted(
    was: dict[str, Any],
    name: str | None,
    email: str | None,
    roles: list[str] | None,
    companies: list[str] | None,
    manager_id: UUID | object | None,
    available: bool | None,
    permissions: dict[str, str | None] | None,
) -> dict[str, Any]:
    """The editable fields as a form sets them (what it leaves alone as shown), kept as `update_staff` would keep
    them; a value it would refuse stays as given (it differs, so it reaches `update_staff` and is refused there)."""
    wanted = dict(was)

    def kept(value: Any, keep: Callable[[Any], Any]) -> Any:
        try:
            return keep(value)
        except DomainError:
            return value

    if name is not None:
        wanted["name"] = kept(name, normalise_name)
    if email is not None:
        wanted["email"] = kept(email, lambda e: normalise_email(e).lower())
    if roles is not None:
        wanted["roles"] = sorted(set(roles))
    if companies is not None:
        wanted["companies"] = kept(companies, clean_companies)
    if manager_id is not UNCHANGED:
        wanted["manager_id"] = manager_id
    if available is not None:
        wanted["available"] = available
    for permission, level in (permissions or {}).items():
        wanted[f"permissions.{permission}"] = level
    return wanted


def parse_overrides(raw: dict[str, str | None]) -> dict[Permission, Level | object | None]:
    """Per-user overrides: READ/WRITE/ALL set the level, NONE denies, null returns to the role default."""
    checks = FieldChecks()
    parsed: dict[Permission, Level | object | None] = {}
    for name, level in raw.items():
        field = f"permissions.{name}"
        if name not in Permission.__members__:
            checks.errors.append(FieldError(field, f"unknown permission '{name}'"))
            continue
        if level is None:
            parsed[Permission(name)] = _DEFAULT
        elif level == "NONE":
            parsed[Permission(name)] = None
        elif level in Level.__members__:
            parsed[Permission(name)] = Level(level)
        else:
            checks.errors.append(FieldError(field, f"invalid level '{level}' (READ, WRITE, ALL, NONE or null)"))
    checks.raise_if_any()
    return parsed


def _companies_beyond(granter: Granter) -> str:
    return f"you may see only the companies {', '.join(granter.companies)}: give some of them, no others"


def _scoped_id(kind: str, brand_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"https://covenant-desk/{kind}/{brand_id}")


#: How many times a staff form's save is merged again onto an edit another admin saved in between.
STAFF_SAVE_ATTEMPTS = 3


@dataclass(frozen=True)
class _StaffForm:
    """What a staff profile or permissions form asks to change (None, or UNCHANGED for the manager: not asked)."""

    name: str | None
    email: str | None
    roles: list[str] | None
    companies: list[str] | None
    manager_id: UUID | object | None
    available: bool | None
    permissions: dict[str, str | None] | None

    def only(self, mine: set[str]) -> _StaffForm:
        """The form's changes to the fields in `mine` (the form changed them from what it showed), the rest not asked."""
        return _StaffForm(
            self.name if "name" in mine else None,
            self.email if "email" in mine else None,
            self.roles if "roles" in mine else None,
            self.companies if "companies" in mine else None,
            self.manager_id if "manager_id" in mine else UNCHANGED,
            self.available if "available" in mine else None,
            None
            if self.permissions is None
            else {p: level for p, level in self.permissions.items() if f"permissions.{p}" in mine},
        )


class Identity(Authentication):
    """Brands and their configuration, staff users, invites and API keys (credentials: `Authentication`)."""

    name = "identity"

    def __init__(self, *args: Any, cob_closed_through: Callable[[UUID], date | None] | None = None, **kwargs: Any):
        """`cob_closed_through(brand_id)`: the latest business date the brand's close of business has processed
        (None: none yet); a business date may not move back to it or before (`change_configuration`)."""
        super().__init__(*args, **kwargs)
        self._cob_closed_through = cob_closed_through

    # Brands -----------------------------------------------------------------

    def create_brand(self, slug: str, name: str, timezone: str = DEFAULT_TIMEZONE) -> CommandResult:
        """Create a brand with a unique slug and its configuration at the defaults."""
        checks = FieldChecks()
        checks.check(lambda: check_slug(slug))
        clean_name = checks.check(lambda: normalise_name(name))
        checks.check(lambda: check_timezone(timezone))
        checks.raise_if_any()
        assert clean_name is not None
        if self.find(index_id("brand_slug", None, slug)) is not None:
            raise Conflict(f"brand slug '{slug}' is taken", field="slug")
        brand = Brand(slug=slug, name=clean_name, timezone=timezone)
        claim = UniqueValue.claim(None, "brand_slug", slug, brand.id)
        config = with_id(
            BrandConfiguration,
            _scoped_id("config", brand.id),
            brand_id=brand.id,
            settings=BrandSettings(timezone=timezone),
        )
        return self.commit(brand, claim, config)

    def brand(self, brand_id: UUID) -> Brand:
        """The brand with the id."""
        return self.load(Brand, brand_id, None, BrandNotFound)

    def brand_by_slug(self, slug: str) -> Brand:
        """The brand with the slug."""
        index = self.find(index_id("brand_slug", None, slug))
        if not isinstance(index, UniqueValue) or index.owner_id is None:
            raise BrandNotFound(f"no brand with slug '{slug}'", slug=slug)
        return self.brand(index.owner_id)

    def configuration(self, brand_id: UUID) -> BrandConfiguration:
        """The brand's configuration, a copy of its own to change (`find_latest`: not a replay of every change it
        ever had, one a day for a held brand)."""
        config = self.find_latest(_scoped_id("config", brand_id))
        if isinstance(config, BrandConfiguration):
            return config
        brand = self.brand(brand_id)  # NotFound for an unknown brand
        # A brand created before configurations existed starts from the defaults (saved with its first change).
        return with_id(
            BrandConfiguration,
            _scoped_id("config", brand_id),
            brand_id=brand_id,
            settings=BrandSettings(timezone=brand.timezone),
        )

    def _configuration_now(self, brand_id: UUID) -> BrandConfiguration:
        """The brand's configuration as it is now, to read, not to change (a command changes the one `configuration`
        gives). Every request asks for a brand's settings, most of them several times (its business date, timezone,
        calendar, allocation rules): `find_kept` spares a replay of the brand and every change its configuration
        ever had, nor a copy, at each ask."""
        config = self.find_kept(_scoped_id("config", brand_id))
        return config if isinstance(config, BrandConfiguration) else self.configuration(brand_id)

    def settings(self, brand_id: UUID) -> BrandSettings:
        """The brand's current settings."""
        return self._configuration_now(brand_id).settings

    def loan_minimum(self, brand_id: UUID) -> Decimal | None:
        """The smallest loan amount the brand allows, once it has set one (`BrandConfiguration.loan_minimum`)."""
        return self._configuration_now(brand_id).loan_minimum

    def timezone(self, brand_id: UUID) -> str:
        """The brand's business-day timezone: its configured setting (the brand record's `timezone` is only the one
        it was created with)."""
        return self.settings(brand_id).timezone

    def change_configuration(
        self, brand_id: UUID, updates: dict[str, Any], expected_version: int | None = None
    ) -> tuple[CommandResult, list[SettingChange]]:
        """Change settings (each change recorded old -> new with the actor); unknown or invalid -> 422."""
        config = self.configuration(brand_id)
        self.check_version(config, expected_version)
        before = brand_business_date(self.clock.now(), config.settings.timezone, config.settings.business_date)
        changes = config.change(updates)
        if not changes:
            return CommandResult(id=config.id, position=0, changed=False), []
        self._check_business_date_move(brand_id, before, config.settings)
        return self.commit(config), changes

    def _check_business_date_move(self, brand_id: UUID, before: date, settings: BrandSettings) -> None:
        """Refuse (409, nothing saved) a change that takes the business date back to a date the close of business
        has already processed: a fixed `business_date` set earlier, cleared (`null`: today in the brand's
        timezone) while it runs ahead of today, or a new `timezone` whose today is behind. COB processes a date
        once (LENDING.md), so such a date could never be closed again: DPD, penal charges and the payoff would be
        shown as of a day whose charges the loans already carry, and the next COB run would silently put the
        business date back after the last processed date. Moving forward, or back to a date not yet processed,
        is allowed."""
        after = brand_business_date(self.clock.now(), settings.timezone, settings.business_date)
        if after >= before or self._cob_closed_through is None:
            return
        closed = self._cob_closed_through(brand_id)
        if closed is not None and after <= closed:
            earliest = closed + timedelta(days=1)
            raise Conflict(
                f"the business date cannot go back to {after.isoformat()}: the close of business has processed "
                f"every date through {closed.isoformat()}, and a date is closed once; the earliest business date "
                f"is {earliest.isoformat()}",
                field="business_date",
                cob_closed_through=closed.isoformat(),
                earliest=earliest.isoformat(),
            )

    def change_configuration_shown(
        self, brand_id: UUID, updates: dict[str, Any], shown_version: int | None
    ) -> tuple[CommandResult, list[SettingChange]]:
        """Save a settings form made from version `shown_version` of the configuration: only the settings it
        changes from what it showed are applied, onto the settings as they are now. A setting changed since then
        elsewhere (another admin, or the close of business moving the business date) keeps its new value unless
        the form changed it too: then nothing is saved (Conflict naming each such setting). Without
        `shown_version`, every setting of `updates` is applied, as `change_configuration` does."""
        config = self.configuration(brand_id)
        if shown_version is None:
            return self.change_configuration(brand_id, updates, config.version)
        if shown_version == config.version:
            # Only what the form changed: a whole-record form posting `min_loan_amount` as it showed it does not set
            # the brand's minimum (BrandConfiguration.loan_minimum); the API's PATCH naming it does.
            wanted = config.settings.changed(updates).model_dump(mode="json")
            now = config.settings.model_dump(mode="json")
            return self.change_configuration(
                brand_id, {k: v for k, v in updates.items() if wanted[k] != now[k]}, config.version
            )
        if not 1 <= shown_version < config.version:
            raise InvalidValue("expected_version", f"the configuration has no version {shown_version}")
        shown = cast(BrandConfiguration, self.repository.get(config.id, version=shown_version)).settings
        shown_json = shown.model_dump(mode="json")
        wanted_json = shown.changed(updates).model_dump(mode="json")  # validated as the form meant it
        current_json = config.settings.model_dump(mode="json")
        mine = _own_changes(shown_json, {k: wanted_json[k] for k in updates}, current_json, config)
        return self.change_configuration(brand_id, {k: wanted_json[k] for k in mine}, config.version)

    def configuration_state(self, brand_id: UUID) -> ConfigurationState:
        """The brand's settings with the configuration's version and the business date."""
        config = self._configuration_now(brand_id)
        settings = config.settings
        today = brand_business_date(self.clock.now(), settings.timezone, settings.business_date)
        return ConfigurationState(
            brand_id, settings, config.version, today, config.business_date_held, config.loan_minimum is not None
        )

    def business_date(self, brand_id: UUID) -> date:
        """The brand's business date: the configured one, else today in its timezone."""
        settings = self.settings(brand_id)
        return brand_business_date(self.clock.now(), settings.timezone, settings.business_date)

    def business_date_held(self, brand_id: UUID) -> bool:
        """Whether the brand is held at its business date: someone other than the close of business set it last
        (an admin, an API key, the CLI; the COB moving a held date on keeps it held). Else - never set, cleared
        since, or only ever moved on by the COB - it follows the calendar, and its scheduled close of business runs
        as of the slot's day, closing every date it missed (`brand_config.business_date_held_by`)."""
        return self._configuration_now(brand_id).business_date_held

    def as_of_window(self, brand_id: UUID) -> tuple[date, date]:
        """The dates the brand's job runs may be as of: from its first business day to its business date.

        The first business day is the day the brand was created, in its timezone — or the earliest business date
        it has ever been held at when that is earlier (a brand operated as of a past date, e.g. while its book is
        migrated): the days it has operated on since stay in the window as its business date moves on (the close
        of business advancing it), so a job may be rerun as of one of them.
        """
        config = self._configuration_now(brand_id)  # every job run asked for reads it
        settings = config.settings
        created = business_date(self.brand(brand_id).created_on, settings.timezone)  # NotFound for an unknown brand
        latest = brand_business_date(self.clock.now(), settings.timezone, settings.business_date)
        held = getattr(config, "earliest_business_date", None) or latest
        return min(created, held, latest), latest

    # Staff ------------------------------------------------------------------

    def create_staff(
        self,
        brand_id: UUID,
        email: str,
        name: str,
        roles: list[str],
        password: str | None = None,
        companies: list[str] | None = None,
        manager_id: UUID | None = None,
        invite: bool = False,
        *,
        granter: Granter,
    ) -> StaffCreated:
        """Create a staff user (login email unique across the platform); without a password they need an invite,
        issued in the same transaction when `invite` is set. The `granter` (the principal making the request, or the
        OPERATOR) gives a cross-brand role (Super Admin) only when it is cross-brand (`check_cross_brand_grant`), and
        only roles and companies within its own (`check_grant_within`, `wider_companies`)."""
        self.brand(brand_id)
        checks = FieldChecks()
        clean_email = checks.check(lambda: normalise_email(email).lower())
        clean_name = checks.check(lambda: normalise_name(name))
        if checks.check(lambda: check_roles(roles)) is not None:
            checks.check(lambda: check_cross_brand_grant(roles, granter))
            checks.check(lambda: check_grant_within(granter, roles))
        kept = checks.check(lambda: clean_companies(companies or []))
        if kept is not None and wider_companies(granter, kept):
            checks.errors.append(FieldError("companies", _companies_beyond(granter)))
        if password is not None:
            checks.check(lambda: check_password(password))
        checks.raise_if_any()
        assert clean_email is not None and clean_name is not None
        if manager_id is not None:
            self.staff(brand_id, manager_id)
        staff = StaffUser(
            brand_id=brand_id,
            email=clean_email,
            name=clean_name,
            roles=sorted(set(roles)),
            password_hash=self.hasher.hash(password) if password else "",
            companies=clean_companies(companies or []),
            manager_id=manager_id,
        )
        claim = self._claim_email(clean_email, staff.id)
        code = self._invite(staff, INVITE_LIFETIME) if invite else None
        result = self.commit(staff, claim, self._roster_tracking(staff))
        issued = IssuedInvite(staff.id, *code, result.position) if code else None
        return StaffCreated(result.id, result.position, result.changed, issued)

    def update_staff(
        self,
        brand_id: UUID,
        staff_id: UUID,
        *,
        actor_id: UUID | None = None,
        expected_version: int | None = None,
        name: str | None = None,
        email: str | None = None,
        roles: list[str] | None = None,
        companies: list[str] | None = None,
        manager_id: UUID | object | None = UNCHANGED,
        permissions: dict[str, str | None] | None = None,
        available: bool | None = None,
        granter: Granter,
    ) -> CommandResult:
        """Edit a staff user; `permissions` maps PERMISSION to READ/WRITE/ALL, NONE (deny) or null (role default).
        A cross-brand role is given, and a staff user holding one is edited, only by a cross-brand `granter`. The
        `granter` edits only staff holding no more than it does, and leaves them so (`_check_outranks`)."""
        staff = self.staff(brand_id, staff_id)
        self._check_cross_brand_holder(staff, granter)
        self._check_outranks(staff, granter)
        self.check_version(staff, expected_version)
        checks = FieldChecks()
        clean_email = checks.check(lambda: normalise_email(email).lower()) if email is not None else None
        clean_name = checks.check(lambda: normalise_name(name)) if name is not None else None
        if roles is not None and checks.check(lambda: check_roles(roles)) is not None:
            checks.check(lambda: check_cross_brand_grant(roles, granter))
        overrides = checks.check(lambda: parse_overrides(permissions or {})) or {}
        checks.raise_if_any()

        others: list[Aggregate | None] = []
        if clean_email is not None and clean_email != staff.email:
            others.append(self._claim_email(clean_email, staff.id))
            old = self.find(index_id("staff_email", None, staff.email))
            if isinstance(old, UniqueValue):
                old.release()
                others.append(old)
        staff.edit_profile(clean_name, clean_email)
        if roles is not None:
            if actor_id == staff.id and not (ADMIN_ROLES & set(roles)) and ADMIN_ROLES & set(staff.roles):
                raise Conflict("you cannot remove your own admin role")
            staff.assign_roles(roles)
        if companies is not None:
            staff.authorise_companies(companies)
        if manager_id is not UNCHANGED:
            self._check_manager(staff, manager_id)  # type: ignore[arg-type]
            staff.assign_manager(manager_id)  # type: ignore[arg-type]
        for permission, level in overrides.items():
            if level is _DEFAULT:
                staff.clear_override(permission)
            else:
                staff.override_permission(permission, level)  # type: ignore[arg-type]
        if available is not None:
            staff.set_availability(available)
        self._check_within_granter(staff, granter, roles)
        others.append(self._roster_tracking(staff))
        return self.commit(staff, *others)

    def update_staff_shown(
        self,
        brand_id: UUID,
        staff_id: UUID,
        shown_version: int | None,
        *,
        actor_id: UUID | None = None,
        name: str | None = None,
        email: str | None = None,
        roles: list[str] | None = None,
        companies: list[str] | None = None,
        manager_id: UUID | object | None = UNCHANGED,
        available: bool | None = None,
        permissions: dict[str, str | None] | None = None,
        granter: Granter,
    ) -> CommandResult:
        """Save a staff profile or permissions form made from version `shown_version` of the staff user: only what
        the form changes from what it showed is applied, onto the user as they are now (`update_staff`). Their
        logins move the version without touching the form's fields; a field changed since elsewhere (another admin)
        keeps its new value unless the form changed it too: then nothing is saved (Conflict naming each field).
        `permissions` is the form's whole choice (a permission at null: the role default). The save is pinned to the
        version the merge read: another admin's edit landing in between is merged in again (up to STAFF_SAVE_ATTEMPTS
        times), never put over."""
        form = _StaffForm(name, email, roles, companies, manager_id, available, permissions)
        for attempt in range(1, STAFF_SAVE_ATTEMPTS + 1):
            staff = self.staff(brand_id, staff_id)
            changes = form
            if shown_version is not None and shown_version != staff.version:
                if not 1 <= shown_version < staff.version:
                    raise InvalidValue("expected_version", f"the staff user has no version {shown_version}")
                shown = cast(StaffUser, self.repository.get(staff.id, version=shown_version))
                was, now = _editable(shown), _editable(staff)
                wanted = _wanted(was, name, email, roles, companies, manager_id, available, permissions)
                changes = form.only(set(_own_changes(was, wanted, now, staff)))
            try:
                return self.update_staff(
                    brand_id,
                    staff_id,
                    actor_id=actor_id,
                    expected_version=staff.version,  # what the merge read: an edit since is merged again
                    name=changes.name,
                    email=changes.email,
                    roles=changes.roles,
                    companies=changes.companies,
                    manager_id=changes.manager_id,
                    available=changes.available,
                    permissions=changes.permissions,
                    granter=granter,
                )
            except ConcurrentModification:
                if attempt == STAFF_SAVE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def _claim_email(self, email: str, staff_id: UUID) -> UniqueValue:
        """The login email's index claimed for `staff_id`: a new claim, or a released one (its holder changed email)
        claimed again; 409 while a staff user holds it. Two claims at once collide on the index's next version."""
        index = self.find(index_id("staff_email", None, email))
        if not isinstance(index, UniqueValue):
            return UniqueValue.claim(None, "staff_email", email, staff_id)
        if index.owner_id is not None:
            raise Conflict(f"a staff user with email {email} exists", field="email")
        index.reclaim(staff_id)
        return index

    def _check_manager(self, staff: StaffUser, manager_id: UUID | None) -> None:
        """The manager must be in the brand and must not (indirectly) report to `staff`."""
        seen = {staff.id}
        current = manager_id
        while current is not None:
            if current in seen:
                raise InvalidValue("manager_id", "this would make a reporting cycle")
            seen.add(current)
            try:
                current = self.staff(staff.brand_id, current).manager_id
            except StaffNotFound:
                raise InvalidValue("manager_id", f"no staff user {current} in this brand") from None

    def _check_cross_brand_holder(self, staff: StaffUser, granter: Granter) -> None:
        """A staff user holding a cross-brand role is changed (edited, disabled or enabled, invited again) only by a
        cross-brand granter: a brand's admin who could would take over, or switch off, an account that acts in every
        brand (an invite sets its password; an email change sends the next invite elsewhere). 409."""
        held = sorted(CROSS_BRAND_ROLES & set(staff.roles))
        if held and not granter.cross_brand:
            raise Conflict(f"only a Super Admin may change a staff user with the role '{held[0]}'")

    def _check_outranks(self, staff: StaffUser, granter: Granter) -> None:
        """A granter changes (edits, disables or enables, invites again) only a staff user holding no permission above
        its own and no company it may not see: one who held PARTNER_USER_MANAGEMENT without being an admin would else
        take over an admin's account (a new email or invite, then a password of their choosing) or switch it off. 409.
        """
        above = beyond(granter.grants, staff.grants)
        if above or wider_companies(granter, staff.companies):
            held = above[0] if above else "companies " + (", ".join(staff.companies) or "(every company)")
            raise Conflict(
                f"only someone holding everything they hold may change this staff user (they hold {held})",
                permission=above[0].split()[0] if above else None,
            )

    def _check_within_granter(self, staff: StaffUser, granter: Granter, roles: list[str] | None) -> None:
        """The staff user as edited holds nothing above the granter (422 naming `roles`, `permissions.<P>` or
        `companies`): nobody raises themselves or another above what they hold."""
        if roles is not None:
            check_grant_within(granter, roles)
        above = beyond(granter.grants, staff.grants)
        if above:
            raise InvalidValue(
                f"permissions.{above[0].split()[0]}", f"you may give only what you hold yourself: not {above[0]}"
            )
        if wider_companies(granter, staff.companies):
            raise InvalidValue("companies", _companies_beyond(granter))

    def set_enabled(
        self,
        brand_id: UUID,
        staff_id: UUID,
        enabled: bool,
        actor_id: UUID | None = None,
        *,
        granter: Granter,
    ) -> CommandResult:
        """Disable (not yourself, not the last admin) or enable a staff user (one holding a cross-brand role only
        by a cross-brand `granter`; one holding more than the `granter` not by it)."""
        staff = self.staff(brand_id, staff_id)
        self._check_cross_brand_holder(staff, granter)
        self._check_outranks(staff, granter)
        if enabled:
            staff.enable()
        else:
            if actor_id == staff.id:
                raise Conflict("you cannot disable yourself")
            staff.disable()
        result = self.commit(staff, self._roster_tracking(staff))
        if not enabled:
            self.end_sessions_of(staff.id)  # they stop at once (a disabled user's session is refused anyway)
        return result

    def schedule_leave(
        self, brand_id: UUID, staff_id: UUID, start: date, end: date, reason: str | None
    ) -> CommandResult:
        """Record leave dates (end before start -> 422, overlapping leave -> 409); a reason with nothing visible in
        it (blank, or only zero-width characters) is no reason."""
        staff = self.staff(brand_id, staff_id)
        checks = FieldChecks()
        checks.check(lambda: check_date_range(start, "start"))
        checks.check(lambda: check_date_range(end, "end"))
        why = checks.check(lambda: clean_text(reason, "reason", multiline=True, min_visible=0)) if reason else None
        checks.raise_if_any()
        shown = why if why and visible_characters(why) else None
        staff.schedule_leave(Leave(id=uuid4(), start=start, end=end, reason=shown))
        return self.commit(staff)

    def cancel_leave(self, brand_id: UUID, staff_id: UUID, leave_id: UUID) -> CommandResult:
        """Cancel planned leave."""
        staff = self.staff(brand_id, staff_id)
        staff.cancel_leave(leave_id)
        return self.commit(staff)

    def issue_invite(
        self,
        brand_id: UUID,
        staff_id: UUID,
        valid_for: timedelta = INVITE_LIFETIME,
        *,
        granter: Granter,
    ) -> IssuedInvite:
        """A one-time, expiring invite code (it replaces earlier ones); only its hash is stored. For a staff user
        holding a cross-brand role only by a cross-brand `granter`; one holding more than the `granter` not by it."""
        staff = self.staff(brand_id, staff_id)
        self._check_cross_brand_holder(staff, granter)
        self._check_outranks(staff, granter)
        if not staff.enabled:
            raise Conflict("cannot invite a disabled staff user")
        code, expires_at = self._invite(staff, valid_for)
        result = self.commit(staff)
        return IssuedInvite(staff.id, code, expires_at, result.position)

    def _invite(self, staff: StaffUser, valid_for: timedelta) -> tuple[str, datetime]:
        """A new invite code for `staff` (only its hash is recorded) and when it expires."""
        secret = secrets.token_urlsafe(18)
        expires_at = self.clock.now() + valid_for
        staff.issue_invite(secret_hash(secret), expires_at)
        return f"{INVITE_PREFIX}_{staff.id.hex}_{secret}", expires_at

    def accept_invite(self, code: str, password: str) -> CommandResult:
        """Set a password with an invite code (once, before it expires), ending the staff user's sessions: inviting
        an existing user again is how their password is reset, and a session signed in with the old one (perhaps
        by whoever learnt it) must not outlive it."""
        check_password(password)
        staff_id, secret = split_token(code, INVITE_PREFIX, InviteInvalid("this invite code is not valid"))
        staff = self.find(staff_id)
        if not isinstance(staff, StaffUser):
            raise InviteInvalid("this invite code is not valid")
        staff.accept_invite(secret_hash(secret), self.hasher.hash(password), self.clock.now())
        result = self.commit(staff)
        self.end_sessions_of(staff.id)
        return result

    def _roster_tracking(self, staff: StaffUser) -> BrandAdmins | None:
        """The brand's admin roster updated for `staff`; refuses to leave a brand without an enabled admin."""
        is_admin = staff.enabled and bool(ADMIN_ROLES & set(staff.roles))
        roster_id = _scoped_id("admins", staff.brand_id)
        roster = self.find(roster_id)
        if not isinstance(roster, BrandAdmins):
            if not is_admin:
                return None
            return with_id(BrandAdmins, roster_id, brand_id=staff.brand_id, admin_ids=[staff.id])
        roster.track(staff.id, is_admin)
        if not roster.admin_ids:
            raise Conflict("this would leave the brand without an enabled admin")
        return roster if roster.pending_events else None

    # API keys ---------------------------------------------------------------

    def issue_api_key(
        self,
        brand_id: UUID,
        role: str,
        label: str,
        owner_id: UUID | None = None,
        *,
        granter: Granter,
    ) -> IssuedKey:
        """Generate a key bound to the brand and role; only its hash is stored. A key made by a staff user is theirs;
        one made with an API key is that key's owner's (none for a key of the operator's CLI), so it too acts no
        higher than its owner holds now and stops when they are disabled; `owner_id` is the operator's to name.
        The `granter` makes a cross-brand key only when it is cross-brand, only keys of a role within its own grants,
        and none while limited to companies (a key acts for every company of the brand)."""
        if isinstance(granter, Principal):
            owner_id = self._owner_of_keys_made_by(granter)
        self.brand(brand_id)
        check_role(role)
        if role in CROSS_BRAND_ROLES and not granter.cross_brand:
            raise InvalidValue("role", f"only a Super Admin may create a '{role}' key")
        check_grant_within(granter, [role], "role")
        if granter.companies:
            raise InvalidValue("role", f"a key acts for every company; {_companies_beyond(granter)}")
        label = clean_text(label, "label", missing="give the key a label (what uses it)")
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            brand_id=brand_id,
            label=label.strip(),
            role=role,
            secret_hash=secret_hash(secret),
            prefix=secret[:6],
            owner_id=owner_id,
        )
        result = self.commit(key)
        full = f"{API_KEY_PREFIX}_{key.id.hex}_{secret}"
        return IssuedKey(id=key.id, secret=full, position=result.position, label=key.label, role=role)

    def _owner_of_keys_made_by(self, principal: Principal) -> UUID | None:
        """The staff user a key made by `principal` acts for: the staff user themselves, or the owner of the API key
        making it. A key owned by nobody would act with its role's whole grants whoever was disabled or demoted."""
        if principal.kind == "staff":
            return principal.id
        key = self.find(principal.id)
        if not isinstance(key, ApiKey):
            raise ApiKeyNotFound(f"API key {principal.id} not found")
        return key.owner_id

    def revoke_api_key(self, brand_id: UUID, key_id: UUID) -> CommandResult:
        """Revoke a key; later requests with it are refused."""
        key = self.load(ApiKey, key_id, brand_id, ApiKeyNotFound)
        key.revoke()
        return self.commit(key)

    def api_key(self, brand_id: UUID, key_id: UUID) -> ApiKey:
        """An API key of the brand."""
        return self.load(ApiKey, key_id, brand_id, ApiKeyNotFound)
