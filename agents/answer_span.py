"""The part of a passage that answers a question: the sentence the hotline shows.

Each sentence of the passage is scored by its similarity to the question (sentence
embeddings when an embedder is given, else shared content words), read with the section
heading it stands under, then adjusted by two cues a retriever does not see:

- the answer type: a "when / how long" question is answered by a sentence with a time or
  a frequency (when the passage has one), a "how much" question by one with a price or
  "free";
- the answer type: a "who / which department" question (谁、哪个部门、找谁) is answered by
  a sentence that names who is responsible (负责、由…处理, "responsible", "department");
- negation: a sentence that says what is *not* done (or stands under a heading that does)
  does not answer a question that asks what is done. In Chinese only the negations of an
  action count (不予、不能、没有、禁止 …): 不 alone mostly describes the problem (路灯不亮).

English and Chinese alike; headings are the short lines without a final full stop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from agents.text import content_words, has_cjk, split_sentences

Embed = Callable[[Sequence[str]], NDArray[np.float32]]

NEGATION_PENALTY = 0.15
HEADING_MAX = 80
_END = re.compile(r"[.!?。！？：:]$")
_NEGATION = re.compile(
    r"\b(?:not|never|cannot|can't|don't|doesn't|isn't|aren't|won't|without)\b"
    r"|\bno\b(?!\s+(?:later|more|less|earlier|sooner)\b)"
    r"|不[予能可会得用必准要](?!不)|不允许|不需要|不受理|不办理|不负责|不属于|不提供|没有|无需|禁止|严禁",
    re.IGNORECASE)
_WHEN = re.compile(r"^\s*(?:when|how\s+(?:long|soon|often|quickly)|what\s+(?:time|day|days|hours))\b"
                   r"|什么时候|何时|多久|多长时间|几点|哪天|时间", re.IGNORECASE)
_TIME = re.compile(
    r"\b(?:\d{1,2}(?::\d\d)?\s*(?:am|pm|a\.m\.|p\.m\.)|noon|midnight|monday|tuesday|wednesday"
    r"|thursday|friday|saturday|sunday|weekends?|weekdays?|daily|weekly|monthly|yearly|once|twice"
    r"|every|morning|evening|night|within|hours?|days?|weeks?|months?|years?|minutes?)\b"
    r"|\d+\s*(?:点|时|小时|天|日|周|个月|月|年|分钟)|工作日|每[天日周月年]|上午|下午|晚上|凌晨", re.IGNORECASE)
_HOW_MUCH = re.compile(r"^\s*(?:how\s+much|what\s+(?:does|is)\s+the\s+(?:cost|fee|price)"
                       r"|is\s+(?:it|there)\s+(?:free|a\s+(?:fee|charge)))|多少钱|费用|收费|价格",
                       re.IGNORECASE)
_WHO = re.compile(r"^\s*(?:who\s+(?:is\s+responsible|handles|fixes|repairs|maintains|cleans|collects"
                  r"|(?:do|should|can)\s+i\s+(?:call|contact|ask))\b|which\s+(?:department|agency|office)\b)"
                  r"|找谁|谁[来管负修处]|谁负责|哪个(?:部门|单位|机构)|哪[个些]?部门|归谁|由谁", re.IGNORECASE)
_RESPONSIBLE = re.compile(r"\b(?:responsible|department|agency|handled\s+by)\b"
                          r"|负责|由.{1,20}?(?:处理|维修|管理|负责|办理)"
                          r"|(?:管理处|管理局|执法局|部门|服务中心|管理中心|指挥中心|街道办|派出所)", re.IGNORECASE)
WHO_BONUS = 0.5
"""Added to a sentence naming who is responsible, for a question asking who: a bonus, not a
filter (a "who" question may still be answered by another sentence that shares its words)."""
_PRICE = re.compile(r"[$€£¥]\s*\d|\b(?:free|fee|fees|charge|charged|cost|costs|dollars?|cents?)\b"
                    r"|\d+\s*元|免费|收费", re.IGNORECASE)


@dataclass(frozen=True)
class Unit:
    """One sentence of a passage and the heading it stands under."""

    heading: str
    sentence: str


def units(passage: str, title: str = "") -> list[Unit]:
    """The passage's sentences, each with its section heading (the title before any)."""
    heading = title
    found: list[Unit] = []
    for line in passage.splitlines():
        line = line.strip()
        if not line:
            continue
        if len(line) <= HEADING_MAX and not _END.search(line) and len(split_sentences(line)) == 1:
            heading = line.lstrip("#").strip()  # a Markdown heading's marks are not its words
            continue
        found += [Unit(heading, sentence) for sentence in split_sentences(line)]
    return found


