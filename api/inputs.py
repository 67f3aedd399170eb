"""The input policy at the door of every route (``dispatch.core.inputs``).

One app-wide dependency checks what a route receives before the route's own validation:
path parameters, the query string, form fields and JSON bodies. FastAPI has parsed the
body already (``request.json()`` and ``request.form()`` are cached), so nothing is read
twice. A refusal is ``InvalidField``: 422 ``{"detail": [{"field", "message"}]}`` (400 in
the Open311 format on Open311 routes).
"""

from __future__ import annotations

import email.message
import json
import typing
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from starlette.datastructures import UploadFile

from dispatch.core.errors import InvalidField
from dispatch.core.inputs import int_problem, json_problems, looks_like_int, text_problem

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
OUT_OF_RANGE = int_problem(2**64)


def _holds_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    return any(_holds_int(arg) for arg in typing.get_args(annotation))


def _int_names(dependant: Dependant) -> set[str]:
    """The path, query and form parameters a route (and its dependencies) takes as integers."""
    names = {field.alias for field in (*dependant.path_params, *dependant.query_params,
                                       *dependant.body_params)
             if _holds_int(field.field_info.annotation)}
    for sub in dependant.dependencies:
        names |= _int_names(sub)
    return names


def int_parameters(request: Request) -> frozenset[str]:
    """Worked out once per route and kept on it."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return frozenset()
    names: frozenset[str] | None = getattr(route, "_int_parameters", None)
    if names is None:
        names = frozenset(_int_names(dependant))
        route._int_parameters = names  # type: ignore[union-attr]
    return names


def _check_pairs(pairs: list[tuple[str, str]], ints: frozenset[str]) -> None:
    for name, value in pairs:
        problem = text_problem(name)
        if problem is not None:
            raise InvalidField(name.encode("unicode_escape").decode()[:60], f"the name {problem}")
        problem = text_problem(value)
        if problem is None and name in ints and looks_like_int(value.strip()) and (
                len(value.strip()) > 20 or int_problem(int(value))):
            problem = OUT_OF_RANGE
        if problem is not None:
            raise InvalidField(name, problem)


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


async def _check_body(request: Request, ints: frozenset[str]) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(FORM_TYPES):
        form = await request.form()
        _check_pairs([(k, v) for k, v in form.multi_items() if not isinstance(v, UploadFile)],
                     ints)
    elif content_type and _is_json(content_type) and await request.body():
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return  # the route answers with the parser's own message
        problems = json_problems(body)
        if problems:
            field, message = problems[0]
            raise InvalidField(field or "body", message)


async def refuse_bad_input(request: Request) -> None:
    """Raise ``InvalidField`` for the first value that breaks the input policy: text with a
    control character anywhere; an integer parameter outside ``bigint``."""
    ints = int_parameters(request)
    _check_pairs([(str(k), str(v)) for k, v in request.path_params.items()], ints)
    _check_pairs(list(request.query_params.multi_items()), ints)
    if request.method in ("POST", "PUT", "PATCH"):
        await _check_body(request, ints)
