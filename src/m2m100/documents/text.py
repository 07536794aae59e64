"""Plain text: the whole file is one unit; the Translator keeps its lines, blank lines and indentation.

UTF-8 (a BOM is kept; CRLF line endings are kept by the Translator's line splitting). Invalid UTF-8 is a
DocumentError naming the line.
"""

from __future__ import annotations

from typing import Callable

from ..errors import DocumentError
from .units import Translated, Unit


def decode(data: bytes, name: str) -> tuple[str, bool]:
    """(text, had a BOM); DocumentError naming the line for invalid UTF-8."""
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        return data[3 if bom else 0:].decode("utf-8"), bom
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DocumentError(f"{name}: line {line}: invalid UTF-8") from None


def translate_bytes(data: bytes, name: str, translate: Callable[[list[Unit]], list[Translated]], limits=None,
                    fmt: str = "text") -> bytes:
    text, bom = decode(data, name)
    out = translate([Unit(text)])[0].text if text else text
    return (b"\xef\xbb\xbf" if bom else b"") + out.encode("utf-8")
