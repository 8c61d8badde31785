"""Lead imports before the leads read model has caught up: a platform with no projection runners, so the dedupe's
read-model lookup (`projections.lead_queries.KNOWN`) never sees the leads an earlier import created. The lead ids
(uuid5 of brand and phone or email) would collide; the later import finds those leads by id instead and reports
the records as duplicates of them, as it does once the read model has caught up (docs/leads.md)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from domain.leads.application import Leads, lead_id
from domain.leads.csv_import import parse_leads
from projections.lead_queries import LeadQueries
from tests.support import copy_database_dsn, drop_database, mobile, settle

HEADER = "id,created_time,campaign_id,campaign_name,is_organic,full_name,phone_number,email\n"


@pytest.fixture
def unprojected(mail_sink: Any, platform_template: str) -> Iterator[Any]:
    """A platform on a database of its own whose read models stay where they are until a test starts its runners."""
    from adapters.mailer import MailSettings
    from workers.platform import Platform

    dsn = copy_database_dsn(platform_template, "cd_test_leads")
    platform = Platform.open(dsn, mail=MailSettings(port=mail_sink.port))
    yield platform
    platform.close()
    drop_database(dsn)


def _file(*rows: tuple[str, str, str]) -> bytes:
    return (HEADER + "".join(f"{i},2026-11-01T10:00:00Z,c1,Diwali,false,{name},{phone},{email}\n"
                             for i, (name, phone, email) in enumerate(rows))).encode()  # fmt: skip


def test_a_second_import_before_the_read_model_catches_up_marks_the_shared_person_a_duplicate(
    unprojected: Any,
) -> None:
    leads, brand = unprojected.get(Leads), uuid.uuid4()
    shared, first_only, second_only = mobile(), mobile(), mobile()
    first = leads.import_file(brand, _file(("Asha Rao", shared, ""), ("Ravi Kumar", first_only, "")), "a.csv", None)
    asha = lead_id(brand, parse_leads(_file(("Asha Rao", shared, ""))).rows[0])

    second = leads.import_file(
        brand, _file(("Vikram Shah", second_only, ""), ("Asha R", f"+91{shared}", "asha@example.in")), "b.csv", None
    )
    record = leads.lead_import(brand, second.id)
    assert (record.rows, record.created, record.duplicates, record.matched["phone"]) == (2, 1, 1, 1)
    by_name = {line.name: line for line in record.lines}
    assert by_name["Asha R"].outcome == "duplicate"
    assert (by_name["Asha R"].match_kind, by_name["Asha R"].matched_kind) == ("phone", "lead")
    assert by_name["Asha R"].matched_id == by_name["Asha R"].lead_id == asha
    assert by_name["Vikram Shah"].outcome == "created"
    assert leads.lead(brand, asha).details.name == "Asha Rao"  # the first import's lead is left as it was
    assert first.id != second.id

    # once the read model has caught up it lists each person once, and a third import agrees with the second
    unprojected.start_projection_runners()
    settle(unprojected, "leads")
    listed = unprojected.get(LeadQueries).leads(brand, limit=10)
    assert sorted(lead.name for lead in listed.items) == ["Asha Rao", "Ravi Kumar", "Vikram Shah"]
    third = leads.lead_import(
        brand, leads.import_file(brand, _file(("Asha R", f"+91{shared}", "asha@example.in")), "c.csv", None).id
    )
    assert [(x.outcome, x.match_kind, x.matched_id) for x in third.lines] == [("duplicate", "phone", asha)]


def test_imports_sharing_people_committed_at_once_each_record_every_row(unprojected: Any) -> None:
    leads, brand = unprojected.get(Leads), uuid.uuid4()
    shared = [mobile() for _ in range(3)]
    files = [_file(*[(f"Asha Rao {i}", p, "") for i, p in enumerate([*shared, mobile()])]) for _ in range(3)]
    start = threading.Barrier(len(files))
    results: list[Any] = []

    def run(data: bytes) -> None:
        start.wait()
        try:
            results.append(leads.lead_import(brand, leads.import_file(brand, data, "leads.csv", None).id))
        except Exception as exc:  # noqa: BLE001 - the assertion below names what went wrong
            results.append(exc)

    threads = [threading.Thread(target=run, args=(data,)) for data in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(r.created for r in results) == 3 + 3 and sum(r.duplicates for r in results) == 2 * 3
