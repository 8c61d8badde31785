"""The default templates every brand starts with (issue #17 item 2): each automatic kind on its channels, in English
and Hindi. Seeded once per brand (`Engagement.seed_defaults`); admins then edit them (a new version each time)."""

from __future__ import annotations

from collections.abc import Mapping

from domain.engagement.templates import Channel, Kind, Language

C, K, L = Channel, Kind, Language

#: The channels each automatic kind goes out on (the spec's table).
KIND_CHANNELS: dict[Kind, tuple[Channel, ...]] = {
    K.DUE_7: (C.SMS, C.WHATSAPP, C.EMAIL),
    K.DUE_3: (C.SMS, C.WHATSAPP, C.EMAIL),
    K.DUE_1: (C.SMS, C.WHATSAPP, C.EMAIL),
    K.DUE_0: (C.SMS, C.WHATSAPP, C.EMAIL),
    K.OVERDUE: (C.SMS, C.WHATSAPP, C.EMAIL),
    K.DISBURSED: (C.SMS, C.WHATSAPP),
    K.PAID: (C.SMS, C.EMAIL),
}
#: Kinds added after the first defaults, with their channels. A brand seeded before one existed has none of its
#: templates, so `Engagement.seed_defaults` seeds such a kind for any brand that has no template of it yet.
LATER_KIND_CHANNELS: dict[Kind, tuple[Channel, ...]] = {
    K.RELOAN_OFFER: (C.SMS, C.WHATSAPP, C.EMAIL),
}


def kind_channels(kind: Kind) -> tuple[Channel, ...]:
    """The spec's channels of an automatic kind (a brand's `notification_channels` may name others)."""
    return KIND_CHANNELS.get(kind) or LATER_KIND_CHANNELS[kind]


