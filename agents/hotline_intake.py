"""The complaint form of the hotline and how its fields are read from what a citizen says.

Patterns read the fields first; a schema-constrained LLM call fills what they miss, and
its values are kept only when they use the citizen's own words (the small model invents
places and times otherwise). Contact details are read by pattern only: the LLM never
sees them.
"""

from __future__ import annotations

import re
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, EmailStr, Field, TypeAdapter, ValidationError

from agents.errors import LLMUnavailable
from agents.llm import structured_call
from agents.prompts import SHARED_SYSTEM_PREFIX
from agents.redaction import find_email, find_phone, redact
from agents.safety import wrap_untrusted
from agents.text import clean, content_words, has_cjk

FormField = Literal["what", "where", "when", "contact"]
FIELDS: tuple[FormField, ...] = ("what", "where", "when", "contact")
REQUIRED: tuple[FormField, ...] = ("what", "where")
EXTRACT_PROMPT_VERSION = "hotline-extract-v1"
QUESTIONS: dict[FormField, str] = {
    "what": "What is the problem? Please describe what you saw.",
    "where": "Where is it? A street and house number, an intersection or a landmark helps the crew.",
    "when": "When did you notice it? (you can say 'skip')",
    "contact": "May the city contact you about it? Give a phone number, an e-mail address or a "
               "name, or say 'no'.",
}
QUESTIONS_ZH: dict[FormField, str] = {
    "what": "请问您要反映什么问题？请简单描述一下您看到的情况。",
    "where": "请问具体地址在哪里？请说明路名和门牌号、路口或附近的标志性建筑。",
    "when": "请问是什么时候发现的？（不清楚可以回答“跳过”）",
    "contact": "请留下您的联系电话（11 位手机号或带区号的座机号），以便工作人员联系您并在办结后回访；"
               "不愿留下请回答“不留”。",
}


def questions(language: str) -> dict[FormField, str]:
    """The form's questions in ``language`` (English for any language without its own)."""
    return QUESTIONS_ZH if language == "zh" else QUESTIONS

_DECLINE = re.compile(r"^\s*(?:no|nope|none|skip|anonymous|n/?a|no thanks|i (?:don'?t|do not) know|"
                      r"rather not|not sure|unknown)\b|^\s*(?:不留|不用|不要|不方便|不想|不知道|"
                      r"不清楚|记不清|忘了|跳过|匿名|没有|无|算了|否|不)", re.IGNORECASE)
_NAME = re.compile(r"\bmy name is ([A-Z][\w'-]+(?: [A-Z][\w'-]+)?)")
_WHERE = re.compile(
    r"\b(?:at|on|near|outside|opposite|behind|in front of|corner of|next to)\s+"
    r"((?:the\s+)?(?:corner of\s+)?[A-Z0-9][\w'.-]*(?:\s+(?:and|&|of)?\s*[A-Z0-9][\w'.-]*){0,6})")
_WHEN = re.compile(
    r"\b(today|yesterday|tonight|last night|this (?:morning|afternoon|evening)|"
    r"(?:since|at|around|about)\s+\d{1,2}(?::\d{2})?\s*(?:am|pm)?|\d{1,2}:\d{2}\s*(?:am|pm)?|"
    r"\d{1,2}\s*(?:am|pm)|\d{4}-\d{2}-\d{2}|(?:on |last )?(?:monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday)|(?:\d+|an?|two|three|few)\s+(?:minutes?|hours?|days?|weeks?)\s+ago|"
    r"(?:for|since)\s+(?:\d+|two|three|a few)\s+(?:days|weeks|hours))\b", re.IGNORECASE)
