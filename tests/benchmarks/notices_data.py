"""Data of the repayment-operations benchmarks, loaded straight into the read tables with COPY: borrowers (the
customer directory and the notice name keys, for the sync's matcher) and a million notices (for the dashboard and
feeds), each with its projection's indexes built after the load."""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from adapters.postgres import Database
from adapters.simulators.softmedia import SimBorrower
from domain.notices import matching
from domain.shared.values import mask_pan
from projections.customers import CustomerDirectory
from projections.notice_matching import NoticeNameKeys
from projections.notices import NoticeViews
from tests.benchmarks.data import FIRST_NAMES, LAST_NAMES, Borrower, BorrowerFactory
from tests.benchmarks.harness import say
from tests.benchmarks.search import COLUMNS as CUSTOMER_COLUMNS
from tests.benchmarks.search import _copy_text
from workers.platform import Platform

TODAY = date(2026, 11, 28)
TOKEN = "bench-softmedia-token"
SYNC_COMPANIES = ("SML", "KFL")
KNOWN_SHARE = 0.7

#: Companies of the query benchmark, by share of the book; the limited staff see two of them.
QUERY_COMPANIES = (("SML", 0.36), ("KFL", 0.26), ("MFL", 0.18), ("HFC", 0.13), ("AGR", 0.07))


def index_names(ddl: tuple[str, ...]) -> list[str]:
    """The secondary indexes a projection's DDL creates."""
    return [
        m.group(1)
        for s in ddl
        if s.lstrip().upper().startswith("CREATE INDEX") and (m := re.search(r"EXISTS\s+(\w+)", s))
    ]


def _customer_line(b: Borrower, customer_id: uuid.UUID, brand: uuid.UUID, rng: random.Random, created: datetime) -> str:
    """One read.customers row for COPY, shaped as the customer directory writes it."""
    alternates = [{"phone": b.alternate_phone, "label": "spouse"}] if b.alternate_phone else []
    address = {"kind": "current", "line1": "12 MG Road", "line2": None, "city": b.city, "state": b.state,
               "pincode": b.pincode}  # fmt: skip
    dob = f"{rng.randrange(1960, 2004)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    return "\t".join(
        (
            str(customer_id),
            str(brand),
            _copy_text(b.name),
            _copy_text(b.name.lower()),
            b.phone,
            _copy_text(json.dumps(alternates)),
            "{" + (b.alternate_phone or "") + "}",
            _copy_text(b.email) if b.email else "\\N",
            b.pan,
            mask_pan(b.pan) or "\\N",
            dob,
            _copy_text(json.dumps([address])),
            "{" + ",".join(b.loan_numbers) + "}",
            "1",
            created.isoformat(),
            created.isoformat(),
        )
    )


