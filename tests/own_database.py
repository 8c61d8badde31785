"""Fixtures that put a test module on a database of its own: import them into the module,

    from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401 (fixtures)

and its tests' `dsn`, `platform` and `app` (the names the fixtures go by) (and `client`, built on `app`) are a copy of the empty template database,
dropped after each test. For tests whose outcome or duration depends on the whole database: they relay or rebuild
everything and compare it whole, or start worker processes that act on every brand of their database. On the
session's database, shared by every test an xdist worker runs, such a test met whatever the tests before it had left,
and which tests those are changes as tests are added (tests/conftest.py, `private_dsn`)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(name="dsn")
def own_dsn(private_dsn: str) -> str:
    return private_dsn


@pytest.fixture(name="platform")
def own_platform(private_platform: Any) -> Any:
    return private_platform


@pytest.fixture(name="app")
def own_app(platform: Any) -> Any:
    from workers.web_app import build_app

    return build_app(lambda: platform, close_platform=False)
