"""Delivery receipts and de-duplication for the messaging simulators (SMS, WhatsApp; issue #17 item 1).

A message request may carry `reference` (the sender's id of this attempt) and `callback_url`:

- the same `reference` again (a sender retrying after a crash or a lost answer) answers the first message's id
  with `"duplicate": true` and sends nothing to the handset (the outbox keeps one message);
- with a `callback_url`, the simulator posts signed receipts there (the `adapters.webhooks` scheme):
  `message.sent`, then `message.delivered` or `message.failed` with a `reason`, each `{"message_id", "reference",
  "status", "reason"}`. A number ending in 9999 is never delivered (`reason: "handset_unreachable"`, a retryable
  failure); `fail_next_deliveries(n, reason, to=None)` (also `POST /faults {"switch": "fail_next_deliveries", ...}`)
  fails the next `n` deliveries (to `to` only, when given) with `reason`.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

UNREACHABLE_SUFFIX = "9999"


class DeliveryReceipts:
    """Mixed into a `ProviderSimulator` (which gives `send_webhook_later`, the outbox and `_webhooks`)."""

    receipt_switches: ClassVar[tuple[str, ...]] = ("fail_next_deliveries",)

    def _receipts_init(self) -> None:
        self._references: dict[str, str] = {}
        self._delivery_failures: list[tuple[str, str | None]] = []  # (reason, the number's last 10 digits)
        self._receipt_lock = threading.Lock()

    def fail_next_deliveries(self, n: int = 1, reason: str = "handset_unreachable", to: str | None = None) -> None:
        """The next `n` accepted messages (to the number `to` only, when given: another sender's message in between
        does not take the failure) are reported failed with `reason` instead of delivered."""
        digits = "".join(c for c in to or "" if c.isdigit())[-10:] or None
        with self._receipt_lock:
            self._delivery_failures.extend([(reason, digits)] * n)

    def reset_receipts(self) -> None:
        """Forget the delivery failures queued (references stay: they are the provider's memory)."""
        with self._receipt_lock:
            self._delivery_failures.clear()

    def known_reference(self, reference: str | None) -> str | None:
        """The message id already given to this reference, if any."""
        if not reference:
            return None
        with self._receipt_lock:
            return self._references.get(reference)

    def remember(self, reference: str | None, message_id: str) -> str | None:
        """Keep `reference` -> `message_id`; the earlier id when another request took the reference first."""
        if not reference:
            return None
        with self._receipt_lock:
            earlier = self._references.get(reference)
            if earlier is None:
                self._references[reference] = message_id
            return earlier

    def schedule_receipts(self, to: str, message_id: str, reference: str | None, callback_url: Any) -> None:
        """Post `message.sent` then `message.delivered`/`message.failed` to `callback_url` (when one was given)."""
        if not isinstance(callback_url, str) or not callback_url.startswith(("http://", "https://")):
            return
        if getattr(self, "_webhooks", None) is None:
            return
        with self._receipt_lock:
            reason = None
            for i, (failure, number) in enumerate(self._delivery_failures):
                if number is None or "".join(c for c in to if c.isdigit()).endswith(number):
                    reason = failure
                    del self._delivery_failures[i]
                    break
        if reason is None and to.endswith(UNREACHABLE_SUFFIX):
            reason = "handset_unreachable"
        data = {"message_id": message_id, "reference": reference, "to": to}
        sender: Any = self
        sender.send_webhook_later(callback_url, "message.sent", {**data, "status": "sent", "reason": None},
                                  event_id=f"{message_id}.sent", delay=0.05)  # fmt: skip
        final = "failed" if reason else "delivered"
        sender.send_webhook_later(callback_url, f"message.{final}", {**data, "status": final, "reason": reason},
                                  event_id=f"{message_id}.{final}", delay=0.2)  # fmt: skip
