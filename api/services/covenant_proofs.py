"""Proof of compliance on a covenant's evaluation record: the file is uploaded as a document of the borrower
(documents context: kind `other`, sniffed, size-checked, content-addressed like every upload) and attached to the
record (covenants context); a download serves the bytes only when they still match the SHA-256 recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from domain.covenants.application import Covenants
from domain.covenants.proofs import Proof
from domain.documents.application import Documents
from domain.documents.content import ContentType, DocumentKind, Uploader, clean_filename
from domain.documents.document import DocumentNotFound, DocumentStatus
from domain.shared.application import CommandResult
from domain.shared.errors import Conflict, InvalidValue

_EXTENSIONS = {ContentType.PDF: "pdf", ContentType.JPEG: "jpg", ContentType.PNG: "png"}


@dataclass(frozen=True)
class ProofContent:
    """A proof document of a record with its bytes (checked against the SHA-256 recorded when it was attached)."""

    evaluation_id: UUID
    proof: Proof
    data: bytes

    @property
    def served_name(self) -> str:
        """The name it is served under: ours (the document's id), as the uploaded name may hold anything a header
        should not."""
        return f"proof-{self.proof.document_id}.{_EXTENSIONS[self.proof.content_type]}"


@dataclass(frozen=True)
class CovenantProofs:
    """Attach proof documents to evaluation records, and read them back verified."""

    covenants: Covenants
    documents: Documents

    def attach(
        self,
        brand_id: UUID,
        evaluation_id: UUID,
        filename: str,
        data: bytes,
        uploaded_by: Uploader = Uploader.STAFF,
        *,
        customer_id: UUID | None = None,
        companies: Sequence[str] = (),
    ) -> CommandResult:
        """Upload `data` as the record's borrower's document and attach it to the record as proof.

        The record is checked first (another brand's: 404; complied or waived: 409), so a refused attachment
        stores no document; a bad file is a 422 naming `file` from the upload. The same file already held for the
        borrower (proof of another covenant) is attached by its document id rather than refused - unless staff
        rejected that document: a proof reading "rejected" on the borrower's documents is no proof, so that is a
        422 naming `file` (with the rejection's reason) and nothing is attached. `customer_id`: the borrower
        attaching their own proof (`uploaded_by` borrower, the web flow): another borrower's record is a 404 too.
        `companies` (staff limited to companies): a record of another company's covenant is a 404 as well."""
        record = self.covenants.proof_target(brand_id, evaluation_id, customer_id, companies)
        uploaded = self.documents.upload(
            brand_id, record.customer_id, DocumentKind.OTHER, filename, data, uploaded_by, existing_ok=True
        )
        document = self.documents.document(brand_id, uploaded.id)
        if document.status is DocumentStatus.REJECTED:
            raise InvalidValue(
                "file",
                f"this file was rejected as a document of the borrower ({document.reason}); attach a corrected one",
            )
        return self.covenants.attach_proof(
            brand_id,
            evaluation_id,
            document.id,
            filename=clean_filename(filename),  # as given this time (the same bytes may have come named otherwise)
            sha256=document.sha256,
            size=document.size,
            content_type=document.content_type,
            uploaded_by=uploaded_by,
        )

    def comply(
        self,
        brand_id: UUID,
        evaluation_id: UUID,
        evidence: str,
        proof_document_ids: Sequence[UUID] = (),
        companies: Sequence[str] = (),
    ) -> CommandResult:
        """Mark a record complied approving the proofs cited; a cited proof whose document staff rejected after it
        was attached (documents context review) is a 422 naming `proof_document_ids[i]` with the rejection's
        reason, and nothing is recorded. (Read just before the record is saved: a document rejected in between is
        not seen - the two are separate aggregates.) `companies`: those the caller may see (another company's
        covenant's record: 404)."""
        rejected: dict[UUID, str] = {}
        for document_id in dict.fromkeys(proof_document_ids):
            try:
                document = self.documents.document(brand_id, document_id)
            except DocumentNotFound:  # not a document of the brand: the record refuses it as not attached
                continue
            if document.status is DocumentStatus.REJECTED:
                rejected[document_id] = document.reason or "no reason given"
        return self.covenants.comply(brand_id, evaluation_id, evidence, proof_document_ids, rejected, companies)

    def content(
        self, brand_id: UUID, evaluation_id: UUID, document_id: UUID, companies: Sequence[str] = ()
    ) -> ProofContent:
        """A proof document's bytes: 404 for another brand's record (or, `companies`, another company's covenant's)
        or a document not attached to it, 409 when the stored bytes no longer match the SHA-256 recorded at upload
        and on the record."""
        proof = self.covenants.evaluation(brand_id, evaluation_id, companies).proof(document_id)
        stored = self.documents.verified_content(brand_id, document_id)
        if stored.document.sha256 != proof.sha256:
            raise Conflict("the stored proof does not match the SHA-256 recorded on the record", sha256=proof.sha256)
        return ProofContent(evaluation_id, proof, stored.data)
