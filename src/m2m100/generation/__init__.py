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

__all__ = [
    "generate", "GenerationConfig", "load_generation_config", "GLOBAL_DEFAULTS",
    "GenerateEncoderDecoderOutput", "GenerateBeamEncoderDecoderOutput", "GenerateOutput", "GenerateBeamOutput",
    "build_processors", "RepetitionPenalty", "NoRepeatNGram", "BadWords", "MinLength", "ForcedBOS", "ForcedEOS",
    "Temperature", "TopK", "TopP",
]
