"""Translation of text: hygiene (text.py), splitting (split.py), the request and its plan (request.py), model
batches (batches.py) and the Translator (translator.py), the one Python API every front end calls.

    >>> from m2m100 import Translator
    >>> tr = Translator.from_pretrained()                 # $M2M100_MODEL or facebook/m2m100_418M
    >>> tr.translate("Hello world!", source="en", target="fr")
"""

from .batches import BatchRunner
from .languages import ModelLanguages, language_codes
from .request import Piece, Plan, TextPlan, TextResult, TranslationRequest
from .split import PYSBD_LANGUAGES, Splitter, SplitText, split_lines, split_sentences
from .text import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    DEFAULT_MODEL,
    GENERATION_OPTIONS,
    MODEL_ENV,
    NO_SPACE_TARGETS,
    check_text,
    clean_for_model,
    default_model,
    needs_translation,
)
from .translator import RUN_KEYS, Translator

__all__ = [
    "Translator", "TranslationRequest", "Plan", "TextPlan", "Piece", "TextResult", "BatchRunner", "RUN_KEYS", "ModelLanguages", "language_codes",
    "SplitText", "Splitter", "split_lines", "split_sentences", "clean_for_model", "needs_translation", "check_text",
    "default_model", "DEFAULT_MODEL", "MODEL_ENV", "GENERATION_OPTIONS", "DEFAULT_MAX_BATCH_TOKENS",
    "DEFAULT_MAX_BATCH_SIZE", "NO_SPACE_TARGETS", "PYSBD_LANGUAGES",
]
