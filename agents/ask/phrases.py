"""The fixed words of questions: ticket statuses, overdue, "near", and the words that only
carry the question ("show me", "tickets", "有哪些") — in English and Chinese."""

from __future__ import annotations

import re

from agents.ask.scan import NUMBER, Scan
from agents.ask.schema import ACTIVE, Status

_B = r"(?<![a-z0-9])"
_E = r"(?![a-z0-9])"


def _en(*phrases: str) -> str:
    return _B + "(?:" + "|".join(phrases) + ")" + _E


# phrase → statuses; the more specific phrases first (they take their characters).
STATUS_PHRASES: list[tuple[str, tuple[Status, ...]]] = [
    (_en(r"not (?:yet )?(?:resolved|fixed|done|closed|finished|completed)", r"still open",
         r"unresolved", r"outstanding", r"pending", r"open", r"active", r"unfixed"), ACTIVE),
    (_en(r"unacknowledged", r"not (?:yet )?acknowledged", r"not (?:yet )?started",
         r"untouched"), ("open",)),
    (_en(r"acknowledged"), ("acknowledged",)),
    (_en(r"in[ -]progress", r"being (?:worked on|handled|fixed)", r"under ?way",
         r"work(?:ing)? in progress", r"started"), ("in_progress",)),
    (_en(r"resolved", r"fixed", r"repaired", r"cleared"), ("resolved",)),
    (_en(r"closed", r"close(?! to)"), ("closed",)),
    (_en(r"rejected", r"rejects?", r"sent back", r"bounced"), ("rejected",)),
    (_en(r"triage", r"in triage", r"unassigned", r"not assigned", r"unrouted"), ("triage",)),
    (_en(r"done", r"finished", r"completed", r"complete"), ("resolved", "closed")),
    (r"仍未解决|仍未处理|还没解决|还没有解决|还未解决|尚未解决|没有解决|没解决|未解决|未处理|"
     r"待处理|未完成|未办结|未修复|待解决", ACTIVE),
    (r"未受理|待受理|未确认|待确认|未接单", ("open",)),
    (r"已受理|已确认|已接单", ("acknowledged",)),
    (r"正在处理|处理中|在处理|进行中|办理中|施工中|整改中", ("in_progress",)),
    (r"已解决|已处理|已修复|已修好|修好了|已整改|已处置", ("resolved",)),
    (r"已关闭|已办结|已结案|关闭|结案|办结", ("closed",)),
    (r"已退回|被退回|退回|驳回|被拒", ("rejected",)),
    (r"待分派|待分拨|未分派|未分拨|待派单|未派单|待分配|未分配", ("triage",)),
    (r"已完成|已办完|完成了", ("resolved", "closed")),
]
OVERDUE_PHRASES: list[tuple[str, bool]] = [
    (_en(r"not (?:yet )?(?:overdue|late|past due|breached)", r"on time", r"within (?:the )?sla",
         r"not past (?:the |their )?(?:due date|deadline|sla)"), False),
    (_en(r"overdue", r"past due", r"late", r"breached(?: sla)?", r"sla breach(?:ed|es)?",
         r"over (?:the |their )?sla", r"past (?:the |their |its )?(?:due date|deadline|sla)",
         r"behind schedule", r"delayed"), True),
    (r"没有逾期|没逾期|未逾期|未超期|没超期|没有超期|未超时|没超时|没有超时|按时|未过期", False),
    (r"已逾期|逾期|已超期|超期|超时|过期|延误|超过时限|超出时限", True),
]
_STATUS = [(re.compile(pattern), statuses) for pattern, statuses in STATUS_PHRASES]
_OVERDUE = [(re.compile(pattern), value) for pattern, value in OVERDUE_PHRASES]

NEAR_BEFORE = re.compile(
    _B + r"(?:(?:within|less than|under|up to|in|inside)\s+(?P<n>" + NUMBER + r")\s*"
    r"(?P<unit>m|meters?|metres?|km|kilometers?|kilometres?|miles?|mi|ft|feet|yards?|yds?)"
    r"\s+(?:of|from|around|near)|near(?:by)?|around|close to|next to|beside|by|at|outside|"
    r"in the vicinity of|in the area of|within reach of)\s+(?:(?:a|an|the|any|some)\s+)?$")
NEAR_AFTER = re.compile(
    r"\s*(?:附近|周边|周围|旁边|一带|边上|门口|周遭|近旁)?\s*(?:(?P<n>" + NUMBER + r")\s*"
    r"(?P<unit>米|公尺|公里|千米|km|m)\s*(?:范围)?\s*(?:内|以内|之内)?|附近|周边|周围)?"
    r"(?:\s*(?:area|zones?|nearby|vicinity|surroundings)" + _E + ")?")
METRES = {"m": 1, "meter": 1, "meters": 1, "metre": 1, "metres": 1, "km": 1000,
          "kilometer": 1000, "kilometers": 1000, "kilometre": 1000, "kilometres": 1000,
          "mile": 1609, "miles": 1609, "mi": 1609, "ft": 0.3048, "feet": 0.3048, "yard": 0.9144,
          "yards": 0.9144, "yd": 0.9144, "yds": 0.9144, "米": 1, "公尺": 1, "公里": 1000,
          "千米": 1000}

FILLER_WORDS: frozenset[str] = frozenset("""
show list find give get display tell see look search want need
all any anything everything something every
ticket tickets incident incidents report reports reported reporting case cases issue issues
problem problems complaint complaints request requests item items thing things record records
what which where who how many much whats there here like similar same kind sort type
came come coming happened happening created filed logged submitted raised seen made
still that has have had been being got gets
near nearby around close next area zone zones vicinity
sla department dept agency team crew
mentioning mention mentioned about regarding concerning involving containing with
repair repairs work job jobs
工单 事件 案件 问题 投诉 报告 上报 报修 反映 举报 记录 情况 诉求 事项 案子 单子
显示 查看 查询 列出 查找 找 找出 看看 看 给 我 一下 所有 全部 相关 类似 有没有 有 什么 哪些 有哪些
多少 几个 几 那边 这边 部门 方面 提到 提及 关于 涉及 包含 仍 还 已 已经 被 的 了 在 里 内 中
区域 地方 附近 周边 周围 发生 出现 产生 是 都 吗 呢 吧 上 下 之 个 条 起 件 处 这 那 一 其他
""".split())


def take_statuses(scan: Scan) -> list[Status]:
    found: list[Status] = []
    for pattern, statuses in _STATUS:
        for _ in scan.free_matches(pattern):
            found.extend(s for s in statuses if s not in found)
    return found


def take_overdue(scan: Scan) -> bool | None:
    value: bool | None = None
    for pattern, overdue in _OVERDUE:
        for _ in scan.free_matches(pattern):
            value = overdue if value is None else value and overdue
    return value
