"""Events that repeat an open incident join it instead of starting a new one.

The duplicate judge (``agents.duplicates``) decides; this module finds the candidate
incidents near an event and writes the merge. The caller owns the transaction.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, text
from sqlalchemy.orm import Session

from agents.duplicates import Candidate, DuplicatePolicy, DuplicateVerdict, Sighting
from dispatch.i18n import explain
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event
from dispatch.intake.service import flag_reasons
from dispatch.tickets.models import Ticket
from dispatch.tickets.service import record

MERGE_ACTOR = "system:intake"
CLOSED_STATUSES = ("resolved", "closed")
MAX_CANDIDATES = 50
_METRES_PER_DEGREE = 111_320.0
# One advisory lock serialises "look for a duplicate, else create an incident", so two
# reports of the same tree handled at the same moment cannot both create one.
_INCIDENT_CREATION_LOCK = 0x43_49_54_59_4C_50  # "CITYLP"


def lock_incident_creation(db_session: Session) -> None:
    """Hold the incident-creation lock until the transaction ends."""
    db_session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                       {"key": _INCIDENT_CREATION_LOCK})


def _reach(sighting: Sighting, policy: DuplicatePolicy) -> tuple[float, float]:
    """Half the sides of the distance box around the sighting, in degrees (lat, lon)."""
    assert sighting.lat is not None
    dlat = policy.max_distance_m / _METRES_PER_DEGREE
    cos_lat = max(math.cos(math.radians(sighting.lat)), 1e-6)
    return dlat, policy.max_distance_m / (_METRES_PER_DEGREE * cos_lat)


def candidate_of(incident: Incident, origin: Event) -> Candidate:
    return Candidate(incident_id=str(incident.id), text=f"{incident.title}. {origin.text}",
                     category=incident.category, lat=incident.lat, lon=incident.lon,
                     at=origin.occurred_at or origin.received_at, embedding=incident.embedding)


def within_reach(*, sighting: Sighting, policy: DuplicatePolicy, incident: Incident) -> bool:
    """The box test of ``find_candidates`` for an incident not in the database yet (created
    in this transaction, so inside the time window and without a closed ticket)."""
    if sighting.lat is None or sighting.lon is None or incident.lat is None or incident.lon is None:
        return False
    dlat, dlon = _reach(sighting, policy)
    return (sighting.lat - dlat <= incident.lat <= sighting.lat + dlat
            and sighting.lon - dlon <= incident.lon <= sighting.lon + dlon)


def find_candidates(
    *, db_session: Session, sighting: Sighting, policy: DuplicatePolicy,
    now: datetime | None = None,
) -> list[Candidate]:
    """Incidents inside the distance box and time window whose ticket is not closed."""
    if sighting.lat is None or sighting.lon is None:
        return []
    dlat, dlon = _reach(sighting, policy)
    since = (now or datetime.now(UTC)) - timedelta(hours=policy.window_hours)
    stmt = (
        select(Incident, Event)
        .join(Event, Event.id == Incident.origin_event_id)
        .outerjoin(Ticket, Ticket.incident_id == Incident.id)
        .where(Incident.lat.between(sighting.lat - dlat, sighting.lat + dlat),
               Incident.lon.between(sighting.lon - dlon, sighting.lon + dlon),
               Incident.created_at >= since,
               or_(Ticket.id.is_(None), Ticket.status.not_in(CLOSED_STATUSES)))
        .order_by(Incident.created_at.desc())
        .limit(MAX_CANDIDATES)
    )
    return [candidate_of(incident, origin) for incident, origin in db_session.execute(stmt).tuples()]


def find_candidates_many(
    *, db_session: Session, sightings: list[Sighting], policy: DuplicatePolicy,
    now: datetime | None = None,
) -> list[list[Candidate]]:
    """``find_candidates`` for each sighting, in one statement (a batch's events): the
    incidents inside any of the boxes, then each sighting's newest ``MAX_CANDIDATES`` of its own
    box. When the statement's cap is reached a box may have been cut short, so each sighting
    is then looked up on its own: the answer is always the one-by-one answer."""
    placed = [s for s in sightings if s.lat is not None and s.lon is not None]
    if len(placed) <= 1:
        return [find_candidates(db_session=db_session, sighting=s, policy=policy, now=now) for s in sightings]
    since = (now or datetime.now(UTC)) - timedelta(hours=policy.window_hours)
    boxes = []
    for sighting in placed:
        assert sighting.lat is not None and sighting.lon is not None
        dlat, dlon = _reach(sighting, policy)
        boxes.append(and_(Incident.lat.between(sighting.lat - dlat, sighting.lat + dlat),
                          Incident.lon.between(sighting.lon - dlon, sighting.lon + dlon)))
    cap = MAX_CANDIDATES * len(placed)
    stmt = (
        select(Incident, Event)
        .join(Event, Event.id == Incident.origin_event_id)
        .outerjoin(Ticket, Ticket.incident_id == Incident.id)
        .where(or_(*boxes), Incident.created_at >= since,
               or_(Ticket.id.is_(None), Ticket.status.not_in(CLOSED_STATUSES)))
        .order_by(Incident.created_at.desc())
        .limit(cap)
    )
    rows = db_session.execute(stmt).tuples().all()
    if len(rows) >= cap:
        return [find_candidates(db_session=db_session, sighting=s, policy=policy, now=now) for s in sightings]
    return [[candidate_of(incident, origin) for incident, origin in rows
             if within_reach(sighting=sighting, policy=policy, incident=incident)][:MAX_CANDIDATES]
            if sighting.lat is not None and sighting.lon is not None else []
            for sighting in sightings]


def merge_event(
    *, db_session: Session, event: Event, incident_id: uuid.UUID, verdict: DuplicateVerdict,
    flags: list[str],
) -> bool:
    """Attach the (row-locked) event to the incident and note it on the incident's ticket.

    False, and nothing written, when the incident's ticket was closed meanwhile.
    """
    ticket = db_session.scalar(
        select(Ticket).where(Ticket.incident_id == incident_id).with_for_update(of=Ticket))
    if ticket is not None and ticket.status in CLOSED_STATUSES:
        return False
    event.incident_id = incident_id
    event.status = "processed"
    event.flags = sorted(set(event.flags) | set(flags))
    event.processed_at = datetime.now(UTC)
    _note_flags(db_session, incident_id, event.flags)
    if ticket is not None:
        summary = verdict.model_dump(mode="json", exclude={"assessments"})
        record(db_session=db_session, ticket=ticket, actor=MERGE_ACTOR, action="merged_event",
               from_status=ticket.status,
               note=explain.EVENT_MERGED(source=event.source, why=verdict.reason),
               data={"event_id": str(event.id), "source": event.source, **summary})
    return True


def _note_flags(db_session: Session, incident_id: uuid.UUID, flags: list[str]) -> None:
    """A merged event's flags join its incident's (classification and triage reasons)."""
    if not flags:
        return
    incident = db_session.get(Incident, incident_id, with_for_update=True)
    if incident is None:
        return
    known = list(incident.classification.get("flags", []))
    incident.classification = {**incident.classification, "flags": sorted(set(known) | set(flags))}
    reasons = [r for r in flag_reasons(flags) if r not in incident.triage_reasons]
    if reasons:
        incident.triage_reasons = [*incident.triage_reasons, *reasons]
