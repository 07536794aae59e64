"""Every document format, end to end with a tiny random model: real files built with each format's library,
translated, re-opened with that library; structure unchanged, every unit changed, protected parts identical."""

from __future__ import annotations

import io
import re

import pytest

from m2m100.documents import translate_file

# Quick and never empty: a random model's greedy output is often one repeated token or nothing; sampling
# (seeded) with a minimum length gives varied, spaced text, so "every unit changed" is a real check.
OPTIONS = dict(max_new_tokens=8, min_new_tokens=4, do_sample=True, top_k=0, num_beams=1)
RU = "Привет мир, это тест"
ZH = "我们 每天 早上 去 学校"


@pytest.fixture(scope="module")
def translator(tiny_checkpoint):
    from m2m100 import Translator

    return Translator.from_pretrained(tiny_checkpoint, device="cpu")


@pytest.fixture(autouse=True)
def _seed():
    import torch

    torch.manual_seed(0)


def run(translator, tmp_path, name: str, data: bytes, out_name: str | None = None) -> bytes:
    src = tmp_path / name
    src.write_bytes(data)
    dst = tmp_path / (out_name or ("out." + name.split(".", 1)[1]))
    translate_file(translator, src, dst, "en", "de", **OPTIONS)
    return dst.read_bytes()


def changed(before: list[str], after: list[str]) -> None:
    assert len(before) == len(after)
    for b, a in zip(before, after):
        if re.search(r"[^\W\d_]", b):
            assert a != b and a.strip(), f"unit not translated: {b!r} -> {a!r}"
        else:
            assert a == b


def test_docx(translator, tmp_path):
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    d = docx.Document()
    d.add_heading("The annual report", 1)
    p = d.add_paragraph("We walk to ")
    p.add_run("school every").bold = True
    p.add_run(" morning and ")
    p.add_run("birds sing").italic = True
    p._p.append(parse_xml(f'<w:fldSimple {nsdecls("w")} w:instr="PAGE"><w:r><w:t>7</w:t></w:r></w:fldSimple>'))
    d.add_paragraph(RU)
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "the house is green"
    table.cell(1, 1).text = ZH
    d.sections[0].header.paragraphs[0].text = "header of the house"
    d.sections[0].footer.paragraphs[0].text = "footer of the school"
    buf = io.BytesIO()
    d.save(buf)
    out = docx.Document(io.BytesIO(run(translator, tmp_path, "report.docx", buf.getvalue())))
    before = docx.Document(io.BytesIO(buf.getvalue()))

    def runs(doc):
        return [[(r.bold, r.italic, r.style.name) for r in p.runs] for p in doc.paragraphs]

    assert runs(out) == runs(before)  # paragraph and run counts, run formatting
    assert [p.style.name for p in out.paragraphs] == [p.style.name for p in before.paragraphs]
    changed([p.text for p in before.paragraphs], [p.text for p in out.paragraphs])
    cells = [[c.text for r in d.tables[0].rows for c in r.cells] for d in (before, out)]
    changed(*cells)
    changed([before.sections[0].header.paragraphs[0].text, before.sections[0].footer.paragraphs[0].text],
            [out.sections[0].header.paragraphs[0].text, out.sections[0].footer.paragraphs[0].text])
    field = out.paragraphs[1]._p.xpath("./w:fldSimple")[0]
    assert field.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}instr") == "PAGE"
    assert field.xpath("string(.)") == "7"  # the field's result is not translated


def _with_footnotes(docx_bytes: bytes, footnotes_xml: str) -> bytes:
    """`docx_bytes` with a footnotes part (python-docx cannot add one) that has its own external hyperlink."""
    import zipfile

    zin, buf = zipfile.ZipFile(io.BytesIO(docx_bytes)), io.BytesIO()
    ct = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
    rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", f'<Override PartName="/word/footnotes.xml" ContentType="{ct}"/></Types>'.encode())
            elif info.filename == "word/_rels/document.xml.rels":
                data = data.replace(b"</Relationships>", f'<Relationship Id="rId99" Type="{rels}/footnotes" '
                                                          f'Target="footnotes.xml"/></Relationships>'.encode())
            zout.writestr(info, data)
        zout.writestr("word/footnotes.xml", footnotes_xml)
        zout.writestr("word/_rels/footnotes.xml.rels",
                      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.'
                      f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rels}/hyperlink" '
                      'Target="https://example.com/" TargetMode="External"/></Relationships>')
    return buf.getvalue()


