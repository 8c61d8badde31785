"""Permissions, levels and the default permissions of each staff role.

Issue #3 extends this to the spec's full role and permission list with per-user
overrides; the shape (permission -> level, role slug -> defaults) stays.
"""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """How much of a permission is granted; ALL includes WRITE includes READ."""

    READ = "READ"
    WRITE = "WRITE"
    ALL = "ALL"

    @property
    def rank(self) -> int:
        return {"READ": 1, "WRITE": 2, "ALL": 3}[self.value]

    def covers(self, needed: Level) -> bool:
        """True when this level is at least `needed`."""
        return self.rank >= needed.rank


class Permission(StrEnum):
    """A capability staff or API keys are granted at a level."""

    CUSTOMER = "CUSTOMER"
    VIEW_DASHBOARD = "VIEW_DASHBOARD"
    JOBS = "JOBS"
    API_KEYS = "API_KEYS"
    STAFF = "STAFF"
    BRAND_SETTINGS = "BRAND_SETTINGS"
    AUDIT_REPLAY = "AUDIT_REPLAY"


Grants = dict[Permission, Level]

_ALL: Grants = {p: Level.ALL for p in Permission}

ROLES: dict[str, tuple[str, Grants]] = {
    "super_admin": ("Super Admin", dict(_ALL)),
    "admin": ("Admin", dict(_ALL)),
    "credit_executive": (
        "Credit Executive",
        {Permission.CUSTOMER: Level.WRITE, Permission.VIEW_DASHBOARD: Level.READ},
    ),
    "sanction_manager": (
        "Sanction Manager",
        {Permission.CUSTOMER: Level.WRITE, Permission.VIEW_DASHBOARD: Level.READ},
    ),
    "collection_executive": (
        "Collection Executive",
        {Permission.CUSTOMER: Level.READ, Permission.VIEW_DASHBOARD: Level.READ},
    ),
    "loan_ops": (
        "Loan Ops",
        {Permission.CUSTOMER: Level.WRITE, Permission.VIEW_DASHBOARD: Level.READ, Permission.JOBS: Level.WRITE},
    ),
    "sales": ("Sales", {Permission.CUSTOMER: Level.READ}),
}


class UnknownRole(ValueError):
    """Raised when a role id is not one of ROLES."""


def role_grants(roles: list[str]) -> Grants:
    """The union of the roles' default grants, keeping the highest level per permission."""
    grants: Grants = {}
    for role in roles:
        if role not in ROLES:
            raise UnknownRole(role)
        for permission, level in ROLES[role][1].items():
            current = grants.get(permission)
            if current is None or level.rank > current.rank:
                grants[permission] = level
    return grants
