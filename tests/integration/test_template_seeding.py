"""A brand's default message templates are seeded all at once: every default once, or none.

Seeded one INSERT pair at a time (94 statements for 44 defaults), a seeding cut short (the process stopped, the
server went away) left the brand with part of its first defaults for good: the next seeding sees templates and adds
only the kinds added since."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from adapters.engagement_store import SeededTemplate
from api.services.engagement import Engagement
from domain.engagement.templates import Channel, Kind, Language
from domain.shared.errors import InvalidInput
from tests.conftest import make_tenant


def _templates(platform: Any, brand_id: uuid.UUID) -> list[tuple[str, str, str, int]]:
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT t.name, t.channel, t.language, count(v.version) AS versions FROM ops.message_templates t "
            "LEFT JOIN ops.message_template_versions v ON v.template_id = t.id WHERE t.brand_id = %s "
            "GROUP BY t.name, t.channel, t.language ORDER BY 1, 2, 3",
            (brand_id,),
        ).fetchall()
    return [(r["name"], r["channel"], r["language"], r["versions"]) for r in rows]


def test_first_seedings_at_once_write_each_default_once_with_its_first_version(platform: Any) -> None:
    tenant = make_tenant(platform)
    engagement = platform.port(Engagement)
    barrier = threading.Barrier(4)
    added: list[int] = []

    def seed() -> None:
        barrier.wait()
        added.append(engagement.seed_defaults(tenant.brand_id))

    seeders = [threading.Thread(target=seed) for _ in range(4)]
    for thread in seeders:
        thread.start()
    for thread in seeders:
        thread.join(timeout=60)
    templates = _templates(platform, tenant.brand_id)
    assert sum(added) == len(templates) == 44, (added, len(templates))
    assert {versions for *_, versions in templates} == {1}  # each its version 1, none a version 2 of another
    assert engagement.seed_defaults(tenant.brand_id) == 0


def test_a_seeding_that_fails_part_way_writes_none_of_its_templates(platform: Any) -> None:
    tenant = make_tenant(platform)
    store = platform.port(Engagement).store
    now = datetime.now(UTC)
    good = [
        SeededTemplate(uuid.uuid4(), f"due_reminder sms {n}", "due_reminder", "sms", "en", None, "Pay {{amount}}", None)
        for n in range(5)
    ]
    broken = SeededTemplate(uuid.uuid4(), "due_reminder sms broken", "due_reminder", "sms", "en", None, None, None)  # type: ignore[arg-type]
    with pytest.raises(psycopg.errors.NotNullViolation):
        store.seed_templates(tenant.brand_id, [*good, broken], now)  # the last one's body is missing
    assert _templates(platform, tenant.brand_id) == []
    assert store.seed_templates(tenant.brand_id, good, now) == 5
    assert store.seed_templates(tenant.brand_id, good, now) == 0  # a default the brand has is left as it is
    assert len(_templates(platform, tenant.brand_id)) == 5


def test_a_refused_first_template_seeds_no_defaults(platform: Any) -> None:
    tenant = make_tenant(platform)
    engagement = platform.port(Engagement)
    with pytest.raises(InvalidInput, match="nickname"):
        engagement.create_template(tenant.brand_id, "x1 promo", Kind.DUE_3, Channel.SMS, Language.EN, None,
                                   "Hi {{nickname}}", "tester")  # fmt: skip
    assert _templates(platform, tenant.brand_id) == []
