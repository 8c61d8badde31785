"""Read models of borrower records: the customer directory and the Customer 360 timeline (the projectors; their
queries are projections/customer_queries.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from domain.customers.values import Address
from domain.shared.values import mask_pan
from projections.batch_writes import insert_rows, json_document
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
        C.LoanNumberUnlinked,
        C.NumberAssigned,
        C.AgentAssigned,
        C.NoteAdded,  # only the row's version moves (an If-Match names the record's version); notes: customer_notes.py
    )
    tables = ("read.customers", "read.customer_name_vocabulary")
    ddl = (
        "CREATE EXTENSION IF NOT EXISTS btree_gin",
        """CREATE TABLE IF NOT EXISTS read.customers (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            name text NOT NULL,
            -- The keys the directory's B-tree indexes sort compare bytewise (COLLATE "C": the same order as the
            -- database's C.UTF-8 for UTF-8 text, but index builds sort with memcmp); tables made before keep theirs.
            name_key text COLLATE "C" NOT NULL,
            phone text COLLATE "C" NOT NULL,
            alternate_phones jsonb NOT NULL DEFAULT '[]',
            alternate_numbers text[] NOT NULL DEFAULT '{}',
            email text,
            pan text COLLATE "C",
            pan_masked text,
            date_of_birth date,
            addresses jsonb NOT NULL DEFAULT '[]',
            loan_numbers text[] NOT NULL DEFAULT '{}',
            version int NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        # The brand's formatted id (DEMO-C-000123): added after the table's first version, so added when missing.
        'ALTER TABLE read.customers ADD COLUMN IF NOT EXISTS number text COLLATE "C"',
        # The owning agent (a staff member; names are read from read.staff when listed): added later, likewise.
        "ALTER TABLE read.customers ADD COLUMN IF NOT EXISTS agent_id uuid",
        "CREATE INDEX IF NOT EXISTS customers_brand_name_idx ON read.customers (brand_id, name_key, id)",
        "CREATE INDEX IF NOT EXISTS customers_brand_number_idx ON read.customers (brand_id, number)",
        "CREATE INDEX IF NOT EXISTS customers_brand_phone_idx ON read.customers (brand_id, phone)",
        # An agent's borrowers ("my customers") in name order, keyset on (name_key, id). Partial: most borrowers sign
        # up themselves and have no agent; the list of those (agent=none) walks the brand's name index instead.
        "CREATE INDEX IF NOT EXISTS customers_brand_agent_idx ON read.customers (brand_id, agent_id, name_key, id) "
        "WHERE agent_id IS NOT NULL",
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
        # Raised by a registration the directory inserts in SQL from the event store but its class would not take.
        """CREATE OR REPLACE FUNCTION read.stored_event_rejected(at bigint) RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'stored event % is not its class''s current JSON', at; END $$""",
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
        # The batch's effects on read.customers rows, written at the batch's end (see `_BatchEffects`).
        self._effects = _BatchEffects()

    def applies_stored(self, topic: str, state: bytes) -> bool:
        """A registration whose JSON is ASCII (no \\u escapes either) is inserted in SQL from the event store, with
        its name's vocabulary counts (`_STORED_REGISTRATIONS`): the decode, the row and its JSON in Python were two
        thirds of a rebuild's client time. ASCII, because PostgreSQL's lower() and Python's str.lower() agree on it."""
        return topic == _REGISTERED and state.isascii() and b"\\u" not in state

    #: A rebuild's stored registrations insert new rows only (their vocabulary is counted after the replay).
    concurrent_rebuild = True

    def stored_writes(self, events_table: str, positions: list[int]) -> Iterable[Write]:
        statement = _STORED_ROWS if self.rebuilding else _STORED_REGISTRATIONS
        yield Write(statement.replace("{events}", events_table), (positions,))

    def rebuilt_statements(self) -> Sequence[str]:
        """A rebuild counts the vocabulary once from the rows, after the replay (the batches leave it out while
        `rebuilding`): one GROUP BY instead of an upsert per batch -- a sixth of the replay's server time."""
        return (NAME_VOCABULARY_BACKFILL,)

    def begin_batch(self) -> None:
        self._registered.clear()
        self._effects = _BatchEffects()

    def end_batch(self) -> Iterable[Change]:
        """Add the batch's registered names to the vocabulary in one statement, then write the batch's rows: the new
        borrowers' rows (one INSERT), then the changes to rows of earlier batches (one UPDATE)."""
        yield from self._count_names()
        yield from self._effects.flush()

    def _count_names(self) -> Iterable[Write]:
        """The vocabulary counts of the names registered since the last call."""
        if not self._registered:
            return
        if self.rebuilding:  # Counted from the rows after the replay (rebuilt_statements).
            self._registered.clear()
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
            (json_document(by_brand),),  # (written by pydantic-core: a third of json.dumps's time)
        )

    def project(self, position: int, event: Any) -> Iterable[Change]:
        """The writes that must go before the batch's end (none, but around a rename or a repeated registration):
        a batch's changes to a row are gathered in memory and written at `end_batch`."""
        handle = _DIRECTORY_WRITES.get(type(event))
        return handle(self, event) if handle is not None else ()

    def _on_registered(self, event: C.Registered) -> Iterable[Change]:
        name_key = event.name.lower()
        self._registered.append((event.brand_id.int, name_key))
        row = {
            "id": event.originator_id,
            "brand_id": event.brand_id,
            "name": event.name,
            "name_key": name_key,
            "phone": event.phone,
            "alternate_phones": [],
            "alternate_numbers": [],
            "email": event.email,
            "pan": event.pan,
            "pan_masked": mask_pan(event.pan),
            "date_of_birth": event.date_of_birth,
            "addresses": list(event.addresses),  # the models: pydantic-core writes their JSON (see insert_rows)
            "loan_numbers": list(event.loan_numbers),
            "number": event.number,
            "agent_id": event.agent_id,
            "version": event.originator_version,
            "created_at": event.timestamp,
            "updated_at": event.timestamp,
        }
        return self._effects.register(event.originator_id, row)

    def _on_details_updated(self, event: C.DetailsUpdated) -> Iterator[Change]:
        oid = event.originator_id
        if event.name is not None:  # Counts of this batch first: the rename may take one of them back.
            yield from self._count_names()
            # The vocabulary moves by the row's name as written so far: the row's gathered changes go first.
            yield from self._effects.write_out(oid)
            if not self.rebuilding:
                yield Write(_RENAME_VOCABULARY, {"name": event.name, "id": oid})
                yield Write(_DROP_UNUSED_WORDS, {"id": oid})
        addresses = [a.model_dump(mode="json") for a in event.addresses] if event.addresses is not None else None
        self._effects.set(
            oid,
            event.originator_version,
            event.timestamp,
            name=event.name,
            phone=event.phone,
            email=event.email,
            pan=event.pan,
            pan_masked=mask_pan(event.pan),
            date_of_birth=event.date_of_birth,
            addresses=addresses,
        )

    def _on_alternate_phone_added(self, event: C.AlternatePhoneAdded) -> Iterable[Change]:
        self._effects.add_phone(
            event.originator_id, event.originator_version, event.timestamp, event.phone, event.label
        )
        return ()

    def _on_alternate_phone_removed(self, event: C.AlternatePhoneRemoved) -> Iterable[Change]:
        self._effects.remove_phone(event.originator_id, event.originator_version, event.timestamp, event.phone)
        return ()

    def _on_loan_number_linked(self, event: C.LoanNumberLinked) -> Iterable[Change]:
        self._effects.link_loan(event.originator_id, event.originator_version, event.timestamp, event.loan_number)
        return ()

    def _on_loan_number_unlinked(self, event: C.LoanNumberUnlinked) -> Iterable[Change]:
        self._effects.unlink_loan(event.originator_id, event.originator_version, event.timestamp, event.loan_number)
        return ()

    def _on_number_assigned(self, event: C.NumberAssigned) -> Iterable[Change]:
        self._effects.set(event.originator_id, event.originator_version, event.timestamp, number=event.number)
        return ()

    def _on_agent_assigned(self, event: C.AgentAssigned) -> Iterable[Change]:
        self._effects.set(event.originator_id, event.originator_version, event.timestamp, agent_id=event.agent_id)
        return ()

    def _on_note_added(self, event: C.NoteAdded) -> Iterable[Change]:
        self._effects.set(event.originator_id, event.originator_version, event.timestamp)
        return ()


