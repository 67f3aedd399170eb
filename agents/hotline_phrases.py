"""What the hotline recognises and says, per language (English and Chinese).

Patterns run on cleaned text (``agents.text.clean``: NFKC, invisible characters gone,
Traditional Chinese in Simplified characters). The checks that keep the hotline safe
(refusals) and the short answers of a conversation (yes, no, a rating) are tried in every
language, so a citizen who mixes them is still understood; the reply is in the language
of the conversation (:func:`conversation_language`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from agents.text import has_cjk

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
_I = re.IGNORECASE
_ASCII_WORD = re.compile(r"[A-Za-z]{2,}")


def conversation_language(text: str, previous: str | None, default: str) -> Language:
    """The language to answer ``text`` in: Chinese when it has Chinese characters, English
    when it has two English words or more, else the conversation's language so far (a
    ticket number or "ok" does not switch it), else the city's."""
    if has_cjk(text):
        return "zh"
    if len(_ASCII_WORD.findall(text)) >= 2:
        return "en"
    for candidate in (previous, default):
        if candidate in LANGUAGES:
            return candidate  # type: ignore[return-value]
    return "zh" if (default or "").startswith("zh") else "en"


def _change_request(objects: str, subjects: str) -> re.Pattern[str]:
    """"<verb> … <object>" or "<subject> … as <done>": a request to change a ticket."""
    return re.compile(
        r"\b(?:mark|set|close|resolve|reopen|delete|cancel|assign|reassign|escalate|approve)\b"
        rf".{{0,40}}\b(?:{objects})\b|\b(?:{subjects})\b.{{0,40}}\b(?:as|to)\s+"
        r"(?:resolved|closed|done|fixed|deleted|complete[d]?)\b", _I)


def _zh_change_request(objects: str) -> re.Pattern[str]:
    """"把工单关闭", "删除我的投诉", "将案件转派给…": a request to change a ticket (a question
    about one, "我的工单办结了吗", is not)."""
    verbs = "关闭|关掉|结案|办结|删除|撤销|撤回|注销|转派|改派|退回|标记为|设为|改为|改成"
    return re.compile(
        rf"(?:把|将)[^，。！？,.!?]{{0,20}}?(?:{objects})[^，。！？,.!?]{{0,10}}?(?:{verbs})"
        rf"|(?:关闭|关掉|删除|撤销|注销|结案|转派|改派|退回)(?:一下)?(?:这个|该|此|我的|这张|那个)?"
        rf"(?:{objects})")


@dataclass(frozen=True)
class Phrases:
    """One language's patterns and replies."""

    language: Language
    complaint: re.Pattern[str]
    """Starts a report whatever else the message says ("I want to report", "我要投诉")."""
    problem: re.Pattern[str]
    """A problem word: starts a report when the message is not a question."""
    question: re.Pattern[str]
    yes: re.Pattern[str]
    no: re.Pattern[str]
    status: re.Pattern[str]
    others_people: re.Pattern[str]
    data_request: re.Pattern[str]
    state_change: re.Pattern[str]
    ticket_change: re.Pattern[str]
    """A change request naming a ticket: refused even in the middle of a report."""
    refusal: str
    help: str
    unknown: str
    cancelled: str
    not_found: str
    confirm: str
    submitted: str
    cite: str
    ask_rating: str
    rated_closed: str
    rated_reopened: str
    rating_unverified: str
    rating_again: str
    rating_refused: str
    rating_skipped: str
    phone_invalid: str


