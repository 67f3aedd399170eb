"""The ticket state machine, pair by pair, against the documented table."""

from __future__ import annotations

from typing import get_args

import pytest

from dispatch.tickets.lifecycle import (
    RATINGS,
    Action,
    IllegalTransition,
    Status,
    allowed_actions,
    callback_action,
    next_status,
)

STATUSES = ("triage", "open", "acknowledged", "in_progress", "resolved", "closed", "rejected")
ACTIONS = ("acknowledge", "start", "resolve", "reject", "reassign", "reopen", "close", "callback")

# The documented lifecycle, written out by hand: (action, from status) -> to status.
LEGAL: dict[tuple[str, str], str] = {
    ("acknowledge", "open"): "acknowledged",
    ("start", "open"): "in_progress",
    ("start", "acknowledged"): "in_progress",
    ("resolve", "acknowledged"): "resolved",
    ("resolve", "in_progress"): "resolved",
    ("reject", "open"): "rejected",
    ("reject", "acknowledged"): "rejected",
    ("reject", "in_progress"): "rejected",
    ("reassign", "triage"): "open",
    ("reassign", "rejected"): "open",
    ("reassign", "open"): "open",
    ("reassign", "acknowledged"): "open",
    ("reassign", "in_progress"): "open",
    ("reopen", "resolved"): "open",
    ("reopen", "closed"): "open",
    ("close", "resolved"): "closed",
}

ALLOWED: dict[str, set[str]] = {
    "triage": {"reassign"},
    "open": {"acknowledge", "start", "reject", "reassign"},
    "acknowledged": {"start", "resolve", "reject", "reassign"},
    "in_progress": {"resolve", "reject", "reassign"},
    "resolved": {"reopen", "close"},
    "closed": {"reopen"},
    "rejected": {"reassign"},
}

PAIRS = [(a, s) for a in ACTIONS for s in STATUSES]


def test_the_table_covers_every_status_and_action() -> None:
    assert set(get_args(Status)) == set(STATUSES)
    assert set(get_args(Action)) == set(ACTIONS)
    for (action, status), target in LEGAL.items():
        assert action in ALLOWED[status]
        assert target in STATUSES


@pytest.mark.parametrize(("action", "status"), [p for p in PAIRS if p in LEGAL])
def test_legal_transition(action: Action, status: str) -> None:
    assert next_status(action, status) == LEGAL[(action, status)]


@pytest.mark.parametrize(("action", "status"), [p for p in PAIRS if p not in LEGAL])
def test_illegal_transition(action: Action, status: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_status(action, status)
    err = info.value
    assert err.action == action
    assert err.status == status
    assert set(err.allowed) == ALLOWED[status]
    message = str(err)
    assert action in message
    assert repr(status) in message
    for allowed in ALLOWED[status]:
        assert allowed in message
    # the message lists only the allowed actions, after "allowed"
    listed = message.split("allowed from")[1].split(":", 1)[1]
    assert {a.strip() for a in listed.split(",")} == ALLOWED[status]


@pytest.mark.parametrize("status", STATUSES)
def test_allowed_actions(status: str) -> None:
    assert set(allowed_actions(status)) == ALLOWED[status]
    assert len(allowed_actions(status)) == len(ALLOWED[status])


def test_unknown_status_allows_nothing() -> None:
    assert allowed_actions("archived") == []
    with pytest.raises(IllegalTransition) as info:
        next_status("close", "archived")
    assert info.value.allowed == []
    assert "none" in str(info.value)


def test_there_are_exactly_the_documented_legal_pairs() -> None:
    legal = set()
    for action, status in PAIRS:
        try:
            next_status(action, status)  # type: ignore[arg-type]
        except IllegalTransition:
            continue
        legal.add((action, status))
    assert legal == set(LEGAL)


# With the 12345 callback step (``workflow: {callback: true}``): a resolved ticket closes only
# through the callback (回访), the rest of the table is the same.
LEGAL_CALLBACK: dict[tuple[str, str], str] = {
    **{pair: target for pair, target in LEGAL.items() if pair != ("close", "resolved")},
    ("callback", "resolved"): "closed",
}
ALLOWED_CALLBACK: dict[str, set[str]] = {
    **ALLOWED, "resolved": {"reopen", "callback"},
}


@pytest.mark.parametrize(("action", "status"), PAIRS)
def test_every_pair_with_the_callback_step(action: Action, status: str) -> None:
    if (action, status) in LEGAL_CALLBACK:
        assert next_status(action, status, callback=True) == LEGAL_CALLBACK[(action, status)]
        return
    with pytest.raises(IllegalTransition) as info:
        next_status(action, status, callback=True)
    assert set(info.value.allowed) == ALLOWED_CALLBACK[status]


@pytest.mark.parametrize("status", STATUSES)
def test_allowed_actions_with_the_callback_step(status: str) -> None:
    assert set(allowed_actions(status, callback=True)) == ALLOWED_CALLBACK[status]


def test_without_the_callback_step_there_is_no_callback() -> None:
    with pytest.raises(IllegalTransition):
        next_status("callback", "resolved")


def test_a_dissatisfied_citizen_reopens_the_others_close() -> None:
    outcomes = {rating: next_status(callback_action(rating), "resolved", callback=True)
                for rating in RATINGS}
    assert outcomes == {"satisfied": "closed", "basically_satisfied": "closed", "dissatisfied": "open"}
