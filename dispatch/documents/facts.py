"""Facts for the documents about one incident or ticket, read from the system of record.

Every number and date a document shows is computed here, formatted in the city's time
zone, and rendered by the template; the drafter only writes prose from these facts.
Citizens' own words are returned apart (``reports``) so they reach an LLM wrapped as
untrusted data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agents.drafter import ProseSection
from agents.text import clean
from dispatch.city.config import CityConfig
from dispatch.core.errors import InvalidField, NotFound
from dispatch.documents.language import label, language, word
from dispatch.documents.schemas import DocumentCreate, NoticeFields
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event
from dispatch.tickets.models import Ticket
from dispatch.tickets.service import get_ticket, ticket_for_incident

UNRESOLVED_EXCLUDES = ("resolved", "closed")
MAX_REPORTS = 5


@dataclass
class Gathered:
    """What a document is drafted from: facts, citizens' texts, and the prose to write."""

    facts: dict[str, Any]
    reports: list[str] = field(default_factory=list)
    sections: list[ProseSection] = field(default_factory=list)


def local_time(city: CityConfig, moment: datetime | None) -> str | None:
    """``2024-07-15 12:00`` in the city's time zone, or None."""
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(city.city.timezone)).strftime("%Y-%m-%d %H:%M")


def city_facts(city: CityConfig) -> dict[str, Any]:
    return {"name": city.city.name, "timezone": city.city.timezone,
            "generated_at": local_time(city, datetime.now(UTC)), "language": language(city)}


def agency_name(city: CityConfig, code: str | None) -> str:
    if code is None:
        return word(city, "triage")
    agency = city.agency(code)
    return agency.name if agency else code


def category_name(city: CityConfig, code: str) -> str:
    category = city.category(code)
    return category.name if category else code


def _district(city: CityConfig, code: str | None) -> str:
    """The district's code (its Chinese name in a Chinese city), or "unknown"."""
    if not code:
        return word(city, "unknown")
    district = city.district_by_name(code) if language(city) == "zh" else None
    return district.name if district else code


def incident_facts(*, db_session: Session, city: CityConfig, incident: Incident) -> dict[str, Any]:
    counts = db_session.execute(
        select(func.count(), func.min(Event.received_at), func.max(Event.received_at))
        .where(Event.incident_id == incident.id)).one()
    return {
        "id": str(incident.id), "title": incident.title, "category": incident.category,
        "category_name": category_name(city, incident.category), "severity": incident.severity,
        "location": incident.location_phrase or word(city, "unknown_location"),
        "district": _district(city, incident.district), "reported_at": local_time(city, incident.created_at),
        "recommended_action": incident.recommended_action or word(city, "none_recorded"),
        "report_count": counts[0], "first_report_at": local_time(city, counts[1]),
        "last_report_at": local_time(city, counts[2]),
    }


def ticket_facts(*, city: CityConfig, ticket: Ticket, now: datetime) -> dict[str, Any]:
    overdue = ticket.status not in UNRESOLVED_EXCLUDES and ticket.sla_due_at < now
    return {
        "id": ticket.id, "reference": ticket.reference, "agency": ticket.agency or word(city, "none"),
        "agency_name": agency_name(city, ticket.agency), "status": ticket.status,
        "priority": ticket.priority, "assignee": ticket.assignee or word(city, "unassigned"),
        "opened_at": local_time(city, ticket.created_at),
        "sla_due_at": local_time(city, ticket.sla_due_at), "overdue": "yes" if overdue else "no",
    }


def citizen_reports(*, db_session: Session, incident_id: uuid.UUID) -> list[str]:
    """The first few events' descriptions, cleaned, oldest first: citizens' words, untrusted."""
    rows = db_session.scalars(select(Event.description).where(Event.incident_id == incident_id)
                              .order_by(Event.received_at, Event.id).limit(MAX_REPORTS))
    return [clean(row).text for row in rows]


def _incident_and_ticket(*, db_session: Session, request: DocumentCreate
                         ) -> tuple[Incident, Ticket | None]:
    if request.ticket_id is not None:
        ticket = get_ticket(db_session=db_session, ticket_id=request.ticket_id)
        return ticket.incident, ticket
    if request.incident_id is None:
        raise InvalidField("incident_id", f"{request.kind} needs incident_id or ticket_id")
    incident = db_session.get(Incident, request.incident_id)
    if incident is None:
        raise NotFound("incident", request.incident_id)
    return incident, ticket_for_incident(db_session=db_session, incident_id=incident.id)


def _history(city: CityConfig, ticket: Ticket) -> list[dict[str, Any]]:
    return [{"at": local_time(city, h.at), "actor": h.actor, "action": h.action,
             "from_status": h.from_status or "-", "to_status": h.to_status or "-"}
            for h in ticket.history]


