from __future__ import annotations

import json
import uuid
from typing import Any

from domain.customers.customer import CustomerRecord
from domain.customers.values import Address
from projections.customers import CustomerDirectory, CustomerTimeline, name_positions
from projections.projection import Insert, Write


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


def _inserted(write: Write) -> list[dict[str, object]]:
    """The rows of a batch's INSERT of new borrowers (one JSON document)."""
    assert write.sql.startswith("INSERT INTO read.customers (")
    (document,) = write.params
    assert isinstance(document, str)
    rows: list[dict[str, object]] = json.loads(document)
    return rows


def test_directory_projects_registration_with_masked_pan_and_search_key() -> None:
    registered = _events()[0]
    directory = CustomerDirectory()
    directory.begin_batch()
    assert list(directory.project(1, registered)) == []  # a new borrower's row, sent in bulk at the batch's end
    _counts, insert = directory.end_batch()
    assert isinstance(insert, Write)
    (row,) = _inserted(insert)
    assert (row["name_key"], row["pan_masked"], row["loan_numbers"]) == ("asha kulkarni", "ABCDE****F", ["SM1"])


def test_directory_folds_a_batchs_changes_of_a_new_row_into_its_insert() -> None:
    registered, pan_changed, phone_added = _events()
    directory = CustomerDirectory()
    directory.begin_batch()
    for position, event in enumerate((registered, pan_changed, phone_added), 1):
        assert list(directory.project(position, event)) == []
    _counts, insert = directory.end_batch()
    (row,) = _inserted(insert)  # one row, no UPDATE: the changes are in it
    assert (row["pan"], row["pan_masked"], row["alternate_numbers"], row["version"]) == (
        "ABCDE9999F", "ABCDE****F", ["+919876543211"], 3,
    )  # fmt: skip
    assert row["alternate_phones"] == [{"phone": "+919876543211", "label": "mother"}]


def test_directory_changes_rows_of_earlier_batches_in_one_update() -> None:
    registered, pan_changed, phone_added = _events()
    directory = CustomerDirectory()
    directory.begin_batch()
    list(directory.project(1, registered))
    list(directory.end_batch())
    directory.begin_batch()  # the next batch: the row is in the table now
    assert list(directory.project(2, pan_changed)) == list(directory.project(3, phone_added)) == []
    (update,) = directory.end_batch()
    assert isinstance(update, Write) and update.sql.startswith("UPDATE read.customers c SET")
    (document,) = update.params
    assert isinstance(document, str)
    (change,) = json.loads(document)
    assert (change["pan"], change["pan_masked"], change["numbers"], change["version"]) == (
        "ABCDE9999F", "ABCDE****F", ["+919876543211"], 3,
    )  # fmt: skip


def test_name_positions_number_the_words_and_lump_the_ones_past_the_indexed_positions() -> None:
    assert name_positions("asha kulkarni") == [("asha", 1), ("kulkarni", 2)]
    assert name_positions("r. karthik r.") == [("r.", 1), ("karthik", 2), ("r.", 3)]
    assert name_positions("a b c d e f") == [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 5)]


def test_directory_counts_a_batchs_names_in_one_vocabulary_write() -> None:
    brand = uuid.uuid4()
    directory = CustomerDirectory()
    directory.begin_batch()
    for name in ("Asha Kulkarni", "Usha Kulkarni", "Asha Rao", "Venkata Naga Sai Krishna Prasad Rao Rao"):
        record = CustomerRecord(brand_id=brand, name=name, phone="+919876543210", addresses=[], loan_numbers=[])
        (registered,) = record.collect_events()
        assert list(directory.project(1, registered)) == []  # counted and gathered, not written, per registration
    counts, rows = directory.end_batch()
    assert len(_inserted(rows)) == 4  # and the four rows in one statement
    assert isinstance(counts, Write) and counts.sql.startswith("INSERT INTO read.customer_name_vocabulary")
    (text,) = counts.params
    document = json.loads(text)
    assert list(document) == [str(brand)]
    assert {(word, place): names for word, place, names in document[str(brand)]} == {
        ("asha", 1): 2,
        ("usha", 1): 1,
        ("kulkarni", 2): 2,
        ("rao", 2): 1,
        **dict.fromkeys([("venkata", 1), ("naga", 2), ("sai", 3), ("krishna", 4), ("prasad", 5)], 1),
        ("rao", 5): 2,  # past the indexed positions, as name_positions places them
    }
    assert name_positions("venkata naga sai krishna prasad rao rao")[4:] == [("prasad", 5), ("rao", 5), ("rao", 5)]
    assert list(directory.end_batch()) == []  # nothing counted twice


