"""HTML (and XHTML) reader/writer on the rich-text layer.

The document is tokenised by the standard library's `html.parser`; every event is mapped back to its exact
source characters, so everything that is not translated is written back byte for byte, including input the
parser cannot read as text (an unclosed comment, `<script>` or `<style>`; a CDATA section; a stray `<!`).

Units: the text between block boundaries, with inline elements (`a`, `em`, `strong`, `span`...) as spans over
it, so `<a><em>View the complete range of</em> <em>drawer systems here!</em></a>` is one sentence for the
model and the tags come back around the aligned words. Inside HTML a newline is a space: whitespace runs in a
unit are one space for the model (the unit's leading and trailing whitespace is kept as it was). Inline
`code`/`kbd`/`samp`/`var` and inline elements with `translate="no"` are atoms: the model reads their words
(the sentence stays whole) and the writer puts them back exactly as written, where the model put them. Kept untouched:
`script`, `style`, `pre`, `code`, `textarea`, elements with `translate="no"`, comments, declarations,
processing instructions, CDATA, attribute values other than `title`, `alt`, `placeholder`, `aria-label`.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Callable, Sequence

from ..hygiene import needs_translation
from .units import Span, Translated, Unit, render

INLINE = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "data", "del", "dfn", "em", "font", "i", "ins", "label",
    "mark", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u",
})
INLINE_ATOMS = frozenset({"code", "kbd", "samp", "var"})
KEEP = frozenset({"script", "style", "pre", "textarea", "code", "kbd", "samp", "var", "svg", "math", "template"})
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                  "track", "wbr"})
ATTRIBUTES = ("title", "alt", "placeholder", "aria-label")
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")


@dataclass
class _Event:
    kind: str  # "text" | "start" | "end" | "raw"
    raw: str
    tag: str = ""
    attrs: list[tuple[str, str | None]] = field(default_factory=list)
    keep: bool = False  # inside an element whose content is kept as it is
    in_atom: bool = False  # kept only because it is inside an inline atom (code, kbd...): part of the unit
    atom_start: bool = False  # the start or end tag of an inline atom (code, kbd, samp, var, translate="no")


class _Tokenizer(HTMLParser):
    """Events with their source start offsets (line/column from getpos, converted to absolute offsets)."""

    def __init__(self, document: str):
        super().__init__(convert_charrefs=True)
        self.document = document
        # html.parser counts lines by "\n" only (a lone "\r" is not a line break to it)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", document)]
        self.events: list[tuple[int, int | None, str, str, list]] = []  # (start, end or None, kind, tag, attrs)
        self.closing = False

    def _at(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def handle_starttag(self, tag, attrs):
        start = self._at()
        raw = self.get_starttag_text() or ""
        self.events.append((start, start + len(raw), "start", tag, attrs))

    def handle_startendtag(self, tag, attrs):
        start = self._at()
        raw = self.get_starttag_text() or ""
        self.events.append((start, start + len(raw), "void", tag, attrs))

    def handle_endtag(self, tag):
        self.events.append((self._at(), None, "end", tag, []))

    def handle_data(self, data):
        start = self._at()
        if self.closing and self.document.startswith("<", start):
            # what the parser could not read as markup and hands back as text at the end (an unclosed comment
            # or tag): kept as it is, to the end of the document
            self.events.append((start, len(self.document), "raw", "", []))
            return
        self.events.append((start, None, "text", "", []))

    def _markup(self, *_):
        self.events.append((self._at(), None, "raw", "", []))

    handle_comment = handle_decl = handle_pi = unknown_decl = _markup


def tokenize(document: str) -> list[_Event]:
    """The document as events whose `raw` strings concatenate to exactly `document`."""
    parser = _Tokenizer(document)
    parser.feed(document)
    parser.closing = True
    parser.close()
    raw_events = parser.events
    cut = next((k for k, e in enumerate(raw_events) if e[2] == "raw" and e[1] == len(document)), None)
    if cut is not None:
        raw_events = raw_events[:cut + 1]
    events: list[_Event] = []
    pos = 0
    for k, (start, end, kind, tag, attrs) in enumerate(raw_events):
        if start > pos:  # characters no event covers (the body of an unclosed <script>): kept
            events.append(_Event("raw", document[pos:start]))
        if start < pos:  # cannot happen with a consistent parser; never lose or duplicate text
            continue
        nxt = raw_events[k + 1][0] if k + 1 < len(raw_events) else len(document)
        stop = end if end is not None else nxt
        stop = min(max(stop, start), len(document))
        events.append(_Event("start" if kind == "void" else kind, document[start:stop], tag, attrs))
        if kind == "void":
            events[-1].tag = tag
        pos = stop
    if pos < len(document):
        events.append(_Event("raw", document[pos:]))
    _mark_kept(events)
    return events


def _mark_kept(events: list[_Event]) -> None:
    """Mark events inside kept elements; inline code and inline translate="no" elements are atoms."""
    stack: list[tuple[str, bool, bool]] = []  # (tag, keeps its content, is an inline atom)

    def state(e: _Event) -> None:
        keepers = [(tag, atom) for tag, keep, atom in stack if keep]
        e.keep = bool(keepers)
        e.in_atom = bool(keepers) and all(atom for _, atom in keepers)

    for e in events:
        state(e)
        if e.kind == "start" and e.tag not in VOID and not e.raw.endswith("/>"):
            no = any(k == "translate" and (v or "").strip().lower() == "no" for k, v in e.attrs)
            e.atom_start = e.tag in INLINE_ATOMS or (no and e.tag in INLINE)
            stack.append((e.tag, e.tag in KEEP or no, e.atom_start))
        elif e.kind == "end":
            for i in range(len(stack) - 1, -1, -1):
                if stack[i][0] == e.tag:
                    e.atom_start = stack[i][2]
                    del stack[i:]
                    break
            state(e)


# -- planning -------------------------------------------------------------------------------------------
@dataclass
class _Group:
    events: list[_Event]
    unit: Unit | None = None
    lead: str = ""
    tail: str = ""


@dataclass
class _AttrSlot:
    event: _Event
    name: str
    value: str


class HtmlDocument:
    """A parsed document: `units` to translate; `render(translations)` writes the document back."""

    def __init__(self, document: str):
        self.document = document
        self.events = tokenize(document)
        self.parts: list[_Event | _Group] = []
        self.attr_slots: list[_AttrSlot] = []
        group: list[_Event] = []
        for e in self.events:
            if e.kind == "start" and not e.keep:
                translate_no = any(k == "translate" and (v or "").strip().lower() == "no" for k, v in e.attrs)
                if not translate_no:
                    for name, value in e.attrs:
                        if name in ATTRIBUTES and value and any(ch.isalpha() for ch in value):
                            self.attr_slots.append(_AttrSlot(e, name, value))
            if _is_inline(e):
                group.append(e)
                continue
            self._flush(group)
            group = []
            self.parts.append(e)
        self._flush(group)
        self.groups = [p for p in self.parts if isinstance(p, _Group) and p.unit is not None]
        self.units = [g.unit for g in self.groups] + [Unit(_collapse(s.value).strip()) for s in self.attr_slots]

    def _flush(self, events: list[_Event]) -> None:
        if not events:
            return
        for piece in _balanced(events):
            if len(piece) == 1 and piece[0].kind != "text":
                self.parts.append(piece[0])  # a tag without its partner: kept as it is
                continue
            group = _Group(piece)
            _build_unit(group)
            self.parts.append(group)

    @property
    def texts(self) -> list[str]:
        return [u.text for u in self.units]

    def render(self, translated: Sequence[Translated]) -> str:
        """The document with every unit replaced by its translation, in `units` order."""
        n = len(self.groups)
        out_attrs: dict[int, list[tuple[str, str]]] = {}
        for slot, tr in zip(self.attr_slots, translated[n:]):
            out_attrs.setdefault(id(slot.event), []).append((slot.name, tr.text))
        originals = {id(e): e.raw for e in self.events}
        for e in self.events:
            if id(e) in out_attrs:
                e.raw = _set_attributes(e.raw, out_attrs[id(e)])
        done = {id(g): tr for g, tr in zip(self.groups, translated[:n])}
        out = []
        try:
            for part in self.parts:
                if isinstance(part, _Event):
                    out.append(part.raw)
                elif id(part) in done:
                    out.append(part.lead + _render_unit(done[id(part)]) + part.tail)
                else:
                    out.append("".join(e.raw for e in part.events))
        finally:
            for e in self.events:
                e.raw = originals[id(e)]
        return "".join(out)


def _is_inline(e: _Event) -> bool:
    if e.keep:
        return e.in_atom and e.kind in ("text", "start", "end")
    if e.kind == "text":
        return True
    if e.kind in ("start", "end") and (e.tag in INLINE or e.tag in INLINE_ATOMS):
        return not (e.kind == "start" and e.raw.endswith("/>"))
    return False


def _balanced(events: list[_Event]) -> list[list[_Event]]:
    """Cut a run of inline events at tags without a partner inside it (those become kept markup)."""
    pending = [events]
    out: list[list[_Event]] = []
    while pending:
        run = pending.pop(0)
        stack: list[int] = []
        bad: list[int] = []
        for i, e in enumerate(run):
            if e.kind == "start":
                stack.append(i)
            elif e.kind == "end":
                if stack and run[stack[-1]].tag == e.tag:
                    stack.pop()
                else:
                    bad.append(i)
        bad.extend(stack)
        if not bad:
            out.append(run)
            continue
        cuts = sorted(set(bad))
        prev = 0
        pieces: list[list[_Event]] = []
        for c in cuts:
            pieces.append(run[prev:c])
            pieces.append([run[c]])  # the lone tag, alone: a group without text, kept as it is
            prev = c + 1
        pieces.append(run[prev:])
        for p in pieces:
            if len(p) == 1 and p[0].kind != "text":
                out.append(p)
            elif p:
                pending.append(p)
    # keep document order
    order = {id(e): i for i, e in enumerate(events)}
    out.sort(key=lambda p: order[id(p[0])])
    return out


def _collapse(text: str) -> str:
    return _HTML_SPACE.sub(" ", text)


def _build_unit(group: _Group) -> None:
    """Plain text (entities decoded, whitespace runs as one space) and spans; None when nothing to translate."""
    events = group.events
    text_parts: list[str] = []
    length = 0
    spans: list[Span] = []
    stack: list[int] = []
    atom_depth = 0
    lead_raw = tail_raw = ""
    first_text = next((i for i, e in enumerate(events) if e.kind == "text"), None)
    last_text = next((i for i in range(len(events) - 1, -1, -1) if events[i].kind == "text"), None)
    for i, e in enumerate(events):
        if e.kind == "text":
            raw = e.raw
            if i == first_text == 0:
                lead_raw = raw[: len(raw) - len(raw.lstrip(" \t\n\r\f"))]
                raw = raw[len(lead_raw):]
            if i == last_text == len(events) - 1:
                stripped = raw.rstrip(" \t\n\r\f")
                tail_raw = raw[len(stripped):]
                raw = stripped
            piece = _collapse(_html.unescape(raw))
            if text_parts and text_parts[-1].endswith(" ") and piece.startswith(" "):
                piece = piece[1:]
            text_parts.append(piece)
            length += len(piece)
        elif e.kind == "start":
            parent = stack[-1] if stack else None
            atom = e.atom_start or atom_depth > 0
            spans.append(Span(length, length, data=[e, None], parent=parent, atom=atom))
            if e.atom_start:
                atom_depth += 1
            stack.append(len(spans) - 1)
        elif e.kind == "end":
            k = stack.pop()
            spans[k].end = length
            spans[k].data[1] = e
            if e.atom_start:
                atom_depth -= 1
    text = "".join(text_parts)
    group.lead, group.tail = lead_raw, tail_raw
    # whitespace at the edges but inside tags is not sent to the model (spans shift with the text)
    cut = len(text) - len(text.lstrip(" "))
    text = text.strip(" ")
    for s in spans:
        s.start = min(max(s.start - cut, 0), len(text))
        s.end = min(max(s.end - cut, s.start), len(text))
    if not needs_translation(text):
        group.unit = None
        return
    # Atoms keep their own events; the model sees their text, the writer puts the original back.
    for s in spans:
        if s.atom:
            s.data.append(_atom_raw(events, s))
    # nested spans of an atom are written with it; drop them from the projection
    keep_index = {}
    kept: list[Span] = []
    for i, s in enumerate(spans):
        if s.parent is not None and spans[s.parent].atom:
            continue
        keep_index[i] = len(kept)
        kept.append(s)
    for s in kept:
        s.parent = keep_index.get(s.parent) if s.parent is not None else None
    group.unit = Unit(text, kept)


def _atom_raw(events: list[_Event], span: Span) -> str:
    start, end = span.data[0], span.data[1]
    i, j = events.index(start), events.index(end)
    return "".join(e.raw for e in events[i:j + 1])


def _render_unit(translated: Translated) -> str:
    def emit_text(text: str) -> str:
        return _html.escape(text, quote=False)

    def emit_span(span: Span, inner: str) -> str:
        if span.atom:
            return span.data[2]
        return span.data[0].raw + inner + span.data[1].raw

    return render(translated, emit_text, emit_span)


_ATTR = r"""(?P<pre>[\s/](?P<name>{name})\s*=\s*)(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<uq>[^\s"'=<>`]+))"""


def _set_attributes(raw_tag: str, values: list[tuple[str, str]]) -> str:
    """The start tag with the named attribute values replaced (escaped, quotes kept); everything else as it was."""
    for name, value in values:
        pattern = re.compile(_ATTR.format(name=re.escape(name)), re.IGNORECASE)

        def sub(m: re.Match) -> str:
            quote = "'" if m.group("sq") is not None else '"'
            escaped = _html.escape(value, quote=False).replace(quote, "&#39;" if quote == "'" else "&quot;")
            return f"{m.group('pre')}{quote}{escaped}{quote}"

        raw_tag = pattern.sub(sub, raw_tag, count=1)
    return raw_tag


# -- front door -----------------------------------------------------------------------------------------
def translate_html(document: str, translate: Callable[[list[Unit]], list[Translated]]) -> str:
    """`document` with its text translated by `translate(units) -> translations` (see units.translate_units)."""
    doc = HtmlDocument(document)
    if not doc.units:
        return document
    return doc.render(translate(doc.units))


def read(data: bytes, name: str) -> tuple[str, str]:
    """Decode an HTML file: a BOM, else the <meta charset>, else UTF-8. Returns (text, encoding)."""
    from ..errors import DocumentError

    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    head = data[:2048].decode("ascii", errors="replace")
    m = re.search(r"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", head, re.IGNORECASE)
    encoding = m.group(1).lower() if m else "utf-8"
    try:
        return data.decode(encoding), encoding
    except (LookupError, UnicodeDecodeError) as exc:
        raise DocumentError(f"{name}: cannot decode as {encoding}: {exc}") from None


def translate_bytes(data: bytes, name: str, translate: Callable[[list[Unit]], list[Translated]], limits=None,
                    fmt: str = "html") -> bytes:
    """An HTML file translated; its encoding (BOM, <meta charset> or UTF-8) kept."""
    text, encoding = read(data, name)
    out = translate_html(text, translate)
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + out.encode("utf-8")
    return out.encode(encoding, errors="xmlcharrefreplace")

