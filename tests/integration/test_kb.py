"""The knowledge base on real PostgreSQL and the real MiniLM embedder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from agents.embeddings import shared_embedder
from cityloop.cli.kb import SAMPLE_KB, expand
from dispatch.hotline.kb import KbIndex, add_documents, or_query, search
from dispatch.hotline.parse import parse_path
from tests.helpers.db import truncate_all


def minimal_pdf(line: str) -> bytes:
    """A one-page PDF whose only content is ``line`` (Helvetica), with a valid xref table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({line}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture()
def kb_session(migrated_db: str) -> Iterator[Session]:
    truncate_all(migrated_db)
    engine = create_engine(migrated_db)
    with sessionmaker(bind=engine)() as session, session.begin():
        yield session
    engine.dispose()


def test_every_format_is_ingested_with_its_citation(kb_session: Session, tmp_path: Path) -> None:
    (tmp_path / "potholes.html").write_text(
        "<html><head><title>Pothole repairs</title><script>var x = 'hidden';</script></head>"
        "<body><nav>Home | Contact</nav><h1>Potholes</h1><p>Potholes are filled within "
        "<b>72 hours</b> of a report.</p></body></html>")
    (tmp_path / "parking.pdf").write_bytes(minimal_pdf("Residential parking permits cost 40 dollars a year."))
    (tmp_path / "faq.csv").write_text(
        "sourceName,sourceUrl,question,answer\n"
        "Parks,https://riverton.example/parks,When do parks close?,Parks close at 10 pm.\n")
    docs = [doc for path in expand([str(tmp_path), str(SAMPLE_KB)]) for doc in parse_path(path)]
    by_title = {doc.title: doc for doc in docs}
    assert "var x" not in " ".join(by_title["Pothole repairs"].chunks)
    assert "Home | Contact" not in " ".join(by_title["Pothole repairs"].chunks)
    assert "40 dollars" in by_title["parking"].chunks[0]
    assert by_title["Parks: When do parks close?"].chunks == ["Q: When do parks close? A: Parks close at 10 pm."]
    assert by_title["Parks: When do parks close?"].source == "https://riverton.example/parks"
    assert all(len(chunk) <= 800 for doc in docs for chunk in doc.chunks)

    add_documents(db_session=kb_session, documents=docs, embedder=shared_embedder())
    index = KbIndex()
    for mode in ("fulltext", "vector", "hybrid"):
        hits = search(db_session=kb_session, query="how fast are potholes filled?",
                      embedder=shared_embedder(), index=index, k=3, mode=mode)
        assert hits[0].title == "Pothole repairs", mode
    hits = search(db_session=kb_session, query="When does the park close at night?",
                  embedder=shared_embedder(), index=index, k=1)
    assert hits[0].source == "https://riverton.example/parks"


def test_adding_a_file_again_replaces_it(kb_session: Session) -> None:
    docs = [doc for path in expand([str(SAMPLE_KB)]) for doc in parse_path(path)]
    first = add_documents(db_session=kb_session, documents=docs, embedder=shared_embedder())
    add_documents(db_session=kb_session, documents=docs, embedder=shared_embedder())
    count = kb_session.scalar(text("SELECT count(*) FROM kb_documents"))
    assert count == first[0] == len(expand([str(SAMPLE_KB)]))


def test_a_question_matches_passages_sharing_any_word() -> None:
    # stopwords ("who") go; the words left are lower-cased search terms
    assert or_query("Who collects old sofas (bulk)?") == "collects or old or sofas or bulk"
