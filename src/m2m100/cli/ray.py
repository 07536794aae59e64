"""`m2m100 translate --ray [ADDRESS] -i FILE -o FILE`: the file job of `m2m100 translate`, translated on a Ray
cluster (`pip install "m2m100[ray]"`).

Same formats and bytes as the local job: text, JSONL (`--field`, `--output-field`) and TSV (`--column`)
files are parsed by the same reader (m2m100.cli.records, so bad input fails with the same message before any
model time), cut into the same `--chunk-lines` blocks, and each block is translated by ONE
`Translator.translate` call on an actor (`integrations.ray.TranslateBlocks`), as the local job translates
one block; the driver writes the output as the local job does (m2m100.cli.lines.write_output). Parquet
(`.parquet`/`.pq`, Ray only): the `--field` column (default "text", strings; nulls stay null) is translated
into `--output-field` (default: replace it), other columns copied, blocks of `--chunk-lines` rows.

Resumable by blocks, in the local job's format (m2m100.cli.resume): each finished block's translations are
saved at once, atomically, next to the output. After a crash, a kill, Ctrl-C or a failed cluster, the same
command with `--resume` sends only the missing blocks to the cluster (it refuses if the input or the settings
changed); a local run can finish it too. The output appears complete or not at all.

The driver reads the input and writes the output (a local file, as for the local job); the cluster only sees
texts. Memory on the driver: the texts still to translate; translations live in the block files.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..progress import progress_bar, stderr_is_tty
from .arguments import (
    PARQUET_SUFFIXES,
    DOCUMENT_FORMATS,
    check_chunk_lines,
    check_format_options,
    check_translation_options,
    input_format,
    translator_options,
)
from .base import CommandError, UsageError, note
from .legacy import adopt
from .lines import write_output
from .model import resolved_model
from .outputs import OutputLock, open_input
from .records import LineFormat
from .resume import ResumeState, job_fingerprint

__all__ = ["run", "describe_ray_error"]


def run(args: argparse.Namespace, translator_factory: Callable[[], Any] | None = None) -> int:
    """Entry from `m2m100 translate`. `translator_factory` (picklable, returns a Translator) replaces the
    actors' model loading; for tests and custom loaders."""
    if args.ray is None:
        raise UsageError("Parquet input needs --ray (the local command reads text, JSONL and TSV files)")
    job = RayFileJob(args)
    with OutputLock(job.output):  # one job per output file, as for the local job
        return job.run(translator_factory)


