"""PDF (pypdf): text extraction only. Each page's text is one unit; the output is UTF-8 plain text, pages
separated by a form feed. Re-laying out a PDF is out of scope. Encrypted PDFs that need a password, and files
pypdf cannot read, are a DocumentError.
"""

from __future__ import annotations

import io
from typing import Callable

from ..errors import DocumentError
from .units import Translated, Unit


def translate_bytes(data: bytes, name: str, translate: Callable[[list[Unit]], list[Translated]], limits=None,
                    fmt: str = "pdf") -> bytes:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(f"{name}: the PDF is password-protected")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise DocumentError(f"{name}: cannot read as PDF: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # pypdf raises bare errors for some broken streams; never a traceback
        raise DocumentError(f"{name}: cannot read as PDF: {type(exc).__name__}: {exc}") from None
    results = translate([Unit(text) for text in pages])
    return "\n\f\n".join(r.text for r in results).encode("utf-8")
