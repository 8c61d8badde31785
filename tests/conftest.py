"""Shared fixtures: one real PostgreSQL database per session, the platform with its workers, API clients."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from domain.identity.application import Identity
from tests.support import drop_database, fresh_database_dsn, settle

#: The one address the tests' mail server answers 550 (mailbox unavailable).
REFUSED_RECIPIENT = "closed.mailbox@refused.example.in"


@pytest.fixture(scope="session")
def dsn() -> Iterator[str]:
    """A fresh database for this test session (embedded PostgreSQL, or DATABASE_URL's server)."""
    value = fresh_database_dsn()
    yield value
    drop_database(value)


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[Any]:
    """A real SMTP server on loopback that keeps every message (and refuses REFUSED_RECIPIENT, for refused mail)."""
    from adapters.mail_sink import MailSink

    sink = MailSink(refuse={REFUSED_RECIPIENT}).start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def platform(dsn: str, mail_sink: Any) -> Iterator[Any]:
    """The platform with projection runners following the event store, mailing to the test SMTP server."""
    from adapters.mailer import MailSettings
    from workers.platform import Platform

    with pytest.MonkeyPatch.context() as env:
        # The tests' Softmedia simulators listen on loopback: allowed the way an operator allows a host.
        env.setenv("NOTICE_SOURCE_ALLOWED_HOSTS", "127.0.0.1")
        p = Platform.open(dsn, mail=MailSettings(port=mail_sink.port))
    p.start_projection_runners()
    yield p
    p.close()


@dataclass
class Tenant:
    """A brand made for one test, with an admin API key."""

    brand_id: uuid.UUID
    slug: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(platform: Any, role: str = "admin") -> Tenant:
    slug = "t" + uuid.uuid4().hex[:12]
    brand = platform.get(Identity).create_brand(slug, f"Brand {slug}")
    issued = platform.get(Identity).issue_api_key(brand.id, role, "test key", may_grant_cross_brand=True)
    settle(platform, "identity", issued.position)
    return Tenant(brand.id, slug, issued.secret)


@pytest.fixture
def tenant(platform: Any) -> Tenant:
    """A fresh brand with an admin key."""
    return make_tenant(platform)


@pytest.fixture(scope="session")
def app(platform: Any) -> Any:
    from workers.web_app import build_app

    return build_app(lambda: platform, close_platform=False)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    """An HTTP client on the ASGI app (lifespan run, shared platform)."""
    from starlette.testclient import TestClient

    with TestClient(app) as c:
        yield c


#: What the provider simulators of `provider_simulators` sign their webhooks (e-sign, payments) with.
PROVIDER_WEBHOOK_SECRET = "whsec_test_providers"


@pytest.fixture(scope="session")
def provider_simulators(platform: Any) -> Iterator[dict[str, Any]]:
    """A simulator of every provider on loopback (service -> simulator), the platform's ProviderDirectory pointed
    at them: `provider_simulators["sms"].last_code(phone)` reads an OTP (docs/providers.md)."""
    from adapters.providers.directory import ProviderDirectory
    from workers.demo_providers import SIMULATORS

    running = {service: kind(webhook_secret=PROVIDER_WEBHOOK_SECRET) for service, kind in SIMULATORS.items()}
    directory = platform.get(ProviderDirectory)
    for service, simulator in running.items():
        directory.configure_url(service, simulator.start())
    yield running
    for simulator in running.values():
        simulator.stop()
