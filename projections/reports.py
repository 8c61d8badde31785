"""The reports engine (issue #18 item 1): a report is a declared SQL row source over the read models (its columns,
the date it filters on, its filters and its sort key); this module turns one into a keyset page of JSON rows or a
streamed CSV (`COPY ... TO STDOUT` inside the database, handed on in 256 KiB chunks: constant memory at any size).

Every query is scoped to the caller's brand (`%(brand)s` is in every report's `where`), dates are inclusive and read
in the brand's timezone, and a filter a report does not declare is a 422. The definitions are in
`projections/report_sql_loans.py`, `report_sql_collections.py` and `report_sql_marketing.py`; docs/reports.md says
what each counts.
"""

from __future__ import annotations

import csv
import io
import threading
import time as time_
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from cachetools import TTLCache

from domain.shared.errors import FieldError, InvalidInput, NotFound
from projections.keyset import InvalidCursor, KeysetCursor

BOM = "\ufeff"
CHUNK = 256 * 1024  # bytes handed to the HTTP answer at a time (psycopg yields COPY data row by row)

#: Text cells a spreadsheet would run as a formula are prefixed with a quote (CSV injection), inside the database.
CELL_FUNCTION = (
    "CREATE OR REPLACE FUNCTION read.report_cell(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
    "$$ SELECT CASE WHEN left(t, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || t ELSE t END $$"
)

#: Number cells (amounts in rupees, rates, coordinates) are written with at least their paise (LENDING.md: "0.00",
#: "12500.00"), never fewer places than two and never more rounded than they are: a read-model figure summed or
#: defaulted from an integer (`coalesce(sum(...), 0)`, a completed loan's `THEN 0`) is an unscaled numeric the
#: answer would otherwise write as "0".
NUMBER_FUNCTION = (
    "CREATE OR REPLACE FUNCTION read.report_number(n numeric) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
    "$$ SELECT round(n, greatest(2, scale(n))) $$"
)

KINDS = ("text", "number", "int", "date", "instant", "bool")

#: Memory each sort or hash of a report's query may use before spilling to disk (`SET LOCAL` in the query's own
#: transaction): the grouped per-loan passes (projections/report_sql_parts.py) hash a row per loan of the brand.
WORK_MEM = "64MB"

#: The planner settings a report may set for its own queries (`Report.planner`): cost constants and plan switches.
PLANNER_SETTINGS = frozenset(
    {"random_page_cost", "seq_page_cost", "cpu_tuple_cost", "cpu_index_tuple_cost", "enable_hashjoin",
     "enable_seqscan", "enable_bitmapscan", "enable_nestloop", "max_parallel_workers_per_gather"}
)  # fmt: skip


#: How long a page after the first may show the totals computed for the same report, dates and filters (the portal
#: shows them on every page; they read every row of the range: up to 2.5 s for all dates of a 1M-loan book).
TOTALS_KEPT_SECONDS = 300.0


class ReportNotFound(NotFound):
    """Raised when no report has the slug."""


@dataclass(frozen=True)
class Column:
    """One column of a report: its name (the CSV header), its SQL over the report's source, and its kind.
    `total` is a number column's total over the rows `q` (default: their sum; a rate's is the rate of the sums)."""

    name: str
    sql: str
    kind: str = "text"
    total: str | None = None

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


