"""Lead imports: parsing every record (BOM, UTF-16, quoted newlines, unicode, broken rows), dedupe within the file
and against the brand's leads and borrowers (phone, email, PAN, exact / partial / fuzzy name), the funnel."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from domain.leads.application import LeadDirectory, Leads, lead_id
from domain.leads.csv_import import LeadSource, parse_leads
from domain.leads.dedupe import Known, lead_name_keys, name_match
from domain.leads.lead import Lead, LeadImport, LeadStatus
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
FB_HEADER = (
    "id,created_time,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,form_id,form_name,is_organic,"
    "platform,full_name,phone_number,email\n"
)


def fb(*rows: str) -> bytes:
    return (FB_HEADER + "".join(r + "\n" for r in rows)).encode()


def row(i: int, name: str, phone: str, email: str = "", organic: str = "false", campaign: str = "Diwali") -> str:
    return (
        f"l:{i},2026-11-01T10:00:00+0530,ad{i},Ad {i},as1,Set 1,c1,{campaign},f1,Form,{organic},fb,{name},"
        f"{phone},{email}"
    )


class FakeDirectory:
    """The brand's known leads and borrowers, as the read model would answer (blocking by name keys)."""

    def __init__(self, known: list[tuple[uuid.UUID, Known]]) -> None:
        self.items = known

    def known(
        self,
        brand_id: uuid.UUID,
        phones: Sequence[str],
        emails: Sequence[str],
        pans: Sequence[str],
        keys: Sequence[str],
    ) -> list[Known]:
        wanted = set(keys)
        return [
            k
            for brand, k in self.items
            if brand == brand_id
            and (k.phone in phones or k.email in emails or k.pan in pans or wanted & set(lead_name_keys(k.name)))
        ]


@pytest.fixture
def leads(clock: FixedClock) -> Leads:
    return in_memory(Leads, clock)


def _import(app: Leads, data: bytes, source: LeadSource | None = None) -> LeadImport:
    result = app.import_file(BRAND, data, "leads.csv", source)
    return app.lead_import(BRAND, result.id)


def test_a_clean_file_creates_one_lead_per_row_with_its_campaign(leads: Leads) -> None:
    record = _import(
        leads, fb(row(1, "Asha Rao", "9876500001", "asha@example.in"), row(2, "Vikram Shah", "9876500002"))
    )
    assert (record.rows, record.created, record.duplicates, record.source) == (2, 2, 0, "facebook")
    assert [line.line for line in record.lines] == [2, 3]
    lead = leads.lead(BRAND, record.lines[0].lead_id)  # type: ignore[arg-type]
    assert lead.details.phone == "+919876500001"
    assert lead.details.campaign_name == "Diwali"
    assert lead.status is LeadStatus.NEW
    assert lead.import_id == record.id


def test_organic_leads_carry_no_campaign_data(leads: Leads) -> None:
    record = _import(leads, fb(row(1, "Asha Rao", "9876500001", organic="true")))
    lead = leads.lead(BRAND, record.lines[0].lead_id)  # type: ignore[arg-type]
    assert lead.details.is_organic and lead.details.campaign_name is None and lead.details.campaign_id is None
    assert record.organic == 1


def test_duplicates_within_the_file_by_phone_email_and_any_spelling(leads: Leads) -> None:
    record = _import(
        leads,
        fb(
            row(1, "Asha Rao", "9876500001", "asha@example.in"),
            row(2, "Asha R", "+91 98765 00001"),  # same phone, another spelling
            row(3, "A Rao", "9876500003", "ASHA@example.in"),  # same email, other case
        ),
    )
    assert (record.created, record.duplicates) == (1, 2)
    dup_phone, dup_email = record.lines[1], record.lines[2]
    assert (dup_phone.outcome, dup_phone.match_kind, dup_phone.matched_line) == ("duplicate", "phone", 2)
    assert (dup_email.outcome, dup_email.match_kind, dup_email.matched_line) == ("duplicate", "email", 2)
    assert record.matched["phone"] == 1 and record.matched["email"] == 1


def test_near_duplicates_by_name_are_created_and_flagged_with_the_score(leads: Leads) -> None:
    record = _import(
        leads,
        fb(
            row(1, "Suresh Kumar Menon", "9876500001"),
            row(2, "Suresh Menon", "9876500002"),  # partial: the shorter name's words are in the longer
            row(3, "Sursh Kumar Menon", "9876500003"),  # a typo: fuzzy
            row(4, "Lakshmi Iyer", "9876500004"),  # nobody
            row(5, "Mr. suresh  kumar MENON", "9876500005"),  # the same name once normalised
        ),
    )
    assert record.created == 5 and record.duplicates == 0
    kinds = {line.line: (line.match_kind, line.score, line.matched_line) for line in record.lines}
    assert kinds[3][0] == "name_partial" and kinds[3][2] == 2
    assert kinds[4][0] == "name_fuzzy" and 80 <= kinds[4][1] < 100  # type: ignore[operator]
    assert kinds[5] == (None, None, None)
    assert kinds[6] == ("name_exact", 100, 2)


