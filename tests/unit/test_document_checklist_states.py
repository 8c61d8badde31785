"""Where each required document stands for a borrower (accepted, verified, received, rejected, missing), agreeing
with the staff checklist's `missing`, and the kinds the web flow offers a borrower to upload."""

from __future__ import annotations

from domain.documents.content import DocumentKind as K
from domain.documents.document import DocumentStatus as S
from domain.documents.requirements import (
    NOT_ACCEPTED,
    SUPPORTING,
    KindState,
    Uploaded,
    kind_statuses,
    missing_kinds,
    required_kinds,
    uploadable_kinds,
)

REQUIRED = required_kinds(require_selfie=False, require_employment=True)


def test_each_required_kind_has_its_state_in_the_order_required() -> None:
    uploaded = [
        Uploaded(K.PAN_CARD, S.PENDING),
        Uploaded(K.AADHAAR_BACK, S.REJECTED, "blurred"),
        Uploaded(K.AADHAAR_BACK, S.REJECTED, "cut off"),  # older
        Uploaded(K.SALARY_SLIP, S.ACCEPTED),
    ]
    statuses = kind_statuses(REQUIRED, uploaded, satisfied=(K.BANK_STATEMENT,))
    assert [(s.kind, s.state, s.reason) for s in statuses] == [
        (K.PAN_CARD, KindState.RECEIVED, None),
        (K.AADHAAR_FRONT, KindState.MISSING, None),
        (K.AADHAAR_BACK, KindState.REJECTED, "blurred"),  # the latest rejection's reason
        (K.BANK_STATEMENT, KindState.VERIFIED, None),
        (K.SALARY_SLIP, KindState.ACCEPTED, None),
    ]


def test_an_accepted_copy_wins_over_a_pending_or_rejected_one_and_a_pending_over_a_rejected() -> None:
    uploaded = [Uploaded(K.PAN_CARD, S.REJECTED, "old"), Uploaded(K.PAN_CARD, S.ACCEPTED)]
    uploaded += [Uploaded(K.AADHAAR_FRONT, S.REJECTED, "dark"), Uploaded(K.AADHAAR_FRONT, S.PENDING)]
    states = {s.kind: s.state for s in kind_statuses(REQUIRED, uploaded, satisfied=(K.PAN_CARD,))}
    assert states[K.PAN_CARD] is KindState.ACCEPTED and states[K.AADHAAR_FRONT] is KindState.RECEIVED


def test_the_states_agree_with_the_staff_checklists_missing_kinds() -> None:
    uploaded = [Uploaded(K.PAN_CARD, S.ACCEPTED), Uploaded(K.AADHAAR_FRONT, S.PENDING)]
    uploaded += [Uploaded(K.AADHAAR_BACK, S.REJECTED, "blurred"), Uploaded(K.VOTER_ID, S.PENDING)]
    satisfied = (K.BANK_STATEMENT,)
    accepted = {u.kind for u in uploaded if u.status is S.ACCEPTED}
    statuses = kind_statuses(REQUIRED, uploaded, satisfied)
    assert [s.kind for s in statuses if s.state in NOT_ACCEPTED] == missing_kinds(REQUIRED, accepted, satisfied)


def test_a_borrower_is_offered_what_is_still_to_upload_first_then_the_rest_then_supporting_kinds() -> None:
    statuses = kind_statuses(REQUIRED, [Uploaded(K.PAN_CARD, S.PENDING), Uploaded(K.AADHAAR_BACK, S.REJECTED, "x")])
    offered = uploadable_kinds(statuses)
    assert offered[:4] == [K.AADHAAR_FRONT, K.AADHAAR_BACK, K.BANK_STATEMENT, K.SALARY_SLIP]
    assert offered[4] == K.PAN_CARD  # received: another copy may still be sent
    assert offered[5:] == [k for k in SUPPORTING if k is not K.SALARY_SLIP]  # required here: offered once
    assert K.AADHAAR_PHOTO not in offered and K.SELFIE not in offered  # a provider's, and not asked of this brand
    assert len(offered) == len(set(offered))
