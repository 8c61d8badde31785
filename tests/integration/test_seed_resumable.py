"""The demo seed resumes: a run stopped anywhere (Ctrl-C, a killed process, a lost database) is completed by the
next one exactly as one uninterrupted run makes it - the same records in the same states, none twice - and a run
after a complete seed writes nothing."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.onboarding import account
from domain.onboarding.application import Onboarding
from domain.shared.application import ContextApplication
from projections.engine import _events_table
from tests.support import copy_database_dsn, drop_database
from workers import seed
from workers.platform import Platform

#: Enough borrowers for every part of the demo: covenants on the first 24, applications on the next 8, and the 41st
#: a borrower staff registered whom an onboarding funnel links by phone.
BORROWERS = 41


@pytest.fixture(scope="module", autouse=True)
def _cheap_codes() -> Iterator[None]:
    """Sign-in codes hashed by SHA-256 instead of scrypt: the demo's 21 sign-ins hash 42 times, half of a seed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(account, "_code_hash", lambda salt, code: f"{salt}${hashlib.sha256(code.encode()).hexdigest()}")
        yield


class Stopped(BaseException):
    """The process stopped here (as KeyboardInterrupt does: not an Exception, so nothing on the way catches it)."""


def _events(platform: Platform) -> Counter[tuple[str, str]]:
    """Every stored event, counted by application and event class."""
    counts: Counter[tuple[str, str]] = Counter()
    with platform.db.pool.connection() as conn:
        for source, app in platform.engine.applications.items():
            rows = conn.execute(f"SELECT topic, count(*) AS n FROM {_events_table(app)} GROUP BY topic").fetchall()
            counts.update({(source, r["topic"]): r["n"] for r in rows})
    return counts


def _states(platform: Platform) -> dict[str, Any]:
    """The demo's records as the portal shows them: applications by status, funnels by status and steps done."""
    brand_id = platform.get(Identity).brand_by_slug(seed.DEMO_SLUG).id
    ids: dict[str, list[Any]] = {}
    with platform.db.pool.connection() as conn:
        for source, topic in (
            ("loans", "domain.loans.loan:Loan.%"),
            ("onboarding", "domain.onboarding.funnel:Funnel.%"),
        ):
            table = _events_table(platform.engine.applications[source])
            rows = conn.execute(
                f"SELECT originator_id FROM {table} WHERE originator_version = 1 AND topic LIKE %s", (topic,)
            ).fetchall()
            ids[source] = [r["originator_id"] for r in rows]
    loans = [platform.get(Loans).get(brand_id, i) for i in ids["loans"]]
    funnels = [platform.get(Onboarding).funnel(brand_id, i) for i in ids["onboarding"]]
    return {
        "loans": Counter((str(loan.status), loan.channel, loan.cam is not None) for loan in loans),
        "funnels": Counter((str(f.status), tuple(sorted(map(str, f.done)))) for f in funnels),
    }


@pytest.fixture
def new_platform(platform_template: str) -> Iterator[Callable[[], Platform]]:
    """Platforms on databases of their own (no projection runners, as `covenant-desk seed` runs)."""
    opened: list[tuple[str, Platform]] = []

    def make() -> Platform:
        dsn = copy_database_dsn(platform_template, "cd_test_seed")
        opened.append((dsn, Platform.open(dsn, mail=MailSettings(port=free_port()))))
        return opened[-1][1]

    yield make
    for dsn, platform in opened:
        platform.close()
        drop_database(dsn)


@pytest.fixture(scope="module")
def clean(platform_template: str) -> Iterator[tuple[Counter[tuple[str, str]], dict[str, Any], int]]:
    """What one uninterrupted seed makes: its events by class, its records' states, and how many saves it took."""
    dsn = copy_database_dsn(platform_template, "cd_test_seed_clean")
    platform = Platform.open(dsn, mail=MailSettings(port=free_port()))
    saves = 0
    original = ContextApplication.save

    def counting(self: ContextApplication, *objs: Any, **kwargs: Any) -> list[Any]:
        nonlocal saves
        saves += 1
        return original(self, *objs, **kwargs)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ContextApplication, "save", counting)
            seed.seed_demo(platform, borrowers=BORROWERS)
        yield _events(platform), _states(platform), saves
    finally:
        platform.close()
        drop_database(dsn)


