"""``cityloop kb add PATH...``: put pages, PDFs and Q&A files into the hotline's knowledge base."""

from __future__ import annotations

from pathlib import Path

import click

from cityloop.cli.context import CommandFailed, OrderedGroup, unit_of_work, with_settings
from cityloop.settings import PACKAGE_DIR, Settings

SAMPLE_KB = PACKAGE_DIR / "kb" / "riverton"


def expand(paths: list[str]) -> list[Path]:
    """Files named, and the supported files under folders named, in a stable order."""
    from dispatch.hotline.parse import KINDS

    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in KINDS))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


@click.group(cls=OrderedGroup)
def kb() -> None:
    """The hotline's knowledge base."""


@kb.command("add")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@with_settings
def add(settings: Settings, paths: tuple[str, ...]) -> int:
    """Add Markdown, HTML, PDF or Q&A CSV files (folders recursively).

    Folders are searched recursively; the sample city's pages are in cityloop/kb/riverton/.
    """
    from agents.embeddings import shared_embedder
    from dispatch.core.errors import InvalidField
    from dispatch.hotline.kb import add_documents
    from dispatch.hotline.parse import parse_path

    try:
        files = expand(list(paths))
        documents = [doc for path in files for doc in parse_path(path)]
    except (FileNotFoundError, InvalidField) as exc:
        raise CommandFailed(str(exc)) from None
    with unit_of_work(settings) as db:
        docs, chunks = add_documents(db_session=db, documents=documents, embedder=shared_embedder())
    click.echo(f"added {docs} documents ({chunks} chunks) from {len(files)} files")
    return 0
