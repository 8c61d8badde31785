"""Jobs as staff see and start them: the job board (each job with the brand's settings and latest run) and manual
runs - bounded per brand and job, and fanned out per source for the notice sync."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar
from uuid import UUID

import structlog

from api.services.notice_syncs import SyncRequests
from domain.identity.application import Identity
from domain.identity.principal import Principal
from domain.jobs.application import JobDefinition, Jobs, RunBell
from domain.jobs.job import JobSettings
from domain.notices.source import SourceNotFound, SyncAlreadyRunning
from domain.notices.triggering import JOB as SYNC_JOB
from domain.notices.triggering import job_run_id, manual_sync_source
from domain.shared.clock import Clock
from domain.shared.errors import InvalidValue
from domain.shared.values import sees_company
from projections.engine import ProjectionEngine
from projections.jobs import JobRunQueries, JobRunView, RunPage
from projections.notice_queries import Scope
from projections.notice_sources import NoticeSourceQueries

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class JobSummary:
    """A registered job with the brand's settings and its latest run."""

    definition: JobDefinition
    settings: JobSettings
    last_run: JobRunView | None
    #: The settings' version (0 while they are the job's defaults): the ETag an If-Match on a change sends back.
    version: int = 0

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def title(self) -> str:
        return self.definition.title

    @property
    def description(self) -> str:
        return self.definition.description

    @property
    def filter_keys(self) -> list[str]:
        return sorted(self.definition.filter_keys)


@dataclass(frozen=True)
class JobBoard:
    """The registered jobs as a brand sees them: settings from the jobs context, latest runs from the read model."""

    jobs: Jobs
    queries: JobRunQueries

    def all(self, brand_id: UUID, companies: Sequence[str] = ()) -> list[JobSummary]:
        """Every registered job, by name; its latest run of those the caller may see (`companies`: theirs, empty:
        every company -- another company's runs, a notice sync of its source, are left out)."""
        last = self.queries.last_runs(brand_id, companies)
        every = self.jobs.every_settings_and_version(brand_id)
        return [
            JobSummary(self.jobs.definition(name), every[name][0], last.get(name), every[name][1])
            for name in sorted(self.jobs.catalogue)
        ]

    def one(self, brand_id: UUID, name: str, companies: Sequence[str] = ()) -> JobSummary:
        """One registered job (JobNotFound when none has the name); its latest run as `all` gives it."""
        return self._summary(brand_id, name, self.queries.last_runs(brand_id, companies).get(name))

    def history(
        self, brand_id: UUID, name: str, cursor: str | None, limit: int, companies: Sequence[str] = ()
    ) -> RunPage:
        """Runs of one registered job, newest first (JobNotFound when none has the name); keyset pages; of
        `companies` and brand-wide (empty: every company)."""
        self.jobs.definition(name)
        return self.queries.history(brand_id, name, cursor, limit, companies)

    def _summary(self, brand_id: UUID, name: str, last: JobRunView | None) -> JobSummary:
        settings, version = self.jobs.settings_and_version(brand_id, name)
        return JobSummary(self.jobs.definition(name), settings, last, version)


def check_company_filter(filters: Mapping[str, str], companies: Sequence[str]) -> None:
    """A caller limited to `companies` (empty: every company) may filter a job's runs, or its settings, only on one of
    theirs: a run filtered to a company is that company's (`Jobs.request_run`), which they could not see. InvalidValue
    naming `filters.company` otherwise."""
    company = (filters.get("company") or "").strip()
    if company and not sees_company(companies, company):
        raise InvalidValue(
            "filters.company", f"you work for {', '.join(companies)}: a run filtered to {company} is not yours to start"
        )


@dataclass(frozen=True)
class RunOrder:
    """What a person asks of a manual run: the as-of date (None: the brand's business date), overrides, a dry run."""

    as_of: date | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    filters: Mapping[str, str] = field(default_factory=dict)
    batch_size: int | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class RunsRequested:
    """The job runs a manual request asked for, and the jobs position their read model shows them at."""

    run_ids: list[UUID]
    position: int


