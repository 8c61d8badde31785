"""Composition root: the database, every registered context's application, projections and queries, and the
ports handlers and jobs are given. Opened once per process (API, worker, CLI, test) and closed once:

    with Platform.open(dsn) as platform:
        platform.get(Customers).register(...)
"""

from __future__ import annotations

import dataclasses
import os
import typing
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast

import structlog

from adapters.event_recorder import close_shared_datastore
from adapters.mailer import MailSettings, SmtpMailer
from adapters.named_locks import NamedLocks
from adapters.operational import OperationalStore
from adapters.outbound import OutboundPolicy
from adapters.postgres import Database, eventsourcing_env
from adapters.providers.call_log import ProviderCallLog
from adapters.providers.directory import DevSimulators, ProviderDirectory
from api.ports import RelayReport, WebComposition
from domain.audit.replay import AuditReplay
from domain.identity.application import Identity
from domain.jobs.application import JobCatalogue, RunBell
from domain.jobs.job import JobRun
from domain.shared.application import ContextApplication
from domain.shared.clock import Clock, SystemClock
from projections.activity import activity_projection
from projections.engine import ProjectionEngine
from projections.listening import Listener
from projections.projection import Projection
from projections.runner import ProjectionRunner
from workers.bounded_context import Batches, BoundedContext, Job, Worker
from workers.brand_configurations import BrandConfigurations
from workers.loan_audit import RENDERERS as AUDIT_RENDERERS  # a loan's servicing view as of an instant
from workers.loan_audit import snapshot_sources  # a loan's as-of replay starts from its newest snapshot

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: A job's handler bound to its port: yields (counts, cursor) per batch of a run.
JobHandler = Callable[[JobRun], Batches]
#: A schedule kept outside job settings, bound to its port: requests the runs due at `now`.
Firer = Callable[[datetime], None]


class RunningRelay(Protocol):
    """The in-process Kafka relay, as far as the platform reports it."""

    @property
    def status(self) -> RelayReport: ...


@dataclass(frozen=True)
class _Kit:
    """What application factories get (see bounded_context.Kit)."""

    env: dict[str, str]
    clock: Clock
    platform: Platform

    def get(self, kind: type[T]) -> T:
        return self.platform.get(kind)


