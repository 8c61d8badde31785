"""The registry of bounded contexts: one line per context, in the order the portal and the API list them."""

from __future__ import annotations

from importlib import import_module
from typing import Any, cast

from workers.bounded_context import BoundedContext

#: Each name is a module of `workers.contexts` holding that context's `CONTEXT` declaration.
NAMES = (
    "identity",
    "customers",
    "documents",
    "verification",
    "blocklist",
    "products",
    "loans",
    "onboarding",
    "disbursal",
    "servicing",
    "paylinks",
    "loan360",
    "recoveries",
    "reloans",
    "collections",
    "jobs",
    "covenants",
    "notices",
    "audit",
    "providers",
    "reports",
    "fieldwork",
    "callbacks",
    "insight",
    "engagement",
    "staff_notices",
    "reminders",
    "leads",
)

CONTEXTS: tuple[BoundedContext[Any], ...] = tuple(
    cast(BoundedContext[Any], import_module(f"{__name__}.{name}").CONTEXT) for name in NAMES
)