class RayFileJob:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        # ---- usage errors (exit 2), the local job's checks ----
        if args.texts or args.input in (None, "-") or args.output is None:
            raise UsageError("--ray needs --input FILE and --output FILE (not TEXT arguments or standard input)")
        # "auto": each actor's Translator detects the language of each text, as the local job does
        self.source, self.target, self.generation = check_translation_options(args)
        options = translator_options(args)
        check_chunk_lines(args)
        if args.ray_actors is not None and args.ray_actors < 1:
            raise UsageError(f"--ray-actors must be a positive integer, got {args.ray_actors}")
        if not args.ray_cpus > 0 or not args.ray_gpus >= 0:
            raise UsageError("--ray-cpus must be > 0 and --ray-gpus >= 0")
        self.path = Path(args.input)
        self.fmt = input_format(args)
        if self.fmt in DOCUMENT_FORMATS:
            raise UsageError(f"--ray translates text, JSONL, TSV and Parquet files, not {self.fmt} documents")
        check_format_options(args, self.fmt, ray=True)
        self.lines = LineFormat(self.fmt, field=args.field, output_field=args.output_field,
                                column=args.column, errors=args.errors)
        self.output = Path(args.output)
        if self.fmt == "parquet" and self.output.suffix.lower() not in PARQUET_SUFFIXES:
            raise UsageError(f"--output {self.output}: a Parquet input is written as Parquet (.parquet)")
        # ---- runtime errors (exit 1) ----
        if not self.path.is_file():
            raise CommandError(f"--input {self.path}: " + ("is a directory" if self.path.is_dir() else "no such file"))
        if self.output.is_dir():
            raise CommandError(f"--output {self.output} is a directory")
        if not self.output.parent.is_dir():
            raise CommandError(f"--output {self.output}: directory {self.output.parent} does not exist")
        self.options = options.replace(model=resolved_model(options))  # actors may run elsewhere
        self.quiet = args.quiet

    # ---- the job -------------------------------------------------------------------------------------
    def run(self, translator_factory: Callable[[], Any] | None) -> int:
        try:
            from ..integrations.ray import INSTALL_HINT, require_ray

            ray = require_ray()
        except ImportError:
            raise CommandError(f"--ray needs Ray: {INSTALL_HINT}") from None
        if self.fmt == "parquet":
            digest = _sha256(self.path)
            blocks = self.scan_parquet()
            block_lines = self.parquet_rows
        else:
            scan = self.lines.scan(self.path, self.args.chunk_lines, keep_texts=True)
            digest, blocks, block_lines = scan.sha256, scan.texts, scan.block_lines
        job = job_fingerprint(input=self.path, model=self.options.model, source=self.source, target=self.target,
                              line_format=self.lines.fingerprint(), options=self.generation,
                              sentence_split=self.options.split_sentences, chunk_lines=self.args.chunk_lines,
                              input_sha256=digest, blocks=len(blocks))
        state = ResumeState(self.output, self.quiet)
        adopt(state, job, None if self.fmt == "parquet" else self.lines, self.path, self.args.chunk_lines,
              self.args.resume)
        done = state.start(job, [len(b) for b in blocks], block_lines, self.args.resume)
        pending = [i for i in range(len(blocks)) if i not in done]
        if pending:
            started = self.connect(ray)
            try:
                self.translate(ray, state, blocks, pending, translator_factory)
            finally:
                if started:
                    ray.shutdown()
        else:
            note("every block is already translated", self.quiet or not any(blocks))
        if self.fmt == "parquet":
            self.assemble_parquet(state, digest)
        else:
            write_output(self.lines, self.path, self.args.chunk_lines, state, set(range(len(blocks))), digest)
        state.remove()
        return 0

    def scan_parquet(self) -> list[list[str]]:
        parquet = self.open_parquet()
        field = self.lines.field
        if field not in parquet.schema_arrow.names:
            raise CommandError(f"{self.path}: no column {field!r} (choose one with --field; columns: "
                               f"{', '.join(parquet.schema_arrow.names)})")
        kind = parquet.schema_arrow.field(field).type
        import pyarrow as pa

        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
            raise CommandError(f"{self.path}: column {field!r} is {kind}, not strings")
        self.parquet_rows: list[int] = []
        blocks = []
        for batch in parquet.iter_batches(batch_size=self.args.chunk_lines, columns=[field]):
            values = batch.column(0).to_pylist()
            self.parquet_rows.append(len(values))
            blocks.append([v for v in values if v is not None])
        return blocks

    def open_parquet(self) -> Any:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a file that is not Parquet
            raise CommandError(f"{self.path}: not a readable Parquet file ({_one_line(exc)})") from None

    def connect(self, ray: Any) -> bool:
        """ray.init unless Ray is already up in this process; True when this call started it."""
        if ray.is_initialized():
            return False
        address = self.args.ray or None
        # Errors are one line (the CLI's policy): the workers' own logs and tracebacks only with --debug.
        debug = bool(getattr(self.args, "debug", False))
        kwargs: dict[str, Any] = {"logging_level": logging.INFO if debug else logging.ERROR, "log_to_driver": debug}
        if address is None and not os.environ.get("RAY_ADDRESS"):
            kwargs["include_dashboard"] = False  # a private Ray for this job: no web dashboard
        try:
            ray.init(address=address, **kwargs)
        except Exception as exc:  # ConnectionError, ValueError, RuntimeError for a bad or unreachable address
            where = f" at {address}" if address else ""
            raise CommandError(f"cannot start or reach Ray{where}: {_one_line(exc)}") from None
        return True

    def translate(self, ray: Any, state: ResumeState, blocks: list[list[str]], pending: list[int],
                  translator_factory: Callable[[], Any] | None) -> None:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours counts lines; Ray's would interleave with it
        # Ray Data logs each execution, and a failed one with its full stack trace, to stderr: the failure is
        # reported here in one line instead (with --debug, Ray's logs stay).
        data_log = logging.getLogger("ray.data")
        saved_level = data_log.level
        if not getattr(self.args, "debug", False):
            data_log.setLevel(logging.CRITICAL)
        try:
            self.translate_blocks(ray, state, blocks, pending, translator_factory)
        finally:
            data_log.setLevel(saved_level)

    def actors(self, ray: Any, pending: int) -> int:
        args = self.args
        resources = ray.cluster_resources()
        if args.ray_actors:
            actors = args.ray_actors
        elif args.ray_gpus:
            actors = max(1, int(resources.get("GPU", 0) // args.ray_gpus))
        else:
            actors = max(1, int(resources.get("CPU", 1) // args.ray_cpus))
        return min(actors, pending)

    def translate_blocks(self, ray: Any, state: ResumeState, blocks: list[list[str]], pending: list[int],
                         translator_factory: Callable[[], Any] | None) -> None:
        from ..integrations.ray import TranslateBlocks

        actors = self.actors(ray, len(pending))
        kwargs: dict[str, Any] = dict(source=self.source, target=self.target, generation_options=self.generation,
                                      options=self.options, translator_factory=translator_factory)
        remote: dict[str, Any] = {"num_cpus": self.args.ray_cpus}
        if self.args.ray_gpus:
            remote["num_gpus"] = self.args.ray_gpus
        # One dataset row (and one Ray block) per file block: a block's result reaches the driver, and is
        # saved, as soon as it is translated, and a crash loses at most the blocks in flight.
        dataset = ray.data.from_items([{"block": i, "texts": blocks[i]} for i in pending],
                                      override_num_blocks=len(pending))
        translated = dataset.map_batches(
            TranslateBlocks, fn_constructor_kwargs=kwargs, batch_size=1, batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors), **remote,
        )
        total = sum(1 for b in blocks if b)
        finished = total - len(pending)
        note(f"translating {len(pending)} block(s) on Ray with {actors} actor(s)", self.quiet)
        bar = progress_bar(sum(len(blocks[i]) for i in pending), not self.quiet and stderr_is_tty(), unit="line",
                           desc="translating", leave=True)
        try:
            # prefetch_batches=0: with prefetching the iterator holds a finished block back until the next one
            # is ready, and a kill would lose it.
            for batch in translated.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
                for row in batch.to_pylist():
                    i = int(row["block"])
                    texts = row["translations"]
                    if len(texts) != len(blocks[i]):  # cannot happen with TranslateBlocks; never write it
                        raise CommandError(f"block {i}: {len(texts)} translations for {len(blocks[i])} texts")
                    state.save(i, texts)
                    finished += 1
                    bar.update(len(texts))
        except (KeyboardInterrupt, CommandError, UsageError):
            bar.close()
            note(f"stopped with {finished} of {total} block(s) saved; run the same command with --resume to "
                 "continue", self.quiet)
            raise
        except Exception as exc:
            bar.close()
            raise CommandError(f"the Ray job failed: {describe_ray_error(exc)}; {finished} of {total} block(s) "
                               "are saved, run the same command with --resume to continue") from None
        bar.close()

    def assemble_parquet(self, state: ResumeState, digest: str) -> None:
        """The input's rows with the translated column, block by block (bounded memory), written atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        parquet = self.open_parquet()
        field = self.lines.field
        out_name = self.lines.output_field
        schema = parquet.schema_arrow
        out_field = pa.field(out_name, pa.string())
        if out_name in schema.names:
            schema = schema.set(schema.get_field_index(out_name), out_field)
        else:
            schema = schema.append(out_field)
        fd, name = tempfile.mkstemp(dir=self.output.parent, prefix=f".{self.output.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        try:
            with pq.ParquetWriter(tmp, schema) as writer:
                for i, batch in enumerate(parquet.iter_batches(batch_size=self.args.chunk_lines)):
                    if i >= len(self.parquet_rows) or batch.num_rows != self.parquet_rows[i]:
                        raise CommandError(f"{self.path} changed while it was being translated; run again")
                    results = iter(state.translations(i))
                    column = [None if v is None else next(results)
                              for v in batch.column(batch.schema.get_field_index(field)).to_pylist()]
                    table = pa.Table.from_batches([batch])
                    array = pa.array(column, type=pa.string())
                    if out_name in table.column_names:
                        table = table.set_column(table.column_names.index(out_name), out_field, array)
                    else:
                        table = table.append_column(out_field, array)
                    writer.write_table(table.select(schema.names))
            if _sha256(self.path) != digest:
                raise CommandError(f"{self.path} changed while it was being translated; run again")
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, self.output)
        finally:
            tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open_input(path) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def describe_ray_error(exc: BaseException) -> str:
    """The user's error inside Ray's wrappers, one line. Ray passes it on as text: a RayTaskError's message
    holds the remote traceback, whose first `Name: message` line outside ray.* is the original error (the
    UserCodeException / ActorDiedError around it name no cause)."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(_ANSI.sub("", str(current)))
        inner = getattr(current, "cause", None)
        current = inner if isinstance(inner, BaseException) else current.__cause__
    for text in texts:
        for line in text.splitlines():
            match = _ERROR_LINE.match(line.strip())
            if match and not match.group(1).startswith("ray."):
                return f"{match.group(1).rsplit('.', 1)[-1]}: {' '.join(match.group(2).split())}"
    first = next((line.strip() for line in texts[0].splitlines() if line.strip()), "") if texts else ""
    return f"{type(exc).__name__}: {first or 'no message'}"
