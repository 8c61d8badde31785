"""The payout file and the beneficiary registration file (XLSX, openpyxl in write-only mode: 10,000 lines in well
under a second), for bulk disbursement by bank upload.

Payout file, sheet `Payouts`: a header row, then one row per loan — S.No, loan number, beneficiary name, account
number (text, so leading zeros stay), IFSC, net amount (a number with 2 places), mode — then the control total row:
`CONTROL TOTAL` in the first column, "<n> rows" in the beneficiary name column and the sum in the amount column. Sheet `Control`: file id, brand, created at, row count, total amount, as label/value pairs.
Sheet `Breakdown` (LENDING.md: the payout file, the ledger and the no-due certificate show the same breakdown): per
loan the sanctioned amount, the processing fee before the coupon, the discount and the fee charged, its GST and
whether it is inside the fee, the convenience fee, its GST and whether inside, what was deducted and the net amount
(sanctioned - deducted). The bank reads `Payouts` only; it is unchanged.

Beneficiary registration file, sheet `Beneficiaries`: name, account number, IFSC, loan number, for the accounts
the bank has not been given before.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from domain.loans.payout_lines import PayoutLine, control_total
from domain.loans.pricing import Pricing

PAYOUT_HEADER = ("S.No", "Loan number", "Beneficiary name", "Account number", "IFSC", "Net amount", "Mode")
BREAKDOWN_HEADER = (
    "Loan number", "Sanctioned", "Processing fee before discount", "Coupon discount", "Processing fee",
    "GST on processing fee", "Processing fee GST inside", "Convenience fee", "GST on convenience fee",
    "Convenience fee GST inside", "Deducted", "Net amount",
)  # fmt: skip
BENEFICIARY_HEADER = ("Beneficiary name", "Account number", "IFSC", "Loan number")
CONTROL_LABEL = "CONTROL TOTAL"
AMOUNT_FORMAT = "#,##0.00"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def payout_workbook(
    lines: Sequence[PayoutLine],
    *,
    file_id: UUID,
    brand: str,
    created_at: datetime,
    mode: str = "NEFT",
    pricing: Mapping[UUID, Pricing] | None = None,
) -> bytes:
    """The payout file's bytes: the lines in the order given, then the control total (row count and sum); with
    `pricing` (by loan id) the sheet `Breakdown` of each line's net amount."""
    workbook = Workbook(write_only=True)
    sheet: WriteOnlyWorksheet = workbook.create_sheet("Payouts")
    bold = Font(bold=True)
    sheet.append([_cell(sheet, text, font=bold) for text in PAYOUT_HEADER])
    for number, line in enumerate(lines, start=1):
        sheet.append(
            [
                number,
                line.loan_number,
                _words(sheet, line.beneficiary_name),
                _text(sheet, line.account_number),
                line.ifsc,
                _amount(sheet, line.amount),
                mode,
            ]
        )
    total = control_total(lines)
    sheet.append(
        [
            _cell(sheet, CONTROL_LABEL, font=bold),
            None,
            _cell(sheet, f"{total.count} rows", font=bold),
            None,
            None,
            _amount(sheet, total.amount, font=bold),
            None,
        ]
    )
    control: WriteOnlyWorksheet = workbook.create_sheet("Control")
    for label, value in (
        ("File id", str(file_id)),
        ("Brand", _words(control, brand)),
        ("Created at", created_at.isoformat()),
        ("Row count", total.count),
        ("Total amount", _amount(control, total.amount)),
    ):
        control.append([_cell(control, label, font=bold), value])
    if pricing is not None:
        breakdown: WriteOnlyWorksheet = workbook.create_sheet("Breakdown")
        breakdown.append([_cell(breakdown, text, font=bold) for text in BREAKDOWN_HEADER])
        for line in lines:
            priced = pricing.get(line.loan_id)
            if priced is None:
                continue
            processing, convenience = priced.processing_fee, priced.convenience_fee
            figures = (
                priced.sanctioned, priced.processing_fee_before_discount, priced.coupon_discount, processing.amount,
                processing.gst, processing.gst_inclusive, convenience.amount, convenience.gst,
                convenience.gst_inclusive, priced.deductions, priced.net_disbursed,
            )  # fmt: skip
            row = [v if isinstance(v, bool) else _amount(breakdown, v) for v in figures]
            breakdown.append([line.loan_number, *("yes" if v is True else "no" if v is False else v for v in row)])
    return _bytes(workbook)


def beneficiary_workbook(lines: Sequence[PayoutLine]) -> bytes:
    """The beneficiary registration file's bytes: one row per line given (the caller picks the new accounts)."""
    workbook = Workbook(write_only=True)
    sheet: WriteOnlyWorksheet = workbook.create_sheet("Beneficiaries")
    bold = Font(bold=True)
    sheet.append([_cell(sheet, text, font=bold) for text in BENEFICIARY_HEADER])
    for line in lines:
        sheet.append(
            [_words(sheet, line.beneficiary_name), _text(sheet, line.account_number), line.ifsc, line.loan_number]
        )
    return _bytes(workbook)


def _cell(sheet: WriteOnlyWorksheet, value: object, *, font: Font | None = None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    if font is not None:
        cell.font = font
    return cell


def _text(sheet: WriteOnlyWorksheet, value: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = "@"
    return cell


def _words(sheet: WriteOnlyWorksheet, value: str) -> WriteOnlyCell:
    """A cell of free text (a beneficiary's name, the brand) that is text whatever it starts with: openpyxl writes a
    string starting with `=` as a formula, so a name such as `=HYPERLINK(...)` ran in Excel (XLSX injection). Typed as
    a string and quote-prefixed (what Excel does to `'=...` typed in), it shows exactly as given and stays text when
    edited; the bank reads the name unchanged (no `'` added, as a CSV export adds)."""
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def _amount(sheet: WriteOnlyWorksheet, value: Decimal, *, font: Font | None = None) -> WriteOnlyCell:
    cell = _cell(sheet, value, font=font)
    cell.number_format = AMOUNT_FORMAT
    return cell


def _bytes(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
