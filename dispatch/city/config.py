"""The city in one YAML file: agencies, categories, districts and routing rules.

``load_city(path)`` validates everything and raises ``CityConfigError`` with every
problem found, each with its path in the file (``agencies[3].queue: ...``).
"""

from __future__ import annotations

import re
from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from dispatch.city.handling import (
    Escalation,
    Open311Target,
    Rechecks,
    RetryPolicy,
    SmtpSettings,
    check_escalation,
)
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


class Agency(_Strict):
    code: str = Field(pattern=CODE_RE)
    name: str = Field(min_length=1, max_length=200)
    queue: str = Field(pattern=QUEUE_RE)
    description: str = ""
    supervisor_email: str | None = None
    webhook: WebhookTarget | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    smtp: SmtpSettings | None = None  # overrides the city's ``smtp`` for this agency
    open311: Open311Target | None = None
    delivery: RetryPolicy = RetryPolicy()


class Category(_Strict):
    code: str = Field(pattern=CODE_RE)
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    default_agency: str | None = None
    priority: Priority
    sla_hours: float = Field(gt=0, le=24 * 365)
    detector_prompts: list[str] = Field(default_factory=list)
    # a candidate box needs this detector score; CLIP then checks it against the prompts
    # and these negatives ("a tree standing upright", "an empty street")
    detector_threshold: float = Field(default=0.3, gt=0, le=1)
    verify_negatives: list[str] = Field(default_factory=list, max_length=20)
    keywords: list[str] = Field(default_factory=list)
    open311_service_code: str = Field(min_length=1, max_length=40)


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


class District(_Strict):
    code: str
    name: str
    geometry: dict[str, Any]


class CityConfig(_Strict):
    city: CityInfo
    agencies: list[Agency] = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)
    districts: dict[str, Any]  # a GeoJSON FeatureCollection
    routing: Routing = Routing()
    fallback_category: str = "other"
    smtp: SmtpSettings | None = None
    escalation: Escalation | None = None
    rechecks: Rechecks | None = None
    cameras: list[CameraSpec] = Field(default_factory=list, max_length=1000)

    def camera(self, camera_id: str) -> CameraSpec | None:
        return next((c for c in self.cameras if c.id == camera_id), None)

    def smtp_for(self, agency: Agency) -> SmtpSettings | None:
        return agency.smtp or self.smtp

    def agency(self, code: str) -> Agency | None:
        return next((a for a in self.agencies if a.code == code), None)

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    @cached_property
    def district_shapes(self) -> list[tuple[District, BaseGeometry]]:
        out = []
        for feature in self.districts.get("features", []):
            props = feature.get("properties") or {}
            district = District(
                code=str(props["code"]), name=str(props.get("name", props["code"])),
                geometry=feature["geometry"],
            )
            out.append((district, shape(feature["geometry"])))
        return out

    def district_at(self, lat: float, lon: float) -> District | None:
        point = Point(lon, lat)  # GeoJSON order: x=lon, y=lat
        return next((d for d, geom in self.district_shapes if geom.covers(point)), None)

    def district_named_in(self, text: str) -> District | None:
        lowered = text.lower()
        for district, _geom in self.district_shapes:
            if re.search(rf"\b{re.escape(district.name.lower())}\b", lowered):
                return district
        return None

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
    for i, cat in enumerate(cfg.categories):
        if cat.default_agency is not None and cat.default_agency not in agencies:
            problems.append(f"categories[{i}].default_agency: unknown agency {cat.default_agency!r}"
                            f" (known: {', '.join(sorted(agencies))})")
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
    return problems + _check_delivery(cfg, categories) + _check_cameras(cfg, categories)


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
