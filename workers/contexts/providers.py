"""Providers: the outbound call log (admins' "Provider calls") and the dev simulators' addresses. The clients
themselves (`adapters.providers.directory.ProviderDirectory`) are a platform service other contexts' ports name."""

from __future__ import annotations

from typing import Any

from api.pages import providers as pages
from api.routes import providers as routes
from api.web import NavItem
from domain.identity.permissions import Permission
from projections.provider_calls import ProviderCallQueries
from workers.bounded_context import BoundedContext

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="providers",
    queries=(ProviderCallQueries,),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Provider calls", "/provider-calls", "provider-calls", Permission.BRAND_SETTINGS, 115),),
)