def test_a_rename_writes_the_batchs_counts_first_and_moves_the_vocabulary_counts() -> None:
    directory = CustomerDirectory()
    directory.begin_batch()
    record = CustomerRecord(
        brand_id=uuid.uuid4(), name="Asha Kulkarni", phone="+919876543210", addresses=[], loan_numbers=[]
    )
    record.update_details(email="asha@example.in")
    record.update_details(name="Asha Deshpande")
    registered, email_changed, renamed = record.collect_events()
    list(directory.project(1, registered))
    assert list(directory.project(2, email_changed)) == []  # gathered into the new row
    counts, row, move, drop = directory.project(3, renamed)
    assert isinstance(counts, Write) and isinstance(move, Write) and isinstance(drop, Write)
    assert counts.sql.startswith("INSERT INTO read.customer_name_vocabulary")  # the registration's, before the move
    # The move reads the row's old name in SQL: the row goes first, as gathered so far (the email, not the name).
    assert isinstance(row, Insert) and (row.row["name"], row.row["email"]) == ("Asha Kulkarni", "asha@example.in")
    assert "lower(%(name)s) AS new_key" in move.sql and move.params == {"name": "Asha Deshpande", "id": record.id}
    assert drop.sql.startswith("DELETE FROM read.customer_name_vocabulary")
    (rename,) = directory.end_batch()
    assert isinstance(rename, Write) and rename.sql.startswith("UPDATE read.customers")
    assert '"name":"Asha Deshpande"' in str(rename.params[0])


def test_timeline_masks_pan_changes_and_records_the_actor() -> None:
    writes = [w for pos, e in enumerate(_events(), 1) for w in CustomerTimeline().project(pos, e)]
    assert len(writes) == 3
    updated = writes[1].params
    assert isinstance(updated, dict)
    assert updated["kind"] == "details_updated" and updated["summary"] == "Updated pan"
    assert updated["details"].obj == {"pan": "ABCDE****F"}
    assert updated["actor"] == "system"


def test_covenant_views_gather_bulk_rows_and_keep_each_read_rows_order() -> None:
    from datetime import date
    from decimal import Decimal

    from domain.covenants.covenant import Covenant
    from domain.covenants.schedule import Calendar, Frequency
    from domain.covenants.terms import CovenantType, Operator, Terms
    from projections.covenants import CovenantViews

    def covenant() -> Covenant:
        calendar = Calendar(frequency=Frequency.MONTHLY, start_date=date(2024, 1, 1), first_due_date=date(2024, 1, 31),
                            expiry_date=date(2025, 12, 31), grace_days=5, lead_days=7)  # fmt: skip
        terms = Terms(type=CovenantType.FINANCIAL, metric="DSCR", operator=Operator.GE, threshold=Decimal("1.25"))
        return Covenant(brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), application_ref="APP-1", title="DSCR",
                        terms=terms, calendar=calendar, assignee_id=None, company=None)  # fmt: skip

    first, second = covenant(), covenant()
    (created_1,) = first.collect_events()
    (created_2,) = second.collect_events()
    (record,) = first.open_due_cycles(date(2024, 1, 24))
    (cycle_1,) = first.collect_events()
    (opened,) = record.collect_events()
    record.mark_overdue(date(2024, 2, 10))
    (overdue,) = record.collect_events()
    views = CovenantViews()
    views.begin_batch()
    # Two new covenants gather into one statement; nothing is written per event.
    assert list(views.project(1, created_1)) == [] and list(views.project(2, created_2)) == []
    # The first covenant's cycle touches a read row gathered already: the gathered rows go first.
    (inserted,) = views.project(3, cycle_1)
    assert inserted.sql.startswith("INSERT INTO read.covenants") and "unnest" in inserted.sql
    assert inserted.params[0] == [first.id, second.id]
    assert list(views.project(4, opened)) == []
    # Another kind of event: the gathered rows (the cycle, the record) first, then its own writes.
    writes = list(views.project(5, overdue))
    assert [w.sql.split(" (")[0].split(" SET")[0] for w in writes] == [
        "UPDATE read.covenants c",
        "INSERT INTO read.covenant_evaluations",
        "UPDATE read.covenant_evaluations",
        "UPDATE read.covenants",
    ]
    assert writes[0].params[0] == [first.id] and writes[1].params[0] == [record.id]
    assert list(views.end_batch()) == []


