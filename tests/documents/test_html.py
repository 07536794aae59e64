"""HTML on the rich-text layer: the two LibreTranslate faults, attributes, protected and malformed markup."""

from __future__ import annotations

import html
import re

import pytest

from m2m100 import documents
from m2m100.documents.html import HtmlDocument, translate_html
from m2m100.documents.units import translate_units

WRAPPED = "<p>\n\t\tWenn eine Zeile kein Verb\n\t\tenthält, muss ...\n\t</p>"
INLINE = ("<a><em><span>View the complete range of</span></em> <em><span>drawer systems here!</span></em></a>")


class Words:
    """A stand-in Translator: each word reversed and upper-cased (order kept), so placement is checkable."""

    def __init__(self):
        self.calls = []

    def translate(self, texts, source, target, progress=None, **options):
        self.calls.append(list(texts))
        return [" ".join(w[::-1].upper() for w in t.split(" ")) for t in texts]


def fake(document: str) -> tuple[str, Words]:
    words = Words()
    return translate_html(document, lambda units: translate_units(words, units, "en", "de")), words


@pytest.fixture(scope="module")
def translator(tiny_checkpoint):
    from m2m100 import Translator

    tr = Translator.from_pretrained(tiny_checkpoint, device="cpu")
    seen: list[str] = []
    original = tr.run  # plan -> run -> finish: run gets the model's inputs

    def spy(pieces, *args, **kwargs):
        seen.extend(p.text for p in pieces)
        return original(pieces, *args, **kwargs)

    tr.run = spy
    tr.seen = seen
    return tr


def _visible(document: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", document))


def test_hard_wrapped_paragraph_is_one_sentence_for_the_model(translator):
    translator.seen.clear()
    out = documents.translate_html(translator, WRAPPED, "de", "en", max_new_tokens=8)
    assert translator.seen == ["Wenn eine Zeile kein Verb enthält, muss ..."]
    expected = translator.translate("Wenn eine Zeile kein Verb enthält, muss ...", "de", "en", max_new_tokens=8)
    assert out == "<p>\n\t\t" + html.escape(expected, quote=False) + "\n\t</p>"  # edge whitespace kept


def test_inline_tags_do_not_split_the_sentence(translator):
    translator.seen.clear()
    out = documents.translate_html(translator, INLINE, "en", "de", max_new_tokens=8)
    assert translator.seen == ["View the complete range of drawer systems here!"]
    assert re.findall(r"<[^>]+>", out) == re.findall(r"<[^>]+>", INLINE)  # every tag back, in order
    expected = translator.translate("View the complete range of drawer systems here!", "en", "de", max_new_tokens=8)
    assert " ".join(_visible(out).split()) == " ".join(expected.split())


def test_inline_tags_wrap_whole_words_of_the_translation():
    out, words = fake(INLINE)
    assert words.calls == [["View the complete range of drawer systems here!"]]
    first = re.search(r"<em><span>(.*?)</span></em>", out).group(1)
    second = re.findall(r"<em><span>(.*?)</span></em>", out)[1]
    assert first == "WEIV EHT ETELPMOC EGNAR FO" and second == "REWARD SMETSYS !EREH"
    assert out == f"<a><em><span>{first}</span></em> <em><span>{second}</span></em></a>"


def test_attributes_are_translated_and_other_attributes_kept():
    doc = '<img src="a b.png" alt="A red car" title=\'Tom &amp; Jerry\'><input placeholder=Name value="keep it">'
    out, words = fake(doc)
    assert out == ('<img src="a b.png" alt="A DER RAC" title=\'MOT & YRREJ\'>'
                   '<input placeholder="EMAN" value="keep it">').replace("&", "&amp;")


def test_protected_markup_is_byte_identical():
    doc = ('<!DOCTYPE html><html><head><title>Page title</title><style>p { color: red }</style>'
           '<script>var s = "hello world";</script></head><body><!-- a comment here -->'
           '<p translate="no">Brand Name Here</p><pre>  code  block </pre><p>Run <code>pip install x</code> now.</p>'
           '<textarea>typed text</textarea><a href="https://example.com/a?b=c&amp;d=e">link text</a></body></html>')
    out, _ = fake(doc)
    for kept in ('<style>p { color: red }</style>', '<script>var s = "hello world";</script>',
                 '<!-- a comment here -->', '<p translate="no">Brand Name Here</p>', '<pre>  code  block </pre>',
                 '<code>pip install x</code>', '<textarea>typed text</textarea>',
                 '<a href="https://example.com/a?b=c&amp;d=e">'):
        assert kept in out
    assert "<title>EGAP ELTIT</title>" in out and "KNIL TXET" in out and "NUR" in out


@pytest.mark.parametrize("doc, kept", [
    ("<p>Hello world<script>var x = 1; // never closed", "<script>var x = 1; // never closed"),
    ("<p>Hello world</p><style>p { color: red }", "<style>p { color: red }"),
    ("<p>Hello world<![CDATA[ x ]]> again</p>", "<![CDATA[ x ]]>"),
    ("<p>Hello world</p><!-- a comment never closed", "<!-- a comment never closed"),
    ("<p>Hello world</p><!DOCTYPE broken", "<!DOCTYPE broken"),
])
def test_malformed_input_is_kept_byte_for_byte(doc, kept):
    out, _ = fake(doc)
    # only the readable text changed; the unparseable tail is exactly as it was
    assert out == doc.replace("Hello world", "OLLEH DLROW").replace(" again", " NIAGA")
    assert kept in out


def test_unbalanced_inline_tags_are_kept_and_text_translated():
    doc = "<p>one <b>two</p> three</b> <i>four"
    out, _ = fake(doc)
    assert re.findall(r"<[^>]+>", out) == re.findall(r"<[^>]+>", doc)
    assert all(w in out for w in ("ENO", "OWT", "EERHT", "RUOF"))


def test_events_rebuild_the_document_exactly():
    docs = [WRAPPED, INLINE, "<p>a &lt; b &amp;&amp; c</p>\r\n<br/><img alt=x/>", "x < y <3 &notanentity; z", "",
            "<p>one\rtwo</p>\r<p>three\r\nfour</p>\n<b>five</b>"]
    for doc in docs:
        parsed = HtmlDocument(doc)
        assert "".join(e.raw for e in parsed.events) == doc
        tags = [e.raw for e in parsed.events if e.kind in ("start", "end")]
        assert tags == re.findall(r"</?[a-z][^>]*>", doc)  # every tag event is exactly a tag of the source


def test_server_markup_uses_one_unit_per_paragraph():
    from m2m100.server.markup import join_html, split_html

    plan = split_html(INLINE + "<p title='A tip'>Second paragraph.</p>")
    assert plan.texts == ["View the complete range of drawer systems here!", "Second paragraph.", "A tip"]
    out = join_html(plan, ["Sehen Sie hier alle Schubladensysteme!", "Zweiter Absatz.", "Ein Tipp"])
    assert re.findall(r"<(?!/)[^>]+>", out)[:5] == re.findall(r"<(?!/)[^>]+>", INLINE)[:5]
    assert _visible(out).startswith("Sehen Sie hier alle") and "title='Ein Tipp'" in out


def test_inline_translate_no_is_an_atom_inside_the_sentence():
    doc = '<p>Buy the <span translate="no">Acme Drawer</span> today.</p>'
    out, words = fake(doc)
    assert words.calls == [["Buy the Acme Drawer today."]]  # one sentence, brand name included
    assert '<span translate="no">Acme Drawer</span>' in out and "YUB" in out and ".YADOT" in out