def gather_incident_report(*, db_session: Session, city: CityConfig,
                           request: DocumentCreate) -> Gathered:
    incident, ticket = _incident_and_ticket(db_session=db_session, request=request)
    now = datetime.now(UTC)
    facts: dict[str, Any] = {
        "city": city_facts(city),
        "incident": incident_facts(db_session=db_session, city=city, incident=incident),
        "ticket": ticket_facts(city=city, ticket=ticket, now=now) if ticket else None,
        "history": _history(city, ticket) if ticket else [],
    }
    i, t = facts["incident"], facts["ticket"]
    if language(city) == "zh":
        fallback = f"{i['reported_at']}，{i['location']}发生{i['category_name']}，紧急程度为{label(i['severity'])}。"
        if t:
            fallback += (f"工单{t['reference']}由{t['agency_name']}承办，当前状态为{label(t['status'])}，"
                         f"办理时限至{t['sla_due_at']}。")
        instruction = "用中文写两到四句话：事件概况、发生地点和目前办理情况"
    else:
        fallback = (f"{i['category_name']} reported at {i['location']} on {i['reported_at']}, "
                    f"rated {i['severity']} severity.")
        if t:
            fallback += (f" Ticket {t['reference']} is {t['status']} with {t['agency_name']}, "
                         f"due by {t['sla_due_at']}.")
        instruction = ("two to four sentences summarising the incident, where it is, and where "
                       "its handling stands")
    summary = ProseSection(name="summary", fallback=fallback, max_chars=600, instruction=instruction)
    reports = citizen_reports(db_session=db_session, incident_id=incident.id)
    return Gathered(facts=facts, reports=reports, sections=[summary])


def gather_work_order(*, db_session: Session, city: CityConfig, request: DocumentCreate) -> Gathered:
    if request.ticket_id is None:
        raise InvalidField("ticket_id", "work_order needs ticket_id")
    ticket = get_ticket(db_session=db_session, ticket_id=request.ticket_id)
    if ticket.agency is None:
        raise InvalidField("ticket_id",
                           f"ticket {ticket.id} is in triage: it has no agency to work on it yet")
    facts: dict[str, Any] = {
        "city": city_facts(city),
        "ticket": ticket_facts(city=city, ticket=ticket, now=datetime.now(UTC)),
        "incident": incident_facts(db_session=db_session, city=city, incident=ticket.incident),
    }
    i = facts["incident"]
    if language(city) == "zh":
        instructions = ProseSection(
            name="instructions", max_chars=300, instruction="用中文写两三句话，告诉现场人员要做什么、检查什么",
            fallback=f"请前往{i['location']}处置{i['category_name']}问题。建议处置：{i['recommended_action']}")
    else:
        fallback = (f"Go to {i['location']} and deal with the reported {i['category_name'].lower()}. "
                    f"Recommended action: {i['recommended_action']}")
        instructions = ProseSection(name="instructions", fallback=fallback, max_chars=500,
                                    instruction="two or three sentences telling the crew what to "
                                                "do on site and what to check")
    reports = citizen_reports(db_session=db_session, incident_id=ticket.incident_id)
    return Gathered(facts=facts, reports=reports, sections=[instructions])


def _notice_facts(city: CityConfig, notice: NoticeFields) -> dict[str, Any]:
    until: date | None = notice.effective_until
    return {"title": notice.title, "area": notice.area,
            "effective_from": notice.effective_from.isoformat(),
            "effective_until": until.isoformat() if until else word(city, "until_further_notice"),
            "measures": notice.measures or word(city, "none_stated"),
            "contact": notice.contact or word(city, "none")}


def gather_public_notice(*, db_session: Session, city: CityConfig,
                         request: DocumentCreate) -> Gathered:
    if request.notice is None:
        raise InvalidField("notice", "public_notice needs notice (title, area, effective_from)")
    incident, ticket = _incident_and_ticket(db_session=db_session, request=request)
    facts: dict[str, Any] = {
        "city": city_facts(city), "notice": _notice_facts(city, request.notice),
        "incident": incident_facts(db_session=db_session, city=city, incident=incident),
        "ticket": ticket_facts(city=city, ticket=ticket, now=datetime.now(UTC)) if ticket else None,
    }
    n, i = facts["notice"], facts["incident"]
    if language(city) == "zh":
        return Gathered(facts=facts, sections=_notice_sections_zh(city, n, i))
    situation = ProseSection(
        name="situation", max_chars=500,
        instruction="two or three sentences telling the public why this notice is issued",
        fallback=(f"Following a reported {i['category_name'].lower()} at {i['location']}, the "
                  f"city of {city.city.name} has issued this notice for {n['area']}."))
    advice = ProseSection(
        name="advice", max_chars=400,
        instruction="one or two sentences telling the public what to do",
        fallback="Please follow the signs on site, use the marked detours and keep away from "
                 "the affected area until this notice is lifted.")
    return Gathered(facts=facts, sections=[situation, advice])


def _notice_sections_zh(city: CityConfig, n: dict[str, Any], i: dict[str, Any]) -> list[ProseSection]:
    situation = ProseSection(
        name="situation", max_chars=300,
        instruction="用中文写两三句话，向市民说明发布本通知的原因",
        fallback=f"因{i['location']}发生{i['category_name']}，{city.city.name}现就{n['area']}发布本通知。")
    advice = ProseSection(
        name="advice", max_chars=200, instruction="用中文写一两句话，告诉市民应当怎么做",
        fallback="请遵守现场标志，按指示绕行，在本通知解除前远离受影响区域。")
    return [situation, advice]
