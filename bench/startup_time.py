"""Time from ``./dev up --demo`` on a fresh clone to "ready", and from ready to the first ticket.

    python bench/startup_time.py [--source PATH] [--worktree] [--keep] [--port N] [-v]

``git clone`` of the repository at ``--source`` (HEAD only: uncommitted work is not in the
clone; ``--worktree`` copies the working tree minus ``.gitignore``d paths instead) into a
temporary directory, then ``./dev up --demo`` there with ``DATABASE_URL``,
``BROKER_URL`` and every ``LLM__*`` variable unset, so PostgreSQL, redis and the llama.cpp
server are the embedded ones, and with ``PORT`` / ``EMBEDDED__LLM_PORT`` set to free ports.

The output is read line by line with a timestamp per line:

* ready_s: from the start of ``./dev`` to the launcher's banner "CityLoop is ready". On a
  fresh clone this includes ``./dev`` installing into the clone's own ``.venv``; the time
  to the launcher's first line ("cityloop: services") is reported separately as install_s,
  and the banner's own figure (seconds since the launcher started) as launcher_ready_s.
* first_ticket_s: from the banner to the first demo line "  ticket ..." (relayed by the
  launcher as "   demo |   ticket ...").

The llama-cpp-python wheel is built once into ``~/.cache/cityloop/wheels`` (or
``$CITYLOOP_WHEEL_CACHE``); the report says whether it was there before the run.

Then the launcher gets SIGTERM, and the check is that no process of the clone survives:
postgres, redis-server, llama_cpp.server, the celery worker/beat, the uvicorn API — any
process whose command line, executable or working directory lies in the clone. Survivors
are reported and then killed. The clone is deleted unless ``--keep``. Ratio last.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
READY = "CityLoop is ready"
SERVICES = "cityloop: services"
TICKET = re.compile(r"^\s*demo \|   ticket ")
BANNER_SECONDS = re.compile(r"CityLoop is ready \(([\d.]+) s from start\)")
KINDS = (("postgres", "postgres"), ("redis-server", "redis-server"),
         ("llama_cpp.server", "llama_cpp.server"), ("cityloop worker", "celery worker"),
         ("cityloop beat", "celery beat"), ("cityloop api", "uvicorn api"))
WORKTREE_SKIP = (".git", ".venv", "var", "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info",
                 "build", "dist", "test-artifacts", ".ruff_cache", ".mypy_cache")
UNSET = ("DATABASE_URL", "BROKER_URL", "CITYLOOP_CONFIG", "CITYLOOP_VENV", "VIRTUAL_ENV")


class BenchError(RuntimeError):
    pass


@dataclass
class Timeline:
    started: float
    install_s: float | None = None
    ready_s: float | None = None
    launcher_ready_s: float | None = None
    first_ticket_s: float | None = None
    lines: list[str] = field(default_factory=list)


def wheel_cache_warm(clone: Path) -> bool:
    version = re.search(r"^LLAMA_VERSION=(\S+)", (clone / "dev").read_text(), re.M)
    cache = Path(os.environ.get("CITYLOOP_WHEEL_CACHE", Path.home() / ".cache/cityloop/wheels"))
    pattern = f"llama_cpp_python-{version.group(1) if version else '*'}-*.whl"
    return any(cache.glob(pattern))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clone_repo(source: Path, into: Path, *, worktree: bool) -> Path:
    """``git clone`` of HEAD, or with ``worktree`` a copy of the files minus ignored ones."""
    target = into / "cityloop"
    if worktree:
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(*WORKTREE_SKIP))
    else:
        subprocess.run(["git", "clone", "--quiet", str(source), str(target)], check=True)
    if not (target / "dev").is_file():
        raise BenchError(f"{source} has no ./dev at HEAD (no commit yet?); "
                         "use --worktree to copy the working tree instead")
    return target


def launch_env(port: int, llm_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in UNSET and not k.startswith(("LLM__", "CELERY__", "EMBEDDED__"))}
    env.update(PORT=str(port), EMBEDDED__LLM_PORT=str(llm_port), PYTHONUNBUFFERED="1")
    return env


def _reader(stream: IO[bytes], lines: queue.Queue[tuple[float, str | None]]) -> None:
    for raw in iter(stream.readline, b""):
        lines.put((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))
    lines.put((time.monotonic(), None))


def follow(proc: subprocess.Popen[bytes], timeline: Timeline, *, ready_timeout_s: float,
           ticket_timeout_s: float, echo: bool) -> None:
    """Read the output until the first ticket, a timeout, or the end of the process."""
    lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    deadline = timeline.started + ready_timeout_s
    while timeline.first_ticket_s is None:
        try:
            at, line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            stage = "ready banner" if timeline.ready_s is None else "first ticket"
            raise BenchError(f"no {stage} within the time allowed") from None
        if line is None:
            raise BenchError(f"./dev exited with code {proc.wait()} before the first ticket")
        timeline.lines.append(line)
        if echo:
            print(f"    | {line}", flush=True)
        deadline = _observe(timeline, at, line, deadline, ticket_timeout_s)


def _observe(timeline: Timeline, at: float, line: str, deadline: float,
             ticket_timeout_s: float) -> float:
    elapsed = at - timeline.started
    if timeline.install_s is None and line.startswith(SERVICES):
        timeline.install_s = elapsed
    if timeline.ready_s is None and READY in line:
        timeline.ready_s = elapsed
        found = BANNER_SECONDS.search(line)
        timeline.launcher_ready_s = float(found.group(1)) if found else None
        return at + ticket_timeout_s
    if timeline.ready_s is not None and TICKET.match(line):
        timeline.first_ticket_s = elapsed - timeline.ready_s
    return deadline


def _proc_text(pid: str, name: str) -> str:
    try:
        if name in ("exe", "cwd"):
            return os.readlink(f"/proc/{pid}/{name}")
        raw = Path(f"/proc/{pid}/{name}").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def clone_processes(clone: Path) -> dict[int, str]:
    """Processes whose command line, executable or working directory lies in ``clone``."""
    me, where, found = os.getpid(), str(clone), {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        cmdline = _proc_text(pid, "cmdline")
        if int(pid) != me and any(where in s for s in (cmdline, _proc_text(pid, "exe"),
                                                       _proc_text(pid, "cwd"))):
            kind = next((label for key, label in KINDS if key in cmdline), "other")
            found[int(pid)] = f"{kind}: {cmdline.strip()[:160]}"
    return found


def stop_launcher(proc: subprocess.Popen[bytes], timeout_s: float) -> float:
    """SIGTERM the launcher (not its group: it must stop its children itself)."""
    started = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BenchError(f"the launcher did not exit within {timeout_s:.0f} s of SIGTERM") from None
    return time.monotonic() - started


def kill_everything(proc: subprocess.Popen[bytes], clone: Path) -> None:
    """SIGKILL the launcher's group and anything of the clone still alive."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in clone_processes(clone):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def report(timeline: Timeline, *, warm: bool, stop_s: float, survivors: dict[int, str]) -> None:
    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}"

    print(f"\nwheel cache for llama-cpp-python: {'warm' if warm else 'cold (built in this run)'}")
    print(f"install_s          {fmt(timeline.install_s):>8}   ./dev start -> launcher's first line")
    print(f"ready_s            {fmt(timeline.ready_s):>8}   ./dev start -> '{READY}'")
    print(f"launcher_ready_s   {fmt(timeline.launcher_ready_s):>8}   as the banner reports it")
    print(f"first_ticket_s     {fmt(timeline.first_ticket_s):>8}   ready -> first '  ticket ' line")
    print(f"stop_s             {stop_s:>8.1f}   SIGTERM -> launcher exit")
    print(f"survivors          {len(survivors):>8}")
    for pid, what in survivors.items():
        print(f"  pid {pid}  {what}")
    assert timeline.ready_s is not None and timeline.first_ticket_s is not None
    print(f"ratio first_ticket_s/ready_s = {timeline.first_ticket_s / timeline.ready_s:.4f}")


