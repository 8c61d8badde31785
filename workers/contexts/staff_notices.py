"""Staff in-app notifications (issue #17 item 5): admins' notices to roles or named staff, with a priority and an
optional publish time; the bell in the portal's top bar; acknowledgements and the read-receipts report."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from api.pages import staff_notifications as pages
from api.routes import staff_notifications as routes
from api.web import NavItem
from domain.identity.application import Identity
from domain.identity.permissions import Permission
from domain.identity.staff import StaffNotFound
from domain.staff_notices.application import StaffNotices
from domain.staff_notices.notice import NoticeReceipt, StaffNotice
from projections.staff_notices import StaffNoticeQueries, StaffNoticeView
from workers.bounded_context import BoundedContext, Kit


@dataclass(frozen=True)
class StaffParties:
    """The notices context's `NoticeParties`, answered by the identity context."""

    identity: Identity

    def has_staff(self, brand_id: UUID, staff_id: UUID) -> bool:
        try:
            self.identity.staff(brand_id, staff_id)
        except StaffNotFound:
            return False
        return True


def _notices(kit: Kit) -> StaffNotices:
    return StaffNotices(env=kit.env, clock=kit.clock, parties=StaffParties(kit.get(Identity)))


CONTEXT = BoundedContext(
    application=StaffNotices,
    build=_notices,
    queries=(StaffNoticeQueries,),
    projections=(StaffNoticeView(),),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Staff notices", "/staff-notifications", "staff-notifications", Permission.STAFF_NOTIFICATIONS, 85),),
    permissions=(Permission.STAFF_NOTIFICATIONS,),
    audited=(StaffNotice, NoticeReceipt),
)
