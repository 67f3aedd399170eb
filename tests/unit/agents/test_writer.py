import json
from datetime import datetime

import pytest

from agents import (
    WRITE_PROMPT_VERSION,
    EventFacts,
    LLMUnavailable,
    fallback_writeup,
    write_incident,
)
from tests.unit.agents.fakes import FakeChatModel, connection_error

FACTS = EventFacts(
    description="  A big tree fell across the road\n and blocks both lanes.  ",
    source="hotline",
    category="fallen_tree",
    category_name="Fallen tree",
    occurred_at=datetime(2025, 5, 3, 14, 20),
    address="5th Ave & Main St",
    district="Downtown",
    lat=40.71234,
    lon=-74.00601,
)


def draft(**overrides: str) -> str:
    fields = {
        "title": "Fallen tree blocks 5th Ave",
        "description": "A tree fell across the road. Both lanes are blocked.",
        "location_phrase": "5th Ave & Main St",
        "recommended_action": "Send a crew with a chainsaw.",
    }
    return json.dumps({**fields, **overrides})


def test_llm_writeup_is_kept_when_grounded() -> None:
    chat = FakeChatModel(replies=[draft()])

    writeup = write_incident(chat, facts=FACTS)

    assert writeup.title == "Fallen tree blocks 5th Ave"
    assert writeup.description == "A tree fell across the road. Both lanes are blocked."
    assert (writeup.method, writeup.prompt_version, writeup.model) == (
        "llm",
        WRITE_PROMPT_VERSION,
        "fake-model",
    )
    assert writeup.dropped_claims == []
    assert len(chat.calls) == 1
    assert set(chat.schema_sent()["required"]) == {
        "title",
        "description",
        "location_phrase",
        "recommended_action",
    }


def test_grounding_drops_a_sentence_with_an_invented_time() -> None:
    invented = "The tree fell at 3:15 pm."
    chat = FakeChatModel(
        replies=[draft(description=f"A tree blocks the road. {invented} Both lanes are closed.")]
    )

    writeup = write_incident(chat, facts=FACTS)

    assert writeup.description == "A tree blocks the road. Both lanes are closed."
    assert writeup.dropped_claims == [invented]


def test_grounding_keeps_a_time_that_is_in_the_facts() -> None:
    chat = FakeChatModel(replies=[draft(description="Reported at 2:20 pm on Saturday, May 3.")])

    writeup = write_incident(chat, facts=FACTS)

    assert writeup.description == "Reported at 2:20 pm on Saturday, May 3."
    assert writeup.dropped_claims == []


def test_title_with_an_invented_number_is_replaced_by_the_fallback_title() -> None:
    chat = FakeChatModel(replies=[draft(title="3 trees down on 9th Street")])

    writeup = write_incident(chat, facts=FACTS)

    assert writeup.title == "Fallen tree at 5th Ave & Main St"
    assert "3 trees down on 9th Street" in writeup.dropped_claims


def test_empty_title_and_fully_invented_description_use_the_fallback_text() -> None:
    chat = FakeChatModel(replies=[draft(title="  ", description="It fell on 12 June 2019.")])

    writeup = write_incident(chat, facts=FACTS)

    assert writeup.title == "Fallen tree at 5th Ave & Main St"
    assert writeup.description == "A big tree fell across the road and blocks both lanes."


def test_llm_down_raises_llm_unavailable() -> None:
    chat = FakeChatModel(replies=[connection_error()])

    with pytest.raises(LLMUnavailable):
        write_incident(chat, facts=FACTS)


def test_llm_output_missing_fields_raises_llm_unavailable() -> None:
    chat = FakeChatModel(replies=[json.dumps({"title": "Tree"})])

    with pytest.raises(LLMUnavailable):
        write_incident(chat, facts=FACTS)


def test_fallback_writeup_uses_the_category_and_address() -> None:
    writeup = fallback_writeup(FACTS)

    assert writeup.title == "Fallen tree at 5th Ave & Main St"
    assert writeup.description == "A big tree fell across the road and blocks both lanes."
    assert writeup.location_phrase == "5th Ave & Main St, Downtown"
    assert (writeup.method, writeup.prompt_version, writeup.model) == ("fallback", None, None)


def test_fallback_writeup_without_address_uses_district_then_coordinates() -> None:
    in_district = FACTS.model_copy(update={"address": None})
    at_point = FACTS.model_copy(update={"address": None, "district": None})
    nowhere = FACTS.model_copy(update={"address": None, "district": None, "lat": None, "lon": None})

    assert fallback_writeup(in_district).title == "Fallen tree in Downtown"
    assert fallback_writeup(at_point).title == "Fallen tree near 40.71234, -74.00601"
    assert fallback_writeup(nowhere).title == "Fallen tree"


def test_fallback_writeup_limits_long_text() -> None:
    long_facts = FACTS.model_copy(update={"description": "word " * 1000, "address": "x" * 500})

    writeup = fallback_writeup(long_facts)

    assert len(writeup.title) <= 120
    assert len(writeup.description) <= 2000
    assert len(writeup.location_phrase) <= 200
