"""Queries over the borrower read models: directory search (keyset pages by name) and the Customer 360.

Every query is scoped to one brand and returns frozen dataclasses; the tables are written by the projectors of
projections/customers.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import JsonValue

from domain.blocklist.entry import BlockKind
from domain.customers.values import Address
from domain.shared.errors import InvalidInput
from domain.shared.values import PAN_PATTERN, looks_like_phone, normalise_phone
from projections.blocklist import BlocklistHit
from projections.customers import LONG
from projections.keyset import KeysetCursor, Page
from projections.name_vocabulary import driving_word, like_escaped, vocabulary_matches

#: A customer's formatted id (`DEMO-C-000123`), searched exactly.
CUSTOMER_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]*-C-[0-9]{6,}$")
#: One of our loan numbers (`DEMO-L-000456`), searched exactly (read.loans' unique (brand_id, loan_number) index).
LOAN_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]*-L-[0-9]{6,}$")


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
    number: str | None = None  # the brand's formatted id (DEMO-C-000123)
    agent_id: UUID | None = None  # the owning agent (a staff member of the brand), None while nobody owns them
    agent_name: str | None = None


@dataclass(frozen=True)
class AgentFilter:
    """Whose borrowers a directory page lists: one agent's (`agent_id`), or those nobody owns (`agent_id` None)."""

    agent_id: UUID | None


@dataclass(frozen=True)
class Record:
    """A borrower record's id and when it was made."""

    id: UUID
    created_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a borrower record."""

    position: int
    occurred_at: datetime
    kind: str
    summary: str
    actor: str
    details: dict[str, JsonValue]  # what changed; its members depend on `kind`


@dataclass(frozen=True)
class AlternatePhone:
    """A relative's or a reference's phone, with an optional label."""

    phone: str
    label: str | None = None


@dataclass(frozen=True)
class CustomerProfile:
    """The Customer 360: profile plus timeline (and the blocklist hits on its values, when the caller adds them)."""

    id: UUID
    brand_id: UUID
    name: str
    phone: str
    alternate_phones: list[AlternatePhone]
    email: str | None
    pan: str | None
    pan_masked: str | None
    date_of_birth: date | None
    addresses: list[Address]
    loan_numbers: list[str]
    version: int
    created_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry] = field(default_factory=list)
    #: The brand's blocklist entries matching `blocklist_candidates()` (the blocklist context's query, `hits`).
    blocklist_hits: list[BlocklistHit] = field(default_factory=list)
    number: str | None = None  # the brand's formatted id (DEMO-C-000123)
    agent_id: UUID | None = None  # the owning agent (a staff member of the brand), None while nobody owns them
    agent_name: str | None = None

    def blocklist_candidates(self) -> list[tuple[BlockKind, str]]:
        """The borrower's values a blocklist may hold: phones (primary and alternate), PAN and address pincodes."""
        candidates = [(BlockKind.MOBILE, self.phone)] + [(BlockKind.MOBILE, p.phone) for p in self.alternate_phones]
        if self.pan:
            candidates.append((BlockKind.PAN, self.pan))
        return candidates + [(BlockKind.PINCODE, a.pincode) for a in self.addresses]

    def with_blocklist_hits(self, hits: list[BlocklistHit]) -> CustomerProfile:
        """The profile showing `hits`, the blocklist entries found for its values."""
        return replace(self, blocklist_hits=hits)


#: Whether read.customers.name_key compares in "C" (directories made since branch catchup4) or not (made before).
_NAME_KEY_IS_C = (
    "SELECT a.attcollation = 'pg_catalog.\"C\"'::regcollation AS c FROM pg_attribute a "
    "WHERE a.attrelid = 'read.customers'::regclass AND a.attname = 'name_key'"
)

#: Directory pages are ordered by (name_key, id).
DIRECTORY_CURSOR = KeysetCursor(str, UUID, name="customers.directory")


