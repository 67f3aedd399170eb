"""The ``cityloop`` command: its help reads as a tree, its exit codes and messages hold."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from cityloop.cli import main
from cityloop.settings import SAMPLE_CITY

Cli = Callable[..., Result]
GROUPS = {
    "city": ["check", "init", "export"],
    "users": ["add", "list", "deactivate", "unlock"],
    "apikeys": ["add", "revoke", "list"],
    "kb": ["add"],
    "cameras": ["run", "list"],
    "models": ["list", "pull"],
    "eval": ["routing", "classify", "hotline", "writeup", "detect", "classify-heldout", "manipulation",
             "ask"],
    "history": ["import", "list"],
    "learn": ["train", "status"],
    "frigate": ["run"],
}


def listed(help_text: str) -> list[str]:
    """The command names of a help page's command sections, in order."""
    names, in_section = [], False
    for line in help_text.splitlines():
        if line and not line.startswith(" "):
            in_section = line.endswith(":") and not line.startswith(("Usage", "Options"))
        elif in_section and line.startswith("  ") and not line.startswith("   "):
            names.append(line.split()[0])
    return names


def test_the_help_lists_every_command_under_a_heading_with_one_line_each(cli: Cli) -> None:
    top = cli("--help")
    assert top.exit_code == 0
    headings = [line for line in top.output.splitlines()
                if line.endswith(":") and not line.startswith(("Usage", "Options"))]
    assert headings == ["Run the system:", "Operate:", "Learn:", "Evaluate:"]
    assert listed(top.output) == ["up", "api", "worker", "beat", "migrate", "demo", "city", "users",
                                  "apikeys", "kb", "cameras", "ingest", "models", "frigate", "history",
                                  "learn", "eval"]
    assert "check-config" not in top.output  # the older name still works, unlisted
    for group, commands in GROUPS.items():
        page = cli(group, "--help")
        assert page.exit_code == 0, page.output
        assert listed(page.output) == commands
        rows = [line for line in page.output.splitlines() if line.startswith("  ") and
                line.split()[0] in commands]
        assert all(not row.endswith("...") for row in rows), rows  # never cut off mid-sentence


def test_city_check_and_its_older_name_validate_the_city_file(cli: Cli, tmp_path: Path) -> None:
    for command in (["city", "check"], ["check-config"]):
        done = cli(*command, str(SAMPLE_CITY))
        assert done.exit_code == 0, done.output
        assert "OK — Riverton" in done.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("city:\n  name: X\nagencies: [\n", encoding="utf-8")
    done = cli("city", "check", str(broken))
    assert done.exit_code == 2 and "invalid YAML" in done.stderr


def test_a_command_without_a_database_says_what_to_set(cli: Cli, tmp_path: Path) -> None:
    done = cli("kb", "add", str(tmp_path))
    assert done.exit_code == 2
    assert done.stderr.startswith("cityloop kb add: DATABASE_URL and BROKER_URL must be set")
    assert "cityloop up" in done.stderr


def test_a_bad_setting_names_its_field(cli: Cli) -> None:
    done = cli("migrate", LLM__TIMEOUT_S="-1")
    assert done.exit_code == 2
    assert done.stderr.startswith("settings: llm.timeout_s:")


@pytest.mark.usefixtures("cli")  # for its clean environment
def test_main_returns_the_exit_code() -> None:
    assert main(["city", "check", str(SAMPLE_CITY)]) == 0
    assert main(["no-such-command"]) == 2
    assert main(["--help"]) == 0


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run([sys.executable, "-m", "cityloop", "eval", "--help"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: cityloop eval")
