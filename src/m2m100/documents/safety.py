"""Limits for hostile files: sizes, zip bombs, unsafe archive member names, XML entities, encryption.

Every archive-based format (DOCX, PPTX, XLSX, ODT/ODP, EPUB) is checked here before its library opens it:
the archive must open, no member may be encrypted or have an unsafe name (absolute, `..`, drive letters), the
members' real unpacked size (read, not the header's claim) must stay under `max_unpacked_bytes` and each
member's compression ratio under `max_ratio`, and every XML member must parse with defusedxml without entity
declarations (XXE, billion laughs). Problems raise DocumentError naming the file and the limit.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

from ..errors import DocumentError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # compound file: encrypted Office files and legacy .doc/.ppt/.xls
_XML_MEMBER = re.compile(r"\.(xml|rels|opf|ncx|svg)$", re.IGNORECASE)
_HTML_MEMBER = re.compile(r"\.(xhtml|html|htm)$", re.IGNORECASE)


@dataclass(frozen=True)
class Limits:
    """max_bytes: the input file; max_unpacked_bytes: all archive members together, unpacked; max_ratio:
    unpacked/packed size of one member bigger than 1 MiB; max_members: archive entries."""

    max_bytes: int = 50 * 2**20
    max_unpacked_bytes: int = 512 * 2**20
    max_ratio: int = 200
    max_members: int = 10_000


def check_size(data: bytes, name: str, limits: Limits) -> None:
    if len(data) > limits.max_bytes:
        raise DocumentError(f"{name}: {len(data)} bytes, more than the limit of {limits.max_bytes} bytes")


def check_archive(data: bytes, name: str, limits: Limits) -> None:
    """Raise DocumentError unless `data` is a safe zip archive (see module docstring)."""
    check_size(data, name, limits)
    if data.startswith(OLE_MAGIC):
        raise DocumentError(
            f"{name}: password-protected (encrypted) or legacy binary Office file; save it unprotected in the "
            "current format (.docx/.pptx/.xlsx) first"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentError(f"{name}: corrupt or not a zip-based document ({exc})") from None
    if len(infos) > limits.max_members:
        raise DocumentError(f"{name}: {len(infos)} archive members, more than the limit of {limits.max_members}")
    total = 0
    for info in infos:
        member = info.filename
        parts = member.replace("\\", "/").split("/")
        if member.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", member) or "\x00" in member:
            raise DocumentError(f"{name}: unsafe archive member name {member!r} (path traversal)")
        if info.flag_bits & 0x1:
            raise DocumentError(f"{name}: member {member!r} is encrypted (password-protected file)")
        if info.file_size > 2**20 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise DocumentError(
                f"{name}: member {member!r} unpacks {info.compress_size} bytes to {info.file_size} "
                f"(ratio over the limit of {limits.max_ratio}): refused as a zip bomb"
            )
        wanted = _XML_MEMBER.search(member) or _HTML_MEMBER.search(member)
        chunks: list[bytes] = []
        try:
            with archive.open(info) as handle:  # real sizes: a header may lie about them
                while True:
                    chunk = handle.read(1 << 16)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > limits.max_unpacked_bytes:
                        raise DocumentError(
                            f"{name}: unpacks to more than the limit of {limits.max_unpacked_bytes} bytes: "
                            "refused as a zip bomb"
                        )
                    if wanted:
                        chunks.append(chunk)
        except DocumentError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
            raise DocumentError(f"{name}: corrupt archive member {member!r} ({exc})") from None
        except Exception as exc:  # zlib.error and friends
            raise DocumentError(f"{name}: corrupt archive member {member!r} ({exc})") from None
        if wanted:
            check_xml(b"".join(chunks), f"{name}: {member}", html=bool(_HTML_MEMBER.search(member)))


def check_xml(data: bytes, where: str, html: bool = False) -> None:
    """XML without entity declarations or external references (defusedxml); HTML members are only scanned."""
    if html:
        if re.search(rb"<!ENTITY", data, re.IGNORECASE):
            raise DocumentError(f"{where}: XML entity declarations are not allowed (XXE)")
        return
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    try:
        SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise DocumentError(
            f"{where}: XML entity declarations or external references are not allowed ({exc})"
        ) from None
    except SafeET.ParseError as exc:
        raise DocumentError(f"{where}: corrupt XML ({exc})") from None