def load_borrowers(platform: Platform, brand_id: uuid.UUID, total: int) -> list[SimBorrower]:
    """COPY `total` borrowers into read.customers, their name keys into read.notice_name_keys and their loan numbers
    and alternate phones into read.notice_borrower_keys (indexes dropped, rebuilt after); their identities for the
    simulator."""
    factory = BorrowerFactory(seed=31)
    rng = random.Random(31)
    epoch = datetime(2021, 1, 1, tzinfo=UTC)
    identities: list[SimBorrower] = []
    projections = (CustomerDirectory(), NoticeNameKeys())
    indexes = [name for p in projections for name in index_names(p.ddl)]
    with platform.db.pool.connection() as conn:
        for name in indexes:
            conn.execute(f"DROP INDEX IF EXISTS read.{name}")
    began = time.perf_counter()
    brand = str(brand_id)
    keys = numbers = 0
    with (
        platform.db.pool.connection() as conn,
        conn.cursor().copy(f"COPY read.customers ({CUSTOMER_COLUMNS}) FROM STDIN") as copy,
        platform.db.pool.connection() as keys_conn,
        keys_conn.cursor().copy(
            "COPY read.notice_name_keys (customer_id, key, brand_id, words) FROM STDIN"
        ) as keys_copy,
        platform.db.pool.connection() as numbers_conn,
        numbers_conn.cursor().copy(
            "COPY read.notice_borrower_keys (kind, key, customer_id) FROM STDIN"
        ) as numbers_copy,
    ):
        lines: list[str] = []
        key_lines: list[str] = []
        number_lines: list[str] = []

        def flush() -> None:
            nonlocal keys, numbers
            copy.write("".join(line + "\n" for line in lines))
            keys_copy.write("".join(line + "\n" for line in key_lines))
            numbers_copy.write("".join(line + "\n" for line in number_lines))
            keys += len(key_lines)
            numbers += len(number_lines)
            lines.clear()
            key_lines.clear()
            number_lines.clear()

        for i in range(total):
            b = factory.borrower()
            customer_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            lines.append(_customer_line(b, customer_id, brand_id, rng, epoch + timedelta(minutes=i)))
            words, name_keys = matching.name_keys(b.name)
            key_lines += [f"{customer_id}\t{_copy_text(key)}\t{brand}\t{words}" for key in name_keys]
            number_lines += [f"loan\t{_copy_text(loan)}\t{customer_id}" for loan in dict.fromkeys(b.loan_numbers)]
            if b.alternate_phone:
                number_lines.append(f"alternate\t{b.alternate_phone}\t{customer_id}")
            identities.append(SimBorrower(b.name, b.phone, list(b.loan_numbers)))
            if len(lines) == 20_000:
                flush()
            if (i + 1) % 250_000 == 0 and i + 1 < total:
                say(f"     ... {i + 1:,} borrowers copied ({time.perf_counter() - began:.0f} s)")
        if lines:
            flush()
    loaded = time.perf_counter() - began
    began = time.perf_counter()
    with platform.db.pool.connection() as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        for projection in projections:
            projection.create_secondary_indexes(conn)
        conn.execute("VACUUM ANALYZE read.customers")
        conn.execute("VACUUM ANALYZE read.notice_name_keys")
        conn.execute("VACUUM ANALYZE read.notice_borrower_keys")
    say(
        f"   loaded {total:,} borrowers into read.customers, their {keys:,} name keys into read.notice_name_keys"
        f" and {numbers:,} loan numbers and alternate phones into read.notice_borrower_keys with COPY in {loaded:.1f} s, built their {len(indexes)} indexes and analyzed in"
        f" {time.perf_counter() - began:.1f} s"
    )
    return identities


NOTICE_COLUMNS = (
    "id, brand_id, source_id, company, source_notice_id, loan_number, customer_name, phone, phone_e164, due_date, "
    "instalment_no, amount_due, days_overdue, mode, active, source_updated_at, match_customer_id, match_confidence, "
    "match_band, match_methods, match_candidates, version, first_seen_at, updated_at"
)


_BANDS = (("high", 0.55, (80, 100)), ("medium", 0.1, (50, 79)), ("low", 0.05, (30, 49)), ("unmatched", 0.3, (0, 0)))


_METHODS = ("{loan_number,phone,name}", "{loan_number,phone}", "{loan_number}", "{phone,name}", "{phone}", "{name}")


def _amount_paise(rng: random.Random, overdue_days: int) -> int:
    """An instalment of 500 to 5,00,000 rupees with paise, mostly a few thousand; penal charges when overdue."""
    rupees = max(500, min(int(rng.lognormvariate(9.0, 0.9)), 480_000))
    paise = rupees * 100 + (0 if rng.random() < 0.4 else rng.randint(1, 99))
    if overdue_days:
        paise += paise * min(overdue_days, 180) // 1500
    return min(paise, 50_000_000)