@dataclass(frozen=True)
class Filter:
    """A filter a report takes: `sql` is the condition, reading the value as `%(name)s`; `choices` bound a
    choice, `kind` is text, choice, uuid or int."""

    name: str
    sql: str
    description: str
    kind: str = "choice"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """A report: where its rows come from (`source`: FROM ... with joins; `where`: conditions incl. the brand),
    the date its From/To filter ("date" or "instant" column), its columns and its unique ascending sort key.
    `planner`: settings (name, value) for the report's own queries (its pages, totals and export), where the
    default cost model picks a plan measured to be worse (each one's reason beside the report). `probed_source`: the
    same rows with each row's parts probed by key, where `source` computes a part for every row of the brand in one
    grouped pass: keyset pages and exports of a date range read it (they want the parts of some rows only), totals
    and exports of all dates read `source` (one pass is quicker when every row is in, and totals may drop the joins
    their sums do not read)."""

    slug: str
    title: str
    category: str
    definition: str  # what one row is (docs and the catalogue)
    date_basis: str  # which date From/To filter, in words
    source: str
    where: str
    date_sql: str
    columns: tuple[Column, ...]
    key: tuple[tuple[str, type], ...]
    date_kind: str = "date"
    group_by: str | None = None
    filters: tuple[Filter, ...] = ()
    planner: tuple[tuple[str, str], ...] = ()
    probed_source: str | None = None
    cursor: KeysetCursor = field(init=False)

    def __post_init__(self) -> None:
        # the slug leads the cursor: a cursor of another report with the same key types is refused too
        object.__setattr__(self, "cursor", KeysetCursor(str, *(t for _, t in self.key), name=f"reports.{self.slug}"))
        assert "%(brand)s" in self.where, f"{self.slug} is not scoped to the brand"
        unknown = {name for name, _ in self.planner} - PLANNER_SETTINGS
        assert not unknown, f"{self.slug}: {sorted(unknown)} are not planner settings a report may set"

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class ReportRequest:
    """A report asked for: the dates (inclusive, either may be open), the brand's timezone and filter values."""

    brand_id: UUID
    start: date | None = None
    end: date | None = None
    timezone: str = "Asia/Kolkata"
    today: date | None = None  # the brand's business date (overdue amounts are what fell due by then)
    filters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportPage:
    """A keyset page of a report's rows (each a dict of its columns)."""

    report: Report
    rows: list[dict[str, Any]]
    next_cursor: str | None


def _sql(
    report: Report, request: ReportRequest, *, safe: bool, keys: bool, probed: bool = False
) -> tuple[str, dict[str, Any]]:
    """The report's SELECT (columns, optional hidden sort keys `_k0..`) and its parameters; `probed`: from the
    report's `probed_source` when it has one (a keyset page, an export of a date range)."""
    _check(report, request)
    params: dict[str, Any] = {"brand": request.brand_id, "tz": request.timezone, "today": request.today}
    conds = [f"({report.where})", f"{report.date_sql} IS NOT NULL"]
    zone = ZoneInfo(request.timezone)
    if request.start is not None:
        if report.date_kind == "instant":
            params["from_at"] = datetime.combine(request.start, time(), zone)
            conds.append(f"{report.date_sql} >= %(from_at)s")
        else:
            params["from_date"] = request.start
            conds.append(f"{report.date_sql} >= %(from_date)s")
    if request.end is not None:
        if report.date_kind == "instant":
            params["to_at"] = datetime.combine(request.end + timedelta(days=1), time(), zone)
            conds.append(f"{report.date_sql} < %(to_at)s")
        else:
            params["to_date"] = request.end
            conds.append(f"{report.date_sql} <= %(to_date)s")
    declared = {f.name: f for f in report.filters}
    for name, value in sorted(request.filters.items()):
        conds.append(f"({declared[name].sql})")
        params[name] = value
    cells = [
        f"read.report_cell(({c.sql})::text) AS {_quoted(c.name)}"
        if safe and c.kind == "text"
        else f"read.report_number(({c.sql})::numeric) AS {_quoted(c.name)}"
        if c.kind == "number"
        else f"{c.sql} AS {_quoted(c.name)}"
        for c in report.columns
    ]
    if keys:
        cells += [f"{sql} AS _k{i}" for i, (sql, _) in enumerate(report.key)]
    group = f" GROUP BY {report.group_by}" if report.group_by else ""
    source = report.probed_source if probed and report.probed_source else report.source
    return f"SELECT {', '.join(cells)} FROM {source} WHERE {' AND '.join(conds)}{group}", params


def _is_uuid(value: Any) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


