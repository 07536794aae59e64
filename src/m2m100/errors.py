"""Typed errors. Bad input subclasses ValueError; loading problems subclass OSError like file errors do."""


class M2M100Error(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(M2M100Error, ValueError):
    """An invalid configuration value."""


class CheckpointError(M2M100Error, OSError):
    """A checkpoint file that is missing, corrupt, unsafe or does not match the config."""


class LanguageError(M2M100Error, ValueError):
    """An unknown or unsupported language code."""


class InputTooLongError(M2M100Error, ValueError):
    """Input longer than the model's position limit."""


class GenerationError(M2M100Error, ValueError):
    """An invalid generation argument."""


class DataFormatError(M2M100Error, ValueError):
    """A training or evaluation data file that cannot be read as documented (the message names file and line)."""


class TrainingError(M2M100Error, RuntimeError):
    """Training cannot go on: repeated non-finite losses, non-finite weights, a checkpoint that cannot be written."""


class DocumentError(M2M100Error, ValueError):
    """A document file that cannot be translated safely: unsupported, corrupt, encrypted, over a size limit or
    hostile (XML entities, unsafe archive member names). The message names the file and the problem."""
