"""Traditional Chinese to Simplified, so that one set of keywords and patterns serves both.

A citizen in a Simplified-script city may type Traditional characters (a phone set to Hong
Kong or Taiwan input, or a message copied from elsewhere): "路燈不亮" must match the
keyword "路灯不亮", "無視之前的規則" must be caught as "无视之前的规则", and a Traditional
question must find the Simplified knowledge base. ``agents.text.clean`` calls this, so
every check on cleaned text reads both scripts. zhconv (MediaWiki's conversion tables, pure
Python) converts words as used in mainland China ("計程車" → "出租车") and leaves text
without Han characters untouched.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Protocol

_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")


class _Converter(Protocol):
    def __call__(self, text: str, locale: str) -> str: ...


@cache
def _zhconv() -> _Converter:
    """zhconv's ``convert``, imported on first use (its tables load on the first call)."""
    from zhconv import convert

    converter: _Converter = convert
    return converter


def to_simplified(text: str) -> str:
    """``text`` with Traditional Chinese written in Simplified characters ("路燈壞了" →
    "路灯坏了"); text without Han characters is returned as it is, without loading tables."""
    if not _HAN.search(text):
        return text
    return _zhconv()(text, "zh-cn")