def test_against_existing_leads_and_borrowers(clock: FixedClock) -> None:
    known_lead = uuid.uuid4()
    borrower = uuid.uuid4()
    directory = FakeDirectory(
        [
            (BRAND, Known("lead", known_lead, "Old Lead", "+919876500001", None, None)),
            (BRAND, Known("borrower", borrower, "Priya Nair", "+919876500002", "priya@example.in", "ABCDE1234F")),
            (BRAND, Known("borrower", uuid.uuid4(), "Ravi Teja", "+919876500099", None, None)),
            (OTHER, Known("lead", uuid.uuid4(), "Other Brand", "+919876500003", None, None)),
        ]
    )
    app = in_memory(Leads, clock, directory=directory)
    record = _import(
        app,
        fb(
            row(1, "Someone", "9876500001"),  # an existing lead's phone: duplicate
            row(2, "Priya N", "9876500002"),  # a borrower's phone: created, linked
            row(3, "Other", "9876500003"),  # another brand's lead: not a duplicate here
            row(4, "Ravi Teja", "9876500004"),  # a borrower's name only: flagged
        ),
    )
    lines = {line.line: line for line in record.lines}
    assert (lines[2].outcome, lines[2].matched_kind, lines[2].matched_id) == ("duplicate", "lead", known_lead)
    assert (lines[3].outcome, lines[3].match_kind, lines[3].matched_id) == ("created", "phone", borrower)
    assert app.lead(BRAND, lines[3].lead_id).borrower_id == borrower  # type: ignore[arg-type]
    assert lines[4].outcome == "created" and lines[4].match_kind is None
    assert (lines[5].match_kind, lines[5].matched_kind, lines[5].score) == ("name_exact", "borrower", 100)
    assert app.lead(BRAND, lines[5].lead_id).borrower_id is None  # type: ignore[arg-type]


def test_broken_rows_are_rejected_with_their_line_numbers_and_the_rest_imported(leads: Leads) -> None:
    data = fb(
        row(1, "Asha Rao", "9876500001"),
        row(2, "No Phone", "", ""),
        row(3, "Bad Phone", "12345"),
        "too,few,cells",
        row(5, "Bad Email", "", "not-an-email"),
        row(6, "Bad Flag", "9876500006", organic="maybe"),
        row(7, "Good Too", "9876500007"),
    )
    record = _import(leads, data)
    rejected = {line.line: line.reason or "" for line in record.lines if line.outcome == "rejected"}
    assert sorted(rejected) == [3, 4, 5, 6, 7]
    assert "phone" in rejected[3] and "cells" in rejected[5] and "email" in rejected[6] and "is_organic" in rejected[7]
    assert (record.rows, record.created) == (7, 2)


def test_quoted_newlines_keep_line_numbers_of_where_each_record_starts(leads: Leads) -> None:
    data = fb(
        row(1, '"Asha\nRao"', "9876500001").replace(",Form,", ',"Form\nwith, comma",'),
        row(2, "Vikram Shah", "12"),
    )
    record = _import(leads, data)
    assert record.lines[0].outcome == "created" and record.lines[0].name == "Asha Rao"
    assert (record.lines[1].line, record.lines[1].outcome) == (5, "rejected")
    lead = leads.lead(BRAND, record.lines[0].lead_id)  # type: ignore[arg-type]
    assert lead.details.form_name == "Form\nwith, comma"


def test_bom_unicode_and_utf16_tab_separated_exports(leads: Leads) -> None:
    utf8 = b"\xef\xbb\xbf" + fb(row(1, "Rénuka Dévi", "9876500001"), row(2, "सुरेश कुमार", "9876500002"))
    record = _import(leads, utf8)
    assert [line.name for line in record.lines] == ["Rénuka Dévi", "सुरेश कुमार"]
    tabbed = fb(row(3, "Tab Person", "9876500003")).decode().replace(",", "\t").encode("utf-16")
    other = _import(leads, tabbed)
    assert other.created == 1 and other.lines[0].name == "Tab Person"


def test_hostile_cells_are_stored_as_given(leads: Leads) -> None:
    record = _import(leads, fb(row(1, "Eve", "9876500001", campaign='"=HYPERLINK(""http://x"",""y"")"')))
    lead = leads.lead(BRAND, record.lines[0].lead_id)  # type: ignore[arg-type]
    assert lead.details.campaign_name == '=HYPERLINK("http://x","y")'


