"""Repayment operations: Softmedia notice sources and sync runs, notices matched to borrowers, feeds and KPIs."""

from __future__ import annotations

from adapters.aggregate_snapshots import AggregateSnapshots
from adapters.operational import SourceTokenStore
from adapters.outbound import OutboundPolicy
from adapters.postgres import Database
from api.pages import notice_sync as sync_pages
from api.pages import notices as pages
from api.routes import notice_sources, notices
from api.web import NavItem
from domain.identity.permissions import Permission
from domain.notices.application import Notices
from domain.notices.notice import Notice
from domain.notices.source import NoticeSource
from domain.notices.sync_run import SyncRun
from projections.notice_feed import NoticeFeedQueries
from projections.notice_matching import NoticeBorrowerKeys, NoticeNameKeys, NoticeRematchQueue
from projections.notice_queries import NoticeQueries
from projections.notice_sources import NoticeSourceQueries
from projections.notices import NoticeViews
from projections.projection import topics_of
from workers import notice_sync
from workers.bounded_context import BackgroundWorker, BoundedContext, Job, Kit, SlotFirer


def _notices(kit: Kit) -> Notices:
    tokens = SourceTokenStore(kit.get(Database).pool)
    app = Notices(env=kit.env, clock=kit.clock, url_check=kit.get(OutboundPolicy), tokens=tokens)
    # A snapshot every 100 events (a source records each sync's start and end: some 35,000 events a year): the
    # auditor's as-of replay of a source decodes at most the 100 after it.
    app.snapshot_every, app.snapshot_keeper = 100, AggregateSnapshots(kit.get(Database).pool)
    return app


CONTEXT = BoundedContext(
    application=Notices,
    build=_notices,
    queries=(NoticeQueries, NoticeSourceQueries, NoticeFeedQueries),
    projections=(NoticeViews(), NoticeRematchQueue(), NoticeNameKeys(), NoticeBorrowerKeys()),
    # What staff and jobs do to sources and sync runs, and staff members' match decisions on notices (confirmed or
    # corrected, removed: brandless events, whose row takes the brand of the notice's import from the event store).
    # The notices' imports, changes and automatic matches (thousands per sync) stay in their own history.
    activity=topics_of(
        NoticeSource.Connected,
        NoticeSource.Reconfigured,
        SyncRun.Started,
        SyncRun.Finished,
        Notice.MatchConfirmed,
        Notice.MatchRemoved,
    ),
    # Each belongs to a company of the brand: a staff member limited to companies sees only theirs in the trail.
    activity_by_company=True,
    endpoints=(*notice_sources.ENDPOINTS, *notices.ENDPOINTS),
    pages=(*pages.PAGES, *sync_pages.PAGES),
    jobs=(Job(notice_sync.DEFINITION, notice_sync.run_sync, notice_sync.NoticeJobPort),),
    slot_firers=(SlotFirer(notice_sync.fire_source_slots, notice_sync.NoticeJobPort),),
    workers=(BackgroundWorker(notice_sync.Rematcher, notice_sync.NoticeJobPort),),
    nav=(
        NavItem("Repayments", "/repayments", "repayments", Permission.NOTICES, 30),
        NavItem("Sync", "/sync", "sync", Permission.NOTICE_SYNC, 100),
    ),
    permissions=(Permission.NOTICES, Permission.NOTICE_SYNC),
    audited=(Notice, NoticeSource, SyncRun),
)
