"""Which texts need the model at all (shared by the Translator and the document formats)."""

from __future__ import annotations


def needs_translation(text: str) -> bool:
    """True when `text` has a letter: whitespace, punctuation, digits, symbols and emoji are kept as they are."""
    return any(ch.isalpha() for ch in text)


__all__ = ["needs_translation"]