def _notice_line(
    rng: random.Random, serial: int, brand: uuid.UUID, company: str, source: uuid.UUID, now: datetime
) -> str:
    """One read.notices row for COPY, shaped as the notice views write it."""
    overdue = rng.random() < 0.85
    if overdue:
        days = min(720, 1 + int(rng.expovariate(1 / 60)))
        due = TODAY - timedelta(days=days)
    else:
        days = 0
        due = TODAY + timedelta(days=rng.randint(0, 60))
    paise = _amount_paise(rng, days)
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    digits = f"{rng.randrange(6, 10)}{rng.randrange(10**9):09d}"
    phone = rng.choice((digits, f"{digits[:5]} {digits[5:]}", f"+91 {digits}", f"0{digits[:5]}-{digits[5:]}"))
    band, _, (low, high) = rng.choices(_BANDS, weights=[b[1] for b in _BANDS])[0]
    customer = "\\N" if band == "unmatched" else str(uuid.UUID(int=rng.getrandbits(128), version=4))
    candidates = (
        "[]"
        if band in ("high", "unmatched")
        else json.dumps([{"customer_id": customer, "confidence": low, "methods": ["name"]}])
    )
    seen = now - timedelta(days=min(days, 400) + rng.randint(0, 30), minutes=rng.randint(0, 1440))
    return "\t".join(
        (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            str(brand),
            str(source),
            company,
            f"{company}-{serial:08d}",
            f"{company}{rng.randrange(10**9, 10**10):010d}",
            name,
            phone,
            "+91" + digits,
            due.isoformat(),
            str(rng.randint(1, 36)),
            f"{paise // 100}.{paise % 100:02d}",
            str(days),
            "overdue" if overdue else "upcoming",
            "f" if rng.random() < 0.07 else "t",
            (now - timedelta(hours=rng.randint(1, 72))).isoformat(),
            customer,
            str(rng.randint(low, high)),
            band,
            "{}" if band == "unmatched" else rng.choice(_METHODS),
            candidates,
            str(rng.randint(2, 6)),
            seen.isoformat(),
            (now - timedelta(hours=rng.randint(1, 72))).isoformat(),
        )
    )


def load_notices(db: Database, brand_id: uuid.UUID, total: int) -> None:
    """COPY `total` notices into read.notices, then totals, sources, the product's indexes and statistics."""
    views = NoticeViews()
    rng = random.Random(17)
    now = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=3)
    sources = {company: uuid.UUID(int=rng.getrandbits(128), version=4) for company, _ in QUERY_COMPANIES}
    names, weights = [c for c, _ in QUERY_COMPANIES], [w for _, w in QUERY_COMPANIES]
    with db.pool.connection() as conn:
        views.create(conn, secondary_indexes=False)
    began = time.perf_counter()
    serials: Counter[str] = Counter()
    with db.pool.connection() as conn, conn.cursor() as cur:
        with cur.copy(f"COPY read.notices ({NOTICE_COLUMNS}) FROM STDIN") as copy:
            lines: list[str] = []
            for i in range(total):
                company = rng.choices(names, weights)[0]
                serials[company] += 1
                lines.append(_notice_line(rng, serials[company], brand_id, company, sources[company], now))
                if len(lines) == 20_000:
                    copy.write("\n".join(lines) + "\n")
                    lines = []
                if (i + 1) % 250_000 == 0 and i + 1 < total:
                    say(f"     ... {i + 1:,} notices copied ({time.perf_counter() - began:.0f} s)")
            if lines:
                copy.write("\n".join(lines) + "\n")
    loaded = time.perf_counter() - began
    began = time.perf_counter()
    with db.pool.connection() as conn:
        conn.execute(
            "INSERT INTO read.notice_totals (brand_id, company, mode, count, total) "
            "SELECT brand_id, company, mode, count(*), sum(amount_due) FROM read.notices WHERE active "
            "GROUP BY brand_id, company, mode"
        )
        for company, source_id in sources.items():
            conn.execute(
                "INSERT INTO read.notice_sources (id, brand_id, company, base_url, schedule, enabled, token_hint, "
                "last_status, last_success_at, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, '*/30 * * * *', true, '…oken', 'succeeded', %s, %s, %s)",
                (source_id, brand_id, company, f"https://{company.lower()}.softmedia.example", now, now, now),
            )
        conn.execute("SET maintenance_work_mem = '256MB'")
        views.create_secondary_indexes(conn)
        conn.execute("VACUUM ANALYZE read.notices")
        conn.execute("ANALYZE read.notice_totals")
        conn.execute("ANALYZE read.notice_sources")
    say(
        f"   loaded read.notices directly with COPY in {loaded:.1f} s; totals, sources, its"
        f" {len(index_names(views.ddl))} indexes and statistics in {time.perf_counter() - began:.1f} s"
        f" (companies {', '.join(f'{c} {w:.0%}' for c, w in QUERY_COMPANIES)})"
    )