def test_docx_footnotes_are_translated_run_by_run():
    """Footnotes are a part python-docx keeps as bytes: it is read as XML, its runs translated like the body's
    (formatting kept), its relationships kept, and the rest of the package unchanged."""
    import zipfile

    import docx
    from m2m100.documents import translate_document
    from m2m100.documents.units import project

    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    notes = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:footnotes xmlns:w="{w}"><w:footnote w:id="1">'
             '<w:p><w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">the footnote </w:t></w:r><w:r><w:t>says hello'
             '</w:t></w:r></w:p>\n  <w:p><w:r><w:t>123</w:t></w:r></w:p></w:footnote></w:footnotes>')
    d = docx.Document()
    d.add_paragraph("the house is green")
    buf = io.BytesIO()
    d.save(buf)
    data = _with_footnotes(buf.getvalue(), notes)
    out = translate_document(data, "docx", "notes.docx", lambda units: [project(u, u.text.upper()) for u in units])
    zin, zout = zipfile.ZipFile(io.BytesIO(data)), zipfile.ZipFile(io.BytesIO(out))
    assert sorted(zout.namelist()) == sorted(zin.namelist())
    assert zout.read("word/footnotes.xml").decode() == (
        notes.replace('"1.0" encoding="UTF-8" standalone="yes"', "'1.0' encoding='UTF-8' standalone='yes'")
        .replace("the footnote ", "THE FOOTNOTE ").replace("says hello", "SAYS HELLO"))  # runs and whitespace kept
    assert b'Target="https://example.com/" TargetMode="External"' in zout.read("word/_rels/footnotes.xml.rels")
    assert b'Target="footnotes.xml"' in zout.read("word/_rels/document.xml.rels")
    assert [p.text for p in docx.Document(io.BytesIO(out)).paragraphs] == ["THE HOUSE IS GREEN"]


def test_pptx(translator, tmp_path):
    import pptx
    from pptx.util import Inches

    prs = pptx.Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Our school report"
    body = slide.placeholders[1].text_frame
    body.text = "the house is green"
    para = body.add_paragraph()
    bold = para.add_run()
    bold.text, bold.font.bold = "birds sing ", True
    para.add_run().text = RU
    slide.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(4), Inches(1)).table.cell(0, 0).text = "every morning"
    slide.notes_slide.notes_text_frame.text = "notes for the speaker"
    buf = io.BytesIO()
    prs.save(buf)
    out = pptx.Presentation(io.BytesIO(run(translator, tmp_path, "deck.pptx", buf.getvalue())))
    before = pptx.Presentation(io.BytesIO(buf.getvalue()))

    def texts(p):
        s = p.slides[0]
        frames = [sh.text_frame for sh in s.shapes if sh.has_text_frame]
        frames += [sh.table.cell(0, 0).text_frame for sh in s.shapes if sh.has_table]
        frames.append(s.notes_slide.notes_text_frame)
        return [[r.text for r in para.runs] for f in frames for para in f.paragraphs], \
               [[r.font.bold for r in para.runs] for f in frames for para in f.paragraphs]

    (b_runs, b_bold), (o_runs, o_bold) = texts(before), texts(out)
    assert [len(r) for r in o_runs] == [len(r) for r in b_runs] and o_bold == b_bold
    changed(["".join(r) for r in b_runs], ["".join(r) for r in o_runs])
    assert len(out.slides) == 1 and len(list(out.slides[0].shapes)) == len(list(before.slides[0].shapes))


