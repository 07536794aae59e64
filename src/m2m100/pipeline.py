"""`pipeline("translation", ...)`: the transformers 4.x translation pipeline contract, over the Translator.

transformers 5 removed the translation pipeline, but model cards and users' code still call

    translator = pipeline("translation", model="facebook/m2m100_418M", src_lang="en", tgt_lang="fr")
    translator("Hello!", max_length=400)            # -> [{"translation_text": "Bonjour !"}]

so `m2m100.pipeline` accepts the same arguments and returns the same shapes. The work is done by
`Translator.translate`, so long texts are split instead of truncated and the output equals the Translator's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from .errors import ConfigError, LanguageError

_TASK_RE = re.compile(r"translation_(.+)_to_(.+)")
# Options of the transformers pipeline that have no meaning here; accepted so copied code runs unchanged.
_IGNORED_CALL_OPTIONS = ("batch_size", "truncation", "return_text", "num_workers")


def _parse_task(task: str) -> tuple[str | None, str | None]:
    """(src_lang, tgt_lang) named by the task: "translation" gives (None, None), "translation_en_to_fr"
    gives ("en", "fr"). Raises ConfigError for any other task."""
    if not isinstance(task, str):
        raise ConfigError(f"task must be a string such as 'translation' or 'translation_en_to_fr', not {task!r}")
    if task == "translation":
        return None, None
    match = _TASK_RE.fullmatch(task)
    if match is None:
        raise ConfigError(
            f"unsupported task {task!r}: m2m100.pipeline supports 'translation' and 'translation_XX_to_YY'"
        )
    return match.group(1), match.group(2)


def _device_name(device: Any) -> Any:
    """transformers' device argument (-1 = CPU, n = cuda:n, or a name / torch.device) as a torch device name."""
    if device is None:
        return None
    if isinstance(device, bool):
        raise ConfigError(f"device must be an int, a name or a torch.device, not {device!r}")
    if isinstance(device, int):
        return "cpu" if device < 0 else f"cuda:{device}"
    return device


class TranslationPipeline:
    """Callable translator with transformers' pipeline contract.

    `pipe(texts, src_lang=None, tgt_lang=None, max_length=None, **generate_kwargs)`: `texts` is a string or a
    list of strings; the result is a list with one `{"translation_text": str}` per text (one-element list for a
    string). Languages given at call time override those given to `pipeline(...)`. Generation options
    (`num_beams`, `max_new_tokens`, ...) are checked as the Translator checks them.

    Raises LanguageError when no source or target language is known, TypeError for inputs that are not strings,
    GenerationError for invalid generation options, NotImplementedError for `return_tensors=True` and
    `num_return_sequences > 1`.
    """

    def __init__(self, translator: Any, task: str = "translation", src_lang: str | None = None,
                 tgt_lang: str | None = None, generate_kwargs: dict[str, Any] | None = None):
        self.translator = translator
        self.task = task
        self.src_lang = src_lang
        self.tgt_lang = tgt_lang
        self._generate_kwargs = dict(generate_kwargs or {})
        translator.check_generation_options(self._generate_kwargs)  # fail at construction, not at first call

    @property
    def model(self) -> Any:
        return self.translator.model

    @property
    def tokenizer(self) -> Any:
        return self.translator.tokenizer

    @property
    def device(self) -> Any:
        return self.translator.model.device

    def __call__(self, texts: str | Iterable[str], *args: Any, src_lang: str | None = None,
                 tgt_lang: str | None = None, return_tensors: bool = False,
                 clean_up_tokenization_spaces: bool | None = None, **generate_kwargs: Any) -> list:
        if args:
            raise TypeError("pass the texts as the only positional argument; languages as src_lang=/tgt_lang=")
        if return_tensors:
            raise NotImplementedError("return_tensors=True (translation_token_ids) is not supported; use the model")
        if clean_up_tokenization_spaces is not None and bool(clean_up_tokenization_spaces) != bool(
                getattr(self.tokenizer, "clean_up_tokenization_spaces", False)):
            raise NotImplementedError("clean_up_tokenization_spaces can only be set on the tokenizer here")
        for key in _IGNORED_CALL_OPTIONS:
            generate_kwargs.pop(key, None)
        options = {**self._generate_kwargs, **generate_kwargs}
        n_return = options.pop("num_return_sequences", None)
        if n_return not in (None, 1):
            raise NotImplementedError(
                "num_return_sequences > 1 is not supported by the pipeline; use Translator.translate_nbest"
            )
        source = src_lang if src_lang is not None else self.src_lang
        target = tgt_lang if tgt_lang is not None else self.tgt_lang
        if source is None or target is None:
            raise LanguageError(
                "translation needs a source and a target language: pass src_lang= and tgt_lang= (to pipeline() "
                "or to the call), or use a task such as 'translation_en_to_fr'"
            )
        single = isinstance(texts, str)
        if not single and isinstance(texts, (bytes, bytearray)) or not single and not isinstance(texts, Iterable):
            raise TypeError(f"texts must be a string or a list of strings, not {type(texts).__name__}")
        items = [texts] if single else list(texts)
        translations = self.translator.translate(items, source=source, target=target, **options)
        return [{"translation_text": text} for text in translations]

    def __repr__(self) -> str:
        return (f"TranslationPipeline(task={self.task!r}, src_lang={self.src_lang!r}, tgt_lang={self.tgt_lang!r}, "
                f"model={getattr(self.translator, 'name', None)!r})")


