"""The ticket state machine: which action may move a ticket from which status."""

from __future__ import annotations

from typing import Literal

Status = Literal["triage", "open", "acknowledged", "in_progress", "resolved", "closed", "rejected"]
Action = Literal["acknowledge", "start", "resolve", "reject", "reassign", "reopen", "close"]

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
}


class IllegalTransition(Exception):
    def __init__(self, action: str, status: str) -> None:
        self.action = action
        self.status = status
        self.allowed = allowed_actions(status)
        allowed = ", ".join(self.allowed) or "none"
        super().__init__(
            f"cannot {action} a ticket that is {status!r}; allowed from {status!r}: {allowed}"
        )


def allowed_actions(status: str) -> list[str]:
    return [action for action, (sources, _) in TRANSITIONS.items() if status in sources]


def next_status(action: Action, status: str) -> Status:
    sources, target = TRANSITIONS[action]
    if status not in sources:
        raise IllegalTransition(action, status)
    return target
