"""A survey of every GET route of the staff portal and of /api/v1 over a book of realistic size (no target: the issues
set none; it finds slow paths). `python -m tests.benchmarks.routes [--quick] [--only SUBSTRING] [--n 20]`.

The book: one brand built through the API and the use cases as the brand-leak sweep builds it (tests/e2e/brand_book.py:
every kind of record, so every path id is a real one), then grown in place -- one of its loans given a long history
of real repayments, `loans` borrowers with a loan each loaded into the read models as the reports benchmark loads them
(reports._load: loans in mixed states, instalments, repayments, timelines, collection cases and contacts, field visits,
onboarding funnels, leads), a few hundred loans moved to the book's main borrower, thousands of staff, and every
smaller read table of the brand (callbacks, notes, documents, approvals, messages, ...) multiplied to a few thousand
rows. The app is served by uvicorn on loopback and asked by a real HTTP client: the portal as the brand's admin signed
in, /api/v1 with the admin's API key. Each route is asked `n` times (first page; where the answer names a keyset cursor,
the next page too; list filters of the openapi with typical values), and p50/p95 are printed sorted by p95.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg

from projections.customers import NAME_VOCABULARY_BACKFILL
from tests.benchmarks.harness import fresh_database, percentile, say

#: Routes not surveyed, each with why.
SKIPPED = {
    "/metrics": "process metrics, not the book",
    "/apply/{brand}/documents/{document_id}/file": "a borrower's own upload, behind the borrower's session",
    "/api/v1/no-due-certificates/{token}": "the token is a secret of the certificate's PDF",
    "/api/v1/reloan-offers/{offer_id}": "the book has no re-loan offer",
    "/api/v1/borrower/applications/{loan_id}": "the book's borrower has no application",
    "/api/v1/borrower/applications/{loan_id}/loan": "the book's borrower has no application",
}
#: Tables the survey does not grow: one row a brand or a company (a source per company, the brand's settings), or
#: secrets whose copies would not be real.
KEPT_SMALL = {"read.notice_sources", "read.brand_config_owner", "ops.source_tokens", "ops.dialer_tokens",
              "read.api_keys", "read.dialer_settings", "ops.loan_cob_watch"}  # fmt: skip
#: List filters asked besides the first page, by query parameter name (a typical value each).
FILTERS = {"status": "overdue", "q": "meera", "stage": "early", "kind": "loan"}
RARE_NAME = "brandaleak"  # the book's main borrower (tests/e2e/brand_book.py): one name in the book holds it
LONG_RUN_MS = 1_000.0  # a route whose first answer takes longer is asked 3 times, not n (CSV exports of the book)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _served(app: Any) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _long_history(client: Any, book: Any, payments: int) -> str:
    """`payments` small repayments on the book's paid loan, through the API (its history grows by as many events)."""
    loan = book.ids["loan:paid"]
    for i in range(payments):
        answer = client.post(f"/api/v1/loans/{loan}/repayments", json={"amount": "10.00", "mode": "upi",
                             "reference": f"UTR-LONG-{i}", "paid_on": "2026-02-28"}, headers=book.tenant.auth)  # fmt: skip
        assert answer.status_code == 201, answer.text
    return str(loan)


def _move(pool: Any, placeholder: uuid.UUID, brand: uuid.UUID) -> list[str]:
    """Every read row of the placeholder brand moved to `brand`; the tables where the bulk book's rows replaced the
    brand's own (aggregates keyed by the brand)."""
    with pool.connection() as conn:
        tables = conn.execute(
            "SELECT c.oid::regclass::text AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'brand_id' AND a.atttypid = 'uuid'::regtype "
            "WHERE n.nspname IN ('read', 'ops') AND c.relkind = 'r'"
        ).fetchall()
        conn.commit()
        replaced = []
        for table in tables:
            try:
                with conn.transaction():
                    conn.execute(f"UPDATE {table['t']} SET brand_id = %s WHERE brand_id = %s", (brand, placeholder))
            except psycopg.errors.UniqueViolation:  # a brand's aggregate (a row a day): the bulk book's replaces it
                with conn.transaction():
                    conn.execute(f"DELETE FROM {table['t']} WHERE brand_id = %s", (brand,))
                    conn.execute(f"UPDATE {table['t']} SET brand_id = %s WHERE brand_id = %s", (brand, placeholder))
                replaced.append(table["t"])
        # the directory's name vocabulary of the whole book (its backfill runs on an empty table)
        conn.execute("DELETE FROM read.customer_name_vocabulary")
        conn.execute(NAME_VOCABULARY_BACKFILL)
        # the reports benchmark's bureau pulls say `report`, an outcome the API's model does not know
        conn.execute("UPDATE ops.provider_calls SET outcome = 'ok' WHERE outcome = 'report'")
        conn.commit()
    return replaced


