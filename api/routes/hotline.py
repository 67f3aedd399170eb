"""The citizen hotline: POST /api/hotline/messages (JSON, or SSE) and the chat page GET /hotline."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from kombu.exceptions import OperationalError as BrokerError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.hotline import (
    HotlineConfig,
    HotlineState,
    HotlineTools,
    Passage,
    PublicStatus,
    Reply,
    Submission,
    respond,
)
from agents.hotline_intake import ReportForm
from api.deps import ConfigDep, RuntimeDep
from dispatch.core.db import transaction
from dispatch.core.queues import enqueue_understand
from dispatch.core.runtime import Runtime
from dispatch.hotline import service
from dispatch.hotline.embed import shared_embedder
from dispatch.hotline.kb import HOTLINE_MODE, VectorIndex, search

log = logging.getLogger(__name__)
router = APIRouter(tags=["hotline"])
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent.parent / "templates")
_CHUNK = re.compile(r"\S+\s*")


class HotlineMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    conversation_id: uuid.UUID | None = None
    text: str = Field(min_length=1, max_length=2000)


class HotlineAnswer(Reply):
    conversation_id: uuid.UUID


def _index(request: Request) -> VectorIndex:
    """One vector index per process, kept on the app (reloaded when the chunks change)."""
    index = getattr(request.app.state, "hotline_index", None)
    if index is None:
        index = request.app.state.hotline_index = VectorIndex()
    return index


def _tools(rt: Runtime, index: VectorIndex, max_image_bytes: int, conversation_id: uuid.UUID) -> HotlineTools:
    def retrieve(question: str) -> list[Passage]:
        with transaction(rt.factory) as db:
            hits = search(db_session=db, query=question, embedder=shared_embedder(), index=index,
                          k=3, mode=HOTLINE_MODE)
        return service.passages(hits)

    def submit(form: ReportForm) -> Submission:
        with transaction(rt.factory) as db:
            event = service.submit_report(db_session=db, city=rt.city, form=form,
                                          max_image_bytes=max_image_bytes, conversation_id=conversation_id)
        try:
            enqueue_understand(event.id)  # after commit; if the broker is down the sweeper retries
        except (BrokerError, OSError) as exc:
            log.warning("hotline event %s stored; enqueue deferred to the sweeper: %s", event.id, exc)
        return Submission(event_id=str(event.id))

    def lookup(reference: str) -> PublicStatus | None:
        with transaction(rt.factory) as db:
            return service.public_status(db_session=db, city=rt.city, reference=reference)

    return HotlineTools(retrieve=retrieve, submit=submit, lookup=lookup, chat=rt.chat)


def _sse(answer: HotlineAnswer) -> Iterator[str]:
    for piece in _CHUNK.findall(answer.text):
        yield f"event: delta\ndata: {json.dumps({'text': piece})}\n\n"
    yield f"event: done\ndata: {answer.model_dump_json()}\n\n"


@router.post("/api/hotline/messages", response_model=HotlineAnswer)
def post_message(
    body: HotlineMessage, request: Request, rt: RuntimeDep, config: ConfigDep,
    accept: Annotated[str | None, Header()] = None,
) -> HotlineAnswer | StreamingResponse:
    with transaction(rt.factory) as db:
        conversation_id, raw = service.load_state(db_session=db, conversation_id=body.conversation_id)
    try:
        state = HotlineState.model_validate(raw)
    except ValidationError:  # saved by an older version with a value it no longer accepts
        log.warning("hotline conversation %s: stored state is invalid; starting over", conversation_id)
        state = HotlineState()
    tools = _tools(rt, _index(request), config.max_image_bytes, conversation_id)
    reply, state = respond(body.text, state, tools, HotlineConfig())
    with transaction(rt.factory) as db:
        service.save_state(db_session=db, conversation_id=conversation_id,
                           state=state.model_dump(mode="json"))
    answer = HotlineAnswer(**reply.model_dump(), conversation_id=conversation_id)
    if accept and "text/event-stream" in accept:
        return StreamingResponse(_sse(answer), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    return answer


@router.get("/hotline", response_class=HTMLResponse, include_in_schema=False)
def chat_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, "hotline/chat.html", {"city": rt.city})
