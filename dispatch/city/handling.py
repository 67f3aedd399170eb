"""City-file settings of the "handle and decide" stage: delivery channels, retries,
SLA escalation and camera re-checks. ``dispatch.city.config`` composes them.

Secrets never live in the city file: SMTP passwords, webhook secrets and Open311 API keys
are named by an environment variable (``*_env``) read when a channel is built.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Priority = Literal["low", "medium", "high", "critical"]
PRIORITY_ORDER: tuple[Priority, ...] = ("low", "medium", "high", "critical")
ENV_RE = r"^[A-Z_][A-Z0-9_]{0,100}$"
EMAIL_RE = r"^[^@\s]+@[^@\s]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpSettings(_Strict):
    """An SMTP server; the password is read from ``password_env`` when one is named."""

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(default="cityloop@localhost", pattern=EMAIL_RE)
    username: str = ""
    password_env: str | None = Field(default=None, pattern=ENV_RE)
    starttls: bool = False
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class Open311Target(_Strict):
    """The agency's own GeoReport v2 server: tickets are forwarded as POST requests.json."""

    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)
    api_key_env: str = Field(pattern=ENV_RE)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # our category code -> their service code; unmapped categories use ours
    service_codes: dict[str, str] = Field(default_factory=dict)


class RetryPolicy(_Strict):
    """Tries of one channel delivery: the wait doubles from ``backoff_s`` up to the cap."""

    max_tries: int = Field(default=5, ge=1, le=50)
    backoff_s: float = Field(default=30.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=3600.0, gt=0, le=86400)

    def wait_after(self, attempts: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** max(0, attempts - 1)))


class EscalationLevel(_Strict):
    """``after_hours`` past the SLA breach: notify the supervisor(s), raise the priority."""

    after_hours: float = Field(ge=0, le=24 * 365)
    raise_priority: bool = True
    notify_supervisors: bool = True


class Escalation(_Strict):
    """``levels`` apply to every priority unless ``by_priority`` has its own list."""

    levels: list[EscalationLevel] = Field(default_factory=list, max_length=10)
    by_priority: dict[Priority, list[EscalationLevel]] = Field(default_factory=dict)

    def levels_for(self, priority: str) -> list[EscalationLevel]:
        own = [levels for key, levels in self.by_priority.items() if key == priority]
        return own[0] if own else self.levels


class Rechecks(_Strict):
    """Look at a camera zone again some time after its ticket was resolved."""

    delay_minutes: float = Field(default=30.0, gt=0, le=7 * 24 * 60)
    close_when_cleared: bool = False


def raised(priority: str) -> str:
    """One step up; critical stays critical."""
    order: tuple[str, ...] = PRIORITY_ORDER
    index = order.index(priority) if priority in order else 0
    return order[min(index + 1, len(order) - 1)]


def check_escalation(escalation: Escalation | None) -> list[str]:
    """Levels must come in order of strictly growing ``after_hours``."""
    if escalation is None:
        return []
    problems = []
    lists = [("escalation.levels", escalation.levels)] + [
        (f"escalation.by_priority.{p}", levels) for p, levels in escalation.by_priority.items()]
    for where, levels in lists:
        if len(levels) > 10:
            problems.append(f"{where}: at most 10 levels, got {len(levels)}")
        for i in range(1, len(levels)):
            before, now = levels[i - 1].after_hours, levels[i].after_hours
            if now <= before:
                problems.append(f"{where}[{i}].after_hours: must be greater than the previous "
                                f"level's {before:g} (got {now:g})")
    return problems
