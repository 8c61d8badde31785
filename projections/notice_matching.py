"""Read models notice matching works from: the borrower name keys it blocks on and the rematch queue of borrowers
whose changes can change matches (both fed by borrower events)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.customers.customer import CustomerRecord
from domain.notices.matching import name_keys
from projections.projection import Projection, Write, topics_of

C = CustomerRecord


class NoticeRematchQueue(Projection):
    """Borrower records that changed in a way that can change notice matches (a queue the rematch worker drains)."""

    name = "notice_rematch_queue"
    source = "customers"
    topics = topics_of(
        C.Registered,
        C.DetailsUpdated,
        C.AlternatePhoneAdded,
        C.AlternatePhoneRemoved,
        C.LoanNumberLinked,
        C.LoanNumberUnlinked,
    )
    tables = ("read.notice_rematch_queue",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.notice_rematch_queue (
            customer_id uuid PRIMARY KEY,
            position bigint NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS notice_rematch_queue_position_idx ON read.notice_rematch_queue (position)",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        yield Write(
            "INSERT INTO read.notice_rematch_queue (customer_id, position) VALUES (%s, %s) "
            "ON CONFLICT (customer_id) DO UPDATE SET position = EXCLUDED.position",
            (event.originator_id, position),
        )


class NoticeNameKeys(Projection):
    """Borrower records by the keys notice matching blocks on (`domain.notices.matching.name_keys`): the whole
    name, word order aside, and each pair of its words. A notice's name finds the few borrowers it could match by
    name with one index probe per key (`NoticeQueries.borrowers_by_name`), fewest words first."""

    name = "notice_name_keys"
    source = "customers"
    topics = topics_of(C.Registered, C.DetailsUpdated)
    tables = ("read.notice_name_keys",)
    ddl = (
        # Keys compare bytewise (COLLATE "C"): a key prefix is one index range whatever the database's collation.
        """CREATE TABLE IF NOT EXISTS read.notice_name_keys (
            customer_id uuid NOT NULL,
            key text COLLATE "C" NOT NULL,
            brand_id uuid NOT NULL,
            words smallint NOT NULL,
            PRIMARY KEY (customer_id, key)
        )""",
        "CREATE INDEX IF NOT EXISTS notice_name_keys_idx ON read.notice_name_keys (brand_id, key, words, customer_id)",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        if isinstance(event, C.Registered):
            words, keys = name_keys(event.name)
            yield Write(
                "INSERT INTO read.notice_name_keys (customer_id, key, brand_id, words) "
                "SELECT %s, k, %s, %s FROM unnest(%s::text[]) AS k ON CONFLICT DO NOTHING",
                (event.originator_id, event.brand_id, words, keys),
            )
        elif isinstance(event, C.DetailsUpdated) and event.name is not None:
            # The event does not name the brand: the borrower's present keys do (its whole name always has one).
            words, keys = name_keys(event.name)
            yield Write(
                "INSERT INTO read.notice_name_keys (customer_id, key, brand_id, words) "
                "SELECT %(id)s, k, o.brand_id, %(words)s FROM (SELECT brand_id FROM read.notice_name_keys "
                "WHERE customer_id = %(id)s LIMIT 1) AS o CROSS JOIN unnest(%(keys)s::text[]) AS k "
                "ON CONFLICT (customer_id, key) DO UPDATE SET words = EXCLUDED.words",
                {"id": event.originator_id, "words": words, "keys": keys},
            )
            yield Write(
                "DELETE FROM read.notice_name_keys WHERE customer_id = %s AND key <> ALL(%s::text[])",
                (event.originator_id, keys),
            )


class NoticeBorrowerKeys(Projection):
    """Borrower records by their loan numbers and alternate phones, one B-tree row each: a sync page's few hundred
    loan numbers and phones find their borrowers in one index scan (`NoticeQueries.borrowers_by_loan_or_phone`).

    read.customers holds the same values as arrays under GIN indexes, but a GIN index is read by bitmap scans only:
    probing one number at a time cost 20-45 us each at a million borrowers (about 23 ms a page of 500 notices), and one
    `&&` over a page's numbers is estimated so unselective that the planner scans the table. Primary phones are
    read from read.customers' own B-tree. The brand is checked on the borrower's row when the candidates are read:
    the keys are the values alone, so an alternate phone or linked loan needs no lookup of the brand to be filed."""

    name = "notice_borrower_keys"
    source = "customers"
    topics = topics_of(
        C.Registered, C.AlternatePhoneAdded, C.AlternatePhoneRemoved, C.LoanNumberLinked, C.LoanNumberUnlinked
    )
    tables = ("read.notice_borrower_keys",)
    ddl = (
        # kind: "loan" (as the record holds it) or "alternate" (an alternate phone, E.164).
        """CREATE TABLE IF NOT EXISTS read.notice_borrower_keys (
            kind text COLLATE "C" NOT NULL,
            key text COLLATE "C" NOT NULL,
            customer_id uuid NOT NULL,
            PRIMARY KEY (kind, key, customer_id)
        )""",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        insert = (
            "INSERT INTO read.notice_borrower_keys (kind, key, customer_id) "
            "SELECT %s, k, %s FROM unnest(%s::text[]) AS k ON CONFLICT DO NOTHING"
        )
        if isinstance(event, C.Registered):
            if event.loan_numbers:
                yield Write(insert, ("loan", event.originator_id, list(event.loan_numbers)))
        elif isinstance(event, C.LoanNumberLinked):
            yield Write(insert, ("loan", event.originator_id, [event.loan_number]))
        elif isinstance(event, C.LoanNumberUnlinked):
            yield Write(
                "DELETE FROM read.notice_borrower_keys WHERE kind = 'loan' AND key = %s AND customer_id = %s",
                (event.loan_number, event.originator_id),
            )
        elif isinstance(event, C.AlternatePhoneAdded):
            yield Write(insert, ("alternate", event.originator_id, [event.phone]))
        elif isinstance(event, C.AlternatePhoneRemoved):
            yield Write(
                "DELETE FROM read.notice_borrower_keys WHERE kind = 'alternate' AND key = %s AND customer_id = %s",
                (event.phone, event.originator_id),
            )
