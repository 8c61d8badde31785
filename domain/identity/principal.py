"""Who is calling: the principal every endpoint, page and template asks `holds(permission, level)`; and who gives
roles, permissions and companies (`Granter`): that principal, or the trusted `OPERATOR`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, TypeAlias
from uuid import UUID

from domain.identity.permissions import CROSS_BRAND_ROLES, Grants, Level, Permission, Required, grants_meet
from domain.identity.roster import ADMIN_ROLES
from domain.shared.errors import DomainError
from domain.shared.values import company_code, sees_company


class AuthenticationFailed(DomainError):
    """Raised when credentials are missing, wrong, revoked or belong to a disabled user."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user or an API key, acting within one brand."""

    kind: Literal["staff", "apikey"]
    id: UUID
    brand_id: UUID
    name: str
    roles: tuple[str, ...]
    grants: Grants
    companies: tuple[str, ...] = ()  # empty: every company of the brand
    home_brand_id: UUID | None = None

    @property
    def actor(self) -> str:
        """The actor recorded on events this principal causes."""
        return f"{self.kind}:{self.id}"

    @property
    def admin(self) -> bool:
        """An admin of the brand (or a Super Admin): holds every permission and may give them."""
        return bool(ADMIN_ROLES & set(self.roles))

    @property
    def cross_brand(self) -> bool:
        """Platform operators (Super Admin) may act within any brand."""
        return bool(CROSS_BRAND_ROLES & set(self.roles))

    def within(self, brand_id: UUID) -> Principal:
        """This principal acting within another brand (only a cross-brand principal may)."""
        if brand_id == self.brand_id:
            return self
        if not self.cross_brand:
            raise AuthenticationFailed("this credential is bound to its own brand")
        return replace(self, brand_id=brand_id, home_brand_id=self.home_brand_id or self.brand_id)

    def holds(self, permission: Permission | str, level: Level | str = Level.READ) -> bool:
        """Whether the principal holds `permission` at `level` or above: the one permission check of endpoints,
        portal pages and templates (which pass the names, e.g. `principal.holds('JOBS', 'WRITE')`)."""
        granted = self.grants.get(Permission(permission))
        return granted is not None and granted.covers(Level(level))

    def meets(self, required: Required) -> bool:
        """Whether the principal holds what an endpoint or page requires: its permission at its level, or any one of
        its permissions at that level."""
        return grants_meet(self.grants, required)

    def __post_init__(self) -> None:
        # Company codes are case-insensitive (`company_code`): a staff member authorised for "sml" (kept as typed)
        # acts for SML, as every company code is compared.
        object.__setattr__(self, "companies", tuple(dict.fromkeys(company_code(c) for c in self.companies)))

    def sees_company(self, company: str) -> bool:
        """True when the principal may see data of `company` (a lender/source within the brand)."""
        return sees_company(self.companies, company)


@dataclass(frozen=True)
class Operator:
    """The trusted operator, who is no principal: the command line (`covenant-desk staff create`, `apikey create`),
    the demo seed and test setups. As a granter it holds every permission at ALL and every company, and is
    cross-brand: it may give anything, the `super_admin` role included. Endpoints and pages never use it - they pass
    the principal making the request."""

    grants: Grants = field(default_factory=lambda: dict.fromkeys(Permission, Level.ALL))
    companies: tuple[str, ...] = ()  # empty: every company

    @property
    def cross_brand(self) -> bool:
        """The operator gives and changes cross-brand roles (a Super Admin's)."""
        return True


OPERATOR = Operator()

#: Who gives roles, permissions and companies, and changes the staff holding them (`Identity.create_staff`,
#: `update_staff`, `set_enabled`, `issue_invite`, `issue_api_key`): the principal making the request - it gives only
#: what it holds (its `grants` and `companies`), and a cross-brand role only when it is `cross_brand` - or the
#: `OPERATOR`, who may give anything. There is no default: every caller names its granter.
Granter: TypeAlias = Principal | Operator
