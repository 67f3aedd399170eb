"""Places of the city that a question can be near: schools, hospitals, parks …

A layer is a GeoJSON FeatureCollection of points or polygons with a default radius, so that
"near schools" / "学校附近" becomes a radius query. Names in several languages and synonyms
are what a question may call the layer (and its features) by.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

LayerKind = Literal["point", "polygon"]
LAYER_NAME_RE = r"^[a-z][a-z0-9_]{1,40}$"
MAX_RADIUS_M = 50_000
_GEOMETRIES: dict[LayerKind, tuple[str, ...]] = {
    "point": ("Point", "MultiPoint"),
    "polygon": ("Polygon", "MultiPolygon"),
}

Names = dict[str, str]
"""A name per language code: ``{"en": "Schools", "zh": "学校"}``."""


class LayerFeature(BaseModel):
    """One place of a layer: its name(s) and its geometry (already checked)."""

    model_config = ConfigDict(frozen=True)

    name: str
    names: Names = Field(default_factory=dict)
    geometry: dict[str, Any]


class Layer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=LAYER_NAME_RE)
    kind: LayerKind
    default_radius_m: int = Field(gt=0, le=MAX_RADIUS_M)
    names: Names = Field(default_factory=dict)
    synonyms: list[str] = Field(default_factory=list, max_length=100)
    features: dict[str, Any]  # a GeoJSON FeatureCollection

    def label(self, language: str = "en") -> str:
        return self.names.get(language) or self.names.get("en") or self.name

    def terms(self) -> list[str]:
        """Every word a question may call this layer by."""
        return list(dict.fromkeys([self.name.replace("_", " "), *self.names.values(),
                                   *self.synonyms]))

    @cached_property
    def places(self) -> list[tuple[LayerFeature, BaseGeometry]]:
        out = []
        for i, feature in enumerate(self.features.get("features") or []):
            props = feature.get("properties") or {}
            names = {str(k): str(v) for k, v in (props.get("names") or {}).items()}
            name = str(props.get("name") or names.get("en") or f"{self.name} {i + 1}")
            out.append((LayerFeature(name=name, names=names, geometry=feature["geometry"]),
                        shape(feature["geometry"])))
        return out


def check_layers(layers: list[Layer]) -> list[str]:
    """Problems with the layers' names and geometries, each with its path in the file."""
    problems: list[str] = []
    seen: set[str] = set()
    for i, layer in enumerate(layers):
        where = f"layers[{i}]"
        if layer.name in seen:
            problems.append(f"{where}.name: duplicate layer name {layer.name!r}")
        seen.add(layer.name)
        problems.extend(_check_features(where, layer))
    return problems


def _check_features(where: str, layer: Layer) -> list[str]:
    if layer.features.get("type") != "FeatureCollection":
        return [f"{where}.features.type: must be 'FeatureCollection' (GeoJSON)"]
    features = layer.features.get("features") or []
    if not features:
        return [f"{where}.features.features: a layer needs at least one feature"]
    problems = []
    for j, feature in enumerate(features):
        at = f"{where}.features.features[{j}]"
        names = (feature.get("properties") or {}).get("names")
        if names is not None and not isinstance(names, dict):
            problems.append(f"{at}.properties.names: must be a mapping of language to name")
        try:
            geometry = shape(feature.get("geometry") or {})
        except Exception as exc:  # shapely raises several kinds for a malformed geometry
            problems.append(f"{at}.geometry: not a GeoJSON geometry ({exc})")
            continue
        allowed = _GEOMETRIES[layer.kind]
        if geometry.geom_type not in allowed or not geometry.is_valid or geometry.is_empty:
            problems.append(f"{at}.geometry: a {layer.kind} layer needs a valid "
                            f"{' or '.join(allowed)}")
    return problems
