"""The registry of bounded contexts: one line per context, in the order the portal and the API list them."""

from __future__ import annotations

from typing import Any

from workers.bounded_context import BoundedContext
from workers.contexts import audit, blocklist, covenants, customers, identity, jobs, notices

CONTEXTS: tuple[BoundedContext[Any], ...] = (
    identity.CONTEXT,
    customers.CONTEXT,
    blocklist.CONTEXT,
    jobs.CONTEXT,
    covenants.CONTEXT,
    notices.CONTEXT,
    audit.CONTEXT,
)
