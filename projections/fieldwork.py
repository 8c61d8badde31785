"""Read models of the fieldwork context: the brand's dialer settings and extensions, each dialer call, and field
visits (the agent's list, a loan's visits), with their typed queries."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from domain.fieldwork.application import FieldWork
from domain.fieldwork.dialer import CallStatus, DialerCall, DialerSetup
from domain.fieldwork.visit import FieldVisit
from projections.business_days import LOCAL_DAY_FUNCTION
from projections.keyset import KeysetCursor
from projections.projection import Change, Insert, Projection, Write, handles

#: Visits and calls are listed newest first by (created_at, id).
VISITS_CURSOR = KeysetCursor(datetime, UUID, name="field-visits")
CALLS_CURSOR = KeysetCursor(datetime, UUID, name="field-calls")

D = DialerSetup
C = DialerCall
V = FieldVisit


class FieldworkView(Projection):
    """read.dialer_settings (one row per brand), read.dialer_extensions, read.dialer_calls, read.field_visits."""

    name = "fieldwork"
    source = FieldWork.name
    tables = (
        "read.dialer_settings",
        "read.dialer_extensions",
        "read.dialer_calls",
        "read.dialer_call_days",
        "read.field_visits",
    )
    ddl = (
        LOCAL_DAY_FUNCTION,  # the calls' days (also the loans read model's: whichever is set up first makes it)
        """CREATE TABLE IF NOT EXISTS read.dialer_settings (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL UNIQUE,
            enabled boolean NOT NULL,
            account_id text,
            token_hint text,
            changed_by text NOT NULL,
            changed_at timestamptz NOT NULL
        )""",
        # The settings' version (the aggregate's: If-Match and the portal form's stale check): added after the table's
        # first version, so added when missing; null for rows projected before, until their next change.
        "ALTER TABLE read.dialer_settings ADD COLUMN IF NOT EXISTS version int",
        """CREATE TABLE IF NOT EXISTS read.dialer_extensions (
            setup_id uuid NOT NULL,
            brand_id uuid NOT NULL,
            staff_id uuid NOT NULL,
            extension text NOT NULL,
            PRIMARY KEY (setup_id, staff_id)
        )""",
        "CREATE INDEX IF NOT EXISTS dialer_extensions_brand_idx ON read.dialer_extensions (brand_id, staff_id)",
        """CREATE TABLE IF NOT EXISTS read.dialer_calls (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            loan_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            staff_id uuid NOT NULL,
            extension text NOT NULL,
            destination text NOT NULL,
            alternate boolean NOT NULL,
            provider_call_id text NOT NULL,
            status text NOT NULL,
            duration_seconds int NOT NULL DEFAULT 0,
            recording_url text,
            contact_logged boolean NOT NULL DEFAULT false,
            placed_at timestamptz NOT NULL,
            ended_at timestamptz,
            day date  -- the brand's local day it was counted on in read.dialer_call_days (`_placed`)
        )""",
        # A table made before it kept the day: the day of each call as its end would have worked it out.
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'read.dialer_calls'::regclass "
        "AND attname = 'day' AND NOT attisdropped) THEN ALTER TABLE read.dialer_calls ADD COLUMN day date; "
        "UPDATE read.dialer_calls SET day = read.brand_local_day(brand_id, placed_at); END IF; END $$",
        "CREATE INDEX IF NOT EXISTS dialer_calls_loan_idx ON read.dialer_calls (brand_id, loan_id, placed_at DESC, id)",
        "CREATE INDEX IF NOT EXISTS dialer_calls_brand_idx ON read.dialer_calls (brand_id, placed_at)",
        # Calls per executive and the brand's local day (`read.brand_local_day`), so the dashboard sums days, not calls.
        """CREATE TABLE IF NOT EXISTS read.dialer_call_days (
            brand_id uuid NOT NULL,
            day date NOT NULL,
            staff_id uuid NOT NULL,
            calls int NOT NULL DEFAULT 0,
            answered int NOT NULL DEFAULT 0,
            talk_seconds bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (brand_id, day, staff_id)
        )""",
        "CREATE INDEX IF NOT EXISTS dialer_calls_staff_idx ON read.dialer_calls (brand_id, staff_id, placed_at DESC)",
        # The dashboard's window of days read index-only (the figures included), not from the table.
        "CREATE INDEX IF NOT EXISTS dialer_call_days_window_idx ON read.dialer_call_days (brand_id, day) "
        "INCLUDE (staff_id, calls, answered, talk_seconds)",
        """CREATE TABLE IF NOT EXISTS read.field_visits (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            loan_id uuid NOT NULL,
            loan_number text NOT NULL,
            customer_id uuid NOT NULL,
            assignee_id uuid NOT NULL,
            reason text NOT NULL,
            due_on date,
            address text NOT NULL,
            status text NOT NULL,
            outcome text,
            remarks text,
            latitude numeric(9, 6),
            longitude numeric(9, 6),
            visited_at timestamptz,
            photos jsonb NOT NULL DEFAULT '[]',
            cancel_reason text,
            flagged_by text NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS field_visits_agent_idx ON read.field_visits "
        "(brand_id, assignee_id, status, created_at DESC, id)",
        "CREATE INDEX IF NOT EXISTS field_visits_agent_all_idx ON read.field_visits "
        "(brand_id, assignee_id, created_at DESC, id)",
        "CREATE INDEX IF NOT EXISTS field_visits_brand_idx ON read.field_visits (brand_id, status, created_at DESC, id)",
        # field-visit-report's key (keyset pages, a date range's rows: all dates' first page ~90 ms -> ~4 ms at 150k)
        "CREATE INDEX IF NOT EXISTS field_visits_created_idx ON read.field_visits (brand_id, created_at, id)",
        "CREATE INDEX IF NOT EXISTS field_visits_loan_idx ON read.field_visits (brand_id, loan_id, created_at DESC)",
    )

    # Dialer settings --------------------------------------------------------------------------------------------

    @handles(D.Configured)
    def _configured(self, position: int, event: D.Configured) -> Iterable[Change]:
        yield Write(
            "INSERT INTO read.dialer_settings (id, brand_id, enabled, account_id, token_hint, changed_by, changed_at, "
            "version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (event.originator_id, event.brand_id, event.enabled, event.account_id, event.token_hint, event.actor,
             event.timestamp, event.originator_version),
        )  # fmt: skip

    @handles(D.Changed)
    def _changed(self, position: int, event: D.Changed) -> Iterable[Change]:
        yield Write(
            "UPDATE read.dialer_settings SET enabled = %s, account_id = %s, token_hint = %s, changed_by = %s, "
            "changed_at = %s, version = %s WHERE id = %s",
            (
                event.enabled,
                event.account_id,
                event.token_hint,
                event.actor,
                event.timestamp,
                event.originator_version,
                event.originator_id,
            ),
        )

    @handles(D.ExtensionSet)
    def _extension(self, position: int, event: D.ExtensionSet) -> Iterable[Change]:
        yield Write(
            "UPDATE read.dialer_settings SET version = %s WHERE id = %s",
            (event.originator_version, event.originator_id),
        )
        if event.extension is None:
            yield Write(
                "DELETE FROM read.dialer_extensions WHERE setup_id = %s AND staff_id = %s",
                (event.originator_id, event.staff_id),
            )
            return
        yield Write(
            "INSERT INTO read.dialer_extensions (setup_id, brand_id, staff_id, extension) "
            "SELECT id, brand_id, %s, %s FROM read.dialer_settings WHERE id = %s "
            "ON CONFLICT (setup_id, staff_id) DO UPDATE SET extension = EXCLUDED.extension",
            (event.staff_id, event.extension, event.originator_id),
        )

    # Calls ------------------------------------------------------------------------------------------------------

    @handles(C.Placed)
    def _placed(self, position: int, event: C.Placed) -> Iterable[Change]:
        yield Insert(
            "read.dialer_calls",
            {
                "id": event.originator_id,
                "brand_id": event.brand_id,
                "loan_id": event.loan_id,
                "customer_id": event.customer_id,
                "staff_id": event.staff_id,
                "extension": event.extension,
                "destination": event.destination,
                "alternate": event.alternate,
                "provider_call_id": event.provider_call_id,
                "status": "placed",
                "placed_at": event.timestamp,
            },
        )
        # The day is worked out once, kept on the call, and its end counted on that day: worked out again at the end,
        # a timezone change projected between the two (the brand directory's runner behind, or being rebuilt) put the
        # end on another day, where its answer and talk time were lost or landed on another day's row.
        yield Write(
            "WITH c AS (UPDATE read.dialer_calls SET day = read.brand_local_day(brand_id, placed_at) WHERE id = %s "
            "RETURNING brand_id, day, staff_id) "
            "INSERT INTO read.dialer_call_days (brand_id, day, staff_id, calls) SELECT brand_id, day, staff_id, 1 FROM c "
            "ON CONFLICT (brand_id, day, staff_id) DO UPDATE SET calls = read.dialer_call_days.calls + 1",
            (event.originator_id,),
        )

    @handles(C.Ended)
    def _ended(self, position: int, event: C.Ended) -> Iterable[Change]:
        yield Write(
            "UPDATE read.dialer_calls SET status = %s, duration_seconds = %s, recording_url = %s, ended_at = %s "
            "WHERE id = %s",
            (event.status.value, event.duration_seconds, event.recording_url, event.ended_at, event.originator_id),
        )
        answered = 1 if event.status is CallStatus.ANSWERED else 0
        yield Write(
            "UPDATE read.dialer_call_days d SET answered = d.answered + %s, talk_seconds = d.talk_seconds + %s "
            "FROM read.dialer_calls c WHERE c.id = %s AND d.brand_id = c.brand_id AND d.staff_id = c.staff_id "
            "AND d.day = COALESCE(c.day, read.brand_local_day(c.brand_id, c.placed_at))",
            (answered, event.duration_seconds, event.originator_id),
        )

    @handles(C.ContactLogged)
    def _logged(self, position: int, event: C.ContactLogged) -> Iterable[Change]:
        yield Write("UPDATE read.dialer_calls SET contact_logged = true WHERE id = %s", (event.originator_id,))

    # Field visits -----------------------------------------------------------------------------------------------

    @handles(V.Flagged)
    def _flagged(self, position: int, event: V.Flagged) -> Iterable[Change]:
        yield Insert(
            "read.field_visits",
            {
                "id": event.originator_id,
                "brand_id": event.brand_id,
                "loan_id": event.loan_id,
                "loan_number": event.loan_number,
                "customer_id": event.customer_id,
                "assignee_id": event.assignee_id,
                "reason": event.reason,
                "due_on": event.due_on,
                "address": event.address,
                "status": "assigned",
                "flagged_by": event.actor,
                "created_at": event.timestamp,
                "updated_at": event.timestamp,
            },
        )

    @handles(V.Reassigned)
    def _reassigned(self, position: int, event: V.Reassigned) -> Iterable[Change]:
        yield Write(
            "UPDATE read.field_visits SET assignee_id = %s, updated_at = %s WHERE id = %s",
            (event.assignee_id, event.timestamp, event.originator_id),
        )

    @handles(V.Visited)
    def _visited(self, position: int, event: V.Visited) -> Iterable[Change]:
        photos = json.dumps([p.model_dump(mode="json") for p in event.photos])
        yield Write(
            "UPDATE read.field_visits SET status = 'visited', outcome = %s, remarks = %s, latitude = %s, "
            "longitude = %s, visited_at = %s, photos = %s::jsonb, updated_at = %s WHERE id = %s",
            (event.outcome.value, event.remarks, event.latitude, event.longitude, event.visited_at, photos,
             event.timestamp, event.originator_id),
        )  # fmt: skip

    @handles(V.PhotoAdded)
    def _photo(self, position: int, event: V.PhotoAdded) -> Iterable[Change]:
        yield Write(
            "UPDATE read.field_visits SET photos = photos || %s::jsonb, updated_at = %s WHERE id = %s",
            (json.dumps([event.photo.model_dump(mode="json")]), event.timestamp, event.originator_id),
        )

    @handles(V.Cancelled)
    def _cancelled(self, position: int, event: V.Cancelled) -> Iterable[Change]:
        yield Write(
            "UPDATE read.field_visits SET status = 'cancelled', cancel_reason = %s, updated_at = %s WHERE id = %s",
            (event.reason, event.timestamp, event.originator_id),
        )
