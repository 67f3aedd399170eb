"""Drafting, regenerating and editing documents.

A draft is made in three steps so that no transaction stays open while the LLM writes:
read the facts (one transaction), draft the prose (no transaction), render and store
(another transaction). The template fixes the structure and renders every number and
date; the LLM's prose only fills the prose sections.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from langchain_core.language_models import BaseChatModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents.drafter import Prose, draft
from agents.redaction import redact
from dispatch.city.config import CityConfig
from dispatch.core.errors import NotFound
from dispatch.documents.briefing import gather_daily_briefing
from dispatch.documents.facts import (
    Gathered,
    gather_incident_report,
    gather_public_notice,
    gather_work_order,
)
from dispatch.documents.formats import markdown_environment
from dispatch.documents.language import label, template_name
from dispatch.documents.models import Document
from dispatch.documents.schemas import DocumentCreate

Gatherer = Callable[..., Gathered]
GATHERERS: dict[str, Gatherer] = {
    "incident_report": gather_incident_report,
    "daily_briefing": gather_daily_briefing,
    "public_notice": gather_public_notice,
    "work_order": gather_work_order,
}


PUBLIC_KINDS = ("public_notice",)
"""Documents written for the public (the others stay with officials and crews)."""


def _language(gathered: Gathered) -> str:
    city = gathered.facts.get("city")
    return str(city.get("language", "en")) if isinstance(city, dict) else "en"


def template_version(name: str) -> str:
    """The first 12 hex digits of the template's SHA-256: it changes whenever the template does."""
    env = markdown_environment()
    source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def render_markdown(*, kind: str, gathered: Gathered, prose: Prose) -> str:
    """The document in the city's language: its own template where there is one."""
    lang = _language(gathered)
    env = markdown_environment()
    env.filters["label"] = lambda value: label(value, lang)
    template = env.get_template(template_name(kind, lang))
    return template.render(facts=gathered.facts, prose=prose.sections, reports=gathered.reports)


def gather(*, db_session: Session, city: CityConfig, request: DocumentCreate) -> Gathered:
    return GATHERERS[request.kind](db_session=db_session, city=city, request=request)


def get_document(*, db_session: Session, document_id: int, for_update: bool = False) -> Document:
    stmt = select(Document).where(Document.id == document_id)
    if for_update:
        stmt = stmt.with_for_update()
    document = db_session.scalar(stmt)
    if document is None:
        raise NotFound("document", document_id)
    return document


def redact_public(gathered: Gathered, prose: Prose) -> tuple[Gathered, Prose]:
    """A document for the public carries no personal data from the reports: the incident's
    LLM-written title and place, and the prose drafted from them, are redacted. What the
    official typed (the notice's fields and its contact) is kept as written."""
    facts = dict(gathered.facts)
    if isinstance(facts.get("incident"), dict):
        facts["incident"] = {key: redact(value) if isinstance(value, str) else value
                             for key, value in facts["incident"].items()}
    sections = {name: redact(text) for name, text in prose.sections.items()}
    return (Gathered(facts=facts, reports=[], sections=gathered.sections),
            prose.model_copy(update={"sections": sections}))


def _draft(*, db_session: Session, city: CityConfig, chat: BaseChatModel | None,
           request: DocumentCreate) -> tuple[Gathered, Prose, str]:
    with db_session.begin():
        gathered = gather(db_session=db_session, city=city, request=request)
    prose = draft(chat, kind=request.kind, facts=gathered.facts, reports=gathered.reports,
                  sections=gathered.sections)
    if request.kind in PUBLIC_KINDS:
        gathered, prose = redact_public(gathered, prose)
    return gathered, prose, render_markdown(kind=request.kind, gathered=gathered, prose=prose)


def _apply_draft(document: Document, *, gathered: Gathered, prose: Prose, markdown: str) -> None:
    document.facts = {**gathered.facts, "reports": gathered.reports}
    document.template_name = template_name(document.kind, _language(gathered))
    document.template_version = template_version(document.template_name)
    document.prose_method = prose.method
    document.model = prose.model
    document.prompt_version = prose.prompt_version
    document.prose = prose.model_dump(mode="json")
    document.markdown = markdown


def create_document(*, db_session: Session, city: CityConfig, chat: BaseChatModel | None,
                    request: DocumentCreate, actor: str) -> int:
    """Draft and store a new document; returns its id."""
    gathered, prose, markdown = _draft(db_session=db_session, city=city, chat=chat,
                                       request=request)
    with db_session.begin():
        document = Document(kind=request.kind, inputs=request.model_dump(mode="json"),
                            version=1, revisions=[], created_by=actor, updated_by=actor)
        _apply_draft(document, gathered=gathered, prose=prose, markdown=markdown)
        db_session.add(document)
        db_session.flush()
        return document.id


def _revision(document: Document, *, actor: str, reason: str) -> dict[str, Any]:
    return {"version": document.version, "markdown": document.markdown,
            "prose": document.prose_method,
            "template": {"name": document.template_name, "version": document.template_version},
            "model": document.model, "prompt_version": document.prompt_version,
            "replaced_by": actor, "replaced_at": datetime.now(UTC).isoformat(), "reason": reason}


def _keep_revision(document: Document, *, actor: str, reason: str) -> None:
    document.revisions = [*document.revisions, _revision(document, actor=actor, reason=reason)]
    document.version += 1
    document.updated_by = actor


def regenerate_document(*, db_session: Session, city: CityConfig, chat: BaseChatModel | None,
                        document_id: int, actor: str) -> None:
    """Draft again from the stored inputs and today's data; the old version is kept."""
    with db_session.begin():
        inputs = get_document(db_session=db_session, document_id=document_id).inputs
    request = DocumentCreate.model_validate(inputs)
    gathered, prose, markdown = _draft(db_session=db_session, city=city, chat=chat,
                                       request=request)
    with db_session.begin():
        document = get_document(db_session=db_session, document_id=document_id, for_update=True)
        _keep_revision(document, actor=actor, reason="regenerate")
        _apply_draft(document, gathered=gathered, prose=prose, markdown=markdown)


def edit_document(*, db_session: Session, document_id: int, markdown: str, actor: str) -> None:
    """Replace the Markdown with an official's text; the old version is kept."""
    with db_session.begin():
        document = get_document(db_session=db_session, document_id=document_id, for_update=True)
        _keep_revision(document, actor=actor, reason="edit")
        document.markdown = markdown
        document.prose_method = "edited"
