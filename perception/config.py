"""A camera as the city YAML describes it: source, place, zones, masks, per-category overrides.

Every model is strict (``extra="forbid"``): a misspelt key is an error naming the key, and
each limit is in the field's message (``zones[0].polygon: a polygon needs at least 3 points``).
Polygons are in pixels of the camera's frame; the pipeline checks them against the real
frame size when the first frame arrives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import Polygon

from perception.types import Prompt

CATEGORY_RE = r"^[a-z][a-z0-9_]{1,40}$"
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
MAX_POLYGON_POINTS = 64
MAX_PIXEL = 16384

Point = tuple[int, int]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_polygon(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        raise ValueError("a polygon needs at least 3 points")
    if len(points) > MAX_POLYGON_POINTS:
        raise ValueError(f"a polygon has at most {MAX_POLYGON_POINTS} points")
    for x, y in points:
        if not (0 <= x <= MAX_PIXEL and 0 <= y <= MAX_PIXEL):
            raise ValueError(f"point ({x}, {y}) must lie within 0..{MAX_PIXEL} pixels")
    shape = Polygon(points)
    if shape.area < 1:
        raise ValueError("the polygon has no area")
    if not shape.is_valid:
        raise ValueError("the polygon crosses itself")
    return points


class Location(_Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Zone(_Strict):
    """An image region and the categories watched in it (none listed: every category)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,60}$")
    polygon: list[Point]
    categories: list[str] = Field(default_factory=list, max_length=50)

    _polygon = field_validator("polygon")(_check_polygon)

    @field_validator("categories")
    @classmethod
    def _codes(cls, codes: list[str]) -> list[str]:
        for code in codes:
            if not re.match(CATEGORY_RE, code):
                raise ValueError(f"category code {code!r} must match {CATEGORY_RE}")
        return codes

    def watches(self, category: str) -> bool:
        return not self.categories or category in self.categories


class Mask(_Strict):
    """An image region that is never looked at (a road with traffic, a screen, a clock)."""

    name: str = Field(default="mask", max_length=60)
    polygon: list[Point]

    _polygon = field_validator("polygon")(_check_polygon)


class CategoryOverride(_Strict):
    """This camera's own threshold and/or prompts for one category."""

    threshold: float | None = Field(default=None, gt=0, le=1)
    prompts: list[str] | None = Field(default=None, min_length=1, max_length=10)

    @field_validator("prompts")
    @classmethod
    def _texts(cls, prompts: list[str] | None) -> list[str] | None:
        for text in prompts or []:
            if not 1 <= len(text.strip()) <= 200:
                raise ValueError("a prompt has 1 to 200 characters")
        return prompts


class CameraSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,60}$")
    name: str = Field(min_length=1, max_length=120)
    source: str = Field(min_length=1, max_length=2000)
    location: Location
    detection_fps: float = Field(default=2.0, gt=0, le=60)
    zones: list[Zone] = Field(min_length=1, max_length=32)
    masks: list[Mask] = Field(default_factory=list, max_length=32)
    categories: dict[str, CategoryOverride] = Field(default_factory=dict)
    recheck_interval_s: float = Field(default=60.0, ge=1, le=86400)

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        if "\x00" in source or source != source.strip():
            raise ValueError("must not contain NUL or leading/trailing spaces")
        scheme = source.split("://", 1)[0].lower() if "://" in source else ""
        if scheme and scheme not in STREAM_SCHEMES:
            raise ValueError(f"URL scheme {scheme!r} is not one of {', '.join(STREAM_SCHEMES)}")
        return source

    @model_validator(mode="after")
    def _consistent(self) -> CameraSpec:
        names = [zone.name for zone in self.zones]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"zones: names must be unique, repeated: {', '.join(duplicates)}")
        for code in self.categories:
            if not re.match(CATEGORY_RE, code):
                raise ValueError(f"categories: code {code!r} must match {CATEGORY_RE}")
        return self

    @property
    def is_stream(self) -> bool:
        """A live URL (reconnects); otherwise a video file or a folder of images, told apart on disk."""
        return "://" in self.source

    def watched(self, categories: Sequence[str]) -> list[str]:
        """The given categories that at least one zone watches, in the given order."""
        return [code for code in categories if any(zone.watches(code) for zone in self.zones)]

    def prompts(self, base: Sequence[Prompt]) -> list[Prompt]:
        """The city's prompts with this camera's overrides applied, unwatched categories left out."""
        watched = set(self.watched([p.category for p in base]))
        out: list[Prompt] = []
        replaced: set[str] = set()
        for prompt in base:
            if prompt.category not in watched:
                continue
            override = self.categories.get(prompt.category)
            threshold = override.threshold if override and override.threshold else prompt.threshold
            if override and override.prompts:
                if prompt.category not in replaced:
                    replaced.add(prompt.category)
                    out.extend(Prompt(prompt.category, text, threshold) for text in override.prompts)
                continue
            out.append(Prompt(prompt.category, prompt.text, threshold))
        return out