#: The columns of a new borrower's row (`_on_registered`), inserted by `_BatchEffects.flush`.
_COLUMNS = ("id", "brand_id", "name", "name_key", "phone", "alternate_phones", "alternate_numbers", "email", "pan",
            "pan_masked", "date_of_birth", "addresses", "loan_numbers", "number", "agent_id", "version",
            "created_at", "updated_at")  # fmt: skip

#: The changes of a batch to rows of earlier batches, one row of the document per borrower (see _BatchEffects).
#: Each column follows what one event's UPDATE did: a field is kept when the batch gave no value for it (the last
#: value given wins); the alternate phones the batch removed are taken out of the stored ones before the phones it
#: added (the added ones the batch removed again are gone already) are appended; likewise the loan numbers the batch
#: unlinked are taken out of the stored ones before those it linked are appended.
_UPDATE_ROWS = (
    "UPDATE read.customers c SET name = coalesce(v.name, c.name), name_key = coalesce(lower(v.name), c.name_key), "
    "phone = coalesce(v.phone, c.phone), email = coalesce(v.email, c.email), pan = coalesce(v.pan, c.pan), "
    "pan_masked = coalesce(v.pan_masked, c.pan_masked), date_of_birth = coalesce(v.date_of_birth, c.date_of_birth), "
    "addresses = coalesce(v.addresses, c.addresses), number = coalesce(v.number, c.number), "
    "agent_id = coalesce(v.agent_id, c.agent_id), "
    "alternate_phones = CASE WHEN v.removed IS NULL THEN c.alternate_phones ELSE coalesce((SELECT jsonb_agg(p) "
    "FROM jsonb_array_elements(c.alternate_phones) p WHERE p->>'phone' <> ALL (v.removed)), '[]'::jsonb) END "
    "|| coalesce(v.phones, '[]'::jsonb), "
    "alternate_numbers = CASE WHEN v.removed IS NULL THEN c.alternate_numbers ELSE ARRAY(SELECT n "
    "FROM unnest(c.alternate_numbers) n WHERE n IS NULL OR n <> ALL (v.removed)) END "
    "|| coalesce(v.numbers, '{}'::text[]), "
    "loan_numbers = CASE WHEN v.unlinked IS NULL THEN c.loan_numbers ELSE ARRAY(SELECT n "
    "FROM unnest(c.loan_numbers) n WHERE n <> ALL (v.unlinked)) END || coalesce(v.loans, '{}'::text[]), "
    "version = v.version, updated_at = v.at "
    "FROM jsonb_to_recordset(%s::jsonb) AS v(id uuid, name text, phone text, email text, pan text, pan_masked text, "
    "date_of_birth date, addresses jsonb, number text, agent_id uuid, removed text[], phones jsonb, numbers text[], "
    "loans text[], unlinked text[], version int, at timestamptz) WHERE c.id = v.id"
)


