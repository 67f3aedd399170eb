"""``cityloop frigate run``: the bridge from a Frigate NVR's MQTT events to camera events."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

import click

from cityloop.cli.city import require_valid_city
from cityloop.cli.context import CommandFailed, OrderedGroup, with_settings
from cityloop.settings import Settings

log = logging.getLogger(__name__)


@click.group(cls=OrderedGroup)
def frigate() -> None:
    """Frigate NVR events over MQTT (the city file's frigate: block)."""


@frigate.command()
@with_settings
def run(settings: Settings) -> int:
    """Subscribe to Frigate's events and make camera events of them, until stopped."""
    from cityloop.compose import dispatch_config
    from dispatch.cameras.frigate import FrigateBridge
    from dispatch.city.config import load_city
    from dispatch.core.celery_app import configure
    from dispatch.core.db import make_engine, make_session_factory
    from dispatch.core.mqtt import MqttConfigError
    from dispatch.core.runtime import set_config

    require_valid_city(settings)
    config = dispatch_config(settings)
    city = load_city(config.city_file)
    if city.frigate is None:
        raise CommandFailed(f"{config.city_file} has no 'frigate:' block (see README, Frigate)")
    set_config(config)
    configure(config)
    engine = make_engine(config.database_url, pool_size=2)
    try:
        bridge = FrigateBridge(factory=make_session_factory(engine), city=city, settings=city.frigate,
                               env=os.environ, max_image_bytes=config.max_image_bytes)
    except MqttConfigError as exc:
        raise CommandFailed(f"frigate.url: {exc}") from None
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    click.echo(f"frigate bridge: {bridge.topic} on {bridge.to.host}:{bridge.to.port} -> "
               f"{len(city.frigate.cameras)} camera(s), {len(city.frigate.labels)} label(s)")
    try:
        bridge.run(stop)
    finally:
        engine.dispose()
    click.echo(f"frigate bridge: stopped after {bridge.stats.received} message(s): {bridge.stats.outcomes}")
    return 0
