"""Staff in-app notifications: admins write a notice to roles or named staff (optionally scheduled); every staff
member reads the notices published to them and acknowledges them; admins see who read each one and when."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_TITLE
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.clock import Clock
from domain.shared.values import MIN_REASON, Instant
from domain.staff_notices.application import MAX_RECIPIENTS, StaffNotices
from domain.staff_notices.notice import Priority, StaffNoticeNotFound
from projections.staff_notices import MyNotice, NoticeRow, StaffNoticeQueries

READ = (Permission.STAFF_NOTIFICATIONS, Level.READ)
WRITE = (Permission.STAFF_NOTIFICATIONS, Level.WRITE)


@dataclass(frozen=True)
class StaffNotificationPort:
    """What the staff notification endpoints and pages use."""

    notices: StaffNotices
    queries: StaffNoticeQueries
    clock: Clock
    identity: Identity  # who created each notice, by name (the portal's pages)


class StaffNotificationIn(BaseModel):
    """A notice to the staff holding any of `roles` and to each of `staff_ids` (at least one of the two)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(
        min_length=MIN_REASON, max_length=200, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_TITLE
    )
    body: str = Field(max_length=5000)
    priority: Priority
    roles: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    staff_ids: list[UUID] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    publish_at: Instant | None = None


class MineQuery(BaseModel):
    """The caller's notices: all published to them, or only the unread; keyset paging."""

    model_config = ConfigDict(extra="forbid")

    unread: bool = False
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class NoticeListQuery(BaseModel):
    """Keyset paging of the brand's notices."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class MyNoticeOut(BaseModel):
    """A notice as its reader sees it; `read_at` is when they acknowledged it (null: unread)."""

    id: UUID
    title: str
    body: str
    priority: Priority
    publish_at: InstantOut
    created_by: str
    read_at: InstantOut | None
    read: bool


class MinePageOut(BaseModel):
    """The caller's notices, newest first, and how many are unread (the bell's count)."""

    unread_count: int
    items: list[MyNoticeOut]
    next_cursor: str | None


class StaffNotificationOut(BaseModel):
    """A notice as the admins see it: whom it is for, when it shows, how many acknowledged it."""

    id: UUID
    title: str
    body: str
    priority: Priority
    roles: list[str]
    staff_ids: list[UUID]
    publish_at: InstantOut
    published: bool
    created_by: str
    created_at: InstantOut
    read_count: int
    recipients: int


class StaffNotificationPageOut(BaseModel):
    """The brand's notices, newest publish time first."""

    items: list[StaffNotificationOut]
    next_cursor: str | None


class ReceiptOut(BaseModel):
    """One recipient and whether (when) they acknowledged the notice."""

    reader_id: UUID
    name: str
    kind: str
    email: str | None
    read_at: InstantOut | None


class ReceiptsOut(BaseModel):
    """Who a notice is for and who read it, when."""

    notice: StaffNotificationOut
    read_count: int
    unread_count: int
    receipts: list[ReceiptOut]


def mine_out(notice: MyNotice) -> MyNoticeOut:
    """A reader's notice on the wire."""
    return MyNoticeOut(**notice.__dict__, read=notice.read_at is not None)


def notice_out(row: NoticeRow, clock: Clock) -> StaffNotificationOut:
    """A notice on the wire, for admins."""
    return StaffNotificationOut(**row.__dict__, published=row.publish_at <= clock.now())


def reader(principal: Principal) -> tuple[UUID, str, str, tuple[str, ...]]:
    """Who reads: the staff member (or API key) with their kind, name and roles."""
    return principal.id, principal.kind, principal.name, principal.roles


def _notice(ctx: Context[StaffNotificationPort], notice_id: UUID) -> StaffNotificationOut | None:
    row = ctx.port.queries.notice(ctx.brand_id, notice_id)
    return notice_out(row, ctx.port.clock) if row else None


