"""Which documents a brand requires of a borrower, from its settings, and which of them are still missing."""

from __future__ import annotations

from collections.abc import Iterable

from domain.documents.content import DocumentKind

#: Every borrower: PAN card, both sides of the Aadhaar card (unless DigiLocker verified it) and bank statements.
ALWAYS = (DocumentKind.PAN_CARD, DocumentKind.AADHAAR_FRONT, DocumentKind.AADHAAR_BACK, DocumentKind.BANK_STATEMENT)


def required_kinds(*, require_selfie: bool, require_employment: bool) -> tuple[DocumentKind, ...]:
    """The kinds a brand requires: the KYC documents, a selfie when it runs liveness checks
    (`require_selfie_video`), and a salary slip when employment data is mandatory (`require_employment_data`)."""
    kinds = list(ALWAYS)
    if require_selfie:
        kinds.append(DocumentKind.SELFIE)
    if require_employment:
        kinds.append(DocumentKind.SALARY_SLIP)
    return tuple(kinds)


def missing_kinds(
    required: Iterable[DocumentKind], accepted: Iterable[DocumentKind], satisfied: Iterable[DocumentKind] = ()
) -> list[DocumentKind]:
    """The required kinds without an accepted document, in the order required; `satisfied` are covered another way
    (Aadhaar verified through DigiLocker, statements fetched through the Account Aggregator)."""
    have = set(accepted) | set(satisfied)
    return [kind for kind in required if kind not in have]
