"""One text module for English and Chinese: normalisation, keywords, words, sentences, PII."""

import re

import pytest

from agents.text import (
    Mark,
    clean,
    content_words,
    control_char,
    cut_at_word,
    find_pii,
    has_cjk,
    is_cjk,
    is_id_card,
    keyword_pattern,
    keyword_specificity,
    keywords_in,
    matches_keyword,
    redact_pii,
    segment_for_search,
    show_invisible,
    split_sentences,
    tokens,
)

# ---- clean / show_invisible / control_char ------------------------------------------------


def test_clean_turns_full_width_letters_into_ascii() -> None:
    assert clean("Ｆａｌｌｅｎ ｔｒｅｅ").text == "Fallen tree"


def test_clean_removes_zero_width_and_bidi_characters_and_says_where_they_were() -> None:
    cleaned = clean("Ig\u200bnore\u202e x\ufeff\u2066")

    assert cleaned.text == "Ignore x"
    assert cleaned.marks == [
        Mark(kind="zero_width", code_point="U+200B", offset=2),
        Mark(kind="bidi", code_point="U+202E", offset=7),
        Mark(kind="zero_width", code_point="U+FEFF", offset=10),
        Mark(kind="bidi", code_point="U+2066", offset=11),
    ]


@pytest.mark.parametrize("char", ["\u200c", "\u200d", "\u2060", "\u202a", "\u202b", "\u202c", "\u202d",
                                  "\u2067", "\u2068", "\u2069", "\u200e", "\u200f", "\u061c"])
def test_every_listed_invisible_character_is_removed(char: str) -> None:
    cleaned = clean(f"a{char}b")
    assert cleaned.text == "ab" and len(cleaned.marks) == 1 and cleaned.marks[0].offset == 1


def test_clean_text_without_invisible_characters_has_no_marks() -> None:
    assert clean("树倒了 tree").marks == []


def test_show_invisible_makes_each_hidden_character_a_visible_token() -> None:
    assert show_invisible("pay\u202eexe.txt\u200b") == "pay⟦U+202E⟧exe.txt⟦U+200B⟧"
    assert show_invisible("ordinary <b>text</b>") == "ordinary <b>text</b>"


@pytest.mark.parametrize(("text", "position"), [
    ("abc\x00def", 3), ("\x1b[31m", 0), ("ok\x7f", 2), ("a\x0bb", 1), ("a\tb\nc\r\nd", None), ("", None),
    ("树\x08", 1),
])
def test_control_char_gives_the_position_of_the_first_control_character(
        text: str, position: int | None) -> None:
    assert control_char(text) == position


def test_cjk_detection() -> None:
    assert has_cjk("ofo单车") and not has_cjk("bike 123")
    assert is_cjk("树倒了，挡住了路 2 棵") and not is_cjk("ofo单车") and not is_cjk("123") and not is_cjk("")
    assert is_cjk("ゴミ") and is_cjk("쓰레기")


# ---- keywords ------------------------------------------------------------------------------


@pytest.mark.parametrize(("keyword", "text"), [
    ("tree", "Two TREES are down"),
    ("trees", "a tree is down"),
    ("bikes", "a shared bike fell over"),
    ("bus", "three buses blocked"),
    ("battery", "old batteries dumped"),
    ("fallen tree", "Fallen   trees on the road"),
    ("e-scooter", "two E-scooters on the pavement"),
    ("bike(s)", "bike(s) lying around"),
    ("re-", "the road needs re-paving"),
    ("共享单车", "路边的共享单车倒了一片"),
    ("单车", "ofo单车倒了"),
    ("ofo", "ofo单车倒了"),
    ("graffiti", "Ｇｒａｆｆｉｔｉ on the wall"),
    ("pothole", "pot\u200bhole on Main St"),
])
def test_keyword_matches(keyword: str, text: str) -> None:
    assert matches_keyword(text, keyword)


@pytest.mark.parametrize(("keyword", "text"), [
    ("tree", "the street is dirty"),
    ("bus", "the bu stop"),
    ("light", "a lightning strike"),
    ("fallen tree", "fallen leaves near a tree"),
    ("共享单车", "单车道被堵"),
    ("bike(s)", "bikes everywhere"),
    ("scooter", "e-scooterish"),
])
def test_keyword_does_not_match(keyword: str, text: str) -> None:
    assert not matches_keyword(text, keyword)


def test_keyword_pattern_is_none_for_a_blank_keyword_and_compiled_otherwise() -> None:
    assert keyword_pattern("  ") is None and not matches_keyword("anything", "")
    pattern = keyword_pattern("Tree")
    assert isinstance(pattern, re.Pattern) and pattern.search("TREES")