def test_google_ads_export_is_detected(leads: Leads) -> None:
    data = (
        b"Lead ID,Campaign ID,Campaign,Ad group name,Submission time,Full Name,User Phone,User Email,GCL ID\n"
        b"g1,77,Search Brand,Group,2026-11-02T09:00:00Z,Kiran Das,+919876500011,kiran@example.in,abc\n"
    )
    record = _import(leads, data)
    lead = leads.lead(BRAND, record.lines[0].lead_id)  # type: ignore[arg-type]
    assert record.source == "google" and lead.details.campaign_name == "Search Brand"
    assert _import(leads, data.replace(b"kiran", b"kirn").replace(b"0011", b"0012"), LeadSource.FACEBOOK).source == (
        "facebook"
    )


def test_a_file_that_is_not_a_lead_csv_records_nothing(leads: Leads) -> None:
    for data in (b"", b"a,b,c\n1,2,3\n", b"\xff\x00garbage\xc3"):
        with pytest.raises(InvalidInput):
            leads.import_file(BRAND, data, "x.csv", None)
    assert leads.recorder.max_notification_id() in (None, 0)


def test_a_utf16_file_that_does_not_decode_is_refused_naming_the_file_and_records_nothing(leads: Leads) -> None:
    header = "full_name\tphone_number\n".encode("utf-16-le")
    odd_length = b"\xff\xfe" + header + b"n"
    surrogate = b"\x00\xd8"  # U+D800 (little-endian) with no low surrogate after it
    lone_surrogate = (
        b"\xff\xfe" + header + "Asha".encode("utf-16-le") + surrogate + "\t9876500001\n".encode("utf-16-le")
    )
    for data in (b"\xff\xfen", odd_length, lone_surrogate, b"\xfe\xff\xd8\x00\x00a"):
        with pytest.raises(InvalidInput) as refused:
            leads.import_file(BRAND, data, "x.csv", None)
        assert [e.field for e in refused.value.errors] == ["file"]
    assert leads.recorder.max_notification_id() in (None, 0)


def test_a_created_time_past_the_accepted_dates_or_offsets_rejects_its_row_by_line(leads: Leads) -> None:
    def at(i: int, when: str) -> str:
        return row(i, f"Lead {chr(64 + i)} Rao", f"98765000{i:02d}").replace("2026-11-01T10:00:00+0530", when)

    data = fb(
        at(1, "2026-01-01T00:00:00+20:00"),
        at(2, "2026-01-01T00:00:00-15:00"),
        at(3, "9999-12-31T23:59:59Z"),
        at(4, "0001-01-01T00:00:00+00:00"),
        at(5, "2026-01-01T00:00:00+14:00"),
        at(6, "2026-01-01T00:00:00-12:00"),
    )
    record = _import(leads, data)
    outcomes = [(x.line, x.outcome) for x in record.lines]
    assert outcomes == [(line, "rejected") for line in (2, 3, 4, 5)] + [(6, "created"), (7, "created")]
    assert all((x.reason or "").startswith("created_time: ") for x in record.lines[:4])
    assert "offset" in (record.lines[0].reason or "") and "between 1900 and 2200" in (record.lines[2].reason or "")


def test_reimporting_the_same_file_creates_nothing_new(clock: FixedClock) -> None:
    data = fb(row(1, "Asha Rao", "9876500001"))
    first = in_memory(Leads, clock)
    record = _import(first, data)
    lead = first.lead(BRAND, record.lines[0].lead_id)  # type: ignore[arg-type]
    directory = FakeDirectory([(BRAND, Known("lead", lead.id, "Asha Rao", lead.details.phone, None, None))])
    first.directory = directory
    again = _import(first, data)
    assert (again.created, again.duplicates) == (0, 1)


def test_funnel_moves_forward_or_to_rejected_and_refuses_going_back(leads: Leads) -> None:
    record = _import(leads, fb(row(1, "Asha Rao", "9876500001")))
    the_lead = record.lines[0].lead_id
    assert the_lead == lead_id(BRAND, parse_leads(fb(row(1, "Asha Rao", "9876500001"))).rows[0])
    leads.move(BRAND, the_lead, LeadStatus.CONTACTED, "called")  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        leads.move(BRAND, the_lead, LeadStatus.NEW, None)  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        leads.move(BRAND, the_lead, LeadStatus.APPLIED, None, expected_version=1)  # type: ignore[arg-type]
    borrower = uuid.uuid4()
    leads.link(BRAND, the_lead, borrower)  # type: ignore[arg-type]
    found: Lead = leads.lead(BRAND, the_lead)  # type: ignore[arg-type]
    assert (found.status, found.borrower_id) == (LeadStatus.APPLIED, borrower)
    leads.move(BRAND, the_lead, LeadStatus.REJECTED, "not eligible")  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        leads.move(BRAND, the_lead, LeadStatus.CONVERTED, None)  # type: ignore[arg-type]