@dataclass(frozen=True)
class ManualRuns:
    """Manual runs of any job, for the API and the portal alike."""

    #: How long a request waits for the run history to show the runs it recorded.
    SETTLE_SECONDS: ClassVar[float] = 5.0

    jobs: Jobs
    queries: JobRunQueries
    identity: Identity
    engine: ProjectionEngine
    notice_sources: NoticeSourceQueries
    clock: Clock
    bell: RunBell
    syncs: SyncRequests

    def start(
        self, brand_id: UUID, name: str, order: RunOrder, *, caller: Principal, companies: Sequence[str]
    ) -> RunsRequested:
        """Request a manual run of the job for `caller`; NotPermitted (403) when the job needs a permission of them
        beyond JOBS WRITE (`JobDefinition.run_needs`: emailing a report, MASTER_REPORTS), RunQueueFull (429) when
        the brand already has as many of its manual runs waiting as it may. A notice sync runs per source:
        `variables.source_id` names one, otherwise every enabled source the caller may see (`companies`) is synced."""
        self.jobs.definition(name).check_manual_run(caller)
        actor = caller.actor
        if name == SYNC_JOB:
            return self._sync(Scope.of(brand_id, companies), actor, order)
        check_company_filter({**self.jobs.settings(brand_id, name).filters, **order.filters}, companies)
        as_of = order.as_of or self.identity.business_date(brand_id)
        # The bound is counted from the event store as the run is recorded (`Jobs.request_manual_run`); the lock
        # only spares a burst of requests from racing to that save.
        with self.queries.manual_request(brand_id, name) as listed_waiting:
            result = self.jobs.request_manual_run(
                brand_id,
                name,
                requested_by=actor,
                as_of=as_of,
                variables=dict(order.variables),
                filters=dict(order.filters),
                batch_size=order.batch_size,
                dry_run=order.dry_run,
                listed_waiting=listed_waiting,
            )
        self._settle(result.position)  # outside the lock: a lagging read model holds up no other request
        self.bell.ring()
        return RunsRequested([result.id], result.position)

    def _sync(self, scope: Scope, actor: str, order: RunOrder) -> RunsRequested:
        """A manual notice sync: one sync run (and job run) per source, as the dashboard's sync button does."""
        source_id = manual_sync_source(
            order.variables,
            as_of=order.as_of,
            filters=order.filters,
            batch_size=order.batch_size,
            dry_run=order.dry_run,
        )
        now = self.clock.now()
        if source_id is not None:
            if self.notice_sources.source(scope, source_id, now) is None:
                raise SourceNotFound(f"NoticeSource {source_id} not found", id=str(source_id))
            sync_id = self.syncs.request(scope.brand_id, source_id, trigger="manual", requested_by=actor)
            return RunsRequested([job_run_id(sync_id)], self._settle(self.engine.head(Jobs.name)))
        sources = [s for s in self.notice_sources.sources(scope, now) if s.enabled]
        if not sources:
            raise InvalidValue("variables.source_id", "there is no enabled notice source to sync; connect one first")
        started: list[UUID] = []
        busy: SyncAlreadyRunning | None = None
        for source in sources:
            try:
                sync_id = self.syncs.request(scope.brand_id, source.id, trigger="manual", requested_by=actor)
            except SyncAlreadyRunning as exc:  # That source is syncing now: this request is already being served.
                busy = exc
                continue
            started.append(job_run_id(sync_id))
        if not started and busy is not None:
            raise busy
        return RunsRequested(started, self._settle(self.engine.head(Jobs.name)))

    def _settle(self, position: int) -> int:
        """Let the run history catch up with `position` (the runs are then readable at their Location), for at most
        SETTLE_SECONDS: a lagging read model delays the answer, it does not change what was recorded."""
        if not self.engine.wait_for(Jobs.name, position, timeout=self.SETTLE_SECONDS):
            log.warning("jobs.run_history_behind", position=position)
        return position
