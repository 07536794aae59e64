"""Tokenizers: a shared base class (core.py, built from one module per concern) and one small module per family.

- `M2M100Tokenizer` (m2m100.py): sentencepiece pieces mapped through vocab.json, `__xx__` language tokens.
- `NllbTokenizer` (nllb.py): fairseq ids over a sentencepiece model or tokenizer.json, FLORES-200 codes.
- `BatchEncoding` (encoding.py): what every tokenizer returns; `TokenizerCore` (core.py): what the families share,
  and the hooks a family implements (its docstring).
- encoding.py, special.py, text.py, call.py, padding.py, files.py: the parts of TokenizerCore, one concern each.
"""

from .core import TokenizerCore
from .encoding import BatchEncoding
from .files import VOCAB_FILES_NAMES
from .m2m100 import M2M100Tokenizer
from .nllb import NllbTokenizer
from .padding import LARGE_INTEGER, VERY_LARGE_INTEGER
from .special import SPECIAL_TOKENS_ATTRIBUTES

NllbTokenizerFast = NllbTokenizer  # one class serves both of transformers' names (tokenizer.json or spm)

__all__ = [
    "LARGE_INTEGER", "SPECIAL_TOKENS_ATTRIBUTES", "VERY_LARGE_INTEGER", "VOCAB_FILES_NAMES", "BatchEncoding",
    "M2M100Tokenizer", "NllbTokenizer", "NllbTokenizerFast", "TokenizerCore",
]
