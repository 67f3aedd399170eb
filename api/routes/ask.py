"""Ask the city over JSON: a question in plain words → its filters and the tickets they match;
the tickets most like one ticket. Signed in; staff see their own agency only, as in the inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import UserDep
from api.deps import RuntimeDep, SessionDep
from dispatch.ask import service
from dispatch.ask.schemas import AskAnswer, SimilarAnswer
from dispatch.ask.vectors import index_for
from dispatch.core.errors import InvalidField

router = APIRouter(tags=["ask"])
QUESTION_MAX = 300


@router.get("/api/ask", response_model=AskAnswer)
def ask(db: SessionDep, rt: RuntimeDep, who: UserDep,
        q: Annotated[str, Query(min_length=1, max_length=QUESTION_MAX)],
        limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 50) -> AskAnswer:
    """Filters parsed from ``q`` (English or Chinese), run within what the user may see."""
    if not q.strip():
        raise InvalidField("q", "ask a question: it is blank")
    return service.ask(db_session=db, city=rt.city, user=who.user, question=q.strip(),
                       index=index_for(rt.engine), embedder=rt.embedder, chat=rt.chat,
                       limit=limit)


@router.get("/api/tickets/{ticket_id}/similar", response_model=SimilarAnswer)
def similar(ticket_id: int, db: SessionDep, rt: RuntimeDep, who: UserDep,
            limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = service.SIMILAR_LIMIT,
            ) -> SimilarAnswer:
    """The tickets the user may see whose reports read most like this ticket's."""
    return service.similar(db_session=db, user=who.user, ticket_id=ticket_id,
                           index=index_for(rt.engine), embedder=rt.embedder, limit=limit)
