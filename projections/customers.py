"""Read models of borrower records: the customer directory and the Customer 360 timeline (the projectors; their
queries are projections/customer_queries.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from domain.shared.values import mask_pan
from projections.insight_indexes import CUSTOMER_SEARCH_DDL
from projections.projection import Change, Insert, Projection, Write, topics_of

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
    source = Customers.name
    topics = topics_of(
        C.Registered,
        C.DetailsUpdated,
        C.AlternatePhoneAdded,
        C.AlternatePhoneRemoved,
        C.LoanNumberLinked,
        C.NumberAssigned,
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
        # The brand's formatted id (DEMO-C-000123): added after the table's first version, so added when missing.
        "ALTER TABLE read.customers ADD COLUMN IF NOT EXISTS number text",
        "CREATE INDEX IF NOT EXISTS customers_brand_name_idx ON read.customers (brand_id, name_key, id)",
        "CREATE INDEX IF NOT EXISTS customers_brand_number_idx ON read.customers (brand_id, number)",
        "CREATE INDEX IF NOT EXISTS customers_brand_phone_idx ON read.customers (brand_id, phone)",
        "CREATE INDEX IF NOT EXISTS customers_brand_pan_idx ON read.customers (brand_id, pan)",
        # Central dedup looks across brands (projections/applicant_checks.py).
        "CREATE INDEX IF NOT EXISTS customers_phone_idx ON read.customers (phone)",
        "CREATE INDEX IF NOT EXISTS customers_pan_idx ON read.customers (pan) WHERE pan IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS customers_loans_idx ON read.customers USING gin (brand_id, loan_numbers)",
        "CREATE INDEX IF NOT EXISTS customers_alt_phones_idx ON read.customers USING gin (brand_id, alternate_numbers)",
        # Indexes no query reads any more, dropped where an older version made them: notice matching blocked on
        # read.name_tokens(name_key) and then on trigrams of name_key until it moved to read.notice_name_keys, and
        # the name search finds words in the vocabulary (its own trigram index) and names by the word indexes. They
        # were the dearest to build (half of a rebuild's index builds) and to keep on every registration and rename.
        "DROP INDEX IF EXISTS read.customers_name_tokens_idx",
        "DROP INDEX IF EXISTS read.customers_name_trgm_idx",
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
        *CUSTOMER_SEARCH_DDL,
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

    def project(self, position: int, event: Any) -> Iterable[Change]:
        handle = _DIRECTORY_WRITES.get(type(event))
        return handle(self, event) if handle is not None else ()

    def _on_registered(self, event: C.Registered) -> Iterator[Change]:
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
                "number": event.number,
                "version": event.originator_version,
                "created_at": event.timestamp,
                "updated_at": event.timestamp,
            },
        )

    def _on_details_updated(self, event: C.DetailsUpdated) -> Iterator[Write]:
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
                "addresses": Jsonb([a.model_dump() for a in event.addresses]) if event.addresses is not None else None,
                "version": event.originator_version,
                "at": event.timestamp,
                "id": event.originator_id,
            },
        )

    def _on_alternate_phone_added(self, event: C.AlternatePhoneAdded) -> Iterator[Write]:
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

    def _on_alternate_phone_removed(self, event: C.AlternatePhoneRemoved) -> Iterator[Write]:
        yield Write(
            "UPDATE read.customers SET alternate_phones = coalesce((SELECT jsonb_agg(p) FROM "
            "jsonb_array_elements(alternate_phones) p WHERE p->>'phone' <> %s), '[]'::jsonb), "
            "alternate_numbers = array_remove(alternate_numbers, %s), version = %s, updated_at = %s WHERE id = %s",
            (event.phone, event.phone, event.originator_version, event.timestamp, event.originator_id),
        )

    def _on_loan_number_linked(self, event: C.LoanNumberLinked) -> Iterator[Write]:
        yield Write(
            "UPDATE read.customers SET loan_numbers = array_append(loan_numbers, %s), version = %s, updated_at = %s "
            "WHERE id = %s",
            (event.loan_number, event.originator_version, event.timestamp, event.originator_id),
        )

    def _on_number_assigned(self, event: C.NumberAssigned) -> Iterator[Write]:
        yield Write(
            "UPDATE read.customers SET number = %s, version = %s, updated_at = %s WHERE id = %s",
            (event.number, event.originator_version, event.timestamp, event.originator_id),
        )


#: The directory's row changes per event type.
_DIRECTORY_WRITES: dict[type[Any], Callable[[CustomerDirectory, Any], Iterable[Change]]] = {
    C.Registered: CustomerDirectory._on_registered,
    C.DetailsUpdated: CustomerDirectory._on_details_updated,
    C.AlternatePhoneAdded: CustomerDirectory._on_alternate_phone_added,
    C.AlternatePhoneRemoved: CustomerDirectory._on_alternate_phone_removed,
    C.LoanNumberLinked: CustomerDirectory._on_loan_number_linked,
    C.NumberAssigned: CustomerDirectory._on_number_assigned,
}


#: What the timeline shows of an event: (kind, human summary, details).
Summary = tuple[str, str, dict[str, object]]


def _registered(event: C.Registered) -> Summary:
    details: dict[str, object] = {"loan_numbers": list(event.loan_numbers), "pan": mask_pan(event.pan)}
    if event.number is not None:
        details["number"] = event.number
    return "registered", f"Registered {event.name} ({event.phone})", details


def _details_updated(event: C.DetailsUpdated) -> Summary:
    changed: dict[str, object] = {
        k: (mask_pan(v) if k == "pan" else v)
        for k, v in event.model_dump(
            mode="json", include={"name", "phone", "email", "pan", "date_of_birth", "addresses"}
        ).items()
        if v is not None
    }
    return "details_updated", "Updated " + ", ".join(k.replace("_", " ") for k in changed), changed


def _alternate_phone_added(event: C.AlternatePhoneAdded) -> Summary:
    label = f" ({event.label})" if event.label else ""
    summary = f"Added alternate phone {event.phone}{label}"
    return "alternate_phone_added", summary, {"phone": event.phone, "label": event.label}


def _alternate_phone_removed(event: C.AlternatePhoneRemoved) -> Summary:
    return "alternate_phone_removed", f"Removed alternate phone {event.phone}", {"phone": event.phone}


def _loan_number_linked(event: C.LoanNumberLinked) -> Summary:
    return "loan_linked", f"Linked loan {event.loan_number}", {"loan_number": event.loan_number}


def _number_assigned(event: C.NumberAssigned) -> Summary:
    return "number_assigned", f"Given the id {event.number}", {"number": event.number}


#: The timeline entry of each event type.
_SUMMARIES: dict[type[Any], Callable[[Any], Summary]] = {
    C.Registered: _registered,
    C.DetailsUpdated: _details_updated,
    C.AlternatePhoneAdded: _alternate_phone_added,
    C.AlternatePhoneRemoved: _alternate_phone_removed,
    C.LoanNumberLinked: _loan_number_linked,
    C.NumberAssigned: _number_assigned,
}


class CustomerTimeline(Projection):
    """Everything that happened to a borrower record, newest first on the 360 page."""

    name = "customer_timeline"
    source = Customers.name
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
        summarise = _SUMMARIES.get(type(event))
        if summarise is None:
            return
        kind, summary, details = summarise(event)
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
