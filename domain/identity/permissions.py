"""Permissions, levels and the default permissions of each staff role.

The spec's permission list (Customer, Loan, Collection and Admin permissions)
plus this product's own. Each is granted at READ, WRITE or ALL; a user's
effective grants are the union of their roles' defaults with their per-user
overrides applied on top (an override may raise, lower or remove a grant).
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
        return _RANK[self]

    def covers(self, needed: Level) -> bool:
        """True when this level is at least `needed`."""
        return self.rank >= needed.rank


_RANK = {Level.READ: 1, Level.WRITE: 2, Level.ALL: 3}


class Permission(StrEnum):
    """A capability staff or API keys are granted at a level."""

    # Customer permissions
    CUSTOMER = "CUSTOMER"
    ONBOARDING_IN_PROGRESS = "ONBOARDING_IN_PROGRESS"
    ONBOARDING_COMPLETED = "ONBOARDING_COMPLETED"
    RELOCATE_USER = "RELOCATE_USER"
    GLOBAL_SEARCH = "GLOBAL_SEARCH"
    #: Write notes on a borrower's record (reading them is CUSTOMER READ): the credit, collection and ops staff who
    #: talk to borrowers hold it at WRITE -- collectors without CUSTOMER WRITE, which changes the record itself.
    CUSTOMER_NOTES = "CUSTOMER_NOTES"
    #: See and answer borrowers' callback requests (docs/callbacks.md): the staff who call borrowers -- credit and
    #: collection executives, ops, sales (borrowers still in the funnel) -- at WRITE; sanction managers READ.
    CALLBACKS = "CALLBACKS"
    # Loan permissions
    LOANS = "LOANS"
    LOAN_OPS = "LOAN_OPS"
    SANCTION_MANAGER = "SANCTION_MANAGER"
    SANCTION_HEAD = "SANCTION_HEAD"
    COMPLETED_LOANS = "COMPLETED_LOANS"
    LOAN_REACTIVATE = "LOAN_REACTIVATE"
    LOAN_RULE_TYPE = "LOAN_RULE_TYPE"
    LOAN_RELOCATE = "LOAN_RELOCATE"
    LOAN_SEND_BACK = "LOAN_SEND_BACK"
    LOAN_FORCE_BYPASS = "LOAN_FORCE_BYPASS"
    # Collection permissions
    PRE_COLLECTIONS = "PRE_COLLECTIONS"
    COLLECTIONS = "COLLECTIONS"
    POST_COLLECTIONS = "POST_COLLECTIONS"
    COLLECTION_REALLOCATE_LOANS = "COLLECTION_REALLOCATE_LOANS"
    COLLECTION_APPROVALS = "COLLECTION_APPROVALS"  # approve partial collections (Ops, collection managers/heads)
    PENAL_WAIVERS = "PENAL_WAIVERS"  # approve penal-charge waivers (collection managers/heads)
    LOAN_WRITE_OFF = "LOAN_WRITE_OFF"  # write a loan off (admins only by default)
    # Admin permissions
    BRAND_SETTINGS = "BRAND_SETTINGS"
    PARTNER_USER_MANAGEMENT = "PARTNER_USER_MANAGEMENT"
    VIEW_DASHBOARD = "VIEW_DASHBOARD"
    MASTER_REPORTS = "MASTER_REPORTS"
    # This product's own
    NOTICES = "NOTICES"
    NOTICE_SYNC = "NOTICE_SYNC"
    COVENANTS = "COVENANTS"
    COVENANT_REVIEW = "COVENANT_REVIEW"
    AUDIT_REPLAY = "AUDIT_REPLAY"
    API_KEYS = "API_KEYS"
    JOBS = "JOBS"
    BLOCKLIST = "BLOCKLIST"
    MESSAGES = "MESSAGES"
    MESSAGE_TEMPLATES = "MESSAGE_TEMPLATES"
    STAFF_NOTIFICATIONS = "STAFF_NOTIFICATIONS"
    REMINDERS = "REMINDERS"
    LEADS = "LEADS"


Grants = dict[Permission, Level]
#: What an endpoint or page needs: a permission at a level, or any one of several permissions (a tuple) at that level
#: - the collections desk is opened by COLLECTIONS or a stage's own permission (docs/collections.md).
Required = tuple[Permission | tuple[Permission, ...], Level]


def alternatives(required: Required) -> tuple[Permission, ...]:
    """The permissions any one of which (at the level) meets `required`."""
    permission = required[0]
    return permission if isinstance(permission, tuple) else (permission,)


def grants_meet(grants: Grants, required: Required) -> bool:
    """Whether `grants` hold one of `required`'s permissions at its level."""
    return any((g := grants.get(p)) is not None and g.covers(required[1]) for p in alternatives(required))


