"""One SMS to a borrower through their brand's SMS provider, as the loans (a send back) and documents (a request, or
one asked again after a rejection) contexts tell them: a message that cannot go out is logged under `failure` and
never undoes the decision that prompted it."""

from __future__ import annotations

from uuid import UUID

import structlog

from adapters.providers.directory import ProviderDirectory
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.providers.calls import Caller

log = structlog.get_logger(__name__)


def sms_borrower(
    identity: Identity, customers: Customers, directory: ProviderDirectory, brand_id: UUID, customer_id: UUID,
    text: str, failure: str,
) -> None:  # fmt: skip
    """Text the borrower's phone (at most 480 characters of `text`); a failure is logged as `failure`."""
    try:
        phone = customers.get(brand_id, customer_id).phone
        sms = directory.for_brand(identity.settings(brand_id).providers).sms()
        sms.send(phone, text[:480], caller=Caller(brand_id, customer_id))
    except Exception as exc:  # noqa: BLE001 - a message that cannot go out never undoes what prompted it
        log.warning(failure, brand_id=str(brand_id), customer_id=str(customer_id), error=type(exc).__name__)
