"""Text generation for M2M100: greedy search, beam search and sampling with transformers' semantics."""

from .config import GLOBAL_DEFAULTS, GenerationConfig, load_generation_config
from .outputs import (
    GenerateBeamEncoderDecoderOutput,
    GenerateBeamOutput,
    GenerateEncoderDecoderOutput,
    GenerateOutput,
)
from .processors import (
    BadWords,
    ForcedBOS,
    ForcedEOS,
    MinLength,
    NoRepeatNGram,
    RepetitionPenalty,
    Temperature,
    TopK,
    TopP,
    build_processors,
)
from .search import generate
from .shortlist import VocabShortlist
from .surface import GenerationMixin

__all__ = [
    "GLOBAL_DEFAULTS",
    "BadWords",
    "ForcedBOS",
    "ForcedEOS",
    "GenerateBeamEncoderDecoderOutput",
    "GenerateBeamOutput",
    "GenerateEncoderDecoderOutput",
    "GenerateOutput",
    "GenerationMixin",
    "GenerationConfig",
    "MinLength",
    "NoRepeatNGram",
    "RepetitionPenalty",
    "Temperature",
    "TopK",
    "TopP",
    "VocabShortlist",
    "build_processors",
    "generate",
    "load_generation_config",
]