_REGISTERED = topics_of(C.Registered)[0]
_IN_COLUMNS = ("originator_id", "originator_version")


def _fields(model: Any, exclude: tuple[str, ...] = ()) -> tuple[str, str, str]:
    """A model's field names and its required ones (two SQL text[] literals), and its defaults (a JSON object)."""
    fields = {n: f for n, f in model.model_fields.items() if n not in exclude}
    names = "{" + ",".join(fields) + "}"
    required = "{" + ",".join(n for n, f in fields.items() if f.is_required()) + "}"
    defaults = json_document({n: f.default for n, f in fields.items() if not f.is_required()})
    return names, required, defaults


_EVENT_FIELDS, _EVENT_REQUIRED, _ = _fields(C.Registered, _IN_COLUMNS)
_, _, _ADDRESS_DEFAULTS = _fields(Address)
_ADDRESS_DEFAULTED = "{" + ",".join(n for n, f in Address.model_fields.items() if not f.is_required()) + "}"

#: A batch's registrations stored as their class's JSON (`CustomerDirectory.applies_stored`), read from the event
#: store by position and inserted as `_on_registered` builds the row, their name words counted as `_count_names`
#: does. Stored JSON is the class's own (class version 1: docs/events.md -- a field removed, retyped or made required
#: needs a new class_version, and then the event is decoded in Python); what may still differ is an optional field
#: added since, which the model fills with its default: the event's optional fields the row reads default to None
#: (`->>` gives NULL), an address's defaulted fields are filled here as the model fills them (the one address of most borrowers
#: is taken as stored when it has them all: the merge costs a subquery a row). Stored JSON that the
#: class would not take at the top -- a field unknown or a required one missing -- raises
#: (`read.stored_event_rejected`), so the batch is applied again event by event through `project`, where the decode
#: fails and the event is recorded as failed, as it would have been. (Checking each address's keys too cost a
#: fifth of the statement's server time; the event schemas' check in `make test` covers them.)
_STORED_REGISTRATIONS = f"""WITH r AS MATERIALIZED (
    SELECT e.originator_id AS id, e.originator_version AS version, (j.s->>'brand_id')::uuid AS brand_id,
        j.s->>'name' AS name, lower(j.s->>'name') AS name_key, j.s->>'phone' AS phone, j.s->>'email' AS email,
        j.s->>'pan' AS pan, (j.s->>'date_of_birth')::date AS date_of_birth, j.s->>'number' AS number,
        (j.s->>'agent_id')::uuid AS agent_id,
        (j.s->>'timestamp')::timestamptz AS at,
        CASE WHEN jsonb_array_length(j.s->'addresses') = 1 AND j.s->'addresses'->0 ?& '{_ADDRESS_DEFAULTED}'
        THEN j.s->'addresses' ELSE (
            SELECT jsonb_agg('{_ADDRESS_DEFAULTS}'::jsonb || a ORDER BY i)
            FROM jsonb_array_elements(j.s->'addresses') WITH ORDINALITY AS x(a, i)
        ) END AS addresses, ARRAY(SELECT jsonb_array_elements_text(j.s->'loan_numbers')) AS loan_numbers,
        CASE WHEN j.s ?& '{_EVENT_REQUIRED}' AND j.s - '{_EVENT_FIELDS}'::text[] = '{{}}'
            AND jsonb_typeof(j.s->'addresses') = 'array' AND jsonb_typeof(j.s->'loan_numbers') = 'array'
        THEN true ELSE read.stored_event_rejected(e.notification_id) END AS taken
    FROM {{events}} e CROSS JOIN LATERAL (SELECT convert_from(e.state, 'UTF8')::jsonb AS s OFFSET 0) AS j
    WHERE e.notification_id = ANY(%s::bigint[])
), inserted AS (
    INSERT INTO read.customers ({", ".join(_COLUMNS)})
    SELECT id, brand_id, name, name_key, phone, '[]', '{{}}', email, pan,
        CASE WHEN pan <> '' THEN left(pan, 5) || '****' || right(pan, 1) END, date_of_birth,
        coalesce(addresses, '[]'), loan_numbers, number, agent_id, version, at, at
    FROM r WHERE taken ON CONFLICT DO NOTHING
)
INSERT INTO read.customer_name_vocabulary AS v (brand_id, word, place, borrowers)
SELECT r.brand_id, p.word, p.place, count(*) FROM r CROSS JOIN read.name_positions(r.name_key) AS p WHERE r.taken
GROUP BY 1, 2, 3
ON CONFLICT (brand_id, word, place) DO UPDATE SET borrowers = v.borrowers + excluded.borrowers"""

