"""The typed seam between the HTTP layer and the composition root.

Handlers never see the platform. Each route or page module declares a *port*: a frozen dataclass naming, by type,
the applications, queries and services its handlers use. The composition root (`workers.platform.Platform`) fills
a port by the types of its fields, once per process, so a handler's dependencies are visible at the top of its
module and checked by mypy. The HTTP layer itself needs only what `Services` and `Gate` name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from adapters.operational import OperationalStore
from domain.identity.application import Identity
from domain.onboarding.application import Onboarding
from domain.shared.clock import Clock
from projections.engine import ProjectionEngine

if TYPE_CHECKING:
    from api.endpoint import Endpoint
    from api.web import NavItem, Page, PublicPage

P = TypeVar("P")


@dataclass(frozen=True)
class Gate:
    """What every request passes through before its handler: credentials, sessions, brands, idempotency."""

    identity: Identity
    ops: OperationalStore
    clock: Clock


@dataclass(frozen=True)
class BorrowerGate:
    """What a borrower endpoint passes through: the borrower's bearer session (never a staff credential)."""

    onboarding: Onboarding


class RelayReport(Protocol):
    """The Kafka relay's state as /health and /metrics show it."""

    @property
    def state(self) -> str: ...
    @property
    def leader(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def since(self) -> datetime | None: ...
    @property
    def published(self) -> int: ...
    @property
    def lag(self) -> dict[str, int]: ...


class Services(Protocol):
    """What the web app holds for its lifetime: ports for handlers, and what health and metrics read."""

    @property
    def dsn(self) -> str: ...
    @property
    def engine(self) -> ProjectionEngine: ...

    def port(self, kind: type[P]) -> P:
        """The port of type `kind`, its fields filled by type (built once, then shared)."""
        ...

    def relay_report(self) -> RelayReport | None:
        """The in-process relay's state, or None when this process runs none."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class WebComposition:
    """Every endpoint, page and navigation entry the app serves: the bounded contexts' declarations together."""

    endpoints: Sequence[Endpoint[Any]]
    pages: Sequence[Page[Any] | PublicPage[Any]]
    nav: Sequence[NavItem]
