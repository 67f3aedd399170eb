"""Property-based: the parsers of files a city hands us (the city file, knowledge base files,
history imports) either read them or refuse them with their own error, whatever the bytes
(issue 16). Bounded: a few hundred examples each, no deadline."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.city.config import CityConfig, CityConfigError, load_city, parse_city
from dispatch.core.errors import InvalidField
from dispatch.hotline.parse import ParsedDocument, parse_html, parse_markdown, parse_path
from dispatch.learning.history_files import (
    BadRow,
    ColumnMap,
    HistoryFileError,
    HistoryRow,
    read_history,
)
from tests.helpers.config import SAMPLE_CITY

pytestmark = pytest.mark.slow
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
SAMPLE: dict[str, Any] = yaml.safe_load(SAMPLE_CITY.read_text(encoding="utf-8"))

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


SAMPLE_PATHS = _paths(SAMPLE)[1:]


@FUZZ
@given(where=st.sampled_from(SAMPLE_PATHS), value=values)
def test_a_city_file_with_any_value_anywhere_loads_or_names_its_problems(
        where: tuple[Any, ...], value: Any) -> None:
    data = copy.deepcopy(SAMPLE)
    node = data
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
    try:
        assert isinstance(parse_city(data), CityConfig)
    except CityConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and ":" in p for p in exc.problems)


@FUZZ
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=300).map(
    lambda b: b.decode("utf-8", "replace"))))
def test_any_city_file_text_loads_or_names_its_problems(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "city.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_city(path)
        except CityConfigError as exc:
            assert exc.problems


@FUZZ
@given(text=st.text(max_size=2000))
def test_any_markdown_or_html_becomes_bounded_chunks(text: str) -> None:
    for document in (parse_markdown(text, source="x.md"), parse_html(text, source="x.html")):
        assert isinstance(document, ParsedDocument)
        assert all(chunk.strip() for chunk in document.chunks)


KB_SUFFIXES = (".md", ".html", ".txt", ".csv", ".pdf", ".doc")


@FUZZ
@given(suffix=st.sampled_from(KB_SUFFIXES), content=st.binary(max_size=600),
       header=st.sampled_from(["", "question,answer\n", "Question,Answer,sourceUrl\n"]))
def test_any_knowledge_base_file_is_read_or_refused(suffix: str, content: bytes,
                                                    header: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"faq{suffix}"
        path.write_bytes(header.encode() + content)
        try:
            documents = parse_path(path)
        except InvalidField as exc:
            assert exc.field == "path"
            return
        assert all(isinstance(d, ParsedDocument) for d in documents)


HISTORY_MAP = ColumnMap(text="text", category="category", created_at="created",
                        closed_at="closed", status="status", lat="lat", lon="lon", id="id")
cells = st.one_of(st.text(max_size=20), st.sampled_from(
    ["", "2024-07-15", "2024-07-15T12:00:00Z", "0001-01-01", "99999-99-99", "41.6", "nan",
     "inf", "1e400", "-91", "closed", "open", '"', "\u0000"]))


def _csv(rows: list[list[str]], delimiter: str) -> str:
    header = delimiter.join(["text", "category", "created", "closed", "status", "lat", "lon", "id"])
    return "\n".join([header, *(delimiter.join(row) for row in rows)])


def _read_all(path: Path, column_map: ColumnMap | None) -> None:
    try:
        for result in read_history(path, column_map):
            assert isinstance(result, HistoryRow | BadRow)
            if isinstance(result, HistoryRow):
                assert result.text
    except HistoryFileError as exc:
        assert str(exc)


@FUZZ
@given(rows=st.lists(st.lists(cells, min_size=0, max_size=9), max_size=6),
       suffix=st.sampled_from([".csv", ".tsv"]), raw=st.binary(max_size=200))
def test_any_history_table_gives_rows_or_bad_rows(rows: list[list[str]], suffix: str,
                                                  raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"history{suffix}"
        path.write_text(_csv(rows, "," if suffix == ".csv" else "\t"), encoding="utf-8")
        _read_all(path, HISTORY_MAP)
        path.write_bytes(raw)
        _read_all(path, HISTORY_MAP)


open311_items = st.lists(st.one_of(values, st.fixed_dictionaries({}, optional={
    "description": cells, "service_name": cells, "agency_responsible": cells,
    "requested_datetime": cells, "updated_datetime": cells, "status": cells,
    "lat": st.one_of(cells, st.floats()), "long": st.one_of(cells, st.floats()),
    "service_request_id": cells})), max_size=5)


@FUZZ
@given(items=st.one_of(open311_items, values), raw=st.binary(max_size=200))
def test_any_open311_history_json_gives_rows_or_bad_rows(items: Any, raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "requests.json"
        path.write_text(json.dumps(items), encoding="utf-8")
        _read_all(path, None)
        path.write_bytes(raw)
        _read_all(path, None)


@FUZZ
@given(spec=st.text(max_size=80))
def test_any_column_map_spec_parses_or_says_why(spec: str) -> None:
    try:
        assert ColumnMap.parse(spec).text
    except ValueError as exc:
        assert "column map" in str(exc) or "validation error" in str(exc)
