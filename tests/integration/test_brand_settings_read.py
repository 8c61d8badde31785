"""A brand's settings are read on every request, most of them several times: `Identity` keeps the configuration it
last read and reads only what was recorded since (`Identity._configuration_now`). What is read must stay as fresh as
a replay of the configuration: a change made by another process (another `serve`, a worker, the CLI) is seen at the
next read, and a command's refused change is not seen at all."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from domain.identity.application import Identity
from domain.identity.brand import BrandNotFound
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
            assert reader.settings(brand) == reader.configuration(brand).settings
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
