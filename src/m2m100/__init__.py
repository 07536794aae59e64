"""m2m100: a from-scratch M2M100 many-to-many translation model and the system around it."""

from . import loading, pretrained
from .config import M2M100Config
from .errors import (
    CheckpointError,
    ConfigError,
    GenerationError,
    InputTooLongError,
    LanguageError,
    M2M100Error,
    TrainingError,
)
from .model import M2M100ForConditionalGeneration, M2M100Model

# The loading layer sits above the model (it builds models), so the model classes cannot import it; their
# from_pretrained / save_pretrained reach it through this one hook, set before any caller can use them.
pretrained.use_loader(loading.load_pretrained, loading.save_pretrained)

# Bound eagerly (the module is light): a lazy import would leave `m2m100.pipeline` naming the submodule.
from .pipeline import TranslationPipeline, pipeline  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name):
    # Heavier or optional parts load on first use, so `import m2m100` stays fast.
    if name == "M2M100Tokenizer":
        from .tokenizer import M2M100Tokenizer

        return M2M100Tokenizer
    if name in ("NllbTokenizer", "NllbTokenizerFast", "BatchEncoding"):
        from . import tokenization

        return getattr(tokenization, name)
    if name == "Translator":
        from .translate import Translator

        return Translator
    if name == "GuardConfig":
        from .guards import GuardConfig

        return GuardConfig
    if name == "GenerationConfig":
        from .generation import GenerationConfig

        return GenerationConfig
    if name == "VocabShortlist":
        from .generation.shortlist import VocabShortlist

        return VocabShortlist
    if name in ("prepack_model", "unpack_model"):
        from . import packed

        return getattr(packed, name)
    if name in ("AutoTokenizer", "AutoModelForSeq2SeqLM", "AutoConfig"):
        from . import auto

        return getattr(auto, name)
    raise AttributeError(f"module 'm2m100' has no attribute {name!r}")


__all__ = [
    "M2M100Config", "M2M100Model", "M2M100ForConditionalGeneration", "M2M100Tokenizer", "Translator",
    "GenerationConfig", "AutoTokenizer", "AutoModelForSeq2SeqLM", "AutoConfig",
    "M2M100Error", "ConfigError", "CheckpointError", "LanguageError", "InputTooLongError", "GenerationError",
    "TrainingError", "prepack_model", "unpack_model", "pipeline", "TranslationPipeline",
    "NllbTokenizer", "NllbTokenizerFast", "BatchEncoding", "GuardConfig", "VocabShortlist",
]
