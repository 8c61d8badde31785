"""Softmedia simulator: our own HTTP server speaking the Softmedia v1 notices contract, for the demo and the tests.

The data is generated deterministically from a seed (Indian names and phone formats as a loan system sends
them, loan numbers, amounts in rupees and paise, due dates around a given `today`), can be changed while it is
served, and faults (errors, rate limits, slow or malformed pages, items repeated across pages) can be switched
on from a test. Pages are served from pre-serialised JSON, so a large pull is bound by HTTP, not by Python.

Run it on its own::

    python -m adapters.softmedia_simulator --port 8100 --token demo-token --companies SML,KFL --per-company 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MODES = ("overdue", "upcoming")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 500
ITEM_FIELDS = (
    "notice_id",
    "company_code",
    "loan_number",
    "customer_name",
    "phone",
    "due_date",
    "instalment_no",
    "amount_due",
    "days_overdue",
    "mode",
    "updated_at",
)
IST = timezone(timedelta(hours=5, minutes=30), "IST")

# (weight, male first names, female first names, surnames): a spread across regions and communities, so that
# name matching meets the variety a real Indian loan book has.
_NAME_POOLS: tuple[tuple[float, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (  # North
        0.24,
        ("Rahul", "Amit", "Vikas", "Sanjay", "Rajesh", "Anil", "Sunil", "Manoj", "Deepak", "Rohit", "Vivek", "Ashok"),
        ("Priya", "Neha", "Pooja", "Anjali", "Sunita", "Kavita", "Rekha", "Shweta", "Nisha", "Ritu", "Seema"),
        ("Sharma", "Verma", "Gupta", "Yadav", "Chauhan", "Agarwal", "Srivastava", "Mishra", "Tiwari", "Pandey"),
    ),
    (  # Punjab
        0.06,
        ("Gurpreet", "Harpreet", "Manpreet", "Jaspreet", "Harjit", "Baljeet", "Amandeep", "Sukhwinder"),
        ("Simran", "Harleen", "Navneet", "Jasleen", "Gurleen", "Manjeet"),
        ("Singh", "Gill", "Sandhu", "Dhillon", "Grewal", "Sidhu", "Bajwa", "Randhawa"),
    ),
    (  # South
        0.28,
        ("Karthik", "Suresh", "Ramesh", "Venkatesh", "Srinivas", "Arun", "Prakash", "Harish", "Murali", "Balaji"),
        ("Lakshmi", "Divya", "Kavya", "Meena", "Revathi", "Sowmya", "Anitha", "Deepa", "Padma", "Geetha"),
        ("Iyer", "Nair", "Menon", "Pillai", "Reddy", "Naidu", "Rao", "Raman", "Krishnan", "Subramanian", "Gowda"),
    ),
    (  # East
        0.13,
        ("Sourav", "Arindam", "Debashis", "Subhajit", "Anirban", "Pritam", "Biswajit", "Sandip", "Tapas"),
        ("Moumita", "Sreeja", "Ananya", "Rituparna", "Payel", "Sohini", "Tanusree", "Madhumita"),
        ("Banerjee", "Chatterjee", "Mukherjee", "Das", "Ghosh", "Bose", "Sen", "Dutta", "Mohanty", "Patnaik"),
    ),
    (  # West
        0.15,
        ("Nikhil", "Sachin", "Mahesh", "Hardik", "Jignesh", "Sagar", "Tushar", "Omkar", "Chirag", "Ketan"),
        ("Snehal", "Komal", "Hetal", "Aarti", "Swati", "Manisha", "Ashwini", "Falguni", "Rupal"),
        ("Patil", "Deshmukh", "Kulkarni", "Joshi", "Patel", "Shah", "Mehta", "Desai", "Pawar", "Jadhav"),
    ),
    (  # Northeast
        0.04,
        ("Bikash", "Pranjal", "Dhruba", "Manab", "Rupam"),
        ("Bidisha", "Pallavi", "Jonali", "Rimjhim", "Dipshikha"),
        ("Bora", "Gogoi", "Baruah", "Saikia", "Kalita", "Hazarika", "Phukan"),
    ),
    (  # Muslim names, all regions
        0.07,
        ("Mohammed", "Imran", "Faisal", "Salman", "Irfan", "Arshad", "Javed", "Abdul"),
        ("Ayesha", "Fatima", "Nazia", "Shabana", "Rukhsar", "Farah"),
        ("Khan", "Ansari", "Sheikh", "Qureshi", "Siddiqui", "Syed", "Pathan"),
    ),
    (  # Christian names, mostly Kerala, Goa and the Northeast
        0.03,
        ("Joseph", "Thomas", "Anthony", "Francis", "Sebastian"),
        ("Mary", "Jessy", "Sheeba", "Teresa", "Rosamma"),
        ("Fernandes", "D'Souza", "Mathew", "George", "Varghese", "Kurian"),
    ),
)
_MALE_MIDDLE = ("Kumar", "Prasad", "Chandra", "Mohan", "Lal", "Nath")
_FEMALE_MIDDLE = ("Devi", "Kumari", "Rani")
_FEMALE_FIRST = frozenset(name for pool in _NAME_POOLS for name in pool[2])
_MALE_HONORIFICS = ("Mr.", "Mr", "Shri", "Dr.")
_FEMALE_HONORIFICS = ("Smt.", "Mrs.", "Ms.", "Kum.", "Dr.")


@dataclass
class SimBorrower:
    """A borrower identity behind simulated notices; register it in Covenant Desk to see its notices match."""

    name: str
    phone: str
    loan_numbers: list[str] = field(default_factory=list)


# A broken item is made in a varying way, so that every kind of bad item reaches the connector in a pull.
_BREAKERS: tuple[tuple[str, Callable[[dict[str, Any]], None]], ...] = (
    ("missing due_date", lambda item: item.pop("due_date", None)),
    ("impossible due_date", lambda item: item.update(due_date="2024-02-30")),
    ("amount_due abc", lambda item: item.update(amount_due="abc")),
    ("unknown mode", lambda item: item.update(mode="sideways")),
    ("negative days_overdue", lambda item: item.update(days_overdue=-3)),
    ("missing notice_id", lambda item: item.pop("notice_id", None)),
    ("blank customer_name", lambda item: item.update(customer_name="   ")),
    ("instalment_no not a number", lambda item: item.update(instalment_no="first")),
)


def break_item(item: dict[str, Any], variant: int) -> str:
    """Break `item` in place in one of several ways (chosen by `variant`); returns what was broken."""
    reason, breaker = _BREAKERS[variant % len(_BREAKERS)]
    breaker(item)
    return reason


class Dataset:
    """Notices per company as a Softmedia source holds them; mutable, with pages served from a per-page cache."""

    def __init__(
        self, today: date, items: Iterable[dict[str, Any]] = (), borrowers: Iterable[SimBorrower] = ()
    ) -> None:
        self.today = today
        self._lock = threading.RLock()
        self._notices: dict[str, dict[str, dict[str, Any]]] = {}
        self._borrowers = list(borrowers)
        # Caches, dropped per company on any change of that company's notices.
        self._listings: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._encoded: dict[tuple[str, str], list[bytes]] = {}
        self._pages: dict[tuple[str, str, int, int], bytes] = {}
        for item in items:
            self.upsert(item)

    @classmethod
    def generate(
        cls,
        seed: int,
        companies: list[str],
        per_company: int,
        today: date,
        borrowers: list[SimBorrower] | None = None,
        known_share: float = 0.7,
    ) -> Dataset:
        """`per_company` notices for each company, the same for the same arguments.

        With `borrowers`, about `known_share` of the notices belong to them (the same loan number, or the same
        phone written another way, or the name with small variations); the rest belong to invented strangers.
        """
        generator = _Generator(random.Random(seed), today, borrowers or [], known_share if borrowers else 0.0)
        dataset = cls(today)
        for company in companies:
            notices = dataset._notices.setdefault(company, {})
            for item in generator.company_notices(company, per_company):
                notices[item["notice_id"]] = item
        dataset._borrowers = generator.used_borrowers()
        return dataset

    @property
    def companies(self) -> list[str]:
        """Company codes holding at least one notice."""
        with self._lock:
            return [company for company, notices in self._notices.items() if notices]

    def borrowers(self) -> list[SimBorrower]:
        """The identities behind the notices: the given borrowers that were used, then the invented ones."""
        with self._lock:
            return [SimBorrower(b.name, b.phone, list(b.loan_numbers)) for b in self._borrowers]

    def items(self, mode: str, company: str) -> list[dict[str, Any]]:
        """Copies of the `mode` notices of `company`, in the order they are served."""
        with self._lock:
            return [dict(item) for item in self._listing(company, mode)]

    def count(self, mode: str, company: str) -> int:
        """How many `mode` notices `company` has."""
        with self._lock:
            return len(self._listing(company, mode))

    def __len__(self) -> int:
        with self._lock:
            return sum(len(notices) for notices in self._notices.values())

    def upsert(self, item: dict[str, Any], *, company: str | None = None) -> None:
        """Add a notice, or replace the one with its notice_id (keeping its place); no other field is checked.

        It is served under its company_code, or under `company` when given (to serve another company's item).
        """
        notice_id = item.get("notice_id")
        company = company if company is not None else item.get("company_code")
        if not isinstance(notice_id, str) or not isinstance(company, str):
            raise ValueError("a notice needs a string notice_id and company_code to be stored")
        with self._lock:
            self._notices.setdefault(company, {})[notice_id] = dict(item)
            self._invalidate(company)

    def remove(self, company: str, notice_id: str) -> None:
        """Delete a notice (KeyError when there is none)."""
        with self._lock:
            del self._notices.get(company, {})[notice_id]
            self._invalidate(company)

    def change(self, company: str, notice_id: str, **fields: Any) -> dict[str, Any]:
        """Update fields of a notice, as the source does between pulls; `updated_at` moves to now unless given."""
        if "notice_id" in fields or "company_code" in fields:
            raise ValueError("notice_id and company_code identify a notice: remove it and upsert a new one")
        with self._lock:
            item = self._notices.get(company, {})[notice_id]
            item.update(fields)
            if "updated_at" not in fields:
                item["updated_at"] = datetime.now(IST).isoformat(timespec="seconds")
            self._invalidate(company)
            return dict(item)

    def page_body(self, mode: str, company: str, page: int, page_size: int) -> bytes:
        """The JSON body of one page, serialised once per page and reused until the company's notices change."""
        key = (company, mode, page, page_size)
        with self._lock:
            body = self._pages.get(key)
            if body is not None:
                return body
            encoded = self._encoded.get((company, mode))
            if encoded is None:
                encoded = [_encode(item) for item in self._listing(company, mode)]
                self._encoded[(company, mode)] = encoded
            start = (page - 1) * page_size
            body = b'{"page":%d,"page_size":%d,"total_pages":%d,"total":%d,"items":[%s]}' % (
                page,
                page_size,
                math.ceil(len(encoded) / page_size),
                len(encoded),
                b",".join(encoded[start : start + page_size]),
            )
            if len(self._pages) >= 8192:  # a bound for a long-running demo; a pull refills what it needs
                self._pages.clear()
            self._pages[key] = body
            return body

    def page_items(self, mode: str, company: str, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
        """Copies of the items on one page, and the total; the slow path, used when a fault alters items."""
        with self._lock:
            listing = self._listing(company, mode)
            start = (page - 1) * page_size
            return [dict(item) for item in listing[start : start + page_size]], len(listing)

    def warm(self) -> None:
        """Serialise every listing now, so that no request pays for it."""
        with self._lock:
            for company in self._notices:
                for mode in MODES:
                    self.page_body(mode, company, 1, 1)

    def _listing(self, company: str, mode: str) -> list[dict[str, Any]]:
        listing = self._listings.get((company, mode))
        if listing is None:
            listing = [item for item in self._notices.get(company, {}).values() if item.get("mode") == mode]
            self._listings[(company, mode)] = listing
        return listing

    def _invalidate(self, company: str) -> None:
        for mode in MODES:
            self._listings.pop((company, mode), None)
            self._encoded.pop((company, mode), None)
        for key in [key for key in self._pages if key[0] == company]:
            del self._pages[key]


def _encode(item: dict[str, Any]) -> bytes:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()


class _Generator:
    """Makes notices and the borrowers behind them from one random generator (so a seed repeats a dataset)."""

    def __init__(self, rng: random.Random, today: date, known: list[SimBorrower], known_share: float) -> None:
        self.rng = rng
        self.today = today
        self.known = known
        self.known_share = known_share
        self.used_known: dict[int, SimBorrower] = {}
        self.invented: list[SimBorrower] = []
        self.phones: set[str] = {_ten_digits(b.phone) for b in known}
        self.pool_weights = [pool[0] for pool in _NAME_POOLS]
        self.loan_counters: dict[str, int] = {}
        self.now = datetime.combine(today, datetime.min.time(), IST) + timedelta(hours=9)

    def used_borrowers(self) -> list[SimBorrower]:
        return [self.known[index] for index in sorted(self.used_known)] + self.invented

    def company_notices(self, company: str, count: int) -> list[dict[str, Any]]:
        rng = self.rng
        notices: list[dict[str, Any]] = []
        company_borrowers: list[SimBorrower] = []
        while len(notices) < count:
            if self.known and rng.random() < self.known_share:
                name, phone, loan_number = self._known_identity(company)
            else:
                if company_borrowers and rng.random() < 0.25:
                    # A returning borrower: a second loan with the same lender.
                    borrower = rng.choice(company_borrowers)
                    loan_number = self._loan_number(company)
                    borrower.loan_numbers.append(loan_number)
                else:
                    borrower = self._invent(company)
                    company_borrowers.append(borrower)
                    loan_number = borrower.loan_numbers[0]
                name = self._source_name(borrower.name) if rng.random() < 0.35 else borrower.name
                phone = self._source_phone(borrower.phone)
            if rng.random() < 0.02:
                phone = ""  # some source records carry no phone at all
            first_mode = "overdue" if rng.random() < 0.6 else "upcoming"
            instalment = rng.randint(1, 36)
            emi = self._emi()
            days = self._notice(notices, company, first_mode, name, phone, loan_number, instalment, emi)
            if len(notices) < count and rng.random() < 0.2:
                # The same loan in the other feed: an overdue instalment and the next one falling due, or the
                # reverse (an earlier instalment still unpaid).
                if first_mode == "overdue":
                    self._notice(
                        notices, company, "upcoming", name, phone, loan_number, instalment + 1 + days // 30, emi
                    )
                elif instalment > 1:
                    self._notice(notices, company, "overdue", name, phone, loan_number, instalment - 1, emi)
        return notices

    def _notice(
        self,
        notices: list[dict[str, Any]],
        company: str,
        mode: str,
        name: str,
        phone: str,
        loan_number: str,
        instalment: int,
        emi: int,
    ) -> int:
        rng = self.rng
        if mode == "overdue":
            days = min(400, 1 + int(rng.expovariate(1 / 45)))
            due_date = self.today - timedelta(days=days)
            # Penal interest and charges accrue on an overdue instalment.
            paise = emi + emi * min(days, 180) // 1500 + rng.choice((0, 0, 0, 59000, 118000))
        else:
            days = 0
            due_date = self.today + timedelta(days=rng.randint(0, 60))
            paise = emi
        updated = self.now - timedelta(minutes=rng.randint(0, 72 * 60), seconds=rng.randint(0, 59))
        notices.append(
            {
                "notice_id": f"{company}-{len(notices) + 1:08d}",
                "company_code": company,
                "loan_number": loan_number,
                "customer_name": name,
                "phone": phone,
                "due_date": due_date.isoformat(),
                "instalment_no": instalment,
                "amount_due": f"{paise // 100}.{paise % 100:02d}",
                "days_overdue": days,
                "mode": mode,
                "updated_at": None if rng.random() < 0.02 else updated.isoformat(timespec="seconds"),
            }
        )
        return days

    def _emi(self) -> int:
        """An instalment in paise: mostly a few thousand rupees, sometimes a large business loan."""
        rng = self.rng
        rupees = int(rng.lognormvariate(9.0, 0.8))
        rupees = max(500, min(rupees, 450_000))
        return rupees * 100 + (0 if rng.random() < 0.4 else rng.randint(1, 99))

    def _known_identity(self, company: str) -> tuple[str, str, str]:
        rng = self.rng
        index = rng.randrange(len(self.known))
        borrower = self.known[index]
        self.used_known[index] = borrower
        name = self._source_name(borrower.name)
        kind = rng.choices(("loan", "phone", "name"), weights=(0.5, 0.3, 0.2))[0]
        if kind == "loan" and borrower.loan_numbers:
            own = [number for number in borrower.loan_numbers if number.upper().startswith(company.upper())]
            loan_number = rng.choice(own or borrower.loan_numbers)
            phone = self._source_phone(borrower.phone) if rng.random() < 0.75 else self._new_phone()
        elif kind in ("loan", "phone"):
            loan_number = self._loan_number(company)
            phone = self._source_phone(borrower.phone)
        else:
            loan_number = self._loan_number(company)
            phone = self._source_phone(self._new_phone())  # a changed number: only the name links them
        return name, phone, loan_number

    def _invent(self, company: str) -> SimBorrower:
        rng = self.rng
        _, males, females, surnames = rng.choices(_NAME_POOLS, weights=self.pool_weights)[0]
        female = rng.random() < 0.42
        first = rng.choice(females if female else males)
        surname = rng.choice(surnames)
        if female and surname == "Singh" and rng.random() < 0.7:
            surname = "Kaur"
        parts = [first]
        if rng.random() < 0.15:
            parts.append(rng.choice(_FEMALE_MIDDLE if female else _MALE_MIDDLE))
        parts.append(surname)
        borrower = SimBorrower(" ".join(parts), self._new_phone(), [self._loan_number(company)])
        self.invented.append(borrower)
        return borrower

    def _new_phone(self) -> str:
        """An unused Indian mobile number in E.164."""
        rng = self.rng
        while True:
            digits = str(rng.randint(6, 9)) + f"{rng.randrange(10**9):09d}"
            if digits not in self.phones:
                self.phones.add(digits)
                return "+91" + digits

    def _loan_number(self, company: str) -> str:
        rng = self.rng
        current = self.loan_counters.get(company)
        if current is None:
            current = rng.randint(1_000_000, 9_000_000)
        current += rng.randint(1, 97)
        self.loan_counters[company] = current
        return f"{company}{current:010d}"

    def _source_phone(self, phone: str) -> str:
        """The number as a loan system's operators typed it."""
        digits = _ten_digits(phone)
        if len(digits) != 10:
            return phone
        style = self.rng.choices(range(7), weights=(30, 20, 15, 10, 10, 8, 7))[0]
        return (
            digits,
            f"{digits[:5]} {digits[5:]}",
            f"+91 {digits}",
            f"91{digits}",
            f"0{digits[:5]}-{digits[5:]}",
            f"+91-{digits[:5]}-{digits[5:]}",
            f"+91{digits}",
        )[style]

    def _source_name(self, name: str) -> str:
        """The name with the small variations a source has: case, honorifics, initials, order, spacing."""
        rng = self.rng
        parts = name.split()
        female = bool(parts) and parts[0] in _FEMALE_FIRST
        style = rng.choices(range(7), weights=(30, 18, 8, 18, 12, 7, 7))[0]
        if style == 0 or len(parts) < 2:
            return name
        if style == 1:
            return name.upper()
        if style == 2:
            return name.lower()
        if style == 3:
            return f"{rng.choice(_FEMALE_HONORIFICS if female else _MALE_HONORIFICS)} {name}"
        if style == 4:
            return f"{parts[-1][0]}. {' '.join(parts[:-1])}"  # "R. Karthik": the family initial first
        if style == 5:
            return f"{parts[0][0]}. {parts[-1]}"  # "K. Raman"
        return f"{parts[-1]}  {' '.join(parts[:-1])}"  # surname first, doubled space


def _ten_digits(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return digits[-10:] if len(digits) >= 10 else digits


class SoftmediaSimulator:
    """Serves a Dataset over the Softmedia v1 contract on loopback, with fault controls usable while it serves."""

    def __init__(
        self, dataset: Dataset | None = None, *, token: str = "sim-token", host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.dataset = dataset if dataset is not None else Dataset(date.today())
        self.token = token
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._requests = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        # Faults, read and counted down under the lock by the serving thread.
        self._fail_next: tuple[int, int] = (0, 503)  # (requests left, status)
        self._rate_limit_next: tuple[int, int] = (0, 1)  # (requests left, Retry-After seconds)
        self._slow: tuple[float, int | None] = (0.0, None)  # (seconds, pages left or None for all)
        self._malformed_every = 0
        self._repeat = False
        self._page_faults: dict[int, tuple[int, int]] = {}  # page -> (status, requests left)
        self._bad_body_next: tuple[int, bytes] = (0, b"")  # (requests left, body)
        self.app = Starlette(routes=[Route("/v1/notices", self._notices, methods=["GET"])])

    # Fault controls -------------------------------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next `n` requests with `status` (before the token is even checked, as a gateway does)."""
        with self._lock:
            self._fail_next = (n, status)

    def rate_limit_next(self, n: int, retry_after: int = 1) -> None:
        """Answer the next `n` requests with 429 and `Retry-After: retry_after`."""
        with self._lock:
            self._rate_limit_next = (n, retry_after)

    def slow_pages(self, seconds: float, times: int | None = None) -> None:
        """Delay each page by `seconds` (only the next `times` pages when given; 0 switches it off)."""
        with self._lock:
            self._slow = (seconds if times is None or times > 0 else 0.0, times)

    def malformed_every(self, k: int) -> None:
        """Break every k-th item of each page in a varying way (0 switches it off)."""
        with self._lock:
            self._malformed_every = max(0, k)

    def repeat_items(self, on: bool = True) -> None:
        """Start each page after the first with the last item of the previous page, as a shifting source does."""
        with self._lock:
            self._repeat = on

    def fail_at_page(self, page: int, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` requests for page `page` (any mode or company) with `status`."""
        with self._lock:
            self._page_faults[page] = (status, times)

    def bad_body_next(self, n: int, body: bytes = b"<html><body>502 Bad Gateway</body></html>") -> None:
        """Answer the next `n` requests with 200 and `body` (not JSON by default), as a misbehaving proxy does."""
        with self._lock:
            self._bad_body_next = (n, body)

    def reset_faults(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._fail_next = (0, 503)
            self._rate_limit_next = (0, 1)
            self._slow = (0.0, None)
            self._malformed_every = 0
            self._repeat = False
            self._page_faults = {}
            self._bad_body_next = (0, b"")

    @property
    def requests(self) -> int:
        """Requests received so far, faulted ones included."""
        with self._lock:
            return self._requests

    # Serving --------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where it serves (after start)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Serve in a background thread (port 0 picks a free port); returns the base URL once it accepts."""
        if self._server is not None:
            raise RuntimeError("the simulator is already serving")
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP; without it Nagle holds
        # each body behind its headers for the client's delayed ACK (40 ms a page).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self.dataset.warm()
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", http="h11", timeout_graceful_shutdown=2
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="softmedia-simulator", daemon=True
        )
        self._server, self._thread, self._socket = server, thread, sock
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Softmedia simulator did not start")
            time.sleep(0.01)
        return self.base_url

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        if sock is not None:
            sock.close()

    def __enter__(self) -> SoftmediaSimulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _notices(self, request: Request) -> Response:
        with self._lock:
            self._requests += 1
            rate_limited, retry_after = self._rate_limit_next
            if rate_limited > 0:
                self._rate_limit_next = (rate_limited - 1, retry_after)
            failing, fail_status = self._fail_next
            if not rate_limited and failing > 0:
                self._fail_next = (failing - 1, fail_status)
            garbled, garbage = self._bad_body_next
            if not rate_limited and not failing and garbled > 0:
                self._bad_body_next = (garbled - 1, garbage)
        if rate_limited > 0:
            return _error(429, "rate_limited", "too many requests", {"Retry-After": str(retry_after)})
        if failing > 0:
            return _error(fail_status, "unavailable", "simulated fault")
        if garbled > 0:
            return Response(garbage, media_type="text/html" if not garbage.startswith(b"{") else "application/json")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        query = request.query_params
        mode, company = query.get("mode"), (query.get("company") or "").strip()
        if mode not in MODES:
            return _error(400, "bad_request", f"mode must be one of {', '.join(MODES)}")
        if not company:
            return _error(400, "bad_request", "company is required")
        try:
            page = int(query.get("page", "1"))
            page_size = int(query.get("page_size", str(DEFAULT_PAGE_SIZE)))
        except ValueError:
            return _error(400, "bad_request", "page and page_size must be whole numbers")
        if page < 1:
            return _error(400, "bad_request", "page starts at 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            return _error(400, "bad_request", f"page_size must be between 1 and {MAX_PAGE_SIZE}")

        with self._lock:
            page_status, page_times = self._page_faults.get(page, (0, 0))
            if page_times > 0:
                self._page_faults[page] = (page_status, page_times - 1)
            delay, slow_times = self._slow
            if delay > 0 and slow_times is not None:
                self._slow = (delay if slow_times > 1 else 0.0, slow_times - 1)
            malformed_every, repeat = self._malformed_every, self._repeat
        if page_times > 0:
            return _error(page_status, "fault", f"simulated fault at page {page}")
        if delay > 0:
            await asyncio.sleep(delay)
        if not malformed_every and not repeat:
            body = self.dataset.page_body(mode, company, page, page_size)
        else:
            body = self._altered_page(mode, company, page, page_size, malformed_every, repeat)
        return Response(body, media_type="application/json")

    def _altered_page(
        self, mode: str, company: str, page: int, page_size: int, malformed_every: int, repeat: bool
    ) -> bytes:
        items, total = self.dataset.page_items(mode, company, page, page_size)
        if repeat and page > 1:
            previous, _ = self.dataset.page_items(mode, company, page - 1, page_size)
            if previous:
                items.insert(0, previous[-1])
        if malformed_every:
            for broken, index in enumerate(range(malformed_every - 1, len(items), malformed_every)):
                break_item(items[index], page + broken)
        return json.dumps(
            {
                "page": page,
                "page_size": page_size,
                "total_pages": math.ceil(total / page_size),
                "total": total,
                "items": items,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a generated dataset until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m adapters.softmedia_simulator", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--companies", default="SML,KFL", help="comma-separated company codes")
    parser.add_argument("--per-company", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today in IST)")
    args = parser.parse_args(argv)
    today = args.today or datetime.now(IST).date()
    companies = [code.strip() for code in args.companies.split(",") if code.strip()]
    started = time.perf_counter()
    dataset = Dataset.generate(args.seed, companies, args.per_company, today)
    generated = time.perf_counter() - started
    simulator = SoftmediaSimulator(dataset, token=args.token, host=args.host, port=args.port)
    base_url = simulator.start()
    print(f"Softmedia simulator serving {len(dataset)} notices for {', '.join(companies)} (as of {today})")
    print(f"  generated in {generated:.2f} s; {len(dataset.borrowers())} borrowers")
    print(f"  base URL: {base_url}")
    print(f"  token:    {args.token}")
    print(
        f"  try: curl -H 'Authorization: Bearer {args.token}' '{base_url}/v1/notices?mode=overdue&company={companies[0] if companies else 'SML'}&page=1&page_size=5'"
    )
    signal.signal(signal.SIGTERM, _interrupt)  # a supervisor's TERM stops it as cleanly as Ctrl-C
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping")
    finally:
        simulator.stop()
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
