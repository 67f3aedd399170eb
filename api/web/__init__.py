"""The server-rendered inbox for agency staff, supervisors and dispatchers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import auth
from api.web import ask, attachments, dashboard, inbox, language, learning, login, ticket

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def install(app: FastAPI) -> None:
    """Mount the static files (htmx is vendored there), the pages and the auth handlers."""
    auth.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (login, language, inbox, dashboard, attachments, ticket, ask, learning):
        app.include_router(module.router)
