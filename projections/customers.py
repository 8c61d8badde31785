"""Read models of borrower records: the customer directory and the Customer 360 timeline."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.blocklist.entry import BlockKind
from domain.customers.customer import CustomerRecord
from domain.shared.errors import InvalidInput
from domain.shared.values import PAN_PATTERN, looks_like_phone, mask_pan, normalise_phone
from projections.engine import Projection, Write, topics_of
from projections.keyset import KeysetCursor, Page

C = CustomerRecord


class CustomerDirectory(Projection):
    """One row per borrower with search columns (name trigram, phones, PAN, loan numbers)."""

    name = "customer_directory"
    source = "customers"
    topics = topics_of(
        C.Registered, C.DetailsUpdated, C.AlternatePhoneAdded, C.AlternatePhoneRemoved, C.LoanNumberLinked
    )
    tables = ("read.customers",)
    ddl = (
        "CREATE EXTENSION IF NOT EXISTS btree_gin",
        """CREATE TABLE IF NOT EXISTS read.customers (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            name text NOT NULL,
            name_key text NOT NULL,
            phone text NOT NULL,
            alternate_phones jsonb NOT NULL DEFAULT '[]',
            alternate_numbers text[] NOT NULL DEFAULT '{}',
            email text,
            pan text,
            pan_masked text,
            date_of_birth date,
            addresses jsonb NOT NULL DEFAULT '[]',
            loan_numbers text[] NOT NULL DEFAULT '{}',
            version int NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS customers_brand_name_idx ON read.customers (brand_id, name_key, id)",
        "CREATE INDEX IF NOT EXISTS customers_brand_phone_idx ON read.customers (brand_id, phone)",
        "CREATE INDEX IF NOT EXISTS customers_brand_pan_idx ON read.customers (brand_id, pan)",
        "CREATE INDEX IF NOT EXISTS customers_name_trgm_idx ON read.customers USING gin (brand_id, name_key gin_trgm_ops)",
        "CREATE INDEX IF NOT EXISTS customers_loans_idx ON read.customers USING gin (brand_id, loan_numbers)",
        "CREATE INDEX IF NOT EXISTS customers_alt_phones_idx ON read.customers USING gin (brand_id, alternate_numbers)",
        # A name's words in order, without honorifics or punctuation: "Mr. R. Karthik" and "KARTHIK R" meet here.
        # Notice matching blocks on it (an index probe per name) before it asks the trigram index.
        r"""CREATE OR REPLACE FUNCTION read.name_tokens(name text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT array_to_string(ARRAY(
                SELECT w FROM regexp_split_to_table(regexp_replace(lower(name), '[^[:alnum:]]+', ' ', 'g'), ' ') AS w
                WHERE w <> '' AND w NOT IN ('mr', 'mrs', 'ms', 'miss', 'shri', 'sri', 'smt', 'kumari', 'dr', 'prof')
                ORDER BY w), ' ')
            $$""",
        "CREATE INDEX IF NOT EXISTS customers_name_tokens_idx ON read.customers (brand_id, read.name_tokens(name_key))",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        if isinstance(event, C.Registered):
            yield Write(
                "INSERT INTO read.customers (id, brand_id, name, name_key, phone, email, pan, pan_masked, date_of_birth, "
                "addresses, loan_numbers, version, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (
                    event.originator_id,
                    event.brand_id,
                    event.name,
                    event.name.lower(),
                    event.phone,
                    event.email,
                    event.pan,
                    mask_pan(event.pan),
                    event.date_of_birth,
                    Jsonb([a.model_dump() for a in event.addresses]),
                    list(event.loan_numbers),
                    event.originator_version,
                    event.timestamp,
                    event.timestamp,
                ),
            )
        elif isinstance(event, C.DetailsUpdated):
            yield Write(
                "UPDATE read.customers SET name = coalesce(%(name)s, name), name_key = coalesce(lower(%(name)s), name_key), "
                "phone = coalesce(%(phone)s, phone), email = coalesce(%(email)s, email), pan = coalesce(%(pan)s, pan), "
                "pan_masked = coalesce(%(pan_masked)s, pan_masked), date_of_birth = coalesce(%(dob)s, date_of_birth), "
                "addresses = coalesce(%(addresses)s, addresses), version = %(version)s, updated_at = %(at)s WHERE id = %(id)s",
                {
                    "name": event.name,
                    "phone": event.phone,
                    "email": event.email,
                    "pan": event.pan,
                    "pan_masked": mask_pan(event.pan),
                    "dob": event.date_of_birth,
                    "addresses": Jsonb([a.model_dump() for a in event.addresses])
                    if event.addresses is not None
                    else None,
                    "version": event.originator_version,
                    "at": event.timestamp,
                    "id": event.originator_id,
                },
            )
        elif isinstance(event, C.AlternatePhoneAdded):
            yield Write(
                "UPDATE read.customers SET alternate_phones = alternate_phones || %s, "
                "alternate_numbers = array_append(alternate_numbers, %s), version = %s, updated_at = %s WHERE id = %s",
                (
                    Jsonb([{"phone": event.phone, "label": event.label}]),
                    event.phone,
                    event.originator_version,
                    event.timestamp,
                    event.originator_id,
                ),
            )
        elif isinstance(event, C.AlternatePhoneRemoved):
            yield Write(
                "UPDATE read.customers SET alternate_phones = coalesce((SELECT jsonb_agg(p) FROM "
                "jsonb_array_elements(alternate_phones) p WHERE p->>'phone' <> %s), '[]'::jsonb), "
                "alternate_numbers = array_remove(alternate_numbers, %s), version = %s, updated_at = %s WHERE id = %s",
                (event.phone, event.phone, event.originator_version, event.timestamp, event.originator_id),
            )
        elif isinstance(event, C.LoanNumberLinked):
            yield Write(
                "UPDATE read.customers SET loan_numbers = array_append(loan_numbers, %s), version = %s, updated_at = %s "
                "WHERE id = %s",
                (event.loan_number, event.originator_version, event.timestamp, event.originator_id),
            )


