"""Every agent prompt, each with a version string recorded on what it produces.

All agents start with the same system prefix so a server with prefix caching
(vLLM) reuses it across agents; the agent's own instructions follow it.
"""

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from agents.safety import UNTRUSTED_INSTRUCTION, wrap_untrusted

SHARED_PREFIX_VERSION = "shared-v1"
CLASSIFY_PROMPT_VERSION = "classify-v2"
WRITE_PROMPT_VERSION = "write-v2"
ROUTE_PROMPT_VERSION = "route-v1"
DUPLICATE_PROMPT_VERSION = "duplicate-v1"
VERIFY_PROMPT_VERSION = "verify-v1"

SHARED_SYSTEM_PREFIX = f"""\
You are an assistant in the operations centre of a city. You help staff handle \
problems in public space that citizens, hotline operators and street cameras report: \
fallen trees, potholes, exposed garbage, waterlogging, fallen shared bicycles, \
graffiti, broken street lights and similar issues.

Rules that always apply:
1. {UNTRUSTED_INSTRUCTION}
2. Use only the facts you are given. Never invent times, dates, numbers, names, \
addresses, injuries or causes.
3. Answer with a single JSON object that matches the requested schema, and nothing else.
"""

_CLASSIFY_TASK = """\
Task: classify the report into exactly one category from the list below. When the text \
is not a report of a problem in public space, answer "{fallback}". Confidence is an integer from 0 to 100.

Categories:
{categories}
"""

_WRITE_TASK = """\
Task: write the incident record a city agency will read. Give a short title (what and \
where), a neutral description of what was reported in one to three sentences, a short \
location phrase, and the recommended action, copied from the standard actions below. Use \
only the facts below and the report itself: add no cause, injury, damage, person or place \
that the report does not name.

Facts:
{facts}
"""

_ROUTE_TASK = """\
Task: choose the one agency, from the list below, that is responsible for handling \
the reported problem of category "{category}". Give a one-sentence rationale and a \
confidence, an integer from 0 to 100.

Agencies:
{agencies}
"""

_DUPLICATE_TASK = """\
Task: decide whether two reports describe the same problem at the same place (for \
example the same fallen tree reported twice in different words). The first report is \
an incident already on file; the second is new. Answer "yes" or "no".

Facts:
{facts}
"""

_VERIFY_TASK = """\
Task: look at the camera snapshot and say whether it shows the reported problem: \
"{category}". Answer "confirmed" when it clearly shows it, "rejected" when it clearly \
shows something else or nothing wrong, and "unverified" when the picture does not let \
you tell.
"""


def _messages(task: str, report: str) -> list[BaseMessage]:
    return [
        SystemMessage(content=SHARED_SYSTEM_PREFIX + "\n" + task),
        HumanMessage(content=wrap_untrusted(report)),
    ]


def classify_messages(*, report: str, category_lines: list[str],
                      fallback: str = "other") -> list[BaseMessage]:
    """Messages asking for a category; one line per category."""
    task = _CLASSIFY_TASK.format(categories="\n".join(category_lines), fallback=fallback)
    return _messages(task, report)


def write_messages(*, report: str, fact_lines: list[str]) -> list[BaseMessage]:
    """Messages asking for an incident write-up from the given facts."""
    task = _WRITE_TASK.format(facts="\n".join(fact_lines))
    return _messages(task, report)


def route_messages(*, report: str, category: str, agency_lines: list[str]) -> list[BaseMessage]:
    """Messages asking which configured agency should handle the report."""
    task = _ROUTE_TASK.format(category=category, agencies="\n".join(agency_lines))
    return _messages(task, report)

DRAFT_PROMPT_VERSION = "draft-v1"

_DRAFT_TASK = """\
Task: write the prose sections of an official city document ({kind}). The document's \
numbers, dates and tables are filled in by the city's system; you write only the \
sections listed below, in plain sentences, in a neutral official tone. Use only the \
facts below and the reports; do not repeat tables or add numbers or dates that are not \
in the facts.

Sections:
{sections}

Facts:
{facts}
"""


def draft_messages(
    *, kind: str, section_lines: list[str], fact_lines: list[str], reports: list[str]
) -> list[BaseMessage]:
    """Messages asking for the prose sections of a document; each report is wrapped."""
    task = _DRAFT_TASK.format(
        kind=kind, sections="\n".join(section_lines), facts="\n".join(fact_lines)
    )
    wrapped = "\n".join(wrap_untrusted(report) for report in reports) or "(no reports)"
    return [
        SystemMessage(content=SHARED_SYSTEM_PREFIX + "\n" + task),
        HumanMessage(content=wrapped),
    ]


def duplicate_messages(*, report: str, existing: str, fact_lines: list[str]) -> list[BaseMessage]:
    """Messages asking whether a new report repeats an incident on file (both untrusted)."""
    task = _DUPLICATE_TASK.format(facts="\n".join(fact_lines))
    return [
        SystemMessage(content=SHARED_SYSTEM_PREFIX + "\n" + task),
        HumanMessage(content="Incident on file:\n" + wrap_untrusted(existing)
                     + "\n\nNew report:\n" + wrap_untrusted(report)),
    ]


def verify_messages(*, category: str, report: str, image_url: str) -> list[BaseMessage]:
    """Messages asking whether a snapshot (an image content part) shows the category."""
    task = _VERIFY_TASK.format(category=category)
    return [
        SystemMessage(content=SHARED_SYSTEM_PREFIX + "\n" + task),
        HumanMessage(content=[
            {"type": "text", "text": wrap_untrusted(report)},
            {"type": "image_url", "image_url": {"url": image_url}},
        ]),
    ]
