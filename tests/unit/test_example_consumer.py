"""The example consumer (workers/consumer.py, which integrators copy) records an event id only once its event is
processed: recorded first, a crash inside `process` left the redelivered event dropped as a repeat, never processed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workers.consumer import SeenEvents


def test_an_event_whose_processing_crashed_is_processed_when_delivered_again(tmp_path: Path) -> None:
    state = tmp_path / "seen.sqlite"
    done: list[str] = []

    def crashes(event: dict[str, Any]) -> None:
        raise RuntimeError("the consumer died mid-way")

    event = {"event_id": "ev-1", "type": "NoticeRecorded"}
    with pytest.raises(RuntimeError):
        SeenEvents(state).once(event, crashes)
    again = SeenEvents(state)  # a restarted copy, the broker redelivering
    assert again.once(event, lambda e: done.append(e["event_id"])) is True
    assert again.once(event, lambda e: done.append(e["event_id"])) is False  # a repeat: dropped
    assert SeenEvents(state).once(event, lambda e: done.append(e["event_id"])) is False  # across restarts too
    assert done == ["ev-1"]
