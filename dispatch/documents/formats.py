"""One document, three formats: Markdown is the source; HTML and DOCX are made from it.

Values put into Markdown are escaped (``md_escape``) so text from citizens cannot add
headings, links or tables. HTML comes from markdown-it with raw HTML turned off, inside
a page template with autoescaping on: a ``<script>`` anywhere ends up as text.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from docx import Document as DocxDocument
from docx.oxml.ns import qn
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from agents.text import has_cjk

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "documents"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#&])")
_LEADING_MARKER = re.compile(r"^(\d+)([.)])|^([-+=])")
_FIRST_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)
CJK_FONT = "Noto Sans CJK SC"
"""The East Asian font a Chinese DOCX names (Debian's fonts-noto-cjk; Word substitutes its
own Chinese font where it is missing). Latin text keeps the template's font."""


def md_escape(value: Any) -> str:
    """A value as literal Markdown text on one line: the Markdown form of autoescaping."""
    if value is None:
        return "-"
    if isinstance(value, bool | int | float):
        return str(value)
    text = _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
    return _LEADING_MARKER.sub(lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1)
                               else f"\\{m.group(3)}", text)


def markdown_environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=False,
                       finalize=md_escape, undefined=StrictUndefined, trim_blocks=True,
                       lstrip_blocks=True, keep_trailing_newline=True)


def html_environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES_DIR),
                       autoescape=select_autoescape(default=True), undefined=StrictUndefined)


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def language_of(markdown: str) -> str:
    """"zh" for a document with Chinese in it, else "en"."""
    return "zh" if has_cjk(markdown) else "en"


def to_html(markdown: str, *, title: str) -> str:
    """A whole HTML page for the document; a Chinese one is marked ``lang="zh-CN"`` and
    titled by its first heading, with CJK fonts first in its font list."""
    body = Markup(_parser().render(markdown))
    chinese = language_of(markdown) == "zh"
    heading = _FIRST_HEADING.search(markdown)
    if chinese and heading:
        title = heading.group(1).replace("\\", "")
    return html_environment().get_template("page.html.j2").render(
        title=title, body=body, lang="zh-CN" if chinese else "en")


def _east_asian_fonts(doc: Any, font: str = CJK_FONT) -> None:
    """Name ``font`` as the East Asian font (``w:eastAsia``) of every style, and Chinese as
    the East Asian language: without it Word and LibreOffice may draw Chinese in a Latin
    font that has no such glyphs."""
    for style in doc.styles:
        element = getattr(style, "element", None)
        if element is None or style.type not in (1, 3):  # paragraph and table styles
            continue
        rpr = element.get_or_add_rPr()
        fonts = rpr.find(qn("w:rFonts"))
        if fonts is None:
            fonts = rpr.makeelement(qn("w:rFonts"), {})
            rpr.insert(0, fonts)
        fonts.set(qn("w:eastAsia"), font)
        lang = rpr.find(qn("w:lang"))
        if lang is None:
            lang = rpr.makeelement(qn("w:lang"), {})
            rpr.append(lang)
        lang.set(qn("w:eastAsia"), "zh-CN")


def to_docx(markdown: str) -> bytes:
    """A Word document with the Markdown's headings, paragraphs, lists and tables; a
    Chinese one names a CJK font for East Asian text."""
    doc = DocxDocument()
    if language_of(markdown) == "zh":
        _east_asian_fonts(doc)
    tokens = _parser().parse(markdown)
    index = 0
    list_depth = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "heading_open":
            doc.add_heading(_inline_text(tokens[index + 1]), level=min(int(token.tag[1]), 9))
            index += 3
            continue
        if token.type in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif token.type == "table_open":
            index = _add_table(doc, tokens, index)
            continue
        elif token.type == "inline":
            _add_runs(doc.add_paragraph(style="List Bullet" if list_depth else None), token)
        elif token.type in ("fence", "code_block"):
            doc.add_paragraph(token.content.rstrip("\n"))
        index += 1
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def _inline_text(token: Token) -> str:
    return "".join(child.content if child.type != "softbreak" else " "
                   for child in token.children or [])


def _add_runs(paragraph: Any, token: Token) -> None:
    bold = italic = False
    for child in token.children or []:
        if child.type in ("strong_open", "strong_close"):
            bold = child.type == "strong_open"
        elif child.type in ("em_open", "em_close"):
            italic = child.type == "em_open"
        elif child.type in ("softbreak", "hardbreak"):
            paragraph.add_run(" ")
        elif child.content:
            run = paragraph.add_run(child.content)
            run.bold, run.italic = bold or None, italic or None


def _add_table(doc: Any, tokens: list[Token], index: int) -> int:
    """Add the table that starts at ``index``; return the index after it."""
    rows: list[list[str]] = []
    while tokens[index].type != "table_close":
        token = tokens[index]
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline":
            rows[-1].append(_inline_text(token))
        index += 1
    width = max((len(row) for row in rows), default=0)
    if rows and width:
        table = doc.add_table(rows=len(rows), cols=width)
        table.style = "Table Grid"
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                table.cell(r, c).text = text
    return index + 1
