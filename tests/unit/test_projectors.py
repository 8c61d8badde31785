from __future__ import annotations

import uuid

from domain.customers.customer import CustomerRecord
from domain.customers.values import Address
from projections.customers import CustomerDirectory, CustomerTimeline


def _events() -> list[object]:
    c = CustomerRecord(
        brand_id=uuid.uuid4(),
        name="Asha Kulkarni",
        phone="+919876543210",
        addresses=[Address(line1="1 MG Road", city="Pune", pincode="411001")],
        loan_numbers=["SM1"],
        pan="ABCDE1234F",
    )
    c.update_details(pan="ABCDE9999F")
    c.add_alternate_phone("+919876543211", "mother")
    return list(c.collect_events())


def test_directory_projects_registration_with_masked_pan_and_search_key() -> None:
    registered = _events()[0]
    (write,) = CustomerDirectory().project(1, registered)
    assert write.sql.startswith("INSERT INTO read.customers")
    params = write.params
    assert isinstance(params, tuple)
    assert "asha kulkarni" in params and "ABCDE****F" in params and ["SM1"] in params


def test_timeline_masks_pan_changes_and_records_the_actor() -> None:
    writes = [w for pos, e in enumerate(_events(), 1) for w in CustomerTimeline().project(pos, e)]
    assert len(writes) == 3
    updated = writes[1].params
    assert isinstance(updated, dict)
    assert updated["kind"] == "details_updated" and updated["summary"] == "Updated pan"
    assert updated["details"].obj == {"pan": "ABCDE****F"}
    assert updated["actor"] == "system"
