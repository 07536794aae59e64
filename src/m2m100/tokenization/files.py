"""The tokenizer files: reading vocab.json, sentencepiece models and configs safely, and the from_pretrained /
save_pretrained steps every family shares.

Every problem with a file becomes a CheckpointError that names the file, because these files usually come from a
download the user did not write. The file *set* differs per family; a family says which files it has through
the `_vocabulary_files` / `save_vocabulary` hooks (see TokenizerCore).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..hub import read_json_object
from .padding import LARGE_INTEGER
from .special import SPECIAL_TOKENS_ATTRIBUTES, token_str

# M2M100's files (the first family, and transformers' names); NLLB has its own table in nllb.py.
VOCAB_FILES_NAMES = {
    "vocab_file": "vocab.json",
    "spm_file": "sentencepiece.bpe.model",
    "tokenizer_config_file": "tokenizer_config.json",
}
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


def load_vocab(path: str | os.PathLike) -> dict[str, int]:
    """Token -> id of a vocab.json. Raises CheckpointError (naming the file) when it is missing, not JSON, or
    not a non-empty object of non-negative integer ids."""
    name = Path(path).name
    try:
        with open(path, encoding="utf-8") as handle:
            vocab = json.load(handle)
    except FileNotFoundError:
        raise CheckpointError(f"vocabulary file {name} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"vocabulary file {name} is not valid JSON ({path}): {exc}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read vocabulary file {name} ({path}): {exc}") from None
    if not isinstance(vocab, dict) or not vocab:
        raise CheckpointError(f"vocabulary file {name} must be a non-empty JSON object of token -> id ({path})")
    for token, index in vocab.items():
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise CheckpointError(
                f"vocabulary file {name} maps {token!r} to {index!r}; ids must be non-negative integers ({path})"
            )
    return vocab


def load_spm_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a sentencepiece model file. Tokenizers keep the bytes, not the path, so that pickling and
    save_pretrained work after the file is gone. Raises CheckpointError when it is missing, unreadable or empty."""
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"sentencepiece model {name} not found: {path}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read sentencepiece model {name} ({path}): {exc}") from None
    if not data:
        raise CheckpointError(f"sentencepiece model {name} is empty ({path})")
    return data


def make_spm(data: bytes, kwargs: Mapping[str, Any], name: str = "sentencepiece.bpe.model"):
    """A SentencePieceProcessor (built with `kwargs`, the tokenizer's sp_model_kwargs) of a model's bytes.
    Raises CheckpointError naming the file `name` when the bytes are not a sentencepiece model."""
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(**dict(kwargs))
    try:
        ok = processor.LoadFromSerializedProto(data)
    except Exception as exc:  # sentencepiece raises RuntimeError (or OSError) on a bad proto
        raise CheckpointError(f"sentencepiece model {name} is corrupt or not a sentencepiece model: {exc}") from None
    if ok is False or processor.get_piece_size() == 0:
        raise CheckpointError(f"sentencepiece model {name} is corrupt or not a sentencepiece model")
    return processor


def _read_json_config(path: Path | None) -> dict:
    """A JSON object file, or {} when the checkpoint has none (both config files are optional)."""
    if path is None:
        return {}
    return read_json_object(path, Path(path).name)


def safe_file_name(value, what: str) -> str:
    """`value` as a relative POSIX file name. File names come from tokenizer_config.json, which a downloaded
    checkpoint controls, so a name that leaves the model directory (absolute, `..`, `~`) raises CheckpointError."""
    if not isinstance(value, (str, os.PathLike)):
        raise CheckpointError(f"{what} must be a file name inside the model directory, got {value!r}")
    path = Path(value)
    if path.is_absolute() or ".." in path.parts or str(value).startswith("~"):
        raise CheckpointError(
            f"refusing {what} {str(value)!r}: it points outside the model directory (use a plain file name)"
        )
    return path.as_posix()


