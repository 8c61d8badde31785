"""The loan statuses that count as "being serviced" have one home, the domain's `SERVICING`
(domain/loans/states.py): the reports, the dues and loan queries, the insight figures, the COB's partitions and the
collections read its codes (`SERVICING_CODES`, in LoanStatus's order) instead of each repeating the tuple or its SQL
list, so a status added to SERVICING reaches every one of them."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from domain.loans.states import SERVICING, SERVICING_CODES

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("domain", "projections", "adapters", "api", "workers")
HOME = Path("domain/loans/states.py")
#: The three codes side by side, quoted (a Python tuple or an SQL IN list), in any order.
COPY = re.compile(
    "|".join(
        r"\s*,\s*".join(f"""['"]{code}['"]""" for code in order)
        for order in itertools.permutations(("active", "partially_paid", "overdue"))
    )
)


def test_the_serviced_codes_are_servicing_in_status_order() -> None:
    assert SERVICING_CODES == ("active", "partially_paid", "overdue")
    assert set(SERVICING_CODES) == {s.value for s in SERVICING}


def test_no_product_module_repeats_the_serviced_statuses() -> None:
    copies = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT) != HOME
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if COPY.search(line)
    ]
    assert copies == []