def _check(report: Report, request: ReportRequest) -> None:
    errors: list[FieldError] = []
    if request.start is not None and request.end is not None and request.start > request.end:
        errors.append(FieldError("to", "is before from"))
    declared = {f.name: f for f in report.filters}
    for name, value in request.filters.items():
        found = declared.get(name)
        if found is None:
            taken = ", ".join(sorted(declared)) or "none"
            errors.append(FieldError(name, f"{report.slug} does not filter on {name} (it takes: {taken})"))
        elif found.choices and value not in found.choices:
            errors.append(FieldError(name, f"must be one of {', '.join(found.choices)}"))
        elif found.kind == "uuid" and not _is_uuid(value):
            errors.append(FieldError(name, "is not an id"))
    if errors:
        raise InvalidInput(errors)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _order(report: Report) -> str:
    return ", ".join(f"_k{i}" for i in range(len(report.key)))


class ReportQueries:
    """The reports: pages of rows for the API and the portal, and streamed CSV."""

    def __init__(self, pool: Any, *, timer: Callable[[], float] = time_.monotonic) -> None:
        self.pool = pool
        # (slug, brand, dates, timezone, business date, filters) -> (totals, when computed); the brand is in the key
        self._recent: TTLCache[tuple[Any, ...], tuple[dict[str, Any], datetime]] = TTLCache(
            maxsize=1024, ttl=TOTALS_KEPT_SECONDS, timer=timer
        )
        self._recent_lock = threading.Lock()

    def page(self, report: Report, request: ReportRequest, cursor: str | None, limit: int = 50) -> ReportPage:
        """One keyset page, in the report's key order; a forged cursor is a 422."""
        page_scope = (
            report.slug,
            request.brand_id,
            request.start,
            request.end,
            request.timezone,
            request.filters,
        )  # the filters its cursor is bound to
        inner, params = _sql(report, request, safe=False, keys=True, probed=True)
        keys = None
        if cursor:
            slug, *keys = report.cursor.decode(cursor, page_scope)
            if slug != report.slug:
                raise InvalidCursor()
        after = ""
        if keys is not None:
            names = ", ".join(f"_k{i}" for i in range(len(keys)))
            marks = ", ".join(f"%(_c{i})s" for i in range(len(keys)))
            after = f"WHERE ({names}) > ({marks}) "
            params.update({f"_c{i}": v for i, v in enumerate(keys)})
        params["_limit"] = limit + 1
        sql = f"SELECT * FROM ({inner}) q {after}ORDER BY {_order(report)} LIMIT %(_limit)s"
        with self.pool.connection() as conn, conn.transaction():
            _tune(conn, report)
            # Unprepared: psycopg prepares a statement once a connection has run it five times, and PostgreSQL may
            # then plan it once for any values (a generic plan), one date range's plan for every other. At 1M loans,
            # after eight one-month pages of closed loans with no repayment on a connection, six-month first pages
            # took 216-375 ms and all-dates ones 520-653 ms instead of ~3 ms. (`plan_cache_mode =
            # force_custom_plan` did the same for pages but made the master report's export 40 % slower.) Planning
            # a report query costs ~2 ms; exports (COPY) are never prepared.
            rows = conn.execute(sql, params, prepare=False).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = report.cursor.encode(
                report.slug, *(last[f"_k{i}"] for i in range(len(report.key))), scope=page_scope
            )
        header = report.header
        return ReportPage(report, [{n: r[n] for n in header} for r in rows], next_cursor)

    def totals(self, report: Report, request: ReportRequest) -> dict[str, Any]:
        """The row count and the sum of each number column over the whole range (not just a page)."""
        return self._summed(report, request)[0]

    def recent_totals(self, report: Report, request: ReportRequest) -> tuple[dict[str, Any], datetime]:
        """The totals as `totals` last computed them for the same report, brand, dates and filters within
        TOTALS_KEPT_SECONDS (computed now otherwise), and when they were computed: what the portal shows on the pages
        after the first, so that paging through a report of a big book does not sum the whole range again a click."""
        with self._recent_lock:
            kept = self._recent.get(_request_key(report, request))
        return (dict(kept[0]), kept[1]) if kept is not None else self._summed(report, request)

    def _summed(self, report: Report, request: ReportRequest) -> tuple[dict[str, Any], datetime]:
        """The totals computed now, and when (kept for `recent_totals`)."""
        inner, params = _sql(report, request, safe=False, keys=False)
        # A sum over no rows is 0.00, not NULL (an empty report totals nothing); a rate's total over no rows stays
        # NULL, as a row's rate of nothing due is (no rate of nothing).
        sums = [
            f"{c.total or f'read.report_number(coalesce(sum(q.{_quoted(c.name)}), 0))'} AS {_quoted(c.name)}"
            for c in report.columns
            if c.kind == "number"
        ]
        sql = f"SELECT count(*) AS rows{''.join(', ' + s for s in sums)}, statement_timestamp() AS _at FROM ({inner}) q"
        with self.pool.connection() as conn, conn.transaction():
            _tune(conn, report)
            totals = dict(conn.execute(sql, params, prepare=False).fetchone())  # unprepared, as a page
        at = totals.pop("_at")
        with self._recent_lock:
            self._recent[_request_key(report, request)] = (dict(totals), at)
        return totals, at

    def copy_sql(self, report: Report, request: ReportRequest, *, safe: bool = True) -> tuple[str, dict[str, Any]]:
        """The `COPY ... TO STDOUT` of the report's rows in key order (CSV, no header), and its parameters.

        An export of a date range reads the report's `probed_source`: master-report's export of one month of a 1M
        book took 4.2-4.9 s with the grouped pass over the whole brand, 1.3-1.4 s probing its 86k borrowers; six
        months (half the brand) 5.9-7.3 against 5.5-5.9 s. All dates keep the grouped pass (8.1-9.5 against
        10.0-11.4 s probed; tests/benchmarks/README.md, "Report CSV exports")."""
        ranged = request.start is not None or request.end is not None
        inner, params = _sql(report, request, safe=safe, keys=True, probed=ranged)
        names = ", ".join(_quoted(n) for n in report.header)
        return f"COPY (SELECT {names} FROM ({inner}) q ORDER BY {_order(report)}) TO STDOUT (FORMAT csv)", params

    def csv(self, report: Report, request: ReportRequest) -> Iterator[bytes]:
        """The report as CSV bytes: a UTF-8 byte-order mark and the header, then the rows as PostgreSQL writes them
        (RFC 4180 quoting; NULL as an empty cell), in chunks of about CHUNK bytes. Checked before the first byte:
        bad filters raise here, not mid-stream."""
        sql, params = self.copy_sql(report, request)
        head = io.StringIO()
        head.write(BOM)
        csv.writer(head, lineterminator="\n").writerow(report.header)
        return self._stream(report, head.getvalue().encode("utf-8"), sql, params, request.timezone)

    def _stream(self, report: Report, head: bytes, sql: str, params: dict[str, Any], timezone: str) -> Iterator[bytes]:
        yield head
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            # Instants written in the brand's timezone, as the page shows them (`| local`), not the session's UTC.
            _tune(conn, report, timezone)
            with cur.copy(sql, params) as copy:
                yield from _chunks(copy)


