"""Pipeline throughput against the no-op Celery task rate, measured in the same run.

    python bench/pipeline_throughput.py [--events N] [--llm-events M] [--noop-tasks K]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and Redis on 127.0.0.1:6379.
The bench owns the database ``cityloop_bench`` (dropped and re-created) and Redis db 12
(flushed). It runs the real processes: ``python -m cityloop worker --concurrency 2`` and
``python -m cityloop api`` as subprocesses, each in its own process group, configured through
the environment exactly as ``tests/conftest.py`` does; the LLM is the real llama.cpp server
(``cityloop.localservices.LlamaServer``) with SmolLM2-135M-Instruct.

Phases, all against the same broker:

(a) baseline, no-op tasks/s: K ``cityloop.noop`` messages are published to the
    ``pipeline.maintenance`` queue of the LLM-off worker. Results are not stored (the product
    sets ``task_ignore_result``), so completion is read from the broker itself: the clock stops
    when the Redis list ``pipeline.maintenance`` is empty AND kombu's ``unacked`` hash is
    empty. With ``task_acks_late`` a message stays in ``unacked`` until its task has returned,
    so both empty means every task ran. Polled every 5 ms, far below the measured time.
(b) events/s, LLM off: the same worker (``LLM__ENABLED=false``). N events are POSTed to
    ``/api/events``; the clock runs from the first POST until N tickets are done, a ticket
    being done when it has a ``delivered`` history entry or sits in triage (a triage ticket is
    never delivered; it waits for a dispatcher).
(c) events/s, LLM on: worker and API restarted with ``LLM__BASE_URL`` pointing at a
    LlamaServer on a free port; tables and Redis emptied; M events, same clock.
(d) with ``--vllm-url``: the same M events with the LLM on a vLLM server serving the same
    model (``scripts/vllm_contract.sh`` starts one and passes it), so llama.cpp and vLLM are
    compared in one run.

The last line holds the ratios against the no-op rate. Every subprocess is stopped (its
whole process group) on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
import redis
from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityloop.localservices import (  # noqa: E402
    LlamaServer,
    free_port,
    spawn_group,
    stop_groups,
    wait_http,
)

SAMPLE_CITY = ROOT / "cityloop" / "cities" / "riverton.yaml"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DB_NAME = "cityloop_bench"
DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
BROKER_URL = "redis://127.0.0.1:6379/12"
NOOP_QUEUE = "pipeline.maintenance"
UNACKED_KEY = "unacked"
DONE_SQL = text(
    "SELECT count(*) FROM tickets t WHERE t.status = 'triage' OR EXISTS "
    "(SELECT 1 FROM ticket_history h WHERE h.ticket_id = t.id AND h.action = 'delivered')"
)
METHODS_SQL = text("SELECT routing->>'method', count(*) FROM tickets GROUP BY 1 ORDER BY 1")


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Result:
    label: str
    count: int
    done: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def reset_database(admin: Engine) -> None:
    from dispatch.core.db import migrate

    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    migrate(DATABASE_URL)


def empty_state(engine: Engine, broker: redis.Redis) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE deliveries, ticket_history, tickets, incidents, events "
                          "RESTART IDENTITY CASCADE"))
    broker.flushdb()


def child_env(llm_url: str, llm_model: str, port: int) -> dict[str, str]:
    """What tests/conftest.py gives its workers, plus HOST/PORT for the API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM__", "CELERY__"))}
    env.update({
        "DATABASE_URL": DATABASE_URL, "BROKER_URL": BROKER_URL, "CITY_FILE": str(SAMPLE_CITY),
        "LLM__ENABLED": "true" if llm_url else "false", "LLM__BASE_URL": llm_url,
        "LLM__MODEL": llm_model, "LLM__TIMEOUT_S": "60", "LLM__MAX_RETRIES": "1",
        "CELERY__WORKER_CONCURRENCY": "2", "HOST": "127.0.0.1", "PORT": str(port),
        "LOG_LEVEL": "warning", "CITYLOOP_CONFIG": "/nonexistent/cityloop.yaml",
        "PYTHONUNBUFFERED": "1",
    })
    return env


