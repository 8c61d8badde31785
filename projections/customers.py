"""Read models of borrower records: the customer directory and the Customer 360 timeline."""

from __future__ import annotations

from collections import Counter
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
from projections.engine import Insert, Projection, Write, topics_of
from projections.keyset import KeysetCursor, Page

C = CustomerRecord

#: Name words at places (positions) 1..NAME_POSITIONS each have an index in name order; words further on share
#: the place LONG (names that long are few, and searched by walking their own index).
NAME_POSITIONS = 4
LONG = NAME_POSITIONS + 1


def name_positions(name_key: str) -> list[tuple[str, int]]:
    """(word, place) of each word of a search key, as `read.name_positions` gives them in SQL."""
    return [(word, min(i, LONG)) for i, word in enumerate(name_key.split(" "), 1) if word]


#: Fill the name vocabulary of a directory that has rows but no vocabulary (one made before it existed, or
#: loaded with COPY); a no-op otherwise, so it runs with the DDL on every start.
NAME_VOCABULARY_BACKFILL = (
    "INSERT INTO read.customer_name_vocabulary (brand_id, word, place, borrowers) "
    "SELECT c.brand_id, p.word, p.place, count(*) FROM read.customers c "
    "CROSS JOIN read.name_positions(c.name_key) AS p WHERE NOT EXISTS (SELECT FROM read.customer_name_vocabulary) "
    "GROUP BY 1, 2, 3"
)

#: Before a rename (the row still has the old name): move the counts from the old name's words to the new one's.
_RENAME_VOCABULARY = (
    "WITH c AS (SELECT brand_id, name_key, lower(%(name)s) AS new_key FROM read.customers WHERE id = %(id)s), "
    "delta AS (SELECT c.brand_id, p.word, p.place, sum(p.d)::int AS d FROM c CROSS JOIN LATERAL ("
    "SELECT word, place, -1 AS d FROM read.name_positions(c.name_key) "
    "UNION ALL SELECT word, place, 1 FROM read.name_positions(c.new_key)) AS p "
    "GROUP BY 1, 2, 3 HAVING sum(p.d) <> 0) "
    "INSERT INTO read.customer_name_vocabulary AS v (brand_id, word, place, borrowers) "
    "SELECT brand_id, word, place, d FROM delta "
    "ON CONFLICT (brand_id, word, place) DO UPDATE SET borrowers = v.borrowers + excluded.borrowers"
)

#: ... then drop the old name's words no borrower has any more.
_DROP_UNUSED_WORDS = (
    "DELETE FROM read.customer_name_vocabulary v USING read.customers c "
    "CROSS JOIN read.name_positions(c.name_key) AS p WHERE c.id = %(id)s AND v.brand_id = c.brand_id "
    "AND v.word = p.word AND v.place = p.place AND v.borrowers <= 0"
)


