"""Incidents understood per second: a naive per-detection LLM pipeline against ours.

    python bench/agents_throughput.py [--incidents K] [--detections D] [--concurrency C]
                                      [--no-embeddings]

The LLM is the real llama.cpp server (``cityloop.localservices.LlamaServer``, SmolLM2-135M)
on a free port, or the OpenAI-compatible server at ``LLM__BASE_URL`` (model ``LLM__MODEL``)
when that is set. Both pipelines talk to the same server and model in the same run.

Workload: K incidents, each seen by a street camera as D detections of the same object
whose texts differ slightly (frame number, detector score, wording), the way a tracker
emits them before de-duplication. Categories are Riverton's (``cityloop/cities/riverton.yaml``,
as ``dispatch.incidents.flows.category_specs`` builds them). The incidents mix plain cases (a keyword
decides) with vague ones (embeddings or the LLM decide).

NAIVE: for every detection, one after the other, ``agents.classifier.classify_llm`` and then
``agents.writer.write_incident`` -- two LLM calls per detection, 2*K*D calls, no cache
(``cache_size=0``), one call at a time.

OURS: per incident one understand step, the product's ``agents.classifier.classify`` (hint,
keywords, embeddings first; the LLM only when they do not decide), plus one
``write_incident``, on the incident's first detection (the merge step folds the others in
without the LLM). Incidents run on a ``ThreadPoolExecutor`` of C workers and the chat model's
guard allows C concurrent calls (``LLMConfig.max_concurrency = C``); every prompt starts with
``agents.prompts.SHARED_SYSTEM_PREFIX``, which llama.cpp's prompt cache and vLLM's prefix cache
reuse; answers are cached by content hash (``agents.resilience.ResultCache``). A second pass
over the same incidents shows the cache: it makes no LLM call.

Tokens are the server's own ``usage`` (prompt + completion) read from each response's
``usage_metadata`` by a langchain callback handler on the chat model; "LLM calls" counts
requests that reached the server (cache hits are not calls). The embedding model is loaded
and the server warmed with one untimed call before the clock starts. The last line holds the
ratios of OURS (first pass, cold cache) to NAIVE.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.outputs import LLMResult

from agents.classifier import CategorySpec, classify, classify_llm
from agents.embeddings import Embedder, SentenceTransformerEmbedder, embeddings_available
from agents.errors import LLMUnavailable
from agents.llm import LLMConfig, build_chat_model
from agents.resilience import guard_for
from agents.writer import EventFacts, fallback_writeup, write_incident
from cityloop.localservices import DEFAULT_LLM_ALIAS, LlamaServer, free_port
from dispatch.city.config import load_city
from dispatch.incidents.flows import category_specs

SAMPLE_CITY = ROOT / "cityloop" / "cities" / "riverton.yaml"
FALLBACK_CODE = "other"
OCCURRED_AT = datetime(2025, 5, 14, 7, 30, tzinfo=UTC)

# (what the detector saw, the place) -- the first four have keywords, the rest are vague.
SCENES: list[tuple[str, str]] = [
    ("a fallen tree lying across both lanes", "Elm Street, North Bank"),
    ("trash bags and dumped waste piled on the sidewalk", "Market Street, Old Town"),
    ("standing water covering the underpass", "River Road underpass, Riverside"),
    ("a deep pothole in the right lane", "5th Avenue, East Heights"),
    ("a large object blocking the bike lane, unclear what it is", "Pine Street, Old Town"),
    ("a car parked on the pavement for several days, one window broken", "Mill Lane, Riverside"),
    ("a dark corner, the lamp above the crossing does not light up", "3rd Street, North Bank"),
    ("paint scrawled over the wall of the community centre", "Oak Square, East Heights"),
]
VARIANTS = [
    "Camera {cam} sees {scene} at {place} (track {track}, frame {frame}, score 0.{score}).",
    "Camera {cam}, track {track}: {scene}, {place}; frame {frame}, detector score 0.{score}.",
    ("Detection on camera {cam} near {place}: {scene} (frame {frame}, score 0.{score}, "
     "track {track})."),
]


class BenchError(RuntimeError):
    pass


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@dataclass(frozen=True)
class Incident:
    number: int
    place: str
    detections: list[str]


def workload(incidents: int, detections: int) -> list[Incident]:
    out = []
    for i in range(incidents):
        scene, place = SCENES[i % len(SCENES)]
        if i >= len(SCENES):  # more incidents than scenes: another camera, another round
            place = f"{place} (site {i // len(SCENES) + 1})"
        texts = [VARIANTS[j % len(VARIANTS)].format(
            cam=10 + i, scene=scene, place=place, track=400 + i, frame=1200 + 7 * j,
            score=71 + 3 * j) for j in range(detections)]
        out.append(Incident(i, place, texts))
    return out


class UsageCounter(BaseCallbackHandler):
    """Adds up the server's token usage and counts the responses (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.missing_usage = 0

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        prompt = completion = 0
        found = False
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                if usage:
                    found = True
                    prompt += int(usage.get("input_tokens", 0))
                    completion += int(usage.get("output_tokens", 0))
        if not found:  # older langchain: the OpenAI "usage" object in llm_output
            usage = (response.llm_output or {}).get("token_usage") or {}
            if usage:
                found = True
                prompt = int(usage.get("prompt_tokens", 0))
                completion = int(usage.get("completion_tokens", 0))
        with self._lock:
            self.calls += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.missing_usage += 0 if found else 1

    def snapshot(self) -> tuple[int, int, int]:
        with self._lock:
            return self.calls, self.prompt_tokens, self.completion_tokens