def _summary(event: Any) -> tuple[str, str, dict[str, Any]]:
    """(kind, human summary, details) of a borrower event for the timeline."""
    if isinstance(event, C.Registered):
        return (
            "registered",
            f"Registered {event.name} ({event.phone})",
            {
                "loan_numbers": list(event.loan_numbers),
                "pan": mask_pan(event.pan),
            },
        )
    if isinstance(event, C.DetailsUpdated):
        changed = {
            k: (mask_pan(v) if k == "pan" else v)
            for k, v in event.model_dump(
                mode="json", include={"name", "phone", "email", "pan", "date_of_birth", "addresses"}
            ).items()
            if v is not None
        }
        return "details_updated", "Updated " + ", ".join(k.replace("_", " ") for k in changed), changed
    if isinstance(event, C.AlternatePhoneAdded):
        label = f" ({event.label})" if event.label else ""
        return (
            "alternate_phone_added",
            f"Added alternate phone {event.phone}{label}",
            {"phone": event.phone, "label": event.label},
        )
    if isinstance(event, C.AlternatePhoneRemoved):
        return "alternate_phone_removed", f"Removed alternate phone {event.phone}", {"phone": event.phone}
    if isinstance(event, C.LoanNumberLinked):
        return "loan_linked", f"Linked loan {event.loan_number}", {"loan_number": event.loan_number}
    raise TypeError(type(event))


