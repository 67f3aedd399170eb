"""Documents as a reader sees them: DOCX through LibreOffice to PDF and PNG (``soffice``,
``pdffonts``, ``pdftotext``, ``pdftoppm``), HTML through Chromium. CI installs them
(``apt-get install -y libreoffice-writer-nogui poppler-utils chromium fonts-noto-cjk``)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

TOOLS = ("soffice", "pdffonts", "pdftotext", "pdftoppm")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@dataclass(frozen=True)
class Rendered:
    fonts: list[str]  # the fonts embedded in the PDF, as pdffonts names them
    text: str  # the PDF's text layer
    png: Path  # its first page
    ink: float  # share of the first page's pixels that are not white


def render_docx(docx: bytes, *, name: str, out: Path) -> Rendered:
    """DOCX → PDF (LibreOffice, its own profile so parallel runs don't collide) → first page PNG."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source = work / f"{name}.docx"
        source.write_bytes(docx)
        subprocess.run(["soffice", f"-env:UserInstallation=file://{work}/profile", "--headless",
                        "--convert-to", "pdf", "--outdir", str(work), str(source)],
                       check=True, capture_output=True, timeout=180)
        pdf = work / f"{name}.pdf"
        listing = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
        fonts = [line.split()[0] for line in listing.splitlines()[2:] if line.strip()]
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], check=True,
                              capture_output=True, text=True).stdout
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        str(out / name)], check=True, capture_output=True)
    png = out / f"{name}.png"
    with Image.open(png) as image:
        gray = image.convert("L")
        histogram = gray.histogram()
        ink = sum(histogram[:200]) / (gray.width * gray.height)
    return Rendered(fonts=fonts, text=text, png=png, ink=ink)