class CustomerDirectory(Projection):
    """One row per borrower with search columns (phones, PAN, loan numbers, name words) and a name vocabulary.

    For the name search (CustomerQueries.search), the first NAME_POSITIONS words
    of a name each have an index (brand, word at that place, name_key, id), so
    the borrowers with a given word there come in name order from one index
    range; `read.customer_name_vocabulary` counts, per brand, the names with
    each word at each place, so a fragment turns into the few (word, place)
    that contain it. A batch's registrations are counted in one statement.
    """

    name = "customer_directory"
    source = "customers"
    topics = topics_of(
        C.Registered, C.DetailsUpdated, C.AlternatePhoneAdded, C.AlternatePhoneRemoved, C.LoanNumberLinked
    )
    tables = ("read.customers", "read.customer_name_vocabulary")
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
        # Directory search by name: see the class docstring and CustomerQueries.search.
        rf"""CREATE OR REPLACE FUNCTION read.name_positions(name_key text) RETURNS TABLE (word text, place smallint)
            LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 3 AS $$
            SELECT w, least(i, {LONG})::smallint FROM unnest(string_to_array(name_key, ' ')) WITH ORDINALITY AS u(w, i)
            WHERE w <> ''
            $$""",
        # Words compare bytewise (COLLATE "C"): a LIKE 'ab%' is an index range whatever the database's collation.
        """CREATE TABLE IF NOT EXISTS read.customer_name_vocabulary (
            brand_id uuid NOT NULL,
            word text COLLATE "C" NOT NULL,
            place smallint NOT NULL,
            borrowers int NOT NULL,
            PRIMARY KEY (brand_id, word, place)
        )""",
        NAME_VOCABULARY_BACKFILL,
        *(
            f"CREATE INDEX IF NOT EXISTS customers_name_word{k}_idx ON read.customers "
            f"(brand_id, split_part(name_key, ' ', {k}), name_key, id) WHERE split_part(name_key, ' ', {k}) <> ''"
            for k in range(1, LONG)
        ),
        "CREATE INDEX IF NOT EXISTS customers_long_name_idx ON read.customers (brand_id, name_key, id) "
        f"WHERE split_part(name_key, ' ', {LONG}) <> ''",
        "CREATE INDEX IF NOT EXISTS customer_name_vocabulary_trgm_idx ON read.customer_name_vocabulary "
        "USING gin (brand_id, word gin_trgm_ops)",
    )

    def __init__(self) -> None:
        # (brand as an int, name_key) of the names not counted yet: UUIDs hash in Python code, ints do not.
        self._registered: list[tuple[int, str]] = []

    def begin_batch(self) -> None:
        self._registered.clear()

    def end_batch(self) -> Iterable[Write]:
        """Add the batch's registered names to the vocabulary in one statement."""
        yield from self._count_names()

    def _count_names(self) -> Iterable[Write]:
        """The vocabulary counts of the names registered since the last call."""
        if not self._registered:
            return
        # name_positions, inlined: this runs for every registration of a rebuild.
        counted = Counter(
            [
                (brand, word, place if place < LONG else LONG)
                for brand, name_key in self._registered
                for place, word in enumerate(name_key.split(" "), 1)
                if word
            ]
        )
        self._registered.clear()
        # One JSON document, {brand: [[word, place, names], ...]}: psycopg dumps long arrays element by element.
        brands = {brand: str(UUID(int=brand)) for brand in {key[0] for key in counted}}
        by_brand: dict[str, list[tuple[str, int, int]]] = {}
        for (brand, word, place), names in counted.items():
            by_brand.setdefault(brands[brand], []).append((word, place, names))
        yield Write(
            "INSERT INTO read.customer_name_vocabulary AS v (brand_id, word, place, borrowers) "
            "SELECT b.key::uuid, e->>0, (e->>1)::smallint, (e->>2)::int "
            "FROM jsonb_each(%s::jsonb) AS b CROSS JOIN jsonb_array_elements(b.value) AS e "
            "ON CONFLICT (brand_id, word, place) DO UPDATE SET borrowers = v.borrowers + excluded.borrowers",
            (Jsonb(by_brand),),
        )

    def project(self, position: int, event: Any) -> Iterable[Write | Insert]:
        if isinstance(event, C.Registered):
            name_key = event.name.lower()
            self._registered.append((event.brand_id.int, name_key))
            yield Insert(  # one statement for a batch's registrations (a new borrower's row: see Insert)
                "read.customers",
                {
                    "id": event.originator_id,
                    "brand_id": event.brand_id,
                    "name": event.name,
                    "name_key": name_key,
                    "phone": event.phone,
                    "email": event.email,
                    "pan": event.pan,
                    "pan_masked": mask_pan(event.pan),
                    "date_of_birth": event.date_of_birth,
                    "addresses": [a.model_dump(mode="json") for a in event.addresses],
                    "loan_numbers": list(event.loan_numbers),
                    "version": event.originator_version,
                    "created_at": event.timestamp,
                    "updated_at": event.timestamp,
                },
            )
        elif isinstance(event, C.DetailsUpdated):
            if event.name is not None:  # Counts of this batch first: the rename may take one of them back.
                yield from self._count_names()
                yield Write(_RENAME_VOCABULARY, {"name": event.name, "id": event.originator_id})
                yield Write(_DROP_UNUSED_WORDS, {"id": event.originator_id})
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

    #: A name fragment found at up to this many (word, place) of the brand's vocabulary is answered from those
    #: words' index ranges; found at more, it is short and common, and a walk of the names in order finds it sooner.
    MERGE_WORDS = 64
    #: How many names that walk reads in order before it merges the ranges of every such (word, place) instead.
    NAME_WALK = 20_000

    def search(self, brand_id: UUID, q: str | None = None, cursor: str | None = None, limit: int = 25) -> Page:
        """Directory search by name, phone (any format), loan number or PAN; keyset pages ordered by name.

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
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        page_filter = ""
        if cursor:
            name_key, last_id = DIRECTORY_CURSOR.decode(cursor)
            page_filter = " AND (name_key, id) > (%(c_name)s, %(c_id)s)"
            params.update(c_name=name_key, c_id=last_id)
        columns = "id, name, name_key, phone, pan_masked, email, loan_numbers, updated_at"
        term = (q or "").strip()
        with self.pool.connection() as conn:
            if not term:
                sql = (
                    f"SELECT {columns} FROM read.customers WHERE brand_id = %(brand)s{page_filter} "
                    "ORDER BY name_key, id LIMIT %(limit)s"
                )
            else:
                ctes, candidates = _key_candidates(term, params)
                if len(term) >= 2 and not term.replace(" ", "").isdigit():
                    name_ctes, name_candidates = self._name_candidates(conn, term.lower(), params, page_filter)
                    ctes += name_ctes
                    candidates += name_candidates
                sql = (
                    "WITH " + ", ".join(ctes) + f" SELECT {columns} FROM read.customers "
                    "WHERE id IN (" + " UNION ".join(candidates) + f"){page_filter} "
                    "ORDER BY name_key, id LIMIT %(limit)s"
                )
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

    def _name_candidates(
        self, conn: Any, term: str, params: dict[str, Any], page_filter: str
    ) -> tuple[list[str], list[str]]:
        """The CTEs and candidate queries of the names containing `term` (lower-cased), after the cursor."""
        parts = [part for part in term.split(" ") if part]
        if len(parts) == 1:
            patterns = ["%" + _like_escaped(term) + "%"]
        else:  # "rahul sh": a word ending in "rahul", then one starting with "sh"
            last = len(parts) - 1
            patterns = ["%" * (i == 0) + _like_escaped(part) + "%" * (i == last) for i, part in enumerate(parts)]
        lookup = " UNION ALL ".join(
            f"(SELECT {i} AS part, word, place, borrowers FROM read.customer_name_vocabulary "
            f"WHERE brand_id = %(brand)s AND word LIKE %(p{i})s LIMIT %(cap)s)"
            for i in range(len(patterns))
        )
        found: list[list[tuple[str, int, int]]] = [[] for _ in patterns]
        lookup_params = {"brand": params["brand"], "cap": self.MERGE_WORDS + 1}
        for row in conn.execute(lookup, lookup_params | {f"p{i}": p for i, p in enumerate(patterns)}, prepare=False):
            found[row["part"]].append((row["word"], row["place"], row["borrowers"]))
        # The query word in the fewest names drives (one in no name: nothing matches); with several query words
        # its ranges are read until a page matches the whole query, so they cost up to that many names. Words
        # found at more than MERGE_WORDS places come last (their count is cut short).
        driver = min(
            range(len(parts)),
            key=lambda i: (len(found[i]) > self.MERGE_WORDS, sum(n for *_, n in found[i]), -len(parts[i])),
        )
        if not found[driver]:
            return [], []
        params["name"] = "%" + _like_escaped(term) + "%"
        after = " AND (c.name_key, c.id) > (%(c_name)s, %(c_id)s)" if page_filter else ""
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

        if len(found[driver]) <= self.MERGE_WORDS:
            places = {}
            for k in sorted({place for _, place, _ in found[driver]}):
                params[f"w{k}"] = [word for word, place, _ in found[driver] if place == k]
                places[k] = f"%(w{k})s::text[]"
            return [f"name_page AS MATERIALIZED ({merged(places)})"], ["SELECT id FROM name_page"]
        # Every (word, place) of the driving word this time, read in the statement: there are many. (In the
        # directory's collation, as the word indexes compare; the vocabulary's is "C".)
        params.update(walk=self.NAME_WALK, driver=patterns[driver])
        every = {
            k: f'ARRAY(SELECT word COLLATE "default" FROM read.customer_name_vocabulary WHERE brand_id = %(brand)s '
            f"AND place = {k} AND word LIKE %(driver)s)"
            for k in range(1, LONG + 1)
        }
        return [
            "name_walk AS MATERIALIZED (SELECT name_key, id FROM (SELECT name_key, id FROM read.customers "
            f"WHERE brand_id = %(brand)s{page_filter} ORDER BY name_key, id LIMIT %(walk)s) AS walked "
            "WHERE name_key LIKE %(name)s ORDER BY name_key, id LIMIT %(limit)s)",
            f"name_all AS MATERIALIZED ({merged(every)})",
        ], [
            "SELECT id FROM name_walk",
            "(SELECT id FROM name_all WHERE (SELECT count(*) FROM name_walk) < %(limit)s)",
        ]

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


def _key_candidates(term: str, params: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The CTE and candidate query of the exact keys a term can be: loan number, PAN, phone."""
    upper = term.upper().replace(" ", "")
    params["loan"] = upper
    keys = ["SELECT id FROM read.customers WHERE brand_id = %(brand)s AND loan_numbers @> ARRAY[%(loan)s]::text[]"]
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


def _like_escaped(text: str) -> str:
    """`text` matched literally by LIKE (its backslash, % and _ escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
