"""WhatsApp template submission through our WhatsApp client against its simulator over real HTTP: the template goes
PENDING with the provider's id, a retried submission is one submission, 5xx and 429 are retried within bounds,
refusals are ProviderRejected with the provider's code, and the verdict (approved, or rejected with its reason,
by a test's call or the simulator's fault switch) comes back as a signed `message_template_status_update` our
verifier accepts; every call is in the call log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from adapters.providers.call_log import ProviderCallLog
from adapters.providers.channels import ChannelClients, TemplateSubmission
from adapters.providers.directory import ProviderDirectory
from adapters.simulators.whatsapp import WhatsAppSimulator
from domain.providers.calls import Caller
from domain.providers.errors import ProviderRejected, ProviderUnavailable
from tests.integration.providers_support import RecordingSleep, call_log, caller, directory_for, logged
from tests.integration.test_provider_payments import SECRET, Hooks, hooks

__all__ = ["call_log", "hooks"]

BODY = "Hi {{borrower_name}}, {{amount}} is due on {{due_date}}."
EXAMPLES = {"amount": "₹5,250.00", "borrower_name": "Asha Verma", "due_date": "05 Dec 2026"}


@pytest.fixture(scope="module")
def whatsapp() -> Iterator[WhatsAppSimulator]:
    with WhatsAppSimulator(webhook_secret=SECRET) as simulator:
        yield simulator


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def directory(whatsapp: WhatsAppSimulator, call_log: ProviderCallLog, sleep: RecordingSleep) -> Iterator[
        ProviderDirectory]:  # fmt: skip
    whatsapp.reset_faults()
    yield directory_for(call_log, sleep, whatsapp=whatsapp.base_url)
    whatsapp.reset_faults()


def _submit(directory: ProviderDirectory, hooks: Hooks, reference: str, who: Caller | None = None,
            **kw: object) -> TemplateSubmission:  # fmt: skip
    args: dict[str, object] = {"name": "due_soon_en_1a2b3c4d_v1", "language": "en", "category": "UTILITY",
                               "body": BODY, "examples": EXAMPLES, **kw}  # fmt: skip
    return ChannelClients(directory).submit_template(
        None,
        reference=reference,
        callback_url=f"{hooks.server.base_url}/hooks/whatsapp",
        caller=who or caller(),
        **args,  # type: ignore[arg-type]
    )


def test_a_template_goes_pending_and_its_verdict_comes_back_signed(
    directory: ProviderDirectory, whatsapp: WhatsAppSimulator, hooks: Hooks
) -> None:
    approved_ref, rejected_ref = str(uuid.uuid4()), str(uuid.uuid4())
    first = _submit(directory, hooks, approved_ref)
    assert first.status == "PENDING" and first.template_id.startswith("wat_") and not first.duplicate
    stored = {t["id"]: t for t in whatsapp.templates()}[first.template_id]
    assert (stored["name"], stored["language"], stored["category"], stored["text"]) == (
        "due_soon_en_1a2b3c4d_v1", "en", "UTILITY", BODY)  # fmt: skip

    # A retried submission (same reference) is the same template: the simulator made one.
    again = _submit(directory, hooks, approved_ref)
    assert again.template_id == first.template_id and again.duplicate
    assert [t["id"] for t in whatsapp.templates() if t["reference"] == approved_ref] == [first.template_id]

    whatsapp.approve_template(first.template_id)
    event = hooks.wait_for("message_template_status_update", approved_ref)  # verified by our WebhookVerifier
    assert (event.data["message_template_id"], event.data["event"], event.data["reason"]) == (
        first.template_id, "APPROVED", "NONE")  # fmt: skip
    with pytest.raises(ValueError, match="APPROVED"):
        whatsapp.reject_template(first.template_id)  # decided once

    second = _submit(directory, hooks, rejected_ref)
    whatsapp.reject_template(second.template_id, "TAG_CONTENT_MISMATCH")
    event = hooks.wait_for("message_template_status_update", rejected_ref)
    assert (event.data["event"], event.data["reason"]) == ("REJECTED", "TAG_CONTENT_MISMATCH")
    status = httpx.get(f"{whatsapp.base_url}/v1/message_templates/{second.template_id}",
                       headers={"Authorization": "Bearer sim-key"}).json()  # fmt: skip
    assert (status["status"], status["reason"]) == ("REJECTED", "TAG_CONTENT_MISMATCH")


def test_the_fault_switch_rejects_the_next_submission_after_review(
    directory: ProviderDirectory, whatsapp: WhatsAppSimulator, hooks: Hooks
) -> None:
    answer = httpx.post(f"{whatsapp.base_url}/faults", json={"switch": "reject_next_templates",
                        "args": {"n": 1, "reason": "INCORRECT_CATEGORY", "delay": 0.05}})  # fmt: skip
    assert answer.status_code == 204
    reference = str(uuid.uuid4())
    taken = _submit(directory, hooks, reference)
    assert taken.status == "PENDING"
    event = hooks.wait_for("message_template_status_update", reference)
    assert (event.data["message_template_id"], event.data["event"], event.data["reason"]) == (
        taken.template_id, "REJECTED", "INCORRECT_CATEGORY")  # fmt: skip
    follow = str(uuid.uuid4())
    _submit(directory, hooks, follow)  # the switch was for one submission: the next stays pending
    assert {t["reference"]: t["status"] for t in whatsapp.templates()}[follow] == "PENDING"


def test_retries_refusals_and_the_call_log(
    directory: ProviderDirectory, whatsapp: WhatsAppSimulator, hooks: Hooks, call_log: ProviderCallLog,
    sleep: RecordingSleep,
) -> None:  # fmt: skip
    who = caller()
    whatsapp.fail_next(1, 503, path="/v1/message_templates")
    recovered = _submit(directory, hooks, str(uuid.uuid4()), who)  # retried after a 503
    assert recovered.status == "PENDING"
    whatsapp.fail_next(3, 503, path="/v1/message_templates")
    before = len(whatsapp.templates())
    with pytest.raises(ProviderUnavailable):  # three attempts at most
        _submit(directory, hooks, str(uuid.uuid4()), who)
    assert len(whatsapp.templates()) == before
    whatsapp.reset_faults()
    whatsapp.refuse_next_templates(1, "template_quality_low", 422)
    with pytest.raises(ProviderRejected) as refused:  # not retried
        _submit(directory, hooks, str(uuid.uuid4()), who)
    assert refused.value.code == "template_quality_low"
    with pytest.raises(ProviderRejected) as bad_name:
        _submit(directory, hooks, str(uuid.uuid4()), who, name="Due Soon!")
    assert bad_name.value.code == "invalid_name"
    with pytest.raises(ProviderRejected) as no_example:
        _submit(directory, hooks, str(uuid.uuid4()), who, examples={"borrower_name": "Asha"})
    assert no_example.value.code == "missing_example" and "amount" in str(no_example.value)
    with pytest.raises(ProviderRejected) as category:
        _submit(directory, hooks, str(uuid.uuid4()), who, category="PROMO")
    assert category.value.code == "invalid_category"
    assert len(whatsapp.templates()) == before
    rows = logged(call_log, who)
    assert [(r["kind"], r["outcome"], r["http_status"], r["attempts"]) for r in rows] == [
        ("submit_template", "ok", 201, 2), ("submit_template", "unavailable", 503, 3),
        ("submit_template", "rejected", 422, 1), ("submit_template", "rejected", 400, 1),
        ("submit_template", "rejected", 400, 1), ("submit_template", "rejected", 400, 1),
    ]  # fmt: skip
    assert all(r["provider"] == "whatsapp" for r in rows)


def test_an_unconfigured_whatsapp_provider_submits_nothing(call_log: ProviderCallLog) -> None:
    with pytest.raises(ProviderUnavailable):
        ChannelClients(directory_for(call_log, RecordingSleep())).submit_template(
            None, name="x_v1", language="en", category="UTILITY", body=BODY, examples=EXAMPLES, reference="r",
            callback_url=None, caller=caller(),
        )  # fmt: skip