class CustomerQueries:
    """Typed queries over the customer read tables; every query is scoped to one brand."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    #: A name fragment found at up to this many (word, place) of the brand's vocabulary is answered from those
    #: words' index ranges; found at more, it is short and common, and a walk of the names in order finds it sooner.
    MERGE_WORDS = 64
    #: How many names that walk reads in order before it merges the ranges of every such (word, place) instead.
    NAME_WALK = 20_000

    def search(
        self,
        brand_id: UUID,
        q: str | None = None,
        cursor: str | None = None,
        limit: int = 25,
        agent: AgentFilter | None = None,
    ) -> Page:
        """Directory search by name, phone (any format), loan number (an external one linked to the record, or one of
        our loans': read.loans), customer id or PAN; keyset pages ordered by name; `agent`
        keeps one agent's borrowers (or those without one), each step of the search filtering on it, so a page is
        full whenever more match.

        A name matches when it contains the query (both lower-cased) anywhere: "harm" finds Sharma,
        "rahul sh" finds Rahul Sharma. Exact keys (loan number, PAN, phone, alternate phone) are index
        lookups. For the name, the query's words are first looked up in the brand's vocabulary
        (`read.customer_name_vocabulary`, a small table): a one-word query is contained in some (word,
        place) of it; in a query of several words the first ends a word, the last starts one and any
        between are whole words. The query word in the fewest names drives, by how many (word, place)
        hold it:

        - none: no name matches (a fragment like "qx" costs one vocabulary probe);
        - up to MERGE_WORDS: from the index of each word's place, the first page after the cursor of the
          names with that word there (one index range each, already in name order), merged; with several
          query words each range also filters on the whole query;
        - more (a short, common fragment such as "an"): the brand's names are walked in order for at most
          NAME_WALK entries, and only when that found less than a page, the ranges of every such (word,
          place) are merged.

        A second statement reads the page's rows (with the key matches) ordered by (name_key, id), the
        keyset of the cursor. Each step's cost is bounded whatever the data.
        """
        page_scope = (brand_id, q, agent)  # the filters its cursor is bound to
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        page_filter = ""
        if cursor:
            name_key, last_id = DIRECTORY_CURSOR.decode(cursor, page_scope)
            page_filter = " AND (name_key, id) > (%(c_name)s, %(c_id)s)"
            params.update(c_name=name_key, c_id=last_id)
        # The agent's condition (columns of read.customers, written unqualified: every statement below reads the
        # table alone or as `c`, and no other relation of theirs has an agent_id).
        owned = ""
        if agent is not None and agent.agent_id is not None:
            owned = " AND agent_id = %(agent)s"
            params["agent"] = agent.agent_id
        elif agent is not None:
            owned = " AND agent_id IS NULL"
        columns = "id, name, name_key, phone, pan_masked, email, loan_numbers, updated_at, number, agent_id"
        term = (q or "").strip()
        with self.pool.connection() as conn:
            if not term:
                sql = (
                    f"SELECT {columns} FROM read.customers WHERE brand_id = %(brand)s{owned}{page_filter} "
                    "ORDER BY name_key, id LIMIT %(limit)s"
                )
            else:
                ctes, candidates = _key_candidates(term, params)
                if len(term) >= 2 and not term.replace(" ", "").isdigit():
                    name_ctes, name_candidates = self._name_candidates(conn, term.lower(), params, page_filter, owned)
                    ctes += name_ctes
                    candidates += name_candidates
                sql = (
                    "WITH " + ", ".join(ctes) + f" SELECT {columns} FROM read.customers "
                    "WHERE id IN (" + " UNION ".join(candidates) + f"){owned}{page_filter} "
                    "ORDER BY name_key, id LIMIT %(limit)s"
                )
            # Never a prepared statement: a generic plan cannot know how common a name fragment is.
            rows = conn.execute(sql, params, prepare=False).fetchall()
            names = _staff_names(conn, brand_id, {r["agent_id"] for r in rows[:limit]})
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
                number=r["number"],
                agent_id=r["agent_id"],
                agent_name=names.get(r["agent_id"]),
            )
            for r in rows
        ]
        next_cursor = (
            DIRECTORY_CURSOR.encode(rows[-1]["name_key"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return Page(items=items, next_cursor=next_cursor)

    def _name_candidates(
        self, conn: Any, term: str, params: dict[str, Any], page_filter: str, owned: str = ""
    ) -> tuple[list[str], list[str]]:
        """The CTEs and candidate queries of the names containing `term` (lower-cased), after the cursor, of the
        borrowers `owned` keeps (an agent's condition on read.customers, or "")."""
        parts = [part for part in term.split(" ") if part]
        # The query word in the fewest names drives (one in no name: nothing matches); with several query words
        # its ranges are read until a page matches the whole query, so they cost up to that many names. Words
        # found at more than MERGE_WORDS places come last (their count is cut short).
        driver = driving_word(vocabulary_matches(conn, params["brand"], parts, self.MERGE_WORDS))
        if not driver.found:
            return [], []
        params["name"] = "%" + like_escaped(term) + "%"
        after = (" AND (c.name_key, c.id) > (%(c_name)s, %(c_id)s)" if page_filter else "") + owned
        whole = " AND c.name_key LIKE %(name)s" if len(parts) > 1 else ""  # one query word is not the whole query

        def merged(words: dict[int, str]) -> str:
            """The first page of names with any of `words` (a text[] per place), merged from each word's range."""
            ranges = [
                f"SELECT m.name_key, m.id FROM unnest({words[k]}) AS t(word) CROSS JOIN LATERAL "
                f"(SELECT c.name_key, c.id FROM read.customers c WHERE c.brand_id = %(brand)s "
                f"AND split_part(c.name_key, ' ', {k}) = t.word AND split_part(c.name_key, ' ', {k}) <> ''"
                f"{after}{whole} ORDER BY c.name_key, c.id LIMIT %(limit)s) AS m"
                for k in sorted(words)
                if k != LONG
            ]
            if LONG in words:  # names with more words than have indexes: walked in order on their own index
                ranges.append(
                    f"(SELECT c.name_key, c.id FROM read.customers c WHERE c.brand_id = %(brand)s "
                    f"AND split_part(c.name_key, ' ', {LONG}) <> '' AND c.name_key LIKE %(name)s{after} "
                    f"AND {words[LONG]} <> '{{}}' ORDER BY c.name_key, c.id LIMIT %(limit)s)"
                )
            return (
                "SELECT DISTINCT name_key, id FROM (" + " UNION ALL ".join(ranges) + ") AS r "
                "ORDER BY name_key, id LIMIT %(limit)s"
            )

        if not driver.more:
            places = {}
            for k in sorted({place for _, place, _ in driver.found}):
                params[f"w{k}"] = [word for word, place, _ in driver.found if place == k]
                places[k] = f"%(w{k})s::text[]"
            return [f"name_page AS MATERIALIZED ({merged(places)})"], ["SELECT id FROM name_page"]
        # Every (word, place) of the driving word this time, read in the statement: there are many. (In name_key's
        # collation, as the word indexes compare: "C" since directories are made so, "default" in one made before
        # and not rebuilt since; the vocabulary's is "C".)
        params.update(walk=self.NAME_WALK, driver=driver.pattern)
        collation = "C" if conn.execute(_NAME_KEY_IS_C).fetchone()["c"] else "default"
        every = {
            k: f'ARRAY(SELECT word COLLATE "{collation}" FROM read.customer_name_vocabulary WHERE brand_id = %(brand)s '
            f"AND place = {k} AND word LIKE %(driver)s)"
            for k in range(1, LONG + 1)
        }
        return [
            "name_walk AS MATERIALIZED (SELECT name_key, id FROM (SELECT name_key, id FROM read.customers "
            f"WHERE brand_id = %(brand)s{owned}{page_filter} ORDER BY name_key, id LIMIT %(walk)s) AS walked "
            "WHERE name_key LIKE %(name)s ORDER BY name_key, id LIMIT %(limit)s)",
            f"name_all AS MATERIALIZED ({merged(every)})",
        ], [
            "SELECT id FROM name_walk",
            "(SELECT id FROM name_all WHERE (SELECT count(*) FROM name_walk) < %(limit)s)",
        ]

    def unnumbered(self, brand_id: UUID, after: tuple[datetime, UUID] | None = None, limit: int = 500) -> list[Record]:
        """Records of the brand without a formatted id, oldest first, after the keyset `after` (created_at, id)."""
        page = " AND (created_at, id) > (%s, %s)" if after else ""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT id, created_at FROM read.customers WHERE brand_id = %s AND number IS NULL{page} "
                "ORDER BY created_at, id LIMIT %s",
                (brand_id, *(after or ()), limit),
            ).fetchall()
        return [Record(r["id"], r["created_at"]) for r in rows]

    def least_loaded_agents(self, brand_id: UUID, roles: Sequence[str], day: date, limit: int = 10) -> list[UUID]:
        """The enabled, available staff of the brand holding one of `roles`, not on leave on `day`, fewest borrowers
        owned first (ties: the smaller id), at most `limit` of them: whom auto-allocation of new borrowers picks
        from (as `LoanQueries.least_loaded` picks a credit executive). Each count is one range of the agent index."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT s.id FROM read.staff s WHERE s.brand_id = %(brand)s AND s.roles && %(roles)s::text[] "
                "AND s.enabled AND s.available AND NOT EXISTS (SELECT FROM jsonb_each(s.leaves) AS l(id, leave) "
                "WHERE (l.leave->>'start')::date <= %(day)s AND (l.leave->>'end')::date >= %(day)s) "
                "ORDER BY (SELECT count(*) FROM read.customers c WHERE c.brand_id = %(brand)s AND c.agent_id = s.id), "
                "s.id LIMIT %(limit)s",
                {"brand": brand_id, "roles": list(roles), "day": day, "limit": limit},
            ).fetchall()
        return [r["id"] for r in rows]

    def profile(self, brand_id: UUID, customer_id: UUID, timeline_limit: int = 200) -> CustomerProfile | None:
        """The Customer 360 of a borrower of the brand, or None."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT * FROM read.customers WHERE id = %s AND brand_id = %s", (customer_id, brand_id)
            ).fetchone()
            if row is None:
                return None
            names = _staff_names(conn, brand_id, {row["agent_id"]})
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
            alternate_phones=[AlternatePhone(p["phone"], p.get("label")) for p in row["alternate_phones"]],
            email=row["email"],
            pan=row["pan"],
            pan_masked=row["pan_masked"],
            date_of_birth=row["date_of_birth"],
            addresses=[Address.model_validate(a) for a in row["addresses"]],
            loan_numbers=list(row["loan_numbers"]),
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            timeline=[TimelineEntry(**e) for e in events],
            number=row["number"],
            agent_id=row["agent_id"],
            agent_name=names.get(row["agent_id"]),
        )


