"""Generated Softmedia notices: Indian names and phone formats as a loan system sends them, loan numbers, amounts.

Deterministic from a seed: the same arguments make the same notices and borrowers, so tests and the demo can
register some borrowers in Covenant Desk and know which notices should match them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

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


class NoticeGenerator:
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