def test_covenant_views_write_a_records_proofs_after_the_record_and_mark_those_approved() -> None:
    from datetime import date

    from domain.covenants.covenant import Covenant
    from domain.covenants.schedule import Calendar, Frequency
    from domain.covenants.terms import CovenantType, Terms
    from domain.documents.content import ContentType, Uploader
    from projections.covenants import CovenantViews

    calendar = Calendar(frequency=Frequency.MONTHLY, start_date=date(2024, 1, 1), first_due_date=date(2024, 1, 31),
                        expiry_date=date(2025, 12, 31), grace_days=5, lead_days=7)  # fmt: skip
    covenant = Covenant(brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), application_ref="APP-1", title="Stock",
                        terms=Terms(type=CovenantType.DOCUMENT, document="Stock statement"), calendar=calendar,
                        assignee_id=None, company=None)  # fmt: skip
    (record,) = covenant.open_due_cycles(date(2024, 1, 24))
    kept, other = uuid.uuid4(), uuid.uuid4()
    for document_id in (kept, other):
        record.attach_proof(document_id, filename="stock.pdf", sha256="ab" * 32, size=90,
                            content_type=ContentType.PDF, uploaded_by=Uploader.STAFF)  # fmt: skip
    record.comply("January statement", [kept])
    opened, attached, _, approved, complied = record.collect_events()
    views = CovenantViews()
    views.begin_batch()
    assert list(views.project(1, opened)) == []
    # The record's row goes first: the proof's row takes the record's brand and covenant from it.
    writes = list(views.project(2, attached))
    assert [w.sql.split(" (")[0].split(" SET")[0].split("(")[0] for w in writes] == [
        "INSERT INTO read.covenant_evaluations",
        "SELECT pg_advisory_xact_lock",
        "INSERT INTO read.covenant_proofs",
        "UPDATE read.covenant_evaluations",
        "UPDATE read.covenants",
    ]
    # The proof's document is locked against its rejection being projected at the same moment (another runner).
    assert writes[1].params == (kept,)
    assert writes[2].params[0] == kept and writes[2].params[-1] == record.id
    # The covenant's worklist row says its current record has proof, keyed by this record only, unless staff
    # rejected the document.
    assert "current_proof_received = true" in writes[4].sql and writes[4].params == (record.id, record.id, kept)
    assert "read.covenant_proof_rejections" in writes[4].sql
    assert writes[2].params[4:7] == ("application/pdf", "staff", "system")
    (marked,) = views.project(4, approved)
    assert "approved = true" in marked.sql and marked.params == (record.id, [kept])
    assert "status" in next(iter(views.project(5, complied))).sql


def test_covenant_proof_reviews_project_rejections_only_and_clear_the_covenants_mark() -> None:
    from domain.documents.application import Documents
    from domain.documents.content import ContentType, DocumentKind, Uploader
    from domain.documents.document import Document, ReviewDecision
    from domain.shared.aggregate import with_id
    from projections.covenants import CovenantProofReviews

    def document() -> Document:
        return with_id(Document, uuid.uuid4(), brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), kind=DocumentKind.OTHER, filename="s.pdf",
                        sha256="ab" * 32, size=90, content_type=ContentType.PDF, uploaded_by=Uploader.STAFF)  # fmt: skip

    reviews = CovenantProofReviews()
    assert reviews.source == Documents.name and reviews.tables == ("read.covenant_proof_rejections",)
    blurred, clear = document(), document()
    blurred.review(ReviewDecision.REJECTED, "unreadable scan")
    clear.review(ReviewDecision.ACCEPTED, None)
    uploaded, rejected = blurred.collect_events()
    _, accepted = clear.collect_events()
    assert list(reviews.project(1, uploaded)) == [] and list(reviews.project(2, accepted)) == []
    writes = list(reviews.project(3, rejected))
    assert [w.sql.split(" (")[0].split(" SET")[0].split(" c.id")[0].split("(")[0] for w in writes] == [
        "SELECT pg_advisory_xact_lock",
        "INSERT INTO read.covenant_proof_rejections",
        "SELECT",
        "UPDATE read.covenants c",
    ]
    assert writes[0].params == (blurred.id,)
    assert writes[1].params == (blurred.id, "unreadable scan", rejected.timestamp)
    assert "FOR UPDATE OF c" in writes[2].sql and writes[2].params == (blurred.id,)
    assert "current_proof_received = false" in writes[3].sql and writes[3].params == (blurred.id,)


