"""The sync's borrower lookups made a page ahead: the matcher takes them instead of asking again, and scores alike."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from domain.notices.matching import Candidate, name_key
from domain.notices.notice import Notice, NoticeFacts, NoticeMode, notice_id_for
from domain.shared.aggregate import with_id
from workers.notice_sync import BorrowerMatcher

BRAND = uuid.uuid4()
MEENA = Candidate(uuid.UUID(int=1), "Meena Iyer", ("+919876500011",), ("SML0000000011",))
RAVI = Candidate(uuid.UUID(int=2), "Ravi Shankar Rao", ("+919876500022",), ())
RAVI_TOO = Candidate(uuid.UUID(int=3), "Ravi S Rao", ("+919876500033",), ())


class _Directory:
    """NoticeQueries' two lookups over three borrowers, counting the calls (the matcher's only I/O)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def borrowers_by_loan_or_phone(self, brand_id: Any, loans: Any, phones: Any) -> dict[tuple[str, str], list[Any]]:
        self.calls.append(("key", (*loans, *phones)))
        found: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
        for c in (MEENA, RAVI, RAVI_TOO):
            for loan in set(loans) & set(c.loan_numbers):
                found[("loan", loan)].append(c)
            for phone in set(phones) & set(c.phones):
                found[("phone", phone)].append(c)
        return found

    def borrowers_by_name(self, brand_id: Any, names: Any) -> dict[str, list[Candidate]]:
        self.calls.append(("name", tuple(names)))
        return {n: [RAVI, RAVI_TOO] for n in names if "ravi" in n}


def _notice(n: int, name: str, loan: str, phone: str | None) -> Notice:
    facts = NoticeFacts(
        loan_number=loan, customer_name=name, phone=phone or "", phone_e164=phone, due_date=date(2026, 10, 1),
        instalment_no=1, amount_due=Decimal("100.00"), days_overdue=3, mode=NoticeMode.OVERDUE,
    )  # fmt: skip
    source = uuid.UUID(int=99)
    return with_id(
        Notice, notice_id_for(source, str(n)), brand_id=BRAND, source_id=source, company="SML",
        source_notice_id=str(n), facts=facts, run_id=None,
    )  # fmt: skip


def test_lookups_made_ahead_are_used_instead_of_asking_again_and_match_alike() -> None:
    notices = [
        _notice(1, "Meena Iyer", "SML0000000011", None),  # by loan number
        _notice(2, "Ravi Shankar Rao", "SML-UNKNOWN", None),  # by name only
        _notice(3, "Meena Iyer", "SML-OTHER", "+919876500011"),  # by phone
    ]
    plain = _Directory()
    expected = BorrowerMatcher(plain)(BRAND, notices)  # type: ignore[arg-type]
    assert [kind for kind, _ in plain.calls] == ["key", "name"]

    ahead = _Directory()
    matcher = BorrowerMatcher(ahead)  # type: ignore[arg-type]
    lookups = matcher.look_up(BRAND, [n.facts for n in notices])
    assert ahead.calls == [
        ("key", ("SML-OTHER", "SML-UNKNOWN", "SML0000000011", "+919876500011")),
        ("name", (name_key("Ravi Shankar Rao"),)),  # only the notice that no loan number or phone found
    ]
    assert matcher.using(lookups)(BRAND, notices) == expected
    assert len(ahead.calls) == 2  # nothing asked again
    assert expected[notices[0].id].customer_id == MEENA.customer_id and expected[notices[0].id].band == "high"
    assert expected[notices[1].id].customer_id in (RAVI.customer_id, RAVI_TOO.customer_id)


def test_notices_the_lookups_do_not_cover_are_looked_up_as_usual() -> None:
    directory = _Directory()
    matcher = BorrowerMatcher(directory)  # type: ignore[arg-type]
    lookups = matcher.look_up(BRAND, [_notice(1, "Meena Iyer", "SML0000000011", None).facts])
    other = _notice(2, "Ravi Shankar Rao", "SML-UNKNOWN", None)
    result = matcher.using(lookups)(BRAND, [other])
    assert [kind for kind, _ in directory.calls] == ["key", "key", "name"]
    assert result[other.id].customer_id in (RAVI.customer_id, RAVI_TOO.customer_id)
