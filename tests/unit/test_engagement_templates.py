"""Templates' placeholders and escaping, quiet hours, and the rupee format of the notifications (issue #17)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.services.engagement_delivery import BrandMessaging
from domain.engagement.defaults import LATER_KIND_CHANNELS, default_templates, kind_channels
from domain.engagement.templates import PLACEHOLDERS, Channel, Kind, Language, check_template, clean_value, render
from domain.shared.errors import InvalidInput
from domain.shared.rupees import rupees

HOSTILE = "<img src=x onerror=alert(1)>{{payment_link}}\nPAY NOW at evil.example\u202e"


def test_email_values_are_html_escaped_and_never_rendered_twice() -> None:
    out = render(Channel.EMAIL, "Hi {{borrower_name}}", "<p>Dear {{borrower_name}}: {{payment_link}}</p>",
                 {"borrower_name": HOSTILE, "payment_link": "https://pay.example/1"})  # fmt: skip
    assert "<img" not in out.body and "&lt;img src=x onerror=alert(1)&gt;" in out.body
    assert out.body.count("https://pay.example/1") == 1 and "{{payment_link}}" in out.body
    assert "\n" not in out.subject and "\u202e" not in out.body and out.body.startswith("<p>Dear ")


def test_sms_values_are_one_clean_line_and_cut() -> None:
    out = render(Channel.SMS, None, "Dear {{borrower_name}}, pay {{amount}}", {"borrower_name": HOSTILE * 10,
                                                                             "amount": "₹10.00"})  # fmt: skip
    assert "\n" not in out.body and "\u202e" not in out.body and out.body.endswith("pay ₹10.00")
    assert len(out.body) < 260


def test_unknown_placeholders_and_missing_subjects_are_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_template(Channel.SMS, None, "Hi {{nickname}}")
    assert refused.value.errors[0].field == "body"
    with pytest.raises(InvalidInput) as no_subject:
        check_template(Channel.EMAIL, None, "<p>Hi {{borrower_name}}</p>")
    assert no_subject.value.errors[0].field == "subject"
    with pytest.raises(InvalidInput):
        check_template(Channel.SMS, "subject", "Hi {{borrower_name}}")


def test_defaults_cover_every_automatic_kind_in_english_and_hindi() -> None:
    found = default_templates()
    for _kind, channel, _language, subject, body in found:
        check_template(channel, subject, body)
    keys = {(k.value, c.value, lang) for k, c, lang, _, _ in found}
    assert ("due_7", "whatsapp", Language.HI) in keys and ("paid", "email", Language.EN) in keys
    assert ("disbursed", "email", Language.EN) not in keys and len(found) == 2 * (5 * 3 + 2 + 2)


def test_quiet_hours_in_brand_time() -> None:
    brand = BrandMessaging(uuid4(), "B", "Asia/Kolkata", {}, {}, 10, 3)
    evening = datetime(2026, 3, 5, 16, 0, tzinfo=UTC)  # 21:30 IST
    until = brand.quiet_until("sms", evening)
    assert until is not None and until.isoformat() == "2026-03-06T08:00:00+05:30"
    assert brand.quiet_until("email", evening) is None
    assert brand.quiet_until("whatsapp", datetime(2026, 3, 5, 2, 29, tzinfo=UTC)) is not None  # 07:59 IST
    assert brand.quiet_until("sms", datetime(2026, 3, 5, 2, 30, tzinfo=UTC)) is None  # 08:00 IST
    assert brand.quiet_until("sms", datetime(2026, 3, 5, 15, 29, tzinfo=UTC)) is None  # 20:59 IST


def test_rupees_use_indian_grouping() -> None:
    assert rupees(Decimal("8037.57")) == "₹8,037.57"
    assert rupees(Decimal("123456.7")) == "₹1,23,456.70"
    assert rupees(Decimal("12345678")) == "₹1,23,45,678.00"
    assert rupees(Decimal("5")) == "₹5.00"


_NAMES = ["borrower_name", "loan_number", "amount", "due_date", "payment_link", "brand_name", "not_a_placeholder"]


@given(
    pieces=st.lists(st.one_of(st.text(max_size=12), st.sampled_from([f"{{{{{n}}}}}" for n in _NAMES]),
                              st.sampled_from(["{{ amount }}", "{{", "}}", "{{{amount}}}", "{{AMOUNT}}"])), max_size=12),
    values=st.dictionaries(st.sampled_from(_NAMES), st.text(max_size=20), max_size=7),
)  # fmt: skip
def test_rendering_substitutes_exactly_as_one_regex_pass_would(pieces: list[str], values: dict[str, str]) -> None:
    """The renderer splits a template once and joins values in; a second implementation (one `re.sub` pass over the
    text, the first rendering's way) must agree on every template, escaped or not."""
    text = "".join(pieces)
    clean = {name: clean_value(v) for name, v in values.items() if name in PLACEHOLDERS}

    def reference(escape: bool) -> str:
        def one(match: re.Match[str]) -> str:
            value = clean.get(match.group(1), "")
            return html.escape(value, quote=True) if escape else value

        return re.sub(r"\{\{\s*([a-z_]+)\s*\}\}", one, text)

    assert render(Channel.SMS, None, text, values).body == reference(escape=False)
    assert render(Channel.EMAIL, "s", text, values).body == reference(escape=True)


def test_defaults_of_kinds_added_later_are_valid_in_english_and_hindi() -> None:
    found = default_templates(LATER_KIND_CHANNELS)
    for _kind, channel, _language, subject, body in found:
        check_template(channel, subject, body)
    keys = {(k.value, c.value, lang) for k, c, lang, _, _ in found}
    assert keys == {("reloan_offer", c, lang) for c in ("sms", "whatsapp", "email") for lang in ("en", "hi")}
    assert all("{{offer_link}}" in body and "{{amount}}" in body for *_, body in found)
    assert kind_channels(Kind.RELOAN_OFFER) == (Channel.SMS, Channel.WHATSAPP, Channel.EMAIL)
    assert kind_channels(Kind.PAID) == (Channel.SMS, Channel.EMAIL)
