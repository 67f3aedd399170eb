"""The city file's delivery, escalation and re-check settings: the sample loads them, and
each mistake is named by its path in the file and the limit it broke."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from dispatch.city.config import CityConfigError, parse_city
from dispatch.city.handling import Escalation, EscalationLevel, RetryPolicy, raised
from dispatch.delivery.registry import channels_of, escalation_channel, escalation_level
from tests.helpers.config import SAMPLE_CITY


@pytest.fixture(scope="module")
def sample_data() -> dict[str, Any]:
    return yaml.safe_load(SAMPLE_CITY.read_text(encoding="utf-8"))


@pytest.fixture()
def data(sample_data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(sample_data)


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(CityConfigError) as info:
        parse_city(data, source="broken.yaml")
    for problem in info.value.problems:
        assert problem in str(info.value)
    return info.value.problems


def _has(problems: list[str], path: str, *words: str) -> bool:
    return any(p.startswith(f"{path}:") and all(w in p for w in words) for p in problems)


def test_sample_city_has_escalation_and_rechecks_and_no_outside_channels(
        data: dict[str, Any]) -> None:
    city = parse_city(data)
    assert city.escalation is not None and city.rechecks is not None
    assert [lv.after_hours for lv in city.escalation.levels_for("high")] == [0, 24, 72]
    assert [lv.after_hours for lv in city.escalation.levels_for("critical")] == [0, 2, 8]
    assert city.rechecks.delay_minutes == 30
    assert all(channels_of(city, a) == [] for a in city.agencies)


def test_levels_out_of_order_are_named(data: dict[str, Any]) -> None:
    data["escalation"] = {"levels": [{"after_hours": 4}, {"after_hours": 4}],
                          "by_priority": {"high": [{"after_hours": 2}, {"after_hours": 1}]}}
    problems = _problems(data)
    assert _has(problems, "escalation.levels[1].after_hours", "greater than", "4")
    assert _has(problems, "escalation.by_priority.high[1].after_hours", "greater than", "2")


def test_bad_escalation_values_are_named(data: dict[str, Any]) -> None:
    data["escalation"] = {"levels": [{"after_hours": -1}, {"after_hours": 2, "notify": True}],
                          "by_priority": {"urgent": []}}
    problems = _problems(data)
    assert _has(problems, "escalation.levels[0].after_hours", "greater than or equal to 0")
    assert _has(problems, "escalation.levels[1].notify", "Extra inputs")
    assert _has(problems, "escalation.by_priority.urgent.[key]", "'low'", "'critical'")


def test_too_many_levels(data: dict[str, Any]) -> None:
    data["escalation"] = {"levels": [{"after_hours": i} for i in range(11)]}
    assert _has(_problems(data), "escalation.levels", "at most 10")


def test_email_without_smtp_settings(data: dict[str, Any]) -> None:
    data["agencies"][2]["email"] = "desk@sanitation.example"
    assert _has(_problems(data), "agencies[2].email", "SMTP")
    data["smtp"] = {"host": "mail.example", "port": 587, "sender": "loop@riverton.example"}
    city = parse_city(data)
    assert channels_of(city, city.agencies[2]) == ["email"]


def test_open311_and_delivery_settings_are_checked(data: dict[str, Any]) -> None:
    data["agencies"][0]["open311"] = {"url": "ftp://x", "api_key_env": "lower",
                                      "service_codes": {"no_such": "X"}}
    data["agencies"][1]["delivery"] = {"max_tries": 0, "backoff_s": 0}
    data["smtp"] = {"port": 70000, "password_env": "not an env"}
    problems = _problems(data)
    assert _has(problems, "agencies[0].open311.url", "pattern")
    assert _has(problems, "agencies[0].open311.api_key_env", "pattern")
    assert _has(problems, "agencies[1].delivery.max_tries", "greater than or equal to 1")
    assert _has(problems, "agencies[1].delivery.backoff_s", "greater than 0")
    assert _has(problems, "smtp.port", "65535")
    assert _has(problems, "smtp.password_env", "pattern")


def test_open311_service_code_for_an_unknown_category(data: dict[str, Any]) -> None:
    data["agencies"][0]["open311"] = {"url": "https://311.example/requests.json",
                                      "api_key_env": "KEY", "service_codes": {"no_such": "X"}}
    assert _has(_problems(data), "agencies[0].open311.service_codes.no_such", "unknown category")


def test_rechecks_limits(data: dict[str, Any]) -> None:
    data["rechecks"] = {"delay_minutes": 0}
    assert _has(_problems(data), "rechecks.delay_minutes", "greater than 0")


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(max_tries=6, backoff_s=2, backoff_max_s=10)
    assert [policy.wait_after(n) for n in range(1, 6)] == [2, 4, 8, 10, 10]


def test_priority_goes_up_one_step_and_stops_at_critical() -> None:
    assert [raised(p) for p in ("low", "medium", "high", "critical")] == [
        "medium", "high", "critical", "critical"]


def test_a_priority_without_its_own_levels_uses_the_default() -> None:
    escalation = Escalation(levels=[EscalationLevel(after_hours=1)],
                            by_priority={"critical": [EscalationLevel(after_hours=0)]})
    assert escalation.levels_for("low")[0].after_hours == 1
    assert escalation.levels_for("critical")[0].after_hours == 0


def test_escalation_channel_names_round_trip() -> None:
    assert escalation_level(escalation_channel(3)) == 3
    assert escalation_level("email") is None
    assert escalation_level("escalation-x") is None
