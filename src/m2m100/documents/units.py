"""Translation units: a plain text plus the inline formatting spans over it, and their translation.

Every document format reads into `Unit`s (a paragraph, heading, table cell, cue, attribute value...). A unit
is translated as whole sentences through `Translator.translate` (same splitting, batching, languages and limits
as plain text), then its spans are projected onto the translation:

- by word alignment (`align.Aligner`, the model's cross-attention on one teacher-forced pass) when one is
  given and the unit fits the model: a span lands on the target words aligned to its source words;
- otherwise proportionally: a span at characters [s, e) of an n-character source lands at
  [s * m / n, e * m / n) of an m-character translation, snapped outwards to word boundaries.

Projected spans keep the source's tree: a child stays inside its parent, siblings stay in document order and
do not overlap (writers never reorder markup). `Unit.partition` marks spans that tile the text (word-processor
runs): their projections tile the translation, so no target character is lost between runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

_WORD = re.compile(r"\w+(?:[-'’.]\w+)*")  # words without their punctuation: "happy." -> "happy"


@dataclass
class Span:
    """Inline formatting over characters [start, end) of a unit's text.

    parent: index of the enclosing span in `Unit.spans` (None at top level); parents come before children.
    atom: the span's content is protected (inline code, a field): the writer emits `data` unchanged in place
    of whatever translation lands in it. data: the format's payload (a tag pair, a run object...).
    """

    start: int
    end: int
    data: Any = None
    parent: int | None = None
    atom: bool = False


@dataclass
class Unit:
    """One piece of text translated as a whole. partition: the top-level spans tile the text in order."""

    text: str
    spans: list[Span] = field(default_factory=list)
    partition: bool = False


@dataclass
class Translated:
    """A unit's translation: `text`, and `spans` (same order and payloads as the unit's) placed on it."""

    text: str
    spans: list[Span]
    aligned: bool = False  # True when the spans were placed by word alignment


# An aligner maps (source text, target text) to, for each target character range of a target token, the source
# character range it is aligned to; None when alignment is unavailable (see align.Aligner).
Alignment = list[tuple[tuple[int, int], tuple[int, int]]]
AlignFn = Callable[[list[tuple[str, str]]], list["Alignment | None"]]


def translate_units(
    translator: Any,
    units: Sequence[Unit],
    source: str,
    target: str,
    *,
    aligner: AlignFn | None = None,
    progress: bool | None = None,
    **generation_options: Any,
) -> list[Translated]:
    """Translate `units` (one Translator call for all of them) and place their spans; one result per unit.

    aligner: called once with the (source, translation) pairs of the units whose spans need placing; None uses
    the proportional fallback. Errors are the Translator's (LanguageError, GenerationError, TypeError).
    """
    texts = [u.text for u in units]
    translations = translator.translate(texts, source, target, progress=progress, **generation_options) if texts else []
    need = [i for i, u in enumerate(units) if _needs_placing(u)]
    alignments: list[Alignment | None] = [None] * len(units)
    if aligner is not None and need:
        for i, a in zip(need, aligner([(units[i].text, translations[i]) for i in need])):
            alignments[i] = a
    return [project(u, t, alignments[i]) for i, (u, t) in enumerate(zip(units, translations))]


def _needs_placing(unit: Unit) -> bool:
    if not unit.spans:
        return False
    if unit.partition and len(unit.spans) == 1:
        return False
    return True


def project(unit: Unit, translation: str, alignment: Alignment | None = None) -> Translated:
    """Place `unit`'s spans onto `translation` (alignment when given, else proportional); see module docstring."""
    src, tgt = unit.text, translation
    words = [(m.start(), m.end()) for m in _WORD.finditer(tgt)]
    raw: list[tuple[int, int]] = []
    for span in unit.spans:
        placed = _by_alignment(span, src, alignment) if alignment else None
        if placed is not None:
            raw.append(_snap(placed, words, len(tgt)))
            continue
        placed = _proportional(span.start, span.end, len(src), len(tgt))
        raw.append(_nearest(placed, words) if span.end > span.start else (placed[0], placed[0]))
    spans = [replace(s) for s in unit.spans]
    # Whole-text spans (a link around the sentence) cover the whole translation.
    content = (len(src) - len(src.lstrip()), len(src.rstrip()))
    for i, s in enumerate(unit.spans):
        if s.start <= content[0] and s.end >= content[1] and content[1] > content[0]:
            raw[i] = (0, len(tgt))
    if unit.partition:
        _tile(spans, raw, len(tgt))
    else:
        _nest(spans, raw, len(tgt))
    return Translated(tgt, spans, aligned=alignment is not None)


