"""Read models of sign-up attribution (from the onboarding funnel's events): `read.borrower_attribution` (one row per
borrower who signed up, with the UTM of their link, NULL when none) and `read.loan_attribution` (the UTM carried to
each loan application the borrower made). Columns: docs/leads.md."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.onboarding.funnel import Funnel
from domain.onboarding.steps import Step
from projections.projection import Insert, Projection, Write, handles

F = Funnel
UTM = ("utm_source", "utm_medium", "utm_campaign")


class AttributionViews(Projection):
    """Borrowers and loan applications by the UTM of the link the borrower signed up by."""

    name = "lead_attribution"
    source = "onboarding"
    tables = ("read.borrower_attribution", "read.loan_attribution", "read.lead_signup_queue")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.borrower_attribution (
            borrower_id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid,
            phone text NOT NULL,
            utm_source text,
            utm_medium text,
            utm_campaign text,
            signed_up_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS borrower_attribution_brand_idx ON read.borrower_attribution "
        "(brand_id, signed_up_at, borrower_id)",
        "CREATE INDEX IF NOT EXISTS borrower_attribution_customer_idx ON read.borrower_attribution (customer_id) "
        "WHERE customer_id IS NOT NULL",
        """CREATE TABLE IF NOT EXISTS read.loan_attribution (
            loan_id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            borrower_id uuid NOT NULL,
            customer_id uuid,
            loan_number text,
            utm_source text,
            utm_medium text,
            utm_campaign text,
            applied_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS loan_attribution_brand_idx ON read.loan_attribution (brand_id, applied_at, loan_id)",
        # Borrowers whose Customer 360 record became known: the sign-up linker links the lead with their phone.
        """CREATE TABLE IF NOT EXISTS read.lead_signup_queue (
            borrower_id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            phone text NOT NULL,
            customer_id uuid NOT NULL,
            position bigint NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS lead_signup_queue_position_idx ON read.lead_signup_queue (position)",
    )

    @handles(F.Started)
    def _started(self, position: int, event: F.Started) -> Iterable[Insert]:
        yield Insert(
            "read.borrower_attribution",
            {"borrower_id": event.originator_id, "brand_id": event.brand_id, "phone": event.phone,
             "signed_up_at": event.at},
        )  # fmt: skip

    @handles(F.AttributionRecorded)
    def _attributed(self, position: int, event: F.AttributionRecorded) -> Iterable[Write]:
        a = event.attribution
        yield Write(
            "UPDATE read.borrower_attribution SET utm_source = %s, utm_medium = %s, utm_campaign = %s "
            "WHERE borrower_id = %s",
            (a.utm_source, a.utm_medium, a.utm_campaign, event.originator_id),
        )

    @handles(F.CustomerLinked)
    def _linked(self, position: int, event: F.CustomerLinked) -> Iterable[Write]:
        yield Write(
            "UPDATE read.borrower_attribution SET customer_id = %s WHERE borrower_id = %s",
            (event.customer_id, event.originator_id),
        )
        yield Write(
            "INSERT INTO read.lead_signup_queue (borrower_id, brand_id, phone, customer_id, position) "
            "SELECT borrower_id, brand_id, phone, %s, %s FROM read.borrower_attribution WHERE borrower_id = %s "
            "ON CONFLICT (borrower_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, position = EXCLUDED.position",
            (event.customer_id, position, event.originator_id),
        )

    @handles(F.StepRecorded)
    def _step(self, position: int, event: F.StepRecorded) -> Iterable[Write]:
        details: dict[str, Any] = event.details
        if event.step is not Step.LOAN_REQUEST or not details.get("application_id"):
            return
        yield Write(
            "INSERT INTO read.loan_attribution (loan_id, brand_id, borrower_id, customer_id, loan_number, utm_source, "
            "utm_medium, utm_campaign, applied_at) SELECT %s, brand_id, borrower_id, customer_id, %s, %s, %s, %s, %s "
            "FROM read.borrower_attribution WHERE borrower_id = %s ON CONFLICT (loan_id) DO NOTHING",
            (details["application_id"], details.get("loan_number"), *(details.get(k) for k in UTM), event.at,
             event.originator_id),
        )  # fmt: skip
