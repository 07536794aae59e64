"""SRT (the `srt` library) and WebVTT (`webvtt-py`): one cue, one unit.

Cue numbers, timings, settings, NOTE/STYLE blocks are written back untouched; the cue's lines are joined with
spaces for the model (a subtitle sentence often runs over two lines) and the translation is re-wrapped to the
cue's original line count, breaking at spaces nearest to equal lengths. Inline tags (`<i>`, `<b>`, `<u>`,
`<font ...>`, WebVTT's `<c.x>`, `<v Name>`) are spans placed on the translation; a leading ASS override such
as `{\\an8}` stays at the start.
"""

from __future__ import annotations

import html as _html
import io
import re
from typing import Callable

from ..errors import DocumentError
from .text import decode
from .units import Span, Translated, Unit, render

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)((?:[.\s][^>]*)?)>")
_ASS = re.compile(r"^(\{\\[^}]*\})+")


def cue_unit(text: str, vtt: bool) -> tuple[Unit, str, int]:
    """(unit, fixed prefix, line count) for a cue's text."""
    lines = text.split("\n")
    joined = " ".join(line.strip() for line in lines)
    prefix = ""
    m = _ASS.match(joined)
    if m:
        prefix, joined = m.group(0), joined[m.end():]
    plain: list[str] = []
    length = 0
    spans: list[Span] = []
    stack: list[int] = []
    pos = 0
    for m in _TAG.finditer(joined):
        piece = joined[pos:m.start()]
        piece = _html.unescape(piece) if vtt else piece
        plain.append(piece)
        length += len(piece)
        pos = m.end()
        if m.group(1) == "":
            spans.append(Span(length, length, data=[m.group(0), ""], parent=stack[-1] if stack else None))
            stack.append(len(spans) - 1)
        elif stack and spans[stack[-1]].data[0][1:].lower().startswith(m.group(2).lower()):
            k = stack.pop()
            spans[k].end = length
            spans[k].data[1] = m.group(0)
        else:  # a closing tag without its opening: dropped from the model text, kept as a zero-width span
            spans.append(Span(length, length, data=[m.group(0), ""], parent=stack[-1] if stack else None, atom=True))
    piece = joined[pos:]
    plain.append(_html.unescape(piece) if vtt else piece)
    for k in stack:  # an opening tag never closed: closed at the end
        spans[k].end = len("".join(plain))
    return Unit("".join(plain), spans), prefix, len(lines)


def cue_text(translated: Translated, prefix: str, n_lines: int, vtt: bool) -> str:
    def emit_text(text: str) -> str:
        return _html.escape(text, quote=False) if vtt else text

    def emit_span(span: Span, inner: str) -> str:
        return span.data[0] if span.atom else span.data[0] + inner + span.data[1]

    return prefix + rewrap(render(translated, emit_text, emit_span), n_lines)


def rewrap(text: str, n_lines: int) -> str:
    """`text` on `n_lines` lines, broken at spaces outside tags nearest to equal visible lengths."""
    text = " ".join(text.split())
    if n_lines <= 1:
        return text
    visible, breaks, inside = 0, [], False
    for i, ch in enumerate(text):
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
        elif ch == " " and not inside:
            breaks.append((i, visible))
        if not inside and ch != ">":
            visible += 1
    chosen: list[int] = []
    for k in range(1, n_lines):
        goal = visible * k / n_lines
        options = [(abs(v - goal), i) for i, v in breaks if i not in chosen and (not chosen or i > chosen[-1])]
        if options:
            chosen.append(min(options)[1])
    out = list(text)
    for i in chosen:
        out[i] = "\n"
    return "".join(out)


def translate_bytes(data: bytes, name: str, translate: Callable[[list[Unit]], list[Translated]], limits=None,
                    fmt: str = "srt") -> bytes:
    text, bom = decode(data, name)
    crlf = "\r\n" in text
    text = text.replace("\r\n", "\n")
    if fmt == "srt":
        out = _srt(text, name, translate)
    else:
        out = _vtt(text, name, translate)
    if crlf:
        out = out.replace("\n", "\r\n")
    return (b"\xef\xbb\xbf" if bom else b"") + out.encode("utf-8")


def _srt(text: str, name: str, translate) -> str:
    import srt

    try:
        cues = list(srt.parse(text))
    except (srt.SRTParseError, ValueError) as exc:
        raise DocumentError(f"{name}: not a valid SRT file ({str(exc).splitlines()[0]})") from None
    plans = [cue_unit(c.content, vtt=False) for c in cues]
    results = translate([p[0] for p in plans])
    for cue, (_, prefix, n), tr in zip(cues, plans, results):
        cue.content = cue_text(tr, prefix, n, vtt=False)
    return srt.compose(cues, reindex=False, strict=False)


def _vtt(text: str, name: str, translate) -> str:
    import webvtt
    from webvtt.errors import MalformedFileError

    try:
        captions = webvtt.from_buffer(io.StringIO(text))
    except (MalformedFileError, ValueError) as exc:
        raise DocumentError(f"{name}: not a valid WebVTT file ({exc})") from None
    plans = [cue_unit("\n".join(c.lines), vtt=True) for c in captions]
    results = translate([p[0] for p in plans])
    for caption, (_, prefix, n), tr in zip(captions, plans, results):
        caption.lines = cue_text(tr, prefix, n, vtt=True).split("\n")
    return captions.content
