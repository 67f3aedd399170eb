"""Chaos run against real parts: a killed worker and a restarted broker lose nothing.

    .venv/bin/python scripts/chaos.py --events 5000 [--broker redis|rabbitmq] [--topology single|split]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), and /usr/bin/redis-server or
Debian's rabbitmq-server. The run owns a scratch database (cityloop_chaos_<pid>, dropped at
the end) and its own broker on free ports, its data in the log directory: a redis-server
with an append-only file, or a RabbitMQ node (quorum queues, publisher confirms). With the
LLM unreachable it starts

- ``single``: the API, ``--workers`` workers on every queue and beat; or
- ``split`` (a city across hosts): two APIs (events alternate between them), one worker on
  the pipeline.* queues, one on the agency.* queues, one on perception.clips, and beat,

posts the events, SIGKILLs a worker (in ``split`` one of each kind) and restarts it, stops
and restarts the broker, waits until quiet and checks every invariant. Exit 0 when all
hold, 1 when one does not, 2 when the run could not be carried out.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityloop.chaos import ChaosConfig, ChaosError, run_chaos  # noqa: E402


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    defaults = ChaosConfig()
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency,
                        help="pool processes per worker")
    parser.add_argument("--clients", type=int, default=defaults.clients, help="posting threads")
    parser.add_argument("--backlog", type=int, default=defaults.backlog,
                        help="events posted at most this far ahead of the processed ones")
    parser.add_argument("--broker-down", type=float, default=defaults.broker_down_s, metavar="S")
    parser.add_argument("--stall", type=float, default=defaults.stall_s, metavar="S",
                        help="give up after this many seconds without progress")
    parser.add_argument("--no-webhook", action="store_true",
                        help="no webhook on the agencies (inbox delivery only)")
    parser.add_argument("--llm-disabled", action="store_true",
                        help="no LLM configured (the batched rules-only path) instead of an unreachable one")
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default=defaults.broker)
    parser.add_argument("--topology", choices=("single", "split"), default=defaults.topology)
    parser.add_argument("--log-dir", type=Path, help="where the logs go (default: a temp dir)")
    args = parser.parse_args()
    if args.events < 10 or args.workers < 2 or args.concurrency < 1 or args.clients < 1:
        parser.error("need --events >= 10, --workers >= 2, --concurrency >= 1, --clients >= 1")
    cfg = ChaosConfig(events=args.events, workers=args.workers, concurrency=args.concurrency,
                      clients=args.clients, backlog=args.backlog, broker_down_s=args.broker_down,
                      stall_s=args.stall, webhook=not args.no_webhook, llm_disabled=args.llm_disabled,
                      broker=args.broker,
                      topology=args.topology, log_dir=args.log_dir)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        report = run_chaos(cfg, say=lambda line: print(line, flush=True))
    except ChaosError as exc:
        print(f"chaos run could not be carried out: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc or 'SIGINT'}); everything started was stopped", file=sys.stderr)
        return 130
    print(report.format(), flush=True)
    return 1 if report.violations() else 0


if __name__ == "__main__":
    sys.exit(main())
