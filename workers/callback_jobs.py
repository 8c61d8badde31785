"""The callback router: a background worker that moves open callback requests to the new holder of the application,
loan or collection case they were routed by, and a closed case's to whoever then holds the borrower (the hand-over
queues the loans' and collections' events fill, projections/callback_routing.py), and pushes the staff notices of
requests reaching their holder and follow-ups falling due (docs/callbacks.md); it also releases the open requests of a
holder who left (disabled, or no longer holding CALLBACKS at WRITE) to whoever then holds the borrower, or to nobody. Each step is safe to repeat: a move applies only to a request still with the
previous holder and newer than it (`CallbackRequest.reroute`), a notice's id is a uuid5 of request, kind and holder
(`StaffNotices.push`); a queue row goes once its step is done, so a pass cut short is done again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog

from domain.callbacks.application import Callbacks
from domain.callbacks.notices import callback_notice, notice_key
from domain.shared.aggregate import acting_as
from domain.shared.clock import Clock
from domain.shared.errors import DomainError
from domain.staff_notices.application import StaffNotices
from projections.callback_routing import CallbackRouting, Handover, HandoverQueue
from projections.engine import ProjectionEngine
from workers.polling import QueueDrainer

log = structlog.get_logger(__name__)

ACTOR = "job:callback-router"
#: A hand-over whose loan the loans read model does not show yet waits this long, then is dropped (logged).
LOAN_WAIT = timedelta(minutes=5)


@dataclass(frozen=True)
class CallbackJobPort:
    """What the router uses."""

    callbacks: Callbacks
    notices: StaffNotices
    routing: CallbackRouting
    clock: Clock
    engine: ProjectionEngine  # wakes the router when a read model moves


class CallbackRouter(QueueDrainer):
    """Drains the hand-over and notice queues (woken when a read model moves, at the latest every 10 s); a pass does the hand-overs first (so a notice goes to the
    request's holder after its move), then the notices whose time has come."""

    failure_event = "callbacks.router_failed"

    def __init__(self, port: CallbackJobPort, interval: float = 1.0) -> None:
        super().__init__("callback-router", interval, port.engine)
        self.port = port

    def drain(self, limit: int = 500) -> int:
        """One pass over the queues; how many rows it handled."""
        with self.traced_pass():
            handled = sum(self.reroute(queue, limit) for queue in HandoverQueue)
            handled += self.release_departed(limit)
            return handled + self.notify(limit)

    def reroute(self, queue: HandoverQueue, limit: int = 500) -> int:
        """Apply the oldest hand-overs of one queue to the open requests they may move; how many it took off."""
        rows = self.port.routing.pending_handovers(queue, limit)
        now = self.port.clock.now()
        done: dict[tuple[int, object], Handover] = {}
        for row in rows:
            if row.brand_id is None and now - row.at < LOAN_WAIT:
                continue  # the loan's row is not in read.loans yet: next pass
            if row.request_id is not None and not row.ready:
                continue  # a close (or a pool request's holder) the read model does not show yet: next pass
            if row.brand_id is not None and row.request_id is not None:
                try:
                    with acting_as(ACTOR):
                        moved = self.port.callbacks.reroute(
                            row.brand_id, row.request_id, to=row.staff_id, previous=row.previous, cause=row.cause,
                            loan_id=row.loan_id, reason=row.reason, changed_at=row.at, current=row.current,
                        )  # fmt: skip
                except DomainError as exc:  # answered or moved meanwhile, twice over: nothing to move
                    log.info("callbacks.reroute_skipped", request=str(row.request_id), reason=exc.message)
                else:
                    if moved.changed:
                        log.info("callbacks.rerouted", request=str(row.request_id), loan=str(row.loan_id),
                                 to=str(row.staff_id), cause=row.cause.value)  # fmt: skip
            elif row.brand_id is None:
                log.warning("callbacks.handover_without_loan", loan=str(row.loan_id), position=row.position)
            done[(row.position, row.loan_id)] = row
        self.port.routing.handovers_done(queue, list(done.values()))
        return len(done)

    def release_departed(self, limit: int = 500) -> int:
        """Move the open requests of holders who left (after the hand-overs: a request a hand-over moves is no longer
        theirs) to whoever then holds the borrower by the routing rule, or to nobody; how many moved. Read in one
        query (`CallbackRouting.departures`); a request answered or moved meanwhile (the read model behind) moves
        nothing and is not counted, so a pass over nothing new is 0."""
        moved = 0
        for row in self.port.routing.departures(limit):
            try:
                with acting_as(ACTOR):
                    result = self.port.callbacks.release(
                        row.brand_id, row.request_id, to=row.staff_id, previous=row.previous, reason=row.reason
                    )
            except DomainError as exc:  # answered or moved meanwhile, twice over: nothing to move
                log.info("callbacks.release_skipped", request=str(row.request_id), reason=exc.message)
                continue
            if result.changed:
                moved += 1
                log.info("callbacks.released", request=str(row.request_id), previous=str(row.previous),
                         to=str(row.staff_id), reason=row.reason)  # fmt: skip
        return moved

    def notify(self, limit: int = 200) -> int:
        """Push the notices whose time has come; how many it pushed (or found pushed)."""
        pending = self.port.routing.pending_notices(self.port.clock.now(), limit)
        for item in pending:
            text = callback_notice(
                item.kind, borrower=item.borrower_name or item.phone, loan_number=item.loan_number,
                window=item.window, note=item.note, due_at=item.due_at, timezone=item.timezone,
            )  # fmt: skip
            with acting_as(ACTOR):
                pushed = self.port.notices.push(
                    item.brand_id, notice_key(item.request_id, item.kind, item.assignee_id), item.assignee_id,
                    text.title, text.body, text.priority,
                )  # fmt: skip
            if pushed.changed:
                log.info("callbacks.notice_pushed", request=str(item.request_id), kind=item.kind,
                         staff=str(item.assignee_id))  # fmt: skip
            self.port.routing.notice_done(item)
        return len(pending)
