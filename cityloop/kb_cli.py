"""``cityloop kb add PATH...``: put pages, PDFs and Q&A files into the hotline's knowledge base."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cityloop.settings import PACKAGE_DIR, Settings

SAMPLE_KB = PACKAGE_DIR / "kb" / "riverton"


def add_parsers(sub: Any) -> None:
    """Register ``kb add`` on the ``cityloop`` command's subparsers."""
    kb = sub.add_parser("kb", help="the hotline's knowledge base")
    actions = kb.add_subparsers(dest="kb_command", required=True)
    add = actions.add_parser(
        "add", help="add Markdown, HTML, PDF or Q&A CSV files (folders are searched recursively)")
    add.add_argument("paths", nargs="+", metavar="PATH",
                     help=f"files or folders; the sample city's pages are in {SAMPLE_KB}")
    add.set_defaults(handler=cmd_kb_add)


def expand(paths: list[str]) -> list[Path]:
    """Files named, and the supported files under folders named, in a stable order."""
    from dispatch.kb_parse import KINDS

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


def cmd_kb_add(args: argparse.Namespace, settings: Settings) -> int:
    from cityloop.compose import dispatch_config
    from dispatch.db import make_engine, make_session_factory, transaction
    from dispatch.errors import InvalidField
    from dispatch.kb import add_documents
    from dispatch.kb_embed import MiniLMEmbedder
    from dispatch.kb_parse import parse_path

    try:
        files = expand(args.paths)
        documents = [doc for path in files for doc in parse_path(path)]
    except (FileNotFoundError, InvalidField) as exc:
        print(f"cityloop kb add: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(dispatch_config(settings).database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            docs, chunks = add_documents(db_session=db, documents=documents,
                                         embedder=MiniLMEmbedder())
    finally:
        engine.dispose()
    print(f"added {docs} documents ({chunks} chunks) from {len(files)} files")
    return 0