def run(args: argparse.Namespace, workdir: Path) -> int:
    clone = clone_repo(args.source.resolve(), workdir, worktree=args.worktree)
    warm = wheel_cache_warm(clone)
    port, llm_port = args.port or free_port(), free_port()
    print(f"clone {clone}; API port {port}; LLM port {llm_port}; wheel cache "
          f"{'warm' if warm else 'cold'}", flush=True)
    timeline = Timeline(started=time.monotonic())
    proc = subprocess.Popen(["./dev", "up", "--demo"], cwd=clone, env=launch_env(port, llm_port),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    stop_s, survivors = 0.0, dict[int, str]()
    try:
        follow(proc, timeline, ready_timeout_s=args.ready_timeout,
               ticket_timeout_s=args.ticket_timeout, echo=args.verbose)
        stop_s = stop_launcher(proc, timeout_s=60.0)
        time.sleep(1.0)
        survivors = clone_processes(clone)
    except BaseException:
        print("\n".join(f"    | {line}" for line in timeline.lines[-40:]), file=sys.stderr)
        raise
    finally:
        kill_everything(proc, clone)
    report(timeline, warm=warm, stop_s=stop_s, survivors=survivors)
    return 1 if survivors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT, help="repository to clone")
    parser.add_argument("--worktree", action="store_true",
                        help="copy the working tree (minus ignored files) instead of cloning HEAD")
    parser.add_argument("--keep", action="store_true", help="keep the clone (path is printed)")
    parser.add_argument("--port", type=int, help="API port (default: a free one)")
    parser.add_argument("--ready-timeout", type=float, default=1800.0,
                        help="seconds allowed from ./dev start to ready (install included)")
    parser.add_argument("--ticket-timeout", type=float, default=300.0,
                        help="seconds allowed from ready to the first ticket")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo ./dev's output")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="cityloop-startup-"))
    try:
        return run(args, workdir)
    except (BenchError, subprocess.CalledProcessError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; stopping ...", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if args.keep:
            print(f"clone kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
