"""The data a page's Leaflet map draws: the city's district outlines, the pins, and the tile
layer when one is configured (none by default: no external host is called)."""

from __future__ import annotations

from typing import Any

from shapely.geometry import mapping

from api.config import ApiConfig
from dispatch.city.config import CityConfig

LEAFLET_JS = "/static/leaflet-1.9.4.js"
LEAFLET_CSS = "/static/leaflet-1.9.4.css"
CHART_JS = "/static/chart-4.5.1.umd.min.js"


def _districts(city: CityConfig) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": district.name, "code": district.code},
         "geometry": mapping(geometry)} for district, geometry in city.district_shapes]}


def map_data(*, city: CityConfig, config: ApiConfig, pins: list[dict[str, object]]) -> dict[str, Any]:
    """Rendered with ``tojson`` into a ``<script type="application/json">``; the browser
    script puts every text into the popups as text, never as HTML."""
    return {"center": list(city.city.center), "districts": _districts(city), "pins": pins,
            "tiles": config.map_tile_url,
            "attribution": config.map_attribution}
