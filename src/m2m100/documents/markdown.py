"""Markdown (CommonMark + tables, parsed by markdown-it-py): headings, paragraphs, list items, quotes, cells.

Only the source characters of inline content change; everything else (front matter, fenced and indented
code, HTML blocks, link destinations, list markers, table rules, blank lines) is written back as it was.
Emphasis, strong, strikethrough and links are spans (their markers are re-emitted around the aligned words);
inline code, images, autolinks and inline HTML are atoms (kept as written, where the model put them). A
paragraph's soft line breaks are spaces for the model: the translated paragraph is written on one line.
Characters that would turn into markup (`*`, `_`, backtick, `[`, `]`, `<`, `\\`) are escaped in translations.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from ..hygiene import needs_translation
from .text import decode
from .units import Span, Translated, Unit, render

_ESCAPE = re.compile(r"([\\`*_\[\]<])")
_LINK_DEST = re.compile(  # "](dest "title")" of inline links, in order
    r"\]\((\s*(?:<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*)\)"
)
_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)\n.*?\n\1[ \t]*(\n|\Z)", re.DOTALL)


def _inline_unit(token: Any, content_src: str) -> Unit:
    """A unit from an inline token's children; content_src: the inline's source (for link destinations)."""
    dests = iter(m.group(0)[1:] for m in _LINK_DEST.finditer(content_src))  # "(dest "title")" in order
    plain: list[str] = []
    length = 0
    spans: list[Span] = []
    stack: list[int] = []
    atom_open: list[int] = []

    def add(text: str) -> None:
        nonlocal length
        plain.append(text)
        length += len(text)

    def atom(raw: str, text: str) -> None:
        spans.append(Span(length, length, data=raw, parent=stack[-1] if stack else None, atom=True))
        add(text)
        spans[-1].end = length

    for child in token.children or []:
        kind = child.type
        if atom_open:  # inside an autolink: its text belongs to the atom
            if kind == "link_close":
                k = atom_open.pop()
                spans[k].end = length
            else:
                add(child.content)
            continue
        if kind == "text":
            add(child.content)
        elif kind in ("softbreak", "hardbreak"):
            add(" ")
        elif kind == "code_inline":
            atom(child.markup + child.content + child.markup, child.content)
        elif kind == "image":
            src = child.attrGet("src") or ""
            atom(f"![{child.content}]({src})", "")
        elif kind == "html_inline":
            atom(child.content, "")
        elif kind == "link_open" and child.markup == "autolink":
            spans.append(Span(length, length, data="<" + (child.attrGet("href") or "") + ">",
                              parent=stack[-1] if stack else None, atom=True))
            atom_open.append(len(spans) - 1)
        elif kind.endswith("_open"):
            if kind == "link_open":
                dest = next(dests, None) or f"({child.attrGet('href') or ''})"
                pair = ["[", "]" + dest]
            else:
                pair = [child.markup, child.markup]
            spans.append(Span(length, length, data=pair, parent=stack[-1] if stack else None))
            stack.append(len(spans) - 1)
        elif kind.endswith("_close") and stack:
            spans[stack.pop()].end = length
        else:
            add(child.content)
    text = "".join(plain)
    cut = len(text) - len(text.lstrip())
    stripped = text.strip()
    for s in spans:
        s.start = min(max(s.start - cut, 0), len(stripped))
        s.end = min(max(s.end - cut, s.start), len(stripped))
    return Unit(stripped, spans)


def _render(translated: Translated) -> str:
    def emit_span(span: Span, inner: str) -> str:
        return span.data if span.atom else span.data[0] + inner + span.data[1]

    return render(translated, lambda t: _ESCAPE.sub(r"\\\1", t), emit_span)


def translate_bytes(data: bytes, name: str, translate: Callable[[list[Unit]], list[Translated]], limits=None,
                    fmt: str = "markdown") -> bytes:
    from markdown_it import MarkdownIt

    text, bom = decode(data, name)
    crlf = "\r\n" in text
    source = text.replace("\r\n", "\n")
    skip_to = 0
    m = _FRONT_MATTER.match(source)
    if m:
        skip_to = m.end()
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    line_starts = [0] + [i + 1 for i, ch in enumerate(source) if ch == "\n"]
    edits: list[tuple[int, int, Unit]] = []  # (start, end) in source -> unit
    cursor = skip_to
    for token in md.parse(source[skip_to:]):
        if token.type != "inline" or not token.content.strip() or token.map is None:
            continue
        lo = max(cursor, line_starts[min(token.map[0] + _lines(source[:skip_to]), len(line_starts) - 1)])
        found = source.find(token.content, lo)
        if found >= 0:
            edits.append((found, found + len(token.content), _inline_unit(token, token.content)))
            cursor = found + len(token.content)
            continue
        # a paragraph whose lines carry prefixes (quote markers, indentation): translate line by line
        for line in token.content.split("\n"):
            at = source.find(line, lo) if line.strip() else -1
            if at >= 0:
                sub = md.parseInline(line)[0] if line else token
                edits.append((at, at + len(line), _inline_unit(sub, line)))
                lo = cursor = at + len(line)
    units = [u for _, _, u in edits]
    results = translate(units) if units else []
    out, pos = [], 0
    for (start, end, unit), tr in zip(edits, results):
        out.append(source[pos:start])
        out.append(_render(tr) if needs_translation(unit.text) else source[start:end])
        pos = end
    out.append(source[pos:])
    result = "".join(out)
    if crlf:
        result = result.replace("\n", "\r\n")
    return (b"\xef\xbb\xbf" if bom else b"") + result.encode("utf-8")


def _lines(prefix: str) -> int:
    return prefix.count("\n")
