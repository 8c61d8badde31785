"""The receipts webhook's fallback lookup by the provider's message id (`MessageStore.by_provider_id`), on PostgreSQL.

The webhook names no brand, and two brands' provider accounts could hand out the same message id: such a receipt
must reach neither brand's message rather than whichever row the database returned first (brand isolation)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from adapters.message_store import Message, MessageStore
from adapters.postgres import Database

NOW = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


@pytest.fixture
def store(dsn: str) -> Iterator[MessageStore]:
    db = Database(dsn, min_size=1, max_size=2)
    db.ensure_schemas()
    try:
        yield MessageStore(db.pool)
    finally:
        db.close()


def _sent(store: MessageStore, brand_id: uuid.UUID, provider_id: str, channel: str = "sms") -> Message:
    message = Message(
        id=uuid.uuid4(), brand_id=brand_id, dedupe_key=f"probe:{uuid.uuid4()}", customer_id=uuid.uuid4(),
        loan_id=None, instalment=None, kind="due_3", channel=channel, source="test", template_id=None,
        template_version=None, language="en", recipient="+919876543210", subject=None, body="EMI due in 3 days",
        status="sent", reason=None, provider="msg91", provider_id=provider_id, attempts=1, next_attempt_at=None,
        created_at=NOW, updated_at=NOW, sent_at=NOW, delivered_at=None,
    )  # fmt: skip
    (claimed,) = store.claim([message])
    return claimed


def test_a_provider_id_of_one_message_finds_it_and_one_shared_by_two_brands_finds_neither(store: MessageStore) -> None:
    own = f"msg-{uuid.uuid4().hex}"
    mine = _sent(store, uuid.uuid4(), own)
    found = store.by_provider_id("sms", own)
    assert found is not None and found.id == mine.id
    assert store.by_provider_id("whatsapp", own) is None  # another channel's ids are another namespace
    assert store.by_provider_id("sms", "") is None

    shared = f"msg-{uuid.uuid4().hex}"
    _sent(store, uuid.uuid4(), shared)
    _sent(store, uuid.uuid4(), shared)  # another brand's account handed out the same id
    assert store.by_provider_id("sms", shared) is None
