"""``cityloop eval classifier``: each classifier stage alone and combined, on labelled texts."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from cityloop.eval_cli import eval_chat_model, eval_subparsers
from cityloop.settings import SAMPLE_CITY, Settings


def add_parsers(sub: Any) -> None:
    """Register ``eval classifier`` on the ``cityloop`` command's subparsers."""
    from cityloop.evaluation.classifier import DATA_FILE

    parser = eval_subparsers(sub).add_parser(
        "classifier", help="accuracy of keywords, embeddings, the LLM, and all combined")
    parser.add_argument("--city", type=Path, default=SAMPLE_CITY, help="city YAML file")
    parser.add_argument("--data", type=Path, default=DATA_FILE,
                        help="labelled CSV with the columns text,category")
    parser.add_argument("--no-llm", action="store_true", help="leave the LLM out")
    parser.add_argument("--no-embeddings", action="store_true", help="leave embeddings out")
    parser.set_defaults(handler=cmd_eval_classifier)


def cmd_eval_classifier(args: argparse.Namespace, settings: Settings) -> int:
    from agents.embeddings import SentenceTransformerEmbedder, embeddings_available
    from cityloop.evaluation import classifier as ev
    from dispatch.cityconfig import CityConfigError, load_city
    from dispatch.flows import category_specs

    try:
        city = load_city(args.city)
        rows = ev.load_labelled(args.data, city)
    except (CityConfigError, ev.EvaluationError) as exc:
        print(exc, file=sys.stderr)
        return 2
    embedder = None
    if not args.no_embeddings:
        if not embeddings_available():
            print("embeddings left out: install the 'ml' extra", file=sys.stderr)
        else:
            embedder = SentenceTransformerEmbedder()

    def progress(done: int) -> None:
        if done % 20 == 0:
            print(f"  {done}/{len(rows)} rows ...", file=sys.stderr)

    with eval_chat_model(settings) if not args.no_llm else contextlib.nullcontext() as chat:
        report = ev.evaluate(rows, categories=category_specs(city), fallback=city.fallback_category,
                             embedder=embedder, chat=chat, progress=progress)
    print(f"{city.city.name}: {args.data} ({len(rows)} labelled texts)")
    print(ev.format_report(report))
    return 0
