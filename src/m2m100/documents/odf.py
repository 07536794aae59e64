"""ODT and ODP (odfpy): every text:p and text:h (body, tables, headers and footers, frames, notes).

A paragraph's text nodes (directly or inside text:span and text:a) are the runs of a partition unit, so spans
and links keep their styles and targets. Untouched: fields (page numbers, dates, references, variables), note
citations, annotations, tracked changes; a footnote's or frame's own paragraphs are units of their own.
text:s, text:tab and text:line-break stay where they are and are a space for the model.
"""

from __future__ import annotations

import io
from typing import Any, Callable

from ..errors import DocumentError
from ..hygiene import needs_translation
from .safety import check_archive
from .units import Translated, Unit, partition_texts, partition_unit

TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_DESCEND = {(TEXT_NS, name) for name in ("span", "a", "meta", "ruby", "ruby-base", "bookmark", "soft-page-break")}
_SEPARATORS = {(TEXT_NS, name) for name in ("s", "tab", "line-break")}


def _runs(paragraph: Any) -> list[tuple[Any, str]]:
    runs: list[tuple[Any, str]] = []

    def walk(node: Any) -> None:
        for child in node.childNodes:
            if child.nodeType == child.TEXT_NODE:
                runs.append((child, child.data))
            elif child.nodeType == child.ELEMENT_NODE:
                if child.qname in _DESCEND:
                    walk(child)
                elif child.qname in _SEPARATORS:
                    runs.append((None, " "))

    walk(paragraph)
    return runs


def translate_bytes(data: bytes, name: str, translate: Callable[[list[Unit]], list[Translated]], limits,
                    fmt: str) -> bytes:
    from odf import text as odf_text
    from odf.opendocument import load

    check_archive(data, name, limits)
    try:
        document = load(io.BytesIO(data))
    except Exception as exc:  # odfpy raises bare KeyError/SAX errors for broken packages
        raise DocumentError(f"{name}: cannot read as {fmt.upper()}: {type(exc).__name__}: {exc}") from None
    units: list[Unit] = []
    for kind in (odf_text.P, odf_text.H):
        for paragraph in document.getElementsByType(kind):
            runs = _runs(paragraph)
            if any(node is not None for node, _ in runs):
                units.append(partition_unit(runs))
    results = translate(units)
    for unit, tr in zip(units, results):
        if not needs_translation(unit.text):
            continue
        last, carry = None, ""
        for span, chunk in zip([s for s in tr.spans if s.parent is None], partition_texts(tr)):
            node = span.data
            if node is None:  # a separator's share goes to the neighbouring text
                if last is not None:
                    last.data += chunk.strip(" ") and chunk
                else:
                    carry += chunk.strip(" ") and chunk
                continue
            node.data = carry + chunk
            carry, last = "", node
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()
