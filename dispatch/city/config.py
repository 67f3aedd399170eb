"""The city in one YAML file: agencies, categories, districts and routing rules.

``load_city(path)`` validates everything and raises ``CityConfigError`` with every
problem found, each with its path in the file (``agencies[3].queue: ...``).
"""

from __future__ import annotations

import re
from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from agents.text import keywords_in
from dispatch.city.handling import (
    Escalation,
    Open311Target,
    Rechecks,
    RetryPolicy,
    SmtpSettings,
    check_escalation,
)
from dispatch.city.integrations import FrigateSettings, MqttSettings, check_integrations
from dispatch.city.layers import Layer, Names, check_layers
from perception.config import CameraSpec

Priority = Literal["low", "medium", "high", "critical"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CODE_RE = r"^[a-z][a-z0-9_]{1,40}$"
QUEUE_RE = r"^[a-z][a-z0-9_.-]{1,60}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CityInfo(_Strict):
    name: str = Field(min_length=1, max_length=120)
    timezone: str = "UTC"
    center: tuple[float, float] = (0.0, 0.0)
    # the language of the city's pages, documents and demo ("en", "zh"); a user's own
    # setting and the browser's Accept-Language come before it
    language: str = Field(default="en", pattern=r"^[a-z]{2}(?:[_-][A-Za-z]{2,4})?$")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except Exception as exc:  # ZoneInfoNotFoundError, ValueError
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value


class WebhookTarget(_Strict):
    """Where an agency's webhook lives; the signing secret is read from ``secret_env``."""

    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)
    secret_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]{0,100}$")
    timeout_s: float = Field(default=10.0, gt=0, le=120)


def _default_from_code(data: Any, field: str) -> Any:
    """``field`` left out of a mapping with a ``code`` takes the code (queue, Open311 service code)."""
    if isinstance(data, dict) and data.get(field) is None and isinstance(data.get("code"), str):
        return {**data, field: data["code"]}
    return data


class Agency(_Strict):
    code: str = Field(pattern=CODE_RE)
    name: str = Field(min_length=1, max_length=200)
    queue: str = Field(pattern=QUEUE_RE)  # default: the code
    # the names the city's records use for this agency (exact, any case; "DPW*" a prefix)
    aliases: list[str] = Field(default_factory=list, max_length=500)
    description: str = ""
    supervisor_email: str | None = None
    webhook: WebhookTarget | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    smtp: SmtpSettings | None = None  # overrides the city's ``smtp`` for this agency
    open311: Open311Target | None = None
    delivery: RetryPolicy = RetryPolicy()
    names: Names = Field(default_factory=dict)  # per language, for questions ("ask")
    synonyms: list[str] = Field(default_factory=list, max_length=100)

    _queue_default = model_validator(mode="before")(lambda data: _default_from_code(data, "queue"))

    def answers_to(self, name: str) -> bool:
        """Whether a record's agency name means this agency: code, name or an alias."""
        wanted = name.strip().casefold()
        for alias in (self.code, self.name, *self.aliases):
            folded = alias.strip().casefold()
            if folded == wanted or (folded.endswith("*") and wanted.startswith(folded[:-1])):
                return True
        return False


class Category(_Strict):
    code: str = Field(pattern=CODE_RE)
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    # the agency that takes the category's tickets when no routing rule matches
    default_agency: str | None = None
    priority: Priority = "medium"
    sla_hours: float = Field(default=72.0, gt=0, le=24 * 365)
    detector_prompts: list[str] = Field(default_factory=list)
    # a candidate box needs this detector score; CLIP then checks it against the prompts
    # and these negatives ("a tree standing upright", "an empty street")
    detector_threshold: float = Field(default=0.3, gt=0, le=1)
    verify_negatives: list[str] = Field(default_factory=list, max_length=20)
    keywords: list[str] = Field(default_factory=list)
    open311_service_code: str = Field(min_length=1, max_length=40)  # default: the code
    # the request types of the city's records that are exactly this category
    service_types: list[str] = Field(default_factory=list, max_length=2000)
    # The standard actions a crew takes; a write-up recommends one of them (the first by
    # default), never free text. None listed: a generic "inspect the site" action.
    actions: list[Annotated[str, Field(min_length=3, max_length=160)]] = Field(
        default_factory=list, max_length=12)
    # what a question ("ask") may call the category, besides its name and keywords
    names: Names = Field(default_factory=dict)
    synonyms: list[str] = Field(default_factory=list, max_length=100)
    # the broader category this one belongs to (a 12345 centre's first-level class, e.g.
    # 占道经营 under 城建): an answer of this category counts for that one in evaluations
    group: str | None = None

    _service_code_default = model_validator(mode="before")(
        lambda data: _default_from_code(data, "open311_service_code"))


