"""Text hygiene: what the tokenizer sees of a text, and which texts need the model at all."""

from __future__ import annotations

import os
import re
from typing import Any

from ..hygiene import needs_translation

DEFAULT_MODEL = "facebook/m2m100_418M"
MODEL_ENV = "M2M100_MODEL"
DEFAULT_MAX_BATCH_TOKENS = 4096
DEFAULT_MAX_BATCH_SIZE = 128

# Targets written without spaces between sentences: spaces between translated sentences are dropped.
NO_SPACE_TARGETS = frozenset({"zh", "ja"})

# Generation options `translate` accepts (anything that keeps one output string per input).
GENERATION_OPTIONS = (
    "num_beams", "max_new_tokens", "max_length", "min_length", "min_new_tokens", "do_sample", "temperature",
    "top_k", "top_p", "length_penalty", "no_repeat_ngram_size", "repetition_penalty", "early_stopping",
    "bad_words_ids", "use_cache",
)


def default_model() -> str:
    """The model used when none is named: $M2M100_MODEL, else facebook/m2m100_418M."""
    return os.environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL



_SPACE_LIKE = re.compile(r"[\t\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")
_DROP = re.compile(r"[\x00-\x08\x0e-\x1b\x7f\x80-\x84\x86-\x9f\ufeff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
LINE_BREAK = re.compile(r"(\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029])")


def clean_for_model(text: str) -> str:
    """The text the tokenizer sees: controls dropped, tabs and odd separators as spaces, BOM removed,
    lone surrogates (unencodable) replaced by U+FFFD. The original text is untouched elsewhere."""
    text = _SURROGATE.sub("\ufffd", text)
    text = _SPACE_LIKE.sub(" ", text)
    return _DROP.sub("", text).replace("\r", " ").replace("\n", " ")



def check_text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{where} must be str, got {type(value).__name__}; decode it first (e.g. data.decode('utf-8'))")
    raise TypeError(f"{where} must be str, got {type(value).__name__}")



__all__ = ["clean_for_model", "needs_translation", "check_text", "default_model", "DEFAULT_MODEL", "MODEL_ENV",
           "DEFAULT_MAX_BATCH_TOKENS", "DEFAULT_MAX_BATCH_SIZE", "NO_SPACE_TARGETS", "GENERATION_OPTIONS",
           "LINE_BREAK"]