def _shares(asked: set[str], said: set[str]) -> int:
    """How many asked words the text has, a word matching its longer forms ("bulk" in
    "bulky", "collect" in "collection") when four letters or more; a Chinese word matching
    the words it is part of (修 in 维修, 修复)."""
    def has(word: str) -> bool:
        return any(w == word or (min(len(w), len(word)) >= 4 and (w.startswith(word) or word.startswith(w)))
                   or (has_cjk(word) and word in w) for w in said)
    return sum(has(word) for word in asked)


def _similarities(question: str, found: list[Unit], embed: Embed | None) -> list[float]:
    if embed is None:  # shared words, the heading's at half weight
        asked = content_words(question)
        return [(_shares(asked, content_words(u.sentence)) + 0.5 * _shares(asked, content_words(u.heading)))
                / max(1, len(asked)) for u in found]
    vectors = embed([question, *[u.sentence for u in found],
                     *[f"{u.heading}: {u.sentence}" for u in found]])
    plain, headed = vectors[1:len(found) + 1], vectors[len(found) + 1:]
    return [max(float(p @ vectors[0]), float(h @ vectors[0])) for p, h in zip(plain, headed, strict=True)]


def _cue(question: str) -> re.Pattern[str] | None:
    """What an answer to ``question`` contains: a time, a price, or nothing in particular."""
    if _WHEN.search(question):
        return _TIME
    return _PRICE if _HOW_MUCH.search(question) else None


def scores(question: str, found: list[Unit], embed: Embed | None = None) -> list[float]:
    """Each unit's score as an answer to ``question``: its similarity, less a penalty for a
    negation the question does not have. When the question asks for a time or a price and
    some sentences give one, the others score ``-inf``: the answer type decides first."""
    cue = _cue(question)
    typed = cue is not None and any(cue.search(u.sentence) for u in found)
    negated_question = bool(_NEGATION.search(question))
    asks_who = bool(_WHO.search(question))
    out = []
    for unit, similarity in zip(found, _similarities(question, found, embed), strict=True):
        score = similarity
        if typed and cue is not None and not cue.search(unit.sentence):
            score = float("-inf")
        if not negated_question and _NEGATION.search(f"{unit.heading} {unit.sentence}"):
            score -= NEGATION_PENALTY
        if asks_who and _RESPONSIBLE.search(unit.sentence):
            score += WHO_BONUS
        out.append(score)
    return out


def answer_span(question: str, passage: str, *, title: str = "", embed: Embed | None = None,
                max_sentences: int = 2) -> str:
    """The sentence of ``passage`` that best answers ``question``, with the sentence right
    after it when that one scores nearly as well (up to ``max_sentences``), in order."""
    found = units(passage, title)
    if not found:
        return " ".join(passage.split())
    ranked = scores(question, found, embed)
    best = int(np.argmax(ranked))
    chosen = [best]
    for neighbour in (best + 1, best - 1):
        if (len(chosen) < max_sentences and 0 <= neighbour < len(found)
                and found[neighbour].heading == found[best].heading
                and ranked[neighbour] >= ranked[best] - 0.05):
            chosen.append(neighbour)
    return " ".join(found[i].sentence for i in sorted(chosen))
