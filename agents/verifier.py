"""Verifier: does the camera snapshot show what the event claims?

Only a vision-language model can look (the image goes as an OpenAI image content
part, as vLLM serves such models); with a text-only model the answer is
"unverified" and no call is made, so nothing pretends to have looked.
"""

from __future__ import annotations

import base64
from typing import Literal

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from agents.errors import LLMUnavailable
from agents.llm import model_name, structured_call
from agents.prompts import VERIFY_PROMPT_VERSION, verify_messages

VerificationStatus = Literal["confirmed", "rejected", "unverified"]
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
_VERIFY_MAX_TOKENS = 40
_VERIFY_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["confirmed", "rejected", "unverified"]}},
    "required": ["verdict"],
    "additionalProperties": False,
}


class Snapshot(BaseModel):
    """An image of the scene, as stored with the event."""

    data: bytes = Field(repr=False)
    content_type: Literal["image/jpeg", "image/png", "image/webp"]


class Verification(BaseModel):
    """The verifier's answer and why there is or is not one."""

    status: VerificationStatus
    reason: str
    prompt_version: str | None = None
    model: str | None = None


class _LLMAnswer(BaseModel):
    verdict: VerificationStatus


def image_data_url(snapshot: Snapshot) -> str:
    """The snapshot as a ``data:`` URL for an OpenAI ``image_url`` content part."""
    return f"data:{snapshot.content_type};base64,{base64.b64encode(snapshot.data).decode()}"


def verify_snapshot(
    chat: BaseChatModel | None,
    *,
    vision: bool,
    snapshot: Snapshot | None,
    category_name: str,
    report: str,
) -> Verification:
    """Confirmed / rejected by a vision model, else unverified; never raises LLMUnavailable."""
    if snapshot is None:
        return Verification(status="unverified", reason="no snapshot")
    if chat is None:
        return Verification(status="unverified", reason="LLM not configured")
    if not vision:
        return Verification(status="unverified",
                            reason="the served model is text-only (llm.vision is false)")
    try:
        data = structured_call(
            chat,
            messages=verify_messages(category=category_name, report=report,
                                     image_url=image_data_url(snapshot)),
            schema_name="snapshot_verification",
            json_schema=_VERIFY_SCHEMA,
            max_tokens=_VERIFY_MAX_TOKENS,
        )
        answer = _LLMAnswer.model_validate(data)
    except ValidationError as exc:
        return Verification(status="unverified",
                            reason=f"LLM answer failed validation: {exc.error_count()} error(s)")
    except LLMUnavailable as exc:
        return Verification(status="unverified", reason=f"LLM unavailable: {exc}")
    return Verification(status=answer.verdict, reason=f"{model_name(chat)} looked at the snapshot",
                        prompt_version=VERIFY_PROMPT_VERSION, model=model_name(chat))