def test_xlsx(translator, tmp_path):
    import openpyxl
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws["A1"], ws["B1"], ws["C1"] = "the house is green", 42, "=SUM(B1:B2)"
    ws["A2"] = CellRichText("we walk ", TextBlock(InlineFont(b=True), "to school"))
    ws["B2"] = RU
    wb.create_sheet("Other")["A1"] = "birds sing every morning"
    buf = io.BytesIO()
    wb.save(buf)
    out = openpyxl.load_workbook(io.BytesIO(run(translator, tmp_path, "book.xlsx", buf.getvalue())), rich_text=True)
    assert out.sheetnames == ["Data", "Other"]
    ws2 = out["Data"]
    assert ws2["B1"].value == 42 and ws2["C1"].value == "=SUM(B1:B2)"  # numbers and formulas untouched
    rich = ws2["A2"].value
    assert isinstance(rich, CellRichText) and any(isinstance(b, TextBlock) and b.font.b for b in rich)
    changed(["the house is green", RU, "birds sing every morning", "we walk to school"],
            [ws2["A1"].value, ws2["B2"].value, out["Other"]["A1"].value, str(rich)])


@pytest.mark.parametrize("kind", ["odt", "odp"])
def test_odf(translator, tmp_path, kind):
    from odf import draw, teletype, text as T
    from odf.opendocument import OpenDocumentPresentation, OpenDocumentText, load
    from odf.style import Header, MasterPage, PageLayout

    if kind == "odt":
        doc = OpenDocumentText()
        container = doc.text
        layout = PageLayout(name="pl")
        doc.automaticstyles.addElement(layout)
        master = MasterPage(name="Standard", pagelayoutname=layout)
        doc.masterstyles.addElement(master)
        header = Header()
        header.addElement(T.P(text="header of the school"))
        master.addElement(header)
        note = T.Note(noteclass="footnote")
        note.addElement(T.NoteCitation(text="1"))
        note_body = T.NoteBody()
        note_body.addElement(T.P(text="the footnote says hello"))
        note.addElement(note_body)
        container.addElement(T.P(text="see the note"))
        container.lastChild.addElement(note)
    else:
        doc = OpenDocumentPresentation()
        layout = PageLayout(name="pl")
        doc.automaticstyles.addElement(layout)
        master = MasterPage(name="m", pagelayoutname=layout)
        doc.masterstyles.addElement(master)
        page = draw.Page(masterpagename=master)
        doc.presentation.addElement(page)
        frame = draw.Frame(width="10cm", height="5cm", x="1cm", y="1cm")
        page.addElement(frame)
        container = draw.TextBox()
        frame.addElement(container)
    container.addElement(T.H(outlinelevel=1, text="The school report"))
    p = T.P(text="We walk ")
    p.addElement(T.Span(stylename="Strong", text="to school"))
    p.addText(" every morning, see ")
    link = T.A(href="https://example.com/x", text="the house")
    p.addElement(link)
    container.addElement(p)
    container.addElement(T.P(text=RU))
    buf = io.BytesIO()
    doc.write(buf)
    out = load(io.BytesIO(run(translator, tmp_path, f"doc.{kind}", buf.getvalue())))
    before = load(io.BytesIO(buf.getvalue()))

    def paras(d):
        return d.getElementsByType(T.H) + d.getElementsByType(T.P)

    assert len(paras(out)) == len(paras(before))
    assert len(out.getElementsByType(T.Span)) == len(before.getElementsByType(T.Span))
    changed([teletype.extractText(x) for x in paras(before)], [teletype.extractText(x) for x in paras(out)])
    assert [a.getAttribute("href") for a in out.getElementsByType(T.A)] == ["https://example.com/x"]
    assert [teletype.extractText(c) for c in out.getElementsByType(T.NoteCitation)] == (["1"] if kind == "odt" else [])