def _request_key(report: Report, request: ReportRequest) -> tuple[Any, ...]:
    """What a report's totals depend on: the report, the brand, the dates, the timezone, the business date and the
    filters."""
    filters = tuple(sorted((name, str(value)) for name, value in request.filters.items()))
    return (report.slug, request.brand_id, request.start, request.end, request.timezone, request.today, filters)


def _tune(conn: Any, report: Report, timezone: str | None = None) -> None:
    """The report query's session settings, for its transaction only (one round trip): the work memory, then the
    report's own planner settings, and the zone its instants are written in (the CSV export's, the brand's)."""
    settings = [("work_mem", WORK_MEM), *report.planner, *((("TimeZone", timezone),) if timezone else ())]
    calls = ", ".join("set_config(%s, %s, true)" for _ in settings)
    conn.execute(f"SELECT {calls}", [v for pair in settings for v in pair])


def _chunks(copy: Any) -> Iterator[bytes]:
    """COPY data regrouped into chunks of about CHUNK bytes."""
    buffer = bytearray()
    for data in copy:
        buffer += data
        if len(buffer) >= CHUNK:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def find(reports: dict[str, Report], slug: str) -> Report:
    """The report with the slug; ReportNotFound (404) otherwise."""
    found = reports.get(slug)
    if found is None:
        raise ReportNotFound(f"no report '{slug}'")
    return found