def _staff_names(conn: Any, brand_id: UUID, ids: set[UUID | None]) -> dict[UUID, str]:
    """The names of the brand's staff members among `ids` (read.staff, the identity context's read model)."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT id, name FROM read.staff WHERE brand_id = %s AND id = ANY(%s)", (brand_id, wanted)
    ).fetchall()
    return {r["id"]: r["name"] for r in rows}


def _key_candidates(term: str, params: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The CTE and candidate query of the exact keys a term can be: a loan number (linked to the record, or one of
    our loans'), the brand's customer id, PAN, phone."""
    upper = term.upper().replace(" ", "")
    params["loan"] = upper
    keys = ["SELECT id FROM read.customers WHERE brand_id = %(brand)s AND loan_numbers @> ARRAY[%(loan)s]::text[]"]
    if LOAN_NUMBER.match(upper):  # one of our loans (the external numbers linked to a record are loan_numbers)
        keys.append("SELECT customer_id FROM read.loans WHERE brand_id = %(brand)s AND loan_number = %(loan)s")
    if CUSTOMER_NUMBER.match(upper):  # the brand's formatted id, DEMO-C-000123
        keys.append("SELECT id FROM read.customers WHERE brand_id = %(brand)s AND number = %(loan)s")
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
    return ["matched_keys AS MATERIALIZED (" + " UNION ".join(keys) + ")"], ["SELECT id FROM matched_keys"]