class CustomerTimeline(Projection):
    """Everything that happened to a borrower record, newest first on the 360 page."""

    name = "customer_timeline"
    source = "customers"
    topics = CustomerDirectory.topics
    tables = ("read.customer_timeline",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.customer_timeline (
            customer_id uuid NOT NULL,
            position bigint NOT NULL,
            brand_id uuid NOT NULL,
            occurred_at timestamptz NOT NULL,
            kind text NOT NULL,
            summary text NOT NULL,
            actor text NOT NULL,
            details jsonb NOT NULL,
            PRIMARY KEY (customer_id, position)
        )""",
        "CREATE INDEX IF NOT EXISTS customer_timeline_brand_idx ON read.customer_timeline (brand_id, occurred_at)",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        kind, summary, details = _summary(event)
        yield Write(
            "INSERT INTO read.customer_timeline (customer_id, position, brand_id, occurred_at, kind, summary, actor, details) "
            "SELECT %(id)s, %(pos)s, coalesce(%(brand)s, (SELECT brand_id FROM read.customer_timeline WHERE customer_id = %(id)s LIMIT 1)), "
            "%(at)s, %(kind)s, %(summary)s, %(actor)s, %(details)s ON CONFLICT DO NOTHING",
            {
                "id": event.originator_id,
                "pos": position,
                "brand": getattr(event, "brand_id", None),
                "at": event.timestamp,
                "kind": kind,
                "summary": summary,
                "actor": event.actor,
                "details": Jsonb(details),
            },
        )


# Queries --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerListItem:
    """A directory row: what lists show (PAN masked)."""

    id: UUID
    name: str
    phone: str
    pan: str | None
    email: str | None
    loan_numbers: list[str]
    updated_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a borrower record."""

    position: int
    occurred_at: datetime
    kind: str
    summary: str
    actor: str
    details: dict[str, Any]


@dataclass(frozen=True)
class CustomerProfile:
    """The Customer 360: profile plus timeline."""

    id: UUID
    brand_id: UUID
    name: str
    phone: str
    alternate_phones: list[dict[str, Any]]
    email: str | None
    pan: str | None
    pan_masked: str | None
    date_of_birth: date | None
    addresses: list[dict[str, Any]]
    loan_numbers: list[str]
    version: int
    created_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry] = field(default_factory=list)

    def blocklist_candidates(self) -> list[tuple[BlockKind, str]]:
        """The borrower's values a blocklist may hold: phones (primary and alternate), PAN and address pincodes."""
        candidates = [(BlockKind.MOBILE, self.phone)] + [(BlockKind.MOBILE, p["phone"]) for p in self.alternate_phones]
        if self.pan:
            candidates.append((BlockKind.PAN, self.pan))
        return candidates + [(BlockKind.PINCODE, a["pincode"]) for a in self.addresses]


#: Directory pages are ordered by (name_key, id).
DIRECTORY_CURSOR = KeysetCursor(str, UUID)


