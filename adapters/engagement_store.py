"""Message templates (versioned) and borrowers' messaging preferences in PostgreSQL (issue #17, docs/engagement.md).

- `ops.message_templates`: one row per template (brand, name, channel, language, kind), pointing at its latest
  version; `ops.message_template_versions`: every version's subject and body, who wrote it and, for WhatsApp, its
  approval state. A change never edits a version: it adds the next one, so each message names the version it used.
  A WhatsApp version also keeps its submission to WhatsApp's review (the provider's template id, when and by whom,
  how many times) and the reason of a rejection. Every verdict and every submission writes its audit entry
  (`MessageTemplateApprovalRecorded`, `MessageTemplateSubmitted` on the `MessageTemplate`) in the same transaction.
- `ops.messaging_preferences`: a borrower's language and the channels they opted out of (DND / opt-out), with when
  and why; read by every send. Every change also writes its audit entry (`adapters/ops_activity.py`,
  `MessagingPreferencesChanged` on the borrower's record: who, when, the values before and after) in the same
  transaction, so the entries are the preferences' whole history (`preference_history`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from adapters import ops_activity
from adapters.ops_activity import OpsEntry
from domain.engagement.templates import UNSENDABLE_STATUSES
from domain.shared.ddl import unless_present

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.message_templates (
        id uuid PRIMARY KEY,
        brand_id uuid NOT NULL,
        name text NOT NULL,
        kind text NOT NULL,
        channel text NOT NULL,
        language text NOT NULL,
        version int NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        UNIQUE (brand_id, name, channel, language)
    )""",
    "CREATE INDEX IF NOT EXISTS message_templates_kind_idx ON ops.message_templates (brand_id, kind, channel, language)",
    "CREATE INDEX IF NOT EXISTS message_templates_list_idx ON ops.message_templates (brand_id, created_at, id)",
    """CREATE TABLE IF NOT EXISTS ops.message_template_versions (
        template_id uuid NOT NULL,
        version int NOT NULL,
        subject text,
        body text NOT NULL,
        approval text,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (template_id, version)
    )""",
    """CREATE TABLE IF NOT EXISTS ops.messaging_preferences (
        brand_id uuid NOT NULL,
        customer_id uuid NOT NULL,
        language text NOT NULL DEFAULT 'en',
        opted_out text[] NOT NULL DEFAULT '{}',
        reason text,
        changed_by text NOT NULL,
        changed_at timestamptz NOT NULL,
        PRIMARY KEY (brand_id, customer_id)
    )""",
    # The preferences' version (ETag, If-Match): added after the table's first version, so added when missing; rows
    # stored before count as version 1 (0 is a borrower whose preferences were never set).
    "ALTER TABLE ops.messaging_preferences ADD COLUMN IF NOT EXISTS version int NOT NULL DEFAULT 1",
    # WhatsApp's review of a version (added after the table's first version, so added when missing): the reason of a
    # rejection, and the version's submission to the provider (its template id there, when, by whom, how many).
    "ALTER TABLE ops.message_template_versions ADD COLUMN IF NOT EXISTS approval_reason text",
    "ALTER TABLE ops.message_template_versions ADD COLUMN IF NOT EXISTS whatsapp_template_id text",
    "ALTER TABLE ops.message_template_versions ADD COLUMN IF NOT EXISTS whatsapp_submitted_at timestamptz",
    "ALTER TABLE ops.message_template_versions ADD COLUMN IF NOT EXISTS whatsapp_submitted_by text",
    "ALTER TABLE ops.message_template_versions ADD COLUMN IF NOT EXISTS whatsapp_submissions int NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS message_template_versions_whatsapp_idx ON ops.message_template_versions "
    "(whatsapp_template_id) WHERE whatsapp_template_id IS NOT NULL",
    # What WhatsApp reported of the version after its verdict (flagged, paused, disabled, reinstated, pending
    # deletion, deleted) with its reason, and the provider's instant of the latest of its events applied (a verdict
    # or a status): an event older than that one is stale and changes nothing.
    "ALTER TABLE ops.message_template_versions ADD COLUMN IF NOT EXISTS whatsapp_status text",
    "ALTER TABLE ops.message_template_versions ADD COLUMN IF NOT EXISTS whatsapp_status_reason text",
    "ALTER TABLE ops.message_template_versions ADD COLUMN IF NOT EXISTS whatsapp_status_at timestamptz",
)
_SETUP_LOCK = 0x454E4754  # "ENGT"