def _proportional(start: int, end: int, n: int, m: int) -> tuple[int, int]:
    if n <= 0:
        return (0, m)
    return (round(start * m / n), round(end * m / n))


def _by_alignment(span: Span, src: str, alignment: Alignment) -> tuple[int, int] | None:
    """Target characters of the target tokens aligned into the span's source characters, or None."""
    hits = [t for t, s in alignment if s[0] < span.end and s[1] > span.start]
    if not hits:
        return None
    return (min(a for a, _ in hits), max(b for _, b in hits))


def _snap(placed: tuple[int, int], words: list[tuple[int, int]], m: int) -> tuple[int, int]:
    """Widen [a, b) to whole words; a span never cuts a word. Empty ranges stay empty."""
    a, b = max(0, min(placed[0], m)), max(0, min(placed[1], m))
    if b <= a:
        b = a
        for ws, we in words:  # an empty projection of a non-empty span: take the word at that point
            if ws <= a < we or a <= ws:
                return (ws, we)
        return (a, a) if not words else words[-1]
    inside = [(ws, we) for ws, we in words if ws < b and we > a]
    if not inside:
        return (a, b)
    return (min(a, inside[0][0]), max(b, inside[-1][1]))


def _nearest(placed: tuple[int, int], words: list[tuple[int, int]]) -> tuple[int, int]:
    """A proportional estimate moved to the nearest word start and word end (at least one word)."""
    if not words:
        return placed
    a, b = placed
    first = min(range(len(words)), key=lambda k: abs(words[k][0] - a))
    last = min(range(first, len(words)), key=lambda k: abs(words[k][1] - b))
    return (words[first][0], words[last][1])


def _tile(spans: list[Span], raw: list[tuple[int, int]], m: int) -> None:
    """Top-level spans tile [0, m) in order: monotone starts, each run ends where the next starts."""
    top = [i for i, s in enumerate(spans) if s.parent is None]
    starts, last = [], 0
    for k, i in enumerate(top):
        start = 0 if k == 0 else max(last, min(raw[i][0], m))
        starts.append(start)
        last = start
    for k, i in enumerate(top):
        spans[i].start = starts[k]
        spans[i].end = starts[k + 1] if k + 1 < len(top) else m
    _nest_children(spans, raw, m)


def _nest(spans: list[Span], raw: list[tuple[int, int]], m: int) -> None:
    _place_siblings(spans, raw, [i for i, s in enumerate(spans) if s.parent is None], 0, m)
    _nest_children(spans, raw, m)


def _nest_children(spans: list[Span], raw: list[tuple[int, int]], m: int) -> None:
    for p in range(len(spans)):
        children = [i for i, s in enumerate(spans) if s.parent == p]
        if children:
            _place_siblings(spans, raw, children, spans[p].start, spans[p].end)


def _place_siblings(spans: list[Span], raw: list[tuple[int, int]], members: list[int], lo: int, hi: int) -> None:
    """Clamp siblings into [lo, hi), in document order, without overlap (a later one starts after the former)."""
    cursor = lo
    for i in members:
        a = min(max(raw[i][0], cursor), hi)
        b = min(max(raw[i][1], a), hi)
        spans[i].start, spans[i].end = a, b
        cursor = b


def render(translated: Translated, emit_text: Callable[[str], str], emit_span: Callable[[Span, str], str]) -> str:
    """Rebuild the translated unit as a string: `emit_text(plain)` for text, `emit_span(span, inner)` around
    each span's rendered content (children first). Used by the markup writers (HTML, Markdown, subtitles)."""
    spans = translated.spans
    text = translated.text
    children: dict[int | None, list[int]] = {}
    for i, s in enumerate(spans):
        children.setdefault(s.parent, []).append(i)

    def emit(parent: int | None, lo: int, hi: int) -> str:
        out, pos = [], lo
        for i in children.get(parent, []):
            s = spans[i]
            out.append(emit_text(text[pos:s.start]))
            out.append(emit_span(s, emit(i, s.start, s.end)))
            pos = max(pos, s.end)
        out.append(emit_text(text[pos:hi]))
        return "".join(out)

    return emit(None, 0, len(text))


def partition_texts(translated: Translated) -> list[str]:
    """The text each top-level span of a partition unit receives, in order (for run-based writers)."""
    return [translated.text[s.start:s.end] for s in translated.spans if s.parent is None]


def partition_unit(runs: Sequence[tuple[Any, str]]) -> Unit:
    """A partition unit from (payload, text) runs: its spans tile the concatenated run texts, span.data is
    the payload (whatever writes a run back: a docx/pptx run, an ODF text node...)."""
    spans, text = [], ""
    for run, run_text in runs:
        spans.append(Span(len(text), len(text) + len(run_text), data=run))
        text += run_text
    return Unit(text, spans, partition=True)
