"""Repayment operations: Softmedia notice sources and sync runs, notices matched to borrowers, feeds and KPIs."""

from __future__ import annotations

from adapters.outbound import OutboundPolicy
from api import portal_notices
from api.routes import notices
from api.web import NavItem
from domain.identity.permissions import Permission
from domain.notices.application import Notices
from domain.notices.notice import Notice
from domain.notices.source import NoticeSource
from domain.notices.sync_run import SyncRun
from projections.engine import topics_of
from projections.notices import NoticeNameKeys, NoticeQueries, NoticeRematchQueue, NoticeViews
from workers import notice_sync
from workers.bounded_context import BackgroundWorker, BoundedContext, Job, Kit, SlotFirer


def _notices(kit: Kit) -> Notices:
    return Notices(env=kit.env, clock=kit.clock, url_check=kit.get(OutboundPolicy))


CONTEXT = BoundedContext(
    application=Notices,
    build=_notices,
    queries=(NoticeQueries,),
    projections=(NoticeViews(), NoticeRematchQueue(), NoticeNameKeys()),
    # What staff and jobs do to sources and sync runs; notices themselves (thousands per sync) have their own history.
    activity=topics_of(NoticeSource.Connected, NoticeSource.Reconfigured, SyncRun.Started, SyncRun.Finished),
    endpoints=notices.ENDPOINTS,
    routes=portal_notices.ROUTES,
    jobs=(Job(notice_sync.DEFINITION, notice_sync.run_sync),),
    slot_firers=(SlotFirer(notice_sync.fire_source_slots),),
    workers=(BackgroundWorker(notice_sync.Rematcher),),
    nav=(
        NavItem("Repayments", "/repayments", "repayments", Permission.NOTICES, 30),
        NavItem("Sync", "/sync", "sync", Permission.NOTICE_SYNC, 100),
    ),
    permissions=(Permission.NOTICES, Permission.NOTICE_SYNC),
    audited=(Notice, NoticeSource, SyncRun),
)