#: The same rows without the vocabulary counts, as a rebuild inserts them (`CustomerDirectory.rebuilt_statements`),
#: and without ON CONFLICT (a sixth of the statement's server time): a rebuild's tables start empty and a registration
#: is its aggregate's first event, so a conflict means a corrupt store -- the batch then fails and is applied again
#: event by event through `project`, whose INSERT does nothing on a conflict, as before.
_STORED_ROWS = (
    _STORED_REGISTRATIONS.replace("WITH r AS MATERIALIZED (", "WITH r AS (").split("), inserted AS (")[0]
    + ")\n"
    + _STORED_REGISTRATIONS.split("), inserted AS (\n", 1)[1]
    .split("\n)\nINSERT INTO read.customer_name_vocabulary")[0]
    .replace(" ON CONFLICT DO NOTHING", "")
)
assert "ON CONFLICT" not in _STORED_ROWS and "customer_name_vocabulary" not in _STORED_ROWS


class _BatchEffects:
    """A batch's effects on `read.customers`, gathered per row in memory and written at the batch's end.

    A borrower registered in the batch is a row dict that the batch's later events change in place, inserted with
    the batch's other new rows in one statement (`insert_rows`) -- one per ROWS new rows, sent as they fill, so the
    server inserts them while the next events are decoded; a row's changes after that go to the UPDATE. The changes to a borrower of an earlier batch are
    folded into one row of an UPDATE document (`_UPDATE_ROWS`), so the batch's changes to such rows are one
    statement too. Each follows what the events' one-by-one statements did, in order (the test
    tests/integration/test_directory_batching.py compares the two on a generated stream).

    What must see the row as written so far -- the vocabulary move of a rename, which reads the row's old name in
    SQL -- first writes out what was gathered for that row (`write_out`): a new row is inserted there and then, and
    the row's later changes in the batch go to the UPDATE document.
    """

    ROWS = 1000  # new rows per INSERT

    def __init__(self) -> None:
        # Keyed by the borrower's id as an int (UUIDs hash in Python code, ints do not):
        self.new: dict[int, dict[str, Any]] = {}  # rows registered in this batch, as they will be inserted
        self.inserted: set[int] = set()  # rows registered in this batch and sent already
        self.changed: dict[int, dict[str, Any]] = {}  # the UPDATE document's row of each earlier borrower

    def register(self, oid: UUID, row: dict[str, Any]) -> list[Change]:
        """A new borrower's row; written at once (after what was gathered for it) if the id was seen already."""
        key = oid.int
        if key in self.new or key in self.changed or key in self.inserted:  # Registered again: insert now, in order
            return [*self.write_out(oid), Insert("read.customers", row)]  # (it may well do nothing).
        self.new[key] = row
        if len(self.new) < self.ROWS:
            return []
        self.inserted.update(self.new)
        rows, self.new = list(self.new.values()), {}
        return [insert_rows("read.customers", _COLUMNS, rows)]

    def _changes(self, oid: UUID, version: int, at: Any) -> dict[str, Any]:
        change = self.changed.get(oid.int)
        if change is None:
            change = self.changed[oid.int] = {"id": oid}
        change["version"] = version
        change["at"] = at
        return change

    def set(self, oid: UUID, version: int, at: Any, **values: Any) -> None:
        """Columns given a value (None keeps the column as it is)."""
        row = self.new.get(oid.int)
        if row is not None:
            for column, value in values.items():  # (never a name: a rename writes the new row out first)
                if value is not None:
                    row[column] = value
            row["version"] = version
            row["updated_at"] = at
            return
        change = self._changes(oid, version, at)
        for column, value in values.items():
            if value is not None:
                change[column] = value

    def add_phone(self, oid: UUID, version: int, at: Any, phone: str, label: str | None) -> None:
        row = self.new.get(oid.int)
        if row is None:
            row = self._changes(oid, version, at)
            row.setdefault("phones", []).append({"phone": phone, "label": label})
            row.setdefault("numbers", []).append(phone)
            return
        row["alternate_phones"].append({"phone": phone, "label": label})
        row["alternate_numbers"].append(phone)
        row["version"] = version
        row["updated_at"] = at

    def remove_phone(self, oid: UUID, version: int, at: Any, phone: str) -> None:
        row = self.new.get(oid.int)
        if row is None:  # Out of the stored phones (in SQL) and of those the batch added.
            change = self._changes(oid, version, at)
            removed = change.setdefault("removed", [])
            if phone not in removed:
                removed.append(phone)
            if "phones" in change:
                change["phones"] = [p for p in change["phones"] if p["phone"] != phone]
                change["numbers"] = [n for n in change["numbers"] if n != phone]
            return
        row["alternate_phones"] = [p for p in row["alternate_phones"] if p["phone"] != phone]
        row["alternate_numbers"] = [n for n in row["alternate_numbers"] if n != phone]
        row["version"] = version
        row["updated_at"] = at

    def link_loan(self, oid: UUID, version: int, at: Any, loan_number: str) -> None:
        row = self.new.get(oid.int)
        if row is None:
            self._changes(oid, version, at).setdefault("loans", []).append(loan_number)
            return
        row["loan_numbers"].append(loan_number)
        row["version"] = version
        row["updated_at"] = at

    def unlink_loan(self, oid: UUID, version: int, at: Any, loan_number: str) -> None:
        row = self.new.get(oid.int)
        if row is None:  # Out of the stored numbers (in SQL) and of those the batch linked.
            change = self._changes(oid, version, at)
            unlinked = change.setdefault("unlinked", [])
            if loan_number not in unlinked:
                unlinked.append(loan_number)
            if "loans" in change:
                change["loans"] = [n for n in change["loans"] if n != loan_number]
            return
        row["loan_numbers"] = [n for n in row["loan_numbers"] if n != loan_number]
        row["version"] = version
        row["updated_at"] = at

    def write_out(self, oid: UUID) -> list[Change]:
        """Write what was gathered for one row now; the row's later changes in the batch go to the UPDATE."""
        row = self.new.pop(oid.int, None)
        if row is not None:
            return [Insert("read.customers", row)]
        change = self.changed.pop(oid.int, None)
        return [] if change is None else [_update(change)]

    def flush(self) -> list[Change]:
        """The new rows (one statement, see Insert), then the changes to earlier rows (one statement)."""
        writes: list[Change] = []
        if self.new:  # Built here, not as Insert changes: a batch's new rows are all known by now.
            writes.append(insert_rows("read.customers", _COLUMNS, list(self.new.values())))
        if self.changed:
            writes.append(_updates(list(self.changed.values())))
        self.new, self.changed, self.inserted = {}, {}, set()
        return writes


