"""Open311 answers in JSON or XML, errors as the spec's list of {code, description}.

XML follows the GeoReport v2 element structure (``<services><service>``,
``<service_requests><request>``, ``<errors><error>``); ElementTree escapes the text.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response

from dispatch.core.errors import InvalidField, NotFound

Format = Literal["json", "xml"]
FORMATS: tuple[Format, ...] = ("json", "xml")
MEDIA_TYPES = {"json": "application/json", "xml": "application/xml; charset=utf-8"}
FLAT_LISTS = {"attributes": "attribute"}  # repeated directly under the parent, no wrapper
# characters XML 1.0 cannot carry, not even escaped (C0 controls, surrogates, U+FFFE/FFFF)
NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Open311Error(Exception):
    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None):
        self.status = status
        self.description = description
        self.headers = headers or {}
        super().__init__(description)


def check_format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise Open311Error(400, f"unknown response format {fmt[:20]!r}; use json or xml")
    return fmt  # type: ignore[return-value]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return NOT_XML.sub("\ufffd", str(value))


def _fill(parent: ET.Element, key: str, value: object) -> None:
    if isinstance(value, list):
        if key in FLAT_LISTS:
            holder, child = parent, FLAT_LISTS[key]
        else:
            holder, child = ET.SubElement(parent, key), key.removesuffix("s")
        for item in value:
            _fill(holder, child, item)
        return
    element = ET.SubElement(parent, key)
    if isinstance(value, dict):
        for sub_key, sub_value in value.items():
            _fill(element, sub_key, sub_value)
    elif value is not None:
        element.text = _text(value)


def to_xml(root: str, item: str | None, body: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    top = ET.Element(root)
    if isinstance(body, list):
        for entry in body:
            _fill(top, item or "item", entry)
    else:
        for key, value in body.items():
            _fill(top, key, value)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def render(fmt: Format, body: list[dict[str, Any]] | dict[str, Any], *, root: str,
           item: str | None = None, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    # ensure_ascii: a lone surrogate in user text is written as an escape, not a crash
    content = json.dumps(body).encode() if fmt == "json" else to_xml(root, item, body)
    return Response(content, status_code=status, media_type=MEDIA_TYPES[fmt], headers=headers)


def error_response(fmt: Format, status: int, description: str,
                   headers: dict[str, str] | None = None) -> Response:
    return render(fmt, [{"code": status, "description": description}], root="errors",
                  item="error", status=status, headers=headers)


def _format_of(request: Request) -> Format:
    fmt = request.path_params.get("fmt")
    return fmt if fmt in FORMATS else "json"


def _validation_message(exc: RequestValidationError) -> str:
    """FastAPI's first complaint as "parameter: message" (the body/query/path prefix dropped)."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    name = loc[0] if loc else "request"
    if name == "fmt":
        return "unknown response format; use json or xml"
    return f"{name}: {err.get('msg', 'invalid')}"


class Open311Route(APIRoute):
    """Domain and Open311 errors of these routes answer in the requested format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Open311Error as exc:
                return error_response(_format_of(request), exc.status, exc.description,
                                      exc.headers)
            except RequestValidationError as exc:
                return error_response(_format_of(request), 400, _validation_message(exc))
            except InvalidField as exc:
                return error_response(_format_of(request), 400, f"{exc.field}: {exc.message}")
            except NotFound as exc:
                return error_response(_format_of(request), 404, str(exc))

        return handle
