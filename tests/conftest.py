"""Shared fixtures: one real PostgreSQL database per session, the platform with its workers, API clients."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.support import copy_database_dsn, drop_database, fresh_database_dsn, settle

#: Hypothesis's default 200 ms deadline per example fails property tests when CI shares the two CPUs with the rest of
#: the suite (`test_rendering_substitutes_exactly_as_one_regex_pass_would` once at -n2 beside other work): a test's
#: speed is the benchmarks' business, never a unit test's. Tests that set their own settings keep them.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

#: pytest keeps a test module's assert-rewritten code in __pycache__ (`*-pytest-<version>.pyc`, checked against a hash
#: of the source) -- but writes it only while bytecode may be written, which PYTHONDONTWRITEBYTECODE (set on these
#: machines) forbids: every pytest process, each xdist worker of `make test` too, rewrote the ~500 test modules and
#: conftests again, 9-11 s of CPU before its first test (`pytest --collect-only`: 14 s, 6 s with the cache). Their
#: code is cached here as `make bytecode` compiles the project's own modules; pytest plugins' modules (rewritten
#: too, in the virtualenv) are left as they are.
_TESTS = Path(__file__).resolve().parent
_NO_BYTECODE = sys.dont_write_bytecode


def _cache_rewritten_test_modules() -> None:
    for finder in sys.meta_path:
        if type(finder).__name__ != "AssertionRewritingHook":
            continue
        rewrite = finder.exec_module

        def exec_module(module: ModuleType, rewrite: Callable[[ModuleType], None] = rewrite) -> None:
            origin = module.__spec__.origin if module.__spec__ else None
            ours = origin is not None and Path(origin).is_relative_to(_TESTS)
            before = sys.dont_write_bytecode
            sys.dont_write_bytecode = _NO_BYTECODE and not ours
            try:
                rewrite(module)
            finally:
                sys.dont_write_bytecode = before

        finder.exec_module = exec_module  # type: ignore[method-assign]


_cache_rewritten_test_modules()

#: The longest test files, longest first (a clean-clone run's `--durations`, 2026-12-07: 2-6 minutes each). With
#: `--dist loadfile` the workers take files in collection order, so these - alphabetically anywhere - could start
#: last and hold one worker on its own for minutes after the others ran dry (the last 3 % of a run took 10-15
#: minutes). Handed out first, the many short files fill the other workers meanwhile.
SLOW_FIRST = (
    "tests/e2e/test_api_schema.py",
    "tests/e2e/test_api_schema_more.py",
    "tests/e2e/test_lending_blackbox.py",
    "tests/e2e/test_brand_leak_sweep.py",
    "tests/e2e/test_api_stateful.py",
    "tests/e2e/test_cross_brand_writes.py",
    "tests/e2e/test_lending_edges_blackbox.py",
    "tests/e2e/test_cli.py",
    "tests/e2e/test_access_matrix.py",
    "tests/e2e/test_serve_signals.py",
    "tests/application/loans/test_servicing_reference.py",
    "tests/application/loans/test_servicing_probe.py",
    "tests/e2e/test_loan_cob_kill.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `SLOW_FIRST` files' tests first, in that order; every other test in collection order after them."""
    rank = {path: n for n, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(SLOW_FIRST)))


#: The one address the tests' mail server answers 550 (mailbox unavailable).
REFUSED_RECIPIENT = "closed.mailbox@refused.example.in"


@pytest.fixture(scope="session")
def dsn() -> Iterator[str]:
    """A fresh database for this test session (embedded PostgreSQL, or DATABASE_URL's server)."""
    value = fresh_database_dsn()
    yield value
    drop_database(value)


@pytest.fixture(scope="session")
def platform_template() -> Iterator[str]:
    """An empty database as Platform.open leaves it (schemas, tables, projection tracking), made once a session for
    tests that need a platform on a database of their own: `Platform.open(copy_database_dsn(platform_template))`
    costs ~1.3 s, on a fresh database ~3.3 s (more on a loaded machine) creating ~400 tables and indexes."""
    from workers.platform import Platform

    value = fresh_database_dsn("cd_template")
    Platform.open(value).close()
    yield value
    drop_database(value)


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[Any]:
    """A real SMTP server on loopback that keeps every message (and refuses REFUSED_RECIPIENT, for refused mail)."""
    from adapters.mail_sink import MailSink

    sink = MailSink(refuse={REFUSED_RECIPIENT}).start()
    yield sink
    sink.stop()


@contextmanager
def running_platform(dsn: str, mail_port: int) -> Iterator[Any]:
    """A platform on `dsn` with projection runners following the event store, mailing to the SMTP server on
    `mail_port` (the session's platform, and any a test opens on a database of its own)."""
    from argon2 import PasswordHasher

    from adapters import passwords
    from adapters.mailer import MailSettings
    from workers.platform import Platform

    with pytest.MonkeyPatch.context() as env:
        # The tests' Softmedia simulators listen on loopback: allowed the way an operator allows a host.
        env.setenv("NOTICE_SOURCE_ALLOWED_HOSTS", "127.0.0.1")
        # Staff passwords hashed and checked by argon2id as in production, at its cheapest cost (8 KiB, one pass,
        # one lane): at the recommended one (64 MiB, 3 passes, 4 lanes) every staff user made with a password and
        # every sign-in cost ~0.17 s of CPU, a minute of a run. test_login_throttle's timing test, which needs the
        # real cost, has a platform of its own.
        env.setattr(passwords, "_Argon2", lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        p = Platform.open(dsn, mail=MailSettings(port=mail_port))
    try:
        p.start_projection_runners()
        yield p
    finally:
        p.close()


@pytest.fixture(scope="session")
def platform(dsn: str, mail_sink: Any) -> Iterator[Any]:
    """The platform with projection runners following the event store, mailing to the test SMTP server."""
    with running_platform(dsn, mail_sink.port) as p:
        yield p


@contextmanager
def private_database(platform_template: str) -> Iterator[str]:
    """A database of its own, as Platform.open leaves an empty one (a copy of the template, ~1.3 s), dropped after."""
    value = copy_database_dsn(platform_template)
    try:
        yield value
    finally:
        drop_database(value)


#: The session database is shared by every test an xdist worker runs, and which tests ran before one changes as tests
#: are added. A test whose outcome or duration depends on the whole database -- it relays or rebuilds everything and
#: compares it whole, or starts worker processes that act on every brand of it -- takes a database of its own:
#: `private_dsn` and `private_platform`, or a module overrides `dsn` and `platform` with them (docs/operations.md, "Tests and benchmarks").


@pytest.fixture
def private_dsn(platform_template: str) -> Iterator[str]:
    """A database of this test's own (a copy of the empty template), dropped after it."""
    with private_database(platform_template) as value:
        yield value


@pytest.fixture
def private_platform(private_dsn: str, mail_sink: Any) -> Iterator[Any]:
    """A platform as `platform` is, on `private_dsn`: it sees only what this test writes."""
    with running_platform(private_dsn, mail_sink.port) as p:
        yield p


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
    issued = platform.get(Identity).issue_api_key(brand.id, role, "test key", granter=OPERATOR)
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