def test_epub(translator, tmp_path):
    import warnings

    import ebooklib
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("id-1")
    book.set_title("A book")
    book.set_language("en")
    css = epub.EpubItem(uid="css", file_name="style.css", media_type="text/css", content=b"p { margin: 0 }")
    chapter = epub.EpubHtml(title="One", file_name="one.xhtml", lang="en")
    chapter.content = (f"<html><body><h1>Chapter one</h1><p>We walk <b>to school</b> every morning.</p>"
                       f"<p>{RU}</p><pre>code stays</pre></body></html>")
    chapter.add_link(href="style.css", rel="stylesheet", type="text/css")
    for item in (css, chapter):
        book.add_item(item)
    book.toc, book.spine = [chapter], ["nav", chapter]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    buf = io.BytesIO()
    epub.write_epub(buf, book, {})
    data = run(translator, tmp_path, "book.epub", buf.getvalue())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = epub.read_epub(io.BytesIO(data), {"ignore_ncx": True})
    body = next(i for i in out.get_items_of_type(ebooklib.ITEM_DOCUMENT) if i.file_name == "one.xhtml").content.decode()
    assert "<pre>code stays</pre>" in body and body.count("<p>") == 2 and "<b>" in body and "<h1>" in body
    assert "Chapter one" not in body and "every morning" not in body and RU not in body
    assert out.get_item_with_href("style.css").content == b"p { margin: 0 }"
    import zipfile

    before, after = zipfile.ZipFile(io.BytesIO(buf.getvalue())), zipfile.ZipFile(io.BytesIO(data))
    assert after.namelist() == before.namelist() and after.namelist()[0] == "mimetype"
    for member in before.namelist():  # the package, CSS, nav: byte for byte; the chapter keeps its <head>
        if member != "EPUB/one.xhtml":
            assert after.read(member) == before.read(member), member
    assert '<link href="style.css" rel="stylesheet" type="text/css"/>' in body  # the stylesheet link stays
    assert "<title>" in body and "<title>One</title>" not in body  # the document title is translated


def test_srt_and_vtt(translator, tmp_path):
    srt_doc = ("1\n00:00:01,000 --> 00:00:02,500\n<i>We walk to school</i>\nevery morning.\n\n"
               f"2\n00:00:03,000 --> 00:00:04,000\n{RU}\n\n").encode()
    out = run(translator, tmp_path, "film.srt", srt_doc).decode()
    import srt

    before, after = list(srt.parse(srt_doc.decode())), list(srt.parse(out))
    assert [(c.index, c.start, c.end) for c in after] == [(c.index, c.start, c.end) for c in before]
    assert [c.content.count("\n") for c in after] <= [1, 0]  # never more lines than the cue had
    assert after[0].content.startswith("<i>") and "</i>" in after[0].content
    changed([c.content for c in before], [c.content for c in after])

    vtt_doc = ("WEBVTT\n\nNOTE kept as it is\n\nintro\n00:00:01.000 --> 00:00:02.000 align:start position:10%\n"
               "Birds sing &amp; we walk\n\n00:00:03.000 --> 00:00:04.000\nthe house is green\n").encode()
    out = run(translator, tmp_path, "film.vtt", vtt_doc).decode()
    assert "NOTE kept as it is" in out and "intro\n00:00:01.000 --> 00:00:02.000 align:start position:10%\n" in out
    assert "00:00:03.000 --> 00:00:04.000\n" in out
    assert "Birds sing" not in out and "the house is green" not in out


def test_markdown(translator, tmp_path):
    md = ("---\ntitle: Keep the front matter\n---\n# The school report\n\n"
          "We walk **to school** every morning, see [the house](https://example.com/a_b \"T\") and `code here`.\n\n"
          "```python\nprint('the house is green')\n```\n\n| name | value |\n|---|---|\n| birds | sing |\n\n"
          f"- {RU}\n- {ZH}\n").encode()
    out = run(translator, tmp_path, "readme.md", md).decode()
    assert out.startswith("---\ntitle: Keep the front matter\n---\n# ")
    assert "```python\nprint('the house is green')\n```" in out
    assert '](https://example.com/a_b "T")' in out and "`code here`" in out and "**" in out
    assert "\n|---|---|\n" in out and out.count("\n- ") == 2
    for text in ("The school report", "every morning", "birds", RU, ZH):
        assert text not in out


def test_text_and_html_files(translator, tmp_path):
    out = run(translator, tmp_path, "notes.txt", "\ufeffthe house is green\r\n\r\n  birds sing\r\n".encode())
    assert out.startswith(b"\xef\xbb\xbf") and out.count(b"\r\n") == 3 and b"house" not in out
    page = '<html><head><meta charset="utf-8"></head><body><p title="a tip">We walk <b>to school</b>.</p></body></html>'
    out = run(translator, tmp_path, "page.html", page.encode()).decode()
    assert re.findall(r"<[a-z/][^>]*>", out)[:4] == re.findall(r"<[a-z/][^>]*>", page)[:4]
    assert "We walk" not in out and 'title="a tip"' not in out and "<b>" in out


