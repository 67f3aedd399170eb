"""Domain errors of dispatch. The API maps them to HTTP status codes."""

from __future__ import annotations


class DispatchError(Exception):
    pass


class InvalidField(DispatchError):
    """Input that passed the schema but not the city's rules (unknown category, bad image)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class NotFound(DispatchError):
    def __init__(self, what: str, ident: object) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"{what} {ident} not found")
