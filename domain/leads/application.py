"""Use cases of the leads context: import a lead file, move a lead through the funnel, link it to a borrower."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from domain.leads.csv_import import LeadRow, LeadSource, ParsedFile, parse_leads
from domain.leads.dedupe import MATCH_KINDS, Known, Outcome, dedupe, lead_name_keys
from domain.leads.lead import (
    Lead,
    LeadDetails,
    LeadImport,
    LeadImportNotFound,
    LeadNotFound,
    LeadStatus,
    LineResult,
)
from domain.leads.rating import (
    Criterion,
    RatingMatrix,
    RatingMatrixNotFound,
    StaffRating,
    check_criteria,
    check_period,
    check_scores,
    matrix_id,
)
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication, retried
from domain.shared.clock import Clock
from domain.shared.errors import InvalidValue, NotFound
from domain.shared.values import clean_text

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/leads")
IMPORT_ATTEMPTS = 3  # an import committed at the same moment with the same people: dedupe again and retry
LINK_ATTEMPTS = 3  # a sign-up's link racing staff changing its lead: linked to the lead as it now is


def lead_id(brand_id: UUID, row: LeadRow) -> UUID:
    """A lead's id: uuid5 of the brand and its first identifier, so two imports racing with the same person
    cannot both create them (the second collides, dedupes again and finds the lead)."""
    key = row.phone or row.email or f"{row.source}:{row.external_id}:{row.line}"
    return uuid5(_NAMESPACE, f"{brand_id}:{key.casefold()}")


class LeadDirectory(Protocol):
    """Who a brand already knows: its leads and borrowers with any of the identifiers, or filed under any of
    the name keys (blocking; at most a few per key)."""

    def known(
        self, brand_id: UUID, phones: Sequence[str], emails: Sequence[str], pans: Sequence[str], keys: Sequence[str]
    ) -> list[Known]: ...


class StaffDirectory(Protocol):
    """Whether a staff member belongs to the brand (the identity context answers it)."""

    def has_staff(self, brand_id: UUID, staff_id: UUID) -> bool: ...


class CustomerDirectory(Protocol):
    """Whether a borrower (Customer 360 record) belongs to the brand (the customers context answers it)."""

    def has_customer(self, brand_id: UUID, customer_id: UUID) -> bool: ...


class RatedStaffNotFound(NotFound):
    """Raised when the staff member to rate is not the brand's."""


