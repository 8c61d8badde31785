"""Which dialer call a portal page may say "Call placed" of (docs/callbacks.md "The CX's dialer", docs/fieldwork.md
"Click-to-call"): a page redirected back after placing a call names it in `?called=`, and a link can say anything.
One rule for the credit executive's "Call borrower" buttons and the collections' Call buttons: a call of the
signed-in staff member's brand, placed from their own extension, about what the page is about."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from domain.fieldwork.application import FieldWork
from domain.fieldwork.dialer import DialerCallNotFound
from domain.identity.principal import Principal


def placed_by(
    fieldwork: FieldWork,
    principal: Principal,
    call_id: UUID,
    *,
    loans: Collection[UUID] | None = None,
    customer_id: UUID | None = None,
) -> bool:
    """Whether `call_id` is a call of the principal's brand placed from their own extension about one of `loans`
    and/or to the borrower `customer_id` (at least one of them given: a page says what it is about). Read from the
    event store, so the call placed a moment ago counts."""
    if loans is None and customer_id is None:
        return False
    if principal.kind != "staff":
        return False
    try:
        call = fieldwork.call(principal.brand_id, call_id)
    except DialerCallNotFound:
        return False
    if call.staff_id != principal.id:
        return False
    return (loans is None or call.loan_id in loans) and (customer_id is None or call.customer_id == customer_id)
