"""Fixtures of the loans application tests: the Loans application on the in-memory store with fakes."""

from __future__ import annotations

import pytest

from domain.loans.application import Loans
from domain.shared.clock import FixedClock
from domain.shared.numbering import CountingSeries
from tests.application.conftest import in_memory
from tests.application.loans.fakes import Book, Catalogue, Facts, Parties


@pytest.fixture
def parties() -> Parties:
    return Parties()


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue()


@pytest.fixture
def source() -> Facts:
    return Facts()


@pytest.fixture
def loans(clock: FixedClock, parties: Parties, catalogue: Catalogue, source: Facts) -> Loans:
    book = Book()
    app = in_memory(
        Loans, clock, parties=parties, book=book, facts=source, catalogue=catalogue, numbers=CountingSeries("DEMO")
    )
    book.app = app
    return app
