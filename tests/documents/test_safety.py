"""Hostile and broken files: zip bombs, XXE, path traversal, encryption, corruption, size limits.
Each is a DocumentError naming the file and the problem, before any translation; the CLI exits 1 and writes
no output file."""

from __future__ import annotations

import io
import zipfile

import pytest

from m2m100.documents import translate_document
from m2m100.documents.safety import Limits
from m2m100.documents.units import project
from m2m100.errors import DocumentError


def never(units):
    raise AssertionError("a hostile file must be refused before translation")


def upper(units):
    return [project(u, u.text.upper()) for u in units]


def docx_bytes(text: str = "the house is green") -> bytes:
    import docx

    d = docx.Document()
    d.add_paragraph(text)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """A copy of the archive with some members replaced or added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info.filename, (replace or {}).get(info.filename, src.read(info.filename)))
        for name, content in (add or {}).items():
            out.writestr(name, content)
    return buf.getvalue()


def test_a_clean_file_passes():
    import docx

    out = translate_document(docx_bytes(), "docx", "ok.docx", upper)
    assert docx.Document(io.BytesIO(out)).paragraphs[0].text == "THE HOUSE IS GREEN"


def test_zip_bomb_by_ratio():
    bomb = rezip(docx_bytes(), add={"word/media/zeros.bin": b"\0" * (8 * 2**20)})
    with pytest.raises(DocumentError, match=r"bomb.docx: .*zeros.bin.*ratio over the limit of 200.*zip bomb"):
        translate_document(bomb, "docx", "bomb.docx", never)


def test_zip_bomb_by_total_unpacked_size():
    big = rezip(docx_bytes(), add={"word/media/noise.bin": bytes(range(256)) * 4096})  # 1 MiB, compresses poorly
    with pytest.raises(DocumentError, match=r"big.docx: unpacks to more than the limit of 524288 bytes"):
        translate_document(big, "docx", "big.docx", never, Limits(max_unpacked_bytes=2**19))


def test_file_size_limit():
    with pytest.raises(DocumentError, match=r"x.docx: \d+ bytes, more than the limit of 1000 bytes"):
        translate_document(docx_bytes(), "docx", "x.docx", never, Limits(max_bytes=1000))


def test_xxe_is_refused():
    data = docx_bytes()
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode()
    evil = xml.replace("?>", '?><!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 1)
    evil = evil.replace("the house is green", "&xxe;")
    with pytest.raises(DocumentError, match=r"xxe.docx: word/document.xml: XML entity declarations"):
        translate_document(rezip(data, replace={"word/document.xml": evil.encode()}), "docx", "xxe.docx", never)


def test_billion_laughs_in_epub_html_is_refused():
    data = rezip(docx_bytes(), add={"OEBPS/ch.xhtml": b'<!DOCTYPE html [<!ENTITY a "aaaa">]><html>&a;</html>'})
    with pytest.raises(DocumentError, match="XXE"):
        translate_document(data, "docx", "laughs.docx", never)


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/cron.d/x", "word/../../x.xml", "C:/x.txt"])
def test_path_traversal_member_names_are_refused(member):
    with pytest.raises(DocumentError, match="unsafe archive member name"):
        translate_document(rezip(docx_bytes(), add={member: b"x"}), "docx", "trav.docx", never)


def test_password_protected_office_file():
    # Office encrypts a document into an OLE compound file (as legacy .doc files are): recognisable by its magic
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 1024
    with pytest.raises(DocumentError, match="locked.docx: password-protected"):
        translate_document(ole, "docx", "locked.docx", never)


def test_encrypted_zip_member():
    data = bytearray(docx_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" flag bit
        at = data.find(signature)
        while at >= 0:
            data[at + offset] |= 0x1
            at = data.find(signature, at + 4)
    with pytest.raises(DocumentError, match="enc.docx: member .* is encrypted"):
        translate_document(bytes(data), "docx", "enc.docx", never)


@pytest.mark.parametrize("fmt", ["docx", "pptx", "xlsx", "odt", "epub"])
def test_corrupt_files(fmt):
    with pytest.raises(DocumentError, match=f"bad.{fmt}: corrupt"):
        translate_document(b"PK\x03\x04 this is not a zip", fmt, f"bad.{fmt}", never)
    truncated = docx_bytes()[:300]
    with pytest.raises(DocumentError, match=f"bad.{fmt}"):
        translate_document(truncated, fmt, f"bad.{fmt}", never)


def test_zip_that_is_not_the_format():
    data = rezip(docx_bytes(), replace={"[Content_Types].xml": b"<Types/>"})
    with pytest.raises(DocumentError, match="odd.pptx: cannot read as PPTX"):
        translate_document(data, "pptx", "odd.pptx", never)


def test_pdf_password_and_corrupt():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.encrypt("secret")
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(DocumentError, match="p.pdf: the PDF is password-protected"):
        translate_document(buf.getvalue(), "pdf", "p.pdf", never)
    with pytest.raises(DocumentError, match="c.pdf: cannot read as PDF"):
        translate_document(b"%PDF-1.7 garbage", "pdf", "c.pdf", never)


def test_text_formats_refuse_invalid_utf8():
    for fmt in ("markdown", "srt", "vtt", "text"):
        with pytest.raises(DocumentError, match=r"f: line 2: invalid UTF-8"):
            translate_document(b"ok\ncaf\xe9\n", fmt, "f", never)


def test_cli_exit_1_naming_the_file_and_no_output(tiny_checkpoint, tmp_path, capsys):
    from m2m100.cli import main

    bad = tmp_path / "report.docx"
    bad.write_bytes(b"PK\x03\x04 broken")
    out = tmp_path / "report.de.docx"
    code = main(["translate", "-q", "-s", "en", "-t", "de", "-m", str(tiny_checkpoint), "-i", str(bad), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "report.docx: corrupt" in err and "Traceback" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name != "report.docx"]
