"""The declaration of a bounded context: everything the composition root needs to know about it, in one place.

A context's files live in each layer (`domain/<name>/`, `projections/<name>.py`, `api/routes/<name>.py`,
`api/pages/<name>.py`, `workers/<name>_jobs.py`); its declaration in `workers/contexts/<name>.py` names them, and
one line in `workers/contexts/__init__.py` registers it. The platform, the web app, the scheduler, the relay, the
activity trail and auditor replay all loop over the registered declarations. See docs/contexts.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from api.endpoint import Endpoint
from api.web import NavItem, Page, PublicPage
from domain.identity.permissions import Permission
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun
from domain.shared.aggregate import Aggregate
from domain.shared.application import ContextApplication
from domain.shared.clock import Clock
from projections.projection import Projection

P = TypeVar("P")
A = TypeVar("A", bound=ContextApplication)

Batches = Iterator[tuple[BatchCounts, str | None]]


class Kit(Protocol):
    """What an application factory gets: the event store environment, the clock, and services built before it."""

    @property
    def env(self) -> dict[str, str]: ...
    @property
    def clock(self) -> Clock: ...

    def get(self, kind: type[P]) -> P: ...


@dataclass(frozen=True)
class Job(Generic[P]):
    """A batch job: its definition (name, defaults, filters) and the handler that runs it with its port."""

    definition: JobDefinition
    run: Callable[[P, JobRun], Batches]
    port: type[P]  # what its handler uses, filled by type


@dataclass(frozen=True)
class SlotFirer(Generic[P]):
    """A schedule kept outside job settings (each notice source's own cron): called on every scheduler tick."""

    fire: Callable[[P, datetime], None]
    port: type[P]  # what it uses, filled by type


class Worker(Protocol):
    """A background thread of the context (e.g. the notice rematcher)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True)
class BackgroundWorker(Generic[P]):
    """A background worker the in-process runtime starts and stops, made from its port."""

    make: Callable[[P], Worker]
    port: type[P]  # what it uses, filled by type


@dataclass(frozen=True)
class BoundedContext(Generic[A]):
    """One bounded context; the name is its application's (`application.name`), written once, in the domain."""

    application: type[A] | None
    #: How to construct the application (default: `application(env=kit.env, clock=kit.clock)`).
    build: Callable[[Kit], A] | None = None
    #: Query classes over its read models, each constructed with the read pool: `cls(pool)`.
    queries: Sequence[type[Any]] = ()
    projections: Sequence[Projection] = ()
    #: The topics the activity trail records for this context (None: every event; () : no trail).
    activity: Sequence[str] | None = None
    #: Whether its records belong to a company of the brand (notices, their sources and sync runs): its trail rows
    #: then carry the company, and a staff member limited to companies sees only theirs (`ActivityLog.by_company`).
    activity_by_company: bool = False
    #: With `activity_by_company`: the keys of a creation event naming the records it belongs to, whose company a
    #: record that names none takes in the trail (`ActivityLog.company_from`).
    activity_company_from: tuple[str, ...] = ()
    endpoints: Sequence[Endpoint[Any]] = ()
    pages: Sequence[Page[Any] | PublicPage[Any]] = ()
    nav: Sequence[NavItem] = ()
    jobs: Sequence[Job[Any]] = ()
    slot_firers: Sequence[SlotFirer[Any]] = ()
    workers: Sequence[BackgroundWorker[Any]] = ()
    #: The permissions this context's endpoints and pages are guarded by (each owned by one context).
    permissions: Sequence[Permission] = ()
    #: Aggregate types auditors may replay (uniqueness claims and other bookkeeping are left out).
    audited: Sequence[type[Aggregate]] = ()
    #: A name for a context without an application of its own (e.g. audit, which reads the others').
    label: str | None = field(default=None)

    @property
    def name(self) -> str:
        """The context's name: its application's (which also names its event table), or its label."""
        if self.application is not None:
            return str(self.application.name)
        if self.label is None:
            raise TypeError("a context without an application needs a label")
        return self.label

    def construct(self, kit: Kit) -> A | None:
        """The context's application, or None for a context without one."""
        if self.build is not None:
            return self.build(kit)
        if self.application is None:
            return None
        return self.application(env=kit.env, clock=kit.clock)
