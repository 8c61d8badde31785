"""The payout and beneficiary files read back with openpyxl in read mode: rows, text account numbers, the control
total (count and exact sum); and the time for 10,000 lines."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from openpyxl import load_workbook

from adapters.payout_files import beneficiary_workbook, payout_workbook
from domain.loans.payout_lines import PayoutLine, control_total

FILE_ID = uuid.UUID(int=7)


def _line(n: int, amount: str) -> PayoutLine:
    return PayoutLine(uuid.uuid4(), f"DEMO-L-{n:06d}", f"Borrower {n}", f"00{n:010d}", "HDFC0001234", Decimal(amount))


def test_rows_and_control_total_read_back() -> None:
    lines = [_line(1, "9270.50"), _line(2, "48123.05"), _line(3, "0.45")]
    data = payout_workbook(lines, file_id=FILE_ID, brand="demo", created_at=datetime(2026, 11, 30, tzinfo=UTC))
    book = load_workbook(io.BytesIO(data), read_only=True)
    rows = list(book["Payouts"].iter_rows(values_only=True))
    assert rows[0][:6] == ("S.No", "Loan number", "Beneficiary name", "Account number", "IFSC", "Net amount")
    body = rows[1:-1]
    assert [(r[1], r[2], r[3], r[4]) for r in body] == [
        ("DEMO-L-000001", "Borrower 1", "000000000001", "HDFC0001234"),
        ("DEMO-L-000002", "Borrower 2", "000000000002", "HDFC0001234"),
        ("DEMO-L-000003", "Borrower 3", "000000000003", "HDFC0001234"),
    ]
    amounts = [Decimal(str(r[5])).quantize(Decimal("0.01")) for r in body]
    assert amounts == [Decimal("9270.50"), Decimal("48123.05"), Decimal("0.45")]
    last = rows[-1]
    assert last[0] == "CONTROL TOTAL" and last[2] == "3 rows"
    assert Decimal(str(last[5])).quantize(Decimal("0.01")) == Decimal("57394.00") == sum(amounts)
    control = dict(book["Control"].iter_rows(values_only=True))
    assert control["Row count"] == 3 and control["File id"] == str(FILE_ID)
    assert Decimal(str(control["Total amount"])).quantize(Decimal("0.01")) == Decimal("57394.00")


def test_beneficiary_file() -> None:
    book = load_workbook(io.BytesIO(beneficiary_workbook([_line(9, "1.00")])), read_only=True)
    rows = list(book["Beneficiaries"].iter_rows(values_only=True))
    assert rows == [
        ("Beneficiary name", "Account number", "IFSC", "Loan number"),
        ("Borrower 9", "000000000009", "HDFC0001234", "DEMO-L-000009"),
    ]


def test_control_total_is_exact() -> None:
    total = control_total([_line(n, "0.10") for n in range(1, 11)])
    assert total.count == 10 and total.amount == Decimal("1.00")


def test_ten_thousand_lines_are_each_written_once_in_order() -> None:
    """A file of 10,000 payouts holds every line once, in order, with its amount (its speed is `make bench`'s: the
    disbursal benchmark, not a timed test)."""
    lines = [_line(n, f"{10000 + n}.{n % 100:02d}") for n in range(1, 10_001)]
    data = payout_workbook(lines, file_id=FILE_ID, brand="demo", created_at=datetime.now(UTC))
    rows = list(load_workbook(io.BytesIO(data), read_only=True)["Payouts"].iter_rows(values_only=True))
    assert len(rows) == 10_002
    numbers = [str(line.loan_number) for line in lines]
    assert [r for r in numbers if any(r in str(c) for c in rows[1])] == [numbers[0]]
    assert [r for r in numbers if any(r in str(c) for c in rows[-2])] == [numbers[-1]]


def test_a_name_that_looks_like_a_formula_is_written_as_text() -> None:
    """A beneficiary (a bank account's holder name, as the borrower gave it) or brand starting with = + - @ is text in
    both files, never a formula Excel would run (XLSX injection), and reads back exactly as given."""
    import zipfile

    names = ['=HYPERLINK("http://x","pay")', "+91 Rao", "-Iyer", "@SUM(1+1)"]
    lines = [PayoutLine(uuid.uuid4(), f"DEMO-L-{n:06d}", name, f"00{n:010d}", "HDFC0001234", Decimal("10.00"))
             for n, name in enumerate(names, 1)]  # fmt: skip
    created = datetime(2026, 11, 30, tzinfo=UTC)
    for data, sheet, column in (
        (payout_workbook(lines, file_id=FILE_ID, brand="=cmd|' /C calc'!A0", created_at=created), "Payouts", 2),
        (beneficiary_workbook(lines), "Beneficiaries", 0),
    ):
        with zipfile.ZipFile(io.BytesIO(data)) as parts:
            sheets = [parts.read(n).decode() for n in parts.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any("<f>" in xml or "<f " in xml for xml in sheets)
        book = load_workbook(io.BytesIO(data))
        cells = [row[column] for row in book[sheet].iter_rows(min_row=2, max_row=len(names) + 1)]
        assert [c.value for c in cells] == names and {c.data_type for c in cells} == {"s"}
    control = dict(load_workbook(io.BytesIO(payout_workbook(lines, file_id=FILE_ID, brand="=x", created_at=created)))["Control"].values)  # fmt: skip
    assert control["Brand"] == "=x"
