"""What every request reads - a brand's settings, the staff user behind a portal session or an API key - and a notice
source at each sync come from `ContextApplication.find_kept`: the aggregate last found, brought up to date with the
events recorded after its version. It must stay what a replay gives: a change made by another process (another
`serve`, a worker, the CLI) is read at the next ask, and a change a command applies and then refuses is never read."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from domain.identity.application import Identity
from domain.identity.brand import BrandNotFound
from domain.identity.permissions import Level, Permission
from domain.identity.principal import OPERATOR, AuthenticationFailed
from domain.identity.staff import StaffNotFound
from domain.notices.application import Notices
from domain.notices.source import NoticeSource, SourceNotFound
from domain.shared.errors import Conflict
from workers.platform import Platform


def test_settings_read_again_are_those_a_replay_gives(dsn: str, platform: Any, tenant: Any) -> None:
    mine = platform.get(Identity)
    brand = tenant.brand_id
    before = mine.configuration_state(brand)
    assert mine.settings(brand) == before.settings and mine.loan_minimum(brand) is None
    other_process = Platform.open(dsn, mail=MailSettings(port=free_port()))
    try:
        theirs = other_process.get(Identity)
        theirs.change_configuration(brand, {"min_age": 30, "business_date": "2026-07-01", "min_loan_amount": "20000"})
        for reader in (mine, theirs):
            state = reader.configuration_state(brand)
            assert (state.settings.min_age, state.business_date) == (30, date(2026, 7, 1))
            assert state.version == before.version + 1 == reader.configuration(brand).version
            assert state.business_date_held and reader.loan_minimum(brand) == 20000
            replayed = reader.find(reader.configuration(brand).id)  # the whole history, not the kept record
            assert replayed.version == state.version and reader.settings(brand) == replayed.settings
        mine.change_configuration(brand, {"business_date": None})
        assert theirs.business_date(brand) == mine.business_date(brand) != date(2026, 7, 1)
        assert not theirs.business_date_held(brand)
    finally:
        other_process.close()


def test_a_refused_change_is_not_read_and_an_unknown_brand_is_still_not_found(
    platform: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = platform.get(Identity)
    brand = tenant.brand_id
    identity.change_configuration(brand, {"business_date": "2026-07-10"})
    kept = identity.settings(brand)
    # The configuration applies a change to itself before the command refuses it (the business date may not go back
    # to a date the close of business has processed): the settings read after are still the ones saved.
    monkeypatch.setattr(identity, "_cob_closed_through", lambda _brand: date(2026, 7, 5))
    with pytest.raises(Conflict):
        identity.change_configuration(brand, {"business_date": "2026-07-01", "min_age": 40})
    assert identity.settings(brand) == kept and identity.business_date(brand) == date(2026, 7, 10)
    with pytest.raises(BrandNotFound):
        identity.settings(uuid4())


def test_the_staff_user_behind_each_request_is_read_as_another_process_left_them(dsn: str, platform: Any) -> None:
    mine = platform.get(Identity)
    brand = mine.create_brand("k" + uuid4().hex[:12], "Kept Reads").id
    staff = mine.create_staff(brand, f"{uuid4().hex[:8]}@kept.in", "Kiran Rao", ["sales"], granter=OPERATOR).id
    key = mine.issue_api_key(brand, "sales", "kiran's key", owner_id=staff, granter=OPERATOR).secret
    assert mine.staff_principal(mine.staff_now(brand, staff)).roles == ("sales",)
    assert mine.authenticate_api_key(key).holds(Permission.LEADS, Level.READ)
    other_process = Platform.open(dsn, mail=MailSettings(port=free_port()))
    try:
        theirs = other_process.get(Identity)
        for _ in range(3):  # logins recorded elsewhere
            logged = theirs.staff(brand, staff)
            logged.record_login("10.0.0.1", "browser")
            theirs.commit(logged)
        theirs.update_staff(brand, staff, roles=["collection_head"], granter=OPERATOR)
        assert mine.staff_now(brand, staff).version == theirs.staff(brand, staff).version
        assert mine.staff_principal(mine.staff_now(brand, staff)).roles == ("collection_head",)
        assert not mine.authenticate_api_key(key).holds(Permission.LEADS, Level.READ)  # the owner lost it
        theirs.set_enabled(brand, staff, False, granter=OPERATOR)
        with pytest.raises(AuthenticationFailed):
            mine.staff_principal(mine.staff_now(brand, staff))
        with pytest.raises(AuthenticationFailed):
            mine.authenticate_api_key(key)
    finally:
        other_process.close()
    with pytest.raises(StaffNotFound):
        mine.staff_now(uuid4(), staff)  # another brand's


def _state(source: NoticeSource) -> dict[str, Any]:
    return {k: v for k, v in vars(source).items() if k != "_pending_events"}


def test_a_notice_source_after_many_syncs_is_the_one_a_replay_gives(dsn: str, platform: Any, tenant: Any) -> None:
    """Every sync records its start and end on the source: `Notices.source` brings the one it last read up to date
    (`find_latest`) instead of replaying them all, and gives a copy, so a change a command makes and never saves (it
    was refused, or its save failed) is not in the next one read."""
    mine = platform.get(Notices)
    made = mine.connect_source(
        tenant.brand_id,
        company="KEPT",
        base_url="http://127.0.0.1:9/api",
        token="token-0001",
        schedule="0 6 * * *",
    )
    for n in range(40):
        run = mine.begin_sync(tenant.brand_id, made.id, trigger="manual", requested_by="staff:kept")
        mine.finish_sync(run.id, error=None if n % 3 else "source down", inactivated=0, retries=0)
        if n == 20:
            mine.reconfigure_source(tenant.brand_id, made.id, schedule="*/30 * * * *")
    replayed = mine.find(made.id)
    assert isinstance(replayed, NoticeSource) and replayed.version == 1 + 80 + 1
    assert _state(mine.source(tenant.brand_id, made.id)) == _state(replayed)

    other_process = Platform.open(dsn, mail=MailSettings(port=free_port()))
    try:
        theirs = other_process.get(Notices)
        assert _state(theirs.source(tenant.brand_id, made.id)) == _state(replayed)
        theirs.reconfigure_source(tenant.brand_id, made.id, enabled=False)
        run = theirs.begin_sync(tenant.brand_id, made.id, trigger="manual", requested_by="staff:kept")
    finally:
        other_process.close()
    now = mine.source(tenant.brand_id, made.id)
    assert (now.enabled, now.running_run_id, now.version) == (False, run.id, replayed.version + 2)
    assert _state(now) == _state(mine.find(made.id))

    changed = mine.source(tenant.brand_id, made.id)
    assert changed.reconfigure(schedule="0 9 * * *")  # a command's change, never saved
    assert mine.source(tenant.brand_id, made.id).schedule == "*/30 * * * *"
    with pytest.raises(SourceNotFound):
        mine.source(uuid4(), made.id)