class Platform:
    """Everything a process needs, built from the registered bounded contexts; a context manager."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        contexts: Sequence[BoundedContext[Any]],
        mail: MailSettings | None = None,
        extra_jobs: Sequence[Job[Any]] = (),
    ) -> None:
        self.db = db
        self.clock = clock
        self.contexts = tuple(contexts)
        self.declared_jobs: tuple[Job[Any], ...] = (*(j for c in self.contexts for j in c.jobs), *extra_jobs)
        self.runners: list[ProjectionRunner] = []
        self.listener: Listener | None = None  # the runners' LISTEN connection, once they start
        self.relay: RunningRelay | None = None  # the in-process Kafka relay, when KAFKA_BOOTSTRAP_SERVERS is set
        self._services: dict[type[Any], Any] = {}
        self._ports: dict[type[Any], Any] = {}
        self.applications: dict[str, ContextApplication] = {}
        self.bell = RunBell()
        ops = OperationalStore(db.pool)
        self._provide(Database, db)
        self._provide(Clock, clock)  # type: ignore[type-abstract]
        self._provide(OperationalStore, ops)
        self._provide(NamedLocks, NamedLocks(db.pool))  # one set of the process's thread stripes for every holder
        self._provide(RunBell, self.bell)
        self._provide(OutboundPolicy, OutboundPolicy.from_env())
        self._provide(SmtpMailer, SmtpMailer(mail or MailSettings.from_env()))
        call_log = ProviderCallLog(db.pool)
        self._provide(ProviderCallLog, call_log)
        self._provide(ProviderDirectory, ProviderDirectory.from_env(os.environ, call_log, clock=clock))
        self._provide(DevSimulators, DevSimulators())
        self._provide(JobCatalogue, JobCatalogue(tuple(job.definition for job in self.declared_jobs)))
        with db.setup_lock():  # the applications create their tables as they start
            ops.setup()
            call_log.setup()
            # The applications share one event store pool (adapters.event_recorder.SHARED_DATASTORE), closed last.
            self._event_store = f"platform-{uuid.uuid4()}"
            kit = _Kit(eventsourcing_env(db.dsn, shared=self._event_store), clock, self)
            try:
                for context in self.contexts:
                    app = context.construct(kit)
                    if app is not None:
                        self.applications[context.name] = app
                        self._provide(type(app), app)
            except BaseException:
                close_shared_datastore(self._event_store)
                raise
            self.engine = ProjectionEngine(db.pool, dict(self.applications), self._projections())
            self.engine.setup()
        self._provide(ProjectionEngine, self.engine)
        if Identity in self._services:  # one cache of brands' configurations for the scheduler's passes
            self._provide(BrandConfigurations, BrandConfigurations(self.get(Identity)))
        for context in self.contexts:
            for query in context.queries:
                self._provide(query, query(db.pool))
        audited = [kind for context in self.contexts for kind in context.audited]
        snapshots = snapshot_sources(self.applications, audited)
        company_from = {context.name: context.activity_company_from for context in self.contexts}
        self._provide(
            AuditReplay, AuditReplay(dict(self.applications), audited, AUDIT_RENDERERS, snapshots, company_from)
        )

    @classmethod
    def open(
        cls,
        dsn: str,
        clock: Clock | None = None,
        mail: MailSettings | None = None,
        contexts: Sequence[BoundedContext[Any]] | None = None,
        extra_jobs: Sequence[Job[Any]] = (),
    ) -> Platform:
        """Connect, create schemas and tables, and construct every registered context."""
        from workers.contexts import CONTEXTS

        db = Database(dsn)
        db.ensure_schemas()
        return cls(db, clock or SystemClock(), CONTEXTS if contexts is None else contexts, mail, extra_jobs)

    # Services and ports ------------------------------------------------------------------------------------

    def _provide(self, kind: type[T], service: T) -> None:
        self._services[kind] = service

    def get(self, kind: type[T]) -> T:
        """The service of type `kind` (an application, a query, the clock, the engine, ...)."""
        try:
            return cast(T, self._services[kind])
        except KeyError:
            raise LookupError(f"no service of type {kind.__name__} is registered") from None

    def port(self, kind: type[T]) -> T:
        """The port `kind` (a dataclass), each field filled with the service of its type - or, for a field typed by
        another port (an application service spanning contexts, e.g. `ManualRuns`), with that port; built once."""
        found = self._ports.get(kind)
        if found is None:
            if not dataclasses.is_dataclass(kind):
                raise TypeError(f"{kind.__name__} is not a port (a dataclass of services)")
            hints = typing.get_type_hints(kind)
            try:
                found = kind(**{f.name: self._filled(hints[f.name]) for f in dataclasses.fields(kind)})
            except LookupError as exc:
                raise LookupError(f"cannot build port {kind.__name__}: {exc}") from None
            self._ports[kind] = found
        return cast(T, found)

    def _filled(self, kind: type[T]) -> T:
        if kind not in self._services and dataclasses.is_dataclass(kind):
            return self.port(kind)
        return self.get(kind)

    @property
    def dsn(self) -> str:
        return self.db.dsn

    @property
    def ops(self) -> OperationalStore:
        return self.get(OperationalStore)

    @property
    def mailer(self) -> SmtpMailer:
        return self.get(SmtpMailer)

    @property
    def audit(self) -> AuditReplay:
        return self.get(AuditReplay)

    def relay_report(self) -> RelayReport | None:
        return self.relay.status if self.relay is not None else None

    def wake_scheduler(self) -> None:
        """Tell an in-process scheduler that a run was requested (it also polls)."""
        self.bell.ring()

    # What the contexts declare, together ---------------------------------------------------------------------

    def _projections(self) -> list[Projection]:
        found: list[Projection] = []
        for context in self.contexts:
            found.extend(context.projections)
            if context.application is not None and context.activity != ():  # () : no trail; None: every event
                found.append(
                    activity_projection(
                        context.name,
                        tuple(context.activity or ()),
                        by_company=context.activity_by_company,
                        company_from=context.activity_company_from,
                    )
                )
        return found

    @cached_property
    def web(self) -> WebComposition:
        """The endpoints, pages and navigation of every context."""
        return compose_web(self.contexts)

    def job_handlers(self) -> dict[str, JobHandler]:
        """Each job's handler bound to its port: `handler(run)` yields (counts, cursor) per batch."""
        return {job.definition.name: partial(job.run, self.port(job.port)) for job in self.declared_jobs}

    def slot_firers(self) -> list[Firer]:
        """Each context's schedules kept outside job settings, bound to their ports: `fire(now)`."""
        return [
            partial(firer.fire, self.port(firer.port)) for context in self.contexts for firer in context.slot_firers
        ]

    def background_workers(self) -> list[Worker]:
        """The contexts' background threads (not started)."""
        return [worker.make(self.port(worker.port)) for context in self.contexts for worker in context.workers]

    # Lifecycle ---------------------------------------------------------------------------------------------

    def start_projection_runners(self) -> None:
        """Run the projections in background threads, one per source application (catch-up, then LISTEN/NOTIFY)."""
        by_source: dict[str, list[str]] = {}
        for name, projection in self.engine.projections.items():
            by_source.setdefault(projection.source, []).append(name)
        if self.listener is None:
            self.listener = Listener(self.dsn)  # one LISTEN connection for every runner
            self.listener.start()
        for names in by_source.values():
            runner = ProjectionRunner(self.engine, names, self.dsn, listener=self.listener)
            runner.start()
            self.runners.append(runner)

    def close(self) -> None:
        for runner in self.runners:
            runner.stop()
        for runner in self.runners:
            runner.join(timeout=3)
        if self.listener is not None:
            self.listener.stop()
            self.listener.join(timeout=3)
        self.mailer.close()
        self.get(ProviderDirectory).close()
        for app in self.applications.values():
            app.close()
        close_shared_datastore(self._event_store)
        self.db.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def compose_web(contexts: Sequence[BoundedContext[Any]]) -> WebComposition:
    """The web app's endpoints, pages and navigation: the shell's and every context's, in registry order."""
    from api.web import SHELL_PAGES

    return WebComposition(
        endpoints=[ep for c in contexts for ep in c.endpoints],
        pages=[*SHELL_PAGES, *(page for c in contexts for page in c.pages)],
        nav=sorted((item for c in contexts for item in c.nav), key=lambda item: item.order),
    )
