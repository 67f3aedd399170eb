"""Helpers for tests of the web pages: an image to upload, attachments, and what a page's
scripts may be."""

from __future__ import annotations

import io
import re
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

XSS = '<script>alert("pwned")</script><img src=x onerror=alert(1)> tree fell on Mill Street'
"""A citizen's description that would run script if a page rendered it unescaped."""


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 60)).save(out, format="PNG")
    return out.getvalue()


def attach(client: TestClient, ticket_id: int, name: str = "plan.png",
           data: bytes | None = None, content_type: str = "image/png") -> Any:
    return client.post(f"/tickets/{ticket_id}/attachments", follow_redirects=False,
                       data={"csrf_token": client.headers["X-CSRF-Token"]},
                       files={"file": (name, data if data is not None else png(), content_type)})


def only_attachment(client: TestClient, ticket_id: int) -> int:
    found = re.findall(rf'href="/tickets/{ticket_id}/attachments/(\d+)"',
                       client.get(f"/tickets/{ticket_id}").text)
    assert len(found) == 1, found
    return int(found[0])


def assert_only_vendored_scripts(html: str) -> None:
    """Every script is a file of ours under /static/ or inert JSON data; none is inline code."""
    tags = re.findall(r"<script\b[^>]*>", html)
    assert tags
    for tag in tags:
        assert re.fullmatch(r'<script src="/static/[\w.-]+\.js"( defer)?>', tag) \
            or tag.startswith('<script type="application/json" id="'), tag
