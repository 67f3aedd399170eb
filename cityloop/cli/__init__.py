"""The ``cityloop`` command: one click group, one module per command group.

``system`` (up, api, worker, beat, migrate, demo), ``city``, ``accounts`` (users, apikeys),
``kb``, ``cameras`` (ingest, cameras), ``models``, ``eval``. Settings are loaded when a
command runs (never for ``--help``); every command but ``up`` fills the URLs left unset
from a running ``cityloop up`` (``cityloop.endpoints``).
"""

from __future__ import annotations

from collections.abc import Sequence

from cityloop.cli import system
from cityloop.cli.accounts import apikeys, users
from cityloop.cli.ask import ask as ask_questions
from cityloop.cli.cameras import cameras, ingest
from cityloop.cli.city import check_config, city
from cityloop.cli.context import SectionedGroup
from cityloop.cli.eval import evaluations
from cityloop.cli.frigate import frigate
from cityloop.cli.history import history
from cityloop.cli.kb import kb
from cityloop.cli.learn import learn
from cityloop.cli.models import models

cityloop = SectionedGroup(
    name="cityloop",
    help="CityLoop: perceive, understand, handle and decide on what happens in a city.\n\n"
         "Settings come from cityloop.yaml (or $CITYLOOP_CONFIG) and the environment (DATABASE_URL, "
         "BROKER_URL, LLM__BASE_URL, ...). Beside a running `cityloop up`, every other command uses "
         "its servers for what is not set.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
cityloop.add_to("Run the system", system.up, system.api, system.worker, system.beat, system.migrate,
                system.demo)
cityloop.add_to("Operate", city, check_config, users, apikeys, kb, cameras, ingest, models, frigate)
cityloop.add_to("Learn", history, learn)
evaluations.add_command(ask_questions)
cityloop.add_to("Evaluate", evaluations)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` (default: the process arguments); return its exit code."""
    try:
        cityloop.main(args=list(argv) if argv is not None else None, prog_name="cityloop")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0