def test_pdf_text_extraction(translator, tmp_path):
    pypdf = pytest.importorskip("pypdf")
    pdf = _tiny_pdf(["the house is green", "birds sing every morning"])
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == 2
    out = run(translator, tmp_path, "paper.pdf", pdf, out_name="paper.txt").decode()
    assert out.count("\f") == 1 and "house" not in out and out.strip()
    from m2m100.errors import DocumentError

    with pytest.raises(DocumentError, match=r"\.txt"):
        translate_file(translator, tmp_path / "paper.pdf", tmp_path / "paper.docx", "en", "de")


def _tiny_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page (pypdf writes the file)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    for text in pages:
        page = writer.add_blank_page(width=300, height=100)
        font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                                 NameObject("/BaseFont"): NameObject("/Helvetica")})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
            {NameObject("/F1"): writer._add_object(font)})})
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 10 50 Td ({text}) Tj ET".encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_cli_translates_a_docx(tiny_checkpoint, tmp_path):
    import docx

    from m2m100.cli import main

    d = docx.Document()
    d.add_paragraph("the house is green")
    src = tmp_path / "report.docx"
    d.save(src)
    dst = tmp_path / "report.de.docx"
    assert main(["translate", "-q", "-s", "en", "-t", "de", "-m", str(tiny_checkpoint), "-i", str(src), "-o", str(dst),
                 "--max-new-tokens", "6"]) == 0
    assert docx.Document(dst).paragraphs[0].text not in ("", "the house is green")
    # --format forces the format whatever the extension says
    odd = tmp_path / "report.bin"
    odd.write_bytes(src.read_bytes())
    assert main(["translate", "-q", "-s", "en", "-t", "de", "-m", str(tiny_checkpoint), "-i", str(odd), "-o",
                 str(tmp_path / "x.bin"), "--format", "docx", "--max-new-tokens", "6"]) == 0
    assert docx.Document(tmp_path / "x.bin").paragraphs[0].text != "the house is green"


def test_subtitle_cues_are_rewrapped_to_their_line_count():
    from m2m100.documents import translate_document
    from m2m100.documents.units import project

    doc = b"1\n00:00:01,000 --> 00:00:02,500\n<i>We walk to school</i>\nevery morning.\n\n"
    out = translate_document(doc, "srt", "x.srt", lambda units: [project(u, u.text.upper() + " NOW") for u in units])
    assert out.decode() == "1\n00:00:01,000 --> 00:00:02,500\n<i>WE WALK TO SCHOOL</i>\nEVERY MORNING. NOW\n\n"


def test_cli_resume_reuses_saved_unit_translations(tiny_checkpoint, tmp_path, capsys):
    import hashlib
    import json

    import docx

    from m2m100.cli import main

    d = docx.Document()
    d.add_paragraph("the house is green")
    d.add_paragraph("birds sing")
    src = tmp_path / "r.docx"
    d.save(src)
    dst = tmp_path / "r.de.docx"
    state = tmp_path / ".r.de.docx.m2m100-units.json"
    settings = {"input_sha256": hashlib.sha256(src.read_bytes()).hexdigest(), "format": "docx", "source": "en",
                "target": "de", "options": {"max_new_tokens": 6}, "model": str(tiny_checkpoint)}
    # what an interrupted run saved: the first paragraph was done
    state.write_text(json.dumps({"settings": settings, "done": {"the house is green": "DAS HAUS"}}))
    argv = ["translate", "-q", "-s", "en", "-t", "de", "-m", str(tiny_checkpoint), "-i", str(src), "-o", str(dst),
            "--max-new-tokens", "6", "--resume"]
    assert main(argv) == 0
    paragraphs = [p.text for p in docx.Document(dst).paragraphs]
    assert paragraphs[0] == "DAS HAUS" and paragraphs[1] != "birds sing"
    assert not state.exists()  # removed once the output is complete
    settings["target"] = "fr"
    state.write_text(json.dumps({"settings": settings, "done": {}}))
    assert main(argv) == 1 and "cannot resume" in capsys.readouterr().err
