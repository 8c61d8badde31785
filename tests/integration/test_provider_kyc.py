"""PAN, penny drop, bureau and statement analysis clients against their simulators over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import httpx
import pytest

from adapters.providers.call_log import ProviderCallLog
from adapters.providers.directory import ProviderDirectory
from adapters.simulators.bsa import BsaSimulator
from adapters.simulators.bureau import BureauSimulator
from adapters.simulators.pan import PanSimulator
from adapters.simulators.penny_drop import PennyDropSimulator
from domain.providers.errors import ProviderRejected, ProviderUnavailable
from tests.integration.providers_support import RecordingSleep, call_log, caller, directory_for, logged

__all__ = ["call_log"]

DOB = date(1991, 3, 14)


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, PanSimulator | PennyDropSimulator | BureauSimulator | BsaSimulator]]:
    found = {
        "pan": PanSimulator(),
        "penny_drop": PennyDropSimulator(),
        "bureau": BureauSimulator(),
        "bsa": BsaSimulator(),
    }
    for simulator in found.values():
        simulator.start()
    yield found  # type: ignore[misc]
    for simulator in found.values():
        simulator.stop()


@pytest.fixture
def directory(sims: dict[str, PanSimulator], call_log: ProviderCallLog) -> ProviderDirectory:
    for simulator in sims.values():
        simulator.reset_faults()
    return directory_for(call_log, RecordingSleep(), **{name: sim.base_url for name, sim in sims.items()})


# PAN ------------------------------------------------------------------------------------------------------


def test_a_pan_whose_fifth_letter_is_the_surname_initial_matches_the_name(directory: ProviderDirectory) -> None:
    result = directory.pan().verify("ABCPR1234L", "Karthik Raman", DOB, caller=caller())
    assert result.valid and result.name_on_pan == "KARTHIK RAMAN" and result.name_match_score == 100
    assert (result.dob_match, result.aadhaar_linked, result.fraud_flag, result.category) == (
        True,
        True,
        False,
        "individual",
    )


def test_a_pan_of_another_surname_is_someone_else(directory: ProviderDirectory) -> None:
    result = directory.pan().verify("ABCPS1234L", "Karthik Raman", DOB, caller=caller())
    assert result.valid and result.name_on_pan is not None
    assert result.name_on_pan.split()[-1].startswith("S") and result.name_match_score < 60
    again = directory.pan().verify("ABCPS1234L", "Karthik Raman", DOB, caller=caller())
    assert again.name_on_pan == result.name_on_pan  # deterministic


@pytest.mark.parametrize(
    ("pan", "field", "value"),
    [
        ("ABCPR1234Z", "status", "invalid"),
        ("ABCPR1234Y", "fraud_flag", True),
        ("ABCPR1234X", "aadhaar_linked", False),
        ("ABCPR1234W", "dob_match", False),
        ("ABCCR1234L", "category", "company"),
    ],
)
def test_special_pans(directory: ProviderDirectory, pan: str, field: str, value: object) -> None:
    assert getattr(directory.pan().verify(pan, "Karthik Raman", DOB, caller=caller()), field) == value


def test_a_malformed_pan_is_rejected(directory: ProviderDirectory, call_log: ProviderCallLog) -> None:
    who = caller()
    with pytest.raises(ProviderRejected) as refused:
        directory.pan().verify("ABC123", "Karthik Raman", DOB, caller=who)
    assert refused.value.code == "invalid_pan"
    assert [(r["kind"], r["outcome"], r["http_status"]) for r in logged(call_log, who)] == [
        ("verify_pan", "rejected", 400)
    ]


# Penny drop -----------------------------------------------------------------------------------------------


def test_a_penny_drop_credits_one_rupee_and_scores_the_holder_name(directory: ProviderDirectory) -> None:
    result = directory.penny_drop().verify("50100123456789", "HDFC0001234", "Karthik Raman", caller=caller())
    assert result.verified and result.amount == Decimal("1.00") and result.failure is None
    assert result.account_holder == "KARTHIK RAMAN" and result.name_match_score == 100 and result.bank == "HDFC Bank"


def test_a_bank_keeping_initials_still_matches_well(directory: ProviderDirectory) -> None:
    result = directory.penny_drop().verify("50100123455555", "SBIN0001234", "Karthik Raman", caller=caller())
    assert result.account_holder == "KARTHIK R" and result.name_match_score is not None
    assert 80 <= result.name_match_score < 100


def test_someone_elses_account_scores_low(directory: ProviderDirectory) -> None:
    result = directory.penny_drop().verify("50100123454444", "SBIN0001234", "Karthik Raman", caller=caller())
    assert result.verified and result.name_match_score is not None and result.name_match_score < 60


@pytest.mark.parametrize(
    ("account", "failure"),
    [
        ("123456780000", "invalid_account"),
        ("123456781111", "account_closed"),
        ("123456782222", "nre_account"),
        ("123456783333", "account_frozen"),
    ],
)
def test_penny_drop_failures_are_results(directory: ProviderDirectory, account: str, failure: str) -> None:
    result = directory.penny_drop().verify(account, "ICIC0000001", "Karthik Raman", caller=caller())
    assert (result.verified, result.failure, result.amount, result.name_match_score) == (
        False,
        failure,
        Decimal("0.00"),
        None,
    )


def test_an_unreadable_ifsc_is_rejected(directory: ProviderDirectory) -> None:
    with pytest.raises(ProviderRejected) as refused:
        directory.penny_drop().verify("50100123456789", "HDFC1234", "Karthik Raman", caller=caller())
    assert refused.value.code == "invalid_ifsc"


# Bureau ---------------------------------------------------------------------------------------------------


def test_a_pan_picks_its_score_and_reports_are_deterministic(directory: ProviderDirectory) -> None:
    report = directory.bureau().pull("ABCPR0742L", "Karthik Raman", DOB, "+919876543210", caller=caller())
    assert report.score == 742 and not report.no_history
    again = directory.bureau().pull("ABCPR0742L", "Karthik Raman", DOB, "+919876543210", caller=caller())
    assert again.tradelines == report.tradelines and again.reference != report.reference
    for line in report.tradelines:
        assert line.outstanding <= line.sanctioned_amount and line.max_dpd >= 0
    assert report.total_emi == sum((t.emi for t in report.tradelines), Decimal(0))


def test_no_history_and_the_score_table(directory: ProviderDirectory, sims: dict[str, BureauSimulator]) -> None:
    empty = directory.bureau().pull("ABCPR0000L", "Karthik Raman", DOB, "+919876543210", caller=caller())
    assert empty.score == -1 and empty.no_history and empty.tradelines == () and empty.max_dpd == 0
    answer = httpx.post(f"{sims['bureau'].base_url}/_sim/scores", json={"pan": "ABCPR5555L", "score": 512})
    assert answer.status_code == 204
    low = directory.bureau().pull("ABCPR5555L", "Karthik Raman", DOB, "+919876543210", caller=caller())
    assert low.score == 512 and all(t.max_dpd >= 30 for t in low.tradelines)
    bad = httpx.post(f"{sims['bureau'].base_url}/_sim/scores", json={"pan": "ABCPR5555L", "score": 100})
    assert bad.status_code == 422


def test_bureau_down_is_unavailable_after_retries(
    directory: ProviderDirectory, sims: dict[str, BureauSimulator], call_log: ProviderCallLog
) -> None:
    who = caller()
    sims["bureau"].fail_next(3, 503)  # not taken: asked again, up to the bound
    with pytest.raises(ProviderUnavailable):
        directory.bureau().pull("ABCPR0742L", "Karthik Raman", DOB, "+919876543210", caller=who)
    sims["bureau"].fail_next(3, 502)  # perhaps taken: asked again, another enquiry on the person's credit file
    with pytest.raises(ProviderUnavailable) as unknown:
        directory.bureau().pull("ABCPR0742L", "Karthik Raman", DOB, "+919876543210", caller=who)
    assert "the outcome is unknown" in unknown.value.message
    rows = [(r["provider"], r["kind"], r["http_status"], r["attempts"]) for r in logged(call_log, who)]
    assert rows == [("bureau", "pull_report", 503, 3), ("bureau", "pull_report", 502, 1)]


# Bank statement analysis ----------------------------------------------------------------------------------


def test_a_statement_says_salary_emis_and_balance(directory: ProviderDirectory) -> None:
    document = b"%PDF-1.4\nSALARY=52000\nEMPLOYER=Acme Widgets Ltd\nEMIS=2\nBOUNCES=1\nHOLDER=Karthik Raman\n%%EOF"
    result = directory.bsa().analyse(document, caller=caller())
    assert result.source == "bsa" and result.account_holder == "KARTHIK RAMAN"
    assert len(result.salary_credits) == 6 and {c.employer for c in result.salary_credits} == {"ACME WIDGETS LTD"}
    assert result.monthly_salary is not None and Decimal(51000) <= result.monthly_salary <= Decimal(54000)
    assert len(result.emis) == 2 and result.bounces == 1 and result.average_balance > 0
    assert result.period_from < result.period_to
    assert directory.bsa().analyse(document, caller=caller()).salary_credits == result.salary_credits


def test_a_statement_without_salary(directory: ProviderDirectory) -> None:
    result = directory.bsa().analyse(b"%PDF-1.4\nSALARY=0\n", caller=caller())
    assert result.salary_credits == () and result.monthly_salary is None


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (b"\x89PNG\r\n\x1a\n....", "unsupported_document"),
        (b"%PDF-1.7\n/Encrypt 5 0 R\n", "password_protected"),
        (b"%PDF-1.7\nUNREADABLE\n", "unreadable"),
    ],
)
def test_statements_it_cannot_read_are_rejected(directory: ProviderDirectory, document: bytes, code: str) -> None:
    with pytest.raises(ProviderRejected) as refused:
        directory.bsa().analyse(document, caller=caller())
    assert refused.value.code == code and refused.value.status == 422