class HourWindow(_Strict):
    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # wraps midnight


class RoutingRule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,60}$")
    agency: str
    categories: list[str] = Field(default_factory=list)
    districts: list[str] = Field(default_factory=list)
    weekdays: list[Weekday] = Field(default_factory=list)
    hours: HourWindow | None = None
    keywords: list[str] = Field(default_factory=list)


class Routing(_Strict):
    rules: list[RoutingRule] = Field(default_factory=list)
    llm_confidence_threshold: float = Field(default=0.6, ge=0, le=1)
    max_rejections: int = Field(default=2, ge=1, le=10)
    # A category chosen by the LLM alone (no hint, no keyword) is flagged for a dispatcher
    # to confirm. Turn off once the served model is measured to be reliable.
    review_llm_only_categories: bool = True
    # Ask the LLM for a category when keywords and embeddings do not decide. Off by default:
    # measured with SmolLM2-135M it lowers accuracy from 90% to 79% (`cityloop eval
    # classifier`). Turn on for a larger served model once the same evaluation says it helps.
    classify_with_llm: bool = False


class Workflow(_Strict):
    """Steps of a ticket's life beyond the usual ones."""

    # 回访: after "resolved" the citizen is called back and rates the handling
    # (satisfied / basically satisfied / dissatisfied); dissatisfied reopens the ticket.
    callback: bool = False


class District(_Strict):
    code: str
    name: str
    geometry: dict[str, Any] | None  # None: known by name only
    names: Names = Field(default_factory=dict)  # from the feature's properties
    synonyms: list[str] = Field(default_factory=list)


class AskSettings(_Strict):
    """Questions in plain words (``/ask``)."""

    # Parse questions with the LLM (schema-constrained), the rules parser as the fallback.
    # Off by default: turn on for a capable served model once `cityloop eval ask --llm`
    # says it beats the rules.
    parse_with_llm: bool = False


class CityConfig(_Strict):
    city: CityInfo
    agencies: list[Agency] = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)
    # a GeoJSON FeatureCollection (a feature's geometry may be null: a district known by name),
    # or a list of {code, name, polygon: [[lon, lat], ...] (optional), names, synonyms}
    districts: dict[str, Any] = Field(default_factory=lambda: {"type": "FeatureCollection", "features": []})
    routing: Routing = Routing()
    fallback_category: str = "other"
    smtp: SmtpSettings | None = None
    escalation: Escalation | None = None
    rechecks: Rechecks | None = None
    cameras: list[CameraSpec] = Field(default_factory=list, max_length=1000)
    layers: list[Layer] = Field(default_factory=list, max_length=100)
    ask: AskSettings = AskSettings()
    workflow: Workflow = Workflow()
    mqtt: MqttSettings | None = None  # ticket routings published for other systems
    frigate: FrigateSettings | None = None  # Frigate NVR events as camera events

    @field_validator("districts", mode="before")
    @classmethod
    def _district_list(cls, value: Any) -> Any:
        return _districts_as_features(value) if isinstance(value, list) else value

    def camera(self, camera_id: str) -> CameraSpec | None:
        return next((c for c in self.cameras if c.id == camera_id), None)

    def layer(self, name: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.name == name), None)

    def smtp_for(self, agency: Agency) -> SmtpSettings | None:
        return agency.smtp or self.smtp

    def agency(self, code: str) -> Agency | None:
        return next((a for a in self.agencies if a.code == code), None)

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    @cached_property
    def district_list(self) -> list[District]:
        """Every district, with a polygon or known by name only."""
        out = []
        for feature in self.districts.get("features", []):
            props = feature.get("properties") or {}
            out.append(District(
                code=str(props["code"]), name=str(props.get("name", props["code"])),
                geometry=feature.get("geometry"),
                names={str(k): str(v) for k, v in (props.get("names") or {}).items()},
                synonyms=[str(s) for s in props.get("synonyms") or []],
            ))
        return out

    @cached_property
    def district_shapes(self) -> list[tuple[District, BaseGeometry]]:
        """The districts that have a polygon, with it."""
        return [(d, shape(d.geometry)) for d in self.district_list if d.geometry is not None]

    def district_by_name(self, name: str) -> District | None:
        """The district a record names: its code, name, a name in another language or a synonym."""
        wanted = name.strip().casefold()
        return next((d for d in self.district_list
                     if wanted in {n.strip().casefold() for n in (d.code, d.name, *d.names.values(),
                                                                   *d.synonyms)}), None)

    def agency_for_name(self, name: str) -> str | None:
        """The code of the agency a record's agency name means (code, name or alias)."""
        return next((a.code for a in self.agencies if a.answers_to(name)), None)

    def category_for_type(self, request_type: str) -> str | None:
        """The category whose ``service_types`` hold a record's request type: as written, else
        in any case. Records may hold two types that differ only in case (NYC's "PLUMBING",
        an HPD type, and "Plumbing", a DOB one): each keeps its own category; where only the
        case differs from every listed type, the first category listing it wins."""
        wanted = request_type.strip()
        exact, folded = self._service_types
        return exact.get(wanted) or folded.get(wanted.casefold())

    @cached_property
    def _service_types(self) -> tuple[dict[str, str], dict[str, str]]:
        exact: dict[str, str] = {}
        folded: dict[str, str] = {}
        for category in self.categories:
            for kind in category.service_types:
                exact.setdefault(kind.strip(), category.code)
                folded.setdefault(kind.strip().casefold(), category.code)
        return exact, folded

    def district_at(self, lat: float, lon: float) -> District | None:
        point = Point(lon, lat)  # GeoJSON order: x=lon, y=lat
        return next((d for d, geom in self.district_shapes if geom.covers(point)), None)

    def district_named_in(self, text: str) -> District | None:
        """The district whose name, name in another language or synonym occurs in ``text``
        ("老城区" inside "老城区解放路有棵树倒了"); the longest name found wins."""
        best: tuple[int, District] | None = None
        for district in self.district_list:
            names = [district.name, *district.names.values(), *district.synonyms]
            for name in keywords_in(text, names):
                if best is None or len(name) > best[0]:
                    best = (len(name), district)
        return best[1] if best is not None else None

    def queues(self) -> list[str]:
        return [a.queue for a in self.agencies]


