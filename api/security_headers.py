"""Security headers on every response: a Content-Security-Policy without inline script,
no framing, no referrer beyond the site, no content sniffing, and HSTS over https.

The pages run only our own files under ``/static`` (the map tile host, when one is
configured, may serve images). The API documentation pages (``/docs``) are FastAPI's own
HTML, which loads Swagger UI from a CDN and starts it with an inline script: that page
alone allows the CDN and exactly its own inline scripts, each pinned by its SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_CDN = "https://cdn.jsdelivr.net"
HSTS = "max-age=31536000; includeSubDomains"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def tile_origin(tile_url: str) -> str | None:
    """``https://*.tile.example`` for ``https://{s}.tile.example/{z}/{x}/{y}.png``."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "SUBDOMAIN"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.replace('SUBDOMAIN', '*')}"


def page_policy(tile_url: str = "") -> str:
    images = " ".join(p for p in ("'self'", "data:", "blob:", tile_origin(tile_url)) if p)
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src {images}; connect-src 'self'; font-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def docs_policy(body: bytes) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(body))
    return (f"default-src 'self'; script-src 'self' {DOCS_CDN} {hashes}; "
            f"style-src 'self' {DOCS_CDN}; img-src 'self' data: https://fastapi.tiangolo.com; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class SecurityHeaders:
    """Pure ASGI middleware; headers a route set itself are kept."""

    def __init__(self, app: ASGIApp, *, tile_url: str = "",
                 docs_paths: tuple[str, ...] = ("/docs", "/docs/oauth2-redirect", "/redoc")) -> None:
        self.app = app
        self.policy = page_policy(tile_url)
        self.docs_paths = docs_paths

    def _headers(self, scope: Scope, message: Message, policy: str) -> None:
        headers = MutableHeaders(scope=message)
        for name, value in (("Content-Security-Policy", policy), ("X-Frame-Options", "DENY"),
                            ("Referrer-Policy", "same-origin"),
                            ("X-Content-Type-Options", "nosniff")):
            if name not in headers:
                headers[name] = value
        if scope.get("scheme") == "https" and "Strict-Transport-Security" not in headers:
            headers["Strict-Transport-Security"] = HSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.docs_paths:
            await self._docs(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self._headers(scope, message, self.policy)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette answers an unhandled error outside every middleware, so that 500 would
            # go out bare: answer it here, with the headers; the error still goes on to be logged.
            if not started:
                await send_with_headers({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"application/json")]})
                await send({"type": "http.response.body",
                            "body": b'{"detail":"internal error; it has been logged"}'})
            raise

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The docs page is small HTML: hold it to hash its inline scripts."""
        start: Message | None = None
        body = b""

        async def hold(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body":
                body += message.get("body", b"")
                if message.get("more_body"):
                    return
                assert start is not None
                self._headers(scope, start, docs_policy(body))
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, hold)
