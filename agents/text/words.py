"""Word tokens for English and Chinese: segmentation, stopwords and light stemming."""

from __future__ import annotations

import logging
import re
import statistics
import warnings
from functools import cache
from pathlib import Path
from typing import Protocol

from agents.text.normalise import CJK_CHARS, clean

_TOKEN = re.compile(f"(?P<cjk>[{CJK_CHARS}]+)|(?P<word>(?:(?![{CJK_CHARS}])[^\\W_])+)")

ENGLISH_STOPWORDS: frozenset[str] = frozenset("""
a about above after again against all also am an and any are as at be been before being below
between both but by can could did do does doing down during each either else ever few for from
further had has have having he her here hers herself him himself his how however i if in into is
it its itself just let me more most my myself neither no nor not now of off on once only or other
our ours ourselves out over own please same she should so some such than that the their theirs
them themselves then there these they this those through to too under until up upon very was we
were what when where which while who whom why will with would yet you your yours yourself
yourselves hi hello dear thanks thank ok okay s t
""".split())

CHINESE_STOPWORDS: frozenset[str] = frozenset("""
的 了 是 在 和 有 我 你 他 她 它 这 那 请 也 就 都 而 及 与 着 把 被 让 给 对 从 向 吗 呢 吧 啊 呀 哦 嗯
个 之 以 于 或 但 又 还 很 太 更 最 么 得 地 过 将 并 则 其 该 此 们 我们 你们 他们 她们 它们 这个 那个
这些 那些 这里 那里 这儿 那儿 一个 一下 一些 已经 就是 还是 但是 因为 所以 如果 然后 而且 或者 可以
能 会 要 想 没有 不是 什么 怎么 为什么 自己 大家 您 谢谢 麻烦 一直 现在 还有 并且 以及 对于 关于
""".split())

STOPWORDS: frozenset[str] = ENGLISH_STOPWORDS | CHINESE_STOPWORDS


class _Segmenter(Protocol):
    def lcut(self, sentence: str) -> list[str]: ...


@cache
def _jieba() -> _Segmenter:
    """jieba, imported and quietened on first use (its dictionary loads on the first cut)."""
    with warnings.catch_warnings():  # older jieba releases import pkg_resources
        warnings.simplefilter("ignore")
        import jieba

    jieba.setLogLevel(logging.WARNING)
    segmenter: _Segmenter = jieba
    return segmenter


def segment_cjk(text: str) -> list[str]:
    """jieba's words for a run of CJK text."""
    return [word for word in _jieba().lcut(text) if word.strip()]


def tokens(text: str) -> list[str]:
    """Lowercase word tokens of the cleaned text: jieba words for CJK runs, letter/digit
    runs elsewhere ("Fallen TREE 树倒了" → ["fallen", "tree", "树倒", "了"])."""
    out: list[str] = []
    for match in _TOKEN.finditer(clean(text).text.lower()):
        if match.lastgroup == "cjk":
            out.extend(segment_cjk(match.group()))
        else:
            out.append(match.group())
    return out


def segment_for_search(text: str) -> str:
    """Tokens joined by spaces, for PostgreSQL's ``simple`` full-text configuration."""
    return " ".join(tokens(text))


def search_terms(text: str) -> list[str]:
    """What full-text search indexes and looks up: the tokens, and for Chinese also every
    two-character window of each run ("路灯不亮" → 路灯, 灯不, 不亮), so that a word jieba
    cuts differently in a question and in a passage ("路|灯不亮" vs "路灯|不亮") still meets."""
    terms = tokens(text)
    for match in _TOKEN.finditer(clean(text).text.lower()):
        run = match.group("cjk")
        if run and len(run) > 2:
            terms.extend(run[i:i + 2] for i in range(len(run) - 1))
    return list(dict.fromkeys(terms))


def _vowel(word: str) -> bool:
    return any(ch in "aeiouy" for ch in word)


def _strip_plural(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")) or (
            word.endswith("ses") and len(word) > 4):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _strip_verb_ending(word: str) -> str:
    for suffix in ("ing", "ed"):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and len(stem) >= 3 and _vowel(stem) and not word.endswith("eed"):
            if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
                stem = stem[:-1]  # "running" → "run", but "falling" → "fall"
            return stem
    return word


def stem(word: str) -> str:
    """A light English stem, equal for "tree"/"trees", "block"/"blocked"/"blocking",
    "damage"/"damaged"; not a dictionary form. Non-ASCII words are returned unchanged."""
    if not word.isascii() or not word.isalpha():
        return word
    word = _strip_verb_ending(_strip_plural(word.lower()))
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def content_words(text: str) -> set[str]:
    """Tokens that carry meaning: stopwords and punctuation dropped, English words stemmed.

    What a grounding check compares: a sentence whose content words are not in the facts
    says something the facts do not.
    """
    return {stem(token) for token in tokens(text)
            if token not in STOPWORDS and any(ch.isalnum() for ch in token)}


@cache
def _corpus_idf() -> tuple[dict[str, float], float]:
    """jieba's table of word IDFs over a general Chinese corpus, and its median."""
    import jieba

    table: dict[str, float] = {}
    path = Path(jieba.__file__).parent / "analyse" / "idf.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, weight = line.partition(" ")
        if weight:
            table[word] = float(weight)
    return table, statistics.median(table.values())


def word_weight(word: str) -> float:
    """How much a word says, whatever the knowledge base: its IDF over a general Chinese
    corpus (jieba's table: "企鹅" 9.9, "路灯" 9.0, "办理" 6.6, "时间" 4.1), the table's median
    for a word it lacks. Loaded on first use."""
    table, median = _corpus_idf()
    return table.get(word, median)