class CustomerQueries:
    """Typed queries over the customer read tables; every query is scoped to one brand."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    #: How many index entries the name search walks in name order before it asks the trigram index instead.
    NAME_WALK = 20_000

    def search(self, brand_id: UUID, q: str | None = None, cursor: str | None = None, limit: int = 25) -> Page:
        """Directory search by name, phone (any format), loan number or PAN; keyset pages ordered by name.

        One statement, three kinds of candidates for the page, each with a plan
        of bounded cost whatever the data (a single OR'ed query let the planner
        walk a whole brand in name order for a phone or PAN matching one row):

        - exact keys (loan number, PAN, phone, alternate phone): index lookups;
        - a name fragment, first by walking the brand's name index in order for
          at most NAME_WALK entries (index-only: no table rows), which finds a
          page at once for common fragments;
        - only when that walk found less than a page: every match of the fragment
          through the trigram index, sorted (rare or late-in-the-alphabet names).
          Fragments with a digit (a PAN, a loan number, a phone with separators)
          skip the walk; fragments without a three-letter word cannot use
          trigrams, so they walk on.

        The page's ids are then read from the table and ordered by (name_key, id).
        """
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1, "walk": self.NAME_WALK}
        page_filter = ""
        if cursor:
            name_key, last_id = DIRECTORY_CURSOR.decode(cursor)
            page_filter = " AND (name_key, id) > (%(c_name)s, %(c_id)s)"
            params.update(c_name=name_key, c_id=last_id)
        columns = "id, name, name_key, phone, pan_masked, email, loan_numbers, updated_at"
        term = (q or "").strip()
        if not term:
            sql = (
                f"SELECT {columns} FROM read.customers WHERE brand_id = %(brand)s{page_filter} "
                "ORDER BY name_key, id LIMIT %(limit)s"
            )
        else:
            upper = term.upper().replace(" ", "")
            params["loan"] = upper
            keys = [
                "SELECT id FROM read.customers WHERE brand_id = %(brand)s AND loan_numbers @> ARRAY[%(loan)s]::text[]"
            ]
            if PAN_PATTERN.match(upper):
                params["pan"] = upper
                keys.append("SELECT id FROM read.customers WHERE brand_id = %(brand)s AND pan = %(pan)s")
            if looks_like_phone(term):
                with suppress(InvalidInput):  # looks like a phone but is not one: no phone keys
                    params["phone"] = normalise_phone(term)
                    keys.append("SELECT id FROM read.customers WHERE brand_id = %(brand)s AND phone = %(phone)s")
                    keys.append(
                        "SELECT id FROM read.customers WHERE brand_id = %(brand)s "
                        "AND alternate_numbers @> ARRAY[%(phone)s]::text[]"
                    )
            # MATERIALIZED CTEs are separate steps, each planned on its own (and run only when read).
            ctes = ["matched_keys AS MATERIALIZED (" + " UNION ".join(keys) + ")"]
            candidates = ["SELECT id FROM matched_keys"]
            if len(term) >= 2 and not term.replace(" ", "").isdigit():
                params["name"] = "%" + term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                name_all = (
                    "name_all AS MATERIALIZED (SELECT name_key, id FROM read.customers "
                    f"WHERE brand_id = %(brand)s AND name_key LIKE %(name)s{page_filter})"
                )
                has_trigrams = any(len(word) >= 3 for word in term.split())
                if has_trigrams and any(ch.isdigit() for ch in term):
                    # A PAN, loan number or phone typed with separators: as a name fragment it matches
                    # next to nothing, so the trigram index alone answers it.
                    ctes.append(name_all)
                    candidates.append("(SELECT id FROM name_all ORDER BY name_key, id LIMIT %(limit)s)")
                elif has_trigrams:
                    ctes.append(
                        "name_walk AS MATERIALIZED (SELECT name_key, id FROM (SELECT name_key, id FROM read.customers "
                        f"WHERE brand_id = %(brand)s{page_filter} ORDER BY name_key, id LIMIT %(walk)s) AS walked "
                        "WHERE name_key LIKE %(name)s ORDER BY name_key, id LIMIT %(limit)s)"
                    )
                    ctes.append(name_all)
                    candidates.append("SELECT id FROM name_walk")
                    candidates.append(
                        "(SELECT id FROM name_all WHERE (SELECT count(*) FROM name_walk) < %(limit)s "
                        "ORDER BY name_key, id LIMIT %(limit)s)"
                    )
                else:
                    ctes.append(
                        "name_walk AS MATERIALIZED (SELECT name_key, id FROM read.customers WHERE brand_id = %(brand)s "
                        f"AND name_key LIKE %(name)s{page_filter} ORDER BY name_key, id LIMIT %(limit)s)"
                    )
                    candidates.append("SELECT id FROM name_walk")
            sql = (
                "WITH " + ", ".join(ctes) + f" SELECT {columns} FROM read.customers "
                "WHERE id IN (" + " UNION ".join(candidates) + f"){page_filter} "
                "ORDER BY name_key, id LIMIT %(limit)s"
            )
        with self.pool.connection() as conn:
            # Never a prepared statement: a generic plan cannot know how common a name fragment is.
            rows = conn.execute(sql, params, prepare=False).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [
            CustomerListItem(
                id=r["id"],
                name=r["name"],
                phone=r["phone"],
                pan=r["pan_masked"],
                email=r["email"],
                loan_numbers=list(r["loan_numbers"]),
                updated_at=r["updated_at"],
            )
            for r in rows
        ]
        next_cursor = DIRECTORY_CURSOR.encode(rows[-1]["name_key"], rows[-1]["id"]) if more and rows else None
        return Page(items=items, next_cursor=next_cursor)

    def profile(self, brand_id: UUID, customer_id: UUID, timeline_limit: int = 200) -> CustomerProfile | None:
        """The Customer 360 of a borrower of the brand, or None."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT * FROM read.customers WHERE id = %s AND brand_id = %s", (customer_id, brand_id)
            ).fetchone()
            if row is None:
                return None
            events = conn.execute(
                "SELECT position, occurred_at, kind, summary, actor, details FROM read.customer_timeline "
                "WHERE customer_id = %s AND brand_id = %s ORDER BY position DESC LIMIT %s",
                (customer_id, brand_id, timeline_limit),
            ).fetchall()
        return CustomerProfile(
            id=row["id"],
            brand_id=row["brand_id"],
            name=row["name"],
            phone=row["phone"],
            alternate_phones=list(row["alternate_phones"]),
            email=row["email"],
            pan=row["pan"],
            pan_masked=row["pan_masked"],
            date_of_birth=row["date_of_birth"],
            addresses=list(row["addresses"]),
            loan_numbers=list(row["loan_numbers"]),
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            timeline=[TimelineEntry(**e) for e in events],
        )
