"""`covenant-desk customers number`: give borrower records registered before formatted ids existed their
`DEMO-C-000123`, oldest first (new registrations get one on their Registered event). Idempotent: a record that has
one keeps it, so the command can be run again (e.g. after the read model caught up)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.customers.application import Customers
from domain.shared.aggregate import acting_as
from projections.customer_queries import CustomerQueries


def number_customers(
    platform: Any, brand_id: UUID, batch: int = 500, progress: Callable[[int], None] | None = None
) -> int:
    """Assign the brand's numbers to its records without one (as the read model lists them); how many changed.
    `progress` is told how many records each batch went through."""
    customers, queries = platform.get(Customers), platform.get(CustomerQueries)
    changed, after = 0, None
    with acting_as("cli"):
        while records := queries.unnumbered(brand_id, after, batch):
            for record in records:
                changed += customers.assign_number(brand_id, record.id).changed
            after = (records[-1].created_at, records[-1].id)
            if progress:
                progress(len(records))
    return changed


def cmd_number_customers(args: argparse.Namespace) -> int:
    """The CLI command."""
    from tqdm import tqdm

    from domain.identity.application import Identity
    from workers.cli import _platform

    with _platform() as platform:
        brand = platform.get(Identity).brand_by_slug(args.brand)
        with tqdm(unit="record", desc=f"number {args.brand}", file=sys.stderr) as bar:
            changed = number_customers(platform, brand.id, progress=bar.update)
        print(f"{changed} borrower record(s) of {args.brand} numbered")
    return 0


def register(sub: Any) -> None:
    """Add the `customers number` command to the CLI's subparsers."""
    customers = sub.add_parser("customers", help="borrower records", description="borrower records")
    csub = customers.add_subparsers(dest="action", required=True, metavar="ACTION")
    text = "give a brand's records without a formatted id (DEMO-C-000123) one, oldest first (idempotent)"
    number = csub.add_parser("number", help=text, description=text)
    number.add_argument("--brand", required=True, help="brand slug")
    number.set_defaults(func=cmd_number_customers)
