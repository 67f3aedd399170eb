"""A minimal chat model for unit tests: canned replies, recorded requests."""

from typing import Any

import httpx2
import openai
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field


def connection_error() -> openai.APIConnectionError:
    """The error the OpenAI client raises when the server cannot be reached."""
    return openai.APIConnectionError(
        request=httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    )


class FakeChatModel(BaseChatModel):
    """Returns the queued replies in order; an exception in the queue is raised instead.

    Every call's messages and keyword arguments (``response_format``,
    ``max_tokens``, …) are recorded in ``calls``.
    """

    replies: list[str | Exception] = Field(default_factory=list)
    calls: list[dict[str, Any]] = Field(default_factory=list)
    model_name: str = "fake-model"

    @property
    def _llm_type(self) -> str:
        return "fake-chat"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append({"messages": messages, **kwargs})
        if not self.replies:
            raise AssertionError("FakeChatModel called more often than replies were queued")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])

    def schema_sent(self, call: int = -1) -> dict[str, Any]:
        """The JSON schema that the given call asked the server to follow."""
        response_format = self.calls[call]["response_format"]
        if response_format["type"] == "json_schema":
            schema: dict[str, Any] = response_format["json_schema"]["schema"]
            return schema
        object_schema: dict[str, Any] = response_format["schema"]
        return object_schema
