"""The language of a city's documents: which template, and the words facts are filled with.

A document is written in the city's language (``city.language``). Codes stay in the facts
(a status is "in_progress" in every language, so a fact can be traced to the record); the
Chinese templates show them through :data:`LABELS` (``{{ "in_progress" | label }}`` → 办理中).
"""

from __future__ import annotations

from dispatch.city.config import CityConfig
from dispatch.documents.formats import TEMPLATES_DIR

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        # ticket status
        "triage": "待分派", "open": "已派单", "acknowledged": "已签收", "in_progress": "办理中",
        "resolved": "已办结", "closed": "已回访结案", "rejected": "已退回",
        # severity and priority
        "critical": "特急", "high": "紧急", "medium": "一般", "low": "较低",
        # history actions
        "create": "受理", "route": "派单", "acknowledge": "签收", "start": "开始办理",
        "resolve": "办结", "reject": "退回", "reassign": "改派", "reopen": "重新打开",
        "close": "结案", "callback": "回访", "comment": "备注", "assign": "指派",
        "recategorize": "改类", "yes": "是", "no": "否", "-": "-",
    },
}
"""Chinese names of the codes documents show."""

WORDS: dict[str, dict[str, str]] = {
    "en": {"triage": "triage queue (no agency yet)", "unknown_location": "unknown location",
           "unknown": "unknown", "none_recorded": "none recorded", "unassigned": "unassigned",
           "none": "none", "until_further_notice": "until further notice",
           "none_stated": "none stated"},
    "zh": {"triage": "待分派（尚无承办单位）", "unknown_location": "位置不详", "unknown": "不详",
           "none_recorded": "暂无记录", "unassigned": "未指派", "none": "无",
           "until_further_notice": "另行通知为止", "none_stated": "未说明"},
}


def language(city: CityConfig) -> str:
    """The city's document language: "zh" for Chinese, else "en"."""
    return "zh" if city.city.language.startswith("zh") else "en"


def word(city: CityConfig, key: str) -> str:
    return WORDS[language(city)][key]


def label(value: object, lang: str = "zh") -> str:
    """The name of a code in ``lang`` (the code itself when it has none)."""
    text = "-" if value is None else str(value)
    return LABELS.get(lang, {}).get(text, text)


def template_name(kind: str, lang: str = "en") -> str:
    """``incident_report.zh.md.j2`` for a Chinese city where that template exists, else
    ``incident_report.md.j2``."""
    localised = f"{kind}.{lang}.md.j2"
    if lang != "en" and (TEMPLATES_DIR / localised).exists():
        return localised
    return f"{kind}.md.j2"
