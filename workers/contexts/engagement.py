"""Engagement (issue #17): message templates, borrower messages over SMS, WhatsApp and email with delivery
tracking, opt-outs, and the automatic borrower notifications (`borrower-notifications`). No application of its own:
templates and messages are operational rows (adapters/engagement_store.py, adapters/message_store.py); the loans'
schedule it reads is its projection of the Loan events (projections/engagement_dues.py). docs/engagement.md."""

from __future__ import annotations

from typing import Any

from adapters.engagement_store import EngagementStore
from adapters.message_store import MessageStore
from api.pages import engagement as pages
from api.routes import engagement as routes
from api.web import NavItem
from domain.identity.permissions import Permission
from projections.engagement_dues import EngagementDueQueries, EngagementDuesView
from workers import borrower_notifications as notify
from workers.bounded_context import BoundedContext, Job

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="engagement",
    queries=(EngagementStore, MessageStore, EngagementDueQueries),
    projections=(EngagementDuesView(),),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Messages", "/engagement/deliveries", "engagement", Permission.MESSAGES, 85),),
    permissions=(Permission.MESSAGES, Permission.MESSAGE_TEMPLATES),
    jobs=(Job(notify.BORROWER_NOTIFICATIONS, notify.run_borrower_notifications, notify.NotificationJobPort),),
)
