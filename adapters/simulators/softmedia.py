"""Softmedia simulator: our own HTTP server speaking the Softmedia v1 notices contract, for the demo and the tests.

Built on `adapters.simulators.base` (outbox, fault switches, loopback server). The data is generated
deterministically from a seed (`softmedia_data`), can be changed while it is served, and Softmedia's own faults
(errors at a given page, malformed items, items repeated across pages) add to the common ones. Pages are served
from pre-serialised JSON, so a large pull is bound by HTTP, not by Python.

Run it on its own::

    python -m adapters.simulators.softmedia --port 8100 --token demo-token --companies SML,KFL --per-company 2000
"""

from __future__ import annotations

import argparse
import json
import math
import random
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.base import Simulator, serve_until_interrupted
from adapters.simulators.faults import FaultSwitches
from adapters.simulators.softmedia_data import IST, NoticeGenerator, SimBorrower, break_item
from domain.shared.clock import Clock

__all__ = ["DEFAULT_PAGE_SIZE", "ITEM_FIELDS", "MAX_PAGE_SIZE", "MODES", "Dataset", "SimBorrower", "SoftmediaSimulator"]

MODES = ("overdue", "upcoming")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 500
ITEM_FIELDS = (
    "notice_id",
    "company_code",
    "loan_number",
    "customer_name",
    "phone",
    "due_date",
    "instalment_no",
    "amount_due",
    "days_overdue",
    "mode",
    "updated_at",
)


