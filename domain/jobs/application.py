"""Use cases of the jobs context: job configuration and the life of job runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.jobs.job import (
    BatchCounts,
    JobConfiguration,
    JobNotFound,
    JobRun,
    JobRunNotFound,
    JobSettings,
    RunStatus,
    check_as_of,
)
from domain.jobs.queue import ENDED, ManualRunQueue, queue_id
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication, retried
from domain.shared.errors import InvalidValue, NotPermitted

_RUN_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/job-run")


@dataclass(frozen=True)
class JobDefinition:
    """A job the platform can run: its name, purpose, default settings and accepted filters."""

    name: str
    title: str
    description: str
    defaults: JobSettings
    filter_keys: frozenset[str] = field(default_factory=frozenset)
    variable_keys: frozenset[str] = field(default_factory=lambda: frozenset({"as_of"}))
    #: Variables a run cannot do without (a run asked for without them is a 422, not an attempt that fails).
    required_variables: frozenset[str] = field(default_factory=frozenset)
    #: Whether its handler honours `JobRun.dry_run` (computes and reports counts, writes nothing).
    dry_run: bool = False
    #: Runs of one brand whose jobs share a lane run one at a time (default: the job's own name), e.g. jobs that
    #: change the same records.
    lane: str | None = None
    #: False for a job whose runs are requested elsewhere (each notice source's own cron): it takes no cron.
    scheduled: bool = True
    #: True for the job that closes business dates and moves the business date on (the loan COB): its scheduled run
    #: for a brand following the calendar is dated the slot's day even when the business date lags behind it (the
    #: scheduler was down), and closes every missed date in order (`Identity.business_date_held`).
    catches_up: bool = False
    #: True for a job that reads what the close of business computes (a loan's status, DPD, dues, penal charges):
    #: its run waits to start while a run of a job that `catches_up` of its brand, dated before the run, has not
    #: ended (`JobRunQueries.due`), so after a scheduler outage it reads the positions of its own date.
    waits_for_close: bool = False
    #: A permission a manual run needs beyond JOBS WRITE, when what the run does on request is another permission's
    #: to ask for (the report-email job emails any report to any address: MASTER_REPORTS, as the reports' own email
    #: endpoint needs).
    run_needs: tuple[Permission, Level] | None = None

    @property
    def lane_name(self) -> str:
        """The lane its runs queue in, per brand."""
        return self.lane or self.name

    def check_manual_run(self, caller: Principal) -> None:
        """NotPermitted unless `caller` holds what a manual run of the job needs beyond JOBS WRITE (`run_needs`)."""
        if self.run_needs is not None and not caller.holds(*self.run_needs):
            permission, level = self.run_needs
            raise NotPermitted(
                f"a run of {self.name} needs {permission.value} at {level.value}", permission.value, level.value
            )


#: (earliest, latest) as-of date a brand's runs may take: its first business day and its business date.
AsOfWindow = Callable[[UUID], tuple[date, date]]


@dataclass(frozen=True)
class JobCatalogue:
    """Every job the platform can run (the bounded contexts' declarations together)."""

    definitions: tuple[JobDefinition, ...] = ()


@dataclass(frozen=True)
class CatalogueKinds:
    """The job names the scheduler works from, worked out from the catalogue once (again only when it changes)."""

    #: Every job, those that close business dates (`catches_up`) first: a pass fires a brand's close first.
    firing_order: tuple[str, ...]
    #: The jobs that close business dates (`JobDefinition.catches_up`).
    closing: tuple[str, ...]
    #: The jobs whose runs wait for a close of business dated before them (`JobDefinition.waits_for_close`).
    waiting: tuple[str, ...]


class RunBell:
    """Rung when a run is requested or an executor frees, so an in-process scheduler dispatches at once (it also
    polls, so a bell rung in another process is never needed for correctness)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def ring(self) -> None:
        """Wake the scheduler."""
        self._event.set()

    def clear(self) -> None:
        """Forget rings so far (the scheduler clears before its work, so a ring during it is not lost)."""
        self._event.clear()

    def wait(self, timeout: float | None) -> bool:
        """Sleep until rung or `timeout` seconds pass; whether it was rung."""
        return self._event.wait(timeout)


class Jobs(ContextApplication):
    """Job configuration per brand and job runs (requested, attempts, batches, retries, outcome)."""

    name = "jobs"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Any = None,
        catalogue: list[JobDefinition] | None = None,
        as_of_window: AsOfWindow | None = None,
    ):
        super().__init__(env, clock)
        #: The registered jobs by name: changed through `register` and `unregister` only (they keep `kinds`).
        self.catalogue: dict[str, JobDefinition] = {d.name: d for d in catalogue or []}
        #: The identity context's brand calendar (None: as-of dates are not checked, for unit tests only).
        self.as_of_window = as_of_window
        self._kinds: CatalogueKinds | None = None
        self._catalogue_lock = threading.Lock()

    def register(self, definition: JobDefinition) -> None:
        """Make a job known (later issues register theirs at start-up)."""
        with self._catalogue_lock:
            self.catalogue[definition.name] = definition
            self._kinds = None

    def unregister(self, job_name: str) -> None:
        """Forget a job (tests that registered their own)."""
        with self._catalogue_lock:
            self.catalogue.pop(job_name, None)
            self._kinds = None

    def kinds(self) -> CatalogueKinds:
        """The names the scheduler dispatches and fires by, worked out once a change of the catalogue rather than
        on every pass and dispatch."""
        with self._catalogue_lock:
            if self._kinds is None:
                jobs = self.catalogue.values()
                self._kinds = CatalogueKinds(
                    firing_order=tuple(sorted(self.catalogue, key=lambda name: not self.catalogue[name].catches_up)),
                    closing=tuple(job.name for job in jobs if job.catches_up),
                    waiting=tuple(job.name for job in jobs if job.waits_for_close),
                )
            return self._kinds

    def definition(self, job_name: str) -> JobDefinition:
        """The registered job, or JobNotFound."""
        try:
            return self.catalogue[job_name]
        except KeyError:
            raise JobNotFound(f"no job named '{job_name}'", job=job_name) from None

    def settings(self, brand_id: UUID, job_name: str) -> JobSettings:
        """The brand's settings for the job (its defaults until someone changes them)."""
        definition = self.definition(job_name)
        config = self.find(self._config_id(brand_id, job_name))
        return config.settings if isinstance(config, JobConfiguration) else definition.defaults

    def settings_and_version(self, brand_id: UUID, job_name: str) -> tuple[JobSettings, int]:
        """The brand's settings for the job and their version (its defaults at version 0 until someone changes
        them): the version is the ETag an If-Match sends back."""
        definition = self.definition(job_name)
        config = self.find(self._config_id(brand_id, job_name))
        if isinstance(config, JobConfiguration):
            return config.settings, config.version
        return definition.defaults, 0

    def every_settings_and_version(self, brand_id: UUID) -> dict[str, tuple[JobSettings, int]]:
        """`settings_and_version` of every registered job, by name, in one read of their configurations (the jobs
        list: one read a job before)."""
        ids = {self._config_id(brand_id, name): name for name in self.catalogue}
        found = self.find_many(list(ids))
        every = {name: (definition.defaults, 0) for name, definition in self.catalogue.items()}
        for config_id, config in found.items():
            if isinstance(config, JobConfiguration):
                every[ids[config_id]] = (config.settings, config.version)
        return every

    def configure(
        self, brand_id: UUID, job_name: str, changes: dict[str, Any], expected_version: int | None = None
    ) -> CommandResult:
        """Change some of the brand's settings for the job. `expected_version` (If-Match) refuses a change made
        against settings that moved since with 409 (settings never changed are version 0)."""
        definition = self.definition(job_name)
        stored = self.find(self._config_id(brand_id, job_name))
        if isinstance(stored, JobConfiguration):
            self.check_version(stored, expected_version)
        elif expected_version not in (None, 0):
            raise ConcurrentModification(
                f"the settings of {job_name} are at version 0, not {expected_version}; reload and retry",
                current_version=0,
            )
        current = stored.settings if isinstance(stored, JobConfiguration) else definition.defaults
        settings = JobSettings.model_validate({**current.model_dump(), **changes}).checked()
        self._check_keys(definition, settings.filters, settings.variables)
        if settings.cron is not None and not definition.scheduled:
            raise InvalidValue("cron", f"{job_name} takes no schedule of its own: {definition.description}")
        config = stored
        if isinstance(config, JobConfiguration):
            if config.settings == settings:
                return CommandResult(id=config.id, position=0, changed=False)
            config.reconfigure(settings)
        else:
            config = with_id(
                JobConfiguration,
                self._config_id(brand_id, job_name),
                brand_id=brand_id,
                job_name=job_name,
                settings=settings,
            )
        return self.commit(config)

    def request_run(
        self,
        brand_id: UUID,
        job_name: str,
        *,
        trigger: str,
        requested_by: str,
        as_of: date,
        variables: dict[str, str] | None = None,
        filters: dict[str, str] | None = None,
        batch_size: int | None = None,
        scheduled_for: datetime | None = None,
        run_id: UUID | None = None,
        dry_run: bool = False,
        catching_up: bool = False,
        closing_run: UUID | None = None,
        company: str | None = None,
    ) -> CommandResult:
        """Ask for a run; a scheduled run's id derives from its slot, so a slot never runs twice.

        `company`: the company of the brand whose record the run works on (a notice sync's source's), kept on the
        run so staff limited to other companies do not see it; else the company its `filters` name (a covenant job's
        `company` filter, of the request or the brand's settings); None for a brand-wide job.

        `as_of` must lie between the brand's first business day and its business date; a dry run (only of a job
        that supports one) computes and reports counts without writing, so it may look ahead. `catching_up`: the
        scheduled run of a job that `catches_up` for a brand following the calendar, dated its slot's day, which may
        be after a business date the close of business left behind while the scheduler was down (the run closes
        the missed dates and moves the business date on to the slot's day + 1). `closing_run`: such a close of
        business of the brand, under way when this scheduled run is asked for: the run may be dated up to the date
        that close brings the business date to (its as-of + 1), the brand's date once it has ended.
        """
        run = self._prepared_run(
            brand_id,
            job_name,
            trigger=trigger,
            requested_by=requested_by,
            as_of=as_of,
            variables=variables,
            filters=filters,
            batch_size=batch_size,
            scheduled_for=scheduled_for,
            run_id=run_id,
            dry_run=dry_run,
            catching_up=catching_up,
            closing_run=closing_run,
            company=company,
        )
        if scheduled_for is not None and self.find(run.id) is not None:
            return CommandResult(id=run.id, position=0, changed=False)
        return self.commit(run)

    def _prepared_run(
        self,
        brand_id: UUID,
        job_name: str,
        *,
        trigger: str,
        requested_by: str,
        as_of: date,
        variables: dict[str, str] | None,
        filters: dict[str, str] | None,
        batch_size: int | None,
        scheduled_for: datetime | None,
        run_id: UUID | None,
        dry_run: bool,
        catching_up: bool,
        closing_run: UUID | None,
        company: str | None,
    ) -> JobRun:
        """The run `request_run` asks for, checked and not yet saved (a scheduled run's id derives from its slot)."""
        definition = self.definition(job_name)
        if dry_run and not definition.dry_run:
            raise InvalidValue("dry_run", f"{job_name} cannot do a dry run: it cannot work without writing")
        if catching_up and not (definition.catches_up and scheduled_for is not None):
            raise InvalidValue("as_of", "only a scheduled run of a job that closes business dates catches up")
        reached = self._closing_reaches(brand_id, closing_run, scheduled_for) if closing_run is not None else None
        if self.as_of_window is not None:
            earliest, latest = self.as_of_window(brand_id)
            if catching_up:
                latest = max(latest, as_of)
            elif reached is not None:
                latest = max(latest, reached)
            check_as_of(as_of, earliest, latest, dry_run=dry_run)
        base = self.settings(brand_id, job_name)
        overrides: dict[str, Any] = {
            "filters": {**base.filters, **(filters or {})},
            "variables": {**base.variables, **(variables or {}), "as_of": as_of.isoformat()},
        }
        if batch_size is not None:
            overrides["batch_size"] = batch_size
        settings = JobSettings.model_validate({**base.model_dump(), **overrides}).checked()
        self._check_keys(definition, settings.filters, settings.variables)
        if missing := sorted(definition.required_variables - set(settings.variables)):
            raise InvalidValue("variables", f"{job_name} needs {', '.join(missing)}: {definition.description}")
        # A run filtered to a company works on that company's records only: it is that company's run, as a notice
        # sync of its source is (staff limited to other companies do not see it, nor the filter's code).
        company = company or settings.filters.get("company", "").strip() or None
        run_id = run_id or uuid4()
        if scheduled_for is not None:
            run_id = uuid5(_RUN_NAMESPACE, f"{brand_id}:{job_name}:{scheduled_for.isoformat()}")
        run: JobRun = with_id(
            JobRun,
            run_id,
            brand_id=brand_id,
            job_name=job_name,
            trigger=trigger,
            requested_by=requested_by,
            as_of=as_of,
            settings=settings,
            scheduled_for=scheduled_for,
            dry_run=dry_run,
            company=company,
        )
        return run

    def _closing_reaches(self, brand_id: UUID, closing_run: UUID, scheduled_for: datetime | None) -> date:
        """The business date the close of business `closing_run` brings the brand to (the day after its as-of)."""
        closing = self.find(closing_run)
        definition = self.catalogue.get(closing.job_name) if isinstance(closing, JobRun) else None
        if not (isinstance(closing, JobRun) and definition is not None and definition.catches_up
                and closing.brand_id == brand_id and scheduled_for is not None):  # fmt: skip
            raise InvalidValue("as_of", "only a scheduled run may be dated after a close of business of its brand")
        as_of: date = closing.as_of
        return as_of + timedelta(days=1)

    def request_manual_run(
        self,
        brand_id: UUID,
        job_name: str,
        *,
        requested_by: str,
        as_of: date,
        variables: dict[str, str] | None = None,
        filters: dict[str, str] | None = None,
        batch_size: int | None = None,
        dry_run: bool = False,
        listed_waiting: Callable[[], Iterable[UUID]] | None = None,
    ) -> CommandResult:
        """A person's run of a job; RunQueueFull (429) when MAX_QUEUED_MANUAL_RUNS of the brand's manual runs of it
        are already waiting (requested or retrying), and nothing is recorded.

        The waiting runs are counted from the event store - the brand's `ManualRunQueue` of the job and the statuses
        of its runs - never from the run history, which lags behind the runs or stops with its projector; the run is
        recorded with its admission to the queue in one save, so concurrent requests cannot overshoot (the loser of a
        race counts again). `listed_waiting`: the runs a read model lists as waiting, asked only when the queue is
        first opened, for manual runs recorded before queues were kept (each checked against the event store).
        """
        self.definition(job_name)

        def admit() -> CommandResult:
            found = self.find_latest(queue_id(brand_id, job_name))
            if isinstance(found, ManualRunQueue):
                queue = found
            else:
                earlier = self._unended_manual_runs(brand_id, job_name, listed_waiting() if listed_waiting else ())
                queue = ManualRunQueue.open(brand_id, job_name, earlier)
            run_id = uuid4()
            queue.admit(run_id, self._statuses(queue.runs))
            run = self._prepared_run(
                brand_id,
                job_name,
                trigger="manual",
                requested_by=requested_by,
                as_of=as_of,
                variables=variables,
                filters=filters,
                batch_size=batch_size,
                scheduled_for=None,
                run_id=run_id,
                dry_run=dry_run,
                catching_up=False,
                closing_run=None,
                company=None,
            )
            return self.commit(run, queue)

        return retried(admit, attempts=3)

    def _statuses(self, run_ids: Sequence[UUID]) -> dict[UUID, RunStatus]:
        """The status of each of the runs now, from the event store (a run not found is left out)."""
        return {run_id: run.status for run_id, run in self.find_many(run_ids).items() if isinstance(run, JobRun)}

    def _unended_manual_runs(self, brand_id: UUID, job_name: str, listed: Iterable[UUID]) -> list[UUID]:
        """Of the `listed` runs, the brand's manual runs of the job that have not ended, as the event store has them."""
        found = self.find_many(list(dict.fromkeys(listed)))
        return [
            run.id
            for run in found.values()
            if isinstance(run, JobRun)
            and (run.brand_id, run.job_name, run.trigger) == (brand_id, job_name, "manual")
            and run.status not in ENDED
        ]

    def lane(self, job_name: str) -> str:
        """The lane a job's runs queue in (its own name for a job no longer registered)."""
        definition = self.catalogue.get(job_name)
        return definition.lane_name if definition is not None else job_name

    def run(self, brand_id: UUID | None, run_id: UUID) -> JobRun:
        """The run, if in the brand (None: any brand, for workers)."""
        return self.load(JobRun, run_id, brand_id, JobRunNotFound)

    def start_attempt(self, run_id: UUID, worker: str) -> JobRun:
        """Start the next attempt of a run; two workers racing for it get a Conflict for the loser."""
        run = self.run(None, run_id)
        run.start_attempt(worker, self.clock.now())
        self.commit(run)
        return run

    def complete_batch(self, run: JobRun, counts: BatchCounts, cursor: str | None) -> None:
        """Record a batch of the run the caller holds."""
        run.complete_batch(counts, cursor)
        self.commit(run)

    def fail_attempt(self, run: JobRun, error: str) -> None:
        """Record a failed attempt of the run the caller holds."""
        run.fail_attempt(error, self.clock.now())
        self.commit(run)

    def succeed(self, run: JobRun) -> None:
        """Record the success of the run the caller holds."""
        run.succeed()
        self.commit(run)

    @staticmethod
    def _config_id(brand_id: UUID, job_name: str) -> UUID:
        return uuid5(_RUN_NAMESPACE, f"config:{brand_id}:{job_name}")

    @staticmethod
    def _check_keys(definition: JobDefinition, filters: dict[str, str], variables: dict[str, str]) -> None:
        unknown_filters = set(filters) - definition.filter_keys
        if unknown_filters:
            raise InvalidValue(
                "filters",
                f"unknown filter(s) {sorted(unknown_filters)}; {definition.name} accepts {sorted(definition.filter_keys)}",
            )
        unknown_vars = set(variables) - definition.variable_keys
        if unknown_vars:
            raise InvalidValue(
                "variables",
                f"unknown variable(s) {sorted(unknown_vars)}; {definition.name} accepts {sorted(definition.variable_keys)}",
            )