ENGLISH = Phrases(
    language="en",
    complaint=re.compile(
        r"\b(?:i(?:'d| would)? (?:want|like|need)s? to (?:report|complain|file)|i'?m reporting|"
        r"i am reporting)\b", _I),
    problem=re.compile(
        r"\b(?:broken|fallen|fell|down|blocked|blocking|flood(?:ed|ing)?|pothole|graffiti|garbage|"
        r"trash|litter|dumped|leak(?:ing)?|not working|out of order|dark|overflowing|abandoned|"
        r"damaged|report(?:ing)? (?:a|an))\b", _I),
    question=re.compile(r"\?\s*$|^\s*(?:how|what|when|where|who|why|which|can|could|do|does|is|are|"
                        r"will|should|may)\b", _I),
    yes=re.compile(r"^\s*(?:y|yes|yeah|yep|ok|okay|sure|correct|confirm(?:ed)?|submit|send it|"
                   r"that'?s right)\b", _I),
    no=re.compile(r"^\s*(?:no|nope|cancel|stop|never ?mind|forget it)\b", _I),
    status=re.compile(r"\b(?:status|happened|progress|update|news|where is|what about|check)\b", _I),
    others_people=re.compile(
        r"\b(?:other|another|someone else'?s?|other people'?s?|every(?:one|body)'?s?|all(?: the)?)\s+"
        r"(?:citizens?|people|persons?|users?|residents?|callers?|neighbou?rs?|reports|complaints|"
        r"tickets|conversations|contacts?)\b", _I),
    data_request=re.compile(
        r"\b(?:list|show|give|print|dump|export)\b.{0,40}\b"
        r"(?:reports|tickets|complaints|conversations|database|phone numbers|e-?mails|addresses)\b", _I),
    state_change=_change_request("tickets?|reports?|cases?|requests?|complaints?",
                                 "tickets?|reports?|cases?|requests?"),
    ticket_change=_change_request("tickets?|cases?", "tickets?|cases?"),
    refusal=("I can't do that. I answer questions about city services from the city's official "
             "pages, take a report of a problem, or tell you the public status of a ticket if you "
             "give me its number."),
    help=("Ask me about city services (for example bulk trash pickup or streetlight repairs), "
          "tell me about a problem to report it, or give me a ticket number to check its status."),
    unknown=("I don't know: I found nothing about that in the city's official pages, and I won't "
             "guess. If you want to report a problem, tell me what and where it is and I will take "
             "your report."),
    cancelled="All right, I have not submitted anything.",
    not_found=("I found no ticket or report {reference}. Please check the number: a ticket number "
               "looks like 2026-00123."),
    confirm="Please check your report:\n{summary}\nShall I submit it? (yes / no)",
    submitted=("Thank you, your report is registered under the id {event_id}. It gets a ticket "
               "number as soon as it is sent to the responsible department; ask me \"what "
               "happened to my report {event_id}?\" to hear its status."),
    cite="Source: {title} ({source})",
    ask_rating=("Ticket {reference} has been resolved. How satisfied are you with how it was "
                "handled: satisfied, basically satisfied or dissatisfied?"),
    rated_closed="Thank you for your rating ({rating}). Ticket {reference} is now closed.",
    rated_reopened=("Thank you for telling us ({rating}). Ticket {reference} has been reopened "
                    "and goes back to the department with your comment."),
    rating_unverified=("To rate ticket {reference}, please give the phone number you left when "
                       "you reported it."),
    rating_again="Please answer satisfied, basically satisfied or dissatisfied (or 'no' to skip).",
    rating_refused=("Ticket {reference} cannot be rated now: only a resolved ticket is rated, and "
                    "only by the person who reported it."),
    rating_skipped="All right, no rating recorded.",
    phone_invalid=("That does not look like a phone number. Please give a phone number (for "
                   "example 515-555-0199), an e-mail address or a name, or say 'no'."),
)

_ZH_PROBLEM_WORDS = (
    "坏了|坏掉|不亮|损坏|破损|缺失|丢失|被偷|塌陷|倒了|倒伏|断了|堵塞|堵了|积水|内涝|漏水|冒水|"
    "爆管|乱停|乱放|乱扔|乱倒|乱堆|乱贴|占道|摆摊|噪音|噪声|扰民|没人管|没人清理|没人处理|满溢|"
    "坑洼|有坑|井盖|异味|臭味|油烟")