def create_staff_notification(ctx: Context[StaffNotificationPort]) -> Reply:
    body: StaffNotificationIn = ctx.body
    result = ctx.port.notices.publish(
        ctx.brand_id, body.title, body.body, body.priority, body.roles, body.staff_ids, body.publish_at
    )
    location = f"/api/v1/staff-notifications/{result.id}"
    return ctx.written(result, StaffNotices.name, lambda: _notice(ctx, result.id), location)


def list_staff_notifications(ctx: Context[StaffNotificationPort]) -> Reply:
    q: NoticeListQuery = ctx.query
    page = ctx.port.queries.notices(ctx.brand_id, q.cursor, q.limit)
    items = [notice_out(row, ctx.port.clock) for row in page.items]
    return json_response(StaffNotificationPageOut(items=items, next_cursor=page.next_cursor))


def my_staff_notifications(ctx: Context[StaffNotificationPort]) -> Reply:
    q: MineQuery = ctx.query
    me, _, _, roles = reader(ctx.principal)
    now = ctx.port.clock.now()
    page = ctx.port.queries.mine(ctx.brand_id, me, roles, now, q.unread, q.cursor, q.limit)
    unread = ctx.port.queries.unread(ctx.brand_id, me, roles, now)
    items = [mine_out(n) for n in page.items]
    return json_response(MinePageOut(unread_count=unread, items=items, next_cursor=page.next_cursor))


def acknowledge_staff_notification(ctx: Context[StaffNotificationPort]) -> Reply:
    me, kind, name, roles = reader(ctx.principal)
    notice_id: UUID = ctx.path["notice_id"]
    result = ctx.port.notices.acknowledge(ctx.brand_id, notice_id, me, kind, name, roles)

    def read() -> MyNoticeOut | None:
        found = ctx.port.queries.my_notice(ctx.brand_id, notice_id, me, roles, ctx.port.clock.now())
        return mine_out(found) if found is not None and found.read_at is not None else None

    return ctx.written(result, StaffNotices.name, read)


def staff_notification_receipts(ctx: Context[StaffNotificationPort]) -> Reply:
    notice_id: UUID = ctx.path["notice_id"]
    notice = _notice(ctx, notice_id)
    if notice is None:
        raise StaffNoticeNotFound(f"StaffNotice {notice_id} not found", id=str(notice_id))
    receipts = ctx.port.queries.receipts(ctx.brand_id, notice_id)
    read = sum(1 for r in receipts if r.read_at is not None)
    return json_response(
        ReceiptsOut(
            notice=notice,
            read_count=read,
            unread_count=len(receipts) - read,
            receipts=[ReceiptOut(**r.__dict__) for r in receipts],
        )
    )


ENDPOINTS = serve(
    StaffNotificationPort,
    "staff notifications",
    [
        Endpoint(
            "POST",
            "/api/v1/staff-notifications",
            create_staff_notification,
            "Write a notice to roles and/or named staff, priority HIGH/MEDIUM/LOW, optionally scheduled (publish_at)",
            WRITE,
            body=StaffNotificationIn,
            response=StaffNotificationOut,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/staff-notifications",
            list_staff_notifications,
            "The brand's notices (scheduled ones too) with how many recipients acknowledged each",
            READ,
            query=NoticeListQuery,
            response=StaffNotificationPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/staff-notifications/mine",
            my_staff_notifications,
            "The notices published to the caller (by role or by name), newest first, with the unread count",
            None,
            query=MineQuery,
            response=MinePageOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/staff-notifications/{notice_id}/ack",
            acknowledge_staff_notification,
            "Acknowledge a notice published to the caller (a repeat changes nothing)",
            None,
            response=MyNoticeOut,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/staff-notifications/{notice_id}/receipts",
            staff_notification_receipts,
            "Who a notice is for and who acknowledged it, when (read receipts)",
            READ,
            response=ReceiptsOut,
        ),
    ],
)
