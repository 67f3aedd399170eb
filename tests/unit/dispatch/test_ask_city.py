"""The city file's layers (places a question can be near), the names a question may use, and
what the question parser is told of a city."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from shapely.geometry import Point

from dispatch.ask.places import grown
from dispatch.ask.vocabulary import vocabulary_of
from dispatch.city.config import CityConfigError, load_city, parse_city
from tests.helpers.config import ROOT, SAMPLE_CITY

CITIES = ROOT / "cityloop" / "cities"


@pytest.fixture()
def data() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(SAMPLE_CITY.read_text(encoding="utf-8")))


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(CityConfigError) as info:
        parse_city(data, source="broken.yaml")
    return info.value.problems


def test_the_sample_cities_have_schools_hospitals_and_parks() -> None:
    for name in ("riverton", "jiangcheng"):
        city = load_city(CITIES / f"{name}.yaml")
        assert [layer.name for layer in city.layers] == ["schools", "hospitals", "parks"]
        assert city.layer("parks") is not None and city.layer("parks").kind == "polygon"  # type: ignore[union-attr]
        # every place lies inside one of the city's districts
        for layer in city.layers:
            for place, geometry in layer.places:
                assert city.district_at(geometry.centroid.y, geometry.centroid.x), place.name


def test_city_files_without_layers_still_load(data: dict[str, Any]) -> None:
    for name in ("nyc", "sf"):
        assert load_city(CITIES / f"{name}.yaml").layers == []
    del data["layers"]
    assert parse_city(data).layers == []


def test_a_layer_of_the_wrong_geometry_names_its_path(data: dict[str, Any]) -> None:
    data["layers"][0]["features"]["features"][1]["geometry"] = {
        "type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    assert problems(data) == [
        "layers[0].features.features[1].geometry: a point layer needs a valid Point or MultiPoint"]


def test_a_radius_must_be_positive(data: dict[str, Any]) -> None:
    data["layers"][2]["default_radius_m"] = 0
    assert problems(data) == ["layers[2].default_radius_m: Input should be greater than 0"]


def test_layer_duplicates_and_empty_layers(data: dict[str, Any]) -> None:
    data["layers"][1]["name"] = "schools"
    data["layers"][2]["features"] = {"type": "FeatureCollection", "features": []}
    assert problems(data) == [
        "layers[1].name: duplicate layer name 'schools'",
        "layers[2].features.features: a layer needs at least one feature"]


def test_district_names_must_be_a_mapping(data: dict[str, Any]) -> None:
    data["districts"]["features"][0]["properties"]["names"] = ["北岸区"]
    assert problems(data) == [
        "districts.features[0].properties.names: must be a mapping of language to name"]


def test_the_parser_is_told_every_name_but_the_fallback_category() -> None:
    vocabulary = vocabulary_of(load_city(SAMPLE_CITY))
    terms = {t.code: t for t in vocabulary.categories}
    assert terms["other"].words == []  # "any other potholes" is no category
    assert {"fallen tree", "Fallen tree", "倒伏树木", "uprooted"} <= set(terms["fallen_tree"].words)
    districts = {t.code: t for t in vocabulary.districts}
    assert {"East Heights", "东高地区", "东区"} <= set(districts["east_heights"].words)
    schools = vocabulary.layer("schools")
    assert schools is not None and schools.default_radius_m == 300
    assert {"学校", "Lincoln Elementary", "林肯小学"} <= set(schools.words)
    assert vocabulary.timezone == "America/Chicago"
    assert vocabulary_of(load_city(SAMPLE_CITY)).layers  # a fresh load builds its own


def test_a_polygon_grows_by_the_radius_in_metres() -> None:
    park = load_city(SAMPLE_CITY).layer("parks")
    assert park is not None
    _place, polygon = park.places[0]  # Sycamore Park, its east edge at -93.560
    metres_per_degree_lon = 111_320 * 0.7478  # cos(41.565°)
    east = polygon.bounds[2]
    around = grown(polygon, 200)
    lat = polygon.centroid.y
    assert around.contains(Point(east + 150 / metres_per_degree_lon, lat))
    assert not around.contains(Point(east + 250 / metres_per_degree_lon, lat))
