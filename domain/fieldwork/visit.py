"""Field visits: a loan flagged for a visit, assigned to field staff, and the visit recorded with its outcome, where
it was made (latitude, longitude) and photos of the place (content-addressed, SHA-256 in the event)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, FieldChecks, InvalidValue, NotFound

MAX_PHOTOS = 6
GEO_PLACES = Decimal("0.000001")  # six places: about 11 cm


class FieldVisitNotFound(NotFound):
    """Raised when no field visit has the id within the brand (or it is not the caller's)."""


class VisitStatus(StrEnum):
    """Where a visit stands."""

    ASSIGNED = "assigned"
    VISITED = "visited"
    CANCELLED = "cancelled"


class VisitOutcome(StrEnum):
    """What the visit found."""

    MET_BORROWER = "met_borrower"
    PROMISED_TO_PAY = "promised_to_pay"
    PAYMENT_COLLECTED = "payment_collected"
    REFUSED_TO_PAY = "refused_to_pay"
    BORROWER_ABSENT = "borrower_absent"
    ADDRESS_NOT_FOUND = "address_not_found"
    SHIFTED = "shifted"
    DOOR_LOCKED = "door_locked"


#: How a recorded visit reads on the loan's contact log (the collections context's contact outcomes).
VISIT_CONTACTS = {
    VisitOutcome.MET_BORROWER: "connected",
    VisitOutcome.PROMISED_TO_PAY: "promised_to_pay",
    VisitOutcome.PAYMENT_COLLECTED: "connected",
    VisitOutcome.REFUSED_TO_PAY: "refused_to_pay",
    VisitOutcome.BORROWER_ABSENT: "not_reachable",
    VisitOutcome.ADDRESS_NOT_FOUND: "wrong_number",
    VisitOutcome.SHIFTED: "not_reachable",
    VisitOutcome.DOOR_LOCKED: "not_reachable",
}


class Photo(BaseModel):
    """A photo of the visit: its address in the document store, type and size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str
    content_type: str
    size: int
    filename: str


def parse_coordinate(raw: object, field: str, limit: int) -> Decimal:
    """A latitude (limit 90) or longitude (limit 180) in decimal degrees, six places at most."""
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise InvalidValue(field, "decimal degrees, e.g. 12.971599") from None
    if not value.is_finite():
        raise InvalidValue(field, "decimal degrees, e.g. 12.971599")
    if not -limit <= value <= limit:
        raise InvalidValue(field, f"must be between -{limit} and {limit}")
    if value.as_tuple().exponent < -6:  # type: ignore[operator]
        raise InvalidValue(field, "at most six decimal places")
    return value.quantize(GEO_PLACES)


def geotag(latitude: object, longitude: object) -> tuple[Decimal, Decimal]:
    """Both coordinates checked (each field named); 0,0 is no fix (a phone without location gives it)."""
    checks = FieldChecks()
    lat = checks.check(lambda: parse_coordinate(latitude, "latitude", 90))
    lon = checks.check(lambda: parse_coordinate(longitude, "longitude", 180))
    checks.raise_if_any()
    assert lat is not None and lon is not None
    if lat == 0 and lon == 0:
        raise InvalidValue("latitude", "0, 0 is not a location: the device had no position fix")
    return lat, lon


class FieldVisit(Aggregate):
    """A visit to a borrower about one loan: flagged, assigned, then visited (or cancelled)."""

    class Flagged(Aggregate.Created):
        """A loan was flagged for a field visit and the visit assigned."""

        brand_id: UUID
        loan_id: UUID
        customer_id: UUID
        loan_number: str
        assignee_id: UUID
        reason: str
        due_on: date | None
        address: str

    class Reassigned(Aggregate.Event):
        """The visit went to another field agent."""

        assignee_id: UUID

    class Visited(Aggregate.Event):
        """The agent recorded the visit: outcome, where, remarks and photos."""

        outcome: VisitOutcome
        remarks: str
        latitude: Decimal
        longitude: Decimal
        visited_at: datetime
        photos: list[Photo]

    class PhotoAdded(Aggregate.Event):
        """Another photo of the recorded visit."""

        photo: Photo

    class Cancelled(Aggregate.Event):
        """The visit is no longer needed."""

        reason: str

    @event(Flagged)
    def __init__(
        self,
        brand_id: UUID,
        loan_id: UUID,
        customer_id: UUID,
        loan_number: str,
        assignee_id: UUID,
        reason: str,
        due_on: date | None,
        address: str,
    ) -> None:
        self.brand_id, self.loan_id, self.customer_id, self.loan_number = brand_id, loan_id, customer_id, loan_number
        self.assignee_id, self.reason, self.due_on, self.address = assignee_id, reason, due_on, address
        self.status = VisitStatus.ASSIGNED
        self.outcome: VisitOutcome | None = None
        self.photos: list[Photo] = []

    def _require_open(self, doing: str) -> None:
        if self.status is not VisitStatus.ASSIGNED:
            raise Conflict(f"cannot {doing}: the visit is {self.status.value}")

    def reassign(self, assignee_id: UUID) -> None:
        """Give the visit to another agent."""
        self._require_open("reassign it")
        if assignee_id == self.assignee_id:
            raise Conflict("the visit is already assigned to this agent")
        self._reassigned(assignee_id=assignee_id)

    @event(Reassigned)
    def _reassigned(self, assignee_id: UUID) -> None:
        self.assignee_id = assignee_id

    def record(
        self,
        outcome: VisitOutcome,
        remarks: str,
        latitude: Decimal,
        longitude: Decimal,
        visited_at: datetime,
        photo: Photo,
    ) -> None:
        """Record the visit made (one photo with it; more with `add_photo`)."""
        self._require_open("record it")
        self._visited(
            outcome=outcome,
            remarks=remarks,
            latitude=latitude,
            longitude=longitude,
            visited_at=visited_at,
            photos=[photo],
        )

    @event(Visited)
    def _visited(
        self,
        outcome: VisitOutcome,
        remarks: str,
        latitude: Decimal,
        longitude: Decimal,
        visited_at: datetime,
        photos: list[Photo],
    ) -> None:
        self.status, self.outcome, self.photos = VisitStatus.VISITED, outcome, list(photos)

    def add_photo(self, photo: Photo) -> None:
        """Another photo of a recorded visit (at most six, each once)."""
        if self.status is not VisitStatus.VISITED:
            raise Conflict("record the visit first; photos come with it")
        if any(p.sha256 == photo.sha256 for p in self.photos):
            raise Conflict("this photo is already on the visit", sha256=photo.sha256)
        if len(self.photos) >= MAX_PHOTOS:
            raise Conflict(f"a visit has at most {MAX_PHOTOS} photos")
        self._photo_added(photo=photo)

    @event(PhotoAdded)
    def _photo_added(self, photo: Photo) -> None:
        self.photos.append(photo)

    def cancel(self, reason: str) -> None:
        """The visit is not needed any more."""
        self._require_open("cancel it")
        self._cancelled(reason=reason)

    @event(Cancelled)
    def _cancelled(self, reason: str) -> None:
        self.status = VisitStatus.CANCELLED
