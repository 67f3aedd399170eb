"""The pages' ``explain`` filter: a stored machine-written sentence in the reader's language;
text no message matches is marked English only where the system wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.web.render import templates
from dispatch import i18n
from dispatch.city.config import load_city
from dispatch.i18n import explain

JIANGCHENG = Path(__file__).resolve().parents[3] / "cityloop" / "cities" / "jiangcheng.yaml"
PAGE = "{{ note | explain(machine=machine) }}"


@pytest.fixture(scope="module")
def names() -> i18n.CityNames:
    return i18n.CityNames(load_city(JIANGCHENG), "zh")


def show(note: str, *, lang: str, machine: bool, names: i18n.CityNames | None = None) -> str:
    return templates.env.from_string(PAGE).render(note=note, machine=machine, lang=lang,
                                                  names=names, timezone="Asia/Shanghai")


def test_a_known_sentence_is_chinese_on_a_chinese_page(names: i18n.CityNames) -> None:
    note = explain.DELIVERED(agency="chengguan", channel="inbox")
    assert show(note, lang="zh", machine=True, names=names) == "已送达城市管理综合执法局的工单箱"
    assert show(note, lang="en", machine=True) == note


def test_unknown_system_text_is_marked_english_and_a_persons_note_is_not(
        names: i18n.CityNames) -> None:
    assert show("legacy <note>", lang="zh", machine=True, names=names) == \
        '<span lang="en">legacy &lt;note&gt;</span>'
    assert show("请尽快处理 <b>", lang="zh", machine=False, names=names) == "请尽快处理 &lt;b&gt;"
    assert show("legacy <note>", lang="en", machine=True) == "legacy &lt;note&gt;"


def test_invisible_characters_are_shown_as_on_the_rest_of_the_page(names: i18n.CityNames) -> None:
    shown = show(explain.REASSIGNED() + "\u202e", lang="zh", machine=True, names=names)
    assert "\u202e" not in shown and "U+202E" in shown
