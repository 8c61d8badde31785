"""Composition root: the database, every context's application, projections and queries."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from adapters.mailer import MailSettings, SmtpMailer
from adapters.operational import OperationalStore
from adapters.outbound import OutboundPolicy
from adapters.passwords import Argon2Hasher
from adapters.postgres import Database, eventsourcing_env
from domain.audit.replay import AuditReplay
from domain.blocklist.application import Blocklists
from domain.covenants.application import Covenants
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.jobs.application import JobDefinition, Jobs
from domain.notices.application import Notices
from domain.notices.source import NoticeSource
from domain.notices.sync_run import SyncRun
from domain.shared.clock import Clock, SystemClock
from projections.activity import ActivityQueries, activity_projection
from projections.blocklist import BlocklistQueries, BlocklistView
from projections.brands import BrandDirectory, BrandQueries
from projections.covenants import CovenantQueries, CovenantViews
from projections.customers import CustomerDirectory, CustomerQueries, CustomerTimeline
from projections.engine import ProjectionEngine, ProjectionRunner, topics_of
from projections.identity import ApiKeyList, BrandConfigHistory, IdentityQueries, StaffDirectory
from projections.jobs import JobRunHistory, JobRunQueries
from projections.notices import NoticeQueries, NoticeRematchQueue, NoticeViews
from workers.job_catalogue import JOB_DEFINITIONS

SOURCES = ("customers", "identity", "jobs", "blocklist", "covenants")
#: What staff and jobs do to notice sources and sync runs; notices themselves (thousands per sync) have their own
#: history table.
NOTICE_ACTIVITY = topics_of(NoticeSource.Connected, NoticeSource.Reconfigured, SyncRun.Started, SyncRun.Finished)


def audited_aggregates() -> list[type]:
    """The aggregate types auditors can replay (uniqueness claims are bookkeeping, not records)."""
    from domain.blocklist.entry import BlocklistEntry
    from domain.covenants.covenant import Covenant, CovenantEvaluation, CovenantNotice
    from domain.customers.customer import CustomerRecord
    from domain.identity.api_key import ApiKey
    from domain.identity.brand import Brand
    from domain.identity.brand_config import BrandConfiguration
    from domain.identity.roster import BrandAdmins
    from domain.identity.staff import StaffUser
    from domain.jobs.job import JobConfiguration, JobRun
    from domain.notices.notice import Notice

    return [
        CustomerRecord, Brand, BrandConfiguration, BrandAdmins, StaffUser, ApiKey, JobConfiguration, JobRun,
        BlocklistEntry, Covenant, CovenantEvaluation, CovenantNotice, Notice, NoticeSource, SyncRun,
    ]  # fmt: skip


def all_projections() -> list[Any]:
    """Every projection the platform maintains."""
    return [
        BrandDirectory(),
        CustomerDirectory(),
        CustomerTimeline(),
        JobRunHistory(),
        StaffDirectory(),
        ApiKeyList(),
        BrandConfigHistory(),
        BlocklistView(),
        CovenantViews(),
        NoticeViews(),
        NoticeRematchQueue(),
        *[activity_projection(source) for source in SOURCES],
        activity_projection("notices", NOTICE_ACTIVITY),
    ]


@dataclass
class Platform:
    """Everything a process (API, worker, CLI, test) needs, opened once and closed once."""

    dsn: str
    db: Database
    customers: Customers
    identity: Identity
    jobs: Jobs
    blocklists: Blocklists
    covenants: Covenants
    notices: Notices
    engine: ProjectionEngine
    customer_queries: CustomerQueries
    brand_queries: BrandQueries
    job_queries: JobRunQueries
    identity_queries: IdentityQueries
    blocklist_queries: BlocklistQueries
    activity_queries: ActivityQueries
    covenant_queries: CovenantQueries
    notice_queries: NoticeQueries
    audit: AuditReplay
    mailer: SmtpMailer
    ops: OperationalStore
    clock: Clock
    outbound: OutboundPolicy  # where notice sources may point (public hosts, plus the operator's allow-list)
    runners: list[ProjectionRunner] = field(default_factory=list)
    relay: Any = None  # the in-process Kafka relay, when KAFKA_BOOTSTRAP_SERVERS is set
    scheduler_wake: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def open(
        cls,
        dsn: str,
        clock: Clock | None = None,
        job_catalogue: list[JobDefinition] | None = None,
        mail: MailSettings | None = None,
    ) -> Platform:
        """Connect, create schemas and tables, and construct the applications."""
        clock = clock or SystemClock()
        db = Database(dsn)
        db.ensure_schemas()
        with db.setup_lock():  # the applications create their tables as they start
            env = eventsourcing_env(dsn)
            ops = OperationalStore(db.pool)
            ops.setup()
            customers = Customers(env=env, clock=clock)
            identity = Identity(env=env, clock=clock, hasher=Argon2Hasher(), login_throttle=ops)
            jobs = Jobs(
                env=env,
                clock=clock,
                catalogue=JOB_DEFINITIONS if job_catalogue is None else job_catalogue,
                as_of_window=identity.as_of_window,
            )
            blocklists = Blocklists(env=env, clock=clock)
            covenants = Covenants(env=env, clock=clock)
            outbound = OutboundPolicy.from_env()
            notices = Notices(env=env, clock=clock, url_check=outbound)
            apps: dict[str, Any] = {
                "customers": customers,
                "identity": identity,
                "jobs": jobs,
                "blocklist": blocklists,
                "covenants": covenants,
                "notices": notices,
            }
            engine = ProjectionEngine(db.pool, apps, all_projections())
            engine.setup()
        return cls(
            dsn=dsn,
            db=db,
            customers=customers,
            identity=identity,
            jobs=jobs,
            blocklists=blocklists,
            covenants=covenants,
            notices=notices,
            engine=engine,
            customer_queries=CustomerQueries(db.pool),
            brand_queries=BrandQueries(db.pool),
            job_queries=JobRunQueries(db.pool),
            identity_queries=IdentityQueries(db.pool),
            blocklist_queries=BlocklistQueries(db.pool),
            activity_queries=ActivityQueries(db.pool),
            covenant_queries=CovenantQueries(db.pool),
            notice_queries=NoticeQueries(db.pool),
            audit=AuditReplay(apps, audited_aggregates()),
            mailer=SmtpMailer(mail or MailSettings.from_env()),
            ops=ops,
            clock=clock,
            outbound=outbound,
        )

    def start_projection_runners(self) -> None:
        """Run the projections in background threads, one per source application (catch-up, then LISTEN/NOTIFY)."""
        by_source: dict[str, list[str]] = {}
        for name, projection in self.engine.projections.items():
            by_source.setdefault(projection.source, []).append(name)
        for names in by_source.values():
            runner = ProjectionRunner(self.engine, names, self.dsn)
            runner.start()
            self.runners.append(runner)

    def wake_scheduler(self) -> None:
        """Tell an in-process scheduler that a run was requested (it also polls)."""
        self.scheduler_wake.set()

    def close(self) -> None:
        for runner in self.runners:
            runner.stop()
        for runner in self.runners:
            runner.join(timeout=3)
        self.mailer.close()
        for app in (self.customers, self.identity, self.jobs, self.blocklists, self.covenants, self.notices):
            app.close()
        self.db.close()
