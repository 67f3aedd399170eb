"""Filters → the tickets they match, scoped exactly as the inbox is.

Structured filters become SQL on tickets and their incidents. The residual text is searched
two ways and the two rankings fused (reciprocal rank fusion): by words (the inbox's full-text
document; Chinese words as substrings of the title and description, since the document is
English-stemmed) and by meaning (the incidents' embeddings, ``dispatch.ask.vectors``). With
text, the total counts the fused candidates — at most CANDIDATES by words plus
SEMANTIC_CANDIDATES by meaning — not every ticket that mentions a word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from agents.ask import AskFilters
from agents.embeddings import Embedder
from agents.text import has_cjk, is_cjk, tokens
from dispatch.ask.places import near_clause
from dispatch.ask.vectors import VectorIndex, ticket_in
from dispatch.city.config import CityConfig
from dispatch.incidents.models import Incident
from dispatch.tickets.inbox import SEARCH_DOC
from dispatch.tickets.lifecycle import ACTIVE
from dispatch.tickets.models import Ticket

RRF_K = 60
CANDIDATES = 200
"""How many tickets the words ranking contributes to the fused list …"""
SEMANTIC_CANDIDATES = 50
"""… and the meaning ranking (nearest by embedding: past the first tens, reciprocal rank
fusion adds little, and an index walk under selective filters grows with it)."""
SEMANTIC_MIN = 0.35
"""A ticket is "about" the text by meaning from this cosine (all-MiniLM-L6-v2)."""


@dataclass(frozen=True)
class Found:
    ticket: Ticket
    score: float | None = None


@dataclass
class Outcome:
    total: int
    found: list[Found]
    by_category: list[tuple[str, int]] = field(default_factory=list)


def overdue_clause(overdue: bool, now: datetime) -> ColumnElement[bool]:
    """The inbox's SLA state (``dispatch.tickets.inbox``): overdue is "breached" — active and
    past due or marked breached; not overdue is active and neither."""
    late = or_(Ticket.sla_breached.is_(True), Ticket.sla_due_at < now)
    return and_(Ticket.status.in_(ACTIVE), late if overdue else not_(late))


def clauses(*, filters: AskFilters, scope: str | None, city: CityConfig,
            now: datetime) -> list[ColumnElement[bool]]:
    """Every structured filter as SQL; ``scope`` is the only agency the user sees, if any."""
    out: list[ColumnElement[bool]] = []
    if scope is not None:
        out.append(Ticket.agency == scope)
    for column, values in ((Ticket.category, filters.categories),
                           (Ticket.district, filters.districts),
                           (Ticket.agency, filters.agencies), (Ticket.status, filters.statuses)):
        if values:
            out.append(column.in_(values))
    if filters.since is not None:
        out.append(Ticket.created_at >= filters.since)
    if filters.until is not None:
        out.append(Ticket.created_at < filters.until)
    if filters.overdue is not None:
        out.append(overdue_clause(filters.overdue, now))
    if filters.near is not None:
        layer = city.layer(filters.near.layer)
        if layer is not None:
            out.append(near_clause(layer, filters.near.radius_m, lat=Incident.lat, lon=Incident.lon))
    return out


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def words_clause(text: str) -> ColumnElement[bool] | None:
    """The text's words: English by full text search, Chinese words as substrings."""
    cjk = [w for w in tokens(text) if is_cjk(w)]
    latin = " ".join(w for w in tokens(text) if not has_cjk(w))
    parts: list[ColumnElement[bool]] = []
    if latin:
        parts.append(SEARCH_DOC.op("@@")(func.websearch_to_tsquery("english", latin)))
    for word in cjk:
        pattern = f"%{_escape_like(word)}%"
        parts.append(or_(Ticket.title.ilike(pattern, escape="\\"),
                         Incident.description.ilike(pattern, escape="\\")))
    return and_(*parts) if parts else None


def _base() -> Any:
    return select(Ticket).join(Incident, Incident.id == Ticket.incident_id)


def _by_words(db_session: Session, where: list[ColumnElement[bool]], text: str) -> list[int]:
    match = words_clause(text)
    if match is None:
        return []
    stmt = _base().with_only_columns(Ticket.id).where(*where, match)
    if not has_cjk(text):
        rank = func.ts_rank(SEARCH_DOC, func.websearch_to_tsquery("english", text))
        stmt = stmt.order_by(rank.desc(), Ticket.id.desc())
    else:
        stmt = stmt.order_by(Ticket.id.desc())
    return list(db_session.scalars(stmt.limit(CANDIDATES)))


def _fused(lexical: list[int], semantic: list[tuple[int, float]]) -> dict[int, float]:
    scores: dict[int, float] = {}
    for rank, ticket_id in enumerate(lexical):
        scores[ticket_id] = scores.get(ticket_id, 0.0) + 1.0 / (RRF_K + rank + 1)
    for rank, (ticket_id, _cosine) in enumerate(semantic):
        scores[ticket_id] = scores.get(ticket_id, 0.0) + 1.0 / (RRF_K + rank + 1)
    return scores


def _counts(db_session: Session, where: list[ColumnElement[bool]]) -> list[tuple[str, int]]:
    stmt = (select(Ticket.category, func.count()).join(Incident, Incident.id == Ticket.incident_id)
            .where(*where).group_by(Ticket.category))
    rows = [(str(category), int(n)) for category, n in db_session.execute(stmt)]
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def load_tickets(db_session: Session, ids: list[int]) -> dict[int, Ticket]:
    rows = db_session.scalars(_base().where(ticket_in(ids))).unique()
    return {ticket.id: ticket for ticket in rows}


def run(*, db_session: Session, filters: AskFilters, where: list[ColumnElement[bool]],
        index: VectorIndex, embedder: Embedder | None, limit: int) -> Outcome:
    """The tickets matching ``where`` and, when there is text, the text by words or meaning."""
    if not filters.text:
        by_category = _counts(db_session, where)
        rows = db_session.scalars(_base().where(*where).order_by(Ticket.id.desc()).limit(limit))
        return Outcome(total=sum(n for _, n in by_category),
                       found=[Found(ticket) for ticket in rows.unique()], by_category=by_category)
    lexical = _by_words(db_session, where, filters.text)
    semantic: list[tuple[int, float]] = []
    if embedder is not None:
        vector = embedder.embed([filters.text])[0]
        semantic = [(near.ticket_id, near.cosine) for near in index.nearest(
            db_session=db_session, vector=vector, where=where, limit=SEMANTIC_CANDIDATES)
            if near.cosine >= SEMANTIC_MIN]
    scores = _fused(lexical, semantic)
    ranked = sorted(scores, key=lambda ticket_id: (-scores[ticket_id], -ticket_id))
    tickets = load_tickets(db_session, ranked[:limit])
    by_category = _counts(db_session, [ticket_in(list(scores))]) if scores else []
    return Outcome(total=len(scores), by_category=by_category,
                   found=[Found(tickets[i], round(scores[i], 5)) for i in ranked[:limit]
                          if i in tickets])