class Dataset:
    """Notices per company as a Softmedia source holds them; mutable, with pages served from a per-page cache."""

    def __init__(
        self, today: date, items: Iterable[dict[str, Any]] = (), borrowers: Iterable[SimBorrower] = ()
    ) -> None:
        self.today = today
        self._lock = threading.RLock()
        self._notices: dict[str, dict[str, dict[str, Any]]] = {}
        self._borrowers = list(borrowers)
        # Caches, dropped per company on any change of that company's notices.
        self._listings: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._encoded: dict[tuple[str, str], list[bytes]] = {}
        self._pages: dict[tuple[str, str, int, int], bytes] = {}
        for item in items:
            self.upsert(item)

    @classmethod
    def generate(
        cls,
        seed: int,
        companies: list[str],
        per_company: int,
        today: date,
        borrowers: list[SimBorrower] | None = None,
        known_share: float = 0.7,
    ) -> Dataset:
        """`per_company` notices for each company, the same for the same arguments.

        With `borrowers`, about `known_share` of the notices belong to them (the same loan number, or the same
        phone written another way, or the name with small variations); the rest belong to invented strangers.
        """
        generator = NoticeGenerator(random.Random(seed), today, borrowers or [], known_share if borrowers else 0.0)
        dataset = cls(today)
        for company in companies:
            notices = dataset._notices.setdefault(company, {})
            for item in generator.company_notices(company, per_company):
                notices[item["notice_id"]] = item
        dataset._borrowers = generator.used_borrowers()
        return dataset

    @property
    def companies(self) -> list[str]:
        """Company codes holding at least one notice."""
        with self._lock:
            return [company for company, notices in self._notices.items() if notices]

    def borrowers(self) -> list[SimBorrower]:
        """The identities behind the notices: the given borrowers that were used, then the invented ones."""
        with self._lock:
            return [SimBorrower(b.name, b.phone, list(b.loan_numbers)) for b in self._borrowers]

    def items(self, mode: str, company: str) -> list[dict[str, Any]]:
        """Copies of the `mode` notices of `company`, in the order they are served."""
        with self._lock:
            return [dict(item) for item in self._listing(company, mode)]

    def count(self, mode: str, company: str) -> int:
        """How many `mode` notices `company` has."""
        with self._lock:
            return len(self._listing(company, mode))

    def __len__(self) -> int:
        with self._lock:
            return sum(len(notices) for notices in self._notices.values())

    def upsert(self, item: dict[str, Any], *, company: str | None = None) -> None:
        """Add a notice, or replace the one with its notice_id (keeping its place); no other field is checked.

        It is served under its company_code, or under `company` when given (to serve another company's item).
        """
        notice_id = item.get("notice_id")
        company = company if company is not None else item.get("company_code")
        if not isinstance(notice_id, str) or not isinstance(company, str):
            raise ValueError("a notice needs a string notice_id and company_code to be stored")
        with self._lock:
            self._notices.setdefault(company, {})[notice_id] = dict(item)
            self._invalidate(company)

    def remove(self, company: str, notice_id: str) -> None:
        """Delete a notice (KeyError when there is none)."""
        with self._lock:
            del self._notices.get(company, {})[notice_id]
            self._invalidate(company)

    def change(self, company: str, notice_id: str, **fields: Any) -> dict[str, Any]:
        """Update fields of a notice, as the source does between pulls; `updated_at` moves to now unless given."""
        if "notice_id" in fields or "company_code" in fields:
            raise ValueError("notice_id and company_code identify a notice: remove it and upsert a new one")
        with self._lock:
            item = self._notices.get(company, {})[notice_id]
            item.update(fields)
            if "updated_at" not in fields:
                item["updated_at"] = datetime.now(IST).isoformat(timespec="seconds")
            self._invalidate(company)
            return dict(item)

    def page_body(self, mode: str, company: str, page: int, page_size: int) -> bytes:
        """The JSON body of one page, serialised once per page and reused until the company's notices change."""
        key = (company, mode, page, page_size)
        with self._lock:
            body = self._pages.get(key)
            if body is not None:
                return body
            encoded = self._encoded.get((company, mode))
            if encoded is None:
                encoded = [_encode(item) for item in self._listing(company, mode)]
                self._encoded[(company, mode)] = encoded
            start = (page - 1) * page_size
            body = b'{"page":%d,"page_size":%d,"total_pages":%d,"total":%d,"items":[%s]}' % (
                page,
                page_size,
                math.ceil(len(encoded) / page_size),
                len(encoded),
                b",".join(encoded[start : start + page_size]),
            )
            if len(self._pages) >= 8192:  # a bound for a long-running demo; a pull refills what it needs
                self._pages.clear()
            self._pages[key] = body
            return body

    def page_items(self, mode: str, company: str, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
        """Copies of the items on one page, and the total; the slow path, used when a fault alters items."""
        with self._lock:
            listing = self._listing(company, mode)
            start = (page - 1) * page_size
            return [dict(item) for item in listing[start : start + page_size]], len(listing)

    def warm(self) -> None:
        """Serialise every listing now, so that no request pays for it."""
        with self._lock:
            for company in self._notices:
                for mode in MODES:
                    self.page_body(mode, company, 1, 1)

    def _listing(self, company: str, mode: str) -> list[dict[str, Any]]:
        listing = self._listings.get((company, mode))
        if listing is None:
            listing = [item for item in self._notices.get(company, {}).values() if item.get("mode") == mode]
            self._listings[(company, mode)] = listing
        return listing

    def _invalidate(self, company: str) -> None:
        for mode in MODES:
            self._listings.pop((company, mode), None)
            self._encoded.pop((company, mode), None)
        for key in [key for key in self._pages if key[0] == company]:
            del self._pages[key]


def _encode(item: dict[str, Any]) -> bytes:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()


class SoftmediaSimulator(Simulator):
    """Serves a Dataset over the Softmedia v1 contract on loopback, with fault controls usable while it serves."""

    name: ClassVar[str] = "softmedia"
    fault_switches: ClassVar[tuple[str, ...]] = (
        *FaultSwitches.fault_switches,
        "slow_pages",
        "malformed_every",
        "repeat_items",
        "fail_at_page",
    )

    def __init__(
        self,
        dataset: Dataset | None = None,
        *,
        token: str = "sim-token",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.dataset = dataset if dataset is not None else Dataset(date.today())
        self.token = token
        # Softmedia's own faults, read and counted down under the base's fault lock by the serving thread.
        self._malformed_every = 0
        self._repeat = False
        self._page_faults: dict[int, tuple[int, int]] = {}  # page -> (status, requests left)
        super().__init__(host=host, port=port, clock=clock)

    def routes(self) -> Sequence[BaseRoute]:
        """GET /v1/notices?mode=&company=&page=&page_size= with a bearer token."""
        return [Route("/v1/notices", self._notices, methods=["GET"])]

    def start(self) -> str:
        """Serialise every listing, then serve (port 0 picks a free port); returns the base URL."""
        self.dataset.warm()
        return super().start()

    # Softmedia's own fault controls ---------------------------------------------------------------------------

    def slow_pages(self, seconds: float, times: int | None = None) -> None:
        """Delay each page by `seconds` (only the next `times` pages when given; 0 switches it off)."""
        self.add_latency(seconds, times)

    def malformed_every(self, k: int) -> None:
        """Break every k-th item of each page in a varying way (0 switches it off)."""
        with self._fault_lock:
            self._malformed_every = max(0, k)

    def repeat_items(self, on: bool = True) -> None:
        """Start each page after the first with the last item of the previous page, as a shifting source does."""
        with self._fault_lock:
            self._repeat = on

    def fail_at_page(self, page: int, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` requests for page `page` (any mode or company) with `status`."""
        with self._fault_lock:
            self._page_faults[page] = (status, times)

    def reset_faults(self) -> None:
        """Switch every fault off, the common ones and Softmedia's."""
        super().reset_faults()
        with self._fault_lock:
            self._malformed_every = 0
            self._repeat = False
            self._page_faults = {}

    # Serving --------------------------------------------------------------------------------------------------

    async def _notices(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        query = request.query_params
        mode, company = query.get("mode"), (query.get("company") or "").strip()
        if mode not in MODES:
            return _error(400, "bad_request", f"mode must be one of {', '.join(MODES)}")
        if not company:
            return _error(400, "bad_request", "company is required")
        try:
            page = int(query.get("page", "1"))
            page_size = int(query.get("page_size", str(DEFAULT_PAGE_SIZE)))
        except ValueError:
            return _error(400, "bad_request", "page and page_size must be whole numbers")
        if page < 1:
            return _error(400, "bad_request", "page starts at 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            return _error(400, "bad_request", f"page_size must be between 1 and {MAX_PAGE_SIZE}")

        with self._fault_lock:
            page_status, page_times = self._page_faults.get(page, (0, 0))
            if page_times > 0:
                self._page_faults[page] = (page_status, page_times - 1)
            malformed_every, repeat = self._malformed_every, self._repeat
        if page_times > 0:
            return _error(page_status, "fault", f"simulated fault at page {page}")
        if not malformed_every and not repeat:
            body = self.dataset.page_body(mode, company, page, page_size)
        else:
            body = self._altered_page(mode, company, page, page_size, malformed_every, repeat)
        return Response(body, media_type="application/json")

        return Response(body, media_type="application/json")

    def _altered_page(
        self, mode: str, company: str, page: int, page_size: int, malformed_every: int, repeat: bool
    ) -> bytes:
        items, total = self.dataset.page_items(mode, company, page, page_size)
        if repeat and page > 1:
            previous, _ = self.dataset.page_items(mode, company, page - 1, page_size)
            if previous:
                items.insert(0, previous[-1])
        if malformed_every:
            for broken, index in enumerate(range(malformed_every - 1, len(items), malformed_every)):
                break_item(items[index], page + broken)
        return json.dumps(
            {
                "page": page,
                "page_size": page_size,
                "total_pages": math.ceil(total / page_size),
                "total": total,
                "items": items,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a generated dataset until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m adapters.simulators.softmedia", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--companies", default="SML,KFL", help="comma-separated company codes")
    parser.add_argument("--per-company", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today in IST)")
    args = parser.parse_args(argv)
    today = args.today or datetime.now(IST).date()
    companies = [code.strip() for code in args.companies.split(",") if code.strip()]
    started = time.perf_counter()
    dataset = Dataset.generate(args.seed, companies, args.per_company, today)
    generated = time.perf_counter() - started
    simulator = SoftmediaSimulator(dataset, token=args.token, host=args.host, port=args.port)
    base_url = simulator.start()
    first = companies[0] if companies else "SML"
    serve_until_interrupted(
        simulator,
        [
            f"Softmedia simulator serving {len(dataset)} notices for {', '.join(companies)} (as of {today})",
            f"  generated in {generated:.2f} s; {len(dataset.borrowers())} borrowers",
            f"  base URL: {base_url}   (outbox: {base_url}/_sim/outbox)",
            f"  token:    {args.token}",
            f"  try: curl -H 'Authorization: Bearer {args.token}' "
            f"'{base_url}/v1/notices?mode=overdue&company={first}&page=1&page_size=5'",
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
