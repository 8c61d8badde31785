"""A webhook delivery's body is read into its event, or refused naming each field a provider must fix."""

from __future__ import annotations

import json

import pytest

from adapters.webhooks import parse_event
from domain.shared.errors import InvalidInput


def test_an_event_is_read_with_its_fields() -> None:
    body = {"id": "evt_1", "type": "payout.processed", "created_at": "2026-12-04T10:00:00Z", "data": {"utr": "1"}}
    event = parse_event(json.dumps(body).encode())
    assert (event.id, event.type, event.data) == ("evt_1", "payout.processed", {"utr": "1"})


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b'{"id": "evt_1"}', {"body.type", "body.created_at", "body.data"}),
        (b'{"id": "e", "type": "t", "created_at": "yesterday", "data": {}}', {"body.created_at"}),
        (b'{"id": "e", "type": "t", "created_at": "2026-12-04T10:00:00Z", "data": [1]}', {"body.data"}),
        (b"[1, 2]", {"body"}),
        (b"not json", {"body"}),
    ],
)
def test_a_body_that_is_not_an_event_names_each_field(body: bytes, fields: set[str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_event(body)
    assert {e.field for e in refused.value.errors} == fields, refused.value.errors
    assert all(e.message.startswith("not a webhook event") for e in refused.value.errors)