_EN_TEXT: dict[Kind, str] = {
    K.DUE_7: "Dear {{borrower_name}}, your instalment of {{amount}} on loan {{loan_number}} is due on {{due_date}} "
    "(in 7 days). Pay: {{payment_link}} - {{brand_name}}",
    K.DUE_3: "Dear {{borrower_name}}, your instalment of {{amount}} on loan {{loan_number}} is due on {{due_date}} "
    "(in 3 days). Pay: {{payment_link}} - {{brand_name}}",
    K.DUE_1: "Dear {{borrower_name}}, your instalment of {{amount}} on loan {{loan_number}} is due tomorrow, "
    "{{due_date}}. Pay: {{payment_link}} - {{brand_name}}",
    K.DUE_0: "Dear {{borrower_name}}, your instalment of {{amount}} on loan {{loan_number}} is due today, "
    "{{due_date}}. Pay: {{payment_link}} - {{brand_name}}",
    K.OVERDUE: "Dear {{borrower_name}}, {{amount}} on loan {{loan_number}} was due on {{due_date}} and is "
    "{{days_overdue}} days overdue. Please pay now: {{payment_link}} - {{brand_name}}",
    K.DISBURSED: "Dear {{borrower_name}}, your loan {{loan_number}} of {{amount}} has been disbursed. "
    "First instalment due {{due_date}}. - {{brand_name}}",
    K.PAID: "Dear {{borrower_name}}, loan {{loan_number}} is fully paid ({{amount}} received). Thank you! "
    "No-due certificate: {{ndc_link}} Receipts: {{payment_link}} - {{brand_name}}",
    K.RELOAN_OFFER: "Dear {{borrower_name}}, thank you for repaying loan {{loan_number}}. You are pre-approved for a "
    "new loan of {{amount}}; your KYC is on file. See and accept the offer: {{offer_link}} - {{brand_name}}",
}
_HI_TEXT: dict[Kind, str] = {
    K.DUE_7: "प्रिय {{borrower_name}}, ऋण {{loan_number}} की {{amount}} की किस्त {{due_date}} को (7 दिन में) देय है। "
    "भुगतान: {{payment_link}} - {{brand_name}}",
    K.DUE_3: "प्रिय {{borrower_name}}, ऋण {{loan_number}} की {{amount}} की किस्त {{due_date}} को (3 दिन में) देय है। "
    "भुगतान: {{payment_link}} - {{brand_name}}",
    K.DUE_1: "प्रिय {{borrower_name}}, ऋण {{loan_number}} की {{amount}} की किस्त कल, {{due_date}} को देय है। "
    "भुगतान: {{payment_link}} - {{brand_name}}",
    K.DUE_0: "प्रिय {{borrower_name}}, ऋण {{loan_number}} की {{amount}} की किस्त आज, {{due_date}} को देय है। "
    "भुगतान: {{payment_link}} - {{brand_name}}",
    K.OVERDUE: "प्रिय {{borrower_name}}, ऋण {{loan_number}} की {{amount}} की राशि {{due_date}} को देय थी और "
    "{{days_overdue}} दिन से बकाया है। कृपया अभी भुगतान करें: {{payment_link}} - {{brand_name}}",
    K.DISBURSED: "प्रिय {{borrower_name}}, आपका ऋण {{loan_number}} ({{amount}}) वितरित कर दिया गया है। पहली किस्त "
    "{{due_date}} को देय है। - {{brand_name}}",
    K.PAID: "प्रिय {{borrower_name}}, ऋण {{loan_number}} पूरी तरह चुका दिया गया है ({{amount}} प्राप्त)। धन्यवाद! "
    "अदेयता प्रमाणपत्र: {{ndc_link}} रसीदें: {{payment_link}} - {{brand_name}}",
    K.RELOAN_OFFER: "प्रिय {{borrower_name}}, ऋण {{loan_number}} चुकाने के लिए धन्यवाद। आपके लिए {{amount}} का नया ऋण "
    "पूर्व-स्वीकृत है; आपका KYC हमारे पास है। प्रस्ताव देखें और स्वीकार करें: {{offer_link}} - {{brand_name}}",
}
_EN_SUBJECT: dict[Kind, str] = {
    K.DUE_7: "Instalment of {{amount}} due on {{due_date}} ({{loan_number}})",
    K.DUE_3: "Instalment of {{amount}} due on {{due_date}} ({{loan_number}})",
    K.DUE_1: "Instalment due tomorrow ({{loan_number}})",
    K.DUE_0: "Instalment due today ({{loan_number}})",
    K.OVERDUE: "Overdue: {{amount}} on loan {{loan_number}}",
    K.DISBURSED: "Loan {{loan_number}} disbursed",
    K.PAID: "Loan {{loan_number}} fully paid: receipt and no-due certificate",
    K.RELOAN_OFFER: "You are pre-approved for a new loan of {{amount}}",
}
_HI_SUBJECT: dict[Kind, str] = {
    K.DUE_7: "{{due_date}} को {{amount}} की किस्त देय ({{loan_number}})",
    K.DUE_3: "{{due_date}} को {{amount}} की किस्त देय ({{loan_number}})",
    K.DUE_1: "कल किस्त देय ({{loan_number}})",
    K.DUE_0: "आज किस्त देय ({{loan_number}})",
    K.OVERDUE: "बकाया: ऋण {{loan_number}} पर {{amount}}",
    K.DISBURSED: "ऋण {{loan_number}} वितरित",
    K.PAID: "ऋण {{loan_number}} पूरा चुकाया गया: रसीद और अदेयता प्रमाणपत्र",
    K.RELOAN_OFFER: "{{amount}} का नया ऋण आपके लिए पूर्व-स्वीकृत है",
}


def default_templates(
    kinds: Mapping[Kind, tuple[Channel, ...]] = KIND_CHANNELS,
) -> list[tuple[Kind, Channel, Language, str | None, str]]:
    """(kind, channel, language, subject, body) of every default template of `kinds` (the first defaults; pass
    `LATER_KIND_CHANNELS`, or part of it, for the kinds added since)."""
    found: list[tuple[Kind, Channel, Language, str | None, str]] = []
    for kind, channels in kinds.items():
        for language, texts, subjects in ((L.EN, _EN_TEXT, _EN_SUBJECT), (L.HI, _HI_TEXT, _HI_SUBJECT)):
            for channel in channels:
                if channel is C.EMAIL:
                    body = f"<p>{texts[kind]}</p>"
                    found.append((kind, channel, language, subjects[kind], body))
                else:
                    found.append((kind, channel, language, None, texts[kind]))
    return found