class Stack:
    """One ``cityloop worker`` and one ``cityloop api``, each its own process group."""

    def __init__(self, env: dict[str, str], log_dir: Path, tag: str) -> None:
        self.env = env
        self.base_url = f"http://127.0.0.1:{env['PORT']}"
        self.logs = {name: log_dir / f"{tag}-{name}.log" for name in ("worker", "api")}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, celery_app: object) -> None:
        worker = [sys.executable, "-m", "cityloop", "worker", "--concurrency", "2",
                  "-n", f"bench-{os.getpid()}@%h"]
        for name, argv in (("worker", worker), ("api", [sys.executable, "-m", "cityloop", "api"])):
            with self.logs[name].open("ab") as log:
                self.procs[name] = spawn_group(argv, env=self.env, stdout=log)
        self._wait_worker(celery_app)
        wait_http(f"{self.base_url}/health", 60, check=self.check)

    def _wait_worker(self, celery_app: object, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check()
            if celery_app.control.ping(timeout=0.5):  # type: ignore[attr-defined]
                return
        raise BenchError(f"the worker did not answer a ping within {timeout_s:.0f} s; "
                         f"see {self.logs['worker']}")

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = self.logs[name].read_text(errors="replace")[-3000:]
                raise BenchError(f"{name} exited with code {proc.returncode}; "
                                 f"{self.logs[name]} ends with:\n{tail}")

    def stop(self) -> None:
        stop_groups(list(self.procs.values()), grace_s=15.0)
        self.procs.clear()


def _pending(broker: redis.Redis) -> int:
    """Messages queued (the plain list; no-ops carry no priority) plus those in flight."""
    queued, in_flight = broker.pipeline().llen(NOOP_QUEUE).hlen(UNACKED_KEY).execute()
    return int(queued) + int(in_flight)


def measure_noop(celery_app: object, broker: redis.Redis, stack: Stack, count: int) -> Result:
    send = celery_app.send_task  # type: ignore[attr-defined]
    for _ in range(20):  # warm the pool and the connections
        send("cityloop.noop", queue=NOOP_QUEUE)
    _drain(broker, stack, timeout_s=600)
    cpu_before = cpu_seconds(stack)
    started = time.perf_counter()
    for _ in range(count):
        send("cityloop.noop", queue=NOOP_QUEUE)
    _drain(broker, stack, timeout_s=600)
    print(f"  no-op: {cpu_note(cpu_before, cpu_seconds(stack), count)}", flush=True)
    return Result("no-op Celery task", count, count, time.perf_counter() - started)


def _drain(broker: redis.Redis, stack: Stack, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _pending(broker):
        if time.monotonic() > deadline:
            raise BenchError(f"{_pending(broker)} no-op tasks still pending after {timeout_s} s")
        stack.check()
        time.sleep(0.005)


def event_bodies(count: int, tag: str) -> list[dict[str, object]]:
    """Distinct events, spread beyond the duplicate judge's radius so that none merge (the
    demo's 8 events repeated at the same spots would merge and never make ``count`` tickets)."""
    from cityloop.chaos.workload import event_bodies as spread

    return spread(count, f"bench-{tag}")


def post_events(base_url: str, bodies: list[dict[str, object]], clients: int) -> None:
    def post(chunk: list[dict[str, object]]) -> None:
        with httpx.Client(base_url=base_url, timeout=30.0) as client:
            for body in chunk:
                reply = client.post("/api/events", json=body)
                if reply.status_code != 202:
                    raise BenchError(f"POST /api/events -> {reply.status_code}: {reply.text[:300]}")

    chunks = [bodies[i::clients] for i in range(clients)]
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(post, chunks))


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of: this bench (the HTTP clients), the API, the worker's main process,
    its pool processes, the PostgreSQL backends of the bench database and the Redis server
    (shared with anything else using it)."""
    import psutil

    def used(proc: psutil.Process) -> float:
        try:
            t = proc.cpu_times()
            return float(t.user + t.system)
        except psutil.Error:
            return 0.0

    out = {"bench client": used(psutil.Process())}
    for name, popen in stack.procs.items():
        try:
            main = psutil.Process(popen.pid)
            children = main.children(recursive=True)
        except psutil.Error:
            continue
        out[name] = used(main)
        if children:
            out[f"{name} children"] = sum(used(c) for c in children)
    backends, redis_cpu = 0.0, 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if f" {DB_NAME} " in line and line.startswith("postgres:"):
            backends += used(proc)
        elif (proc.info["name"] or "").startswith("redis-server") and ":6379" in line:
            redis_cpu += used(proc)
    out["postgres backends"], out["redis-server"] = backends, redis_cpu
    return out


def cpu_note(before: dict[str, float], after: dict[str, float], count: int) -> str:
    per = {k: 1000 * (after.get(k, 0.0) - before.get(k, 0.0)) / max(count, 1) for k in after}
    parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.05)
    return f"CPU ms per item: {parts}; total {sum(per.values()):.1f}"


def measure_events(engine: Engine, stack: Stack, *, label: str, count: int, clients: int,
                   timeout_s: float, stall_s: float,
                   bodies: list[dict[str, object]] | None = None) -> Result:
    """POST ``count`` events (or ``bodies``), then wait until as many tickets are done (or no
    progress)."""
    bodies = bodies or event_bodies(count, label.split(",")[-1].strip().replace(" ", "-"))
    cpu_before = cpu_seconds(stack)
    started = time.perf_counter()
    post_events(stack.base_url, bodies, clients)
    posted_s = time.perf_counter() - started
    deadline, progress_at, done = time.monotonic() + timeout_s, time.monotonic(), 0
    with engine.connect() as conn:
        while done < count and time.monotonic() < min(deadline, progress_at + stall_s):
            stack.check()
            now_done = int(conn.execute(DONE_SQL).scalar_one())
            conn.commit()
            done, progress_at = now_done, time.monotonic() if now_done > done else progress_at
            if done < count:
                time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu_after = cpu_seconds(stack)
        methods = ", ".join(f"{m}={n}" for m, n in conn.execute(METHODS_SQL))
    note = f"routing: {methods or 'no tickets'}; all POSTed after {posted_s:.1f} s"
    print(f"  {label}: {cpu_note(cpu_before, cpu_after, count)}", flush=True)
    if done < count:
        note += f"; INCOMPLETE (no new ticket for {stall_s:.0f} s or {timeout_s:.0f} s in all); " \
                f"last worker error: {last_error(stack.logs['worker'])}"
    return Result(label, count, done, elapsed, note)


def last_error(log: Path) -> str:
    errors = [line for line in log.read_text(errors="replace").splitlines()
              if " ERROR " in line or line.startswith(("sqlalchemy.exc.", "psycopg.errors."))]
    return errors[-1][:300] if errors else "none logged"


def print_table(results: list[Result], noop: Result) -> None:
    print(f"\n{'measure':<24} {'items':>7} {'done':>7} {'seconds':>9} {'per s':>9}  notes")
    for r in results:
        print(f"{r.label:<24} {r.count:>7} {r.done:>7} {r.seconds:>9.2f} {r.rate:>9.4g}  {r.note}")
    off, on = results[0], results[1]
    line = f"\nratio events_per_s(llm off)/noop_per_s = {off.rate / noop.rate:.3g}"
    if on is not noop:
        line += f"; ratio events_per_s(llm on)/noop_per_s = {on.rate / noop.rate:.3g}"
    if len(results) > 3:
        line += f"; ratio events_per_s(llm on, vLLM)/noop_per_s = {results[2].rate / noop.rate:.3g}"
    print(line)


@dataclass
class SqlCount:
    """Statements and transactions seen by one engine (SQLAlchemy event listeners)."""

    statements: int = 0
    transactions: int = 0
    write_commits: int = 0  # commits of a transaction that wrote (each waits for a WAL fsync)
    tasks: int = 0

    def per(self, n: int) -> str:
        return (f"{self.transactions / n:.2f} transactions ({self.write_commits / n:.2f} writing), "
                f"{self.statements / n:.1f} SQL statements, {self.tasks / n:.2f} Celery tasks")


def _listen(engine: Engine, counts: list[SqlCount]) -> None:
    """Count into ``counts[-1]`` (append another to start a new count)."""
    from sqlalchemy import event

    writing: set[int] = set()

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        counts[-1].statements += 1
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writing.add(id(conn))

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        counts[-1].transactions += 1
        writing.discard(id(conn))

    @event.listens_for(engine, "commit")
    def _commit(conn):  # type: ignore[no-untyped-def]
        if id(conn) in writing:
            counts[-1].write_commits += 1
            writing.discard(id(conn))


def count_sql(engine: Engine, broker: redis.Redis, count: int) -> None:
    """The LLM-off path in this process, messages run in order as the worker would take them:
    SQL statements, transactions and write commits per event, intake (the API's flow) apart."""
    import dispatch.tasks  # noqa: F401  (registers the tasks)
    from agents import LLMConfig
    from dispatch.core import celery_app as celery_module
    from dispatch.core.config import DispatchConfig
    from dispatch.core.runtime import get_runtime, set_config, warm
    from dispatch.intake.flows import submit_event
    from dispatch.intake.schemas import EventCreate

    set_config(DispatchConfig(database_url=DATABASE_URL, broker_url=BROKER_URL, city_file=SAMPLE_CITY,
                              llm=LLMConfig(enabled=False), db_pre_ping=False))
    warm(embedder=True)
    rt = get_runtime()
    app = celery_module.app
    sent: list[tuple[str, list[object]]] = []
    real_send = app.send_task
    app.send_task = lambda name, args=None, **_: sent.append((name, list(args or [])))  # type: ignore[method-assign]
    intake, worker = SqlCount(), SqlCount()
    counts = [intake]
    try:
        _listen(rt.engine, counts)
        for body in event_bodies(count, "sql"):
            with rt.factory() as db:
                submit_event(db_session=db, city=rt.city, data=EventCreate.model_validate(body),
                             max_image_bytes=1000)
        counts.append(worker)
        while sent:
            name, args = sent.pop(0)
            worker.tasks += 1
            app.tasks[name].apply(args=args, throw=True)
        with engine.connect() as conn:
            done = int(conn.execute(DONE_SQL).scalar_one())
    finally:
        app.send_task = real_send  # type: ignore[method-assign]
    print(f"  SQL per event, {count} events, {done} tickets done:\n"
          f"    intake (API flow): {intake.per(count)}\n    worker: {worker.per(count)}", flush=True)
    empty_state(engine, broker)


def run(args: argparse.Namespace, stack_: ExitStack, log_dir: Path) -> None:
    from dispatch.core.celery_app import configure
    from dispatch.core.config import DispatchConfig

    celery_app = configure(DispatchConfig(database_url=DATABASE_URL, broker_url=BROKER_URL,
                                          city_file=SAMPLE_CITY))
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    stack_.callback(admin.dispose)
    reset_database(admin)
    engine = create_engine(DATABASE_URL)
    stack_.callback(engine.dispose)
    broker = redis.Redis.from_url(BROKER_URL)
    empty_state(engine, broker)
    if args.count_sql:
        count_sql(engine, broker, args.count_sql)

    print("phase a+b: worker and API with the LLM off ...", flush=True)
    off = Stack(child_env("", "smollm2-135m-instruct", free_port()), log_dir, "llm-off")
    stack_.callback(off.stop)
    off.start(celery_app)
    noop = measure_noop(celery_app, broker, off, args.noop_tasks)
    print(f"  no-op: {noop.rate:.1f} tasks/s", flush=True)
    events_off = measure_events(engine, off, label="events, LLM off", count=args.events,
                                clients=args.clients, timeout_s=args.timeout, stall_s=args.stall)
    print(f"  events, LLM off: {events_off.rate:.2f} /s", flush=True)
    off.stop()
    with engine.connect() as conn:  # a batch's incidents share their transaction's now()
        sizes = [int(n) for n in conn.execute(text(
            "SELECT count(*) FROM incidents GROUP BY created_at ORDER BY min(created_at)")).scalars()]
    if sizes:
        print(f"  incidents per transaction: {len(sizes)} transactions, mean {sum(sizes) / len(sizes):.1f}, "
              f"max {max(sizes)}", flush=True)
    empty_state(engine, broker)
    if args.llm_events == 0:
        print_table([events_off, noop], noop)
        return

    print("phase c: llama.cpp server, worker and API with the LLM on ...", flush=True)
    llm = LlamaServer(free_port(), threads=2, log_file=log_dir / "llama.log")
    stack_.callback(llm.stop)
    llm_url = llm.start()
    on = Stack(child_env(llm_url, llm.alias, free_port()), log_dir, "llm-on")
    stack_.callback(on.stop)
    on.start(celery_app)
    events_on = measure_events(engine, on, label="events, LLM on", count=args.llm_events,
                               clients=args.clients, timeout_s=args.timeout, stall_s=args.stall)
    print(f"  events, LLM on: {events_on.rate:.4g} /s", flush=True)
    results = [events_off, events_on]
    if args.vllm_url:
        on.stop()
        empty_state(engine, broker)
        print(f"phase d: worker and API with the LLM on vLLM at {args.vllm_url} ...", flush=True)
        vllm = Stack(child_env(args.vllm_url, args.vllm_model, free_port()), log_dir, "vllm")
        stack_.callback(vllm.stop)
        vllm.start(celery_app)
        events_vllm = measure_events(engine, vllm, label="events, LLM on, vLLM", count=args.llm_events,
                                     clients=args.clients, timeout_s=args.timeout, stall_s=args.stall)
        print(f"  events, LLM on (vLLM): {events_vllm.rate:.4g} /s", flush=True)
        results.append(events_vllm)
    print_table([*results, noop], noop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200, help="events with the LLM off")
    parser.add_argument("--llm-events", type=int, default=20, help="events with the LLM on (0: skip)")
    parser.add_argument("--noop-tasks", type=int, default=2000, help="no-op tasks for the baseline")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients posting")
    parser.add_argument("--vllm-url", default="", help="also run the LLM-on phase against this vLLM "
                        "(OpenAI base URL, e.g. http://127.0.0.1:8099/v1); scripts/vllm_contract.sh sets it")
    parser.add_argument("--vllm-model", default="smollm2-135m-instruct", help="the model name vLLM serves")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per phase")
    parser.add_argument("--stall", type=float, default=180.0,
                        help="give up a phase after this many seconds without a new ticket")
    parser.add_argument("--count-sql", type=int, default=0, metavar="N",
                        help="first run N events through the LLM-off path in this process and print "
                             "SQL statements, transactions and write commits per event")
    args = parser.parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupt)
    log_dir = Path(tempfile.mkdtemp(prefix="cityloop-bench-"))
    print(f"logs in {log_dir}", flush=True)
    stack = ExitStack()
    try:
        run(args, stack, log_dir)
        return 0
    except BenchError as exc:
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