_TEMPLATE = (
    "t.id, t.brand_id, t.name, t.kind, t.channel, t.language, t.version, t.created_at, t.updated_at, "
    "v.subject, v.body, v.approval, v.created_by, v.approval_reason, v.whatsapp_template_id, v.whatsapp_submitted_at, "
    "v.whatsapp_submitted_by, v.whatsapp_submissions, v.whatsapp_status, v.whatsapp_status_reason, "
    "v.whatsapp_status_at"
)


@dataclass(frozen=True)
class Template:
    """A template at one version (its latest unless asked for another)."""

    id: UUID
    brand_id: UUID
    name: str
    kind: str
    channel: str
    language: str
    version: int
    created_at: datetime
    updated_at: datetime
    subject: str | None
    body: str
    approval: str | None
    created_by: str
    #: Why WhatsApp rejected the version (its reason, or the one staff recorded).
    approval_reason: str | None = None
    #: The version's submission to WhatsApp's review: the provider's template id, when, by whom, how many times.
    whatsapp_template_id: str | None = None
    whatsapp_submitted_at: datetime | None = None
    whatsapp_submitted_by: str | None = None
    whatsapp_submissions: int = 0
    #: What WhatsApp reported of the version since its verdict (`WhatsAppStatus`: paused, disabled, flagged, ...;
    #: None: nothing), its reason, and the provider's instant of the latest of its events we applied.
    whatsapp_status: str | None = None
    whatsapp_status_reason: str | None = None
    whatsapp_status_at: datetime | None = None


#: The audit entries of a WhatsApp template version's verdict and of its submission to WhatsApp's review.
APPROVAL_RECORDED = "MessageTemplateApprovalRecorded"
TEMPLATE_SUBMITTED = "MessageTemplateSubmitted"
#: The audit entry of a WhatsApp status of a version after its verdict (paused, disabled, flagged, reinstated, ...).
WHATSAPP_STATUS_RECORDED = "MessageTemplateWhatsAppStatusRecorded"


@dataclass(frozen=True)
class SubmittedVersion:
    """The template version a provider's template id was given to."""

    brand_id: UUID
    template_id: UUID
    version: int


@dataclass(frozen=True)
class Preferences:
    """A borrower's messaging language and opted-out channels."""

    customer_id: UUID
    language: str
    opted_out: tuple[str, ...]
    reason: str | None
    changed_by: str | None
    changed_at: datetime | None
    #: 0 while never set; every change adds one (the ETag an If-Match sends back).
    version: int = 0


#: The audit entry's event type of a change of a borrower's messaging preferences.
PREFERENCES_CHANGED = "MessagingPreferencesChanged"


@dataclass(frozen=True)
class PreferenceChange:
    """One change of a borrower's preferences: the values before (None: never set) and after, who and when."""

    version: int
    changed_at: datetime
    changed_by: str
    language_before: str | None
    language: str
    opted_out_before: tuple[str, ...] | None
    opted_out: tuple[str, ...]
    reason_before: str | None
    reason: str | None


def _template(row: Any) -> Template:
    return Template(**row)


@dataclass(frozen=True)
class SavedTemplate:
    """What `EngagementStore.save_template` did: the template and the version it wrote, or None when the brand's
    template of that name, channel and language is of another `kind` (nothing written)."""

    id: UUID
    version: int | None
    kind: str


class SeededTemplate(NamedTuple):
    """A default template to seed (`EngagementStore.seed_templates`), in the statement's column order."""

    id: UUID
    name: str
    kind: str
    channel: str
    language: str
    subject: str | None
    body: str
    approval: str | None


