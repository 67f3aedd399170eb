"""The hotline's orchestration: one citizen message in, one reply out, the state kept.

A conversation's row is locked from the moment its state is read until the new state is
written, across the LLM call: two messages of one conversation sent at once are answered
one after the other, each from the state the other left, and neither answer is lost. A
report the conversation takes is stored in its own transaction and enqueued after that
commit; a broker that is down then leaves it to the sweeper.
"""

from __future__ import annotations

import logging
import uuid

from langchain_core.language_models import BaseChatModel
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from agents.embeddings import shared_embedder
from agents.hotline import (
    HotlineConfig,
    HotlineState,
    HotlineTools,
    Passage,
    PublicStatus,
    RatingOutcome,
    RatingRequest,
    Reply,
    Submission,
    respond,
)
from agents.hotline_intake import ReportForm
from dispatch.city.config import CityConfig
from dispatch.core.db import transaction
from dispatch.hotline import service
from dispatch.hotline.kb import KbIndex, hotline_mode, search
from dispatch.intake.flows import queue_understanding

log = logging.getLogger(__name__)


def hotline_tools(
    *, factory: sessionmaker[Session], city: CityConfig, chat: BaseChatModel | None,
    index: KbIndex, max_image_bytes: int, conversation_id: uuid.UUID,
) -> HotlineTools:
    """What the assistant (``agents.hotline``) may do: retrieve, submit a report, look up a ticket."""

    def retrieve(question: str) -> list[Passage]:
        with transaction(factory) as db:  # Chinese the model cannot read: BM25, scored by words shared
            hits = search(db_session=db, query=question, embedder=shared_embedder(), index=index,
                          k=3, mode=hotline_mode(question, shared_embedder()))
        return service.passages(hits)

    def submit(form: ReportForm) -> Submission:
        with transaction(factory) as db:
            event = service.submit_report(db_session=db, city=city, form=form,
                                          max_image_bytes=max_image_bytes, conversation_id=conversation_id)
        queue_understanding(event)  # after commit; if the broker is down the sweeper retries
        return Submission(event_id=str(event.id))

    def lookup(reference: str) -> PublicStatus | None:
        with transaction(factory) as db:
            return service.public_status(db_session=db, city=city, reference=reference)

    def rate(request: RatingRequest) -> RatingOutcome:
        with transaction(factory) as db:
            return service.rate_ticket(db_session=db, city=city, request=request)

    return HotlineTools(retrieve=retrieve, submit=submit, lookup=lookup, chat=chat,
                        embed=shared_embedder().embed,
                        rate=rate if city.workflow.callback else None)


def converse(
    *, factory: sessionmaker[Session], city: CityConfig, chat: BaseChatModel | None,
    index: KbIndex, max_image_bytes: int, conversation_id: uuid.UUID | None, text: str,
    config: HotlineConfig | None = None,
) -> tuple[uuid.UUID, Reply]:
    """Answer one message of a conversation (a new one when the id is unknown or missing)."""
    with transaction(factory) as db:
        conversation_id, raw = service.load_state(db_session=db, conversation_id=conversation_id,
                                                  for_update=True)
        try:
            state = HotlineState.model_validate(raw)
        except ValidationError:  # saved by an older version with a value it no longer accepts
            log.warning("hotline conversation %s: stored state is invalid; starting over", conversation_id)
            state = HotlineState()
        tools = hotline_tools(factory=factory, city=city, chat=chat, index=index,
                              max_image_bytes=max_image_bytes, conversation_id=conversation_id)
        config = config or HotlineConfig(language=city.city.language)
        reply, state = respond(text, state, tools, config)
        service.save_state(db_session=db, conversation_id=conversation_id,
                           state=state.model_dump(mode="json"))
    return conversation_id, reply
