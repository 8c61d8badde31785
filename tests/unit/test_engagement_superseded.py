"""The rule of a due-date reminder that waited past its day (docs/engagement.md, "A reminder that waited")."""

from __future__ import annotations

from datetime import date, timedelta

from domain.engagement.templates import superseded

DUE = date(2026, 2, 28)


def test_a_due_reminder_gives_way_on_the_day_the_next_one_of_the_cadence_is_owed() -> None:
    # (kind, the last day it still goes, the first day it is superseded)
    for kind, last, first in (("due_7", 4, 3), ("due_3", 2, 1), ("due_1", 1, 0), ("due_0", 0, -1)):
        assert not superseded(kind, DUE, DUE - timedelta(days=last)), kind
        assert superseded(kind, DUE, DUE - timedelta(days=first)), kind
        assert superseded(kind, DUE, DUE + timedelta(days=30)), kind


def test_a_due_reminder_on_its_own_day_and_other_kinds_are_never_superseded() -> None:
    for kind, days in (("due_7", 7), ("due_3", 3), ("due_1", 1), ("due_0", 0)):
        assert not superseded(kind, DUE, DUE - timedelta(days=days)), kind
    for kind in ("overdue", "disbursed", "paid", "custom"):
        assert not superseded(kind, DUE, DUE + timedelta(days=400)), kind