class EngagementStore:
    """SQL of the templates and the preferences (see the module doc)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.setup()

    def setup(self) -> None:
        """Create the tables (idempotent; serialised between processes)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            for statement in DDL:
                conn.execute(unless_present(statement))
            ops_activity.setup(conn)

    # Templates ---------------------------------------------------------------------------------------------------

    def save_template(self, brand_id: UUID, new_id: UUID, name: str, kind: str, channel: str, language: str,
                      subject: str | None, body: str, approval: str | None, by: str,
                      now: datetime) -> SavedTemplate:  # fmt: skip
        """Add a template, or the next version of the brand's template of that name, channel and language when it
        is of `kind` (one transaction; the row lock orders concurrent edits). Of another kind, nothing is written:
        the answer names it, its `version` None (a version never changes its template's kind)."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO ops.message_templates (id, brand_id, name, kind, channel, language, version, created_at, "
                "updated_at) VALUES (%s, %s, %s, %s, %s, %s, 1, %s, %s) "
                "ON CONFLICT (brand_id, name, channel, language) DO UPDATE SET version = "
                "ops.message_templates.version + 1, updated_at = EXCLUDED.updated_at "
                "WHERE ops.message_templates.kind = EXCLUDED.kind "
                "RETURNING id, version",
                (new_id, brand_id, name, kind, channel, language, now, now),
            ).fetchone()
            if row is None:  # the brand's template of that name, channel and language is of another kind
                other = conn.execute(
                    "SELECT id, kind FROM ops.message_templates WHERE brand_id = %s AND name = %s AND channel = %s "
                    "AND language = %s",
                    (brand_id, name, channel, language),
                ).fetchone()
                return SavedTemplate(other["id"], None, other["kind"])
            conn.execute(
                "INSERT INTO ops.message_template_versions (template_id, version, subject, body, approval, "
                "created_by, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (row["id"], row["version"], subject, body, approval, by, now),
            )
        return SavedTemplate(row["id"], int(row["version"]), kind)

    def seed_templates(self, brand_id: UUID, defaults: Sequence[SeededTemplate], now: datetime) -> int:
        """Add default templates as version 1, by `system`, each unless the brand has one of its name, channel and
        language: how many were added. One statement, so all of them or none: written one at a time (94 statements
        for a brand's 44 defaults), a seeding cut short left a brand with part of its first defaults for good (the
        next one seeds only kinds added later). Two seedings at once (two first requests of a brand) write each
        default once, where `save_template` would make the second a version 2 of it."""
        if not defaults:
            return 0
        columns = list(zip(*defaults, strict=True))
        with self.pool.connection() as conn:
            added = conn.execute(
                "WITH given AS (SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], "
                "%s::text[], %s::text[], %s::text[]) AS g(id, name, kind, channel, language, subject, body, approval)), "
                "added AS (INSERT INTO ops.message_templates (id, brand_id, name, kind, channel, language, version, "
                "created_at, updated_at) SELECT id, %s, name, kind, channel, language, 1, %s, %s FROM given "
                "ON CONFLICT (brand_id, name, channel, language) DO NOTHING RETURNING id) "
                "INSERT INTO ops.message_template_versions (template_id, version, subject, body, approval, created_by, "
                "created_at) SELECT g.id, 1, g.subject, g.body, g.approval, 'system', %s FROM given g "
                "JOIN added a ON a.id = g.id RETURNING template_id",
                (*(list(column) for column in columns), brand_id, now, now, now),
            ).fetchall()
        return len(added)

    def new_version(self, brand_id: UUID, template_id: UUID, subject: str | None, body: str, approval: str | None,
                    by: str, now: datetime, expected_version: int | None = None) -> int | None:  # fmt: skip
        """The next version of a template of the brand (None when it has no such template, or, with
        `expected_version`, when its latest version is another one)."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "UPDATE ops.message_templates SET version = version + 1, updated_at = %s "
                "WHERE brand_id = %s AND id = %s AND (%s::bigint IS NULL OR version = %s::bigint) RETURNING version",
                (now, brand_id, template_id, expected_version, expected_version),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "INSERT INTO ops.message_template_versions (template_id, version, subject, body, approval, "
                "created_by, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (template_id, row["version"], subject, body, approval, by, now),
            )
        return int(row["version"])

    def set_approval(self, brand_id: UUID, template_id: UUID, version: int, approval: str, by: str, now: datetime,
                     reason: str | None = None, provider_at: datetime | None = None) -> bool:  # fmt: skip
        """Record the provider's verdict on a WhatsApp template's version (`reason`: why it was rejected) with its
        audit entry (`APPROVAL_RECORDED`, by `by`: staff, an API key, or the provider's webhook) in one transaction;
        False when there is no such version. The same verdict again changes nothing and writes no entry. With
        `provider_at` (the instant of WhatsApp's event), a verdict older than the version's latest event applied is
        stale and changes nothing; a newer one supersedes a status reported before it (paused, ...: cleared)."""
        with self.pool.connection() as conn, conn.transaction():
            before = conn.execute(
                "SELECT v.approval, v.approval_reason, v.whatsapp_template_id, v.whatsapp_status, "
                "v.whatsapp_status_at FROM ops.message_template_versions v "
                "JOIN ops.message_templates t ON t.id = v.template_id WHERE t.brand_id = %s AND t.id = %s "
                "AND v.version = %s AND t.channel = 'whatsapp' FOR UPDATE OF v",
                (brand_id, template_id, version),
            ).fetchone()
            if before is None:
                return False
            status = before["whatsapp_status"]
            if provider_at is not None:
                if before["whatsapp_status_at"] is not None and provider_at < before["whatsapp_status_at"]:
                    return True
                status = None
                conn.execute(
                    "UPDATE ops.message_template_versions SET whatsapp_status_at = %s WHERE template_id = %s "
                    "AND version = %s",
                    (provider_at, template_id, version),
                )
            if (before["approval"], before["approval_reason"], before["whatsapp_status"]) == (approval, reason, status):
                return True
            conn.execute(
                "UPDATE ops.message_template_versions SET approval = %s, approval_reason = %s, whatsapp_status = %s, "
                "whatsapp_status_reason = CASE WHEN %s::text IS NULL THEN NULL ELSE whatsapp_status_reason END "
                "WHERE template_id = %s AND version = %s",
                (approval, reason, status, status, template_id, version),
            )
            details = {"version": version, "approval_before": before["approval"], "approval": approval,
                       "reason_before": before["approval_reason"], "reason": reason,
                       "whatsapp_template_id": before["whatsapp_template_id"]}  # fmt: skip
            if status != before["whatsapp_status"]:
                details.update(whatsapp_status_before=before["whatsapp_status"], whatsapp_status=status)
            summary = f"WhatsApp approval of v{version}: {approval}" + (f" ({reason})" if reason else "")
            ops_activity.record(conn, OpsEntry(brand_id, now, "MessageTemplate", template_id, APPROVAL_RECORDED,
                                               summary[:300], details, by))  # fmt: skip
        return True

    def record_whatsapp_status(self, brand_id: UUID, template_id: UUID, version: int, status: str,
                               reason: str | None, provider_at: datetime, by: str, now: datetime) -> str:  # fmt: skip
        """Record what WhatsApp reported of a version after its verdict (`status`: paused, disabled, flagged,
        reinstated, ...; `reason`: its words) with its audit entry (`WHATSAPP_STATUS_RECORDED`, by `by`) in one
        transaction: `recorded`; `same` when the version is in that status with that reason already (no entry);
        `stale` when `provider_at` (the event's instant at WhatsApp) is older than the version's latest event applied
        (an event overtaken by a newer one never undoes it); `missing` when there is no such version."""
        with self.pool.connection() as conn, conn.transaction():
            before = conn.execute(
                "SELECT v.whatsapp_status, v.whatsapp_status_reason, v.whatsapp_status_at, v.whatsapp_template_id "
                "FROM ops.message_template_versions v JOIN ops.message_templates t ON t.id = v.template_id "
                "WHERE t.brand_id = %s AND t.id = %s AND v.version = %s AND t.channel = 'whatsapp' FOR UPDATE OF v",
                (brand_id, template_id, version),
            ).fetchone()
            if before is None:
                return "missing"
            if before["whatsapp_status_at"] is not None and provider_at < before["whatsapp_status_at"]:
                return "stale"
            conn.execute(
                "UPDATE ops.message_template_versions SET whatsapp_status = %s, whatsapp_status_reason = %s, "
                "whatsapp_status_at = %s WHERE template_id = %s AND version = %s",
                (status, reason, provider_at, template_id, version),
            )
            if (before["whatsapp_status"], before["whatsapp_status_reason"]) == (status, reason):
                return "same"
            details = {"version": version, "whatsapp_status_before": before["whatsapp_status"],
                       "whatsapp_status": status, "reason_before": before["whatsapp_status_reason"], "reason": reason,
                       "whatsapp_template_id": before["whatsapp_template_id"], "provider_at": provider_at.isoformat()}  # fmt: skip
            summary = f"WhatsApp status of v{version}: {status}" + (f" ({reason})" if reason else "")
            ops_activity.record(conn, OpsEntry(brand_id, now, "MessageTemplate", template_id,
                                               WHATSAPP_STATUS_RECORDED, summary[:300], details, by))  # fmt: skip
        return "recorded"

    def record_submission(self, brand_id: UUID, template_id: UUID, version: int, submissions_before: int,
                          whatsapp_template_id: str, category: str, by: str, now: datetime) -> bool:  # fmt: skip
        """Record a version's submission to WhatsApp's review (the provider's template id; `pending` again, no reason)
        with its audit entry (`TEMPLATE_SUBMITTED`) in one transaction; False when the version was submitted since
        `submissions_before` was read, or approved meanwhile (nothing recorded)."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "UPDATE ops.message_template_versions v SET whatsapp_template_id = %s, whatsapp_submitted_at = %s, "
                "whatsapp_submitted_by = %s, whatsapp_submissions = v.whatsapp_submissions + 1, approval = 'pending', "
                "approval_reason = NULL FROM ops.message_templates t WHERE t.id = v.template_id AND t.brand_id = %s "
                "AND t.id = %s AND v.version = %s AND t.channel = 'whatsapp' AND v.whatsapp_submissions = %s "
                "AND v.approval IS DISTINCT FROM 'approved' RETURNING v.approval",
                (whatsapp_template_id, now, by, brand_id, template_id, version, submissions_before),
            ).fetchone()
            if row is None:
                return False
            details = {"version": version, "whatsapp_template_id": whatsapp_template_id, "category": category,
                       "submission": submissions_before + 1}  # fmt: skip
            ops_activity.record(conn, OpsEntry(brand_id, now, "MessageTemplate", template_id, TEMPLATE_SUBMITTED,
                                               f"v{version} submitted to WhatsApp for approval", details, by))  # fmt: skip
        return True

    def submitted_versions(self, whatsapp_template_id: str) -> list[SubmittedVersion]:
        """The template versions (of any brand: the webhook names no brand) given `whatsapp_template_id` at their
        latest submission, at most two: none when unknown or replaced by a later submission; two when providers of
        two brands issued the same id (the webhook then applies to none)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT t.brand_id, t.id AS template_id, v.version FROM ops.message_template_versions v "
                "JOIN ops.message_templates t ON t.id = v.template_id WHERE v.whatsapp_template_id = %s "
                "AND t.channel = 'whatsapp' LIMIT 2",
                (whatsapp_template_id,),
            ).fetchall()
        return [SubmittedVersion(**row) for row in rows]

    def submissions(self, template_id: UUID, version: int) -> int | None:
        """How many submissions of a WhatsApp template's version are recorded (None: no such version)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT v.whatsapp_submissions FROM ops.message_template_versions v JOIN ops.message_templates t "
                "ON t.id = v.template_id WHERE v.template_id = %s AND v.version = %s AND t.channel = 'whatsapp'",
                (template_id, version),
            ).fetchone()
        return None if row is None else int(row["whatsapp_submissions"])

    def template(self, brand_id: UUID, template_id: UUID, version: int | None = None) -> Template | None:
        """A template of the brand at `version` (its latest when None)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_TEMPLATE} FROM ops.message_templates t JOIN ops.message_template_versions v "
                "ON v.template_id = t.id AND v.version = COALESCE(%s, t.version) WHERE t.brand_id = %s AND t.id = %s",
                (version, brand_id, template_id),
            ).fetchone()
        return None if row is None else _template(row)

    def versions(self, brand_id: UUID, template_id: UUID) -> list[Template]:
        """Every version of a template, newest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_TEMPLATE.replace('t.version', 'v.version')} FROM ops.message_templates t "
                "JOIN ops.message_template_versions v ON v.template_id = t.id WHERE t.brand_id = %s AND t.id = %s "
                "ORDER BY v.version DESC LIMIT 200",
                (brand_id, template_id),
            ).fetchall()
        return [_template(r) for r in rows]

    def templates(self, brand_id: UUID, channel: str | None, kind: str | None, language: str | None,
                  after: tuple[datetime, UUID] | None, limit: int) -> list[Template]:  # fmt: skip
        """The brand's templates at their latest version, oldest first, a keyset page."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_TEMPLATE} FROM ops.message_templates t JOIN ops.message_template_versions v "
                "ON v.template_id = t.id AND v.version = t.version WHERE t.brand_id = %s "
                "AND (%s::text IS NULL OR t.channel = %s) AND (%s::text IS NULL OR t.kind = %s) "
                "AND (%s::text IS NULL OR t.language = %s) "
                "AND (%s::timestamptz IS NULL OR (t.created_at, t.id) > (%s, %s)) ORDER BY t.created_at, t.id LIMIT %s",
                (brand_id, channel, channel, kind, kind, language, language,
                 *((after[0], after[0], after[1]) if after else (None, None, None)), limit),
            ).fetchall()  # fmt: skip
        return [_template(r) for r in rows]

    def usable(self, brand_id: UUID, kind: str, channel: str) -> dict[str, Template]:
        """language -> the template of `kind` on `channel` at its latest usable version: for WhatsApp the latest
        approved one (a version awaiting approval never goes out) that WhatsApp has not paused, disabled or deleted
        since (`domain.engagement.templates.UNSENDABLE_STATUSES`)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT ON (t.language) {_TEMPLATE.replace('t.version', 'v.version')} "
                "FROM ops.message_templates t JOIN ops.message_template_versions v ON v.template_id = t.id "
                "WHERE t.brand_id = %s AND t.kind = %s AND t.channel = %s "
                "AND (t.channel <> 'whatsapp' OR (v.approval = 'approved' AND "
                "(v.whatsapp_status IS NULL OR NOT v.whatsapp_status = ANY(%s)))) "
                "ORDER BY t.language, t.created_at, v.version DESC",
                (brand_id, kind, channel, sorted(s.value for s in UNSENDABLE_STATUSES)),
            ).fetchall()
        return {r["language"]: _template(r) for r in rows}

    def has_templates(self, brand_id: UUID) -> bool:
        """Whether the brand has any template (the defaults are seeded once)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM ops.message_templates WHERE brand_id = %s LIMIT 1", (brand_id,)
            ).fetchone()
        return row is not None

    def kinds_with_templates(self, brand_id: UUID, kinds: Sequence[str]) -> set[str]:
        """Which of `kinds` the brand has any template of (a kind added later is seeded when it has none)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT kind FROM ops.message_templates WHERE brand_id = %s AND kind = ANY(%s)",
                (brand_id, list(kinds)),
            ).fetchall()
        return {r["kind"] for r in rows}

    # Preferences -------------------------------------------------------------------------------------------------

    def set_preferences(self, brand_id: UUID, customer_id: UUID, language: str, opted_out: list[str],
                        reason: str | None, by: str, now: datetime,
                        expected_version: int | None = None) -> int | None:  # fmt: skip
        """Replace a borrower's language and opted-out channels; their new version, or None when `expected_version`
        is given and they are at another one (nothing changed, no entry). The change and its audit entry
        (`MessagingPreferencesChanged`, by `by`, with the values before and after) are one transaction; the row is
        locked from reading its old values to the write, so two changes at once each record what they replaced."""
        channels = sorted(set(opted_out))
        values = (language, channels, reason, by, now)
        with self.pool.connection() as conn, conn.transaction():
            before = self._locked_preferences(conn, brand_id, customer_id)
            row = None
            if before is None:
                if expected_version not in (None, 0):
                    return None
                row = conn.execute(
                    "INSERT INTO ops.messaging_preferences (brand_id, customer_id, language, opted_out, reason, "
                    "changed_by, changed_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s, 1) "
                    "ON CONFLICT (brand_id, customer_id) DO NOTHING RETURNING version",
                    (brand_id, customer_id, *values),
                ).fetchone()
                if row is None:  # set at this moment by another change (committed now): replace what it wrote
                    if expected_version == 0:
                        return None
                    before = self._locked_preferences(conn, brand_id, customer_id)
            if row is None:
                if before is None or (expected_version is not None and before["version"] != expected_version):
                    return None
                row = conn.execute(
                    "UPDATE ops.messaging_preferences SET language = %s, opted_out = %s, reason = %s, "
                    "changed_by = %s, changed_at = %s, version = version + 1 "
                    "WHERE brand_id = %s AND customer_id = %s RETURNING version",
                    (*values, brand_id, customer_id),
                ).fetchone()
            version = int(row["version"])
            details = {
                "language_before": None if before is None else before["language"],
                "language": language,
                "opted_out_before": None if before is None else list(before["opted_out"]),
                "opted_out": channels,
                "reason_before": None if before is None else before["reason"],
                "reason": reason,
                "version": version,
            }
            ops_activity.record(conn, OpsEntry(brand_id, now, "CustomerRecord", customer_id, PREFERENCES_CHANGED,
                                               "messaging preferences changed", details, by))  # fmt: skip
        return version

    @staticmethod
    def _locked_preferences(conn: Any, brand_id: UUID, customer_id: UUID) -> Any:
        return conn.execute(
            "SELECT language, opted_out, reason, version FROM ops.messaging_preferences "
            "WHERE brand_id = %s AND customer_id = %s FOR UPDATE",
            (brand_id, customer_id),
        ).fetchone()

    def preference_history(self, brand_id: UUID, customer_id: UUID, limit: int = 500) -> list[PreferenceChange]:
        """Every change of a borrower's preferences, oldest first (their audit entries: the table keeps only the
        last)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT occurred_at, actor, details FROM ops.activity WHERE brand_id = %s AND aggregate_id = %s "
                "AND event_type = %s ORDER BY position LIMIT %s",
                (brand_id, customer_id, PREFERENCES_CHANGED, limit),
            ).fetchall()
        return [
            PreferenceChange(
                version=int(r["details"]["version"]),
                changed_at=r["occurred_at"],
                changed_by=r["actor"],
                language_before=r["details"].get("language_before"),
                language=r["details"]["language"],
                opted_out_before=None
                if r["details"].get("opted_out_before") is None
                else tuple(r["details"]["opted_out_before"]),
                opted_out=tuple(r["details"]["opted_out"]),
                reason_before=r["details"].get("reason_before"),
                reason=r["details"].get("reason"),
            )
            for r in rows
        ]

    def preferences(self, brand_id: UUID, customer_id: UUID) -> Preferences:
        """A borrower's preferences (English and no opt-outs when never set)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT customer_id, language, opted_out, reason, changed_by, changed_at, version "
                "FROM ops.messaging_preferences WHERE brand_id = %s AND customer_id = %s",
                (brand_id, customer_id),
            ).fetchone()
        if row is None:
            return Preferences(customer_id, "en", (), None, None, None)
        return Preferences(**{**row, "opted_out": tuple(row["opted_out"])})
