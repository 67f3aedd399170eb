"""The answer to a question, at the boundary: ``GET /api/ask`` and ``/api/tickets/{id}/similar``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from agents.ask import AskFilters


class AskHit(BaseModel):
    id: int
    reference: str
    title: str
    category: str
    status: str
    lat: float | None
    lon: float | None
    created_at: datetime
    score: float | None
    """Relevance when the question has text (reciprocal rank fusion of words and meaning),
    the cosine for similar tickets, else null."""


class CategoryCount(BaseModel):
    category: str
    name: str
    count: int


class AskAnswer(BaseModel):
    q: str
    filters: AskFilters
    unparsed: list[str]
    total: int
    results: list[AskHit]
    explanation: str
    parser: str
    by_category: list[CategoryCount]
    vector_backend: str


class SimilarAnswer(BaseModel):
    ticket_id: int
    total: int
    results: list[AskHit]
    explanation: str
    vector_backend: str
    # camera tickets whose best crop looks like this ticket's (CLIP crop embeddings); empty when
    # this ticket has no crop embedding (no camera, or no CLIP verifier on its camera)
    by_picture: list[AskHit] = []
