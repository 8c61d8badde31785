"""Demo KYC for `make run`: documents, bank accounts (penny drop), PAN checks and bureau pulls on the first demo
borrowers, through the provider simulators the demo starts - so Customer 360 shows a living KYC panel."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING
from uuid import UUID

import structlog

from domain.customers.application import Customers
from domain.documents.application import Documents
from domain.documents.content import DocumentKind, Uploader
from domain.documents.document import ReviewDecision
from domain.shared.aggregate import acting_as
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError
from domain.shared.values import normalise_phone
from domain.verification.application import Verifications
from workers.seed import demo_borrowers

if TYPE_CHECKING:
    from workers.platform import Platform

log = structlog.get_logger(__name__)

#: The demo borrowers given KYC (the first ones of `demo_borrowers`).
KYC_BORROWERS = 12


def _pdf(title: str) -> bytes:
    """A one-page PDF naming the document (enough for the store, the sniffing and the BSA simulator)."""
    return f"%PDF-1.4\n% {title}\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".encode()


def _step(done: dict[str, int], customer_id: UUID, work: Callable[[], CommandResult]) -> CommandResult | None:
    """Run one KYC step; a refusal is logged and the demo goes on (a provider failure is recorded by the step)."""
    try:
        result = work()
    except DomainError as exc:
        log.warning("seed.kyc_step_failed", customer=str(customer_id), error=exc.message)
        return None
    done["steps"] += 1
    return result


def seed_verification(platform: Platform, brand_id: UUID) -> dict[str, int]:
    """Documents (some accepted), a penny-dropped bank account, a PAN check and a bureau pull per demo borrower,
    and a statement analysis for some; a provider failure is recorded as such (retry from Customer 360)."""
    customers, documents = platform.get(Customers), platform.get(Documents)
    verifications = platform.get(Verifications)
    done = {"borrowers": 0, "steps": 0}
    with acting_as("seed"):
        for i, person in enumerate(demo_borrowers(KYC_BORROWERS)):
            found = customers.owner_of(brand_id, "phone", normalise_phone(str(person["phone"])))
            if found is None:
                continue
            customer_id, name = found, str(person["name"])
            done["borrowers"] += 1
            pan_card = _step(done, customer_id, partial(
                documents.upload, brand_id, customer_id, DocumentKind.PAN_CARD, "pan-card.pdf",
                _pdf(f"PAN card of {name}"), Uploader.BORROWER,
            ))  # fmt: skip
            if pan_card is not None and i % 2 == 0:
                _step(
                    done, customer_id, partial(documents.review, brand_id, pan_card.id, ReviewDecision.ACCEPTED, None)
                )
            account = f"50100{i:05d}" + ("4444" if i == 3 else f"{i + 1:04d}")  # 4444: someone else's account
            _step(done, customer_id, partial(verifications.add_bank_account, brand_id, customer_id, account,
                                             "HDFC0001234", name))  # fmt: skip
            _step(done, customer_id, partial(verifications.verify_pan, brand_id, customer_id))
            _step(done, customer_id, partial(verifications.pull_bureau, brand_id, customer_id))
            if i % 3 == 0:
                statement = _step(done, customer_id, partial(
                    documents.upload, brand_id, customer_id, DocumentKind.BANK_STATEMENT, "statement.pdf",
                    _pdf(f"Statement of {name}"), Uploader.BORROWER,
                ))  # fmt: skip
                if statement is not None:
                    _step(
                        done, customer_id, partial(verifications.analyse_statement, brand_id, customer_id, statement.id)
                    )
    log.info("seed.kyc_completed", **done)
    return done
