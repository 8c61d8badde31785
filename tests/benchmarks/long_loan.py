"""Ad-hoc timing of the pages about one loan with a long history (not in `make bench`, no target): the loan page
(`/loans/{id}`), `GET /api/v1/loans/{id}` and the audit page (`/audit/loan/{id}`), p50 and this process's CPU a
request, for a loan of about `--events` events (repayments of 10.00, a COB day every tenth).

    python -m tests.benchmarks.long_loan build --events 1000 3000   # prints the database and the loans' ids
    python -m tests.benchmarks.long_loan measure --dsn DSN --loan ID [--loan ID] [-n 15]

`measure` uses only what the code before loan snapshots has too, so running it with PYTHONPATH on an older checkout
against the same database times the old code on the same loans (each run signs in a staff member of its own).
`--paged` adds the pages of the loan's lists (since branch `paging`): `GET /api/v1/loans/{id}/events` and
`/repayments` (a page of 50, the first and, through `next_cursor`, the tenth), `/loans/{id}/history` and
`/loans/{id}/repayment-history`.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any


def _platform(dsn: str) -> tuple[Any, Any]:
    from adapters.mail_sink import MailSink
    from adapters.mailer import MailSettings
    from domain.loans.application import Loans
    from tests.e2e.test_servicing_api import PenalCatalogue
    from workers.platform import Platform

    sink = MailSink().start()
    platform = Platform.open(dsn, mail=MailSettings(port=sink.port))
    platform.start_projection_runners()
    platform.get(Loans)._catalogue = PenalCatalogue()
    return platform, sink


def build(sizes: list[int]) -> None:
    """A loan of each size (events), each of its own brand."""
    from domain.loans.application import Loans
    from tests.conftest import make_tenant
    from tests.e2e.test_servicing_api import D0, disbursed_loan, set_business_date
    from tests.support import fresh_database_dsn

    dsn = fresh_database_dsn("cd_adhoc_long_loan")
    platform, _ = _platform(dsn)
    loans: Loans = platform.get(Loans)
    print("dsn", dsn)
    for size in sizes:
        tenant = make_tenant(platform)
        set_business_date(platform, tenant, D0)
        loan_id = disbursed_loan(platform, tenant)
        began, n, day, version = time.perf_counter(), 0, D0, 0
        while version < size:
            n += 1
            if n % 10 == 0:  # the business date moves with the COB (a far one closes its days on every command)
                loans.close_business_day(tenant.brand_id, loan_id, day)
                day += timedelta(days=1)
                set_business_date(platform, tenant, day)
            else:
                loans.record_repayment(tenant.brand_id, loan_id, "10.00", "upi", f"UTR-{n}", day)
            version = loans.get(tenant.brand_id, loan_id).version
            if version % 500 == 0:
                print(f"   {version} events, {time.perf_counter() - began:.0f} s", flush=True)
        version = loans.get(tenant.brand_id, loan_id).version
        print(f"loan {loan_id} brand {tenant.brand_id} events {version} built in {time.perf_counter() - began:.0f} s")
    platform.close()


def _timed(client: Any, url: str, n: int, headers: dict[str, str] | None = None) -> tuple[float, float, int]:
    first = client.get(url, headers=headers)
    assert first.status_code == 200, (url, first.status_code, first.text[:300])
    samples = []
    cpu = time.process_time()
    for _ in range(n):
        began = time.perf_counter()
        client.get(url, headers=headers)
        samples.append((time.perf_counter() - began) * 1e3)
    return statistics.median(samples), (time.process_time() - cpu) * 1e3 / n, len(first.content)


def _tenth_page(client: Any, url: str, headers: dict[str, str]) -> str:
    """`url` with the cursor of its tenth page (50 a page)."""
    cursor = None
    for _ in range(9):
        answer = client.get(url + (f"?cursor={cursor}" if cursor else ""), headers=headers)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
        cursor = answer.json()["next_cursor"]
    return f"{url}?cursor={cursor}"


def measure(dsn: str, loan_ids: list[str], n: int, paged: bool = False) -> None:
    """p50 and CPU a request of the three pages of each loan."""
    from starlette.testclient import TestClient

    from domain.identity.application import Identity
    from domain.loans.application import Loans
    from tests.conftest import OPERATOR
    from tests.e2e.test_access_matrix import PAGE_PASSWORD
    from tests.support import settle
    from workers.web_app import build_app

    platform, _ = _platform(dsn)
    app = build_app(lambda: platform, close_platform=False)
    loans: Loans = platform.get(Loans)
    identity = platform.get(Identity)
    with TestClient(app, follow_redirects=False) as client:
        for raw in loan_ids:
            loan = loans.repository.get(uuid.UUID(raw))
            brand = loan.brand_id
            email = f"bench-{uuid.uuid4().hex[:6]}@adhoc.in"
            identity.create_staff(brand, email, "Bench Admin", ["admin"], PAGE_PASSWORD, granter=OPERATOR)
            issued = identity.issue_api_key(brand, "admin", "bench key", granter=OPERATOR)
            settle(platform, "identity", issued.position)
            client.cookies.clear()
            signed = client.post("/login", data={"email": email, "password": PAGE_PASSWORD, "next": "/dashboard"})
            assert signed.status_code == 303, signed.text
            auth = {"Authorization": f"Bearer {issued.secret}"}
            print(f"loan {raw}: {loan.version} events")
            routes: list[tuple[str, str, dict[str, str] | None]] = [
                ("loan page", f"/loans/{raw}", None),
                ("GET /api/v1/loans/{id}", f"/api/v1/loans/{raw}", auth),
                ("audit page", f"/audit/loan/{raw}", None),
            ]
            if paged:
                events, repayments = f"/api/v1/loans/{raw}/events", f"/api/v1/loans/{raw}/repayments"
                routes += [
                    ("events, page 1", events, auth),
                    ("events, page 10", _tenth_page(client, events, auth), auth),
                    ("repayments, page 1", repayments, auth),
                    ("repayments, page 10", _tenth_page(client, repayments, auth), auth),
                    ("history page", f"/loans/{raw}/history", None),
                    ("repayment-history page", f"/loans/{raw}/repayment-history", None),
                ]
            for label, url, headers in routes:
                p50, cpu, size = _timed(client, url, n, headers)
                print(f"   {label:24} p50 {p50:7.1f} ms  cpu {cpu:7.1f} ms  {size / 1024:7.0f} KiB")
    platform.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("build")
    b.add_argument("--events", type=int, nargs="+", default=[1000, 3000])
    m = sub.add_parser("measure")
    m.add_argument("--dsn", required=True)
    m.add_argument("--loan", action="append", required=True)
    m.add_argument("-n", type=int, default=15)
    m.add_argument("--paged", action="store_true", help="also the pages of the loan's lists (branch paging)")
    args = parser.parse_args()
    if args.what == "build":
        build(args.events)
    else:
        measure(args.dsn, args.loan, args.n, args.paged)


if __name__ == "__main__":
    main()
