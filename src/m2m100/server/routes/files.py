"""Document translation endpoints (LibreTranslate's), an optional router the app factory includes.

    POST /translate_file        multipart: file, source, target, api_key -> {"translatedFileUrl": url}
    GET  /download_file/<name>  the translated file, once: it is deleted after the download

Files are translated by m2m100.documents (same format back; PDF gives .txt): an upload is a translation request
like /translate (admission, max_queue, request_timeout, client disconnect and drain: pipeline.run_request); the
document is parsed and reassembled in the prep worker and its texts go through the batcher, sharing batches
with other requests (pipeline.translate_upload). Uploads are limited by the server's body limit
(--max-body-bytes, 413) and documents.safety (unpacked size, zip bombs, XXE, member names: 400). Results live
in a private temporary directory under random names (192-bit tokens) and are deleted after download, after
FILE_TTL_S seconds, or at exit, whichever comes first.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ...documents import EXTENSIONS, OUTPUT_FORMAT, supported_extensions
from ..admission import admit
from ..errors import ApiError, bad_request
from ..params import normalize_language
from ..pipeline import run_request, translate_upload
from ..state import ServiceState, require_ready

log = logging.getLogger("m2m100.server")

FILE_TTL_S = 600.0  # a result not downloaded within this time is deleted
SUPPORTED_FORMATS = supported_extensions()  # /frontend/settings supportedFilesFormat
_NAME = re.compile(r"^[A-Za-z0-9_-]{32}\.[a-z0-9]{2,8}$")
_MEDIA = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".epub": "application/epub+zip",
    ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
    ".xhtml": "application/xhtml+xml",
    ".md": "text/markdown; charset=utf-8", ".markdown": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8", ".srt": "application/x-subrip; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
}


class FileStore:
    """Translated files under random names in a private directory; each deleted after download or `ttl`."""

    def __init__(self, ttl: float = FILE_TTL_S):
        self.ttl = ttl
        self.directory = Path(tempfile.mkdtemp(prefix="m2m100-files-"))  # mode 0700
        self.entries: dict[str, tuple[Path, str, float]] = {}  # name -> (path, download name, expiry)
        atexit.register(shutil.rmtree, self.directory, True)

    def put(self, data: bytes, suffix: str, download_name: str) -> str:
        self.sweep()
        name = secrets.token_urlsafe(24) + suffix  # 32 characters of [A-Za-z0-9_-]
        path = self.directory / name
        path.write_bytes(data)
        self.entries[name] = (path, download_name, time.monotonic() + self.ttl)
        try:
            asyncio.get_running_loop().call_later(self.ttl, self.remove, name)
        except RuntimeError:  # no loop (direct use in tests): sweep() handles expiry
            pass
        return name

    def take(self, name: str) -> tuple[bytes, str] | None:
        """The file's bytes and download name, removing it; None if unknown or expired."""
        self.sweep()
        if not _NAME.match(name) or name not in self.entries:
            return None
        path, download_name, _ = self.entries.pop(name)
        try:
            data = path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
        return data, download_name

    def remove(self, name: str) -> None:
        entry = self.entries.pop(name, None)
        if entry is not None:
            entry[0].unlink(missing_ok=True)

    def sweep(self) -> None:
        now = time.monotonic()
        for name in [n for n, (_, _, expiry) in self.entries.items() if expiry <= now]:
            self.remove(name)


def build_router(state: ServiceState, ttl: float = FILE_TTL_S) -> APIRouter:
    """The router for `state` (the app's ServiceState)."""
    router = APIRouter(tags=["LibreTranslate"])
    store = FileStore(ttl)
    router.file_store = store  # type: ignore[attr-defined]

    @router.post("/translate_file")
    async def translate_file(request: Request) -> Any:
        """Translate an uploaded document (multipart field `file`); answers {"translatedFileUrl": url}."""
        try:
            form = await request.form()
        except Exception as exc:  # a malformed multipart body
            raise bad_request(f"could not read the upload as multipart/form-data: {exc}") from None
        data = {k: v for k, v in form.items() if isinstance(v, str)}
        admit(state, request, data)
        upload = form.get("file")
        if upload is None or isinstance(upload, str) or not getattr(upload, "filename", None):
            raise bad_request("missing file: send the document as the multipart field 'file'")
        filename = Path(upload.filename.replace("\\", "/")).name  # a client's path is never used as a path
        suffix = Path(filename).suffix.lower()
        if suffix not in SUPPORTED_FORMATS:
            raise bad_request(f"{filename}: unsupported file type {suffix or '(none)'}; supported: "
                              f"{', '.join(SUPPORTED_FORMATS)}")
        for field in ("source", "target"):
            if not data.get(field):
                raise bad_request(f"missing {field}")
        engine = require_ready(state)
        if data["source"].lower() == "auto":
            raise bad_request('source "auto" is not supported for files; give the source language')
        source = normalize_language(engine, data["source"], "source")
        target = normalize_language(engine, data["target"], "target")
        content = await upload.read()
        fmt = EXTENSIONS[suffix]
        try:
            out = await run_request(state, request,
                                    lambda: translate_upload(state, content, fmt, filename, source, target),
                                    counter="translated_files")
        except ValueError as exc:  # DocumentError, LanguageError, GenerationError: the file or request is bad
            raise bad_request(str(exc)) from None
        if out is None:
            return Response(status_code=499)
        out_suffix = ".txt" if OUTPUT_FORMAT.get(fmt) == "text" else suffix
        stem = Path(filename).stem
        name = store.put(out, out_suffix, f"{stem}.{data['target']}{out_suffix}")
        return JSONResponse({"translatedFileUrl": f"{str(request.base_url).rstrip('/')}/download_file/{name}"})

    @router.get("/download_file/{name}")
    async def download_file(name: str) -> Response:
        """A translated file, once (deleted afterwards); 404 when unknown, already downloaded or expired."""
        found = store.take(name)
        if found is None:
            raise ApiError(404, "no such file: unknown, already downloaded, or expired")
        body, download_name = found
        suffix = Path(download_name).suffix.lower()
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", download_name)
        return Response(body, media_type=_MEDIA.get(suffix, "application/octet-stream"),
                        headers={"Content-Disposition": f'attachment; filename="{safe}"'})

    return router
