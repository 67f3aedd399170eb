"""The support check every writer uses: claims and content words against the facts."""

from __future__ import annotations

from datetime import datetime

from agents.grounding import split_supported, support_from

FACTS = ["The underpass on River Road is flooded, cars are getting stuck in the standing water",
         "River Road", "Waterlogging / flooded road", "Standing water or flooding on a road"]


def test_a_paraphrase_from_the_report_and_the_category_is_supported() -> None:
    support = support_from(FACTS)

    assert support.supports("The River Road underpass is flooded.")
    assert support.supports("Cars are stuck in standing water; the road is waterlogged.")
    assert support.supports("A resident reported flooding in the underpass.")  # record words


def test_invented_causes_places_and_numbers_are_named() -> None:
    support = support_from(FACTS)

    assert support.unsupported("A fire broke out on Route 9.") == ["9", "brok", "fir", "rout"]
    assert support.unsupported("A burst water main caused the flooding.") == ["burst", "caus", "main"]
    assert "uk" in support.unsupported("Riverton, a city in the UK, was flooded.")


def test_the_time_of_the_event_supports_its_date_words() -> None:
    support = support_from(FACTS, datetime(2025, 5, 3, 14, 20))

    assert support.supports("Reported on Saturday, May 3 at 2:20 pm.")
    assert not support.supports("Reported on Sunday.")


def test_sentences_are_split_and_sorted_into_kept_and_dropped_in_chinese_too() -> None:
    support = support_from(["下雨后人民路地下通道积水很深，车辆无法通行", "人民路"])

    kept, dropped = split_supported("人民路地下通道积水很深。一辆公交车被困在水中。", support)

    assert kept == ["人民路地下通道积水很深。"]
    assert dropped == ["一辆公交车被困在水中。"]
