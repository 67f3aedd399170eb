"""The chaos scenario: submit events; SIGKILL a worker (one of each kind in the split
topology) and restart it; stop and restart the broker (Redis or RabbitMQ); wait until quiet;
check the invariants (``cityloop.chaos.checks``).

Events are posted by a few client threads, never more than ``backlog`` ahead of what the
workers have processed, so the killed worker and the broker outage both land while events
are still arriving and work is in flight. Events posted while the broker is down are stored
by the API and re-enqueued by beat's sweep.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import Engine, create_engine

from cityloop.chaos import topology
from cityloop.chaos.brokers import Broker, BrokerError, BrokerKind, make_broker
from cityloop.chaos.checks import Invariants, check_invariants, counts, progress
from cityloop.chaos.poster import Poster
from cityloop.chaos.receiver import WebhookReceiver
from cityloop.chaos.services import ChaosError, Child, ScratchDatabase
from cityloop.chaos.workload import event_bodies
from cityloop.localservices import free_port, wait_http
from cityloop.settings import SAMPLE_CITY

__all__ = ["ChaosConfig", "ChaosError", "ChaosReport", "run_chaos"]

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DOWN_LLM_URL = "http://127.0.0.1:9/v1"  # nothing listens on port 9: every LLM call fails fast
WEBHOOK_SECRET_ENV = "CHAOS_WEBHOOK_SECRET"


@dataclass(frozen=True)
class ChaosConfig:
    events: int = 5000
    workers: int = 2
    concurrency: int = 1
    clients: int = 4
    backlog: int = 100
    kill_at: float = 0.25  # SIGKILL a worker once this share of the events is processed
    broker_stop_at: float = 0.55
    worker_down_s: float = 1.0
    broker_down_s: float = 5.0
    visibility_timeout_s: int = 30
    stale_event_after_s: int = 60
    sweep_interval_s: float = 10.0
    quiet_s: float = 3.0
    stall_s: float = 180.0  # no progress for this long fails the run (a crashed send's claim lapses in 45 s)
    webhook: bool = True
    llm_disabled: bool = False  # no LLM configured at all (the batched rules-only path), not just unreachable
    broker: BrokerKind = "redis"
    topology: topology.TopologyKind = "single"
    admin_url: str = ADMIN_URL
    city_file: Path = SAMPLE_CITY
    log_dir: Path | None = None


@dataclass
class ChaosReport:
    config: ChaosConfig
    invariants: Invariants
    timings: dict[str, float]
    log_dir: Path
    killed_at_processed: int = -1
    broker_stopped_at_processed: int = -1
    events_posted_while_broker_down: int = 0
    killed: list[str] = field(default_factory=list)
    posted_per_api: list[int] = field(default_factory=list)
    incomplete: str = ""

    def violations(self) -> list[str]:
        found = self.invariants.violations()
        if self.incomplete:
            found.insert(0, self.incomplete)
        return found

    def format(self) -> str:
        t = self.timings
        cfg = self.config
        shape = (f"{cfg.workers} workers x {cfg.concurrency}" if cfg.topology == "single"
                 else "split: 2 APIs, pipeline/agency/perception workers, beat")
        lines = [f"chaos run: {cfg.events} events, broker {cfg.broker}, {shape}, "
                 f"LLM off ({'disabled' if cfg.llm_disabled else 'unreachable'}), logs in {self.log_dir}"]
        lines += [f"  SIGKILLed {', '.join(self.killed) or 'nothing'} at {self.killed_at_processed} "
                  f"processed events, broker stopped at {self.broker_stopped_at_processed} "
                  f"({self.events_posted_while_broker_down} events posted while it was down)"]
        if len(self.posted_per_api) > 1:
            lines.append("  events accepted per API: " + ", ".join(map(str, self.posted_per_api)))
        lines += ["  " + line for line in self.invariants.lines()]
        lines += ["  timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items())]
        if "first_post_to_quiet" in t and t["first_post_to_quiet"] > 0:
            lines.append(f"  throughput: {self.invariants.accepted / t['first_post_to_quiet']:.2f} "
                         "events/s through the chaos, first POST to quiet")
        found = self.violations()
        lines.append("RESULT: OK, every invariant holds" if not found
                     else "RESULT: FAILED\n" + "\n".join(f"  - {v}" for v in found))
        return "\n".join(lines)


def _city_with_webhooks(source: Path, url: str, target: Path) -> list[str]:
    """A copy of the city file whose every agency posts to ``url``; their codes."""
    data = yaml.safe_load(source.read_text())
    for agency in data["agencies"]:
        agency["webhook"] = {"url": f"{url}/hook/{agency['code']}", "secret_env": WEBHOOK_SECRET_ENV,
                             "timeout_s": 10}
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return [a["code"] for a in data["agencies"]]


def _child_env(cfg: ChaosConfig, *, database_url: str, broker_url: str, city_file: Path,
               data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM__", "CELERY__", "EMBEDDED__"))}
    env.update({
        "DATABASE_URL": database_url, "BROKER_URL": broker_url, "CITY_FILE": str(city_file),
        "LLM__BASE_URL": DOWN_LLM_URL, "LLM__TIMEOUT_S": "2", "LLM__MAX_RETRIES": "0",
        "CELERY__VISIBILITY_TIMEOUT_S": str(cfg.visibility_timeout_s),
        "CELERY__STALE_EVENT_AFTER_S": str(cfg.stale_event_after_s),
        "CELERY__SWEEP_INTERVAL_S": str(cfg.sweep_interval_s),
        "CELERY__WORKER_CONCURRENCY": str(cfg.concurrency),
        "EMBEDDED__DATA_DIR": str(data_dir), "HOST": "127.0.0.1", "PORT": str(port),
        "LOG_LEVEL": "warning", "CITYLOOP_CONFIG": "/nonexistent/cityloop.yaml",
        "PYTHONUNBUFFERED": "1", WEBHOOK_SECRET_ENV: "chaos-secret",
        **({"LLM__ENABLED": "false"} if cfg.llm_disabled else {}),
        # One pool process per core: torch's own thread pool in each would oversubscribe.
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
    })
    return env


@dataclass
class _Stack:
    """Everything the run started, stopped in reverse on exit."""

    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def push(self, fn: Callable[[], None]) -> None:
        self.cleanups.append(fn)

    def close(self) -> None:
        while self.cleanups:
            try:
                self.cleanups.pop()()
            except Exception as exc:  # noqa: BLE001  cleanup goes on; the cause is printed
                print(f"chaos cleanup: {type(exc).__name__}: {exc}", flush=True)


def run_chaos(cfg: ChaosConfig, say: Callable[[str], None] = print) -> ChaosReport:
    log_dir = cfg.log_dir or Path(tempfile.mkdtemp(prefix="cityloop-chaos-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = _Stack()
    try:
        return _Run(cfg, log_dir, stack, say).execute()
    finally:
        stack.close()


class _Run:
    def __init__(self, cfg: ChaosConfig, log_dir: Path, stack: _Stack, say: Callable[[str], None]) -> None:
        self.cfg, self.log_dir, self.stack, self.say = cfg, log_dir, stack, say
        self.timings: dict[str, float] = {}
        self.children: dict[str, Child] = {}
        self.report_extra: dict[str, int] = {}
        self.killed: list[str] = []
        self.victims: list[Child] = []

    def _layout(self, city_file: Path) -> topology.Topology:
        cfg = self.cfg
        if cfg.topology == "single":
            return topology.single(workers=cfg.workers, concurrency=cfg.concurrency, port=free_port())
        from dispatch.city.config import load_city

        return topology.split(agency_queues=load_city(city_file).queues(), concurrency=cfg.concurrency,
                              ports=(free_port(), free_port()))

    def _start_broker(self) -> Broker:
        try:
            broker = make_broker(self.cfg.broker, self.log_dir)
            self.stack.push(broker.stop)
            broker.start()
        except BrokerError as exc:
            raise ChaosError(str(exc)) from None
        return broker

    def _start_parts(self) -> tuple[Engine, Broker, WebhookReceiver | None, list[str] | None, Poster]:
        cfg, started = self.cfg, time.monotonic()
        db = ScratchDatabase(cfg.admin_url, f"cityloop_chaos_{os.getpid()}")
        database_url = db.create()
        self.stack.push(db.drop)
        engine = create_engine(database_url)
        self.stack.push(engine.dispose)
        broker = self._start_broker()
        city_file, agencies, receiver = cfg.city_file, None, None
        if cfg.webhook:
            receiver = WebhookReceiver().start()
            self.stack.push(receiver.stop)
            city_file = self.log_dir / "city-with-webhooks.yaml"
            agencies = _city_with_webhooks(cfg.city_file, receiver.url, city_file)
        layout = self._layout(city_file)
        for spec in layout.processes:
            env = _child_env(cfg, database_url=database_url, broker_url=broker.url, city_file=city_file,
                             data_dir=self.log_dir / "var", port=spec.port or 8000)
            self._child(spec.name, list(spec.args), env)
        urls = [f"http://127.0.0.1:{spec.port}" for spec in layout.apis]
        for spec, url in zip(layout.apis, urls, strict=True):
            wait_http(f"{url}/health", 120, check=self.children[spec.name].check)
        self.victims = [self.children[spec.name] for spec in layout.victims()]
        self.timings["setup"] = time.monotonic() - started
        poster = Poster(urls, event_bodies(cfg.events, str(os.getpid())), cfg.clients, cfg.backlog)
        self.stack.push(poster.stop)
        return engine, broker, receiver, agencies, poster

    def _child(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        child = Child(name, args, env, self.log_dir).start()
        self.children[name] = child
        self.stack.push(child.stop)
        return child

    def execute(self) -> ChaosReport:
        engine, broker, receiver, agencies, poster = self._start_parts()
        self.say(f"chaos: parts up in {self.timings['setup']:.1f} s (logs in {self.log_dir}); "
                 f"posting {self.cfg.events} events ...")
        incomplete = self._drive(engine, broker, poster, receiver)
        for child in self.children.values():
            child.stop()  # nothing changes while the invariants are counted
        keys, unkeyed = receiver.snapshot() if receiver is not None else (None, 0)
        invariants = check_invariants(engine, accepted_keys=poster.accepted,
                                      webhook_agencies=agencies, webhook_keys=keys,
                                      webhook_unkeyed=unkeyed)
        return ChaosReport(
            config=self.cfg, invariants=invariants, timings=self.timings, log_dir=self.log_dir,
            killed_at_processed=self.report_extra.get("killed_at", -1),
            broker_stopped_at_processed=self.report_extra.get("broker_at", -1),
            events_posted_while_broker_down=self.report_extra.get("posted_while_down", 0),
            killed=self.killed, posted_per_api=list(poster.per_api), incomplete=incomplete)

    def _drive(self, engine: Engine, broker: Broker, poster: Poster,
               receiver: WebhookReceiver | None) -> str:
        """Run the scenario until quiet; '' or why it stopped short."""
        cfg, n = self.cfg, self.cfg.events
        poster.start()
        t0 = poster.first_at
        killed = broker_done = False
        last, changed_at, quiet_since, said_at = (-1, -1, -1, -1), time.monotonic(), 0.0, 0.0
        while True:
            for child in self.children.values():
                child.check()
            if poster.error:
                raise ChaosError(poster.error)
            processed, tickets, delivered = progress(engine)
            hooks = len(receiver.snapshot()[0]) if receiver is not None else 0
            poster.processed = processed
            now = time.monotonic()
            if (processed, tickets, delivered, hooks) != last:
                last, changed_at = (processed, tickets, delivered, hooks), now
            if not killed and processed >= cfg.kill_at * n:
                killed = True
                self._kill_workers(processed, now - t0)
            elif killed and not broker_done and processed >= cfg.broker_stop_at * n:
                broker_done = True
                self._bounce_broker(broker, poster, processed, now - t0)
            if now - said_at >= 10:
                said_at = now
                self.say(f"  t={now - t0:6.1f} s posted {len(poster.accepted)}/{n} processed "
                         f"{processed} tickets {tickets} inbox deliveries {delivered} "
                         f"webhook keys {hooks} broker pending {broker.pending()}")
            posted_all = poster.done() and processed >= len(poster.accepted)
            if posted_all and self._complete(engine, broker, receiver):
                quiet_since = quiet_since or now
                if now - quiet_since >= cfg.quiet_s:
                    self.timings["post_all"] = poster.last_at - t0
                    self.timings["first_post_to_quiet"] = quiet_since - t0
                    return ""
            else:
                quiet_since = 0.0
            if now - changed_at > cfg.stall_s:
                self.timings["first_post_to_stall"] = now - t0
                return (f"INCOMPLETE: no progress for {cfg.stall_s:.0f} s (processed, tickets, "
                        f"inbox deliveries, webhook keys = {last})")
            time.sleep(0.5)

    def _complete(self, engine: Engine, broker: Broker, receiver: WebhookReceiver | None) -> bool:
        """Every event in an incident, every incident ticketed, every routed ticket in its
        inbox (and at the receiver), and nothing left on the broker."""
        now = counts(engine)
        done = (now["unprocessed"] == 0 and now["without_one_ticket"] == 0
                and now["inbox_not_once"] == 0)
        if done and receiver is not None:
            done = len(receiver.snapshot()[0]) >= now["tickets"] - now["triage"]
        return done and broker.pending() == 0

    def _kill_workers(self, processed: int, at: float) -> None:
        """SIGKILL one worker of each kind (whole process groups: lost hosts), then restart them."""
        names = ", ".join(v.name for v in self.victims)
        self.say(f"  t={at:6.1f} s SIGKILL {names} (whole process groups) at {processed} processed")
        for victim in self.victims:
            victim.kill()
            self.killed.append(victim.name)
        self.report_extra["killed_at"] = processed
        self.timings["worker_killed_at"] = at
        time.sleep(self.cfg.worker_down_s)
        for victim in self.victims:
            victim.start()

    def _bounce_broker(self, broker: Broker, poster: Poster, processed: int, at: float) -> None:
        self.say(f"  t={at:6.1f} s stopping the broker ({broker.kind}) at {processed} processed")
        before = len(poster.accepted)
        stopped = time.monotonic()
        broker.stop()
        self.report_extra["broker_at"] = processed
        self.timings["broker_stopped_at"] = at
        time.sleep(self.cfg.broker_down_s)
        try:
            broker.start()
        except BrokerError as exc:
            raise ChaosError(f"the broker did not come back: {exc}") from None
        self.timings["broker_down"] = time.monotonic() - stopped
        self.report_extra["posted_while_down"] = len(poster.accepted) - before
        self.say(f"  broker back after {self.timings['broker_down']:.1f} s; "
                 f"{self.report_extra['posted_while_down']} events were accepted meanwhile")
