"""Tokenizers: a shared core (core.py) and one small module per model family.

- `M2M100Tokenizer` (m2m100.py): sentencepiece pieces mapped through vocab.json, `__xx__` language tokens.
- `NllbTokenizer` (nllb.py): fairseq ids over a sentencepiece model or tokenizer.json, FLORES-200 codes.
- `BatchEncoding`: what every tokenizer returns; `TokenizerCore`: what the families share.
"""

from .core import BatchEncoding, TokenizerCore
from .m2m100 import M2M100Tokenizer
from .nllb import NllbTokenizer

NllbTokenizerFast = NllbTokenizer  # one class serves both of transformers' names (tokenizer.json or spm)

__all__ = ["BatchEncoding", "M2M100Tokenizer", "NllbTokenizer", "NllbTokenizerFast", "TokenizerCore"]
