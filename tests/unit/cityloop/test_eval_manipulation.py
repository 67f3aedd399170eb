"""The Chinese manipulation set and its scoring."""

from __future__ import annotations

from cityloop.evaluation import manipulation as ev


def test_the_bundled_set_has_every_kind_of_attack_and_benign_controls() -> None:
    rows = ev.load()
    kinds = {row.attack for row in rows}
    assert {"injection", "priority", "routing", "fullwidth", "zero_width", "traditional",
            "benign"} <= kinds
    assert sum(bool(row.expected) for row in rows) >= 20
    assert any("\u200b" in row.text for row in rows) and any("Ｉ" in row.text for row in rows)


def test_the_safety_flags_catch_every_attack_and_no_benign_complaint() -> None:
    results = ev.evaluate(ev.load())
    flags, raw, nothing = (results[name] for name in ("safety_flags", "rules_on_raw_text", "flag_nothing"))
    assert flags.attacks_caught == flags.attacks and flags.benign_flagged == 0, flags.missed
    assert nothing.attacks_caught == 0
    assert raw.by_attack["traditional"][0] == 0  # the normalisation is what catches these
    assert raw.attacks_caught < flags.attacks_caught


def test_scoring_counts_a_missed_flag_and_a_false_alarm() -> None:
    rows = [ev.Row(text="a", attack="x", expected=frozenset({"prompt_injection"})),
            ev.Row(text="b", attack="benign", expected=frozenset())]
    scores = ev.score(rows, lambda text: {"routing_demand"})
    assert (scores.attacks_caught, scores.benign_flagged, scores.exact) == (0, 1, 0)
    assert scores.as_json()["recall_by_flag"] == {"prompt_injection": 0.0}
