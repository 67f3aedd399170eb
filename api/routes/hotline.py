"""The citizen hotline: POST /api/hotline/messages (JSON, or SSE) and the chat page GET /hotline."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agents.hotline import (
    Reply,
)
from api.deps import ConfigDep, RuntimeDep
from api.web.render import page
from dispatch.core.inputs import SafeText
from dispatch.hotline.flows import converse
from dispatch.hotline.kb import KbIndex

log = logging.getLogger(__name__)
router = APIRouter(tags=["hotline"])
_CHUNK = re.compile(r"\S+\s*")


class HotlineMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    conversation_id: uuid.UUID | None = None
    text: SafeText = Field(min_length=1, max_length=2000)


class HotlineAnswer(Reply):
    conversation_id: uuid.UUID


def _index(request: Request) -> KbIndex:
    """One knowledge-base index per process, kept on the app (reloaded when the chunks change)."""
    index = getattr(request.app.state, "hotline_index", None)
    if index is None:
        index = request.app.state.hotline_index = KbIndex()
    return index


def _sse(answer: HotlineAnswer) -> Iterator[str]:
    for piece in _CHUNK.findall(answer.text):
        yield f"event: delta\ndata: {json.dumps({'text': piece})}\n\n"
    yield f"event: done\ndata: {answer.model_dump_json()}\n\n"


@router.post("/api/hotline/messages", response_model=HotlineAnswer)
def post_message(
    body: HotlineMessage, request: Request, rt: RuntimeDep, config: ConfigDep,
    accept: Annotated[str | None, Header()] = None,
) -> HotlineAnswer | StreamingResponse:
    conversation_id, reply = converse(
        factory=rt.factory, city=rt.city, chat=rt.chat, index=_index(request),
        max_image_bytes=config.max_image_bytes, conversation_id=body.conversation_id, text=body.text)
    answer = HotlineAnswer(**reply.model_dump(), conversation_id=conversation_id)
    if accept and "text/event-stream" in accept:
        return StreamingResponse(_sse(answer), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    return answer


@router.get("/hotline", response_class=HTMLResponse, include_in_schema=False)
def chat_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """The chat page, in the citizen's language (the city's default, else the browser's)."""
    return page(request, "hotline/chat.html", {"city": rt.city})
