"""Routing throughput against the no-op Celery task rate, measured in the same run.

    python bench/routing_throughput.py [--events N] [--noop-tasks K] [--seconds S]

Needs what ``bench/pipeline_throughput.py`` needs (PostgreSQL on 127.0.0.1:5432, Redis on
127.0.0.1:6379) and owns the same database ``cityloop_bench`` and Redis db 12: do not run
both at once. Its worker, API, database reset, no-op baseline and event clock are that
bench's, imported, not copied.

(a) baseline, no-op tasks/s: K ``cityloop.noop`` tasks through a real worker (concurrency 2).
(b) routing decisions/s, rules path, in-process: ``dispatch.city.routing.match_rule`` over
    realistic inputs, repeated for at least S seconds per city:
    - Riverton: the demo events and the chaos workload's texts, classified by the city's
      keywords as the pipeline's keyword stage does, each at a random point inside the city
      (so a district) at a random time in one week (so the night rule is exercised);
    - NYC: every row of the bundled NYC 311 sample, read exactly as ``cityloop eval routing``
      reads it (category from the keywords, district from the coordinates, the row's time).
    The share of inputs a rule decides is printed beside each rate.
(c) tickets/s end to end, LLM off: N events POSTed to ``/api/events`` until N tickets are
    delivered or in triage, through the same worker. The events are the chaos run's workload
    (``cityloop.chaos.workload``), spread beyond the duplicate judge's radius, so none merge
    and every event makes its own ticket (the demo events the pipeline bench cycles through
    repeat at the same spots and merge).

The last line holds each rate as a ratio to the no-op rate.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pipeline_throughput as pt  # noqa: E402
from cityloop.chaos.workload import TEMPLATES, UNROUTABLE, event_bodies  # noqa: E402
from cityloop.demo import SAMPLE_EVENTS  # noqa: E402
from cityloop.settings import BUNDLED_CITIES  # noqa: E402

NYC_SAMPLE = ROOT.parent / "shared" / "data" / "311" / "nyc311_sample.csv"

RIVERTON_BOX = ((41.551, 41.649), (-93.699, -93.501))


def riverton_inputs(count: int, seed: int = 1) -> tuple[object, list[object]]:
    from agents import classify_keywords
    from dispatch.city.config import load_city
    from dispatch.city.routing import RoutingInput
    from dispatch.incidents.flows import category_specs

    city = load_city(pt.SAMPLE_CITY)
    specs = category_specs(city)
    texts = [str(e["description"]) for e in SAMPLE_EVENTS]
    texts += [t.format(n=n) for n, t in enumerate((*TEMPLATES, UNROUTABLE))]
    rng = random.Random(seed)
    monday = datetime(2026, 6, 1, tzinfo=UTC)
    items = []
    for i in range(count):
        text = texts[i % len(texts)]
        match = classify_keywords(text, specs)
        lat, lon = rng.uniform(*RIVERTON_BOX[0]), rng.uniform(*RIVERTON_BOX[1])
        found = city.district_at(lat, lon)
        items.append(RoutingInput(
            category=match[0] if match else city.fallback_category, text=text,
            district=found.code if found else None,
            at=monday + timedelta(minutes=rng.randrange(7 * 24 * 60))))
    return city, items


def nyc_inputs() -> tuple[object, list[object]]:
    from cityloop.evaluation.aliases import BY_CITY
    from cityloop.evaluation.routing import load_cases
    from dispatch.city.config import load_city
    from dispatch.city.routing import RoutingInput

    city_file, data = BUNDLED_CITIES["nyc"], NYC_SAMPLE
    city = load_city(city_file)
    cases = load_cases(data, city, BY_CITY["nyc"]).cases
    return city, [RoutingInput(category=c.category, district=c.district, text=c.text, at=c.at)
                  for c in cases]


def measure_rules(label: str, city: object, items: list[object], seconds: float) -> pt.Result:
    from dispatch.city.routing import match_rule

    decided = sum(match_rule(city, item) is not None for item in items)  # type: ignore[arg-type]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for item in items:
            match_rule(city, item)  # type: ignore[arg-type]
        done += len(items)
    elapsed = time.perf_counter() - started
    note = f"{len(items)} inputs, a rule decides {100 * decided / len(items):.0f}%"
    return pt.Result(label, done, done, elapsed, note)


def print_ratios(results: list[pt.Result], noop: pt.Result) -> None:
    print(f"\n{'measure':<30} {'items':>8} {'done':>8} {'seconds':>9} {'per s':>10}  notes")
    for r in [noop, *results]:
        print(f"{r.label:<30} {r.count:>8} {r.done:>8} {r.seconds:>9.2f} {r.rate:>10.4g}  {r.note}")
    ratios = "; ".join(f"{r.label}/noop = {r.rate / noop.rate:.3g}" for r in results)
    print(f"\nratio {ratios}")


def run(args: argparse.Namespace, stack_: ExitStack, log_dir: Path) -> None:
    import redis
    from sqlalchemy import create_engine

    from dispatch.core.celery_app import configure
    from dispatch.core.config import DispatchConfig

    celery_app = configure(DispatchConfig(database_url=pt.DATABASE_URL, broker_url=pt.BROKER_URL,
                                          city_file=pt.SAMPLE_CITY))
    admin = create_engine(pt.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    stack_.callback(admin.dispose)
    pt.reset_database(admin)
    engine = create_engine(pt.DATABASE_URL)
    stack_.callback(engine.dispose)
    broker = redis.Redis.from_url(pt.BROKER_URL)
    pt.empty_state(engine, broker)

    print("worker and API with the LLM off ...", flush=True)
    stack = pt.Stack(pt.child_env("", "smollm2-135m-instruct", pt.free_port()), log_dir, "routing")
    stack_.callback(stack.stop)
    stack.start(celery_app)
    noop = pt.measure_noop(celery_app, broker, stack, args.noop_tasks)
    print(f"  no-op: {noop.rate:.1f} tasks/s", flush=True)
    # Spread in space and text, so the duplicate judge merges none: one ticket per event.
    tickets = pt.measure_events(engine, stack, label="tickets end to end, LLM off",
                                count=args.events, clients=args.clients, timeout_s=args.timeout,
                                stall_s=args.stall, bodies=event_bodies(args.events, "routing"))
    print(f"  tickets end to end: {tickets.rate:.2f} /s ({tickets.note})", flush=True)
    stack.stop()  # the in-process measures get the CPU to themselves

    results = [tickets]
    for label, (city, items) in (("rules, Riverton", riverton_inputs(args.riverton_inputs)),
                                 ("rules, NYC 311", nyc_inputs())):
        result = measure_rules(label, city, items, args.seconds)
        print(f"  {label}: {result.rate:.4g} decisions/s ({result.note})", flush=True)
        results.append(result)
    print_ratios(results, noop)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200, help="events end to end")
    parser.add_argument("--noop-tasks", type=int, default=2000, help="no-op tasks for the baseline")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per rules measure")
    parser.add_argument("--riverton-inputs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients posting")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed end to end")
    parser.add_argument("--stall", type=float, default=180.0,
                        help="give up after this many seconds without a new ticket")
    args = parser.parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    log_dir = Path(tempfile.mkdtemp(prefix="cityloop-bench-routing-"))
    print(f"logs in {log_dir}", flush=True)
    stack = ExitStack()
    try:
        run(args, stack, log_dir)
        return 0
    except pt.BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc or 'SIGINT'}); stopping ...", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
