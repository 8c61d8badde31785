"""Reads the BRE's facts need beyond one context: central dedup across brands, and blocklisted Aadhaar by digest.

Central dedup is the only brand-crossing read of the system: it answers two booleans (is this PAN or phone a
borrower of another brand; was such a borrower rejected there) and nothing else - no brand, id or record of the
other brand leaves this module.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.blocklist.entry import BlockKind, aadhaar_digest


class ApplicantChecks:
    """Central dedup (across brands, booleans only) and the blocklist's Aadhaar matched by digest."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def other_brands(self, brand_id: UUID, pan: str | None, phone: str | None) -> tuple[bool, bool]:
        """(a borrower of another brand has this PAN or phone, such a borrower was rejected there). Uses the
        brand-free indexes on read.customers (phone) and (pan), and read.loans (brand_id, customer_id, status)."""
        if not pan and not phone:
            return False, False
        with self.pool.connection() as conn:
            row = conn.execute(
                "WITH found AS (SELECT brand_id, id FROM read.customers WHERE brand_id <> %(brand)s AND "
                "(phone = %(phone)s OR pan = %(pan)s) LIMIT 50) "
                "SELECT EXISTS (SELECT 1 FROM found) AS found, EXISTS (SELECT 1 FROM found f JOIN read.loans l "
                "ON l.brand_id = f.brand_id AND l.customer_id = f.id AND l.status = 'rejected') AS rejected",
                {"brand": brand_id, "phone": phone or None, "pan": pan or None},
            ).fetchone()
        return bool(row["found"]), bool(row["rejected"])

    def aadhaar_blocked(self, brand_id: UUID, digest: str | None) -> bool:
        """Whether an active Aadhaar entry of the brand's blocklist has this digest (`aadhaar_digest`): the funnel
        keeps the borrower's Aadhaar masked (last four digits) plus its digest, never the number; candidates are
        narrowed by the last four digits and confirmed by the digest."""
        if not digest or ":" not in digest:
            return False
        last4 = digest.split(":", 1)[0]
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT value FROM read.blocklist WHERE brand_id = %s AND kind = %s AND active AND right(value, 4) = %s",
                (brand_id, BlockKind.AADHAAR.value, last4),
            ).fetchall()
        return any(aadhaar_digest(str(r["value"])) == digest for r in rows)

    def funnel_phones(self, brand_id: UUID, customer_id: UUID) -> list[str]:
        """The phones borrowers signed in with (by OTP) on the onboarding funnels linked to the borrower's record: a
        funnel linked by PAN was opened with another phone than the record's (index onboarding_customer_idx)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT phone FROM read.onboarding WHERE brand_id = %s AND customer_id = %s",
                (brand_id, customer_id),
            ).fetchall()
        return [str(r["phone"]) for r in rows]

    def funnel_of(self, brand_id: UUID, customer_id: UUID) -> UUID | None:
        """The onboarding funnel linked to the borrower, if any (index onboarding_customer_idx)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT id FROM read.onboarding WHERE brand_id = %s AND customer_id = %s ORDER BY started_at DESC LIMIT 1",
                (brand_id, customer_id),
            ).fetchone()
        return row["id"] if row else None
