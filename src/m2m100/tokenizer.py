"""Kept so that `from m2m100.tokenizer import M2M100Tokenizer, BatchEncoding` still works; the code lives in
the `m2m100.tokenization` package (a shared base class and one module per model family)."""

from .tokenization import VOCAB_FILES_NAMES, BatchEncoding, M2M100Tokenizer

__all__ = ["VOCAB_FILES_NAMES", "BatchEncoding", "M2M100Tokenizer"]