@dataclass
class Result:
    mode: str
    incidents: int
    detections: int
    calls: int
    seconds: float
    prompt_tokens: int
    completion_tokens: int
    notes: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.incidents / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_incident(self) -> float:
        return (self.prompt_tokens + self.completion_tokens) / self.incidents

    def note_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.notes.items()))


def chat_for(url: str, model: str, *, cache_size: int, concurrency: int,
             counter: UsageCounter) -> BaseChatModel:
    chat = build_chat_model(LLMConfig(base_url=url, model=model, timeout_s=180.0,
                                      max_retries=0, cache_size=cache_size,
                                      max_concurrency=concurrency))
    if chat is None:
        raise BenchError("build_chat_model returned None")
    chat.callbacks = [counter]
    return chat


def facts_for(text: str, place: str, category: str, names: dict[str, str]) -> EventFacts:
    return EventFacts(description=text, source="camera", category=category,
                      category_name=names.get(category, category), occurred_at=OCCURRED_AT,
                      address=place)


def measure(mode: str, counter: UsageCounter, incidents: list[Incident], work: Any,
            workers: int, chat: BaseChatModel) -> Result:
    notes: Counter[str] = Counter()
    lock = threading.Lock()

    def one(incident: Incident) -> None:
        local = work(incident)
        with lock:
            notes.update(local)

    guard = guard_for(chat)
    hits_before = guard.cache.hits if guard is not None else 0
    calls0, prompt0, completion0 = counter.snapshot()
    started = time.perf_counter()
    if workers <= 1:
        for incident in incidents:
            one(incident)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, incidents))
    seconds = time.perf_counter() - started
    calls1, prompt1, completion1 = counter.snapshot()
    if guard is not None and guard.cache.hits - hits_before:
        notes["cache_hits"] = guard.cache.hits - hits_before
    return Result(mode, len(incidents), sum(len(i.detections) for i in incidents),
                  calls1 - calls0, seconds, prompt1 - prompt0, completion1 - completion0, notes)


def naive_work(chat: BaseChatModel, specs: list[CategorySpec],
               names: dict[str, str]) -> Any:
    def work(incident: Incident) -> Counter[str]:
        notes: Counter[str] = Counter()
        for text in incident.detections:
            try:
                category = classify_llm(chat, text=text, categories=specs,
                                        fallback_code=FALLBACK_CODE)[0]
            except LLMUnavailable:
                category = FALLBACK_CODE
                notes["classify_errors"] += 1
            try:
                write_incident(chat, facts=facts_for(text, incident.place, category, names))
            except LLMUnavailable:
                notes["write_errors"] += 1
        return notes
    return work


def ours_work(chat: BaseChatModel, specs: list[CategorySpec], names: dict[str, str],
              embedder: Embedder | None) -> Any:
    def work(incident: Incident) -> Counter[str]:
        notes: Counter[str] = Counter()
        text = incident.detections[0]
        result = classify(text=text, categories=specs, chat=chat,
                          fallback_code=FALLBACK_CODE, embedder=embedder)
        notes[result.method] += 1
        if result.llm_error:
            notes["classify_errors"] += 1
        facts = facts_for(text, incident.place, result.category, names)
        try:
            write_incident(chat, facts=facts)
        except LLMUnavailable:
            fallback_writeup(facts)
            notes["write_errors"] += 1
        return notes
    return work