_PREAMBLE = re.compile(
    r"^\s*(?:(?:hi|hello|hey|good (?:morning|afternoon|evening))[,!.]?\s*)?"
    r"(?:i(?:'d| would)? (?:want|like|need)s? to (?:report|complain about|file a report about)|"
    r"i'm reporting|i am reporting|report(?:ing)?|please note)?[:,]?\s*(?:that\s+)?", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")

# ---- Chinese: 问题、地址、时间、联系电话 ------------------------------------------------
_HAN = "\u4e00-\u9fff"
# a character of a place name: not a word that ends the phrase before it ("我家在", "地址是")
_PLACE = rf"(?:(?![在是于的了有我你他她把被给到从去址置说要想])[{_HAN}0-9])"
_ZH_ROAD = (rf"{_PLACE}{{1,12}}?(?:大道|大街|路|街|巷|胡同|里弄|公路|高架|大桥|桥|隧道)"
            r"(?:[0-9一二三四五六七八九十百]+号)?")
_ZH_SITE = (rf"{_PLACE}{{1,12}}?(?:小区|花园|家园|新村|社区|广场|公园|市场|商场|大厦|中学|小学|"
            r"学校|医院|地铁站|公交站|车站|村|苑|院)(?:[0-9一二三四五六七八九十]+(?:栋|号楼|单元))?")
_ZH_SPOT = rf"(?:[{_HAN}]{{0,3}}?(?:门口|门外|大门|附近|旁边|对面|路口|交叉口|东侧|西侧|南侧|北侧|楼下|入口|出口))?"
_ZH_WHERE = re.compile(
    rf"(?:(?<=[在于是：:，,。；\s])|^|(?<=地址)|(?<=位置)|(?<=位于))"
    rf"((?:[{_HAN}]{{1,4}}[区县])?(?:{_ZH_ROAD}(?:[和与及跟]{_ZH_ROAD})?|{_ZH_SITE}){_ZH_SPOT})")
_ZH_WHEN = re.compile(
    r"((?:今天|昨天|前天|今早|今晚|昨晚|昨夜|今日|昨日|刚才|刚刚|本周|上周|这周|这几天|最近|近期|"
    r"周[一二三四五六日末]|星期[一二三四五六日天]|\d{1,2}月\d{1,2}[日号])"
    r"(?:早上|上午|中午|下午|傍晚|晚上|夜里|凌晨)?(?:\d{1,2}[点:：](?:\d{1,2}分?|半)?(?:左右)?)?|"
    r"(?:早上|上午|中午|下午|傍晚|晚上|夜里|凌晨)\d{1,2}[点:：](?:\d{1,2}分?|半)?(?:左右)?|"
    r"(?:已经|都)?(?:\d+|[一二两三四五六七八九十几半]+)个?(?:多)?(?:分钟|小时|天|星期|周|月)(?:了|以前|之前|前)?)")
_ZH_NAME = re.compile(
    rf"(?:我姓|本人姓)([{_HAN}])(?:先生|女士|小姐)?|我(?:叫|是)(?!市民|居民|业主|村民|租户|学生|家长|"
    rf"附近|这里|本地)([{_HAN}]{{1,3}}(?:先生|女士|小姐)?)(?=[，,。！!\s]|$)")
_ZH_PREAMBLE = re.compile(
    r"^\s*(?:(?:你好|您好|喂|麻烦)[，,！!。\s]*)?(?:我(?:要|想|来)(?:投诉|反映|举报|报告|报修|反馈)"
    r"(?:一下)?|(?:投诉|举报|反映|报修))?(?:一个问题|个问题|一件事|一下)?[：:，,\s]*")
_ZH_CONTACT = re.compile(
    r"[，,。；;\s]*(?:我的)?(?:联系)?(?:电话|手机|手机号|手机号码|联系方式|号码)(?:是|为|：|:)?\s*\[phone\]"
    r"|[，,。；;\s]*\[phone\]|[，,。；;\s]*(?:我姓|本人姓)[\u4e00-\u9fff](?:先生|女士|小姐)?")
_PHONE_ATTEMPT = re.compile(r"\d[\d \-]{5,}\d")


class ReportForm(BaseModel):
    """What the citizen reports; ``skipped`` names optional fields they chose not to give."""

    what: str | None = Field(default=None, max_length=1000)
    where: str | None = Field(default=None, max_length=300)
    when: str | None = Field(default=None, max_length=120)
    contact_name: str | None = Field(default=None, max_length=120)
    contact_phone: str | None = Field(default=None, max_length=40)
    contact_email: str | None = Field(default=None, max_length=200)
    skipped: list[FormField] = Field(default_factory=list)
    language: Literal["en", "zh"] = "en"
    """The language of the conversation: of the questions, the summary and the event."""
    bad_phone: bool = False
    """The last answer to the contact question held digits that are no phone number."""

    def has(self, name: FormField) -> bool:
        if name == "contact":
            return bool(self.contact_name or self.contact_phone or self.contact_email)
        return bool(getattr(self, name))

    def missing(self) -> list[FormField]:
        return [f for f in FIELDS if not self.has(f) and f not in self.skipped]

    def summary(self) -> str:
        contact = ", ".join(v for v in (self.contact_name, self.contact_phone, self.contact_email) if v)
        if self.language == "zh":
            return "\n".join([f"- 问题：{self.what or '-'}", f"- 地址：{self.where or '-'}",
                              f"- 时间：{self.when or '未说明'}", f"- 联系方式：{contact or '未留（匿名）'}"])
        lines = [f"- What: {self.what or '-'}", f"- Where: {self.where or '-'}",
                 f"- When: {self.when or 'not given'}", f"- Contact: {contact or 'none (anonymous)'}"]
        return "\n".join(lines)


def _grounded(value: str, text: str) -> bool:
    if has_cjk(value):  # Chinese: jieba's content words, found in the text as written
        plain = clean(text).text.lower()
        cjk_words = content_words(value)
        return bool(cjk_words) and sum(w in plain for w in cjk_words) / len(cjk_words) >= 0.75
    words = _WORD.findall(value.lower())
    said = set(_WORD.findall(text.lower()))
    return bool(words) and sum(w in said for w in words) / len(words) >= 0.75


def pattern_fields(text: str) -> dict[str, str]:
    """The fields patterns find in ``text`` (contact included)."""
    found: dict[str, str] = {}
    if where := _WHERE.search(redact(text)):  # never a phone number or e-mail as the address
        found["where"] = where.group(1).strip(" .,")
    if when := _WHEN.search(text):
        found["when"] = when.group(1).strip()
    if phone := find_phone(text):
        found["contact_phone"] = phone
    if email := find_email(text):
        found["contact_email"] = email
    if name := _NAME.search(text):
        found["contact_name"] = name.group(1)
    if has_cjk(text):
        return {**found, **_chinese_fields(text)}
    what = _PREAMBLE.sub("", redact(text), count=1).strip()
    what = re.sub(r"\s*(?:\[phone\]|\[email\]|my name is [A-Z][\w'-]+(?: [A-Z][\w'-]+)?)[.,]?", "", what)
    if len(_WORD.findall(what.lower())) >= 2:
        found["what"] = what[:1000].strip(" ,")
    return found


def _chinese_fields(text: str) -> dict[str, str]:
    """Where, when, a name and the problem from a Chinese message ("解放路128号门口有人占道
    经营，今天早上发现的，电话13812345678" → 解放路128号门口, 今天早上, …)."""
    found: dict[str, str] = {}
    safe = redact(text)
    body = _ZH_PREAMBLE.sub("", safe, count=1)
    if where := _ZH_WHERE.search(body):
        found["where"] = where.group(1)
    if when := _ZH_WHEN.search(safe):
        found["when"] = when.group(1)
    if name := _ZH_NAME.search(safe):
        found["contact_name"] = next(g for g in name.groups() if g)
    what = _ZH_CONTACT.sub("", body).strip(" ，,。；;：:")
    if sum(1 for ch in what if has_cjk(ch)) >= 3 or len(_WORD.findall(what.lower())) >= 2:
        found["what"] = what[:1000]
    return found


_EXTRACT_SCHEMA = {
    "type": "object",
    "properties": {
        "what": {"type": "string", "maxLength": 200},
        "where": {"type": "string", "maxLength": 120},
        "when": {"type": "string", "maxLength": 60},
    },
    "required": ["what", "where", "when"],
    "additionalProperties": False,
}
_EXTRACT_TASK = """\
Task: a citizen is reporting a problem to the city hotline. Copy from the report what the \
problem is, where it is and when it was noticed. Use the citizen's own words. Leave a \
field as an empty string when the report does not say it.
"""


def llm_fields(chat: BaseChatModel, text: str) -> dict[str, str]:
    """What, where and when from the LLM, each kept only if it uses the citizen's words."""
    safe = redact(text)
    messages = [SystemMessage(content=SHARED_SYSTEM_PREFIX + "\n" + _EXTRACT_TASK),
                HumanMessage(content=wrap_untrusted(safe))]
    data = structured_call(chat, messages=messages, schema_name="report_form",
                           json_schema=_EXTRACT_SCHEMA, max_tokens=120)
    return {k: v.strip() for k, v in data.items()
            if k in ("what", "where", "when") and isinstance(v, str) and _usable(k, v.strip(), safe)}


def _usable(name: str, value: str, text: str) -> bool:
    """The citizen's own words, and for a place a name or number a crew can find."""
    if not _grounded(value, text):
        return False
    if name == "where":
        return bool(re.search(r"\d|\b(?!I\b)[A-Z]", value) or _ZH_WHERE.search(value))
    if name == "when":
        return bool(_WHEN.search(value) or _ZH_WHEN.search(value))
    return True


def read_fields(text: str, chat: BaseChatModel | None) -> tuple[dict[str, str], str | None]:
    """Fields from patterns, gaps filled by the LLM. Returns (fields, LLM error or None)."""
    found = pattern_fields(text)
    if chat is None or all(k in found for k in ("what", "where", "when")):
        return found, None
    try:
        extra = llm_fields(chat, text)
    except LLMUnavailable as exc:
        return found, str(exc)
    return {**extra, **found}, None


def fill(form: ReportForm, text: str, *, asked: FormField | None, chat: BaseChatModel | None,
         correction: bool = False) -> ReportForm:
    """The form with what ``text`` adds. An answer to a question fills the field asked.

    Found fields fill empty ones; contact details always update. In an answer, ``what`` is
    read only when it was the question (an address is not a description of the problem).
    A ``correction`` (said when the summary was shown) replaces the place and time it names,
    never the description.
    """
    if asked is not None and asked not in REQUIRED and _DECLINE.match(text):
        return form.model_copy(update={"skipped": sorted({*form.skipped, asked})})
    found, _ = read_fields(text, chat if asked is None else None)
    if asked not in (None, "what") or correction:
        found.pop("what", None)
    update: dict[str, object] = {k: v for k, v in found.items()
                                 if correction or k.startswith("contact_") or not getattr(form, k)}
    if asked in ("what", "where", "when"):
        update[asked] = found.get(asked) or redact(text).strip()
    update["bad_phone"] = False
    if asked == "contact" and not any(k.startswith("contact_") for k in found):
        if _PHONE_ATTEMPT.search(text):  # "1381234567": a number to type again, not a name
            update["bad_phone"] = True
        elif 0 < len(text.split()) <= 4 and len(text.strip()) <= 40:
            update["contact_name"] = text.strip()
        else:
            update["skipped"] = sorted({*form.skipped, "contact"})
    return _checked(form, update)


MIN_WHAT = 3
"""A problem described in fewer characters ("x", "?") is asked for again."""


def _checked(form: ReportForm, update: dict[str, object]) -> ReportForm:
    """``form`` with ``update``, every value within its field's limit, validated.

    A value that cannot be valid is left out (the question comes again) rather than stored:
    a stored invalid value would fail every later turn of the conversation, and the submit.
    """
    merged = form.model_dump()
    for name, value in update.items():
        if isinstance(value, str):
            value = " ".join(value.split())  # no line breaks inside a phone number or a name
            limit = _LIMITS.get(name)
            value = value[:limit] if limit else value
            if name == "what" and len(value) < MIN_WHAT:
                continue
            if name == "contact_phone" and not _PHONE_OK.fullmatch(value):
                continue
            if name == "contact_email" and not _email_ok(value):
                continue
        merged[name] = value
    return ReportForm.model_validate(merged)


_LIMITS = {name: next((m.max_length for m in info.metadata if hasattr(m, "max_length")), None)
           for name, info in ReportForm.model_fields.items()}
_EMAIL_CHECK: TypeAdapter[str] = TypeAdapter(EmailStr)
_PHONE_OK = re.compile(r"[0-9 +().-]{3,40}")  # what dispatch's Contact accepts


def _email_ok(value: str) -> bool:
    """What dispatch's ``Contact.email`` (pydantic ``EmailStr``) accepts."""
    try:
        _EMAIL_CHECK.validate_python(value)
    except ValidationError:
        return False
    return True