def test_keywords_in_lists_matching_keywords_in_the_given_order_once() -> None:
    found = keywords_in("Construction debris and a fallen tree 树倒了",
                        ["tree", "pothole", "construction debris", "construction", "tree", "树"])
    assert found == ["tree", "construction debris", "construction", "树"]


def test_keyword_specificity_prefers_more_words_then_longer_keywords() -> None:
    assert keyword_specificity("construction debris") > keyword_specificity("construction")
    assert keyword_specificity("construction") > keyword_specificity("debris")
    assert keyword_specificity("建筑垃圾") > keyword_specificity("垃圾")


# ---- tokens and content words --------------------------------------------------------------


def test_tokens_lowercase_words_and_segment_chinese() -> None:
    assert tokens("Fallen TREE, 2 cars!") == ["fallen", "tree", "2", "cars"]
    chinese = tokens("我家楼下的路灯坏了")
    assert "路灯" in chinese and "楼下" in chinese and "".join(chinese) == "我家楼下的路灯坏了"
    assert tokens("Ｔｒｅｅ ofo单车") == ["tree", "ofo", "单车"]


def test_segment_for_search_joins_tokens_with_spaces() -> None:
    assert segment_for_search("路灯坏了 Elm St.") == " ".join(tokens("路灯坏了 Elm St."))
    assert "路灯" in segment_for_search("路灯坏了").split()


def test_content_words_drop_stopwords_and_compare_plurals_and_verb_forms_equal() -> None:
    assert content_words("The trees are blocking the roads") == content_words("a tree blocked a road")
    assert content_words("damaged bikes") == content_words("the damage of a bike")
    assert content_words("Please, it is the!") == set()


def test_content_words_keep_chinese_content_and_drop_function_words() -> None:
    words = content_words("我家楼下的路灯坏了一个星期了，请尽快处理")
    assert {"路灯", "星期", "处理"} <= words
    assert not words & {"的", "了", "我", "请", "一个", "，"}


def test_content_words_keep_numbers() -> None:
    assert "14" in content_words("Elm Street 14")


# ---- sentences and titles ------------------------------------------------------------------


def test_split_sentences_in_english() -> None:
    assert split_sentences("  The tree is 2.5 m tall. Dr. Smith saw it!  Is it fixed?\n\nCall me") == [
        "The tree is 2.5 m tall.", "Dr. Smith saw it!", "Is it fixed?", "Call me"]


def test_split_sentences_keeps_addresses_and_numbers_whole() -> None:
    assert split_sentences("Mail ana@mail.example.org. Version 1.2 broke.") == [
        "Mail ana@mail.example.org.", "Version 1.2 broke."]


def test_split_sentences_in_chinese() -> None:
    assert split_sentences("树倒了。挡住了路！什么时候处理？先拉警戒线；再清理") == [
        "树倒了。", "挡住了路！", "什么时候处理？", "先拉警戒线；", "再清理"]
    assert split_sentences("路灯坏了.Tree down") == ["路灯坏了.Tree down"]
    assert split_sentences("Lamp broken.路灯坏了") == ["Lamp broken.", "路灯坏了"]


def test_split_sentences_has_no_empty_items() -> None:
    assert split_sentences(" \n。 \n") == ["。"]
    assert split_sentences("") == []


def test_cut_at_word_keeps_short_text_and_cuts_between_words() -> None:
    assert cut_at_word("Fallen tree", 20) == "Fallen tree"
    assert cut_at_word("Fallen tree blocks Elm Street and the bus stop", 23) == "Fallen tree blocks Elm"


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("Fallen tree on Elm Street with branches", 30, "Fallen tree on Elm Street"),
    ("Fallen tree on Elm Street, cars cannot pass", 26, "Fallen tree on Elm Street"),
    ("Garbage at the school: bags everywhere", 23, "Garbage at the school"),
    ("Pothole on Main Street or nearby", 24, "Pothole on Main Street"),
])
def test_cut_at_word_never_ends_on_punctuation_or_a_dangling_word(
        text: str, limit: int, expected: str) -> None:
    assert cut_at_word(text, limit) == expected


def test_cut_at_word_in_chinese_prefers_a_punctuation_mark_and_drops_it() -> None:
    text = "人民路与解放路交叉口的大树倒了，挡住了两条车道，请尽快处理"
    assert cut_at_word(text, 20) == "人民路与解放路交叉口的大树倒了"


