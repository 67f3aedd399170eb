"""``cityloop eval hotline``: recall of the hotline's retrievers and its citations on public FAQs."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cityloop.eval_cli import eval_subparsers
from cityloop.settings import PACKAGE_DIR, Settings

DEFAULT_DATA = PACKAGE_DIR.parent.parent / "shared" / "data" / "faq" / "us_gov_faq_dev.csv"


def add_parsers(sub: Any) -> None:
    """Register ``eval hotline`` on the ``cityloop`` command's subparsers."""
    hotline = eval_subparsers(sub).add_parser(
        "hotline", help="recall@k of full-text, vector and hybrid retrieval; LLM citations")
    hotline.add_argument("--data", default=str(DEFAULT_DATA), help="a Q&A CSV (sourceName, "
                         "sourceUrl, question, answer)")
    hotline.add_argument("--llm-sample", type=int, default=30, metavar="N",
                         help="questions whose citation the LLM chooses (default 30; 0 skips the LLM)")
    hotline.add_argument("--seed", type=int, default=0, help="seed for the LLM sample")
    hotline.set_defaults(handler=cmd_eval_hotline)


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """The configured database, or an embedded one in a temporary folder."""
    if settings.database_url:
        yield settings.sqlalchemy_url
        return
    from cityloop.localservices import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="cityloop-eval-") as tmp, \
            EmbeddedPostgres(Path(tmp) / "pg", database="eval") as pg:
        yield pg.url


@contextlib.contextmanager
def _scratch_session(url: str) -> Iterator[Any]:
    """A session whose knowledge-base tables live in a scratch schema dropped afterwards."""
    from sqlalchemy import create_engine, pool, text
    from sqlalchemy.orm import Session

    from dispatch.kb_models import KbChunk, KbDocument
    from dispatch.models import Base

    schema = f"kb_eval_{os.getpid()}"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'SET search_path TO "{schema}"'))
        Base.metadata.create_all(conn, tables=[KbDocument.__table__, KbChunk.__table__])
        conn.commit()
        try:
            with Session(bind=conn) as session:
                yield session
        finally:
            conn.rollback()
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.commit()
    engine.dispose()


def cmd_eval_hotline(args: argparse.Namespace, settings: Settings) -> int:
    from agents import model_name
    from cityloop.eval_cli import _chat_model
    from cityloop.evaluation import hotline as ev
    from dispatch.kb_embed import MiniLMEmbedder

    if args.llm_sample < 0:
        print("cityloop eval hotline: --llm-sample must be 0 or more", file=sys.stderr)
        return 2
    data = Path(args.data)
    if not data.is_file():
        print(f"cityloop eval hotline: {data}: no such file", file=sys.stderr)
        return 2
    docs, cases = ev.load(data)
    with _database(settings) as url, _scratch_session(url) as session, \
            (_chat_model(settings) if args.llm_sample else contextlib.nullcontext()) as chat:
        report = ev.evaluate(db_session=session, docs=docs, cases=cases, embedder=MiniLMEmbedder(),
                             chat=chat, llm_sample=args.llm_sample, seed=args.seed,
                             progress=lambda line: print(f"  {line}", file=sys.stderr))
    print(f"{data.name}: embeddings all-MiniLM-L6-v2; LLM sample {report.llm_sample}, seed {args.seed}")
    print(ev.format_report(report, model=model_name(chat) if chat is not None else "no LLM"))
    return 0