def required_words(required: Required) -> str:
    """`required`'s permissions as a sentence names them: "COLLECTIONS", "COLLECTIONS, PRE_COLLECTIONS or ..."."""
    names = [p.value for p in alternatives(required)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


P, R, W, A = Permission, Level.READ, Level.WRITE, Level.ALL

# fmt: off

_CREDIT_EXECUTIVE: Grants = {
    P.CUSTOMER: W, P.CUSTOMER_NOTES: W, P.CALLBACKS: W, P.ONBOARDING_IN_PROGRESS: R, P.ONBOARDING_COMPLETED: R, P.GLOBAL_SEARCH: R, P.LOANS: W,
    P.LOAN_SEND_BACK: W, P.VIEW_DASHBOARD: R, P.BLOCKLIST: R, P.COVENANTS: R,
}
#: LOAN_RULE_TYPE (move an open application to another product, docs/loans.md): the Sanction Manager's, as the
#: gate of the credit decision - a change reprices the loan and re-runs the BRE, and the CX then reviews it afresh,
#: so the CX who approves is not the one who picked the product. The Sanction Head inherits it; admins hold it all.
_SANCTION_MANAGER: Grants = {
    P.CUSTOMER: R, P.CUSTOMER_NOTES: W, P.CALLBACKS: R, P.GLOBAL_SEARCH: R, P.LOANS: W, P.SANCTION_MANAGER: W, P.LOAN_SEND_BACK: W, P.COMPLETED_LOANS: R,
    P.VIEW_DASHBOARD: R, P.MASTER_REPORTS: R, P.BLOCKLIST: R, P.COVENANTS: R, P.LOAN_RULE_TYPE: W,
}
#: LOANS READ: the loan page and its ledger (the spec: "See full repayment obligation breakdown", "View the complete
#: loan ledger"); read only - every loan write and ops action needs LOANS WRITE or LOAN_OPS, which collectors lack.
#: Collection managers and heads inherit it.
_COLLECTION_EXECUTIVE: Grants = {
    P.LOANS: R, P.CUSTOMER: R, P.CUSTOMER_NOTES: W, P.CALLBACKS: W, P.GLOBAL_SEARCH: R, P.PRE_COLLECTIONS: W, P.COLLECTIONS: W, P.COMPLETED_LOANS: R, P.NOTICES: R,
    P.VIEW_DASHBOARD: R, P.COVENANTS: R,
    P.REMINDERS: W,
}
_SALES: Grants = {
    P.CUSTOMER: R, P.ONBOARDING_IN_PROGRESS: R, P.ONBOARDING_COMPLETED: R, P.GLOBAL_SEARCH: R, P.VIEW_DASHBOARD: R,
    P.LEADS: W, P.CALLBACKS: W,
}
# fmt: on
_ADMIN: Grants = {p: A for p in Permission}


def _plus(base: Grants, extra: Grants) -> Grants:
    merged = dict(base)
    for permission, level in extra.items():
        if permission not in merged or level.rank > merged[permission].rank:
            merged[permission] = level
    return merged


#: A sales manager moves borrowers between agents and reads the aggregated sales overview (MASTER_REPORTS).
_SALES_MANAGER = _plus(_SALES, {P.RELOCATE_USER: W, P.MASTER_REPORTS: R})

# fmt: off
#: role id -> (display name, default grants). Role ids are stable: API keys and staff store them.
ROLES: dict[str, tuple[str, Grants]] = {
    "credit_executive": ("Credit Executive", _CREDIT_EXECUTIVE),
    "sanction_manager": ("Sanction Manager", _SANCTION_MANAGER),
    "sanction_head": (
        "Sanction Head",
        _plus(_SANCTION_MANAGER, {P.SANCTION_MANAGER: A, P.SANCTION_HEAD: A, P.LOAN_RELOCATE: W, P.COVENANT_REVIEW: W}),
    ),
    "collection_executive": ("Collection Executive", _COLLECTION_EXECUTIVE),
    "collection_manager": (
        "Collection Manager",
        _plus(
            _COLLECTION_EXECUTIVE,
            {
                P.COLLECTION_REALLOCATE_LOANS: W,
                P.POST_COLLECTIONS: R,
                P.COLLECTION_APPROVALS: W,
                P.PENAL_WAIVERS: W,
                P.NOTICES: W,
                P.NOTICE_SYNC: W,
                P.MASTER_REPORTS: R,
            },
        ),
    ),
    "collection_head": (
        "Collection Head",
        _plus(
            _COLLECTION_EXECUTIVE,
            {
                P.COLLECTIONS: A,
                P.PRE_COLLECTIONS: A,
                P.POST_COLLECTIONS: A,
                P.COLLECTION_REALLOCATE_LOANS: A,
                P.COLLECTION_APPROVALS: W,
                P.PENAL_WAIVERS: W,
                P.NOTICES: A,
                P.NOTICE_SYNC: A,
                P.MASTER_REPORTS: R,
            },
        ),
    ),
    "loan_ops": (
        "Loan Ops",
        {
            P.CUSTOMER: W,
            P.CUSTOMER_NOTES: W,
            P.CALLBACKS: W,
            P.GLOBAL_SEARCH: R,
            P.LOANS: R,
            P.LOAN_OPS: A,
            P.COLLECTION_APPROVALS: W,
            P.LOAN_REACTIVATE: W,
            P.LOAN_FORCE_BYPASS: W,
            P.COMPLETED_LOANS: R,
            P.VIEW_DASHBOARD: R,
            P.JOBS: W,
            P.NOTICES: R,
            P.NOTICE_SYNC: W,
            P.COVENANTS: W,
            P.COVENANT_REVIEW: W,
            P.REMINDERS: W,
        },
    ),
    "admin": ("Admin", _ADMIN),
    "super_admin": ("Super Admin", _ADMIN),
    "sales": ("Sales", _SALES),
    "sales_manager": ("Sales Manager", _SALES_MANAGER),
    # The spec's "Sales Manager / Head roles have broader visibility across the team and access to aggregated sales
    # reports and team performance": the manager's grants (no sales list is scoped to a team, so a manager already
    # sees the brand's leads and funnel, and the aggregated sales overview), under the spec's other name.
    "sales_head": ("Sales Head", dict(_SALES_MANAGER)),
}

# fmt: on

#: Roles whose holders see every brand (platform operators).
CROSS_BRAND_ROLES = frozenset({"super_admin"})


class UnknownRole(ValueError):
    """Raised when a role id is not one of ROLES."""


def role_grants(roles: list[str] | tuple[str, ...]) -> Grants:
    """The union of the roles' default grants, keeping the highest level per permission."""
    grants: Grants = {}
    for role in roles:
        if role not in ROLES:
            raise UnknownRole(role)
        grants = _plus(grants, ROLES[role][1])
    return grants


def capped(grants: Grants, limit: Grants) -> Grants:
    """`grants` no higher than `limit`: each permission at the lower of the two levels, none that `limit` lacks."""
    return {p: (level if limit[p].rank >= level.rank else limit[p]) for p, level in grants.items() if p in limit}


def effective_grants(roles: list[str] | tuple[str, ...], overrides: dict[Permission, Level | None]) -> Grants:
    """Role defaults with per-user overrides applied: a level replaces the default, None removes it."""
    grants = role_grants(roles)
    for permission, level in overrides.items():
        if level is None:
            grants.pop(permission, None)
        else:
            grants[permission] = level
    return grants
