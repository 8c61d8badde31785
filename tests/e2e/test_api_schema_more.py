"""The other half of tests/e2e/test_api_schema.py's schemathesis run, in a file of its own so that another of the
suite's workers takes it (`--dist loadfile`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_api_schema import SCALE, SHARDS, api_schema, check_shard, sms

__all__ = ["api_schema", "sms"]  # fixtures, used by name


@pytest.mark.timeout(900 * SCALE)  # about a minute quiet; a loaded 2-CPU machine needs more
@pytest.mark.parametrize("shard", range(SHARDS // 2, SHARDS))
def test_every_operation_answers_as_documented(api_schema: Any, client: Any, shard: int) -> None:
    check_shard(api_schema, client, shard)
