"""A process started with the webhook or share-link secret unset signs with a published demo value: it says so at
start (`secrets.demo_defaults`), so a deployment that forgot them is seen."""

from __future__ import annotations

from api.app import DEMO_SECRETS, demo_secrets_in_use


def test_the_secrets_left_to_their_demo_values_are_named() -> None:
    assert demo_secrets_in_use({}) == list(DEMO_SECRETS)
    assert demo_secrets_in_use({"PROVIDER_WEBHOOK_SECRET": "whsec_live", "SHARE_LINK_SECRET": " , "}) == [
        "SHARE_LINK_SECRET"
    ]
    assert demo_secrets_in_use({"PROVIDER_WEBHOOK_SECRET": "a,b", "SHARE_LINK_SECRET": "s"}) == []
