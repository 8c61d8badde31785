"""CSV downloads as spreadsheets open them: UTF-8 with a byte-order mark (so Excel reads Hindi names), CRLF rows,
and text cells no spreadsheet runs as a formula. Used by the loan exports, the loan book's tab export and the audit
history's `format=csv`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

BOM = "\ufeff"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe(text: str) -> str:
    """A text cell no spreadsheet runs as a formula."""
    return "'" + text if text.startswith(_FORMULA) else text


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[object]], batch: int = 200) -> Iterator[bytes]:
    """The CSV as UTF-8 chunks: the byte-order mark and header first, then `batch` rows at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write(BOM)
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow(row)
        if n % batch == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")