class PretrainedFilesMixin:
    """from_pretrained and save_pretrained of TokenizerCore: the config and special-token files, and the
    vocabulary files through the family's hooks (`_vocabulary_files`, `save_vocabulary`, `_saved_settings`,
    `_family_settings`, ...). Only usable as part of TokenizerCore."""

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *init_inputs,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        subfolder: str | None = None,
        **kwargs,
    ):
        """Load from a local directory or a Hugging Face hub id: the family's vocabulary file(s),
        tokenizer_config.json and special_tokens_map.json. Keyword arguments override the saved settings.
        Raises CheckpointError for missing or malformed files, TypeError for positional arguments."""
        from ..hub import resolve_file

        if init_inputs:
            raise TypeError("from_pretrained takes the model directory or hub id and keyword arguments only")
        for ignored in ("trust_remote_code", "force_download", "resume_download", "proxies", "_from_auto",
                        "_commit_hash", "legacy", "from_slow", "use_auth_token"):
            value = kwargs.pop(ignored, None)
            if ignored == "use_auth_token" and value is not None and token is None:
                token = value
        hub = dict(revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only)

        def fetch(filename: str, required: bool) -> Path | None:
            full = f"{subfolder.strip('/')}/{filename}" if subfolder else filename
            return resolve_file(pretrained_model_name_or_path, full, required=required, **hub)

        config = _read_json_config(fetch(TOKENIZER_CONFIG_FILE, required=False))
        tokens_map = _read_json_config(fetch(SPECIAL_TOKENS_MAP_FILE, required=False))
        files = cls._vocabulary_files(pretrained_model_name_or_path, fetch, config, kwargs)
        init = cls._saved_init(config, tokens_map)
        init.update(kwargs)
        init.setdefault("name_or_path", str(pretrained_model_name_or_path))
        return cls(**files, **init)

    @classmethod
    def _saved_init(cls, config: Mapping[str, Any], tokens_map: Mapping[str, Any]) -> dict[str, Any]:
        """__init__ arguments from tokenizer_config.json and special_tokens_map.json (the config wins)."""
        init: dict[str, Any] = {}
        for key in (*cls._saved_settings, *SPECIAL_TOKENS_ATTRIBUTES):
            if config.get(key) is not None:
                init[key] = config[key]
        for key in SPECIAL_TOKENS_ATTRIBUTES:
            if tokens_map.get(key) is not None and key not in config:
                init[key] = tokens_map[key]
        extras: list[str] = []
        for source in (config, tokens_map):
            for key in ("additional_special_tokens", "extra_special_tokens"):
                value = source.get(key)
                if isinstance(value, (list, tuple)):
                    extras.extend(t for t in (token_str(v) for v in value) if t and t not in extras)
        decoder_entries = config.get("added_tokens_decoder")
        if isinstance(decoder_entries, dict):
            init["added_tokens_decoder"] = decoder_entries  # tokens added after the vocabulary keep their ids
            if cls._decoder_specials_are_extras:
                for entry in decoder_entries.values():
                    if isinstance(entry, dict) and entry.get("special") and token_str(entry) not in extras:
                        extras.append(token_str(entry))
        named = {token_str(init.get(key, default)) for key, default in cls._named_token_defaults}
        init["additional_special_tokens"] = [t for t in extras if t not in named]
        return init

    def save_pretrained(self, save_directory: str | os.PathLike, filename_prefix: str | None = None,
                        **kwargs) -> tuple[str, ...]:
        """Write tokenizer_config.json, special_tokens_map.json and the vocabulary file(s) so that this class and
        transformers' tokenizer of the same name both load the same tokenizer back; return the paths written.
        Raises NotImplementedError for push_to_hub, TypeError for unknown options, OSError when the path is a
        file."""
        from ..hub import atomic_write_text

        if kwargs.pop("push_to_hub", False):
            raise NotImplementedError("push_to_hub is not supported; upload the saved directory with huggingface_hub")
        kwargs.pop("legacy_format", None)
        if kwargs:
            raise TypeError(f"save_pretrained() got unexpected keyword arguments: {sorted(kwargs)}")
        directory = Path(save_directory)
        if directory.exists() and not directory.is_dir():
            raise OSError(f"{save_directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        extras = list(self._extra_special_tokens)
        config: dict[str, Any] = {
            "tokenizer_class": self._saved_class_name,
            "added_tokens_decoder": {str(index): entry for index, entry in self._decoder_json().items()},
            "additional_special_tokens": extras,
            **self.special_tokens_map,
            "src_lang": self.src_lang,
            "tgt_lang": self.tgt_lang,
            **self._family_settings(),
            "sp_model_kwargs": self.sp_model_kwargs,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
        }
        if self.model_max_length < LARGE_INTEGER:
            config["model_max_length"] = self.model_max_length
        tokens_map = {**self.special_tokens_map, "additional_special_tokens": extras}
        config_path = directory / (prefix + TOKENIZER_CONFIG_FILE)
        map_path = directory / (prefix + SPECIAL_TOKENS_MAP_FILE)
        atomic_write_text(config_path, json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(map_path, json.dumps(tokens_map, indent=2, ensure_ascii=False) + "\n")
        return (str(config_path), str(map_path), *self.save_vocabulary(directory, filename_prefix=filename_prefix))

    @staticmethod
    def _vocabulary_target(save_directory: str | os.PathLike, filename_prefix: str | None) -> tuple[Path, str]:
        """The directory save_vocabulary writes into (it must exist: OSError otherwise) and the file prefix."""
        directory = Path(save_directory)
        if not directory.is_dir():
            raise OSError(f"{save_directory} should be a directory")
        return directory, (f"{filename_prefix}-" if filename_prefix else "")


__all__ = [
    "SPECIAL_TOKENS_MAP_FILE", "TOKENIZER_CONFIG_FILE", "VOCAB_FILES_NAMES", "PretrainedFilesMixin", "load_spm_bytes",
    "load_vocab", "make_spm", "safe_file_name",
]
