"""``cityloop models list`` and ``cityloop models pull NAME``: detector and CLIP weights."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cityloop.cli.context import CommandFailed, OrderedGroup

MODELS_DIR_ENV = "CITYLOOP_MODELS_DIR"
_DIR_HELP = f"Models directory (default ${MODELS_DIR_ENV} or ~/.cache/cityloop/models)."


def models_dir(override: Path | None = None) -> Path:
    """Where the weights live: ``override``, ``$CITYLOOP_MODELS_DIR`` or ``~/.cache/cityloop/models``."""
    from perception.weights import DEFAULT_MODELS_DIR

    return (override or Path(os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR)).expanduser()


_DIR = click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), help=_DIR_HELP)


@click.group(cls=OrderedGroup)
def models() -> None:
    """Detector and CLIP weights."""


@models.command("list")
@_DIR
def list_models(folder: Path | None) -> None:
    """Each known model and whether its files are present."""
    from perception.weights import REGISTRY, missing_files

    root = models_dir(folder)
    click.echo(f"models directory: {root}")
    width = max(len(name) for name in REGISTRY)
    for name, entry in REGISTRY.items():
        missing = missing_files(name, root)
        state = ("present" if not missing else
                 f"missing {missing[0]}" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""))
        click.echo(f"  {name:<{width}}  {entry.backend:<16} {state}")


@models.command("pull")
@click.argument("name")
@_DIR
def pull(name: str, folder: Path | None) -> None:
    """Download a model's files from the Hugging Face hub.

    NAME is one of `cityloop models list`.
    """
    from perception.weights import PullFailed
    from perception.weights import pull as download

    root = models_dir(folder)
    try:
        files = download(name, root)
    except (PullFailed, ValueError) as exc:
        raise CommandFailed(str(exc), 1) from None
    click.echo(f"{name}: {len(files)} files in {root / name}")
