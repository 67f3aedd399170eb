"""One line saying what a question was understood as, in the question's language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from agents.ask.schema import AskFilters, AskVocabulary, Term

_STATUS_LABELS = {
    "en": {"triage": "in triage", "open": "new", "acknowledged": "acknowledged",
           "in_progress": "in progress", "resolved": "resolved", "closed": "closed",
           "rejected": "rejected"},
    "zh": {"triage": "待分派", "open": "未受理", "acknowledged": "已受理", "in_progress": "处理中",
           "resolved": "已解决", "closed": "已关闭", "rejected": "已退回"},
}
_WORDS = {
    "en": {"all": "every ticket you may see", "near": "within {r} m of {layer}",
           "since": "since {t}", "until": "before {t}", "overdue": "overdue",
           "not_overdue": "not overdue", "text": "words like “{text}”", "or": " or ",
           "sep": " · ", "unparsed": "not understood: {words}"},
    "zh": {"all": "您可见的全部工单", "near": "{layer}{r}米内", "since": "{t}以来",
           "until": "{t}以前", "overdue": "已逾期", "not_overdue": "未逾期",
           "text": "内容含“{text}”", "or": "或", "sep": " · ", "unparsed": "未能理解：{words}"},
}


def _labels(codes: list[str], terms: list[Term], language: str) -> list[str]:
    by_code = {term.code: term for term in terms}
    return [by_code[code].label(language) if code in by_code else code for code in codes]


def _moment(value: datetime, timezone: str) -> str:
    local = value.astimezone(ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d") if (local.hour, local.minute) == (0, 0) else \
        local.strftime("%Y-%m-%d %H:%M")


def explain(filters: AskFilters, vocabulary: AskVocabulary, *, language: str,
            unparsed: list[str] | None = None) -> str:
    """``"Fallen tree · within 300 m of Schools · since 2024-07-15"``."""
    words = _WORDS.get(language, _WORDS["en"])
    parts: list[str] = []
    for codes, terms in ((filters.categories, vocabulary.categories),
                         (filters.districts, vocabulary.districts),
                         (filters.agencies, vocabulary.agencies)):
        if codes:
            parts.append(words["or"].join(_labels(codes, terms, language)))
    if filters.statuses:
        labels = _STATUS_LABELS.get(language, _STATUS_LABELS["en"])
        parts.append(words["or"].join(labels[s] for s in filters.statuses))
    if filters.overdue is not None:
        parts.append(words["overdue" if filters.overdue else "not_overdue"])
    if filters.near is not None:
        layer = vocabulary.layer(filters.near.layer)
        name = layer.label(language) if layer else filters.near.layer
        parts.append(words["near"].format(r=filters.near.radius_m, layer=name))
    for key in ("since", "until"):
        value: datetime | None = getattr(filters, key)
        if value is not None:
            parts.append(words[key].format(t=_moment(value, vocabulary.timezone)))
    if filters.text:
        parts.append(words["text"].format(text=filters.text))
    line = words["sep"].join(parts) or words["all"]
    if unparsed:
        line += words["sep"] + words["unparsed"].format(words=", ".join(unparsed))
    return line
