"""``cityloop eval routing``: score the dispatcher against real cities' 311 routing."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from cityloop.settings import PACKAGE_DIR, Settings

DATA_DIR = PACKAGE_DIR.parent.parent / "shared" / "data" / "311"
EMBEDDED_TIMEOUT_S = 180.0
BUNDLED = {
    "nyc": (PACKAGE_DIR / "cities" / "nyc.yaml", DATA_DIR / "nyc311_sample.csv"),
    "sf": (PACKAGE_DIR / "cities" / "sf.yaml", DATA_DIR / "sf311_sample.csv"),
}


def eval_subparsers(sub: Any) -> Any:
    """The subparsers of ``cityloop eval``, created by whichever evaluation registers first."""
    ev = sub.choices.get("eval") or sub.add_parser("eval", help="offline evaluations against public data")
    for action in ev._actions:  # argparse offers no public way to reach existing subparsers
        if isinstance(action, argparse._SubParsersAction):
            return action
    return ev.add_subparsers(dest="eval_command", required=True)


def add_parsers(sub: Any) -> None:
    """Register ``eval routing`` on the ``cityloop`` command's subparsers."""
    kinds = eval_subparsers(sub)
    routing = kinds.add_parser(
        "routing", help="agreement with real 311 routing, per category, against a ceiling")
    routing.add_argument("--city", default="nyc",
                         help="nyc, sf, or a city YAML file (then --data is required)")
    routing.add_argument("--data", help="a 311 CSV extract (default: the bundled city's)")
    routing.add_argument("--llm-sample", type=int, default=60, metavar="N",
                         help="rows no rule decides scored with the LLM (default 60; ~1 s a call)")
    routing.add_argument("--no-llm", action="store_true", help="score the rules only")
    routing.add_argument("--seed", type=int, default=0, help="seed for the LLM sample")
    routing.set_defaults(handler=cmd_eval_routing)


@contextlib.contextmanager
def _chat_model(settings: Settings) -> Iterator[BaseChatModel | None]:
    """The configured LLM, or an embedded llama.cpp server for the duration."""
    from agents import build_chat_model

    if settings.llm.base_url:
        yield build_chat_model(settings.llm)
        return
    from cityloop.localservices import LlamaServer, free_port

    log_file = settings.embedded.data_dir / "eval-llama.log"
    print(f"starting the embedded llama.cpp server (log: {log_file}) ...", file=sys.stderr)
    with LlamaServer(free_port(), threads=settings.embedded.llm_threads,
                     log_file=log_file) as server:
        # A 135M model on shared CPU cores re-reads an ~800-token prompt per call.
        yield build_chat_model(settings.llm.model_copy(update={
            "base_url": server.url, "model": server.alias,
            "timeout_s": max(settings.llm.timeout_s, EMBEDDED_TIMEOUT_S)}))


def _resolve(args: argparse.Namespace) -> tuple[str, Path, Path]:
    if args.city in BUNDLED:
        city_file, data = BUNDLED[args.city]
        return args.city, city_file, Path(args.data) if args.data else data
    if not args.data:
        raise SystemExit("cityloop eval routing: --data is required with a city file")
    return Path(args.city).stem, Path(args.city), Path(args.data)


def cmd_eval_routing(args: argparse.Namespace, settings: Settings) -> int:
    from cityloop.evaluation import routing as ev
    from cityloop.evaluation.aliases import BY_CITY, AgencyAliases
    from dispatch.cityconfig import CityConfigError, load_city

    if args.llm_sample < 0:
        print("cityloop eval routing: --llm-sample must be 0 or more", file=sys.stderr)
        return 2
    name, city_file, data = _resolve(args)
    try:
        city = load_city(city_file)
        loaded = ev.load_cases(data, city, BY_CITY.get(name, AgencyAliases()))
    except (CityConfigError, ev.EvaluationError) as exc:
        print(exc, file=sys.stderr)
        return 2
    use_llm = not args.no_llm and args.llm_sample > 0
    sample = None
    if use_llm:  # drawn from the rows no rule decides; elsewhere the LLM is never asked
        undecided = ev.undecided_indices(city, loaded.cases)
        sample = ev.sample_indices(undecided, args.llm_sample, args.seed)

    def progress(calls: int) -> None:
        if calls % 10 == 0:
            print(f"  {calls} LLM calls ...", file=sys.stderr)

    with _chat_model(settings) if use_llm else contextlib.nullcontext() as chat:
        chooser = ev.llm_chooser(chat, city) if chat is not None else None
        report = ev.evaluate(city, loaded, chooser=chooser, sample=sample, progress=progress)
    print(f"{city.city.name}: {data} ({len(loaded.cases)} rows scored; "
          f"LLM sample {len(sample or ())}, seed {args.seed})")
    print(ev.format_report(report))
    return 0


@contextlib.contextmanager
def eval_chat_model(settings: Settings) -> Iterator[BaseChatModel]:
    """The configured LLM, or an embedded llama.cpp server for the duration of an evaluation."""
    from agents import build_chat_model

    if settings.llm.base_url:
        yield build_chat_model(settings.llm)
        return
    from cityloop.localservices import LlamaServer, free_port

    log_file = settings.embedded.data_dir / "eval-llama.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    print(f"starting the embedded llama.cpp server (log: {log_file}) ...", file=sys.stderr)
    with LlamaServer(free_port(), threads=settings.embedded.llm_threads,
                     log_file=log_file) as server:
        yield build_chat_model(settings.llm.model_copy(update={
            "base_url": server.url, "model": server.alias,
            "timeout_s": max(settings.llm.timeout_s, EMBEDDED_TIMEOUT_S)}))
