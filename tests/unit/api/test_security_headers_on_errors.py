"""An unhandled error's 500 carries the security headers too (Starlette answers it outside
every middleware, so the middleware answers it itself)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import errors
from api.security_headers import SecurityHeaders


def test_an_unhandled_error_answers_500_with_the_headers_and_no_details() -> None:
    app = FastAPI()
    errors.install(app)
    app.add_middleware(SecurityHeaders)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    response = TestClient(app, raise_server_exceptions=False).get("/boom")

    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; it has been logged"}
    assert "secret" not in response.text
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
