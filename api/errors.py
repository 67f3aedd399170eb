"""Every error leaves as JSON that names the field and the limit; never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from dispatch.core.errors import InvalidField, NotFound
from dispatch.tickets.lifecycle import IllegalTransition

log = logging.getLogger(__name__)


def field_name(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        message = str(err.get("msg", "invalid"))
        loc = tuple(err.get("loc", ()))
        field = field_name(loc)
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        if err.get("type") == "json_invalid":
            # the loc is ("body", <character offset>): the field is the body itself
            where = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
            message = f"invalid JSON{where}: {err.get('ctx', {}).get('error', 'cannot parse')}"
            field = "body"
        errors.append({"field": field, "message": message, "type": err.get("type")})
    return JSONResponse(status_code=422, content={"detail": errors})


async def invalid_field(_: Request, exc: InvalidField) -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={"detail": [{"field": exc.field, "message": exc.message, "type": "invalid"}]})


async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(exc)})


async def _illegal(_: Request, exc: IllegalTransition) -> JSONResponse:
    return JSONResponse(status_code=409, content={
        "detail": str(exc), "status": exc.status, "allowed_actions": exc.allowed})


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(status_code=500, content={"detail": "internal error; it has been logged"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidField, invalid_field)  # type: ignore[arg-type]
    app.add_exception_handler(NotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(IllegalTransition, _illegal)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
