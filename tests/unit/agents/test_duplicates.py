import json
from datetime import UTC, datetime, timedelta

import pytest

from agents.duplicates import Candidate, DuplicatePolicy, Sighting, haversine_m, judge
from tests.helpers.fakes import FakeChatModel, connection_error

AT = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
LAT, LON = 41.6250, -93.6550
METRE_LAT = 1 / 111_195  # degrees of latitude per metre


def event(vector: tuple[float, float] | None = (1.0, 0.0), category: str = "fallen_tree",
          north_m: float = 0.0, hours: float = 0.0) -> Sighting:
    return Sighting(text="A tree is lying on the road", category=category,
                    lat=LAT + north_m * METRE_LAT, lon=LON, at=AT + timedelta(hours=hours),
                    embedding=list(vector) if vector is not None else None)


def incident(incident_id: str, vector: tuple[float, float] | None = (1.0, 0.0),
             category: str = "fallen_tree", north_m: float = 0.0) -> Candidate:
    return Candidate(incident_id=incident_id, text="Fallen tree on Elm St", category=category,
                     lat=LAT + north_m * METRE_LAT, lon=LON, at=AT,
                     embedding=list(vector) if vector is not None else None)


def yes_no(answer: str) -> str:
    return json.dumps({"same_problem": answer})


def test_haversine_matches_known_distances() -> None:
    assert haversine_m(LAT, LON, LAT + 1000 * METRE_LAT, LON) == pytest.approx(1000, rel=1e-3)
    assert haversine_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-3)


def test_similar_report_nearby_merges_without_asking_the_llm() -> None:
    chat = FakeChatModel(replies=[])

    verdict = judge(event(north_m=80), [incident("a", (0.8, 0.6))], chat=chat)

    assert (verdict.incident_id, verdict.method) == ("a", "rules")
    assert chat.calls == []


def test_far_away_or_too_late_or_other_category_stays_separate() -> None:
    chat = FakeChatModel(replies=[])
    candidates = [incident("far", north_m=2000), incident("pothole", (0.6, 0.8), category="pothole")]

    nearby = judge(event(), candidates, chat=chat)
    late = judge(event(hours=60), [incident("old")], chat=chat)

    assert (nearby.incident_id, late.incident_id) == (None, None)
    assert [a.decision for a in nearby.assessments] == ["separate", "separate"]
    assert "m apart" in nearby.assessments[0].reason
    assert "h apart" in late.assessments[0].reason
    assert chat.calls == []


def test_the_closest_of_several_clear_matches_wins() -> None:
    verdict = judge(event(), [incident("b", north_m=120), incident("a", north_m=20)], chat=None)

    assert verdict.incident_id == "a"


def test_dissimilar_text_of_the_same_category_stays_separate() -> None:
    verdict = judge(event(north_m=100), [incident("a", (0.0, 1.0))], chat=None)

    assert verdict.incident_id is None
    assert verdict.assessments[0].decision == "separate"


def test_borderline_pair_is_asked_to_the_llm_with_a_yes_no_schema() -> None:
    chat = FakeChatModel(replies=[yes_no("yes")])
    borderline = incident("a", (0.4, 0.9165))  # similarity 0.40, 100 m away

    verdict = judge(event(north_m=100), [borderline], chat=chat)

    assert (verdict.incident_id, verdict.method, verdict.model) == ("a", "llm", "fake-model")
    schema = chat.schema_sent()
    assert schema["properties"]["same_problem"]["enum"] == ["yes", "no"]
    human = str(chat.calls[0]["messages"][1].content)
    assert human.count("<report>") == 2  # both texts are marked untrusted


def test_llm_no_or_llm_down_keeps_the_event_separate() -> None:
    borderline = incident("a", (0.4, 0.9165))

    said_no = judge(event(north_m=100), [borderline], chat=FakeChatModel(replies=[yes_no("no")]))
    down = judge(event(north_m=100), [borderline],
                 chat=FakeChatModel(replies=[connection_error()]))
    no_llm = judge(event(north_m=100), [borderline], chat=None)

    assert (said_no.incident_id, said_no.method) == (None, "llm")
    assert down.incident_id is None and down.llm_error
    assert (no_llm.incident_id, no_llm.method) == (None, "none")


def test_without_vectors_only_the_same_spot_merges() -> None:
    same_spot = judge(event(None, north_m=10), [incident("a", None)], chat=None)
    down_the_street = judge(event(None, north_m=120), [incident("a", None)], chat=None)

    assert same_spot.incident_id == "a"
    assert down_the_street.incident_id is None
    assert down_the_street.assessments[0].decision == "borderline"


def test_llm_questions_are_bounded() -> None:
    chat = FakeChatModel(replies=[yes_no("no"), yes_no("no")])
    candidates = [incident(str(i), (0.4, 0.9165), north_m=100) for i in range(5)]

    verdict = judge(event(), candidates, chat=chat, policy=DuplicatePolicy(max_llm_questions=2))

    assert verdict.incident_id is None
    assert len(chat.calls) == 2