def pipeline(task: str = "translation", model: Any = None, tokenizer: Any = None, *, src_lang: str | None = None,
             tgt_lang: str | None = None, device: Any = None, dtype: Any = None, torch_dtype: Any = None,
             device_map: Any = None, revision: str | None = None, token: str | bool | None = None,
             model_kwargs: dict[str, Any] | None = None, guards: Any = False, **kwargs: Any) -> TranslationPipeline:
    """A translation pipeline, as `transformers.pipeline("translation", ...)` in transformers 4.x.

    task: "translation" (languages from src_lang/tgt_lang, here or at call time) or "translation_XX_to_YY".
    model: a checkpoint directory, a hub id (default: `$M2M100_MODEL` or facebook/m2m100_418M) or an already
    loaded M2M100ForConditionalGeneration; tokenizer: an M2M100Tokenizer, a directory or hub id (default: the
    model's). device: -1/"cpu", n/"cuda:n" or a torch.device; dtype (alias torch_dtype). Other keyword
    arguments (num_beams, max_length, ...) become generation defaults of the pipeline. guards: the quality guards
    (m2m100.guards) are off by default, so that the output is what `generate` gives, as with transformers;
    True or a GuardConfig turns them on.

    Raises ConfigError for an unsupported task or a model object without a tokenizer, LanguageError for unknown
    languages, GenerationError for invalid generation options.
    """
    from .translate import Translator, default_model

    task_src, task_tgt = _parse_task(task)
    src_lang = src_lang if src_lang is not None else task_src
    tgt_lang = tgt_lang if tgt_lang is not None else task_tgt
    if dtype is None:
        dtype = torch_dtype
    device = _device_name(device if device is not None else device_map)
    for ignored in ("framework", "use_fast", "trust_remote_code", "batch_size", "truncation"):
        kwargs.pop(ignored, None)  # transformers options with no effect here
    hub = {"revision": revision, "token": token, **(model_kwargs or {})}

    if model is None or isinstance(model, (str, os.PathLike)):
        name = os.fspath(model) if model is not None else default_model()
        translator = Translator.from_pretrained(name, device=device, dtype=dtype, guards=guards, **hub)
        if tokenizer is not None:
            translator = Translator(translator.model, _load_tokenizer(tokenizer, hub), name=name, guards=guards)
    else:
        if tokenizer is None:
            source = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None),
                                                                    "_name_or_path", None)
            if not source:
                raise ConfigError("pipeline(model=<a loaded model>) needs tokenizer=<an M2M100Tokenizer or path>")
            tokenizer = source
        tokenizer = _load_tokenizer(tokenizer, hub)
        if device is not None:
            model = model.to(device)
        if dtype is not None and dtype != "auto":
            import torch

            resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
            if not isinstance(resolved, torch.dtype):
                raise ConfigError(f"dtype must be a torch dtype or its name, not {dtype!r}")
            model = model.to(dtype=resolved)
        translator = Translator(model, tokenizer, name=getattr(model, "name_or_path", None), guards=guards)
    if src_lang is not None:
        translator.normalize_language(src_lang, "src_lang")  # an unknown code fails here, not at first call
    if tgt_lang is not None:
        translator.normalize_language(tgt_lang, "tgt_lang")
    return TranslationPipeline(translator, task=task, src_lang=src_lang, tgt_lang=tgt_lang, generate_kwargs=kwargs)


def _load_tokenizer(tokenizer: Any, hub: dict[str, Any]) -> Any:
    if isinstance(tokenizer, (str, os.PathLike)):
        from .auto import AutoTokenizer

        return AutoTokenizer.from_pretrained(tokenizer, **{k: v for k, v in hub.items() if v is not None})
    return tokenizer


__all__ = ["TranslationPipeline", "pipeline"]
