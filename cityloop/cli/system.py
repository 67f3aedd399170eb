"""Run the system: ``up`` (everything), or its parts ``api``, ``worker``, ``beat``, ``migrate``; ``demo``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cityloop.cli.city import require_valid_city
from cityloop.cli.context import CommandFailed, exit_with, load, with_settings
from cityloop.settings import BUNDLED_CITIES, Settings


def metrics_folder(*, create: bool) -> None:
    """Make sure the folder of ``PROMETHEUS_MULTIPROC_DIR`` exists (the process's metrics are
    written there, summed over the host's processes). With ``create``, a worker that serves its
    own metrics gets a fresh folder when none is set: its pool processes write there."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder and create:
        import tempfile

        folder = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cityloop-metrics-")
    if folder:
        os.makedirs(folder, exist_ok=True)


@click.command()
@click.option("--demo", is_flag=True, help="Also create demo accounts and post sample events.")
@click.option("--city", metavar="NAME|FILE",
              help=f"A bundled city ({', '.join(BUNDLED_CITIES)}) or a city YAML file "
                   "(default: CITY_FILE, else riverton).")
def up(demo: bool, city: str | None) -> None:
    """Start the whole system (embedded servers for the URLs not set)."""
    from cityloop.launcher import run_up

    if city is not None:
        # the children (api, workers, demo) read their settings from the environment
        os.environ["CITY_FILE"] = str(city_path(city))
    exit_with(run_up(load(from_running_up=False), demo=demo))


def city_path(name: str) -> Path:
    """A bundled city's file by name, else ``name`` as a path; exits 2 when neither exists."""
    path = BUNDLED_CITIES.get(name) or Path(name)
    if not path.is_file():
        raise CommandFailed(f"--city: no bundled city and no file named {name!r} "
                            f"(bundled: {', '.join(BUNDLED_CITIES)})")
    return path.resolve()


@click.command()
@with_settings
def migrate(settings: Settings) -> int:
    """Apply the database migrations."""
    from cityloop.compose import dispatch_config
    from dispatch.core.db import migrate as apply_migrations

    apply_migrations(dispatch_config(settings).database_url)
    click.echo("database schema is at the latest migration")
    return 0


@click.command()
@click.option("-Q", "--queues", help="Comma-separated queue names (default: every queue).")
@click.option("-n", "--name", default="cityloop@%h", show_default=True, help="The worker's node name.")
@click.option("-c", "--concurrency", type=int, help="Worker processes (default: celery.worker_concurrency).")
@click.option("--metrics-port", type=int,
              help="Serve this worker's Prometheus metrics on this port (a host without a `cityloop api`).")
@with_settings
def worker(settings: Settings, queues: str | None, name: str, concurrency: int | None,
           metrics_port: int | None) -> int:
    """A Celery worker (every queue unless -Q)."""
    from celery.signals import worker_process_init

    from cityloop.compose import dispatch_config
    from dispatch.city.config import load_city
    from dispatch.core.celery_app import UNDERSTAND_QUEUE, all_queues, configure
    from dispatch.core.runtime import set_config, warm

    require_valid_city(settings)
    metrics_folder(create=metrics_port is not None)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        from dispatch.metrics.exposition import counted_registry

        start_http_server(metrics_port, addr=settings.host, registry=counted_registry())
    config = dispatch_config(settings).model_copy(update={"db_pre_ping": False})
    set_config(config)
    app = configure(config)
    processes = concurrency or config.worker_concurrency
    # torch (the embedder) starts a thread per core in every pool process: with as many
    # processes as cores they fight, and one embedding took 20x longer in the profile
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    consumed = queues or ",".join(all_queues(load_city(config.city_file)))
    # each pool process builds its runtime (and the embedder, for understanding) before its first task
    understands = UNDERSTAND_QUEUE in consumed.split(",")
    worker_process_init.connect(lambda **_: warm(embedder=understands), weak=False)
    argv = ["worker", "-Q", consumed, "-n", name,
            "--loglevel", settings.log_level, "--concurrency", str(processes)]
    app.worker_main(argv)
    return 0


@click.command()
@with_settings
def beat(settings: Settings) -> int:
    """The Celery beat scheduler (run exactly one)."""
    from cityloop.compose import dispatch_config
    from dispatch.core.celery_app import configure

    config = dispatch_config(settings)
    schedule = settings.embedded.data_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    configure(config).start(["beat", "--schedule", str(schedule), "--loglevel", settings.log_level])
    return 0


@click.command()
@with_settings
def api(settings: Settings) -> int:
    """The web app: JSON API, Open311, hotline and inbox pages."""
    import uvicorn

    from api.app import create_app
    from cityloop.compose import api_config

    require_valid_city(settings)
    metrics_folder(create=False)
    # proxy headers are the app's own business (ApiConfig.trusted_proxies): uvicorn's default
    # would believe X-Forwarded-For from 127.0.0.1
    uvicorn.run(create_app(api_config(settings)), host=settings.host, port=settings.port,
                log_level=settings.log_level, proxy_headers=False)
    return 0


@click.command()
@click.option("--url", help="Base URL of the running API (default: the running `cityloop up`'s).")
@click.option("--wait", type=float, default=300.0, show_default=True, help="Seconds to wait for tickets.")
@with_settings
def demo(settings: Settings, url: str | None, wait: float) -> int:
    """Create demo accounts and post sample events to a running system."""
    from cityloop.compose import dispatch_config
    from cityloop.demo import create_demo_accounts, load_sample_kb, run_demo, sample_events
    from cityloop.endpoints import endpoints_file, running
    from dispatch.city.config import load_city

    config = dispatch_config(settings)
    city = load_city(config.city_file)
    accounts = create_demo_accounts(config.database_url, city)
    added = load_sample_kb(config.database_url, config.city_file)
    click.echo(f"demo: {added} sample knowledge-base documents added for the hotline" if added
               else "demo: the hotline's sample knowledge base is already loaded (or none ships)")
    recorded = running(endpoints_file(settings))
    base = url or (recorded.api_url if recorded is not None and recorded.api_url else None)
    return run_demo(base or f"http://{settings.host}:{settings.port}", wait_s=wait, accounts=accounts,
                    events=sample_events(city))