def test_covenant_views_send_gathered_rows_as_they_fill(monkeypatch: Any) -> None:
    from datetime import date
    from decimal import Decimal

    from domain.covenants.covenant import Covenant
    from domain.covenants.schedule import Calendar, Frequency
    from domain.covenants.terms import CovenantType, Operator, Terms
    from projections.covenants import CovenantViews, _BatchRows

    monkeypatch.setattr(_BatchRows, "ROWS", 2)
    calendar = Calendar(frequency=Frequency.MONTHLY, start_date=date(2024, 1, 1), first_due_date=date(2024, 1, 31),
                        expiry_date=date(2025, 12, 31), grace_days=5, lead_days=7)  # fmt: skip
    terms = Terms(type=CovenantType.FINANCIAL, metric="DSCR", operator=Operator.GE, threshold=Decimal("1.25"))
    covenants = [
        Covenant(
            brand_id=uuid.uuid4(),
            customer_id=uuid.uuid4(),
            application_ref=f"APP-{i}",
            title="DSCR",
            terms=terms,
            calendar=calendar,
            assignee_id=None,
            company=None,
        )
        for i in range(5)
    ]
    views = CovenantViews()
    views.begin_batch()
    sent = [[w.params[0] for w in views.project(i, c.collect_events()[0])] for i, c in enumerate(covenants, 1)]
    # Every second covenant's row fills a statement: it goes with the one before; the fifth waits for the end.
    assert sent == [[], [[covenants[0].id, covenants[1].id]], [], [[covenants[2].id, covenants[3].id]], []]
    (last,) = views.end_batch()
    assert last.params[0] == [covenants[4].id]


def test_covenant_views_gather_notices_their_links_and_sends() -> None:
    from datetime import date
    from decimal import Decimal

    from domain.covenants.covenant import Covenant, CovenantNotice
    from domain.covenants.schedule import Calendar, Frequency
    from domain.covenants.status import NoticeKind
    from domain.covenants.terms import CovenantType, Operator, Terms
    from projections.covenants import PRESUMED_NOTE, CovenantViews

    calendar = Calendar(frequency=Frequency.MONTHLY, start_date=date(2024, 1, 1), first_due_date=date(2024, 1, 31),
                        expiry_date=date(2025, 12, 31), grace_days=5, lead_days=7)  # fmt: skip
    terms = Terms(type=CovenantType.FINANCIAL, metric="DSCR", operator=Operator.GE, threshold=Decimal("1.25"))
    covenant = Covenant(brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), application_ref="APP-1", title="DSCR",
                        terms=terms, calendar=calendar, assignee_id=None, company=None)  # fmt: skip
    (record,) = covenant.open_due_cycles(date(2024, 1, 24))
    record.collect_events()
    notice = CovenantNotice(brand_id=covenant.brand_id, kind=NoticeKind.REMINDER, customer_id=covenant.customer_id,
                            application_ref="APP-1", recipient="a@example.in", subject="Reminder: DSCR",
                            evaluation_ids=[record.id], as_of=date(2024, 1, 24))  # fmt: skip
    record.queue_notice(NoticeKind.REMINDER, notice.id)
    (queued,) = notice.collect_events()
    (linked,) = record.collect_events()
    notice.mark_handing_over()
    notice.mark_sent(presumed=True)
    _, sent = notice.collect_events()
    views = CovenantViews()
    views.begin_batch()
    # The notice's row and the record's link gather (nothing per event) ...
    assert list(views.project(1, queued)) == [] and list(views.project(2, linked)) == []
    # ... until its Sent touches the notice's row gathered already: the gathered rows go first.
    inserted, link = views.project(3, sent)
    assert inserted.sql.startswith("INSERT INTO read.covenant_notices") and "unnest" in inserted.sql
    assert inserted.params[0] == [notice.id] and inserted.params[7] == [f"{{{record.id}}}"]
    assert link.sql.startswith("UPDATE read.covenant_evaluations e SET reminder_notice_id")
    assert link.params == ([record.id], [notice.id])
    (update,) = views.end_batch()
    assert update.sql.startswith("UPDATE read.covenant_notices n SET status = 'sent'")
    assert update.params == ([notice.id], [notice.message_id], [sent.timestamp], [PRESUMED_NOTE])
