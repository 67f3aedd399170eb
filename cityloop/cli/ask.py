"""``cityloop eval ask``: questions in plain words → filters, scored against gold filters."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from cityloop.cli.context import USAGE, CommandFailed, with_settings
from cityloop.settings import BUNDLED_CITIES, Settings

if TYPE_CHECKING:
    from agents.embeddings import Embedder

_DATA = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("ask")
@click.option("--data", "files", type=_DATA, multiple=True,
              help="A question file (JSONL; repeatable). Default: the bundled sets for Riverton "
                   "(English and Chinese) and 江城 (Chinese).")
@click.option("--llm", "use_llm", is_flag=True,
              help="Also score the LLM parser (the configured server, else the embedded one).")
@click.option("--llm-sample", type=int, default=40, show_default=True, metavar="N",
              help="With --llm: questions drawn at random for the LLM (~1-10 s a call on CPU).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the LLM sample.")
@click.option("--no-embeddings", is_flag=True,
              help="Leave out categories by meaning (the embedder), as a server without the "
                   "'ml' extra runs.")
@click.option("--misses", type=click.Choice(["dev", "all", "none"]), default="dev",
              show_default=True, help="Which split's missed questions to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@with_settings
def ask(settings: Settings, files: tuple[Path, ...], use_llm: bool, llm_sample: int, seed: int,
        no_embeddings: bool, misses: Literal["dev", "all", "none"], as_json: bool) -> int:
    """Exact match of each filter field and of the whole filter set, per language and split."""
    from cityloop.cli.eval import chat_model
    from cityloop.evaluation import ask as ev
    from dispatch.city.config import CityConfigError, load_city

    if llm_sample < 1:
        raise CommandFailed("--llm-sample must be 1 or more")
    try:
        questions = ev.load_questions(files or ev.DATA_FILES)
        cities = {name: load_city(BUNDLED_CITIES.get(name) or Path(name))
                  for name in sorted({q.city for q in questions})}
    except (ev.EvaluationError, CityConfigError) as exc:
        click.echo(str(exc), err=True)
        return USAGE
    embedder = None if no_embeddings else _embedder()
    parsers: dict[str, ev.Parser] = {"rules": ev.rules_parser(cities, embedder),
                                     "search-box baseline": ev.search_box_parser}
    errors: list[int] = []
    with chat_model(settings) if use_llm else contextlib.nullcontext(None) as chat:
        only = None
        if chat is not None:
            parsers["llm"] = ev.llm_parser(cities, chat, errors)
            only = {"llm": ev.sample_ids(questions, llm_sample, seed)}
        report = ev.evaluate(questions, parsers, only)
    if chat is not None:
        report.llm_sample, report.llm_errors = len(only["llm"]) if only else 0, len(errors)
    if as_json:
        click.echo(json.dumps({"questions": len(questions), "cities": sorted(cities),
                               "embedder": embedder.name if embedder else None,
                               **ev.as_json(report)}, ensure_ascii=False, indent=1))
        return 0
    click.echo(f"{len(questions)} questions ({', '.join(sorted(cities))}); embeddings "
               f"{'on (' + embedder.name + ')' if embedder else 'off'}")
    click.echo(ev.format_report(report, show_misses=misses))
    return 0


def _embedder() -> Embedder | None:
    from agents.embeddings import SentenceTransformerEmbedder, embeddings_available

    if not embeddings_available():
        click.echo("embeddings left out: install the 'ml' extra", err=True)
        return None
    return SentenceTransformerEmbedder()
