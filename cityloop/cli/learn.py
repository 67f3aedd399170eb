"""``cityloop learn train|status``: the learned category and agency models."""

from __future__ import annotations

from pathlib import Path

import click

from cityloop.cli.context import USAGE, CommandFailed, OrderedGroup, with_settings
from cityloop.cli.history import MAP_HELP, parse_map, session_factory
from cityloop.settings import Settings


@click.group(cls=OrderedGroup)
def learn() -> None:
    """Learned models: train them from the city's history and corrections, see their status."""


@learn.command()
@click.option("--city", "city_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The city file whose codes the models answer in (default: the configured CITY_FILE).")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Train from this file instead of the imported history.")
@click.option("--map", "columns", metavar="text=COL,...", help=MAP_HELP)
@click.option("--date-format", metavar="STRPTIME", help="The dates' format, when not a common one.")
@click.option("--kind", type=click.Choice(["category", "agency", "both"]), default="both", show_default=True)
@with_settings
def train(settings: Settings, city_file: Path | None, data: Path | None, columns: str | None,
          date_format: str | None, kind: str) -> int:
    """Fit the models, score them on a held-out slice, and promote each one that is not worse."""
    from dispatch.city.config import CityConfigError, load_city
    from dispatch.learning.flows import retrain
    from dispatch.learning.history_files import HistoryFileError
    from dispatch.learning.training import KINDS, TrainOutcome, examples_from_file

    try:
        city = load_city(city_file or settings.city_file)
        examples = (examples_from_file(city, data, parse_map(columns), date_format)
                    if data is not None else None)
    except (CityConfigError, HistoryFileError) as exc:
        raise CommandFailed(str(exc)) from None
    kinds = KINDS if kind == "both" else (kind,)
    with session_factory(settings) as factory:
        results = retrain(factory=factory, city=city, examples=examples, kinds=kinds,  # type: ignore[arg-type]
                          source=data.name if data is not None else "imported history")
    failed = False
    for name, outcome in results.items():
        if not isinstance(outcome, TrainOutcome):
            click.echo(f"{name}: not trained: {outcome}", err=True)
            failed = True
            continue
        before = ("first model" if outcome.previous_accuracy is None
                  else f"current model {100 * outcome.previous_accuracy:.1f}%")
        verdict = "promoted to current" if outcome.promoted else "kept as a candidate (worse than current)"
        click.echo(f"{name}: v{outcome.version} trained on {outcome.training_size} examples, "
                   f"{100 * outcome.accuracy:.1f}% on {outcome.holdout_size} held out ({before}): {verdict}")
    return USAGE if failed else 0


@learn.command()
@with_settings
def status(settings: Settings) -> int:
    """Every model version: kind, status, held-out accuracy, training size, date, source."""
    from dispatch.learning.training import model_history

    with session_factory(settings) as factory, factory() as db:
        records = model_history(db_session=db)
        if not records:
            click.echo("no learned models yet: `cityloop learn train`")
        for r in records:
            click.echo(f"{r.kind:<8} v{r.version:<3} {r.status:<9} {100 * r.accuracy:5.1f}%  "
                       f"trained on {r.training_size}, held out {r.holdout_size}  "
                       f"{r.trained_at:%Y-%m-%d %H:%M}  {r.source}")
    return 0
