"""Fakes for unit tests: a chat model with canned replies, a bag-of-words embedder."""

import re
from collections.abc import Sequence
from typing import Any

import httpx2
import numpy as np
import openai
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from numpy.typing import NDArray
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


class FakeEmbedder:
    """Bag-of-words vectors over a fixed vocabulary, unit length; counts its calls.

    Texts sharing vocabulary words are similar; a text with none of them is the
    zero vector, similar to nothing.
    """

    name = "fake"

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = [word.lower() for word in vocabulary]
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls.append(list(texts))
        rows = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        for i, text in enumerate(texts):
            words = re.findall(r"[a-z]+", text.lower())
            for j, word in enumerate(self.vocabulary):
                rows[i, j] = words.count(word)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        unit: NDArray[np.float32] = np.divide(rows, norms, out=np.zeros_like(rows),
                                              where=norms > 0)
        return unit