class Leads(ContextApplication):
    """Lead files, the lead funnel, the rating matrix and staff ratings."""

    name = "leads"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock | None = None,
        directory: LeadDirectory | None = None,
        staff: StaffDirectory | None = None,
        customers: CustomerDirectory | None = None,
    ) -> None:
        super().__init__(env, clock)
        self.directory = directory
        self.staff = staff
        self.customers = customers

    # The rating matrix -------------------------------------------------------------------------------------

    def set_matrix(self, brand_id: UUID, criteria: list[Criterion], expected_version: int | None) -> CommandResult:
        """Configure the brand's rating matrix (weights per role sum to 100); If-Match with the version read
        refuses a concurrent change with 409 (the first matrix: version 0 or no If-Match)."""
        checked = check_criteria(criteria)
        found = self.find(matrix_id(brand_id))
        if isinstance(found, RatingMatrix):
            self.check_version(found, expected_version)
            found.change(checked)
            return self.commit(found)
        if expected_version not in (None, 0):
            raise ConcurrentModification(
                f"the rating matrix is at version 0, not {expected_version}", current_version=0
            )
        return self.commit(with_id(RatingMatrix, matrix_id(brand_id), brand_id=brand_id, criteria=checked))

    def matrix(self, brand_id: UUID) -> RatingMatrix:
        """The brand's matrix (404 before it is configured)."""
        return self.load(RatingMatrix, matrix_id(brand_id), brand_id, RatingMatrixNotFound)

    def rate(
        self, brand_id: UUID, staff_id: UUID, period: str, scores: dict[str, int], note: str | None
    ) -> CommandResult:
        """An admin rates a staff member of the brand 1..10 per metric for a month."""
        if self.staff is not None and not self.staff.has_staff(brand_id, staff_id):
            raise RatedStaffNotFound(f"staff {staff_id} not found", id=str(staff_id))
        text = clean_text(note, "note", multiline=True)[:500] if note else None
        return self.commit(
            StaffRating(
                brand_id=brand_id,
                staff_id=staff_id,
                period=check_period(period),
                scores=check_scores(scores),
                note=text,
            )
        )

    def import_file(self, brand_id: UUID, data: bytes, filename: str, source: LeadSource | None) -> CommandResult:
        """Parse, validate and dedupe a file, and record the import and every lead it creates in one
        transaction. Bad records are rejected with their line numbers and the rest imported; a file that is not
        a lead CSV at all is a 422 and records nothing. An import committed at the same moment with some of the
        same people: deduped again against it and retried (its leads are duplicates here), up to IMPORT_ATTEMPTS."""
        parsed = parse_leads(data, source)
        known: list[Known] = []
        if self.directory is not None and parsed.rows:
            rows = parsed.rows
            known = self.directory.known(
                brand_id,
                sorted({r.phone for r in rows if r.phone}),
                sorted({r.email for r in rows if r.email}),
                sorted({r.pan for r in rows if r.pan}),
                sorted({k for r in rows for k in lead_name_keys(r.name)}),
            )
        attempt = 1
        while True:
            record, leads = self._plan_import(brand_id, parsed, filename, known)
            try:
                return self.commit_summary(record, *leads)
            except ConcurrentModification:
                if attempt == IMPORT_ATTEMPTS:
                    raise
                attempt += 1

    def _plan_import(
        self, brand_id: UUID, parsed: ParsedFile, filename: str, known: list[Known]
    ) -> tuple[LeadImport, list[Lead]]:
        """The import record and the leads it creates, deduped against `known` and the leads already stored."""
        outcomes = self._dedupe(brand_id, parsed.rows, known)
        import_id = uuid4()
        leads: list[Lead] = []
        lines: list[LineResult] = []
        matched: Counter[str] = Counter()
        for outcome in outcomes:
            lead = None if outcome.duplicate else self._lead(brand_id, import_id, outcome)
            if lead is not None:
                leads.append(lead)
            if outcome.match_kind:
                matched[outcome.match_kind] += 1
            lines.append(_line(outcome, lead))
        lines += [LineResult(line=r.line, outcome="rejected", reason=r.reason) for r in parsed.rejected]
        lines.sort(key=lambda x: x.line)
        record = with_id(
            LeadImport,
            import_id,
            brand_id=brand_id,
            source=parsed.source.value,
            filename=clean_text(filename or "leads.csv", "filename", multiline=False)[:200] or "leads.csv",
            rows=len(outcomes) + len(parsed.rejected),
            created=len(leads),
            duplicates=sum(1 for o in outcomes if o.duplicate),
            organic=sum(1 for lead in leads if lead.details.is_organic),
            matched={kind: matched[kind] for kind in MATCH_KINDS},
            lines=lines,
        )
        return record, leads

    def _dedupe(self, brand_id: UUID, rows: Sequence[LeadRow], known: list[Known]) -> list[Outcome]:
        """`dedupe` against `known` (the read models) and the stored leads the file would otherwise create again.

        The read models lag the event store: a lead an import committed a moment ago is not in `known` yet, and
        creating it again would collide with it (its id is uuid5 of the brand and its phone or email). The leads
        this file would create are looked up by id (one read) and any found join `known`, so their records are
        duplicates of them, as once the read model has caught up.
        """
        probed: set[UUID] = set()
        while True:
            outcomes = dedupe(rows, known)
            ids = {lead_id(brand_id, o.row) for o in outcomes if not o.duplicate} - probed
            probed |= ids
            stored = [
                found
                for found in self.find_many(sorted(ids)).values()
                if isinstance(found, Lead) and found.brand_id == brand_id
            ]
            if not stored:
                return outcomes
            details = [(lead.id, lead.details) for lead in stored]
            known = [*known, *(Known("lead", i, d.name, d.phone, d.email, d.pan) for i, d in details)]

    def _lead(self, brand_id: UUID, import_id: UUID, outcome: Outcome) -> Lead:
        row = outcome.row
        details = LeadDetails(
            source=row.source.value,
            is_organic=row.is_organic,
            name=row.name,
            phone=row.phone,
            email=row.email,
            pan=row.pan,
            external_id=row.external_id,
            campaign_id=row.campaign_id,
            campaign_name=row.campaign_name,
            adset_name=row.adset_name,
            ad_name=row.ad_name,
            form_name=row.form_name,
            platform=row.platform,
            city=row.city,
            submitted_at=row.created_time,
        )
        return with_id(
            Lead,
            lead_id(brand_id, row),
            brand_id=brand_id,
            import_id=import_id,
            line=row.line,
            details=details,
            match_kind=outcome.match_kind,
            match_score=outcome.score,
            matched_kind=outcome.matched_kind,
            matched_id=outcome.matched_id,
            borrower_id=outcome.borrower_id,
        )

    def lead(self, brand_id: UUID, lead: UUID) -> Lead:
        """A lead of the brand."""
        return self.load(Lead, lead, brand_id, LeadNotFound)

    def lead_import(self, brand_id: UUID, import_id: UUID) -> LeadImport:
        """An import of the brand."""
        return self.load(LeadImport, import_id, brand_id, LeadImportNotFound)

    def move(
        self, brand_id: UUID, lead: UUID, status: LeadStatus, note: str | None, expected_version: int | None = None
    ) -> CommandResult:
        """Move a lead in the funnel (If-Match: the version it was read at)."""
        found = self.lead(brand_id, lead)
        self.check_version(found, expected_version)
        text = clean_text(note, "note", multiline=True)[:500] if note else None
        found.move(status, text)
        return self.commit(found)

    def link_signup(self, brand_id: UUID, phone: str, borrower_id: UUID) -> CommandResult | None:
        """A borrower signed up with `phone`: the brand's lead with that phone (its id is uuid5 of it), if any and
        not linked yet, is linked to them and moves to applied. None when there is nothing to link. A change saved
        on the lead meanwhile (staff moving it) is not a refusal: the sign-up is linked to the lead as it now is
        (LINK_ATTEMPTS in all; the sign-up worker marks a sign-up done whatever this answers)."""
        the_lead = uuid5(_NAMESPACE, f"{brand_id}:{phone.casefold()}")

        def link() -> CommandResult | None:
            found = self.find(the_lead)
            if not isinstance(found, Lead) or found.brand_id != brand_id or found.borrower_id is not None:
                return None
            return self._link(brand_id, found.id, borrower_id)

        return retried(link, LINK_ATTEMPTS)

    def link(self, brand_id: UUID, lead: UUID, borrower_id: UUID) -> CommandResult:
        """The lead signed up as `borrower_id` (a borrower record of the brand: 422 naming `borrower_id` for any
        other id, another brand's borrower too, as for a random one): link it and move it to applied (unless it is
        further on)."""
        found = self.lead(brand_id, lead)
        if self.customers is not None and not self.customers.has_customer(brand_id, borrower_id):
            raise InvalidValue("borrower_id", "no borrower with this id in the brand")
        return self._link(brand_id, found.id, borrower_id)

    def _link(self, brand_id: UUID, lead: UUID, borrower_id: UUID) -> CommandResult:
        """Link the lead to a borrower of the brand (a sign-up's own record needs no check)."""
        found = self.lead(brand_id, lead)
        found.link(borrower_id)
        if found.status in (LeadStatus.NEW, LeadStatus.CONTACTED):
            found.move(LeadStatus.APPLIED, "signed up")
        return self.commit(found)


def _line(outcome: Outcome, lead: Lead | None) -> LineResult:
    return LineResult(
        line=outcome.row.line,
        outcome="duplicate" if outcome.duplicate else "created",
        name=outcome.row.name,
        lead_id=lead.id if lead else outcome.matched_id if outcome.matched_kind == "lead" else None,
        match_kind=outcome.match_kind,
        score=outcome.score,
        matched_kind=outcome.matched_kind,
        matched_id=outcome.matched_id,
        matched_line=outcome.matched_line,
    )
