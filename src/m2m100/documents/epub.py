"""EPUB: every XHTML content document goes through the HTML reader/writer (html.py).

ebooklib reads the package (which manifest items are content documents); the output archive is the input's
members copied one by one with zipfile (same order, same compression, `mimetype` first and stored), with only
the content documents replaced. So CSS, images, metadata, the package file and each document's <head> stay
byte for byte: ebooklib's own writer would rebuild every document's <head> and lose stylesheet links. The
navigation document and table of contents are not translated (their titles stay as they were).
"""

from __future__ import annotations

import io
import posixpath
import warnings
import zipfile
from typing import Callable

from ..errors import DocumentError
from .html import HtmlDocument
from .safety import check_archive
from .units import Translated, Unit


def translate_bytes(data: bytes, name: str, translate: Callable[[list[Unit]], list[Translated]], limits,
                    fmt: str = "epub") -> bytes:
    import ebooklib
    from ebooklib import epub

    check_archive(data, name, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": True})
        archive = zipfile.ZipFile(io.BytesIO(data))
        opf_dir = posixpath.dirname(_opf_path(archive))
    except DocumentError:
        raise
    except Exception as exc:  # ebooklib raises EpubException, KeyError, lxml errors for broken packages
        raise DocumentError(f"{name}: cannot read as EPUB: {type(exc).__name__}: {exc}") from None
    members = set(archive.namelist())
    targets, documents = [], []
    for item in book.get_items_of_type(ebooklib.ITEM_DOCUMENT):
        if isinstance(item, epub.EpubNav):
            continue
        member = posixpath.normpath(posixpath.join(opf_dir, item.file_name)) if opf_dir else item.file_name
        if member not in members:
            raise DocumentError(f"{name}: the manifest names {item.file_name!r}, which the archive does not hold")
        try:
            text = archive.read(member).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DocumentError(f"{name}: {member} is not valid UTF-8") from None
        targets.append(member)
        documents.append(HtmlDocument(text))
    units = [u for doc in documents for u in doc.units]
    results = translate(units) if units else []
    replaced: dict[str, bytes] = {}
    offset = 0
    for member, doc in zip(targets, documents):
        n = len(doc.units)
        replaced[member] = doc.render(results[offset:offset + n]).encode("utf-8")
        offset += n
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as writer:
        for info in archive.infolist():
            writer.writestr(info, replaced.get(info.filename, archive.read(info)))
    return out.getvalue()


def _opf_path(archive: zipfile.ZipFile) -> str:
    """The package document's path, from META-INF/container.xml (parsed without entities: defusedxml)."""
    import defusedxml.ElementTree as SafeET

    root = SafeET.fromstring(archive.read("META-INF/container.xml"), forbid_entities=True, forbid_external=True)
    for element in root.iter():
        if element.tag.endswith("rootfile") and element.get("full-path"):
            return element.get("full-path")
    raise DocumentError("META-INF/container.xml names no package document")
