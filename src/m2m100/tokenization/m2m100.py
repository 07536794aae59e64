"""M2M100Tokenizer: sentencepiece pieces mapped through the checkpoint's vocab.json, plus language tokens.

Model ids are not sentencepiece ids. `vocab.json` (fairseq's dictionary) gives the id of each piece; pieces it
lacks become `<unk>`. After the dictionary come the language tokens `__xx__` (id `len(vocab.json) + index` in
the code set's order) and then `num_madeup_words` filler ids, which the model's embedding matrix also has.

Sequences are `[lang_id] tokens </s>`: the source language in source mode, the target language for
`text_target=` (labels). Outputs are token-identical to transformers' M2M100Tokenizer loaded from the same
files; the deliberate differences are listed in `M2M100Tokenizer`'s docstring.

Batches are encoded with sentencepiece's batch API (C++, multithreaded) and one numpy lookup from
sentencepiece ids to model ids, so no Python code runs per token.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError
from ..languages import FAIRSEQ_LANGUAGE_CODES, LANGUAGE_NAMES
from .core import TokenizerCore
from .encoding import BatchEncoding
from .files import VOCAB_FILES_NAMES, load_spm_bytes, load_vocab, safe_file_name
from .special import NAMED_SPECIAL_TOKENS

logger = logging.getLogger("m2m100.tokenizer")

# --------------------------------------------------------------------------------------------------------------
# The tokenizer
# --------------------------------------------------------------------------------------------------------------


class M2M100Tokenizer(TokenizerCore):
    """Tokenizer of M2M100 checkpoints, a drop-in for transformers' `M2M100Tokenizer`.

    Arguments are those of transformers: `vocab_file` (vocab.json), `spm_file` (the sentencepiece model),
    `src_lang` (default "en"), `tgt_lang`, the special tokens, `language_codes` ("m2m100" or "wmt21"),
    `sp_model_kwargs` (passed to `sentencepiece.SentencePieceProcessor`, e.g. for subword sampling),
    `num_madeup_words`, `model_max_length`, `clean_up_tokenization_spaces`, `padding_side`, `truncation_side`.

    Deliberate differences from transformers 5.23 (where it crashes or does something useless):
    - Language tokens are always special tokens. transformers makes them special only when the files list them
      (`additional_special_tokens` in special_tokens_map.json, as every hub checkpoint has); without that list
      it decodes `__fr__` even with skip_special_tokens=True and sentencepiece-splits `__fr__` in text.
    - Unknown language codes raise LanguageError (a ValueError) naming the code and suggesting close ones,
      instead of a bare KeyError; `tgt_lang` is checked when set; `src_lang` is not left broken by a bad value.
    - `text_target=` without a `tgt_lang` raises a ValueError that says so, not `KeyError: None`.
    - An empty batch gives empty outputs instead of a ValueError; `batch_decode([])` gives `[]`, not `[""]`.
    - Pickling does not need the sentencepiece file to still exist (the model is pickled, not its path).
    - Added tokens (`add_tokens`, `add_special_tokens`, `additional_special_tokens=` at load) get ids from
      `len(tokenizer)` upward. transformers 5.24 numbers tokens passed at load from `len(vocab.json)`, onto the
      language tokens' ids (two tokens, one id), and gives a special token the vocabulary lacks (e.g. no `<s>`)
      an id of an existing piece; here such tokens always get a fresh id.
    - An added token `__xx__` is also a language code `xx` (src_lang, tgt_lang, get_lang_id), so a language the
      checkpoint lacks can be fine-tuned; `add_special_tokens` replacing the extra list keeps the language
      tokens special.
    - In a batch where only some sequences overflow, `return_overflowing_tokens=True` gives `[]` and 0 for the
      others (transformers 5.24 fails on such a batch).
    """

    # An added token `__xx__` is a new language code `xx` (how people fine-tune on a language M2M100 lacks).
    language_token_pattern = re.compile(r"__([A-Za-z][A-Za-z0-9-]*(?:_[A-Za-z0-9-]+)*)__")
    vocab_files_names = VOCAB_FILES_NAMES
    _saved_class_name = "M2M100Tokenizer"
    _saved_settings = ("src_lang", "tgt_lang", "language_codes", "sp_model_kwargs", "num_madeup_words",
                       "model_max_length", "clean_up_tokenization_spaces", "padding_side", "truncation_side",
                       "split_special_tokens")
    # transformers' defaults: a saved list naming these tokens does not make them "additional"
    _named_token_defaults = tuple(zip(NAMED_SPECIAL_TOKENS, ("<s>", "</s>", "<unk>", "</s>", "<pad>")))
    _decoder_specials_are_extras = True
    _listed_tokens_become_special = True
    _default_src_lang = "en"
    _language_name_table = LANGUAGE_NAMES

    # ---------------------------------------------------------------------------------------------------------
    # Construction and loading
    # ---------------------------------------------------------------------------------------------------------

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        spm_file: str | os.PathLike,
        src_lang: str | None = None,
        tgt_lang: str | None = None,
        bos_token: str = "<s>",
        eos_token: str = "</s>",
        sep_token: str = "</s>",
        pad_token: str = "<pad>",
        unk_token: str = "<unk>",
        language_codes: str = "m2m100",
        sp_model_kwargs: dict[str, Any] | None = None,
        num_madeup_words: int = 8,
        model_max_length: int | None = None,
        clean_up_tokenization_spaces: bool = False,
        padding_side: str = "right",
        truncation_side: str = "right",
        additional_special_tokens: Iterable[str] | None = None,
        split_special_tokens: bool = False,
        name_or_path: str = "",
        added_tokens_decoder: Mapping[Any, Any] | None = None,
        **kwargs,
    ) -> None:
        if language_codes not in FAIRSEQ_LANGUAGE_CODES:
            raise ConfigError(
                f"language_codes must be one of {sorted(FAIRSEQ_LANGUAGE_CODES)}, not {language_codes!r}"
            )
        self._init_options(sp_model_kwargs=sp_model_kwargs, model_max_length=model_max_length,
                           clean_up_tokenization_spaces=clean_up_tokenization_spaces, padding_side=padding_side,
                           truncation_side=truncation_side, split_special_tokens=split_special_tokens,
                           name_or_path=name_or_path)
        additional_special_tokens = self._pop_extra_special_tokens(kwargs, additional_special_tokens)
        self.vocab_file = str(vocab_file)
        self.spm_file = str(spm_file)
        self.language_codes = language_codes
        self.num_madeup_words = int(num_madeup_words)

        self.encoder: dict[str, int] = load_vocab(vocab_file)
        self.decoder: dict[int, str] = {index: token for token, index in self.encoder.items()}
        self.encoder_size = len(self.encoder)
        self._spm_bytes = load_spm_bytes(spm_file)

        codes = FAIRSEQ_LANGUAGE_CODES[language_codes]
        self.lang_code_to_token = {code: f"__{code}__" for code in codes}
        self.lang_token_to_id = {f"__{code}__": self.encoder_size + i for i, code in enumerate(codes)}
        self.lang_code_to_id = {code: self.encoder_size + i for i, code in enumerate(codes)}
        self.id_to_lang_token = {index: token for token, index in self.lang_token_to_id.items()}
        self._code_set_tokens = tuple(self.lang_token_to_id)  # always special (see the class docstring)

        self._special_tokens_map = self._named_special_map(
            bos_token, eos_token, unk_token, sep_token, pad_token, kwargs.pop("cls_token", None),
            kwargs.pop("mask_token", None),
        )
        self.init_kwargs = dict(kwargs)  # unknown options (from configs written by other tools) are kept, unused
        if self._special_tokens_map["unk_token"] not in self.encoder:
            raise CheckpointError(
                f"vocabulary file {Path(vocab_file).name} has no entry for the unknown token "
                f"{self._special_tokens_map['unk_token']!r} ({vocab_file})"
            )
        # Tokens beyond vocab.json and the language codes (added with add_tokens/add_special_tokens, or listed
        # in a saved tokenizer's added_tokens_decoder): token -> (id, special, lstrip, rstrip).
        self._new_tokens: dict[str, tuple[int, bool, bool, bool]] = {}
        self._extra_special_tokens = []
        self._finish_init(added_tokens_decoder, additional_special_tokens, src_lang, tgt_lang)

    def _ignored_extra_tokens(self) -> Iterable[str]:
        """Other code sets' language tokens, listed by checkpoints that share files, are skipped quietly (a new
        `__xx__` the vocabulary lacks is added, and becomes a language)."""
        return {f"__{code}__" for codes in FAIRSEQ_LANGUAGE_CODES.values() for code in codes}

    # ---------------------------------------------------------------------------------------------------------
    # Loading and saving (the steps are TokenizerCore's; these are the M2M100 files and settings)
    # ---------------------------------------------------------------------------------------------------------

    @classmethod
    def _vocabulary_files(cls, name, fetch, config: Mapping[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """vocab.json and sentencepiece.bpe.model (names from the arguments, the config, or the defaults)."""
        kwargs.pop("use_fast", None)  # one class serves both of transformers' names
        vocab_name = safe_file_name(
            kwargs.pop("vocab_file", None) or config.get("vocab_file") or VOCAB_FILES_NAMES["vocab_file"], "vocab_file"
        )
        spm_name = safe_file_name(
            kwargs.pop("spm_file", None) or config.get("spm_file") or VOCAB_FILES_NAMES["spm_file"], "spm_file"
        )
        return {"vocab_file": fetch(vocab_name, required=True), "spm_file": fetch(spm_name, required=True)}

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str, str]:
        """Write vocab.json and the sentencepiece model into an existing directory; return their paths."""
        from ..hub import atomic_write_bytes, atomic_write_text

        directory, prefix = self._vocabulary_target(save_directory, filename_prefix)
        vocab_path = directory / (prefix + VOCAB_FILES_NAMES["vocab_file"])
        spm_path = directory / (prefix + VOCAB_FILES_NAMES["spm_file"])
        atomic_write_text(vocab_path, json.dumps(self.encoder, indent=2, ensure_ascii=False) + "\n")
        atomic_write_bytes(spm_path, self._spm_bytes)
        return str(vocab_path), str(spm_path)

    def _family_settings(self) -> dict[str, Any]:
        return {"language_codes": self.language_codes, "num_madeup_words": self.num_madeup_words}

    def _repr_fields(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "language_codes": repr(self.language_codes),
                "src_lang": repr(self.src_lang), "tgt_lang": repr(self.tgt_lang),
                "model_max_length": self.model_max_length}

    # ---------------------------------------------------------------------------------------------------------
    # Languages
    # ---------------------------------------------------------------------------------------------------------

    def _language_choices(self) -> str:
        return self.language_codes

    def set_tgt_lang_special_tokens(self, tgt_lang: str) -> None:
        """Target mode: sequences become `[tgt_lang_id] tokens </s>`."""
        if tgt_lang is None:
            raise ValueError("no target language: set tokenizer.tgt_lang (or pass tgt_lang= to from_pretrained)")
        super().set_tgt_lang_special_tokens(tgt_lang)


__all__ = ["VOCAB_FILES_NAMES", "BatchEncoding", "M2M100Tokenizer"]
