"""Which documents a brand requires of a borrower, from its settings, which of them are still missing, where each
stands (accepted, verified, received, rejected, missing), and what else a borrower may be asked for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from domain.documents.content import DocumentKind
from domain.documents.document import DocumentStatus

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


#: What a borrower may be asked for beyond the required kinds (the spec's "supporting documents, if requested"),
#: in the spec's order: address proofs, rent, income and employment proofs, student and name-change proofs.
SUPPORTING = (
    DocumentKind.VOTER_ID,
    DocumentKind.DRIVING_LICENSE,
    DocumentKind.PASSPORT,
    DocumentKind.UTILITY_BILL,
    DocumentKind.RENT_AGREEMENT,
    DocumentKind.SALARY_SLIP,
    DocumentKind.FORM16_ITR,
    DocumentKind.EMPLOYER_CERTIFICATE,
    DocumentKind.COLLEGE_ID,
    DocumentKind.MARRIAGE_CERTIFICATE,
    DocumentKind.PASSBOOK,
    DocumentKind.OTHER,
)


class KindState(StrEnum):
    """Where a required kind stands for a borrower."""

    ACCEPTED = "accepted"  # a document of it was accepted
    VERIFIED = "verified"  # a verification stands in for it (DigiLocker, the Account Aggregator)
    RECEIVED = "received"  # uploaded, waiting for review
    REJECTED = "rejected"  # every document of it was rejected: another one is needed
    MISSING = "missing"  # nothing uploaded


#: The states that leave a kind on the staff checklist's `missing` (not accepted, nothing standing in for it).
NOT_ACCEPTED = frozenset({KindState.RECEIVED, KindState.REJECTED, KindState.MISSING})
#: The states that still ask something of the borrower.
TO_UPLOAD = frozenset({KindState.REJECTED, KindState.MISSING})


@dataclass(frozen=True)
class KindStatus:
    """One required kind and where it stands; `reason` is why its latest rejected document was rejected."""

    kind: DocumentKind
    state: KindState
    reason: str | None = None


@dataclass(frozen=True)
class Uploaded:
    """What the checklist needs of one uploaded document."""

    kind: DocumentKind
    status: DocumentStatus
    reason: str | None = None


def kind_statuses(
    required: Iterable[DocumentKind], uploaded: Iterable[Uploaded], satisfied: Iterable[DocumentKind] = ()
) -> list[KindStatus]:
    """Each required kind's state, in the order required: accepted over verified over received over rejected.
    `uploaded` is newest first (the reason shown is the latest rejection's)."""
    by_kind: dict[DocumentKind, list[Uploaded]] = {}
    for document in uploaded:
        by_kind.setdefault(document.kind, []).append(document)
    stands_in = set(satisfied)
    statuses = []
    for kind in required:
        documents = by_kind.get(kind, [])
        found = {d.status for d in documents}
        if DocumentStatus.ACCEPTED in found:
            statuses.append(KindStatus(kind, KindState.ACCEPTED))
        elif kind in stands_in:
            statuses.append(KindStatus(kind, KindState.VERIFIED))
        elif DocumentStatus.PENDING in found:
            statuses.append(KindStatus(kind, KindState.RECEIVED))
        elif documents:
            statuses.append(KindStatus(kind, KindState.REJECTED, documents[0].reason))
        else:
            statuses.append(KindStatus(kind, KindState.MISSING))
    return statuses


def uploadable_kinds(statuses: Iterable[KindStatus]) -> list[DocumentKind]:
    """The kinds a borrower may upload, in the order to offer them: the required kinds still to upload (missing or
    rejected), the other required kinds (another statement, a clearer copy), then the supporting kinds."""
    statuses = list(statuses)
    to_upload = [s.kind for s in statuses if s.state in TO_UPLOAD]
    others = [s.kind for s in statuses if s.state not in TO_UPLOAD]
    offered = [*to_upload, *others]
    return [*offered, *(kind for kind in SUPPORTING if kind not in offered)]
