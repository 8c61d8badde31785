"""The directory inserts a batch's registrations in SQL from their stored JSON (projections/customers.py,
`_STORED_REGISTRATIONS`): what that SQL assumes of the event class, and which stored events it takes."""

from __future__ import annotations

from domain.customers.customer import CustomerRecord
from projections.customers import _REGISTERED, CustomerDirectory


def test_the_optional_fields_the_row_reads_default_to_none_as_sql_reads_a_missing_key() -> None:
    fields = CustomerRecord.Registered.model_fields
    for name in ("email", "pan", "date_of_birth", "number", "agent_id"):
        assert not fields[name].is_required() and fields[name].default is None, name


def test_only_ascii_registrations_are_applied_in_sql() -> None:
    directory = CustomerDirectory()
    assert directory.applies_stored(_REGISTERED, b'{"name":"Asha Rao"}')
    # PostgreSQL's lower() and Python's str.lower() may differ beyond ASCII: those are decoded in Python.
    assert not directory.applies_stored(_REGISTERED, '{"name":"İlker Çelik"}'.encode())
    assert not directory.applies_stored(_REGISTERED, b'{"name":"\\u0130lker"}')
    assert not directory.applies_stored(_REGISTERED.replace("Registered", "DetailsUpdated"), b'{"name":"Asha"}')
