"""The documents page's upload select: grouped still needed / already received / supporting, in the order offered,
and a label for every kind of document."""

from __future__ import annotations

from api.pages.borrower_documents import KIND_LABELS, STATE_TEXT, upload_choices
from domain.documents.content import DocumentKind as K
from domain.documents.document import DocumentStatus as S
from domain.documents.requirements import KindState, Uploaded, kind_statuses, required_kinds, uploadable_kinds


def test_every_kind_and_state_has_words_for_the_borrower() -> None:
    assert set(KIND_LABELS) == set(K) and set(STATE_TEXT) == set(KindState)


def test_the_select_groups_what_is_still_needed_then_what_was_received_then_supporting_kinds() -> None:
    required = required_kinds(require_selfie=True, require_employment=False)
    statuses = kind_statuses(required, [Uploaded(K.PAN_CARD, S.ACCEPTED), Uploaded(K.SELFIE, S.PENDING)])
    to_upload = [s.kind for s in statuses if s.state in (KindState.MISSING, KindState.REJECTED)]
    groups = upload_choices(uploadable_kinds(statuses), to_upload)
    assert [title for title, _ in groups] == [
        "Still needed", "Already received (send another copy)", "Supporting documents (when we ask for one)",
    ]  # fmt: skip
    assert groups[0][1] == [K.AADHAAR_FRONT, K.AADHAAR_BACK, K.BANK_STATEMENT]
    assert groups[1][1] == [K.PAN_CARD, K.SELFIE]
    assert groups[2][1][0] is K.VOTER_ID and K.SALARY_SLIP in groups[2][1]  # not required by this brand


def test_a_group_with_nothing_in_it_is_left_out() -> None:
    required = required_kinds(require_selfie=False, require_employment=False)
    statuses = kind_statuses(required, [])
    groups = upload_choices(uploadable_kinds(statuses), list(required))
    assert [title for title, _ in groups] == ["Still needed", "Supporting documents (when we ask for one)"]


def test_requested_kinds_come_first_once_each_and_leave_their_other_group() -> None:
    required = required_kinds(require_selfie=False, require_employment=False)
    statuses = kind_statuses(required, [])
    groups = upload_choices(uploadable_kinds(statuses), list(required), [K.UTILITY_BILL, K.PAN_CARD, K.UTILITY_BILL])
    assert groups[0] == ("We asked you for", [K.UTILITY_BILL, K.PAN_CARD])
    offered = [kind for _, kinds in groups for kind in kinds]
    assert offered.count(K.UTILITY_BILL) == 1 and offered.count(K.PAN_CARD) == 1
