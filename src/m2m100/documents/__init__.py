"""Documents and rich text: translate a file and get the same file back, translated.

    units.py     translation units (text + inline spans), sentence-level translation, span projection
    align.py     word alignment from the model's cross-attention (for span projection)
    safety.py    size limits, zip bombs, unsafe member names, XML entities, encryption
    html.py  markdown.py  text.py  subtitles.py (SRT, WebVTT)  office.py (DOCX, PPTX, XLSX)
    odf.py (ODT, ODP)  epub.py  pdf.py (text extraction only)

Each format module has `translate_bytes(data, name, translate, limits) -> bytes`, where `translate(units) ->
list[Translated]` is supplied by `translate_document`; formats never see the model.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any, Callable

from ..errors import DocumentError
from ..progress import progress_bar, stderr_is_tty
from .safety import Limits
from .units import Translated, Unit, translate_units

# format -> (module, extensions, extra package the module needs or None)
FORMATS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "html": ("html", (".html", ".htm", ".xhtml"), None),
    "markdown": ("markdown", (".md", ".markdown"), "markdown_it"),
    "text": ("text", (".txt",), None),
    "srt": ("subtitles", (".srt",), "srt"),
    "vtt": ("subtitles", (".vtt",), "webvtt"),
    "docx": ("office", (".docx",), "docx"),
    "pptx": ("office", (".pptx",), "pptx"),
    "xlsx": ("office", (".xlsx",), "openpyxl"),
    "odt": ("odf", (".odt",), "odf"),
    "odp": ("odf", (".odp",), "odf"),
    "epub": ("epub", (".epub",), "ebooklib"),
    "pdf": ("pdf", (".pdf",), "pypdf"),
}
EXTENSIONS = {ext: fmt for fmt, (_, exts, _) in FORMATS.items() for ext in exts}
# what a format's translation is written as, when it differs from the input (PDF: text only)
OUTPUT_FORMAT = {"pdf": "text"}


def detect_format(path: str | os.PathLike, forced: str | None = None) -> str:
    """The format name for `path` (from its extension) or `forced`; DocumentError when unsupported."""
    if forced and forced != "auto":
        if forced not in FORMATS:
            raise DocumentError(f"unknown document format {forced!r}; supported: {', '.join(FORMATS)}")
        return forced
    ext = Path(path).suffix.lower()
    if ext not in EXTENSIONS:
        raise DocumentError(
            f"{Path(path).name}: unsupported file type {ext or '(no extension)'!r}; supported: "
            f"{', '.join(sorted(EXTENSIONS))}"
        )
    return EXTENSIONS[ext]


def available_formats() -> list[str]:
    """Formats whose library is installed (the others need `pip install 'm2m100[documents]'`)."""
    return [fmt for fmt, (_, _, needs) in FORMATS.items() if needs is None or importlib.util.find_spec(needs)]


def supported_extensions() -> list[str]:
    return sorted({ext for fmt in available_formats() for ext in FORMATS[fmt][1]})


def translate_document(
    data: bytes, fmt: str, name: str, translate: Callable[[list[Unit]], list[Translated]],
    limits: Limits | None = None,
) -> bytes:
    """The translated document as bytes (same format; PDF gives UTF-8 text). DocumentError for bad files."""
    module_name, _, needs = FORMATS[fmt]
    if needs is not None and importlib.util.find_spec(needs) is None:
        raise DocumentError(f"{name}: {fmt} files need the optional libraries: pip install 'm2m100[documents]'")
    module = importlib.import_module(f".{module_name}", __name__)
    limits = limits or Limits()
    from .safety import check_size

    check_size(data, name, limits)
    return module.translate_bytes(data, name, translate, limits, fmt)


def unit_translator(
    translator: Any, source: str, target: str, *, align: bool = True, progress: bool | None = None,
    done: dict[str, str] | None = None, checkpoint: Callable[[dict[str, str]], None] | None = None,
    chunk: int = 256, **generation_options: Any,
) -> Callable[[list[Unit]], list[Translated]]:
    """translate(units) for translate_document: the Translator on unit texts, spans placed by alignment when
    `align` (else proportionally).

    done: unit text -> translation already known (a resumed job); checkpoint(done) is called after every
    `chunk` new texts, so that an interrupted job can continue (the CLI's --resume). One progress bar.
    """
    aligner = None
    if align:
        from .align import Aligner

        aligner = Aligner(translator, source, target)
    known: dict[str, str] = done if done is not None else {}

    class _Known:  # what translate_units sees: every text is known by then
        @staticmethod
        def translate(texts, *_args, **_kwargs):
            return [known[t] for t in texts]

    def translate(units: list[Unit]) -> list[Translated]:
        pending = list(dict.fromkeys(u.text for u in units if u.text not in known))
        show = progress if progress is not None else len(pending) > chunk and stderr_is_tty()
        bar = progress_bar(len(pending), bool(show), unit="unit")
        try:
            for i in range(0, len(pending), chunk):
                part = pending[i:i + chunk]
                known.update(zip(part, translator.translate(part, source, target, progress=False,
                                                            **generation_options)))
                bar.update(len(part))
                if checkpoint is not None:
                    checkpoint(known)
        finally:
            bar.close()
        return translate_units(_Known, units, source, target, aligner=aligner)

    return translate


def translate_file(
    translator: Any, path_in: str | os.PathLike, path_out: str | os.PathLike, source: str, target: str, *,
    format: str | None = None, align: bool = True, limits: Limits | None = None, progress: bool | None = None,
    **generation_options: Any,
) -> Path:
    """Translate the document at `path_in` into `path_out` (written atomically: complete or not at all).

    format: forced format name, else from the extension. PDF input gives plain text (re-laying out a PDF is out
    of scope): `path_out` must then end in .txt. Raises DocumentError (unsupported, corrupt, encrypted, over a
    limit, hostile), FileNotFoundError, and the Translator's LanguageError/GenerationError.
    """
    from ..hub import atomic_write_bytes

    path_in, path_out = Path(path_in), Path(path_out)
    fmt = detect_format(path_in, format)
    if fmt == "pdf" and path_out.suffix.lower() != ".txt":
        raise DocumentError(f"{path_in.name}: PDF input is translated to plain text; name the output *.txt")
    # languages and options are checked before the file is read
    source = translator.normalize_language(source, "source")
    target = translator.normalize_language(target, "target")
    translator.check_generation_options(generation_options)
    limits = limits or Limits()
    size = path_in.stat().st_size
    if size > limits.max_bytes:
        raise DocumentError(f"{path_in.name}: {size} bytes, more than the limit of {limits.max_bytes} bytes")
    data = path_in.read_bytes()
    translate = unit_translator(translator, source, target, align=align, progress=progress, **generation_options)
    out = translate_document(data, fmt, path_in.name, translate, limits)
    atomic_write_bytes(path_out, out)
    return path_out


def translate_html(
    translator: Any, document: str, source: str, target: str, *, align: bool = True, **generation_options: Any,
) -> str:
    """`document` (an HTML string) translated, markup kept (see html.py)."""
    from .html import translate_html as _translate_html

    return _translate_html(document, unit_translator(translator, source, target, align=align, **generation_options))