class CityConfigError(Exception):
    """Every problem found in a city file, each with its path in the file."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _duplicates(items: list[str]) -> set[str]:
    seen: set[str] = set()
    return {x for x in items if x in seen or seen.add(x)}  # type: ignore[func-returns-value]


def _districts_as_features(items: list[Any]) -> dict[str, Any]:
    """The list form of ``districts`` as a FeatureCollection (a polygon's ring is [[lon, lat], ...])."""
    features: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            features.append({"type": "Feature", "properties": {}, "geometry": None})
            continue
        polygon = item.get("polygon")
        properties = {k: v for k, v in item.items() if k != "polygon"}
        geometry = {"type": "Polygon", "coordinates": [polygon]} if polygon is not None else None
        features.append({"type": "Feature", "properties": properties, "geometry": geometry})
    return {"type": "FeatureCollection", "features": features}


def _check_districts(collection: dict[str, Any]) -> tuple[list[str], set[str]]:
    problems: list[str] = []
    codes: set[str] = set()
    if collection.get("type") != "FeatureCollection":
        return ["districts.type: must be 'FeatureCollection' (GeoJSON)"], codes
    for i, feature in enumerate(collection.get("features") or []):
        where = f"districts.features[{i}]"
        code = (feature.get("properties") or {}).get("code")
        if not isinstance(code, str) or not re.match(CODE_RE, code):
            problems.append(f"{where}.properties.code: required, lowercase code like 'north_bank'")
            continue
        if code in codes:
            problems.append(f"{where}.properties.code: duplicate district code {code!r}")
        codes.add(code)
        props = feature.get("properties") or {}
        if not isinstance(props.get("names") or {}, dict):
            problems.append(f"{where}.properties.names: must be a mapping of language to name")
        if not isinstance(props.get("synonyms") or [], list):
            problems.append(f"{where}.properties.synonyms: must be a list of names")
        if feature.get("geometry") is None:  # a district known by its name only
            continue
        try:
            geom = shape(feature.get("geometry") or {})
        except Exception as exc:
            problems.append(f"{where}.geometry: not a GeoJSON geometry ({exc})")
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon") or not geom.is_valid:
            problems.append(f"{where}.geometry: must be a valid Polygon or MultiPolygon")
    return problems, codes


def _cross_check(cfg: CityConfig) -> list[str]:
    problems, district_codes = _check_districts(cfg.districts)
    agencies = {a.code for a in cfg.agencies}
    categories = {c.code for c in cfg.categories}
    for field, values in (
        ("code", [a.code for a in cfg.agencies]), ("queue", [a.queue for a in cfg.agencies]),
    ):
        for dup in sorted(_duplicates(values)):
            i = values.index(dup, values.index(dup) + 1)
            problems.append(f"agencies[{i}].{field}: duplicate {field} {dup!r}")
    codes = [c.code for c in cfg.categories]
    services = [c.open311_service_code for c in cfg.categories]
    for field, values in (("code", codes), ("open311_service_code", services)):
        for dup in sorted(_duplicates(values)):
            i = values.index(dup, values.index(dup) + 1)
            problems.append(f"categories[{i}].{field}: duplicate {field} {dup!r}")
    listed: dict[str, str] = {}
    for i, cat in enumerate(cfg.categories):
        for j, kind in enumerate(cat.service_types):
            first = listed.setdefault(kind.strip(), cat.code)
            if first != cat.code:
                problems.append(f"categories[{i}].service_types[{j}]: {kind.strip()!r} is already a "
                                f"service type of {first!r}; a request type maps to one category")
    for i, cat in enumerate(cfg.categories):
        if cat.default_agency is not None and cat.default_agency not in agencies:
            problems.append(f"categories[{i}].default_agency: unknown agency {cat.default_agency!r}"
                            f" (known: {', '.join(sorted(agencies))})")
    for i, cat in enumerate(cfg.categories):
        if cat.group is not None and cat.group not in categories:
            problems.append(f"categories[{i}].group: unknown category {cat.group!r}")
    if cfg.fallback_category not in categories:
        problems.append(f"fallback_category: unknown category {cfg.fallback_category!r}")
    for i, rule in enumerate(cfg.routing.rules):
        where = f"routing.rules[{i}]"
        if rule.agency not in agencies:
            problems.append(f"{where}.agency: unknown agency {rule.agency!r}")
        for j, code in enumerate(rule.categories):
            if code not in categories:
                problems.append(f"{where}.categories[{j}]: unknown category {code!r}")
        for j, code in enumerate(rule.districts):
            if code not in district_codes:
                problems.append(f"{where}.districts[{j}]: unknown district {code!r}")
    for dup in sorted(_duplicates([r.id for r in cfg.routing.rules])):
        problems.append(f"routing.rules: duplicate rule id {dup!r}")
    return (problems + _check_delivery(cfg, categories) + _check_cameras(cfg, categories)
            + check_layers(cfg.layers) + check_integrations(cfg))


def _check_cameras(cfg: CityConfig, categories: set[str]) -> list[str]:
    problems = [f"cameras: duplicate camera id {dup!r}"
                for dup in sorted(_duplicates([c.id for c in cfg.cameras]))]
    for i, camera in enumerate(cfg.cameras):
        for j, zone in enumerate(camera.zones):
            for k, code in enumerate(zone.categories):
                if code not in categories:
                    problems.append(f"cameras[{i}].zones[{j}].categories[{k}]: unknown category {code!r}")
        for code in sorted(set(camera.categories) - categories):
            problems.append(f"cameras[{i}].categories.{code}: unknown category {code!r}")
    return problems


def _check_delivery(cfg: CityConfig, categories: set[str]) -> list[str]:
    problems = check_escalation(cfg.escalation)
    for i, agency in enumerate(cfg.agencies):
        if agency.email and cfg.smtp_for(agency) is None:
            problems.append(f"agencies[{i}].email: needs SMTP settings (top-level 'smtp:' or "
                            f"'agencies[{i}].smtp:')")
        for code in sorted(set(agency.open311.service_codes if agency.open311 else ()) - categories):
            problems.append(f"agencies[{i}].open311.service_codes.{code}: unknown category {code!r}")
    return problems


def parse_city(data: object, *, source: str = "<city>") -> CityConfig:
    if not isinstance(data, dict):
        raise CityConfigError(source, ["(top level): must be a mapping"])
    try:
        cfg = CityConfig.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_loc_to_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise CityConfigError(source, problems) from None
    problems = _cross_check(cfg)
    if problems:
        raise CityConfigError(source, problems)
    return cfg


def load_city(path: Path | str) -> CityConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CityConfigError(str(path), [f"(file): cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise CityConfigError(str(path), [f"{where}: invalid YAML: {exc}"]) from None
    return parse_city(data, source=str(path))
