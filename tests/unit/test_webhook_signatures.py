"""The webhook signature scheme (adapters/webhooks.py): what the product accepts from providers and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.webhooks import (
    BAD_SIGNATURE,
    MALFORMED_HEADER,
    MISSING_HEADER,
    STALE_TIMESTAMP,
    WebhookEvent,
    WebhookRejected,
    WebhookVerifier,
    sign,
    signature,
)
from domain.shared.clock import FixedClock

SECRET = "whsec_test"
SIGNED_AT = 1_700_000_000
BODY = b'{"id":"evt_1"}'


def verifier(at: int = SIGNED_AT, *secrets: str, tolerance: timedelta = timedelta(minutes=5)) -> WebhookVerifier:
    clock = FixedClock(datetime.fromtimestamp(at, UTC))
    return WebhookVerifier(secrets or (SECRET,), tolerance=tolerance, clock=clock)


def rejection(check: WebhookVerifier, body: bytes, headers: dict[str, str]) -> str:
    with pytest.raises(WebhookRejected) as raised:
        check.verify(body, headers)
    return raised.value.reason


def test_the_signature_is_hex_hmac_sha256_of_timestamp_dot_body() -> None:
    # Known answer from `printf '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_test`.
    expected = "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
    assert signature(SECRET, SIGNED_AT, BODY) == expected
    assert sign(SECRET, BODY, SIGNED_AT) == {"X-Timestamp": "1700000000", "X-Signature": f"v1={expected}"}


def test_a_delivery_signed_with_the_shared_secret_verifies_to_its_signing_instant() -> None:
    signed_at = verifier(SIGNED_AT + 30).verify(BODY, sign(SECRET, BODY, SIGNED_AT))
    assert signed_at == datetime.fromtimestamp(SIGNED_AT, UTC)


def test_a_body_changed_after_signing_is_rejected_as_a_bad_signature() -> None:
    headers = sign(SECRET, BODY, SIGNED_AT)
    assert rejection(verifier(), b'{"id":"evt_2"}', headers) == BAD_SIGNATURE
    assert rejection(verifier(), BODY + b" ", headers) == BAD_SIGNATURE


def test_a_signature_made_with_another_secret_or_for_another_timestamp_is_rejected() -> None:
    assert rejection(verifier(), BODY, sign("whsec_other", BODY, SIGNED_AT)) == BAD_SIGNATURE
    moved = {**sign(SECRET, BODY, SIGNED_AT), "X-Timestamp": str(SIGNED_AT + 1)}
    assert rejection(verifier(), BODY, moved) == BAD_SIGNATURE


def test_a_delivery_signed_outside_the_tolerance_window_either_way_is_rejected_as_stale() -> None:
    headers = sign(SECRET, BODY, SIGNED_AT)
    five_minutes = 300
    assert verifier(SIGNED_AT + five_minutes).verify(BODY, headers)  # the edge of the window is inside
    assert rejection(verifier(SIGNED_AT + five_minutes + 1), BODY, headers) == STALE_TIMESTAMP
    assert rejection(verifier(SIGNED_AT - five_minutes - 1), BODY, headers) == STALE_TIMESTAMP  # clock skew
    assert verifier(SIGNED_AT + 3600, tolerance=timedelta(hours=2)).verify(BODY, headers)


def test_a_forged_stale_delivery_is_reported_as_a_bad_signature_not_as_stale() -> None:
    forged = sign("whsec_other", BODY, SIGNED_AT)
    assert rejection(verifier(SIGNED_AT + 86_400), BODY, forged) == BAD_SIGNATURE


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, MISSING_HEADER),
        ({"X-Timestamp": str(SIGNED_AT)}, MISSING_HEADER),
        ({"X-Signature": "v1=00"}, MISSING_HEADER),
        ({"X-Timestamp": "yesterday", "X-Signature": "v1=00"}, MALFORMED_HEADER),
        ({"X-Timestamp": "-1700000000", "X-Signature": "v1=00"}, MALFORMED_HEADER),
        ({"X-Timestamp": "1" * 40, "X-Signature": "v1=00"}, MALFORMED_HEADER),
        ({"X-Timestamp": "١٧٠٠٠٠٠٠٠٠", "X-Signature": "v1=00"}, MALFORMED_HEADER),  # non-ASCII digits
        ({"X-Timestamp": str(SIGNED_AT), "X-Signature": "sha256=00"}, MALFORMED_HEADER),
        ({"X-Timestamp": str(SIGNED_AT), "X-Signature": "v1=not-hex"}, BAD_SIGNATURE),
    ],
)
def test_missing_or_malformed_signature_headers_are_rejected_with_their_reason(
    headers: dict[str, str], reason: str
) -> None:
    assert rejection(verifier(), BODY, headers) == reason


def test_header_names_match_whatever_their_capitalisation() -> None:
    headers = {name.lower(): value for name, value in sign(SECRET, BODY, SIGNED_AT).items()}
    assert verifier().verify(BODY, headers)


def test_during_a_secret_rotation_either_secret_verifies_and_a_sender_may_offer_both_signatures() -> None:
    rotating = verifier(SIGNED_AT, "whsec_new", SECRET)
    assert rotating.verify(BODY, sign(SECRET, BODY, SIGNED_AT))
    assert rotating.verify(BODY, sign("whsec_new", BODY, SIGNED_AT))
    both = f"v1={signature('whsec_unknown', SIGNED_AT, BODY)}, v1={signature(SECRET, SIGNED_AT, BODY)}"
    assert verifier().verify(BODY, {"X-Timestamp": str(SIGNED_AT), "X-Signature": both})


def test_a_verifier_needs_a_secret_and_a_positive_window() -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookVerifier([])
    with pytest.raises(ValueError, match="secret"):
        WebhookVerifier([""])
    with pytest.raises(ValueError, match="tolerance"):
        WebhookVerifier([SECRET], tolerance=timedelta(0))


def test_the_signed_body_parses_to_an_event_with_the_id_to_deduplicate_on() -> None:
    event = WebhookEvent.model_validate_json(
        b'{"id":"evt_9","type":"message.delivered","created_at":"2026-11-28T06:00:00+00:00","data":{"to":"+91"}}'
    )
    assert (event.id, event.type, event.data) == ("evt_9", "message.delivered", {"to": "+91"})
    assert event.created_at == datetime(2026, 11, 28, 6, tzinfo=UTC)
