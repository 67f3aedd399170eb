"""``cityloop eval classify``: the classifier on real NYC and SF 311 requests, per category."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from cityloop.eval_cli import BUNDLED, eval_chat_model, eval_subparsers
from cityloop.settings import Settings


def add_parsers(sub: Any) -> None:
    """Register ``eval classify`` on the ``cityloop`` command's subparsers."""
    parser = eval_subparsers(sub).add_parser(
        "classify", help="category accuracy on real 311 requests: keywords, embeddings, "
                         "the LLM, and all combined")
    parser.add_argument("--city", default="nyc", choices=sorted(BUNDLED),
                        help="which bundled city and its 311 extract (default nyc)")
    parser.add_argument("--data", type=Path, help="a 311 CSV extract (default: the city's)")
    parser.add_argument("--llm-sample", type=int, default=40, metavar="N",
                        help="random rows scored with the LLM alone and combined (default 40)")
    parser.add_argument("--no-llm", action="store_true", help="score the rules only")
    parser.add_argument("--no-embeddings", action="store_true", help="leave embeddings out")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="score only the first N rows with a descriptor")
    parser.add_argument("--seed", type=int, default=0, help="seed for the LLM sample")
    parser.set_defaults(handler=cmd_eval_classify)


def cmd_eval_classify(args: argparse.Namespace, settings: Settings) -> int:
    from agents.embeddings import SentenceTransformerEmbedder, embeddings_available
    from cityloop.evaluation import classify311 as ev
    from dispatch.cityconfig import CityConfigError, load_city
    from dispatch.flows import category_specs

    if args.llm_sample < 0 or (args.limit is not None and args.limit < 1):
        print("cityloop eval classify: --llm-sample must be 0 or more, --limit 1 or more",
              file=sys.stderr)
        return 2
    city_file, default_data = BUNDLED[args.city]
    data = args.data or default_data
    try:
        city = load_city(city_file)
        categories = category_specs(city)
        loaded = ev.load_requests(data, categories, city.fallback_category, limit=args.limit)
    except (CityConfigError, ev.EvaluationError) as exc:
        print(exc, file=sys.stderr)
        return 2
    embedder = None
    if not args.no_embeddings:
        if embeddings_available():
            embedder = SentenceTransformerEmbedder()
        else:
            print("embeddings left out: install the 'ml' extra", file=sys.stderr)
    use_llm = not args.no_llm and args.llm_sample > 0
    sample = ev.draw_sample(len(loaded.requests), args.llm_sample, args.seed) if use_llm else None

    def progress(done: int) -> None:
        if done % 10 == 0:
            print(f"  {done}/{len(sample or ())} sampled rows ...", file=sys.stderr)

    with eval_chat_model(settings) if use_llm else contextlib.nullcontext() as chat:
        report = ev.evaluate(loaded, categories=categories, fallback=city.fallback_category,
                             embedder=embedder, chat=chat, sample=sample, progress=progress)
    print(f"{city.city.name}: {data} ({len(loaded.requests)} rows scored; truth from "
          f"{'+'.join(loaded.layout.type_columns)}, text from "
          f"{'+'.join(loaded.layout.text_columns)}; "
          f"LLM sample {report.sample_size if use_llm else 0}, seed {args.seed})")
    print(ev.format_report(report))
    return 0
