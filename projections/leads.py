"""Read models of leads: `read.leads` (one row per lead, its attribution and funnel status), `read.lead_events`
(every funnel step a lead took, for conversion figures), `read.lead_imports` (each uploaded file and its result
table) and `read.lead_name_keys` (the blocking keys a lead's name is filed under). Columns: docs/leads.md."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.leads.application import Leads
from domain.leads.dedupe import lead_name_keys
from domain.leads.lead import Lead, LeadImport, LeadStatus
from projections.projection import Insert, Projection, Write, handles

L = Lead


class LeadViews(Projection):
    """Leads, their funnel steps, imports and name keys."""

    name = "leads"
    source = Leads.name
    tables = ("read.leads", "read.lead_events", "read.lead_imports", "read.lead_name_keys")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.leads (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            import_id uuid NOT NULL,
            line int NOT NULL,
            source text NOT NULL,
            is_organic boolean NOT NULL,
            name text NOT NULL,
            phone text,
            email text,
            pan text,
            external_id text,
            campaign_id text,
            campaign_name text,
            adset_name text,
            ad_name text,
            form_name text,
            platform text,
            city text,
            submitted_at timestamptz,
            status text NOT NULL,
            borrower_id uuid,
            match_kind text,
            match_score int,
            matched_kind text,
            matched_id uuid,
            version int NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS leads_brand_idx ON read.leads (brand_id, created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS leads_status_idx ON read.leads (brand_id, status, created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS leads_source_idx ON read.leads (brand_id, source, created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS leads_phone_idx ON read.leads (brand_id, phone)",
        "CREATE INDEX IF NOT EXISTS leads_email_idx ON read.leads (brand_id, email)",
        # The import's lookup of known emails ignores case, as its dedupe does (LeadQueries.known).
        "CREATE INDEX IF NOT EXISTS leads_email_lower_idx ON read.leads (brand_id, lower(email)) WHERE email IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS leads_pan_idx ON read.leads (brand_id, pan) WHERE pan IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS leads_borrower_idx ON read.leads (borrower_id) WHERE borrower_id IS NOT NULL",
        """CREATE TABLE IF NOT EXISTS read.lead_events (
            lead_id uuid NOT NULL,
            version int NOT NULL,
            brand_id uuid NOT NULL,
            status text NOT NULL,
            is_organic boolean NOT NULL,
            actor text NOT NULL,
            at timestamptz NOT NULL,
            PRIMARY KEY (lead_id, version)
        )""",
        "CREATE INDEX IF NOT EXISTS lead_events_brand_idx ON read.lead_events (brand_id, at, status)",
        """CREATE TABLE IF NOT EXISTS read.lead_imports (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            source text NOT NULL,
            filename text NOT NULL,
            rows int NOT NULL,
            created int NOT NULL,
            duplicates int NOT NULL,
            rejected int NOT NULL,
            organic int NOT NULL,
            matched jsonb NOT NULL,
            lines jsonb NOT NULL,
            imported_by text NOT NULL,
            imported_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS lead_imports_brand_idx ON read.lead_imports (brand_id, imported_at DESC, id DESC)",
        """CREATE TABLE IF NOT EXISTS read.lead_name_keys (
            lead_id uuid NOT NULL,
            key text COLLATE "C" NOT NULL,
            brand_id uuid NOT NULL,
            PRIMARY KEY (lead_id, key)
        )""",
        "CREATE INDEX IF NOT EXISTS lead_name_keys_idx ON read.lead_name_keys (brand_id, key, lead_id)",
    )

    @handles(L.Captured)
    def _captured(self, position: int, event: L.Captured) -> Iterable[Insert | Write]:
        d = event.details
        yield Insert(
            "read.leads",
            {
                "id": event.originator_id, "brand_id": event.brand_id, "import_id": event.import_id,
                "line": event.line, "source": d.source, "is_organic": d.is_organic, "name": d.name,
                "phone": d.phone, "email": d.email, "pan": d.pan, "external_id": d.external_id,
                "campaign_id": d.campaign_id, "campaign_name": d.campaign_name, "adset_name": d.adset_name,
                "ad_name": d.ad_name, "form_name": d.form_name, "platform": d.platform, "city": d.city,
                "submitted_at": d.submitted_at, "status": LeadStatus.NEW.value, "borrower_id": event.borrower_id,
                "match_kind": event.match_kind, "match_score": event.match_score, "matched_kind": event.matched_kind,
                "matched_id": event.matched_id, "version": event.originator_version,
                "created_at": event.timestamp, "updated_at": event.timestamp,
            },
        )  # fmt: skip
        yield Insert(
            "read.lead_events",
            {
                "lead_id": event.originator_id, "version": event.originator_version, "brand_id": event.brand_id,
                "status": LeadStatus.NEW.value, "is_organic": d.is_organic, "actor": event.actor,
                "at": event.timestamp,
            },
        )  # fmt: skip
        for key in lead_name_keys(d.name):
            yield Insert(
                "read.lead_name_keys", {"lead_id": event.originator_id, "key": key, "brand_id": event.brand_id}
            )

    @handles(L.StatusChanged)
    def _status(self, position: int, event: L.StatusChanged) -> Iterable[Write]:
        yield Write(
            "UPDATE read.leads SET status = %s, version = %s, updated_at = %s WHERE id = %s",
            (event.status.value, event.originator_version, event.timestamp, event.originator_id),
        )
        yield Write(
            "INSERT INTO read.lead_events (lead_id, version, brand_id, status, is_organic, actor, at) "
            "SELECT id, %s, brand_id, %s, is_organic, %s, %s FROM read.leads WHERE id = %s ON CONFLICT DO NOTHING",
            (event.originator_version, event.status.value, event.actor, event.timestamp, event.originator_id),
        )

    @handles(L.LinkedToBorrower)
    def _linked(self, position: int, event: L.LinkedToBorrower) -> Iterable[Write]:
        yield Write(
            "UPDATE read.leads SET borrower_id = %s, version = %s, updated_at = %s WHERE id = %s",
            (event.borrower_id, event.originator_version, event.timestamp, event.originator_id),
        )

    @handles(LeadImport.Imported)
    def _imported(self, position: int, event: LeadImport.Imported) -> Iterable[Insert]:
        lines: list[dict[str, Any]] = [line.model_dump(mode="json") for line in event.lines]
        yield Insert(
            "read.lead_imports",
            {
                "id": event.originator_id, "brand_id": event.brand_id, "source": event.source,
                "filename": event.filename, "rows": event.rows, "created": event.created,
                "duplicates": event.duplicates, "rejected": sum(1 for x in lines if x["outcome"] == "rejected"),
                "organic": event.organic, "matched": event.matched, "lines": lines, "imported_by": event.actor,
                "imported_at": event.timestamp,
            },
        )  # fmt: skip
