"""Documents drafted from the loop's data: incident reports, daily briefings, public
notices and work orders, as JSON, Markdown, HTML and DOCX.

Only dispatchers and admins (the city's officials in the loop) draft, regenerate, edit
and read documents: a briefing spans every agency.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from api.auth import PostUserDep, UserDep
from api.deps import RuntimeDep, SessionDep
from dispatch.accounts.models import User
from dispatch.documents import drafting
from dispatch.documents.formats import to_docx, to_html
from dispatch.documents.models import Document
from dispatch.documents.schemas import DocumentCreate, DocumentEdit, DocumentRead
from dispatch.tickets import access

router = APIRouter(prefix="/api/documents", tags=["documents"])
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _official(user: User) -> None:
    if not access.sees_all_agencies(user):
        raise access.AccessDenied("only dispatchers and admins work with documents")


def _read(document: Document) -> DocumentRead:
    base = f"/api/documents/{document.id}"
    return DocumentRead.model_validate({
        "id": document.id, "kind": document.kind, "version": document.version,
        "inputs": document.inputs,
        "template": {"name": document.template_name, "version": document.template_version},
        "prose": document.prose_method, "model": document.model,
        "prompt_version": document.prompt_version,
        "dropped_claims": document.prose.get("dropped_claims", []),
        "llm_error": document.prose.get("error"), "markdown": document.markdown,
        "revisions": document.revisions, "created_by": document.created_by,
        "created_at": document.created_at, "updated_by": document.updated_by,
        "updated_at": document.updated_at,
        "links": {"self": base, "markdown": f"{base}.md", "html": f"{base}.html",
                  "docx": f"{base}.docx"},
    })


def _load(db: SessionDep, document_id: int) -> Document:
    return drafting.get_document(db_session=db, document_id=document_id)


def _filename(document: Document, suffix: str) -> str:
    return f'attachment; filename="{document.kind}-{document.id}-v{document.version}.{suffix}"'


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DocumentRead)
def create_document(body: DocumentCreate, db: SessionDep, rt: RuntimeDep,
                    who: PostUserDep) -> DocumentRead:
    _official(who.user)
    document_id = drafting.create_document(db_session=db, city=rt.city, chat=rt.chat,
                                            request=body, actor=who.user.username)
    return _read(_load(db, document_id))


@router.get("/{document_id:int}.md", response_class=PlainTextResponse)
def get_markdown(document_id: int, db: SessionDep, who: UserDep) -> Response:
    _official(who.user)
    document = _load(db, document_id)
    return Response(document.markdown, media_type="text/markdown; charset=utf-8",
                    headers={"Content-Disposition": _filename(document, "md")})


@router.get("/{document_id:int}.html", response_class=HTMLResponse)
def get_html(document_id: int, db: SessionDep, who: UserDep) -> HTMLResponse:
    _official(who.user)
    document = _load(db, document_id)
    title = f"{document.kind.replace('_', ' ').capitalize()} {document.id}"
    return HTMLResponse(to_html(document.markdown, title=title))


@router.get("/{document_id:int}.docx")
def get_docx(document_id: int, db: SessionDep, who: UserDep) -> Response:
    _official(who.user)
    document = _load(db, document_id)
    return Response(to_docx(document.markdown), media_type=DOCX_TYPE,
                    headers={"Content-Disposition": _filename(document, "docx")})


@router.get("/{document_id:int}", response_model=DocumentRead)
def get_document(document_id: int, db: SessionDep, who: UserDep) -> DocumentRead:
    _official(who.user)
    return _read(_load(db, document_id))


@router.post("/{document_id:int}/regenerate", response_model=DocumentRead)
def regenerate(document_id: int, db: SessionDep, rt: RuntimeDep, who: PostUserDep) -> DocumentRead:
    _official(who.user)
    drafting.regenerate_document(db_session=db, city=rt.city, chat=rt.chat,
                                  document_id=document_id, actor=who.user.username)
    db.expire_all()
    return _read(_load(db, document_id))


@router.put("/{document_id:int}", response_model=DocumentRead)
def edit(document_id: int, body: DocumentEdit, db: SessionDep, who: PostUserDep) -> DocumentRead:
    _official(who.user)
    drafting.edit_document(db_session=db, document_id=document_id, markdown=body.markdown,
                            actor=who.user.username)
    db.expire_all()
    return _read(_load(db, document_id))
