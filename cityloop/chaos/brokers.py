"""The brokers a chaos or topology run owns, each stopped and started mid-run like a real one:
a ``redis-server`` with an append-only file, or a RabbitMQ node of its own.

Both run on free ports with their data in the run's folder, so a run never touches the
Redis or RabbitMQ on 127.0.0.1's standard ports that other programs use.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal, Protocol

import redis

from cityloop.localservices import free_port, spawn_group, stop_groups

REDIS_SERVER = Path("/usr/bin/redis-server")
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")  # Debian's package; /usr/sbin's wrappers su to rabbitmq
UNACKED_KEY = "unacked"  # kombu's hash of messages a worker holds but has not acknowledged
# Celery's own queues: remote-control replies and events, never work
_NOT_WORK = ("pidbox", "celeryev", "reply.celery")
BrokerKind = Literal["redis", "rabbitmq"]


class BrokerError(RuntimeError):
    """The broker could not be started."""


class Broker(Protocol):
    kind: BrokerKind

    @property
    def url(self) -> str: ...

    def start(self, timeout_s: float = 60.0) -> None: ...

    def stop(self) -> None: ...

    def pending(self) -> int | None:
        """Messages queued or held unacknowledged by a worker; None while the broker is down."""
        ...


class RedisBroker:
    """``redis-server`` on a free TCP port with ``appendonly yes`` in ``data_dir``.

    Every write is fsynced (``appendfsync always``), so a stop and a start on the same
    directory give back every message that was queued.
    """

    kind: BrokerKind = "redis"

    def __init__(self, data_dir: Path, executable: Path = REDIS_SERVER) -> None:
        if not executable.exists():
            raise BrokerError(f"{executable} not found: the run needs a redis-server binary")
        self.data_dir = data_dir
        self.executable = executable
        self.port = free_port()
        self.log_path = data_dir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._proc = spawn_group([
            str(self.executable), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--daemonize", "no", "--logfile", str(self.log_path),
        ])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"redis-server exited with {self._proc.returncode}; see {self.log_path}")
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                if self.client().ping():
                    return
            time.sleep(0.1)
        raise BrokerError(f"redis-server did not answer within {timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM: redis-server flushes its append-only file and exits."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_groups([proc], grace_s=30.0)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def pending(self) -> int | None:
        try:
            with self.client() as client:
                keys = [k for k in client.scan_iter(count=1000) if client.type(k) == b"list"]
                queued = sum(int(client.llen(k)) for k in keys)
                return queued + int(client.hlen(UNACKED_KEY))
        except redis.RedisError:
            return None


class RabbitBroker:
    """A RabbitMQ node of its own (Debian's ``rabbitmq-server``), its database, logs and
    Erlang cookie in ``data_dir``, AMQP and the management API on free loopback ports.

    ``stop`` shuts the node down (``rabbitmqctl stop``: connections drop, unacknowledged
    messages go back to their queues); ``start`` boots it again on the same database, where
    the durable quorum queues and their persistent messages are waiting.
    """

    kind: BrokerKind = "rabbitmq"

    def __init__(self, data_dir: Path, bin_dir: Path = RABBITMQ_BIN) -> None:
        if not (bin_dir / "rabbitmq-server").exists():
            raise BrokerError(f"{bin_dir / 'rabbitmq-server'} not found: install Debian's rabbitmq-server")
        self.data_dir = data_dir
        self.bin_dir = bin_dir
        self.port, self.dist_port, self.http_port = free_port(), free_port(), free_port()
        self.node = f"cityloop-{os.getpid()}-{self.port}@localhost"
        self.log_path = data_dir / "rabbitmq.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _env(self) -> dict[str, str]:
        d = self.data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": str(d),  # the node's and rabbitmqctl's Erlang cookie
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"), "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"), "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "plugins"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"), "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        })
        return env

    def _write_config(self) -> None:
        d = self.data_dir
        d.mkdir(parents=True, exist_ok=True)
        (d / "rabbitmq-env.conf").write_text("")
        (d / "plugins").write_text("[rabbitmq_management].\n")
        (d / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {self.port}\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.http_port}\n"
            "loopback_users = none\n"
            "collect_statistics_interval = 500\n")  # pending() reads fresh counts

    def start(self, timeout_s: float = 90.0) -> None:
        self._write_config()
        with self.log_path.open("ab") as log:
            self._proc = spawn_group([str(self.bin_dir / "rabbitmq-server")], env=self._env(), stdout=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"rabbitmq-server exited with {self._proc.returncode}; see {self.log_path}")
            if self._queues() is not None:
                return
            time.sleep(0.3)
        raise BrokerError(f"RabbitMQ did not answer within {timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run([str(self.bin_dir / "rabbitmqctl"), "-n", self.node, "stop"], env=self._env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
        stop_groups([proc], grace_s=30.0)

    def _queues(self) -> list[dict[str, object]] | None:
        request = urllib.request.Request(f"{self.management_url}/api/queues")
        request.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                found: list[dict[str, object]] = json.load(reply)
                return found
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def pending(self) -> int | None:
        """Ready plus unacknowledged messages on every work queue, delayed retries included."""
        queues = self._queues()
        if queues is None:
            return None
        return sum(int(str(q.get("messages", 0) or 0)) for q in queues
                   if not any(mark in str(q.get("name", "")) for mark in _NOT_WORK))


def make_broker(kind: BrokerKind, data_dir: Path) -> Broker:
    if kind == "rabbitmq":
        return RabbitBroker(data_dir / "rabbitmq")
    return RedisBroker(data_dir / "redis")
