"""``cityloop eval routing|classify|hotline|detect``: offline evaluations against public data.

Public data sets are not shipped: their paths are required arguments (``--data``). The one
labelled set that ships, for the sample city, is package data (``cityloop/evaluation/data``).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cityloop.cli.context import USAGE, CommandFailed, OrderedGroup, with_settings
from cityloop.evaluation.detect import BACKENDS
from cityloop.settings import BUNDLED_CITIES, SAMPLE_CITY, Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from agents.embeddings import Embedder
    from dispatch.city.config import CityConfig

EMBEDDED_TIMEOUT_S = 180.0
_DATA = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("eval", cls=OrderedGroup)
def evaluations() -> None:
    """Offline evaluations against public data, per category."""


def _say(text: str) -> None:
    click.echo(text, err=True)


@contextlib.contextmanager
def chat_model(settings: Settings) -> Iterator[BaseChatModel | None]:
    """The configured LLM (or a running `cityloop up`'s), else an embedded llama.cpp server meanwhile."""
    from agents import build_chat_model

    if settings.llm.base_url:
        yield build_chat_model(settings.llm)
        return
    from cityloop.localservices import LlamaServer, free_port

    log_file = settings.embedded.data_dir / "eval-llama.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    _say(f"starting the embedded llama.cpp server (log: {log_file}) ...")
    with LlamaServer(free_port(), threads=settings.embedded.llm_threads, log_file=log_file) as server:
        # A 135M model on shared CPU cores re-reads an ~800-token prompt per call.
        yield build_chat_model(settings.llm.model_copy(update={
            "base_url": server.url, "model": server.alias,
            "timeout_s": max(settings.llm.timeout_s, EMBEDDED_TIMEOUT_S)}))


def _chat_if(wanted: bool, settings: Settings) -> contextlib.AbstractContextManager[BaseChatModel | None]:
    return chat_model(settings) if wanted else contextlib.nullcontext(None)


def _city_file(name: str) -> Path:
    return BUNDLED_CITIES.get(name) or Path(name)


def _embedder(leave_out: bool) -> Embedder | None:
    from agents.embeddings import SentenceTransformerEmbedder, embeddings_available

    if leave_out:
        return None
    if not embeddings_available():
        _say("embeddings left out: install the 'ml' extra")
        return None
    return SentenceTransformerEmbedder()


def _every(step: int, template: str) -> Callable[[int], None]:
    return lambda done: _say(template.format(done)) if done % step == 0 else None


def _check_counts(**counts: tuple[int | None, int]) -> None:
    """Each option ``name=(value, minimum)`` must be at least its minimum (when given)."""
    for name, (value, minimum) in counts.items():
        if value is not None and value < minimum:
            raise CommandFailed(f"--{name.replace('_', '-')} must be {minimum} or more")


@evaluations.command()
@click.option("--city", default="nyc", show_default=True, help="nyc, sf, or a city YAML file.")
@click.option("--data", type=_DATA, required=True,
              help="A NYC or SF 311 CSV extract (e.g. ../shared/data/311/nyc311_sample.csv).")
@click.option("--llm-sample", type=int, default=60, show_default=True, metavar="N",
              help="Rows no rule decides, scored with the LLM (~1 s a call).")
@click.option("--no-llm", is_flag=True, help="Score the rules only.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the LLM sample.")
@click.option("--map", "columns", metavar="text=COL,agency=COL,category=COL,...",
              help="Any layout: which columns hold the text, the agency, the request type, the date, "
                   "the district (by name) or lat/lon (default: the NYC or SF 311 layout).")
@click.option("--date-format", metavar="STRPTIME", help="The dates' format, when not a common one.")
@click.option("--split", type=click.Choice(["hash", "time"]),
              help="Hold out the newest fifth (time) or a fixed fifth (hash); adds the learned router.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
@with_settings
def routing(settings: Settings, city: str, data: Path, llm_sample: int, no_llm: bool, seed: int,
            columns: str | None, date_format: str | None, split: str | None, as_json: bool) -> int:
    """Agreement with real 311 routing, per category, against a ceiling."""
    import json

    from cityloop.evaluation import routing as ev
    from dispatch.city.config import CityConfigError, load_city
    from dispatch.learning.history_files import ColumnMap

    _check_counts(llm_sample=(llm_sample, 0))
    city_file = _city_file(city)
    try:
        config = load_city(city_file)
        loaded = (ev.load_mapped_cases(data, config, ColumnMap.parse(columns), date_format) if columns
                  else ev.load_cases(data, config))
    except (CityConfigError, ev.EvaluationError, ValueError) as exc:
        click.echo(str(exc), err=True)
        return USAGE
    if split is not None:
        from cityloop.evaluation.split import routing_report

        try:
            held = routing_report(config, loaded.cases, split=split,  # type: ignore[arg-type]
                                  left_out=loaded.bad_rows + sum(loaded.unmapped.values()))
        except ev.EvaluationError as exc:
            raise CommandFailed(str(exc)) from None
        click.echo(json.dumps({**held.as_json(), "agreement": round(held.accuracy["rules"], 4)})
                   if as_json else f"{config.city.name}: {data}\n{held.format()}")
        return 0
    if as_json:
        report = ev.evaluate(config, loaded)
        total = report.total
        click.echo(json.dumps({"rows": total.n, "agreement": round(total.rules / total.n, 4) if total.n else 0,
                               "ceiling": round(total.ceiling / total.n, 4) if total.n else 0,
                               "no_rule": total.no_rule, "left_out": sum(report.unmapped.values()),
                               "bad_rows": report.bad_rows}))
        return 0
    use_llm = not no_llm and llm_sample > 0
    sample = None
    if use_llm:  # drawn from the rows no rule decides; elsewhere the LLM is never asked
        sample = ev.sample_indices(ev.undecided_indices(config, loaded.cases), llm_sample, seed)
    with _chat_if(use_llm, settings) as chat:
        chooser = ev.llm_chooser(chat, config) if chat is not None else None
        report = ev.evaluate(config, loaded, chooser=chooser, sample=sample,
                             progress=_every(10, "  {} LLM calls ..."))
    click.echo(f"{config.city.name}: {data} ({len(loaded.cases)} rows scored; "
               f"LLM sample {len(sample or ())}, seed {seed})")
    click.echo(ev.format_report(report))
    return 0


@evaluations.command()
@click.option("--city", default=SAMPLE_CITY.stem, show_default=True,
              help=f"{', '.join(BUNDLED_CITIES)}, or a city YAML file.")
@click.option("--data", type=_DATA, help="A labelled CSV (text,category) or a NYC/SF 311 extract; "
              f"default for {SAMPLE_CITY.stem}: its bundled labelled set.")
@click.option("--llm-sample", type=int, metavar="N",
              help="311 extracts: random rows scored with the LLM alone and combined (default 40). "
                   "A labelled set asks the LLM about every row; 0 leaves it out.")
@click.option("--no-llm", is_flag=True, help="Leave the LLM out.")
@click.option("--no-embeddings", is_flag=True, help="Leave embeddings out.")
@click.option("--limit", type=int, metavar="N", help="Score only the first N rows.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the LLM sample.")
@click.option("--map", "columns", metavar="text=COL,category=COL",
              help="The columns of a labelled CSV that hold the text and the category.")
@click.option("--off-topic", "off_topic", type=_DATA, metavar="CSV",
              help="Texts that are not city problems (a 'question' column) for the false-positive rate; "
                   "default: the bundled English and Chinese set.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
@click.option("--split", type=click.Choice(["hash", "time"]),
              help="With --map text=COL,category=COL[,created_at=COL]: hold out the newest fifth (time) "
                   "or a fixed fifth (hash) and add the learned model to the methods.")
@click.option("--date-format", metavar="STRPTIME", help="The dates' format, when not a common one.")
@with_settings
def classify(settings: Settings, city: str, data: Path | None, llm_sample: int | None, no_llm: bool,
             no_embeddings: bool, limit: int | None, seed: int, columns: str | None,
             off_topic: Path | None, as_json: bool, split: str | None, date_format: str | None) -> int:
    """Category accuracy: keywords, embeddings, the LLM, all combined.

    A labelled CSV (text,category) is scored row by row; a NYC or SF 311 extract takes its
    truth from the request types, scoring the LLM on a random sample (--llm-sample).
    """
    from cityloop.evaluation.classifier import DATA_FILE, EvaluationError, is_labelled, parse_map
    from cityloop.evaluation.hotline import OFF_TOPIC_FILE, load_questions
    from dispatch.city.config import CityConfigError, load_city

    _check_counts(llm_sample=(llm_sample, 0), limit=(limit, 1))
    city_file = _city_file(city)
    if data is None and city_file.resolve() != SAMPLE_CITY:
        raise CommandFailed(f"--data is required for {city}: a labelled CSV (text,category) or a 311 extract")
    data = data or DATA_FILE
    try:
        config = load_city(city_file)
    except CityConfigError as exc:
        click.echo(str(exc), err=True)
        return USAGE
    use_llm = not no_llm and llm_sample != 0
    embedder = _embedder(no_embeddings)
    if split is not None:
        return _classify_split(config, data, columns=columns, split=split, date_format=date_format,
                               embedder=embedder, as_json=as_json)
    try:
        mapping = parse_map(columns)
        unrelated = load_questions(off_topic or OFF_TOPIC_FILE)
    except (EvaluationError, ValueError) as exc:
        raise CommandFailed(str(exc)) from None
    if columns or is_labelled(data):
        return _classify_labelled(settings, config, data, embedder=embedder, use_llm=use_llm, limit=limit,
                                  columns=mapping, off_topic=unrelated, as_json=as_json)
    return _classify_311(settings, config, data, embedder=embedder, sample_size=40 if llm_sample is None
                         else llm_sample, use_llm=use_llm, limit=limit, seed=seed, off_topic=unrelated,
                         as_json=as_json)


def _classify_split(config: CityConfig, data: Path, *, columns: str | None, split: str,
                    date_format: str | None, embedder: Embedder | None, as_json: bool) -> int:
    import json

    from cityloop.evaluation import split as ev
    from cityloop.evaluation.routing import EvaluationError
    from dispatch.learning.history_files import ColumnMap

    if columns is None:
        raise CommandFailed("--split needs --map text=COL,category=COL[,created_at=COL]")
    try:
        rows, left_out = ev.load_labelled(data, config, ColumnMap.parse(columns), date_format)
        report = ev.classify_report(config, rows, split=split, left_out=left_out,  # type: ignore[arg-type]
                                    embedder=embedder)
    except (EvaluationError, ValueError) as exc:
        raise CommandFailed(str(exc)) from None
    click.echo(json.dumps(report.as_json()) if as_json else f"{config.city.name}: {data}\n{report.format()}")
    return 0


def _classify_labelled(settings: Settings, config: CityConfig, data: Path, *, embedder: Embedder | None,
                       use_llm: bool, limit: int | None, columns: dict[str, str], off_topic: list[str],
                       as_json: bool) -> int:
    import json

    from cityloop.evaluation import classifier as ev
    from dispatch.incidents.flows import category_specs

    try:
        rows = ev.load_labelled(data, config, columns)[:limit]
    except ev.EvaluationError as exc:
        click.echo(str(exc), err=True)
        return USAGE
    categories = category_specs(config)
    with _chat_if(use_llm, settings) as chat:
        report = ev.evaluate(rows, categories=categories, fallback=config.fallback_category,
                             embedder=embedder, chat=chat,
                             progress=_every(20, f"  {{}}/{len(rows)} rows ..."))
        ev.score_off_topic(report, off_topic, categories=categories, fallback=config.fallback_category,
                           embedder=embedder, chat=chat)
    if embedder is not None:
        report.embedding_calibration = ev.calibrate_embedding(
            rows, off_topic, categories=categories, fallback=config.fallback_category, embedder=embedder)
    if as_json:
        click.echo(json.dumps(ev.as_json(report)))
        return 0
    click.echo(f"{config.city.name}: {data} ({len(rows)} labelled texts, {len(off_topic)} off-topic)")
    click.echo(ev.format_report(report))
    return 0


def _classify_311(settings: Settings, config: CityConfig, data: Path, *, embedder: Embedder | None,
                  sample_size: int, use_llm: bool, limit: int | None, seed: int, off_topic: list[str],
                  as_json: bool) -> int:
    import json

    from cityloop.evaluation import classifier as labelled
    from cityloop.evaluation import classify311 as ev
    from dispatch.incidents.flows import category_specs

    categories = category_specs(config)
    try:
        loaded = ev.load_requests(data, categories, config.fallback_category, limit=limit)
    except ev.EvaluationError as exc:
        click.echo(str(exc), err=True)
        return USAGE
    sample = ev.draw_sample(len(loaded.requests), sample_size, seed) if use_llm else None
    with _chat_if(use_llm, settings) as chat:
        report = ev.evaluate(loaded, categories=categories, fallback=config.fallback_category,
                             embedder=embedder, chat=chat, sample=sample,
                             progress=_every(10, f"  {{}}/{len(sample or ())} sampled rows ..."))
    unrelated = labelled.ClassifierReport(methods=("keywords", "embeddings", "combined")
                                          if embedder is not None else ("keywords", "combined"))
    labelled.score_off_topic(unrelated, off_topic, categories=categories, fallback=config.fallback_category,
                             embedder=embedder, chat=None)
    rates = labelled.off_topic_false_positive(unrelated)
    if as_json:
        click.echo(json.dumps({"report": ev.format_report(report), "off_topic_false_positive": rates.get("combined"),
                               "off_topic_false_positive_by_method": rates}))
        return 0
    layout = loaded.layout
    click.echo(f"{config.city.name}: {data} ({len(loaded.requests)} rows scored; truth from "
               f"{'+'.join(layout.type_columns)}, text from {'+'.join(layout.text_columns)}; "
               f"LLM sample {report.sample_size if use_llm else 0}, seed {seed})")
    click.echo(ev.format_report(report))
    click.echo(f"off-topic texts given a category ({len(off_topic)}, without the LLM): "
               + ", ".join(f"{m} {rate:.3f}" for m, rate in rates.items()))
    return 0


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """The configured database (or a running `cityloop up`'s), else an embedded one in a temporary folder."""
    if settings.database_url:
        yield settings.sqlalchemy_url
        return
    from cityloop.localservices import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="cityloop-eval-") as tmp, \
            EmbeddedPostgres(Path(tmp) / "pg", database="eval") as pg:
        yield pg.url


@evaluations.command()
@click.option("--data", type=_DATA, required=True,
              help="A Q&A CSV (sourceName, sourceUrl, question, answer), "
                   "e.g. ../shared/data/faq/us_gov_faq_dev.csv.")
@click.option("--llm-sample", type=int, default=30, show_default=True, metavar="N",
              help="Questions whose citation the LLM chooses (0 skips the LLM).")
@click.option("--off-topic", "off_topic", type=_DATA, metavar="CSV",
              help="Questions with no answer in the data (a 'question' column), for the abstention "
                   "figures; the bundled English and Chinese set: cityloop/evaluation/data/off_topic.csv.")
@click.option("--off-topic-language", "off_topic_language", metavar="LANG",
              help="Only the off-topic questions whose 'language' column is LANG (en, zh).")
@click.option("--experiments", is_flag=True, help="Also run the retrieval experiments (in process).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the LLM sample.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
@with_settings
def hotline(settings: Settings, data: Path, llm_sample: int, off_topic: Path | None,
            off_topic_language: str | None, experiments: bool, seed: int, as_json: bool) -> int:
    """Recall@k of the right answer (full-text, vector, hybrid, BM25), the shown text, abstention."""
    import json

    from agents import model_name
    from agents.embeddings import shared_embedder
    from cityloop.evaluation import hotline as ev

    _check_counts(llm_sample=(llm_sample, 0))
    docs, cases = ev.load(data)
    try:
        unanswerable = ev.load_questions(off_topic, off_topic_language) if off_topic else None
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None
    embedder = shared_embedder()
    with _database(settings) as url, ev.scratch_session(url) as session, \
            _chat_if(llm_sample > 0, settings) as chat:
        report = ev.evaluate(db_session=session, docs=docs, cases=cases, embedder=embedder,
                             chat=chat, llm_sample=llm_sample, seed=seed, off_topic=unanswerable,
                             progress=lambda line: _say(f"  {line}"))
    if experiments:
        from cityloop.evaluation.retrieval import experiments as run_experiments

        report.experiments = run_experiments(docs, cases, embedder, progress=lambda line: _say(f"  {line}"))
    if as_json:
        click.echo(json.dumps(ev.as_json(report)))
        return 0
    click.echo(f"{data.name}: embeddings all-MiniLM-L6-v2; LLM sample {report.llm_sample}, seed {seed}")
    click.echo(ev.format_report(report, model=model_name(chat) if chat is not None else "no LLM"))
    return 0


@evaluations.command()
@click.option("--data", type=_DATA, help="Report texts: a NYC or SF 311 extract, or a CSV with text,category"
              "[,address][,expected_flags]; default: the bundled adversarial set.")
@click.option("--city", help=f"{', '.join(BUNDLED_CITIES)}, or a city YAML file (default: nyc or sf for "
              f"their 311 extracts, else {SAMPLE_CITY.stem}).")
@click.option("--llm-sample", type=int, default=20, show_default=True, metavar="N",
              help="Rows written up by the LLM (0: only the flags and the checkers).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the LLM sample.")
@click.option("--no-embeddings", is_flag=True, help="Leave the similarity checker out.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
@with_settings
def writeup(settings: Settings, data: Path | None, city: str | None, llm_sample: int, seed: int,
            no_embeddings: bool, as_json: bool) -> int:
    """Write-ups checked: sentences dropped, LLM titles kept, unsupported words, flags."""
    import json

    from cityloop.evaluation import writeup as ev
    from dispatch.city.config import CityConfigError, load_city

    _check_counts(llm_sample=(llm_sample, 0))
    data = data or ev.ADVERSARIAL_FILE
    try:
        probe = load_city(_city_file(city or SAMPLE_CITY.stem))
        rows, layout = ev.load_reports(data, probe)
        config = load_city(_city_file(city or {"nyc311": "nyc", "sf311": "sf"}.get(layout, SAMPLE_CITY.stem)))
        if config is not probe:
            rows, layout = ev.load_reports(data, config)
    except (CityConfigError, ev.EvaluationError) as exc:
        click.echo(str(exc), err=True)
        return USAGE
    sample = ev.draw_sample(len(rows), llm_sample, seed)
    with _chat_if(llm_sample > 0, settings) as chat:
        report = ev.evaluate(rows, config, chat=chat, sample=sample, source=layout,
                             progress=_every(5, f"  {{}}/{len(sample)} write-ups ..."))
        if chat is not None:
            from agents import model_name

            report.model = model_name(chat)
    report.checkers = ev.compare_checkers(ev.load_sentences(), load_city(SAMPLE_CITY), _embedder(no_embeddings))
    if as_json:
        click.echo(json.dumps(ev.as_json(report)))
        return 0
    click.echo(f"{config.city.name}: {data} ({len(rows)} rows, {layout}; LLM sample {len(sample)}, seed {seed})")
    click.echo(ev.format_report(report))
    return 0


@evaluations.command()
@click.option("--images", required=True, type=click.Path(path_type=Path), help="Folder of images.")
@click.option("--labels", required=True, type=click.Path(path_type=Path),
              help="Folder of YOLO label files (same stems as the images).")
@click.option("--classes", type=click.Path(path_type=Path),
              help="YOLO data.yaml with 'names' (default: data.yaml beside the folders).")
@click.option("--backend", type=click.Choice(BACKENDS), default="owlv2", show_default=True)
@click.option("--tiny", is_flag=True,
              help="A tiny random-weight model instead of real weights (meaningless accuracy).")
@click.option("--prompt", "prompts", multiple=True, metavar="CLASS=TEXT",
              help="Detector text for a class (default: the class name in lower case).")
@click.option("--threshold", type=float, default=0.05, show_default=True, help="Score threshold.")
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--limit", type=int, help="Evaluate the first N images only.")
@click.option("--models-dir", type=click.Path(path_type=Path),
              help="Models directory (default $CITYLOOP_MODELS_DIR or ~/.cache/cityloop/models).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 ...")
def detect(images: Path, labels: Path, classes: Path | None, backend: str, tiny: bool,
           prompts: tuple[str, ...], threshold: float, batch_size: int, limit: int | None,
           models_dir: Path | None, device: str) -> None:
    """AP@0.5 of a detector on YOLO-format labelled images."""
    from cityloop.cli.models import models_dir as default_models_dir
    from cityloop.evaluation.detect import RANDOM_WEIGHTS_NOTE, open_detector, prompts_for, score
    from perception import evaluation as ev
    from perception.types import WeightsMissing

    if not 0.0 <= threshold <= 1.0:
        raise CommandFailed(f"--threshold: {threshold} is outside 0..1")
    if batch_size < 1 or (limit is not None and limit < 1):
        raise CommandFailed("--batch-size and --limit must be 1 or more")
    if not labels.is_dir():
        raise CommandFailed(f"--labels: {labels} is not a directory")
    try:
        class_names = ev.read_class_names(classes or images.parent / "data.yaml")
        class_prompts = prompts_for(class_names, prompts, threshold)
        found = list(ev.iter_images(images))[:limit]
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None
    if not found:
        raise CommandFailed(f"--images: no images ({', '.join(ev.IMAGE_SUFFIXES)}) in {images}")
    if tiny:
        click.echo(RANDOM_WEIGHTS_NOTE)
    try:
        with open_detector(backend, tiny=tiny, models_root=default_models_dir(models_dir), device=device,
                           batch_size=batch_size) as detector:
            report = score(detector, images=found, labels_dir=labels, class_names=class_names,
                           prompts=class_prompts, batch_size=batch_size)
    except WeightsMissing as exc:
        raise CommandFailed(f"{exc}\n  (or run with --tiny to check the evaluation end to end on random "
                            "weights)", 1) from None
    except ev.LabelError as exc:
        raise CommandFailed(str(exc)) from None
    click.echo(f"{detector.name} on {len(found)} images from {images} (prompts: "
               + ", ".join(f"{p.category}={p.text!r}" for p in class_prompts) + ")")
    click.echo(ev.format_report(report))
    if tiny:
        click.echo(RANDOM_WEIGHTS_NOTE)


@evaluations.command("classify-heldout")
@click.option("--city", required=True, help=f"{', '.join(BUNDLED_CITIES)}, or a city YAML file.")
@click.option("--data", type=_DATA, required=True,
              help="A labelled CSV, e.g. ../shared/data/zh/gov_messages_by_domain.csv.")
@click.option("--map", "columns", metavar="text=COL,category=COL",
              help="The columns that hold the text and the category (a code, name or other-language name).")
@click.option("--no-embeddings", is_flag=True, help="Leave embeddings out.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
@with_settings
def classify_heldout(settings: Settings, city: str, data: Path, columns: str | None, no_embeddings: bool,
                     as_json: bool) -> int:
    """Accuracy per method on the odd-numbered rows; the even-numbered rows train the learned model."""
    import json

    from cityloop.evaluation import heldout as ev
    from cityloop.evaluation.classifier import EvaluationError, parse_map
    from dispatch.city.config import CityConfigError, load_city
    from dispatch.incidents.flows import category_specs

    try:
        config = load_city(_city_file(city))
        mapping = parse_map(columns)
        embedder = None
        if not no_embeddings:
            from agents.embeddings import SentenceTransformerEmbedder, embeddings_available

            if embeddings_available():
                embedder = SentenceTransformerEmbedder.from_config(settings.embeddings)
        report = ev.evaluate(data, config, text_col=mapping["text"], label_col=mapping["category"],
                             categories=category_specs(config), embedder=embedder)
    except (CityConfigError, EvaluationError) as exc:
        raise CommandFailed(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False))
        return 0
    click.echo(f"{config.city.name}: {data} (train {report.train} even rows, scored {report.test} odd rows)")
    for method, share in sorted(report.accuracy().items(), key=lambda pair: -pair[1]):
        click.echo(f"  {method:<24}{share:.3f}")
    click.echo(f"combined decided by: {dict(report.combined_decided_by)}; embedder: {report.embedder} "
               f"(reads these texts: {report.embeddings_read_the_texts})")
    click.echo(f"left out (label names no category): {sum(report.left_out.values())}")
    return 0


@evaluations.command()
@click.option("--data", type=_DATA, help="A CSV (text, attack, expected_flags); default: the "
                                         "bundled Chinese set, cityloop/evaluation/data/manipulation_zh.csv.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
def manipulation(data: Path | None, as_json: bool) -> int:
    """Whether the safety flags catch manipulation (prompt injection, priority and routing
    demands, hidden by full-width or zero-width characters or in Traditional Chinese), against
    flagging nothing and the same rules on the raw text."""
    import json

    from cityloop.evaluation import manipulation as ev

    rows = ev.load(data or ev.MANIPULATION_FILE)
    results = ev.evaluate(rows)
    if as_json:
        click.echo(json.dumps({name: s.as_json() for name, s in results.items()}, ensure_ascii=False))
        return 0
    click.echo(ev.format_report(results))
    return 0
