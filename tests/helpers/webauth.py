"""Signing a TestClient in as a user of a given role, for tests of routes that need one."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from dispatch.accounts import users
from dispatch.accounts.models import User
from dispatch.core.runtime import get_runtime

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROLES: dict[str, tuple[str, str | None]] = {  # a signed-in client of each role (web tests)
    "staff": ("staff", "landscaping"),
    "supervisor": ("supervisor", "landscaping"),
    "dispatcher": ("dispatcher", None),
    "admin": ("admin", None),
}


def ensure_user(username: str, role: str, agency: str | None = None,
                password: str = PASSWORD) -> None:
    """Create the user, or reset an existing one to this role, agency and password."""
    with get_runtime().factory() as db, db.begin():
        user = db.scalar(select(User).where(User.username == username))
        if user is not None:
            db.delete(user)
            db.flush()
        users.add_user(db_session=db, username=username, password=password, role=role,
                       agency=agency)


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


def login(client: TestClient, username: str, role: str = "dispatcher",
          agency: str | None = None) -> str:
    """Sign in through the form; the client then sends the session's CSRF header. Returns it."""
    ensure_user(username, role, agency)
    form = client.get("/login")
    assert form.status_code == 200, form.text
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": csrf_of(form.text)},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    inbox = client.get("/inbox")
    assert inbox.status_code == 200, inbox.text
    token = csrf_of(inbox.text)
    client.headers["X-CSRF-Token"] = token
    return token
