"""The payment page's signed links (`api.services.pay_links`) beside the certificate's: each opens only its own
purpose, its own brand and loan, until it expires; a rotated secret still opens the links it signed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.services.no_due_links import SECRET_ENV, NoDueLinks
from api.services.pay_links import PayLinks


def test_a_pay_link_opens_its_brand_and_loan_until_it_expires() -> None:
    brand, loan, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
    link = PayLinks(days=30)
    token = link.token(brand, loan, now)
    assert len(token) == 70 and link.url("https://x.in", brand, loan, now) == f"https://x.in/pay/{token}"
    assert link.opened(token, now) == (brand, loan)
    assert link.opened(token, now + timedelta(days=29)) == (brand, loan)
    assert link.opened(token, now + timedelta(days=31)) is None
    for i in range(0, len(token) - 1, 7):  # a changed character anywhere (the last one's low bits are padding)
        changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        assert link.opened(changed, now) is None, i
    assert link.opened("not-a-token", now) is None and link.opened("", now) is None


def test_a_certificate_link_pays_nothing_and_a_pay_link_opens_no_certificate() -> None:
    brand, loan, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
    pay, ndc = PayLinks().token(brand, loan, now), NoDueLinks().token(brand, loan, now)
    assert pay != ndc
    assert PayLinks().opened(ndc, now) is None and NoDueLinks.open(pay, now) is None
    assert PayLinks().opened(pay, now) == NoDueLinks.open(ndc, now) == (brand, loan)


def test_links_signed_before_a_secret_rotation_still_open(monkeypatch: pytest.MonkeyPatch) -> None:
    brand, loan, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
    monkeypatch.setenv(SECRET_ENV, "old-secret")
    token = PayLinks().token(brand, loan, now)
    monkeypatch.setenv(SECRET_ENV, "new-secret,old-secret")
    assert PayLinks().opened(token, now) == (brand, loan)
    assert PayLinks().token(brand, loan, now) != token  # the first secret signs
    monkeypatch.setenv(SECRET_ENV, "new-secret")
    assert PayLinks().opened(token, now) is None
