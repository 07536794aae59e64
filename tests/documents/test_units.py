"""The rich-text layer: span projection (alignment and proportional), nesting, run tiling, the aligner."""

from __future__ import annotations

import pytest

from m2m100.documents.units import Span, Unit, partition_texts, project, render, translate_units


class Upper:
    """A stand-in Translator: upper-cases each text (word order kept) and records what it was given."""

    def __init__(self):
        self.calls = []

    def translate(self, texts, source, target, progress=None, **options):
        self.calls.append(list(texts))
        return [t.upper() for t in texts]


def test_proportional_projection_keeps_words_whole():
    unit = Unit("View the complete range of drawer systems here!", [Span(27, 41)])  # "drawer systems"
    out = project(unit, "Sehen Sie hier die komplette Auswahl an Schubladensystemen!")
    s = out.spans[0]
    piece = out.text[s.start:s.end]
    assert piece and piece == piece.strip() and not out.aligned
    # whole words: the characters around the span are not letters
    assert s.start == 0 or not out.text[s.start - 1].isalnum()
    assert s.end == len(out.text) or not out.text[s.end].isalnum()


def test_alignment_places_a_span_on_the_aligned_words():
    src = "the red house"
    tgt = "das Haus ist rot"
    # target "rot" (13-16) aligned with source "red" (4-7); "Haus" with "house"
    alignment = [((0, 3), (0, 3)), ((4, 8), (8, 13)), ((13, 16), (4, 7))]
    out = project(Unit(src, [Span(4, 7, data="b")]), tgt, alignment)
    assert out.aligned and out.text[out.spans[0].start:out.spans[0].end] == "rot"
    fallback = project(Unit(src, [Span(4, 7, data="b")]), tgt)
    assert fallback.text[fallback.spans[0].start:fallback.spans[0].end] != "rot"  # proportional lands elsewhere


def test_children_stay_inside_parents_and_siblings_in_order():
    src = "one two three four"
    unit = Unit(src, [Span(0, 18), Span(4, 7, parent=0), Span(8, 13, parent=0), Span(8, 13, parent=2)])
    # an alignment that would put the second sibling before the first
    alignment = [((0, 3), (8, 13)), ((4, 7), (4, 7)), ((8, 13), (0, 3)), ((14, 18), (14, 18))]
    out = project(unit, "drei zwei eins vier", alignment)
    a, b, c, d = out.spans
    assert (a.start, a.end) == (0, len(out.text))  # whole-sentence span covers the whole translation
    assert a.start <= b.start <= b.end <= c.start <= c.end <= a.end  # document order, no overlap
    assert c.start <= d.start <= d.end <= c.end


def test_partition_spans_tile_the_translation():
    unit = Unit("Hello bold world", [Span(0, 6), Span(6, 10), Span(10, 16)], partition=True)
    out = project(unit, "Hallo fette Welt und mehr")
    assert "".join(partition_texts(out)) == out.text  # nothing lost between runs
    assert [s.start for s in out.spans] == sorted(s.start for s in out.spans)


def test_render_nests_markup():
    unit = Unit("a b c", [Span(0, 5, data=("<p>", "</p>")), Span(2, 3, data=("<b>", "</b>"), parent=0)])
    out = project(unit, "x y z")
    html = render(out, lambda t: t, lambda s, inner: s.data[0] + inner + s.data[1])
    assert html == "<p>x <b>y</b> z</p>"


def test_translate_units_calls_the_translator_once_with_whole_units():
    tr = Upper()
    units = [Unit("First sentence. Second one.", [Span(6, 14)]), Unit("plain")]
    out = translate_units(tr, units, "en", "de")
    assert tr.calls == [["First sentence. Second one.", "plain"]]
    assert [o.text for o in out] == ["FIRST SENTENCE. SECOND ONE.", "PLAIN"]
    assert out[0].text[out[0].spans[0].start:out[0].spans[0].end] == "SENTENCE"


def test_aligner_on_a_tiny_model(tiny_checkpoint):
    from m2m100 import Translator
    from m2m100.documents.align import Aligner

    tr = Translator.from_pretrained(tiny_checkpoint, device="cpu")
    aligner = Aligner(tr, "en", "de")
    src, tgt = "the house is green", "we walk to school"
    alignment = aligner.align(src, tgt)
    assert alignment, "every target word is aligned to something"
    for (ts, te), (ss, se) in alignment:
        assert 0 <= ts < te <= len(tgt) and 0 <= ss < se <= len(src)
        assert tgt[ts:te].strip() and src[ss:se].strip()
    with pytest.raises(Exception):
        Aligner(tr, "xx-not-a-language", "de")
    long = "house " * 200  # longer than the tiny model's 128 positions: no alignment, the caller falls back
    assert aligner.align(long, "x") is None
