"""Document drafter: the prose sections of an official document, from given facts only.

The caller owns the document's structure, numbers and dates (a template renders them);
this agent writes only the prose sections in one schema-constrained call. A grounding
check drops every sentence that states a number or a date word the facts do not
contain. Without a usable LLM, the caller's deterministic fallback prose is used.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, Field

from agents.errors import LLMUnavailable
from agents.grounding import RECORD_WORDS, claims_in
from agents.llm import model_name, structured_call
from agents.prompts import DRAFT_PROMPT_VERSION, draft_messages
from agents.text import clean, content_words, has_cjk, split_sentences

_MAX_REPORTS = 5
_REPORT_MAX_CHARS = 600
_TOKENS_PER_CHAR = 0.35


class ProseSection(BaseModel):
    """One prose section: its name, what to write, and the text used without an LLM."""

    name: str = Field(pattern=r"^[a-z][a-z_]{0,30}$")
    instruction: str
    fallback: str
    max_chars: int = Field(default=500, ge=40, le=2000)


class Prose(BaseModel):
    """The prose sections of one draft, and how they were produced."""

    sections: dict[str, str]
    method: Literal["llm", "fallback"]
    model: str | None = None
    prompt_version: str | None = None
    dropped_claims: list[str] = Field(default_factory=list)
    error: str | None = None


def fact_lines(facts: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``key: value`` lines for a nested facts dict; lists of dicts are numbered."""
    lines: list[str] = []
    for key, value in facts.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            lines += fact_lines(value, f"{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for index, item in enumerate(value, start=1):
                lines += fact_lines(item, f"{name}[{index}].")
        elif isinstance(value, list):
            lines.append(f"{name}: {', '.join(_text(v) for v in value) or 'none'}")
        else:
            lines.append(f"{name}: {_text(value)}")
    return lines


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return "none" if value is None else str(value)



def grounded_tokens(texts: Iterable[str], moments: Iterable[date]) -> set[str]:
    """Every claim the facts support: their numbers and date words, and the names
    (month, weekday) and parts of every date in them."""
    tokens: set[str] = set()
    for text in texts:
        tokens |= claims_in(text)
    for moment in moments:
        tokens |= {str(moment.year), str(moment.month), str(moment.day)}
        for name in (moment.strftime("%B").lower(), moment.strftime("%A").lower()):
            tokens |= {name, name[:3], name[:4]}
        if isinstance(moment, datetime):
            tokens |= {str(moment.hour), str(moment.minute), str(moment.hour % 12 or 12)}
    return tokens


def _moments(value: Any) -> Iterable[date]:
    if isinstance(value, date):
        yield value
    elif isinstance(value, str):
        try:
            yield datetime.fromisoformat(value)
        except ValueError:
            return
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _moments(item)
    elif isinstance(value, list):
        for item in value:
            yield from _moments(item)


def grounding_for(facts: Mapping[str, Any], reports: Sequence[str]) -> set[str]:
    """The claims that the facts and reports support."""
    return grounded_tokens([*fact_lines(facts), *reports], _moments(dict(facts)))


DOCUMENT_WORDS_ZH: frozenset[str] = frozenset("""
目前 当前 现已 已经 正在 尚未 仍 需要 需 关注 重点 处理 办理 处置 工单 事件 情况 报告 简报 期间
共 其中 主要 建议 请 注意 相关 部门 单位 承办 受理 办结 超期 按时 类别 数量 最多 件 起 总体
总计 合计 发生 涉及 及时 尽快 确保 加强 跟进 督办 通知 本 市 发布 影响 区域 范围 市民 群众 遵守
现场 标志 绕行 远离 解除 期间 截至 统计 同比 较 多 少 一般 紧急 较低 特急 状态 时限 内
""".split())
"""Words a Chinese document may use though the facts do not (the record's own vocabulary
and connectives), as ``agents.grounding.RECORD_WORDS`` does for every writer."""


def unsupported_words(sentence: str, fact_text: str) -> list[str]:
    """The Chinese content words (jieba) of ``sentence`` that ``fact_text`` does not hold."""
    return sorted(word for word in content_words(sentence)
                  if has_cjk(word) and word not in fact_text and word not in DOCUMENT_WORDS_ZH
                  and word not in RECORD_WORDS)


def split_grounded(text: str, grounded: set[str],
                   fact_text: str | None = None) -> tuple[str, list[str]]:
    """Keep the sentences whose claims are all grounded, and, given ``fact_text`` (the
    facts and reports as cleaned lowercase text), whose Chinese words all occur in it;
    return (kept text, dropped). Sentences end at . ! ? and at 。！？；."""
    kept: list[str] = []
    dropped: list[str] = []
    for sentence in split_sentences(" ".join(text.split())):
        supported = claims_in(sentence) <= grounded and not (
            fact_text is not None and unsupported_words(sentence, fact_text))
        (kept if supported else dropped).append(sentence)
    joiner = "" if has_cjk("".join(kept)) else " "
    return joiner.join(kept), dropped


def fallback_prose(sections: Sequence[ProseSection], error: str | None = None) -> Prose:
    return Prose(sections={s.name: s.fallback for s in sections}, method="fallback", error=error)


def _schema(sections: Sequence[ProseSection]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            s.name: {"type": "string", "minLength": 1, "maxLength": s.max_chars} for s in sections
        },
        "required": [s.name for s in sections],
        "additionalProperties": False,
    }


def draft(
    chat: BaseChatModel | None,
    *,
    kind: str,
    facts: Mapping[str, Any],
    reports: Sequence[str],
    sections: Sequence[ProseSection],
) -> Prose:
    """One LLM call for the prose sections, grounded against ``facts`` and ``reports``.

    ``reports`` are citizens' texts; each is sent wrapped as untrusted. A section left
    empty by the grounding check gets its fallback text. Never raises for an LLM
    failure: the fallback prose is returned with the error.
    """
    if chat is None:
        return fallback_prose(sections, "no LLM configured")
    lines = fact_lines(facts)
    texts = [text[:_REPORT_MAX_CHARS] for text in reports[:_MAX_REPORTS]]
    messages = draft_messages(
        kind=kind,
        section_lines=[f"- {s.name}: {s.instruction}" for s in sections],
        fact_lines=lines,
        reports=texts,
    )
    # Headroom: llama.cpp grammars do not enforce maxLength, so a long answer must still close.
    max_tokens = int(sum(s.max_chars for s in sections) * _TOKENS_PER_CHAR * 2) + 120
    try:
        data = structured_call(
            chat, messages=messages, schema_name=f"{kind}_prose",
            json_schema=_schema(sections), max_tokens=max_tokens,
        )
    except LLMUnavailable as exc:
        return fallback_prose(sections, str(exc))
    grounded = grounding_for(facts, texts)
    fact_text = clean(" ".join([*lines, *texts])).text.lower()
    written: dict[str, str] = {}
    dropped: list[str] = []
    for section in sections:
        raw = data.get(section.name)
        kept, lost = split_grounded(raw if isinstance(raw, str) else "", grounded, fact_text)
        dropped += lost
        written[section.name] = kept[: section.max_chars] or section.fallback
    return Prose(
        sections=written, method="llm", model=model_name(chat),
        prompt_version=DRAFT_PROMPT_VERSION, dropped_claims=dropped,
    )
