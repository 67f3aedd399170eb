"""Language-aware text handling, one place for English and Chinese alike.

Normalisation, invisible and control characters, segmentation, keyword matching,
sentence splitting, title cutting and personal-data patterns. A pure library: the
standard library and jieba (loaded on first use) only.
"""

from agents.text.keywords import (
    keyword_pattern,
    keyword_specificity,
    keywords_in,
    matches_keyword,
    word_forms,
)
from agents.text.normalise import (
    Cleaned,
    Mark,
    MarkKind,
    clean,
    control_char,
    has_cjk,
    is_cjk,
    show_invisible,
    strip_invisible,
)
from agents.text.pii import (
    EMAIL,
    MIN_PHONE_DIGITS,
    PHONE,
    PiiKind,
    PiiMatch,
    find_pii,
    is_id_card,
    redact_pii,
)
from agents.text.script import to_simplified
from agents.text.sentences import cut_at_word, split_sentences
from agents.text.words import (
    STOPWORDS,
    content_words,
    search_terms,
    segment_for_search,
    stem,
    tokens,
    word_weight,
)

__all__ = [
    "EMAIL",
    "MIN_PHONE_DIGITS",
    "PHONE",
    "STOPWORDS",
    "Cleaned",
    "Mark",
    "MarkKind",
    "PiiKind",
    "PiiMatch",
    "clean",
    "content_words",
    "control_char",
    "cut_at_word",
    "find_pii",
    "has_cjk",
    "is_cjk",
    "is_id_card",
    "keyword_pattern",
    "keyword_specificity",
    "keywords_in",
    "matches_keyword",
    "redact_pii",
    "search_terms",
    "segment_for_search",
    "show_invisible",
    "split_sentences",
    "stem",
    "strip_invisible",
    "to_simplified",
    "tokens",
    "word_forms",
    "word_weight",
]
