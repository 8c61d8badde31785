"""Use cases of the identity context: brands, staff users, API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import partial
from typing import Protocol
from uuid import UUID

from domain.customers.values import normalise_email, normalise_name
from domain.identity.api_key import ApiKey, ApiKeyNotFound
from domain.identity.brand import Brand, BrandNotFound, check_slug, check_timezone
from domain.identity.permissions import ROLES, Grants, role_grants
from domain.identity.staff import StaffNotFound, StaffUser
from domain.shared.application import CommandResult, ContextApplication
from domain.shared.clock import DEFAULT_TIMEZONE
from domain.shared.errors import Conflict, DomainError, FieldChecks, InvalidValue
from domain.shared.index import UniqueValue, index_id

API_KEY_PREFIX = "cdk"
MIN_PASSWORD_LENGTH = 10


class PasswordHasher(Protocol):
    """Slow password hashing (argon2 in production), injected so the domain does no crypto I/O."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class AuthenticationFailed(DomainError):
    """Raised when credentials are missing, wrong, revoked or belong to a disabled user."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user or an API key, always bound to one brand."""

    kind: str  # "staff" | "apikey"
    id: UUID
    brand_id: UUID
    name: str
    roles: tuple[str, ...]
    grants: Grants

    @property
    def actor(self) -> str:
        """The actor recorded on events this principal causes."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class IssuedKey:
    """A freshly generated API key; `secret` is the full key, shown once."""

    id: UUID
    secret: str
    position: int


def _key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str, field: str = "role") -> str:
    """A role id must be one of the known roles."""
    if role not in ROLES:
        raise InvalidValue(field, f"unknown role '{role}' (known: {', '.join(sorted(ROLES))})")
    return role


class Identity(ContextApplication):
    """Brands, staff users and API keys, and turning credentials into a Principal."""

    name = "identity"

    def __init__(
        self, env: dict[str, str] | None = None, clock: object | None = None, hasher: PasswordHasher | None = None
    ) -> None:
        super().__init__(env, clock)  # type: ignore[arg-type]
        self._hasher = hasher

    @property
    def hasher(self) -> PasswordHasher:
        if self._hasher is None:
            raise RuntimeError("Identity needs a PasswordHasher for password use cases")
        return self._hasher

    # Brands -----------------------------------------------------------------

    def create_brand(self, slug: str, name: str, timezone: str = DEFAULT_TIMEZONE) -> CommandResult:
        """Create a brand with a unique slug."""
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
        return self.commit(brand, claim)

    def brand(self, brand_id: UUID) -> Brand:
        """The brand with the id."""
        return self.load(Brand, brand_id, None, BrandNotFound)

    def brand_by_slug(self, slug: str) -> Brand:
        """The brand with the slug."""
        index = self.find(index_id("brand_slug", None, slug))
        if not isinstance(index, UniqueValue) or index.owner_id is None:
            raise BrandNotFound(f"no brand with slug '{slug}'", slug=slug)
        return self.brand(index.owner_id)

    # Staff ------------------------------------------------------------------

    def create_staff(self, brand_id: UUID, email: str, name: str, roles: list[str], password: str) -> CommandResult:
        """Create a staff user with a login email unique across the platform."""
        self.brand(brand_id)
        checks = FieldChecks()
        clean_email = checks.check(lambda: normalise_email(email).lower())
        clean_name = checks.check(lambda: normalise_name(name))
        for role in roles:
            checks.check(partial(check_role, role, "roles"))
        if not roles:
            checks.errors.append(InvalidValue("roles", "at least one role is required").errors[0])
        if len(password) < MIN_PASSWORD_LENGTH:
            checks.errors.append(InvalidValue("password", f"at least {MIN_PASSWORD_LENGTH} characters").errors[0])
        checks.raise_if_any()
        assert clean_email is not None and clean_name is not None
        if self.find(index_id("staff_email", None, clean_email)) is not None:
            raise Conflict(f"a staff user with email {clean_email} exists", field="email")
        staff = StaffUser(
            brand_id=brand_id, email=clean_email, name=clean_name, roles=roles, password_hash=self.hasher.hash(password)
        )
        claim = UniqueValue.claim(None, "staff_email", clean_email, staff.id)
        return self.commit(staff, claim)

    def staff(self, brand_id: UUID | None, staff_id: UUID) -> StaffUser:
        """The staff user, if in the brand (None: any brand)."""
        return self.load(StaffUser, staff_id, brand_id, StaffNotFound)

    def staff_by_email(self, email: str) -> StaffUser:
        """The staff user with the login email."""
        index = self.find(index_id("staff_email", None, email.strip().lower()))
        if not isinstance(index, UniqueValue) or index.owner_id is None:
            raise StaffNotFound("no staff user with that email")
        return self.staff(None, index.owner_id)

    def authenticate_staff(self, email: str, password: str) -> Principal:
        """Check a password login; the same error for unknown email, wrong password and disabled user."""
        try:
            staff = self.staff_by_email(email)
        except StaffNotFound:
            self.hasher.hash(password)  # Spend the same time as a real check.
            raise AuthenticationFailed("invalid email or password") from None
        if not self.hasher.verify(staff.password_hash, password) or not staff.enabled:
            raise AuthenticationFailed("invalid email or password")
        return self.staff_principal(staff)

    def staff_principal(self, staff: StaffUser) -> Principal:
        """The principal of an enabled staff user."""
        if not staff.enabled:
            raise AuthenticationFailed("staff user is disabled")
        return Principal("staff", staff.id, staff.brand_id, staff.name, tuple(staff.roles), role_grants(staff.roles))

    def disable_staff(self, brand_id: UUID, staff_id: UUID) -> CommandResult:
        """Disable a staff user."""
        staff = self.staff(brand_id, staff_id)
        staff.disable()
        return self.commit(staff)

    # API keys ---------------------------------------------------------------

    def issue_api_key(self, brand_id: UUID, role: str, label: str) -> IssuedKey:
        """Generate a key bound to the brand and role; only its hash is stored."""
        self.brand(brand_id)
        check_role(role)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            brand_id=brand_id, label=label.strip() or role, role=role, secret_hash=_key_hash(secret), prefix=secret[:6]
        )
        result = self.commit(key)
        return IssuedKey(id=key.id, secret=f"{API_KEY_PREFIX}_{key.id.hex}_{secret}", position=result.position)

    def revoke_api_key(self, brand_id: UUID, key_id: UUID) -> CommandResult:
        """Revoke a key; later requests with it are refused."""
        key = self.load(ApiKey, key_id, brand_id, ApiKeyNotFound)
        key.revoke()
        return self.commit(key)

    def authenticate_api_key(self, token: str) -> Principal:
        """Turn a bearer token into the key's principal, or fail."""
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
            raise AuthenticationFailed("malformed API key")
        try:
            key_id = UUID(hex=parts[1])
        except ValueError:
            raise AuthenticationFailed("malformed API key") from None
        key = self.find(key_id)
        if not isinstance(key, ApiKey) or not hmac.compare_digest(key.secret_hash, _key_hash(parts[2])):
            raise AuthenticationFailed("unknown API key")
        if key.revoked:
            raise AuthenticationFailed("API key has been revoked")
        return Principal("apikey", key.id, key.brand_id, key.label, (key.role,), role_grants([key.role]))
