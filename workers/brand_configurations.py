"""Brands' configurations for the scheduler's passes: replayed once, kept while the identity application records
nothing."""

from __future__ import annotations

import dataclasses
import threading
from uuid import UUID

from domain.identity.application import ConfigurationState, Identity
from domain.shared.clock import brand_business_date


class BrandConfigurations:
    """`Identity.configuration_state` for passes that ask it again and again (the scheduler's every 5 s, its notice
    source slots), without replaying the brand and its configuration each time.

    A pass calls `refresh()` first: one small read, the identity application's notification head. Every change of a
    brand or of its configuration (an admin's, the close of business moving the business date on) is an event of
    that application, so while the head stays, the states kept are the ones a replay would give; when it moves, they
    are all forgotten and read again as asked. The business date is worked out at each ask from the kept settings
    and the clock (it moves at midnight without an event). Each idle pass replayed two aggregates a brand.
    """

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self._lock = threading.Lock()
        self._head: int | None = None  # None until the first refresh: nothing is kept before one
        self._kept: dict[UUID, ConfigurationState] = {}
        self.replays = 0  # configurations read from the event store (tests and diagnostics)

    def refresh(self) -> None:
        """Read the identity application's head; forget every kept state if anything was recorded since."""
        head = self.identity.recorder.max_notification_id() or 0
        with self._lock:
            if head != self._head:
                self._kept.clear()
                self._head = head

    def state(self, brand_id: UUID) -> ConfigurationState:
        """The brand's settings, configuration version and business date (now), as `Identity.configuration_state`."""
        with self._lock:
            kept, head = self._kept.get(brand_id), self._head
        if kept is None:
            kept = self.identity.configuration_state(brand_id)
            with self._lock:
                self.replays += 1
                # Read after the head it is kept under (a change since then moves the head: the next refresh drops it).
                if head is not None and head == self._head:
                    self._kept[brand_id] = kept
            return kept
        today = brand_business_date(self.identity.clock.now(), kept.settings.timezone, kept.settings.business_date)
        return kept if today == kept.business_date else dataclasses.replace(kept, business_date=today)

    def timezone(self, brand_id: UUID) -> str:
        """The brand's business-day timezone (its configured setting), as `Identity.timezone`."""
        return self.state(brand_id).settings.timezone
