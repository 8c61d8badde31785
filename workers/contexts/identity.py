"""Identity and brand administration: brands, staff, roles and permissions, brand configuration, API keys."""

from __future__ import annotations

from adapters.aggregate_snapshots import AggregateSnapshots
from adapters.cob_store import CobStore
from adapters.operational import OperationalStore
from adapters.passwords import Argon2Hasher
from adapters.postgres import Database
from api.pages import api_keys as api_key_pages
from api.pages import brand_switch as brand_switch_pages
from api.pages import invites as invite_pages
from api.pages import settings as settings_pages
from api.pages import staff as staff_pages
from api.routes import api_keys, brands, roles, staff, system
from api.web import NavItem
from domain.identity.api_key import ApiKey
from domain.identity.application import Identity
from domain.identity.brand import Brand
from domain.identity.brand_config import BrandConfiguration
from domain.identity.permissions import Permission
from domain.identity.roster import BrandAdmins
from domain.identity.staff import StaffUser
from projections.brands import BrandDirectory, BrandQueries
from projections.identity import IdentityQueries
from projections.identity_projectors import ApiKeyList, BrandConfigHistory, StaffDirectory
from workers.bounded_context import BoundedContext, Kit


def _identity(kit: Kit) -> Identity:
    ops = kit.get(OperationalStore)
    app = Identity(
        env=kit.env,
        clock=kit.clock,
        hasher=Argon2Hasher(),
        login_throttle=ops,
        sessions=ops,
        # the servicing context's COB record (provided after every application is built: looked up when used)
        cob_closed_through=lambda brand_id: kit.get(CobStore).last_done(brand_id),
    )
    # A snapshot every 100 events (a staff user's every login, a brand's every close of business): the auditor's
    # as-of replay decodes at most the 100 after it, not a history that only grows.
    app.snapshot_every, app.snapshot_keeper = 100, AggregateSnapshots(kit.get(Database).pool)
    return app


CONTEXT = BoundedContext(
    application=Identity,
    build=_identity,
    queries=(BrandQueries, IdentityQueries),
    projections=(BrandDirectory(), StaffDirectory(), ApiKeyList(), BrandConfigHistory()),
    endpoints=(*staff.ENDPOINTS, *roles.ENDPOINTS, *brands.ENDPOINTS, *api_keys.ENDPOINTS, *system.ENDPOINTS),
    pages=(
        *staff_pages.PAGES,
        *settings_pages.PAGES,
        *api_key_pages.PAGES,
        *invite_pages.PAGES,
        *brand_switch_pages.PAGES,
    ),
    nav=(
        NavItem("Staff", "/staff", "staff", Permission.PARTNER_USER_MANAGEMENT, 50),
        NavItem("Settings", "/settings", "settings", Permission.BRAND_SETTINGS, 60),
        NavItem("API keys", "/api-keys", "keys", Permission.API_KEYS, 70),
    ),
    permissions=(Permission.PARTNER_USER_MANAGEMENT, Permission.BRAND_SETTINGS, Permission.API_KEYS),
    audited=(Brand, BrandConfiguration, BrandAdmins, StaffUser, ApiKey),
)