def _grow(pool: Any, brand: uuid.UUID, main_customer: str, staff: int, rows: int) -> list[str]:
    """Read tables of the brand that the bulk loader leaves small grown to about `rows` rows each (copies of the
    brand's rows with new ids); a few hundred loans moved to the main borrower (ended or not yet disbursed ones: the
    bulk loans have no events, and a serviced loan's figures on Customer 360 come from its events); `staff` staff
    members. The tables grown."""
    from tests.benchmarks.data import FIRST_NAMES, LAST_NAMES

    grown: list[str] = []
    with pool.connection() as conn:
        conn.execute(
            "UPDATE read.loans SET customer_id = %s WHERE id IN (SELECT id FROM read.loans WHERE brand_id = %s "
            "AND loan_number LIKE 'L-%%' AND status IN ('completed', 'rejected', 'pending') ORDER BY loan_number LIMIT 300)",
            (uuid.UUID(main_customer), brand),
        )
        with conn.cursor().copy(
            "COPY read.staff (id, brand_id, name, name_key, email, roles, has_password, version, created_at, "
            "updated_at) FROM STDIN"
        ) as copy:
            for i in range(staff):
                name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[i // 7 % len(LAST_NAMES)]}"
                copy.write_row((uuid.uuid4(), brand, name, name.lower(), f"staff{i}@lender.in",
                                ["collection_executive" if i % 2 else "credit_executive"], True, 1,
                                datetime.now(UTC), datetime.now(UTC)))  # fmt: skip
        tables = conn.execute(
            "SELECT c.oid::regclass::text AS t, a.attname AS pk, ARRAY(SELECT b.attname::text FROM pg_attribute b "
            "WHERE b.attrelid = c.oid AND b.attnum > 0 AND NOT b.attisdropped) AS columns FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
            "WHERE n.nspname IN ('read', 'ops') AND c.relkind = 'r' AND i.indnatts = 1 AND a.atttypid = 'uuid'::regtype "
            "AND EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = c.oid AND b.attname = 'brand_id') ORDER BY 1"
        ).fetchall()
        conn.commit()
        for table in tables:
            name, pk = table["t"], table["pk"]
            if name in KEPT_SMALL:
                continue
            have = conn.execute(f"SELECT count(*) AS n FROM {name} WHERE brand_id = %s", (brand,)).fetchone()["n"]
            if have == 0 or have >= rows // 2:
                continue
            times = max(rows // have, 1)
            # each copy of a row about a loan or a borrower is about another of the bulk book's (a queue holds
            # thousands of items, a loan its few)
            spread = "".join(
                f", '{column}', p.{source}"
                for column, source in (
                    ("loan_id", "id"),
                    ("customer_id", "customer_id"),
                    ("loan_number", "loan_number"),
                )
                if column in table["columns"]
            )
            try:
                with conn.transaction():
                    conn.execute(
                        f"INSERT INTO {name} SELECT (jsonb_populate_record(NULL::{name}, to_jsonb(r) || "
                        f"jsonb_build_object('{pk}', gen_random_uuid(){spread}))).* FROM {name} r "
                        f"CROSS JOIN generate_series(1, %s) AS g JOIN (SELECT id, customer_id, loan_number, "
                        f"row_number() OVER (ORDER BY loan_number) AS k FROM read.loans WHERE brand_id = %s "
                        f"AND loan_number LIKE 'L-%%' LIMIT %s) AS p ON p.k = g WHERE r.brand_id = %s",
                        (times, brand, times, brand),
                    )
                grown.append(f"{name} {have} -> {have * (times + 1)}")
            except psycopg.Error as exc:  # a table with another unique key stays as it is
                grown.append(f"{name} kept at {have} ({type(exc).__name__})")
            conn.commit()
        conn.execute("ANALYZE")
    return grown


def _urls(path: str, op: dict[str, Any] | None, values: dict[str, str]) -> list[tuple[str, str]]:
    """(label, url) asked of one route: its first page, and with each typical filter it takes (a search for a common
    name, an enumerated filter at its first value)."""
    try:
        base = re.sub(r"{(\w+)(?::\w+)?}", lambda m: values[m.group(1)], path)
    except KeyError:
        return []
    asked = [(path, base)]
    for p in (op or {}).get("parameters", []):
        if p["in"] != "query" or p["name"] not in FILTERS:
            continue
        schema = p.get("schema", {})
        enum = schema.get("enum") or next((s["enum"] for s in schema.get("anyOf", []) if "enum" in s), None)
        value = enum[0] if enum else FILTERS[p["name"]]
        asked.append((f"{path}?{p['name']}=", f"{base}?{urlencode({p['name']: value})}"))
    if path in ("/search", "/customers", "/loans", "/completed-loans") and not any("?q=" in x for x, _ in asked):
        asked.append((f"{path}?q=", f"{base}?q={FILTERS['q']}"))
    if any("?q=" in label for label, _ in asked):  # and the name of one borrower (the book's main one)
        asked.append((f"{path}?q=rare", f"{base}?q={RARE_NAME}"))
    return asked


def _next_page(answer: httpx.Response, url: str) -> str | None:
    """The next page's URL where the answer names a keyset cursor (JSON `next_cursor`, or a portal link)."""
    kind = answer.headers.get("content-type", "")
    if "json" in kind:
        try:
            cursor = answer.json().get("next_cursor")
        except (ValueError, AttributeError):
            return None
        return f"{url}{'&' if '?' in url else '?'}{urlencode({'cursor': cursor})}" if cursor else None
    if "html" in kind:
        found = re.search(r'href="([^"]*[?&](?:amp;)?cursor=[^"]+)"', answer.text)
        return html.unescape(found.group(1)) if found else None
    return None


def _time(client: httpx.Client, url: str, n: int) -> tuple[int, list[float], float, httpx.Response]:
    """The first answer's status, each of `n` more answers' milliseconds (3 when the first of them took over
    LONG_RUN_MS), this process's CPU milliseconds per answer (the server and the client: less moved by other work on
    the machine than wall time), and the first answer."""
    first = client.get(url)
    samples: list[float] = []
    runs = n
    cpu = time.process_time()
    while len(samples) < runs:
        began = time.perf_counter()
        client.get(url).read()
        samples.append((time.perf_counter() - began) * 1e3)
        if len(samples) == 1 and samples[0] > LONG_RUN_MS:
            runs = 3
    return first.status_code, samples, (time.process_time() - cpu) * 1e3 / len(samples), first


def _book(quick: bool, loans: int, dsn: str) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    """The platform, its app, the book, the running simulators; and what was loaded (for the report)."""
    from argon2 import PasswordHasher
    from starlette.testclient import TestClient

    from adapters import passwords
    from adapters.mail_sink import MailSink
    from adapters.mailer import MailSettings
    from adapters.providers.directory import ProviderDirectory
    from domain.loans.application import Loans
    from tests.benchmarks.reports import _load
    from tests.e2e.brand_book import build_book
    from tests.e2e.test_servicing_api import PenalCatalogue
    from tests.support import settle
    from workers.demo_providers import SIMULATORS
    from workers.platform import Platform
    from workers.web_app import build_app

    passwords._Argon2 = lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # type: ignore[assignment]
    os.environ.setdefault("NOTICE_SOURCE_ALLOWED_HOSTS", "127.0.0.1")
    sink = MailSink().start()
    platform = Platform.open(dsn, mail=MailSettings(port=sink.port))
    platform.start_projection_runners()
    simulators = {service: kind(webhook_secret="whsec_routes") for service, kind in SIMULATORS.items()}
    for service, simulator in simulators.items():
        platform.get(ProviderDirectory).configure_url(service, simulator.start())
    platform.get(Loans)._catalogue = PenalCatalogue()
    app = build_app(lambda: platform, close_platform=False)
    began = time.perf_counter()
    placeholder = uuid.uuid4()  # the bulk book is loaded first (its loader expects empty tables), then moved over
    _load(platform.db.pool, placeholder, uuid.uuid4(), loans)
    loaded = time.perf_counter() - began
    began = time.perf_counter()
    with TestClient(app) as client:
        book = build_book(client, platform, simulators["sms"], "Survq", 61)
        built = time.perf_counter() - began
        long_loan = _long_history(client, book, 150 if quick else 1_000)
    for source in platform.engine.applications:
        settle(platform, source)
    history = time.perf_counter() - began - built
    replaced = _move(platform.db.pool, placeholder, book.tenant.brand_id)
    grown = _grow(platform.db.pool, book.tenant.brand_id, book.ids["customer_id"], 300 if quick else 3_000,
                  500 if quick else 5_000)  # fmt: skip
    facts = {"built": built, "history": history, "loaded": loaded, "grown": grown, "long_loan": long_loan, "replaced": replaced,
             "sink": sink, "simulators": simulators}  # fmt: skip
    return platform, app, book, simulators, facts


def run(quick: bool, only: str | None = None, n: int = 20) -> None:
    """Build the book, serve the app, time every GET route."""
    from tests.e2e.brand_book import PASSWORD
    from workers.web_app import build_app

    loans = 20_000 if quick else 200_000
    n = 5 if quick and n == 20 else n
    say(f"== Every GET route of the portal and /api/v1 over a book of {loans:,} loans (n={n} each)")
    with fresh_database("cd_bench_routes") as dsn:
        platform, _app, book, simulators, facts = _book(quick, loans, dsn)
        try:
            say(f"   book built through the API in {facts['built']:.0f} s; a loan's long history in "
                f"{facts['history']:.0f} s; {loans:,} loans bulk-loaded in {facts['loaded']:.0f} s")  # fmt: skip
            say("   grown: " + "; ".join(facts["grown"]))
            say("   the bulk book's aggregates replaced the brand's own in: " + ", ".join(facts["replaced"]))
            with platform.db.pool.connection() as conn:
                sizes = conn.execute(
                    "SELECT (SELECT count(*) FROM read.loans) AS loans, (SELECT count(*) FROM read.customers) AS "
                    "customers, (SELECT count(*) FROM read.loan_events) AS events, (SELECT count(*) FROM read.staff) "
                    "AS staff, (SELECT count(*) FROM read.loan_events WHERE loan_id = %s) AS long",
                    (uuid.UUID(facts["long_loan"]),),
                ).fetchone()
            say(f"   read.loans {sizes['loans']:,}, read.customers {sizes['customers']:,}, read.loan_events "
                f"{sizes['events']:,} (the long loan {sizes['long']:,}), read.staff {sizes['staff']:,}")  # fmt: skip
            _survey(build_app(lambda: platform, close_platform=False), book, PASSWORD, facts, only, n)
        finally:
            for simulator in simulators.values():
                simulator.stop()
            if book.simulator is not None:
                book.simulator.stop()
            platform.close()
            facts["sink"].stop()


def _values(book: Any, long_loan: str) -> dict[str, str]:
    ids = book.ids
    return {
        "staff_id": ids["staff_id"], "customer_id": ids["customer_id"], "document_id": ids["document_id"],
        "bank_account_id": ids["bank_account_id"], "product_id": ids["product_id"], "version": "1",
        "coupon_id": ids["coupon_id"], "loan_id": long_loan, "borrower_id": ids["borrower_id"],
        "file_id": ids["file_id"], "name": "loan-cob", "run_id": ids["run_id"], "covenant_id": ids["covenant_id"],
        "evaluation_id": ids["evaluation_id"], "source_id": ids["source_id"], "notice_id": ids["notice_id"],
        "visit_id": ids["visit_id"], "sha256": ids["sha256"], "template_id": ids["template_id"],
        "message_id": ids["message_id"], "reminder_id": ids["reminder_id"], "import_id": ids["import_id"],
        "lead_id": ids["lead_id"], "repayment_id": ids["repayment_id"], "callback_id": ids["callback_id"],
        "call_id": ids["call_id"], "slug": "master-report", "brand": book.tenant.slug, "step": "personal",
        "provider": "account_aggregator", "aggregate_type": "Loan", "aggregate_id": long_loan, "code": "none",
        "token": "none", "payment_id": ids["repayment_id"], "offer_id": str(uuid.uuid4()),
    }  # fmt: skip


_OVERRIDES = {
    "/api/v1/loans/{loan_id}/credit-calls/{call_id}": {"loan_id": "loan:main"},
    "/api/v1/sync-runs/{run_id}": {"run_id": "sync_run_id"},
    "/api/v1/staff-notifications/{notice_id}/receipts": {"notice_id": "notice_id:staff"},
    "/staff-notifications/{notice_id}": {"notice_id": "notice_id:staff"},
    "/api/v1/loans/{loan_id}/settlement-letter": {"loan_id": "loan:later"},
    "/loans/{loan_id}/settlement-letter.pdf": {"loan_id": "loan:later"},
    "/api/v1/covenant-evaluations/{evaluation_id}/proofs/{document_id}": {"document_id": "proof_document_id"},
    "/covenant-evaluations/{evaluation_id}/proofs/{document_id}": {"document_id": "proof_document_id"},
    "/collections/loans/{loan_id}": {"loan_id": "loan:late"},
    "/api/v1/loans/{loan_id}/collection": {"loan_id": "loan:late"},
    "/api/v1/loans/{loan_id}/ptps": {"loan_id": "loan:late"},
    "/api/v1/loans/{loan_id}/no-due-certificate": {"loan_id": "loan:closed"},
    "/loans/{loan_id}/no-due-certificate.pdf": {"loan_id": "loan:closed"},
}


def _chosen(path: str, only: str) -> bool:
    """Whether `--only` takes the route: any of its comma-separated parts is in the path (`=PATH`: is the path)."""
    return any(path == part[1:] if part.startswith("=") else part in path for part in only.split(","))


def _survey(app: Any, book: Any, password: str, facts: dict[str, Any], only: str | None, n: int) -> None:
    from starlette.routing import Route

    values = _values(book, facts["long_loan"])
    with _served(app) as base, httpx.Client(base_url=base, timeout=120) as portal, httpx.Client(
        base_url=base, timeout=120, headers=book.tenant.auth
    ) as api, httpx.Client(
        base_url=base, timeout=120, headers={"Authorization": f"Bearer {book.ids['borrower_token']}"}
    ) as borrower:  # fmt: skip
        signed = portal.post("/login", data={"email": book.staff_emails["admin"], "password": password})
        assert signed.status_code == 303, signed.text
        ops = {path: o["get"] for path, o in api.get("/openapi.json").json()["paths"].items() if "get" in o}
        routes = [r.path for r in app.routes if isinstance(r, Route) and r.methods and "GET" in r.methods]
        results: list[tuple[float, float, int, str, int]] = []
        for path in routes:
            if path in SKIPPED or (only and not _chosen(path, only)):
                continue
            client = borrower if path.startswith("/api/v1/borrower/") else api if path.startswith("/api/") else portal
            filled = values | {k: book.ids[v] for k, v in _OVERRIDES.get(path, {}).items()}
            for label, url in _urls(path, ops.get(path), filled):
                try:
                    status, samples, cpu, first = _time(client, url, n)
                except httpx.HTTPError as exc:
                    say(f"   {label}: {type(exc).__name__} {exc}")
                    continue
                results.append((percentile(samples, 0.95), percentile(samples, 0.5), cpu, status, label, len(samples)))
                following = _next_page(first, url) if status == 200 else None
                if following:
                    try:
                        status, samples, cpu, _ = _time(client, following, n)
                    except httpx.HTTPError as exc:
                        say(f"   {label} (next page): {type(exc).__name__} {exc}")
                        continue
                    results.append((percentile(samples, 0.95), percentile(samples, 0.5), cpu, status,
                                    f"{label} (next page)", len(samples)))  # fmt: skip
        say(f"   {'p95 ms':>9} {'p50 ms':>9} {'cpu ms':>7} {'status':>6} {'n':>3}  route")
        for p95, p50, cpu, status, label, count in sorted(results, reverse=True):
            say(f"   {p95:9.1f} {p50:9.1f} {cpu:7.1f} {status:>6} {count:>3}  {label}")
        slow = [r for r in results if r[0] > 50]
        say(f"   {len(results)} asked, {len(slow)} with p95 above 50 ms; not asked: " + "; ".join(SKIPPED))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 loans, a long history of 150 repayments, n=5")
    parser.add_argument("--only", help="only routes whose path holds one of these (comma-separated; =PATH: exactly)")
    parser.add_argument("--n", type=int, default=20, help="times each route is asked")
    args = parser.parse_args()
    run(args.quick, args.only, args.n)


if __name__ == "__main__":
    main()
