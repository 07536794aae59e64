"""HTTP server: a LibreTranslate-compatible API with dynamic batching and a web page (`m2m100 serve`).

Importing this package loads nothing heavy; `create_app` is imported on first use.
"""

from __future__ import annotations

from typing import Any

from .settings import ServerSettings


def create_app(settings: ServerSettings | None = None, translator_factory: Any = None) -> Any:
    from .app import create_app as _create_app

    return _create_app(settings, translator_factory)


__all__ = ["ServerSettings", "create_app"]
