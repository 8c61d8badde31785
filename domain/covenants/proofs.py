"""Proof of compliance on an evaluation record: documents (the documents context's, their bytes content-addressed)
attached to the record, and which of them a reviewer approved when marking it complied."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from domain.documents.content import ContentType, Uploader
from domain.shared.errors import FieldError, InvalidInput, InvalidValue

#: The most proof documents one record holds (a cycle's statements, not an archive).
MAX_PROOFS = 20


@dataclass(frozen=True)
class Proof:
    """A document attached to a record as proof: its bytes are in the document store under `sha256`."""

    document_id: UUID
    filename: str
    sha256: str
    size: int
    content_type: ContentType
    uploaded_by: Uploader
    approved: bool = False


def cited_proofs(
    attached: Mapping[UUID, Proof], document_ids: Iterable[UUID], rejected: Mapping[UUID, str] | None = None
) -> list[UUID]:
    """The proof documents a reviewer cites, each once in the order given; InvalidValue naming
    `proof_document_ids` when one is not attached to the record, and InvalidInput naming `proof_document_ids[i]`
    for each cited proof whose document staff rejected after it was attached (`rejected`: document id -> the
    rejection's reason, as the documents context reads now): a proof reading "rejected" is not approved."""
    given = list(document_ids)
    cited = list(dict.fromkeys(given))
    strangers = [str(i) for i in cited if i not in attached]
    if strangers:
        raise InvalidValue(
            "proof_document_ids", f"not attached to this record as proof: {', '.join(strangers)}; attach it first"
        )
    refused = rejected or {}
    errors = [
        FieldError(
            f"proof_document_ids[{given.index(document_id)}]",
            f"{attached[document_id].filename} was rejected as a document of the borrower "
            f"({refused[document_id]}); untick it, or attach a corrected file",
        )
        for document_id in cited
        if document_id in refused
    ]
    if errors:
        raise InvalidInput(errors)
    return cited
