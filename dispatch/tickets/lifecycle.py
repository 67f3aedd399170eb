"""The ticket state machine: which action may move a ticket from which status.

The 12345 workflow maps onto it: 受理 (an event is accepted, the ticket is created),
派单 (routed: "open"), 签收 ("acknowledge"), 办理 ("start"), 办结 ("resolve") and, where the
city's ``workflow.callback`` is on, 回访: the citizen is called back and rates the
handling. 满意 / 基本满意 close the ticket ("callback"); 不满意 reopens it with the rating
as a note (``callback_action``). With the callback step on, a resolved ticket closes only
through the callback; a camera re-check, which has no citizen to ask, still closes it.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["triage", "open", "acknowledged", "in_progress", "resolved", "closed", "rejected"]
Action = Literal["acknowledge", "start", "resolve", "reject", "reassign", "reopen", "close",
                 "callback"]
Rating = Literal["satisfied", "basically_satisfied", "dissatisfied"]
RATINGS: tuple[Rating, ...] = ("satisfied", "basically_satisfied", "dissatisfied")
RATING_NAMES: dict[str, dict[Rating, str]] = {
    "en": {"satisfied": "satisfied", "basically_satisfied": "basically satisfied",
           "dissatisfied": "dissatisfied"},
    "zh": {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"},
}

ACTIVE: tuple[Status, ...] = ("open", "acknowledged", "in_progress")

# action -> (statuses it is allowed from, status it leads to). ``reject`` leads to
# "rejected" until the dispatcher re-routes the ticket; ``reassign`` leads to "open".
TRANSITIONS: dict[Action, tuple[tuple[Status, ...], Status]] = {
    "acknowledge": (("open",), "acknowledged"),
    "start": (("open", "acknowledged"), "in_progress"),
    "resolve": (("acknowledged", "in_progress"), "resolved"),
    "reject": (ACTIVE, "rejected"),
    "reassign": (("triage", "rejected", *ACTIVE), "open"),
    "reopen": (("resolved", "closed"), "open"),
    "close": (("resolved",), "closed"),
    "callback": (("resolved",), "closed"),
}
CALLBACK_ONLY: frozenset[str] = frozenset({"callback"})
"""Actions that exist only where the city's workflow has the callback step."""
REPLACED_BY_CALLBACK: dict[str, tuple[Status, ...]] = {"close": ("resolved",)}
"""(action, statuses) the callback step takes over: no resolved ticket skips the callback."""


class IllegalTransition(Exception):
    def __init__(self, action: str, status: str, *, callback: bool = False) -> None:
        self.action = action
        self.status = status
        self.allowed = allowed_actions(status, callback=callback)
        allowed = ", ".join(self.allowed) or "none"
        super().__init__(
            f"cannot {action} a ticket that is {status!r}; allowed from {status!r}: {allowed}"
        )


def _sources(action: str, *, callback: bool) -> tuple[str, ...]:
    sources: tuple[str, ...] = TRANSITIONS[action][0]  # type: ignore[index]
    if callback:
        return tuple(s for s in sources if s not in REPLACED_BY_CALLBACK.get(action, ()))
    return () if action in CALLBACK_ONLY else sources


def allowed_actions(status: str, *, callback: bool = False) -> list[str]:
    """The actions allowed from ``status``; ``callback``: the city's workflow has 回访."""
    return [action for action in TRANSITIONS if status in _sources(action, callback=callback)]


def next_status(action: Action, status: str, *, callback: bool = False) -> Status:
    if status not in _sources(action, callback=callback):
        raise IllegalTransition(action, status, callback=callback)
    return TRANSITIONS[action][1]


def callback_action(rating: Rating) -> Action:
    """The action a callback rating takes: 不满意 reopens, the others close."""
    return "reopen" if rating == "dissatisfied" else "callback"