def _update(change: dict[str, Any]) -> Write:
    return _updates([change])


def _updates(changes: list[dict[str, Any]]) -> Write:
    """One UPDATE of the rows of the document (`_UPDATE_ROWS`); columns not in a row's dict are NULL there."""
    return Write(_UPDATE_ROWS, (json_document(changes),))


#: The directory's row changes per event type.
_DIRECTORY_WRITES: dict[type[Any], Callable[[CustomerDirectory, Any], Iterable[Change]]] = {
    C.Registered: CustomerDirectory._on_registered,
    C.DetailsUpdated: CustomerDirectory._on_details_updated,
    C.AlternatePhoneAdded: CustomerDirectory._on_alternate_phone_added,
    C.AlternatePhoneRemoved: CustomerDirectory._on_alternate_phone_removed,
    C.LoanNumberLinked: CustomerDirectory._on_loan_number_linked,
    C.LoanNumberUnlinked: CustomerDirectory._on_loan_number_unlinked,
    C.NumberAssigned: CustomerDirectory._on_number_assigned,
    C.AgentAssigned: CustomerDirectory._on_agent_assigned,
    C.NoteAdded: CustomerDirectory._on_note_added,
}


#: What the timeline shows of an event: (kind, human summary, details).
Summary = tuple[str, str, dict[str, object]]


