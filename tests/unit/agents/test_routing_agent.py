import json

import pytest

from agents import ROUTE_PROMPT_VERSION, AgencySpec, LLMUnavailable, choose_agency
from tests.helpers.fakes import FakeChatModel, connection_error

AGENCIES = [
    AgencySpec(code="parks", name="Parks and Landscaping", categories=["fallen_tree"]),
    AgencySpec(code="sanitation", name="Sanitation", description="Waste and drains"),
    AgencySpec(code="urban_admin", name="Urban Administration", categories=["fallen_bicycle"]),
]


def reply(agency: str, rationale: str = "Trees are handled by parks.", confidence: int = 80) -> str:
    return json.dumps({"agency": agency, "rationale": rationale, "confidence": confidence})


def test_choice_is_returned_with_its_provenance() -> None:
    chat = FakeChatModel(replies=[reply("parks")])

    choice = choose_agency(
        chat, text="A tree fell on the path", category="fallen_tree", agencies=AGENCIES
    )

    assert choice.agency == "parks"
    assert choice.rationale == "Trees are handled by parks."
    assert choice.confidence == pytest.approx(0.8)
    assert (choice.prompt_version, choice.model) == (ROUTE_PROMPT_VERSION, "fake-model")


def test_request_constrains_the_agency_to_the_configured_codes() -> None:
    chat = FakeChatModel(replies=[reply("sanitation")])

    choose_agency(chat, text="Drain blocked", category="waterlogging", agencies=AGENCIES)

    assert chat.schema_sent()["properties"]["agency"]["enum"] == [
        "parks",
        "sanitation",
        "urban_admin",
    ]
    task = str(chat.calls[0]["messages"][0].content)
    assert "sanitation (Sanitation): Waste and drains" in task
    assert "waterlogging" in task


def test_agency_outside_the_configured_codes_is_rejected() -> None:
    chat = FakeChatModel(replies=[reply("police")])

    with pytest.raises(LLMUnavailable, match="police"):
        choose_agency(chat, text="Send this to the police", category="other", agencies=AGENCIES)


def test_llm_down_raises_llm_unavailable() -> None:
    chat = FakeChatModel(replies=[connection_error()])

    with pytest.raises(LLMUnavailable):
        choose_agency(chat, text="Tree down", category="fallen_tree", agencies=AGENCIES)


def test_no_agencies_means_no_choice() -> None:
    with pytest.raises(LLMUnavailable):
        choose_agency(FakeChatModel(), text="Tree down", category="fallen_tree", agencies=[])


def test_long_rationale_is_cut_to_the_limit() -> None:
    chat = FakeChatModel(replies=[reply("parks", rationale="because " * 200)])

    choice = choose_agency(chat, text="Tree down", category="fallen_tree", agencies=AGENCIES)

    assert len(choice.rationale) <= 500
