"""Ask the city: parse a question (or take edited filters), run it within what the user may
see, and find the tickets most like one ticket. Read-only; the caller owns the session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from langchain_core.language_models.chat_models import BaseChatModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents.ask import AskFilters, AskParse, explain, parse
from agents.embeddings import Embedder
from agents.text import has_cjk
from dispatch.accounts.models import User
from dispatch.ask import search
from dispatch.ask.schemas import AskAnswer, AskHit, CategoryCount, SimilarAnswer
from dispatch.ask.vectors import VectorIndex
from dispatch.ask.vocabulary import vocabulary_of
from dispatch.city.config import CityConfig
from dispatch.core.errors import InvalidField
from dispatch.i18n.explain import SEPARATOR, SIMILAR_BY_PICTURE, SIMILAR_BY_TEXT, SIMILAR_NO_EMBEDDING
from dispatch.intake.models import Event
from dispatch.tickets import access
from dispatch.tickets.models import Ticket

MAX_LIMIT = 200
SIMILAR_LIMIT = 10


def hit(ticket: Ticket, score: float | None) -> AskHit:
    return AskHit(id=ticket.id, reference=ticket.reference, title=ticket.title,
                  category=ticket.category, status=ticket.status, lat=ticket.incident.lat,
                  lon=ticket.incident.lon, created_at=ticket.created_at, score=score)


def check_filters(filters: AskFilters, city: CityConfig) -> None:
    """Edited filters name only what the city has (InvalidField names the field)."""
    known = {"categories": {c.code for c in city.categories},
             "districts": {d.code for d, _ in city.district_shapes},
             "agencies": {a.code for a in city.agencies}}
    for field, codes in known.items():
        unknown = [code for code in getattr(filters, field) if code not in codes]
        if unknown:
            raise InvalidField(field, f"unknown {', '.join(unknown)}; known: {', '.join(sorted(codes))}")
    if filters.near is not None and city.layer(filters.near.layer) is None:
        names = ", ".join(layer.name for layer in city.layers) or "none"
        raise InvalidField("near.layer", f"unknown layer {filters.near.layer!r}; known: {names}")


def understand(*, question: str, city: CityConfig, now: datetime, embedder: Embedder | None,
               chat: BaseChatModel | None, edited: AskFilters | None = None) -> AskParse:
    """The question's filters: the edited ones when given, else parsed (by the LLM only when
    the city turns it on)."""
    vocabulary = vocabulary_of(city)
    if edited is not None:
        check_filters(edited, city)
        language = "zh" if has_cjk(question) else "en"
        return AskParse(filters=edited,
                        explanation=explain(edited, vocabulary, language=language))
    return parse(question, vocabulary, now=now, embedder=embedder,
                 chat=chat if city.ask.parse_with_llm else None)


def ask(*, db_session: Session, city: CityConfig, user: User, question: str,
        index: VectorIndex, embedder: Embedder | None = None,
        chat: BaseChatModel | None = None, edited: AskFilters | None = None,
        now: datetime | None = None, limit: int = 50) -> AskAnswer:
    moment = now or datetime.now(UTC)
    parsed = understand(question=question, city=city, now=moment, embedder=embedder, chat=chat,
                        edited=edited)
    where = search.clauses(filters=parsed.filters, scope=access.agency_scope(user), city=city,
                           now=moment)
    outcome = search.run(db_session=db_session, filters=parsed.filters, where=where, index=index,
                         embedder=embedder, limit=max(1, min(limit, MAX_LIMIT)))
    names = {c.code: c.name for c in city.categories}
    return AskAnswer(
        q=question, filters=parsed.filters, unparsed=parsed.unparsed, total=outcome.total,
        results=[hit(found.ticket, found.score) for found in outcome.found],
        explanation=parsed.explanation, parser=parsed.parser,
        by_category=[CategoryCount(category=code, name=names.get(code, code), count=n)
                     for code, n in outcome.by_category],
        vector_backend=index.name)


PICTURE_CANDIDATES = 5000
"""Crops compared by "show similar": the newest camera events with an embedding, exact cosine."""


def by_picture(*, db_session: Session, ticket: Ticket, where: list[Any], limit: int) -> list[AskHit]:
    """The tickets (within ``where``) whose camera crops look most like this ticket's best crop:
    cosine of the CLIP crop embeddings, the best crop per ticket, newest ``PICTURE_CANDIDATES``."""
    mine = db_session.scalars(
        select(Event.crop_embedding).where(Event.incident_id == ticket.incident_id,
                                           Event.crop_embedding.is_not(None))
        .order_by(Event.received_at.desc()).limit(1)).first()
    if not mine:
        return []
    query = np.asarray(mine, dtype=np.float32)
    rows = db_session.execute(
        select(Ticket.id, Event.crop_embedding).join(Event, Event.incident_id == Ticket.incident_id)
        .where(Event.crop_embedding.is_not(None), *where)
        .order_by(Event.received_at.desc()).limit(PICTURE_CANDIDATES)).all()
    best: dict[int, float] = {}
    for other_id, vector in rows:
        if vector is None or len(vector) != len(query):
            continue  # another CLIP model's crops
        other = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query) * np.linalg.norm(other))
        if norm > 0:
            best[other_id] = max(best.get(other_id, -1.0), float(query @ other) / norm)
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:limit]
    tickets = search.load_tickets(db_session, [ticket_id for ticket_id, _ in ranked])
    return [hit(tickets[ticket_id], round(score, 4)) for ticket_id, score in ranked if ticket_id in tickets]


def similar(*, db_session: Session, user: User, ticket_id: int, index: VectorIndex,
            embedder: Embedder | None = None, limit: int = SIMILAR_LIMIT) -> SimilarAnswer:
    """The tickets the user may see whose incident reads most like this one's (NotFound when
    the ticket is not the user's to see)."""
    ticket = access.visible_ticket(db_session=db_session, user=user, ticket_id=ticket_id)
    incident = ticket.incident
    vector = np.asarray(incident.embedding, dtype=np.float32) if incident.embedding else None
    if vector is None and embedder is not None:
        vector = embedder.embed([f"{incident.title}\n{incident.description}"])[0]
    scope = access.agency_scope(user)
    where = [Ticket.id != ticket.id, *([Ticket.agency == scope] if scope is not None else [])]
    size = max(1, min(limit, MAX_LIMIT))
    pictures = by_picture(db_session=db_session, ticket=ticket, where=where, limit=size)
    seen = SEPARATOR + SIMILAR_BY_PICTURE(count=len(pictures)) if pictures else ""
    if vector is None:
        return SimilarAnswer(ticket_id=ticket.id, total=0, results=[], vector_backend=index.name,
                             by_picture=pictures,
                             explanation=SIMILAR_NO_EMBEDDING() + seen)
    hits = index.nearest(db_session=db_session, vector=vector, where=where, limit=size)
    tickets = search.load_tickets(db_session, [h.ticket_id for h in hits])
    results = [hit(tickets[h.ticket_id], h.cosine) for h in hits if h.ticket_id in tickets]
    return SimilarAnswer(ticket_id=ticket.id, total=len(results), results=results,
                         vector_backend=index.name, by_picture=pictures,
                         explanation=SIMILAR_BY_TEXT(count=len(results), reference=ticket.reference)
                         + seen)
