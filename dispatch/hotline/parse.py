"""Files -> documents of passages for the knowledge base: Markdown, HTML, PDF and Q&A CSV.

Pure functions: no database, no model. ``dispatch.hotline.service.service.kb`` stores what they return.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from dispatch.core.errors import InvalidField

CHUNK_CHARS = 800
KINDS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
         ".pdf": "pdf", ".csv": "csv", ".txt": "text"}
_BLANK_LINES = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass
class ParsedDocument:
    title: str
    source: str
    kind: str
    chunks: list[str] = field(default_factory=list)


def chunk_paragraphs(text: str, *, limit: int = CHUNK_CHARS) -> list[str]:
    """Paragraphs packed into chunks of about ``limit`` characters; long ones split by sentence."""
    pieces: list[str] = []
    for paragraph in _BLANK_LINES.split(text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if len(paragraph) <= limit:
            pieces.append(paragraph)
            continue
        pieces.extend(_split_long(paragraph, limit))
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= limit:
            chunks[-1] = f"{chunks[-1]}\n{piece}"
        else:
            chunks.append(piece)
    return chunks


def _split_long(paragraph: str, limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > limit:  # one sentence over the limit: cut it hard
            out.append(sentence[:limit])
            sentence = sentence[limit:]
        if current and len(current) + 1 + len(sentence) > limit:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return out


def parse_markdown(text: str, *, source: str) -> ParsedDocument:
    """Title from the first ``#`` heading (else the file name); headings stay in their chunk."""
    title = Path(source).stem.replace("-", " ").replace("_", " ")
    lines = []
    for line in text.splitlines():
        heading = re.match(r"^\s{0,3}#{1,6}\s+(.*)", line)
        if heading and title == Path(source).stem.replace("-", " ").replace("_", " "):
            title = heading.group(1).strip()
            continue
        lines.append(re.sub(r"^\s{0,3}#{1,6}\s+", "", line))
    body = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", "\n".join(lines))  # [text](link) -> text
    body = re.sub(r"[*_`]{1,3}", "", body)
    return ParsedDocument(title=title, source=source, kind="markdown", chunks=chunk_paragraphs(body))


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "nav", "footer"}
    _BLOCK = {"p", "div", "section", "article", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5",
              "h6", "table", "tr", "br", "header", "main", "blockquote", "pre", "dd", "dt"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip_depth = 0
        self._in_title = False
        self._h1 = ""
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        self._in_title = self._in_title or tag == "title"
        self._in_h1 = self._in_h1 or tag == "h1"
        if tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip_depth:
            self._skip_depth -= 1
        if tag == "title":
            self._in_title = False
        if tag == "h1":
            self._in_h1 = False
        if tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip_depth:
            return
        if self._in_h1:
            self._h1 += data
        self.parts.append(data)


def parse_html(text: str, *, source: str) -> ParsedDocument:
    """Visible text of the page (scripts, styles, navigation dropped); title from <title> or <h1>."""
    extractor = _TextExtractor()
    extractor.feed(text)
    extractor.close()
    title = " ".join((extractor.title or extractor._h1).split()) or Path(source).stem
    return ParsedDocument(title=title, source=source, kind="html",
                          chunks=chunk_paragraphs("".join(extractor.parts)))


def parse_pdf(path: Path, *, source: str) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = reader.metadata.title if reader.metadata else None
    except (PdfReadError, OSError, ValueError) as exc:
        raise InvalidField("path", f"{path}: not a readable PDF ({exc})") from None
    title = (meta_title or "").strip() or Path(source).stem
    return ParsedDocument(title=title, source=source, kind="pdf",
                          chunks=chunk_paragraphs("\n\n".join(pages)))


def parse_qa_csv(path: Path) -> list[ParsedDocument]:
    """One document per row: ``Q: question A: answer``, cited by the row's source URL.

    Columns (case-insensitive): ``question``, ``answer`` and optionally ``sourceUrl``/``url``
    and ``sourceName``/``title``. A file that is not UTF-8 CSV is refused (InvalidField).
    """
    try:
        return _qa_rows(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidField("path", f"{path}: not a UTF-8 CSV file ({exc})") from None


def _qa_rows(path: Path) -> list[ParsedDocument]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = {name.lower(): name for name in reader.fieldnames or []}
        if "question" not in columns or "answer" not in columns:
            raise InvalidField("path", f"{path}: a Q&A CSV needs 'question' and 'answer' columns")
        url_col = columns.get("sourceurl") or columns.get("url")
        name_col = columns.get("sourcename") or columns.get("title")
        docs = []
        for number, row in enumerate(reader, start=2):
            question = " ".join((row[columns["question"]] or "").split())
            answer = " ".join((row[columns["answer"]] or "").split())
            if not question or not answer:
                continue
            source = (row.get(url_col) or "").strip() if url_col else ""
            name = (row.get(name_col) or "").strip() if name_col else ""
            title = f"{name}: {question}" if name else question
            docs.append(ParsedDocument(
                title=title[:300], source=source or f"{path}#row{number}", kind="csv",
                chunks=[f"Q: {question} A: {answer}"]))
    return docs


def parse_path(path: Path) -> list[ParsedDocument]:
    """Every document in one file, by its extension."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(sorted(KINDS))
        raise InvalidField("path", f"{path}: unsupported file type {path.suffix!r}; known: {known}")
    if kind == "pdf":
        return [parse_pdf(path, source=str(path))]
    if kind == "csv":
        return parse_qa_csv(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    if kind == "html":
        return [parse_html(text, source=str(path))]
    return [parse_markdown(text, source=str(path))]
