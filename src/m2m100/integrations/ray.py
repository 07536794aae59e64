"""Batch translation on a Ray cluster with Ray Data (`pip install "m2m100[ray]"`).

    import ray
    from m2m100.integrations.ray import TranslateBatch, translate_dataset

    ds = ray.data.read_parquet("s3://bucket/corpus/")                       # a column "text"
    ds = translate_dataset(ds, "facebook/m2m100_418M", source="en", target="fr",
                           concurrency=8, num_cpus=4)                     # 8 actors x 4 threads
    ds.write_parquet("s3://bucket/corpus.fr/")

    # or the idiomatic call, with every Ray Data argument in your hands:
    ds.map_batches(TranslateBatch, fn_constructor_kwargs={"model": "facebook/m2m100_418M", "source": "en",
                   "target": "fr"}, batch_size=256, compute=ray.data.ActorPoolStrategy(size=8), num_cpus=4)

How the work is spread (Ray Data's own knobs, nothing of ours):
- `compute=ray.data.ActorPoolStrategy(size=N)` (or `(min_size=, max_size=)` to autoscale; `concurrency=N` in
  older Ray releases): N actors, each loading the model ONCE in its constructor and translating batch after
  batch. A class (not a function) is required for that: a function would reload the model per batch.
- `num_cpus=C` per actor: Ray reserves C CPUs and sets the actor's OMP_NUM_THREADS to C, so torch uses C
  threads (or pass `threads=` to the constructor). On CPU, a few actors of 4-8 threads beat many 1-thread ones.
- `num_gpus=1` per actor: Ray sets CUDA_VISIBLE_DEVICES and the Translator picks the GPU (`device=None`). Ray
  Data then needs an explicit integer `batch_size`. `num_gpus=0.5` packs two actors on one GPU.
- `batch_size`: rows per call; the Translator regroups them into model batches under `max_batch_tokens`
  (sorted by length, identical pieces translated once), so larger batches (256-2048) pack better.

Per row: `column` holds the text (None/null rows come back None without a model call); languages are the
constants `source`/`target` or the columns `source_column`/`target_column` (codes or names, normalised as
everywhere else). The result goes to `output_column` (default "translation"; give `column` itself to
replace the text). Long texts are split into sentences and pieces and never truncated; empty, whitespace-only
and letterless texts, and rows whose source equals the target, come back unchanged: the `Translator`'s rules.

Errors: a bad constant language or generation option raises `LanguageError` / `GenerationError` in the actor
constructor (Ray reports it when the job starts); a non-string cell raises `TypeError` naming the column and
the row of the batch; Ray Data stops the job and re-raises it on the driver, wrapped in its own exception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..options import TranslatorOptions
from ..translate import Translator

INSTALL_HINT = 'pip install "m2m100[ray]"'


def require_ray() -> Any:
    """The `ray` module, or ImportError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the [data] extra
    except ImportError as exc:
        raise ImportError(f"this needs Ray (ray[data,serve]): {INSTALL_HINT} ({exc})") from None
    return ray


