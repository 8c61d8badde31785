"""DigiLocker and Account Aggregator clients against their simulators over real HTTP: consent, then data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.providers.call_log import ProviderCallLog
from adapters.providers.directory import ProviderDirectory
from adapters.simulators.aa import AaSimulator
from adapters.simulators.digilocker import DigilockerSimulator
from domain.providers.errors import ProviderRejected
from tests.integration.providers_support import RecordingSleep, call_log, caller, directory_for, logged

__all__ = ["call_log"]

BACK = "https://desk.example/borrower/aadhaar/return"


@pytest.fixture(scope="module")
def digilocker() -> Iterator[DigilockerSimulator]:
    with DigilockerSimulator() as simulator:
        yield simulator


@pytest.fixture(scope="module")
def aa() -> Iterator[AaSimulator]:
    with AaSimulator() as simulator:
        yield simulator


@pytest.fixture
def directory(digilocker: DigilockerSimulator, aa: AaSimulator, call_log: ProviderCallLog) -> ProviderDirectory:
    return directory_for(call_log, RecordingSleep(), digilocker=digilocker.base_url, aa=aa.base_url)


def test_digilocker_shares_the_aadhaar_after_the_borrower_allows(
    directory: ProviderDirectory, call_log: ProviderCallLog
) -> None:
    who = caller()
    session = directory.digilocker().start(BACK, name="Lakshmi Iyer", dob=date(1990, 5, 17), caller=who)
    with pytest.raises(ProviderRejected) as pending:
        directory.digilocker().fetch(session.consent_id, caller=who)
    assert pending.value.code == "consent_pending"

    page = httpx.get(session.redirect_url)
    assert page.status_code == 200 and "Lakshmi Iyer" in page.text and "decision=allow" in page.text
    back = httpx.get(session.redirect_url, params={"decision": "allow"})
    assert back.status_code == 303
    location = urlsplit(back.headers["location"])
    assert location.path == "/borrower/aadhaar/return"
    assert parse_qs(location.query) == {"consent_id": [session.consent_id], "status": ["success"]}

    record = directory.digilocker().fetch(session.consent_id, caller=who)
    assert (record.name, record.dob, record.gender) == ("Lakshmi Iyer", date(1990, 5, 17), "F")
    assert record.photo.startswith(b"\xff\xd8\xff") and record.photo.endswith(b"\xff\xd9")
    assert record.masked_aadhaar.startswith("XXXX XXXX ") and len(record.pincode) == 6 and record.address
    kinds = [(r["kind"], r["status"]) for r in logged(call_log, who)]
    assert kinds == [("start_authorization", "ok"), ("fetch_aadhaar", "error"), ("fetch_aadhaar", "ok")]


def test_digilocker_denied_and_mismatched(directory: ProviderDirectory, digilocker: DigilockerSimulator) -> None:
    who = caller()
    denied = directory.digilocker().start(BACK, name="Karthik Raman", caller=who)
    digilocker.deny(denied.consent_id)
    with pytest.raises(ProviderRejected) as refused:
        directory.digilocker().fetch(denied.consent_id, caller=who)
    assert refused.value.code == "consent_denied"

    other = directory.digilocker().start(BACK, name="Karthik Mismatch", caller=who)
    digilocker.allow(other.consent_id)
    assert directory.digilocker().fetch(other.consent_id, caller=who).name != "Karthik Mismatch"

    with pytest.raises(ProviderRejected) as unknown:
        directory.digilocker().fetch("dl_nope", caller=who)
    assert unknown.value.code == "not_found"


def test_aa_consent_then_data_in_the_statement_shape(directory: ProviderDirectory, aa: AaSimulator) -> None:
    who = caller()
    consent = directory.aa().request_consent("9876512345", months=6, redirect_to=BACK, caller=who)
    assert consent.status == "pending"
    with pytest.raises(ProviderRejected) as pending:
        directory.aa().fetch(consent.handle, caller=who)
    assert pending.value.code == "consent_pending"

    back = httpx.get(consent.redirect_url, params={"decision": "allow"})
    assert parse_qs(urlsplit(back.headers["location"]).query)["status"] == ["approved"]
    assert directory.aa().consent(consent.handle, caller=who).status == "approved"

    data = directory.aa().fetch(consent.handle, caller=who)
    assert data.source == "aa" and data.period_from < data.period_to
    assert directory.aa().fetch(consent.handle, caller=who).salary_credits == data.salary_credits
    assert aa.sent_to("+919876512345")[0]["handle"] == consent.handle


@pytest.mark.parametrize(
    ("phone", "code"),
    [("9876511111", "consent_rejected")],
)
def test_aa_a_borrower_who_rejects(directory: ProviderDirectory, aa: AaSimulator, phone: str, code: str) -> None:
    who = caller()
    consent = directory.aa().request_consent(phone, months=3, redirect_to=BACK, caller=who)
    assert aa.approve(consent.handle) == "rejected"
    with pytest.raises(ProviderRejected) as refused:
        directory.aa().fetch(consent.handle, caller=who)
    assert refused.value.code == code


def test_aa_special_accounts(directory: ProviderDirectory, aa: AaSimulator) -> None:
    who = caller()
    no_salary = directory.aa().request_consent("9876512222", months=6, redirect_to=BACK, caller=who)
    aa.approve(no_salary.handle)
    assert directory.aa().fetch(no_salary.handle, caller=who).monthly_salary is None
    indebted = directory.aa().request_consent("9876513333", months=6, redirect_to=BACK, caller=who)
    aa.approve(indebted.handle)
    data = directory.aa().fetch(indebted.handle, caller=who)
    assert len(data.emis) == 2 and data.bounces == 2


def test_aa_refuses_bad_requests(directory: ProviderDirectory) -> None:
    with pytest.raises(ProviderRejected) as refused:
        directory.aa().request_consent("12345", months=6, redirect_to=BACK, caller=caller())
    assert refused.value.code == "invalid_number"
    with pytest.raises(ProviderRejected) as refused:
        directory.aa().request_consent("9876512345", months=6, redirect_to="javascript:alert(1)", caller=caller())
    assert refused.value.code == "invalid_redirect"