def _stopping_after(patch: pytest.MonkeyPatch, saves: int) -> None:
    """Stop the process before the save after the first `saves` ones (counted from now)."""
    done = 0
    original = ContextApplication.save

    def save(self: ContextApplication, *objs: Any, **kwargs: Any) -> list[Any]:
        nonlocal done
        if done >= saves:
            raise Stopped
        done += 1
        return original(self, *objs, **kwargs)

    patch.setattr(ContextApplication, "save", save)


def _assert_complete_and_settled(platform: Platform, clean: tuple[Counter[Any], dict[str, Any], int]) -> None:
    events, states, _ = clean
    assert _events(platform) == events
    assert _states(platform) == states
    before = sum(events.values())
    seed.seed_demo(platform, borrowers=BORROWERS)
    assert sum(_events(platform).values()) == before, "a run after a complete seed wrote events"


@pytest.mark.parametrize("stride", [23, 37])
def test_a_seed_stopped_again_and_again_completes_as_one_uninterrupted_run(
    new_platform: Callable[[], Platform], clean: tuple[Counter[Any], dict[str, Any], int], stride: int
) -> None:
    """Every run stopped after `stride` saves, each next run taking on from there: stops fall inside every part
    of the seed (borrowers, covenants, products, applications between their steps, funnels between theirs)."""
    platform = new_platform()
    runs = 0
    while True:
        runs += 1
        assert runs < clean[2], "the seed made no progress between stops"
        with pytest.MonkeyPatch.context() as patch:
            _stopping_after(patch, stride)
            try:
                seed.seed_demo(platform, borrowers=BORROWERS)
            except Stopped:
                continue
        break
    assert runs > clean[2] // stride  # it was stopped that many times
    _assert_complete_and_settled(platform, clean)


@pytest.mark.parametrize(
    "step", ["_seed_covenants", "seed_products", "seed_loans", "seed_onboarding", "number_customers"]
)
def test_a_seed_stopped_before_each_step_is_completed_by_the_next_run(
    new_platform: Callable[[], Platform], clean: tuple[Counter[Any], dict[str, Any], int], step: str
) -> None:
    """Stopped as each top-level step starts, so the brand exists and everything after is missing."""
    platform = new_platform()

    def stop(*_: Any, **__: Any) -> Any:
        raise Stopped

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(seed, step, stop)
        with pytest.raises(Stopped):
            seed.seed_demo(platform, borrowers=BORROWERS)
    again = seed.seed_demo(platform, borrowers=BORROWERS)
    assert again["created_brand"] is False
    _assert_complete_and_settled(platform, clean)


def test_a_funnel_stopped_between_its_code_and_its_sign_in_is_signed_in_by_the_next_run(
    new_platform: Callable[[], Platform], clean: tuple[Counter[Any], dict[str, Any], int]
) -> None:
    """A stop after the code was sent and before the borrower signed in: the next run cannot know that code, so it
    asks for another (past the resend wait) - one code more, and otherwise the same demo."""
    platform = new_platform()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(seed, "seed_onboarding", lambda *_, **__: 0)
        seed.seed_demo(platform, borrowers=BORROWERS)
    with pytest.MonkeyPatch.context() as patch:
        _stopping_after(patch, 2)  # the brand's configuration and the first funnel's code, not its sign-in
        with pytest.raises(Stopped):
            seed.seed_demo(platform, borrowers=BORROWERS)
    seed.seed_demo(platform, borrowers=BORROWERS)
    events, states, _ = clean
    found = _events(platform)
    sent = ("onboarding", "domain.onboarding.account:BorrowerAccount.CodeSent")
    assert found[sent] == events[sent] + 1
    assert {k: v for k, v in found.items() if k != sent} == {k: v for k, v in events.items() if k != sent}
    assert _states(platform) == states