def test_cut_at_word_in_chinese_without_punctuation_does_not_end_on_a_function_word() -> None:
    cut = cut_at_word("人民路与解放路交叉口的大树倒了挡住了两条车道请尽快处理", 12)
    assert len(cut) <= 12 and cut.startswith("人民路与解放路") and cut[-1] not in "的和与"
    assert cut_at_word("这里存在安全隐患请尽快处理", 4) == "这里存在"


def test_cut_at_word_cuts_a_single_long_word_hard_and_respects_the_limit() -> None:
    assert cut_at_word("Supercalifragilistic", 5) == "Super"
    assert cut_at_word("anything", 0) == ""
    for limit in range(1, 40):
        assert len(cut_at_word("Tree down, on Elm Street; and 树倒了，挡住了路", limit)) <= limit


# ---- personal data -------------------------------------------------------------------------

VALID_ID = "11010519491231002X"


@pytest.mark.parametrize(("text", "found"), [
    ("call +1 555 0199 now", "+1 555 0199"),
    ("call +1 515 555 0199 or later", "+1 515 555 0199"),
    ("(555) 010-9999", "(555) 010-9999"),
    ("my number: 555-0199.", "555-0199"),
    ("515-555-0199", "515-555-0199"),
    ("555 123 4567", "555 123 4567"),
    ("手机13800138000", "13800138000"),
    ("电话 138 0013 8000 谢谢", "138 0013 8000"),
    ("电话138-0013-8000", "138-0013-8000"),
    ("+86 138 0013 8000", "+86 138 0013 8000"),
    ("座机010-12345678", "010-12345678"),
    ("0755-1234567", "0755-1234567"),
    ("(021)12345678", "(021)12345678"),
    ("near 12 Oak Street 0176 5551234 today", "0176 5551234"),
])
def test_phone_numbers_are_found(text: str, found: str) -> None:
    assert [(m.kind, m.text) for m in find_pii(text)] == [("phone", found)]
    start = text.index(found)
    assert find_pii(text)[0].span == (start, start + len(found))


@pytest.mark.parametrize("text", [
    "ticket 2026-00123", "on 2026-05-01", "at 10:30", "12 Mill Street", "since 2026", "5.3.2026",
    "between 2020 and 2026", "CL-2026-00123", "1" * 60, "order 12345", "13:45-14:30",
])
def test_references_dates_times_house_numbers_and_years_are_not_personal_data(text: str) -> None:
    assert find_pii(text) == []
    assert redact_pii(text) == text


def test_chinese_id_card_numbers_are_checked() -> None:
    assert is_id_card(VALID_ID) and is_id_card(VALID_ID.lower())
    assert not is_id_card("110105194912310021")  # wrong check character
    assert not is_id_card("110105194913310028")  # month 13
    assert is_id_card("110105491231002")  # legacy 15 digits
    assert not is_id_card("110105499931002")
    assert [m.kind for m in find_pii(f"身份证号{VALID_ID}，电话13800138000")] == ["id_card", "phone"]
    assert find_pii("110105194912310021") == []


def test_email_wins_over_a_phone_number_inside_it() -> None:
    matches = find_pii("qq: 13800138000@qq.com")
    assert [(m.kind, m.text) for m in matches] == [("email", "13800138000@qq.com")]


def test_an_email_address_inside_chinese_text_ends_where_the_chinese_starts() -> None:
    assert [m.text for m in find_pii("邮箱ana.b@mail.example.com谢谢")] == ["ana.b@mail.example.com"]
    assert find_pii("树" * 20 + "@example") == []


def test_redact_pii_replaces_every_kind_and_keeps_the_rest() -> None:
    text = f"ticket 2026-00123: call 515-555-0199 or ana@mail.example, ID {VALID_ID}, 12 Mill St"
    assert redact_pii(text) == "ticket 2026-00123: call [redacted] or [redacted], ID [redacted], 12 Mill St"
    assert redact_pii(text, "***", by_kind={"email": "[email]"}) == (
        "ticket 2026-00123: call *** or [email], ID ***, 12 Mill St")


def test_redaction_module_keeps_its_placeholders_and_finders() -> None:
    from agents.redaction import find_email, find_phone, redact

    text = f"call +1 515 555 0199 or ana@mail.example, 身份证{VALID_ID}, ticket 2026-00123 of 2026-05-01"
    assert redact(text) == "call [phone] or [email], 身份证[id card], ticket 2026-00123 of 2026-05-01"
    assert find_phone(text) == "+1 515 555 0199" and find_email(text) == "ana@mail.example"
    assert find_phone("ticket 2026-00123 of 2026-05-01") is None and find_email("no mail") is None
    assert find_phone("13800138000@qq.com") is None