CHINESE = Phrases(
    language="zh",
    complaint=re.compile(r"我(?:要|想|来)(?:投诉|反映|举报|报告|报修|反馈|报个)|"
                         r"^\s*(?:投诉|举报|反映|报修)\s*[：:，,]"),
    problem=re.compile(_ZH_PROBLEM_WORDS),
    question=re.compile(r"[?？]\s*$|吗\s*[。？?]?\s*$|怎么|如何|怎样|什么|哪里|哪儿|几点|多久|"
                        r"多长时间|是否|能不能|可不可以|为什么|^\s*请问"),
    # the whole message: "是这样的，地址写错了" is a correction, "不要乱停车" a description
    yes=re.compile(r"^\s*(?:是的?|对的?|好的?|确认(?:提交)?|请?提交吧?|可以|没错|嗯+|行|确定|没问题)"
                   r"\s*(?:[，,。.！!]\s*(?:请?提交吧?|确认|谢谢)?)?\s*[。.！!]?\s*$"),
    no=re.compile(r"^\s*(?:否|不是|不用了?|不要了?|不提交|取消|算了|不了|先不(?:提交)?了?|不)"
                  r"\s*(?:[，,。.！!]\s*(?:谢谢|算了)?)?\s*[。.！!]?\s*$"),
    status=re.compile(r"进度|进展|状态|怎么样|处理得?如何|查询|查一下|查下|结果|到哪一?步|有消息|"
                      r"有回复|办了没|办好了|修好了没"),
    others_people=re.compile(r"(?:其他人|别人|他人|其他市民|其他居民|所有人|所有市民|大家)的?"
                             r"(?:工单|投诉|报告|举报|电话|号码|手机号?|联系方式|信息|地址|记录|对话)"),
    data_request=re.compile(r"(?:列出|导出|显示|发给我|告诉我|查看|打印|给我看)(?:一下)?.{0,12}?"
                            r"(?:所有|全部|其他人|别人|他人)的?.{0,8}?(?:工单|投诉|电话|号码|手机号|"
                            r"联系方式|记录|数据库|对话|地址)"),
    state_change=_zh_change_request("工单|案件|投诉|报告|诉求"),
    ticket_change=_zh_change_request("工单|案件"),
    refusal=("这个我不能办理。我可以根据市政府的官方资料回答您的问题、受理您反映的问题，"
             "或者根据工单编号告诉您工单的公开办理状态。"),
    help=("您可以向我咨询城市服务（例如垃圾清运、路灯报修），直接描述您要反映的问题，"
          "或者告诉我工单编号查询办理进度。"),
    unknown=("我不知道：在本市的官方资料里没有找到相关内容，我不会凭猜测回答。"
             "如果您要反映问题，请告诉我是什么问题、在什么地方，我可以为您登记。"),
    cancelled="好的，没有提交任何内容。",
    not_found="没有找到工单或报告 {reference}，请核对编号：工单编号的格式如 2026-00123。",
    confirm="请核对您反映的问题：\n{summary}\n确认提交吗？（是 / 否）",
    submitted=("感谢您的反映，已登记，登记号 {event_id}。派发到责任部门后会生成工单编号；"
               "您可以问我“我的报告 {event_id} 怎么样了”查询办理进度。"),
    cite="来源：{title}（{source}）",
    ask_rating="工单 {reference} 已办结。请您对办理结果进行评价：满意、基本满意还是不满意？",
    rated_closed="感谢您的评价（{rating}）。工单 {reference} 已办结归档。",
    rated_reopened="感谢您的反馈（{rating}）。工单 {reference} 已重新打开，将连同您的意见退回承办部门继续办理。",
    rating_unverified="为核实身份，请提供您反映该问题时留下的联系电话，以便对工单 {reference} 进行评价。",
    rating_again="请回答“满意”“基本满意”或“不满意”（不评价请回答“不”）。",
    rating_refused="工单 {reference} 目前不能评价：只有已办结的工单可以评价，且只能由反映人评价。",
    rating_skipped="好的，本次不作评价。",
    phone_invalid=("这个号码不对：手机号码是 11 位数字（例如 13812345678），座机请带区号"
                   "（例如 027-12345678）。请重新输入联系电话，不愿留下请回答“不留”。"),
)

PHRASES: dict[Language, Phrases] = {"en": ENGLISH, "zh": CHINESE}

Rating = Literal["satisfied", "basically_satisfied", "dissatisfied"]
_RATINGS: tuple[tuple[Rating, re.Pattern[str]], ...] = (
    ("dissatisfied", re.compile(r"不满意|不太满意|很不满意|\b(?:dissatisfied|unsatisfied|not "
                                r"(?:at all |very )?satisfied|not happy)\b", _I)),
    ("basically_satisfied", re.compile(r"基本满意|比较满意|还算满意|\b(?:basically|mostly|fairly|"
                                       r"somewhat|partly) satisfied\b", _I)),
    ("satisfied", re.compile(r"满意|\b(?:very )?satisfied\b|\bhappy with\b", _I)),
)


RATING_LABELS: dict[Language, dict[Rating, str]] = {
    "en": {"satisfied": "satisfied", "basically_satisfied": "basically satisfied",
           "dissatisfied": "dissatisfied"},
    "zh": {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"},
}


def rating_in(text: str) -> tuple[Rating, str] | None:
    """The rating a message gives, and the words around it (the citizen's comment)."""
    for rating, pattern in _RATINGS:
        match = pattern.search(text)
        if match:
            comment = (text[:match.start()] + " " + text[match.end():]).strip(" ，,。.!！;；:：")
            return rating, " ".join(comment.split())
    return None


def any_language(name: str, text: str) -> bool:
    """Whether the pattern ``name`` of any language matches ``text``."""
    return any(getattr(p, name).search(text) for p in PHRASES.values())