def _registered(event: C.Registered) -> Summary:
    details: dict[str, object] = {"loan_numbers": list(event.loan_numbers), "pan": mask_pan(event.pan)}
    if event.number is not None:
        details["number"] = event.number
    if event.agent_id is not None:
        details["agent_id"] = str(event.agent_id)
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


def _loan_number_unlinked(event: C.LoanNumberUnlinked) -> Summary:
    summary = f"Unlinked loan {event.loan_number}: {event.reason}"
    return "loan_unlinked", summary, {"loan_number": event.loan_number, "reason": event.reason}


def _number_assigned(event: C.NumberAssigned) -> Summary:
    return "number_assigned", f"Given the id {event.number}", {"number": event.number}


def _agent_assigned(event: C.AgentAssigned) -> Summary:
    # The agents' names are the portal's to show (read.staff): the summary holds the reason, the details the ids.
    details: dict[str, object] = {"agent_id": str(event.agent_id), "reason": event.reason}
    if event.previous_agent_id is not None:
        details["previous_agent_id"] = str(event.previous_agent_id)
    return "agent_assigned", f"Moved to another agent: {event.reason}", details


#: How much of a note the timeline's summary shows (the notes list shows it whole).
NOTE_EXCERPT = 80


def _note_added(event: C.NoteAdded) -> Summary:
    line = " ".join(event.text.split())
    excerpt = line if len(line) <= NOTE_EXCERPT else line[: NOTE_EXCERPT - 1] + "…"
    details: dict[str, object] = {"note_id": str(event.note_id)}
    if event.loan_id is not None:
        details["loan_id"] = str(event.loan_id)
    if event.callback_at is not None:
        details["callback_at"] = event.callback_at.isoformat()
    return "note_added", f"Note: {excerpt}", details


#: The timeline entry of each event type.
_SUMMARIES: dict[type[Any], Callable[[Any], Summary]] = {
    C.Registered: _registered,
    C.DetailsUpdated: _details_updated,
    C.AlternatePhoneAdded: _alternate_phone_added,
    C.AlternatePhoneRemoved: _alternate_phone_removed,
    C.LoanNumberLinked: _loan_number_linked,
    C.LoanNumberUnlinked: _loan_number_unlinked,
    C.NumberAssigned: _number_assigned,
    C.AgentAssigned: _agent_assigned,
    C.NoteAdded: _note_added,
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
