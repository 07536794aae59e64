"""POST /translate_file and GET /download_file/<name> (LibreTranslate's document endpoints)."""

from __future__ import annotations

import io

import httpx
import pytest

pytest.importorskip("docx", reason="document translation needs the documents extra")


def _docx(text: str) -> bytes:
    import docx

    d = docx.Document()
    d.add_paragraph(text)
    d.add_paragraph("").add_run("birds sing").bold = True
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def upload(server, name: str, data: bytes, **fields):
    form = {"source": "en", "target": "de", **fields}
    return httpx.post(server.url + "/translate_file", data=form, files={"file": (name, data)}, timeout=120)


def test_translate_a_docx_and_download_it_once(server):
    import docx

    response = upload(server, "report.docx", _docx("the house is green"))
    assert response.status_code == 200, response.text
    url = response.json()["translatedFileUrl"]
    assert url.startswith(server.url + "/download_file/") and url.endswith(".docx")
    download = httpx.get(url, timeout=30)
    assert download.status_code == 200
    assert 'filename="report.de.docx"' in download.headers["content-disposition"]
    out = docx.Document(io.BytesIO(download.content))
    assert len(out.paragraphs) == 2 and out.paragraphs[0].text != "the house is green"
    assert out.paragraphs[1].runs[0].bold
    again = httpx.get(url, timeout=30)  # deleted after the download
    assert again.status_code == 404 and "error" in again.json()


def test_html_and_subtitles_round_trip(server):
    response = upload(server, "page.html", b"<p>We walk <b>to school</b>.</p>")
    assert response.status_code == 200, response.text
    body = httpx.get(response.json()["translatedFileUrl"], timeout=30).text
    assert body.startswith("<p>") and "<b>" in body and "We walk" not in body
    srt = b"1\n00:00:01,000 --> 00:00:02,000\nthe house is green\n"
    response = upload(server, "film.srt", srt)
    assert response.status_code == 200, response.text
    body = httpx.get(response.json()["translatedFileUrl"], timeout=30).text
    assert body.startswith("1\n00:00:01,000 --> 00:00:02,000\n") and "house" not in body


@pytest.mark.parametrize("name, data, fields, fragment", [
    ("report.docx", b"PK\x03\x04 broken", {}, "report.docx: corrupt"),
    ("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, {}, "password-protected"),
    ("virus.exe", b"MZ", {}, "unsupported file type .exe"),
    ("report.docx", b"x", {"target": "xx-nope"}, "not supported"),
    ("report.docx", b"x", {"source": "auto"}, 'source "auto"'),
])
def test_bad_uploads_are_400_naming_the_problem(server, name, data, fields, fragment):
    response = upload(server, name, data, **fields)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_missing_file_and_oversized_upload(server):
    response = httpx.post(server.url + "/translate_file", data={"source": "en", "target": "de"}, timeout=30)
    assert response.status_code == 400 and "missing file" in response.json()["error"]
    response = upload(server, "big.txt", b"a" * 70000)  # over the test server's 65536-byte body limit
    assert response.status_code == 413


@pytest.mark.parametrize("name", ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "nope.docx", "a" * 32 + ".docx"])
def test_download_names_cannot_escape(server, name):
    response = httpx.get(f"{server.url}/download_file/{name}", timeout=30)
    assert response.status_code == 404


def test_frontend_settings_lists_file_formats(server):
    settings = httpx.get(server.url + "/frontend/settings", timeout=30).json()
    assert settings["filesTranslation"] is True
    assert {".docx", ".pptx", ".xlsx", ".odt", ".epub", ".html", ".md", ".srt", ".vtt", ".txt", ".pdf"} <= set(
        settings["supportedFilesFormat"])


def test_results_expire(tmp_path):
    import time

    from m2m100.server.files import FileStore

    store = FileStore(ttl=0.05)
    name = store.put(b"data", ".txt", "a.de.txt")
    assert (store.directory / name).exists() and len(name) == 36
    time.sleep(0.1)
    assert store.take(name) is None and not (store.directory / name).exists()