def test_a_sign_up_racing_a_staff_change_of_its_lead_is_linked_to_the_lead_as_it_now_is(
    leads: Leads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sign-up worker links a new borrower to their lead and marks the sign-up done whatever the link answers:
    losing a race with staff moving the lead was a ConcurrentModification taken for "linked concurrently", and the
    lead was never linked."""
    the_lead = _import(leads, fb(row(1, "Asha Rao", "9876500001"))).lines[0].lead_id
    assert the_lead is not None
    phone = leads.lead(BRAND, the_lead).details.phone
    real_lead, raced = leads.lead, []

    def lead_then_moved(brand_id: uuid.UUID, lead: uuid.UUID) -> Lead:
        found = real_lead(brand_id, lead)
        if not raced:  # the link has loaded the lead: staff save their change before it saves
            raced.append(True)
            leads.move(brand_id, lead, LeadStatus.CONTACTED, "called")
        return found

    monkeypatch.setattr(leads, "lead", lead_then_moved)
    borrower = uuid.uuid4()
    assert leads.link_signup(BRAND, phone, borrower) is not None
    found = real_lead(BRAND, the_lead)
    assert raced and (found.status, found.borrower_id) == (LeadStatus.APPLIED, borrower)
    assert leads.link_signup(BRAND, phone, uuid.uuid4()) is None  # linked: nothing more to link


def test_name_match_kinds() -> None:
    assert name_match("Karthik R", "R. Karthik") == ("name_partial", 100)  # word order aside
    assert name_match("Ramesh Menon", "Suresh Menon") is None
    assert name_match("Lakshmi Iyer", "Ramesh Menon") is None
    assert name_match("Suresh Menon", "Suresh Kumar Menon") == ("name_partial", 95)


def test_directory_protocol_is_satisfied_by_the_fake() -> None:
    directory: LeadDirectory = FakeDirectory([])
    assert directory.known(BRAND, [], [], [], []) == []


def test_an_unterminated_quote_rejects_from_its_line_and_keeps_what_came_before(leads: Leads) -> None:
    data = fb(row(1, "Asha Rao", "9876500001")) + b'l:2,,,,,,,,,,false,fb,"Open quote,9876500002,\nl:3,more\n'
    record = _import(leads, data)
    assert [(x.line, x.outcome) for x in record.lines] == [(2, "created"), (3, "rejected")]


def test_semicolons_ads_manager_phone_prefix_and_pan_duplicates(leads: Leads) -> None:
    data = (
        b"full_name;phone_number;email;pan\n"
        b"Kiran Das;p:+919876500021;;abcde1234f\n"
        b"Kiran D;p:+919876500022;;ABCDE1234F\n"
        b"Bad Pan;9876500023;;1234\n"
    )
    record = _import(leads, data)
    assert [(x.outcome, x.match_kind) for x in record.lines] == [
        ("created", None),
        ("duplicate", "pan"),
        ("rejected", None),
    ]
    lead = leads.lead(BRAND, record.lines[0].lead_id)  # type: ignore[arg-type]
    assert (lead.details.phone, lead.details.pan) == ("+919876500021", "ABCDE1234F")


def test_blank_lines_are_not_records_and_cells_are_bounded(leads: Leads) -> None:
    data = fb(row(1, "Asha Rao", "9876500001"), "", row(3, "X" * 501, "9876500003"))
    record = _import(leads, data)
    assert [(x.line, x.outcome) for x in record.lines] == [(2, "created"), (4, "rejected")]
    assert "500" in (record.lines[1].reason or "")


def test_an_import_is_recorded_after_the_leads_it_counts(leads: Leads) -> None:
    # A projection may commit a large import's events over several of its batches. A clean-clone run's report read
    # 10,001 of an import's 10,002 leads: the import's row (its event recorded first) had shown while the last lead
    # was still in a batch to come, and the 202's poll of the import's Location took it as done. Recorded after its
    # leads, the import shows only once every lead it counts does.
    before = leads.recorder.max_notification_id() or 0
    record = _import(leads, fb(*(row(n, f"Lead {n}", f"98765{n:05d}") for n in range(1, 6))))
    recorded = leads.recorder.select_notifications(before + 1, 100)
    assert [n.originator_id for n in recorded][-1] == record.id
    assert {n.originator_id for n in recorded[:-1]} == {line.lead_id for line in record.lines}
    assert len(recorded) == 6 and record.created == 5