class TranslateBatch:
    """A callable class for `Dataset.map_batches`: load a Translator once per actor, translate one column.

    Constructor (runs once per actor): `model` is a checkpoint directory (visible on every node) or a hub id
    (default `$M2M100_MODEL` or facebook/m2m100_418M); the loading options are `options` (a TranslatorOptions)
    and/or its fields as keywords (`device`, `dtype`, `quantize`, `prepack`, `max_batch_tokens`,
    `max_batch_size`, `split_sentences`, `threads`, ... : m2m100.options; a keyword replaces the field of
    `options`, None keeps the default). `threads` sets torch's CPU threads (default: Ray's OMP_NUM_THREADS,
    i.e. the actor's num_cpus). `generation_options` (num_beams, max_new_tokens, ...) apply to every row.
    `translator_factory()`, when given, replaces the loading (a picklable callable returning a Translator).

    Call: a batch in any of Ray Data's formats (dict of numpy arrays, pandas.DataFrame, pyarrow.Table) with
    n rows -> the same batch, same kind, plus `output_column` (n strings or None). Raises KeyError for a
    missing column, TypeError for a non-string cell, LanguageError for an unknown per-row language.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        source: str | None = None,
        target: str | None = None,
        column: str = "text",
        output_column: str = "translation",
        source_column: str | None = None,
        target_column: str | None = None,
        generation_options: dict[str, Any] | None = None,
        translator_factory: Callable[[], Translator] | None = None,
        options: TranslatorOptions | None = None,
        **loading: Any,
    ):
        if (source is None) == (source_column is None):
            raise ValueError("give exactly one of source (a language) and source_column (a column of languages)")
        if (target is None) == (target_column is None):
            raise ValueError("give exactly one of target (a language) and target_column (a column of languages)")
        self.column, self.output_column = column, output_column
        self.source_column, self.target_column = source_column, target_column
        self.options = Translator.check_generation_options(dict(generation_options or {}))
        self.loading = loading_options(options, model=model, **loading).validate()
        self.loading.set_threads()
        if translator_factory is not None:
            self.translator = translator_factory()
        else:
            self.translator = self.loading.load(progress=False)
        # Constant languages are checked once here, so a typo fails when the actors start, not per batch.
        # "auto" stays as it is: the Translator detects each text's language (Translator.translate(source="auto"))
        self.source = (source if isinstance(source, str) and source.strip().lower() == "auto"
                       else self.translator.normalize_language(source, "source") if source is not None else None)
        self.target = self.translator.normalize_language(target, "target") if target is not None else None

    def __call__(self, batch: Any) -> Any:
        texts = _cells(batch, self.column)
        sources = _cells(batch, self.source_column) if self.source_column else None
        targets = _cells(batch, self.target_column) if self.target_column else None
        rows: list[int] = []  # rows with a text; None cells stay None
        for i, text in enumerate(texts):
            if text is None:
                continue
            if not isinstance(text, str):
                raise TypeError(f"column {self.column!r}, row {i} of the batch: expected a string or null, "
                                f"got {type(text).__name__}")
            rows.append(i)
        results: list[str | None] = [None] * len(texts)
        if rows:
            translated = self.translator.translate(
                [texts[i] for i in rows],
                self.source if sources is None else [sources[i] for i in rows],
                self.target if targets is None else [targets[i] for i in rows],
                progress=False, **self.options,
            )
            for i, text in zip(rows, translated):
                results[i] = text
        return _with_column(batch, self.output_column, results)


class TranslateBlocks(TranslateBatch):
    """`TranslateBatch` for rows that each hold a LIST of texts (`column`, default "texts"): every row is
    translated by one `Translator.translate` call, exactly as the local `m2m100 translate` translates one
    `--chunk-lines` chunk, so a file job on Ray gives the local job's bytes. Output: `output_column`
    (default "translations"), a list per row; the input list column is dropped to save transfer.
    Languages are constants (no per-row columns)."""

    def __init__(self, model: str | None = None, *, column: str = "texts", output_column: str = "translations",
                 **kwargs: Any):
        if kwargs.get("source_column") or kwargs.get("target_column"):
            raise ValueError("TranslateBlocks takes constant languages (source=, target=), not language columns")
        super().__init__(model, column=column, output_column=output_column, **kwargs)

    def __call__(self, batch: Any) -> Any:
        results = []
        for i, texts in enumerate(_cells(batch, self.column)):
            texts = [] if texts is None else list(texts)
            for j, text in enumerate(texts):
                if not isinstance(text, str):
                    raise TypeError(f"column {self.column!r}, row {i}, text {j}: expected a string, "
                                    f"got {type(text).__name__}")
            results.append(self.translator.translate(texts, self.source, self.target, progress=False,
                                                     **self.options) if texts else [])
        return _with_column(_without_column(batch, self.column), self.output_column, results)


def loading_options(options: TranslatorOptions | None = None, **fields: Any) -> TranslatorOptions:
    """`options` (default: the defaults) with some fields replaced; a field given as None keeps its value.
    TypeError names an unknown field."""
    options = options or TranslatorOptions()
    specs = TranslatorOptions.specs()
    unknown = sorted(k for k in fields if k not in specs)
    if unknown:
        raise TypeError(f"unknown loading option(s) {', '.join(unknown)}; the TranslatorOptions fields are "
                        f"{', '.join(specs)}")
    return options.replace(**{k: v for k, v in fields.items() if v is not None})


def translate_dataset(
    ds: Any,
    model: str | None = None,
    *,
    source: str | None = None,
    target: str | None = None,
    column: str = "text",
    output_column: str = "translation",
    source_column: str | None = None,
    target_column: str | None = None,
    concurrency: int | tuple[int, int] = 1,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    batch_size: int = 256,
    **translator_options: Any,
) -> Any:
    """`ds.map_batches(TranslateBatch, ...)` with the usual arguments filled in; returns the lazy Dataset.

    concurrency: N actors, or (min, max) for an autoscaling pool; num_cpus / num_gpus: per actor (see the
    module docstring); batch_size: rows per call. translator_options go to `TranslateBatch` (options=, or
    TranslatorOptions fields: device, dtype, quantize, threads, ...; generation_options). Raises ImportError
    without Ray, ValueError for a bad concurrency.
    """
    ray = require_ray()
    if isinstance(concurrency, tuple):
        low, high = concurrency
        compute = ray.data.ActorPoolStrategy(min_size=int(low), max_size=int(high))
    else:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive integer or a (min, max) pair, got {concurrency!r}")
        compute = ray.data.ActorPoolStrategy(size=concurrency)
    remote: dict[str, Any] = {}
    if num_cpus is not None:
        remote["num_cpus"] = num_cpus
    if num_gpus is not None:
        remote["num_gpus"] = num_gpus
    kwargs = dict(model=model, source=source, target=target, column=column, output_column=output_column,
                  source_column=source_column, target_column=target_column, **translator_options)
    return ds.map_batches(TranslateBatch, fn_constructor_kwargs=kwargs, batch_size=batch_size, compute=compute,
                          **remote)


# -- batch formats -------------------------------------------------------------------------------------
def _cells(batch: Any, name: str) -> list[Any]:
    """One column of a Ray Data batch as a Python list (null -> None)."""
    if isinstance(batch, dict):
        if name not in batch:
            raise KeyError(f"no column {name!r} in the batch (columns: {', '.join(map(str, batch))})")
        values = batch[name]
        return values.tolist() if hasattr(values, "tolist") else list(values)
    if hasattr(batch, "column_names") and hasattr(batch, "column"):  # pyarrow.Table
        if name not in batch.column_names:
            raise KeyError(f"no column {name!r} in the batch (columns: {', '.join(batch.column_names)})")
        return batch.column(name).to_pylist()
    if hasattr(batch, "columns") and hasattr(batch, "__getitem__"):  # pandas.DataFrame
        if name not in batch.columns:
            raise KeyError(f"no column {name!r} in the batch (columns: {', '.join(map(str, batch.columns))})")
        return [None if _is_missing(v) else v for v in batch[name].tolist()]
    raise TypeError(f"unsupported batch type {type(batch).__name__}: use batch_format numpy, pandas or pyarrow")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # pandas' NaN for a null


def _with_column(batch: Any, name: str, values: Sequence[Any]) -> Any:
    if isinstance(batch, dict):
        import numpy as np

        column = np.empty(len(values), dtype=object)  # object: keeps None and lists as they are
        for i, value in enumerate(values):
            column[i] = value
        return {**batch, name: column}
    if hasattr(batch, "column_names") and hasattr(batch, "column"):
        import pyarrow as pa

        array = pa.array(list(values), type=pa.list_(pa.string()) if values and isinstance(values[0], list)
                         else pa.string())
        if name in batch.column_names:
            return batch.set_column(batch.column_names.index(name), name, array)
        return batch.append_column(name, array)
    import pandas as pd

    out = batch.copy()
    # object dtype: None stays None (pandas' string dtype would turn it into NaN)
    out[name] = pd.Series(list(values), index=batch.index, dtype=object)
    return out


def _without_column(batch: Any, name: str) -> Any:
    if isinstance(batch, dict):
        return {k: v for k, v in batch.items() if k != name}
    if hasattr(batch, "column_names") and hasattr(batch, "drop"):
        return batch.drop([name])
    return batch.drop(columns=[name])


__all__ = ["TranslateBatch", "TranslateBlocks", "loading_options", "require_ray", "translate_dataset", "INSTALL_HINT"]