def print_table(results: list[Result], naive: Result, ours: Result) -> None:
    print(f"\n{'mode':<22} {'incidents':>9} {'detections':>10} {'LLM calls':>9} "
          f"{'seconds':>9} {'incidents/s':>11} {'tokens/incident':>15}  notes")
    for r in results:
        print(f"{r.mode:<22} {r.incidents:>9} {r.detections:>10} {r.calls:>9} {r.seconds:>9.2f} "
              f"{r.rate:>11.4g} {r.tokens_per_incident:>15.1f}  {r.note_text()}")
    tokens = (ours.tokens_per_incident / naive.tokens_per_incident
              if naive.tokens_per_incident else float("nan"))
    print(f"\nratio ours/naive incidents_per_s = {ours.rate / naive.rate:.3g}; "
          f"tokens_per_incident ours/naive = {tokens:.3g}")


def run(args: argparse.Namespace, stack: ExitStack) -> None:
    specs = category_specs(load_city(SAMPLE_CITY))
    names = {spec.code: spec.name for spec in specs}
    url = os.environ.get("LLM__BASE_URL", "")
    model = os.environ.get("LLM__MODEL", DEFAULT_LLM_ALIAS)
    if url:
        print(f"LLM: {url} (model {model}, from LLM__BASE_URL)", flush=True)
    else:
        log_dir = Path(tempfile.mkdtemp(prefix="cityloop-bench-agents-"))
        server = LlamaServer(free_port(), threads=args.threads, log_file=log_dir / "llama.log")
        stack.callback(server.stop)
        print(f"starting llama.cpp server (log {server.log_file}) ...", flush=True)
        url, model = server.start(), server.alias
        print(f"LLM: {url} (model {model})", flush=True)

    embedder: Embedder | None = None
    if args.embeddings and embeddings_available():
        embedder = SentenceTransformerEmbedder()
        embedder.embed(["warm-up"])  # load the model before the clock starts
    print(f"embeddings: {embedder.name if embedder else 'off'}; "
          f"concurrency {args.concurrency}", flush=True)

    counter = UsageCounter()
    naive_chat = chat_for(url, model, cache_size=0, concurrency=1, counter=counter)
    ours_chat = chat_for(url, model, cache_size=1024, concurrency=args.concurrency,
                         counter=counter)
    classify_llm(naive_chat, text="warm-up: a bench on the square is broken.",
                 categories=specs, fallback_code=FALLBACK_CODE)  # untimed, not counted
    if counter.missing_usage:
        print("warning: the server sent no token usage", file=sys.stderr)

    incidents = workload(args.incidents, args.detections)
    print(f"workload: {len(incidents)} incidents x {args.detections} detections", flush=True)
    naive = measure("naive (per detection)", counter, incidents,
                    naive_work(naive_chat, specs, names), 1, naive_chat)
    print(f"  naive: {naive.seconds:.1f} s", flush=True)
    work = ours_work(ours_chat, specs, names, embedder)
    ours = measure("ours (cold cache)", counter, incidents, work, args.concurrency, ours_chat)
    print(f"  ours: {ours.seconds:.1f} s", flush=True)
    again = measure("ours (same, cached)", counter, incidents, work, args.concurrency, ours_chat)
    print_table([naive, ours, again], naive, ours)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=8, help="incidents (K)")
    parser.add_argument("--detections", type=int, default=5, help="detections per incident (D)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="concurrent incidents and LLM calls for OURS")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp server threads")
    parser.add_argument("--no-embeddings", dest="embeddings", action="store_false",
                        help="classify without the embedding stage")
    args = parser.parse_args()
    if args.incidents < 1 or args.detections < 1 or args.concurrency < 1:
        parser.error("--incidents, --detections and --concurrency must be at least 1")
    signal.signal(signal.SIGTERM, _raise_interrupt)  # stop the llama.cpp server on SIGTERM
    with ExitStack() as stack:
        try:
            run(args, stack)
        except BenchError as exc:
            print(f"bench failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted; stopping ...", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
