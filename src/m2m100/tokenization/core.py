"""TokenizerCore: the base class of the family tokenizers (m2m100.py, nllb.py) and the contract between them.

The shared machinery lives in one module per concern, joined here as mixins: special.py (special and added
tokens), text.py (text <-> ids), call.py (`__call__`), padding.py (padding and truncation), files.py
(from_pretrained / save_pretrained); encoding.py holds BatchEncoding. The mixins are parts of this one class,
not standalone types: they read each other's state and this class's hooks through `self`. Every hook a family
sets or implements is declared here, so a new family reads one class to know what to write. Nothing here knows
a language code set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ..languages import unsupported_language_error
from .call import CallMixin
from .encoding import BatchEncoding, to_python
from .files import (
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_CONFIG_FILE,
    VOCAB_FILES_NAMES,
    PretrainedFilesMixin,
)
from .padding import LARGE_INTEGER, VERY_LARGE_INTEGER, PaddingMixin
from .special import SPECIAL_TOKENS_ATTRIBUTES, SpecialTokensMixin
from .text import TextCodecMixin


class TokenizerCore(SpecialTokensMixin, TextCodecMixin, CallMixin, PaddingMixin, PretrainedFilesMixin):
    """What every family tokenizer shares: special and added tokens, languages as prefix/suffix tokens,
    text -> ids (batched sentencepiece), padding/truncation/overflow, BatchEncoding and tensors, decoding,
    pickling. The transformers tokenizer API (`__call__`, `encode`, `decode`, `pad`, `add_tokens`, ...).

    The family contract. A family subclass (a small file: m2m100.py, nllb.py):

    1. In `__init__`: first calls `_init_options(...)`; then sets the base vocabulary `encoder`/`decoder`
       (token <-> id) and `encoder_size`; `_spm_bytes` (the sentencepiece model, b"" when another backend
       encodes) and `spm_file`; the language tables `lang_code_to_token`, `lang_token_to_id`,
       `lang_code_to_id`, `id_to_lang_token` and `_code_set_tokens` (the tokens that are always special);
       `_special_tokens_map` (from `_named_special_map(...)`); `_new_tokens = {}` and
       `_extra_special_tokens = []`; `init_kwargs`; and ends with `_finish_init(...)`.
    2. Sets the class attributes below (`_saved_class_name`, `_saved_settings`, `_named_token_defaults`,
       `_default_src_lang`, `_language_name_table`, `language_token_pattern`, ...) and `vocab_files_names`.
    3. Implements `_vocabulary_files` (which files from_pretrained fetches) and `save_vocabulary`.
    4. Overrides, where it differs from the defaults below: `_family_settings`, `_repr_fields`,
       `_language_choices`, `_language_tokens`, `_check_target_language`, `_uses_spm`, `_add_to_backend`,
       `_ignored_extra_tokens`. A family with its own encoding backend also overrides `_encode_texts`,
       `tokenize`, `convert_tokens_to_string` and pickling (`__getstate__`).
    """

    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"

    # ---------------------------------------------------------------------------------------------------------
    # The family contract: class attributes and hooks a family sets or overrides
    # ---------------------------------------------------------------------------------------------------------

    # Added tokens matching this become new language codes (group 1 is the code); None: never.
    language_token_pattern: re.Pattern | None = None
    _saved_class_name = ""  # "tokenizer_class" written to tokenizer_config.json
    _saved_settings: tuple[str, ...] = ()  # tokenizer_config.json keys passed to __init__ when present
    _named_token_defaults: tuple[tuple[str, str | None], ...] = ()  # (attr, default): never "additional" at load
    _decoder_specials_are_extras = False  # special added_tokens_decoder entries join additional_special_tokens
    _listed_tokens_become_special = False  # an added token listed as additional special is marked special
    _default_src_lang = ""
    _language_name_table: Mapping[str, str] = MappingProxyType({})  # code -> English name of the family's codes

    @classmethod
    def _vocabulary_files(cls, name, fetch, config: Mapping[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Hook: fetch the family's vocabulary file(s) (popping their options from kwargs); returns the
        __init__ arguments that name them. `fetch(filename, required)` gives a local path or None."""
        raise NotImplementedError

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str, ...]:
        """Hook: write the family's vocabulary file(s) into an existing directory; return their paths."""
        raise NotImplementedError

    def _family_settings(self) -> dict[str, Any]:
        """Hook: the family's own entries of tokenizer_config.json (written after src_lang/tgt_lang)."""
        return {}

    def _repr_fields(self) -> dict[str, Any]:
        """Hook: the fields __repr__ shows after name_or_path (values already formatted)."""
        return {}

    def _uses_spm(self) -> bool:
        """Hook: True when sentencepiece encodes (and saved added-token ids come from tokenizer_config.json); a
        family with another backend that owns its added tokens returns False."""
        return True

    def _add_to_backend(self, token: str, special: bool, lstrip: bool = False, rstrip: bool = False) -> None:
        """Hook: keep another encoding backend in step with a token added here (none by default)."""

    def _ignored_extra_tokens(self) -> Iterable[str]:
        """Hook: listed extra special tokens the vocabulary lacks that are skipped instead of added."""
        return ()

    def _language_choices(self) -> str | list[str]:
        """Hook: what an unknown-language error suggests from (a code-set name or the codes)."""
        return list(self.lang_code_to_token)

    def _language_tokens(self, lang_id: int) -> None:
        """Hook: the current mode's tokens around a sequence; by default `[lang_id] tokens </s>`."""
        self.cur_lang_id = lang_id
        self.prefix_tokens = [lang_id]
        self.suffix_tokens = [self.eos_token_id]

    def _check_target_language(self) -> None:
        """Hook, called before encoding `text_target`: families without a default target raise here."""
        if self.tgt_lang is None:
            raise ValueError(
                "text_target needs a target language: set tokenizer.tgt_lang = '<code>' "
                "(or pass tgt_lang= to from_pretrained)"
            )

    # ---------------------------------------------------------------------------------------------------------
    # Construction: the steps a family's __init__ calls
    # ---------------------------------------------------------------------------------------------------------

    @staticmethod
    def _pop_extra_special_tokens(kwargs: dict[str, Any], given: Iterable[str] | None) -> Iterable[str] | None:
        """transformers 5 names the list `extra_special_tokens`; accept it when `additional_...` is not given."""
        if "extra_special_tokens" in kwargs and given is None:
            extra = kwargs.pop("extra_special_tokens")
            return extra if isinstance(extra, (list, tuple)) else None
        return given

    def _init_options(self, *, sp_model_kwargs, model_max_length, clean_up_tokenization_spaces, padding_side,
                      truncation_side, split_special_tokens, name_or_path) -> None:
        """Check and store the options every family takes. Raises ValueError for a side not 'left'/'right'."""
        for label, value in (("padding_side", padding_side), ("truncation_side", truncation_side)):
            if value not in ("left", "right"):
                raise ValueError(f"{label} must be 'left' or 'right', not {value!r}")
        self.sp_model_kwargs = dict(sp_model_kwargs or {})
        self.model_max_length = int(model_max_length) if model_max_length is not None else VERY_LARGE_INTEGER
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.split_special_tokens = bool(split_special_tokens)
        self.name_or_path = str(name_or_path)

    def _finish_init(self, added_tokens_decoder, additional_special_tokens, src_lang, tgt_lang) -> None:
        """The end of every family's __init__, once the base vocabulary, language tables and special-token map
        are set: the added tokens (see SpecialTokensMixin._init_added_tokens), sentencepiece, the languages."""
        self._init_added_tokens(added_tokens_decoder, additional_special_tokens)
        if self._uses_spm():
            self._setup_spm()
        self._warned_too_long = False
        self._src_lang = self._default_src_lang
        self._tgt_lang = None
        self.src_lang = src_lang if src_lang is not None else self._default_src_lang
        self.tgt_lang = tgt_lang

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value}" for key, value in self._repr_fields().items())
        return f"{self._saved_class_name}(name_or_path={self.name_or_path!r}, {fields})"

    @property
    def is_fast(self) -> bool:
        return False

    # ---------------------------------------------------------------------------------------------------------
    # Languages
    # ---------------------------------------------------------------------------------------------------------

    @property
    def src_lang(self) -> str:
        return self._src_lang

    @src_lang.setter
    def src_lang(self, new_src_lang: str) -> None:
        self.set_src_lang_special_tokens(new_src_lang)  # validates before anything changes
        self._src_lang = new_src_lang

    @property
    def tgt_lang(self) -> str | None:
        return self._tgt_lang

    @tgt_lang.setter
    def tgt_lang(self, new_tgt_lang: str | None) -> None:
        if new_tgt_lang is not None:
            self.get_lang_id(new_tgt_lang)
        self._tgt_lang = new_tgt_lang

    def get_lang_id(self, lang: str) -> int:
        return self.lang_token_to_id[self.get_lang_token(lang)]

    def _switch_to_input_mode(self) -> None:
        self.set_src_lang_special_tokens(self.src_lang)

    def _switch_to_target_mode(self) -> None:
        self.set_tgt_lang_special_tokens(self.tgt_lang)

    @property
    def language_names(self) -> dict[str, str]:
        """Code -> English name of every language code of this tokenizer (the code itself where none is known)."""
        return {code: self._language_name_table.get(code, code) for code in self.lang_code_to_id}

    def get_lang_token(self, lang: str) -> str:
        """The token of language code `lang`. Raises LanguageError (a ValueError) naming it, with close codes."""
        try:
            return self.lang_code_to_token[lang]
        except (KeyError, TypeError):
            raise unsupported_language_error(lang, self._language_choices()) from None

    def set_src_lang_special_tokens(self, src_lang: str) -> None:
        """Source mode: sequences carry `src_lang`'s token. Raises LanguageError for an unknown code."""
        self._language_tokens(self.get_lang_id(src_lang))

    def set_tgt_lang_special_tokens(self, tgt_lang: str) -> None:
        """Target mode (labels): sequences carry `tgt_lang`'s token. Raises LanguageError for an unknown code."""
        self._language_tokens(self.get_lang_id(tgt_lang))

    # ---------------------------------------------------------------------------------------------------------
    # Special-token helpers (same contract as transformers)
    # ---------------------------------------------------------------------------------------------------------

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return len(self.prefix_tokens) + len(self.suffix_tokens)

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def build_inputs_with_special_tokens(self, token_ids_0: list[int],
                                         token_ids_1: list[int] | None = None) -> list[int]:
        """`[lang_id] ids_0 (ids_1) </s>` with the current mode's language."""
        if token_ids_1 is None:
            return self.prefix_tokens + list(token_ids_0) + self.suffix_tokens
        return self.prefix_tokens + list(token_ids_0) + list(token_ids_1) + self.suffix_tokens

    def get_special_tokens_mask(self, token_ids_0: list[int], token_ids_1: list[int] | None = None,
                                already_has_special_tokens: bool = False) -> list[int]:
        """1 for special tokens, 0 for the others: of ids that have them already, or of the sequence
        `build_inputs_with_special_tokens` would make."""
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError(
                    "You should not supply a second sequence if the provided sequence of ids is already formatted "
                    "with special tokens for the model."
                )
            return [1 if int(index) in self._all_special_ids_set else 0 for index in to_python(token_ids_0)]
        middle = len(token_ids_0) + (len(token_ids_1) if token_ids_1 is not None else 0)
        return [1] * len(self.prefix_tokens) + [0] * middle + [1] * len(self.suffix_tokens)

    def create_token_type_ids_from_sequences(self, token_ids_0: list[int],
                                             token_ids_1: list[int] | None = None) -> list[int]:
        """Zeros for the first sequence with its special tokens, ones for the second (transformers' rule)."""
        first = len(self.build_inputs_with_special_tokens(token_ids_0))
        if token_ids_1 is None:
            return [0] * first
        total = len(self.build_inputs_with_special_tokens(token_ids_0, token_ids_1))
        return [0] * first + [1] * (total - first)


# Re-exported: these names were defined here before the split, and code outside this package imports them here.
__all__ = [
    "LARGE_INTEGER", "SPECIAL_TOKENS_ATTRIBUTES", "SPECIAL_TOKENS_MAP_FILE", "TOKENIZER_CONFIG_FILE",
    "VERY_LARGE_INTEGER", "VOCAB_FILES_NAMES", "BatchEncoding", "TokenizerCore",
]
