"""Moved to server.routes.files (the document endpoints); these names stay importable from here."""

from __future__ import annotations

from .routes.files import FILE_TTL_S, SUPPORTED_FORMATS, FileStore, build_router

__all__ = ["FILE_TTL_S", "SUPPORTED_FORMATS", "FileStore", "build_router"]
