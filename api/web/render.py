"""The Jinja2 environment of the pages (autoescaping on) and the error page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from agents.text import show_invisible

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"
HTMX = "/static/htmx-2.0.11.min.js"

_env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(
    enabled_extensions=("html",), default_for_string=True, default=True))


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _visible(text: object) -> str:
    """Citizen text with each zero-width or bidirectional control character shown as a token
    (``⟦U+202E⟧``): a right-to-left override cannot reorder what staff read."""
    return show_invisible("" if text is None else str(text))


_env.filters["when"] = _when
_env.filters["visible"] = _visible
templates = Jinja2Templates(env=_env)


def page(request: Request, name: str, context: dict[str, Any], status: int = 200,
         headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render a page or partial; the signed-in user and CSRF token are in every context."""
    return templates.TemplateResponse(request, name, {"htmx": HTMX, **context},
                                      status_code=status, headers=headers)


def error_page(status: int, message: str) -> HTMLResponse:
    html = _env.get_template("inbox/error.html").render(status=status, message=message)
    return HTMLResponse(html, status_code=status)
