"""format=html for the server: the documents layer's HTML reader/writer (m2m100.documents.html).

`split_html(document)` parses the document into translation units (block text with inline tags as spans,
plus title/alt/placeholder/aria-label values); their `.texts` go through the server's batching queue like any
text; `join_html(plan, translations)` writes the document back, markup byte for byte, inline tags placed on
the translation proportionally (the server batches sentences across requests and has no alignment pass).
"""

from __future__ import annotations

from ..documents.html import HtmlDocument
from ..documents.units import project


def split_html(document: str) -> HtmlDocument:
    """The parsed document; `.texts` are the strings to translate, in order."""
    return HtmlDocument(document)


def join_html(plan: HtmlDocument, translations: list[str]) -> str:
    """The document with `plan.texts` replaced by `translations` (same order), markup kept."""
    return plan.render([project(unit, text) for unit, text in zip(plan.units, translations)])
