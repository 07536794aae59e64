"""`m2m100 translate --ray [ADDRESS] -i FILE -o FILE`: the file job of `m2m100 translate`, translated on a Ray
cluster (`pip install "m2m100[ray]"`).

Same formats and bytes as the local command: text, JSONL (`--field`, `--output-field`) and TSV (`--column`)
files are parsed by the local command's own reader (so bad input fails with the same message before any
model time), cut into the same `--chunk-lines` blocks, and each block is translated by ONE
`Translator.translate` call on an actor (`integrations.ray.TranslateBlocks`), as the local command translates
one chunk; the driver renders the output with the local renderer. Parquet (`.parquet`/`.pq`, Ray only): the
`--field` column (default "text", strings; nulls stay null) is translated into `--output-field` (default:
replace it), other columns copied, blocks of `--chunk-lines` rows.

Resumable by blocks: each finished block's translations are saved at once, atomically, in
`.NAME.m2m100-ray/` next to the output (with `job.json`, the settings and the input's SHA-256). After a crash,
a kill, Ctrl-C or a failed cluster, the same command with `--resume` sends only the missing blocks to the
cluster (it refuses if the input or the settings changed). The output appears complete or not at all, and
the directory is removed once it is written.

The driver reads the input and writes the output (a local file, as for the local command); the cluster
only sees texts. Memory on the driver: the texts still to translate; translations live in the block files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

PARQUET_SUFFIXES = (".parquet", ".pq")
STATE_VERSION = 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The Ray options of `m2m100 translate` (cli.py calls this)."""
    group = p.add_argument_group('Ray cluster (pip install "m2m100[ray]")')
    group.add_argument(
        "--ray", nargs="?", const="", default=None, metavar="ADDRESS",
        help="translate --input on a Ray cluster: ADDRESS is 'auto' (the cluster this machine belongs to), "
             "HOST:6379 or ray://HOST:10001; without ADDRESS, $RAY_ADDRESS or a new Ray on this machine. "
             "Text, JSONL, TSV and Parquet (.parquet) files; resumable by --chunk-lines blocks")
    group.add_argument("--ray-actors", type=int, default=None, metavar="N",
                       help="actors, each loading the model once (default: as many as the cluster's CPUs, or "
                            "GPUs with --ray-gpus, hold)")
    group.add_argument("--ray-cpus", type=float, default=1.0, metavar="N",
                       help="CPUs per actor, also its torch threads (default: 1)")
    group.add_argument("--ray-gpus", type=float, default=0.0, metavar="N",
                       help="GPUs per actor, e.g. 1 or 0.5 (default: 0, CPU only)")


def wanted(args: argparse.Namespace) -> bool:
    """Whether `m2m100 translate` should run this job instead of the local one (--ray, or a Parquet input)."""
    if getattr(args, "ray", None) is not None:
        return True
    return args.input not in (None, "-") and Path(args.input).suffix.lower() in PARQUET_SUFFIXES


def run(args: argparse.Namespace, translator_factory: Callable[[], Any] | None = None) -> int:
    """Entry from `m2m100 translate`. `translator_factory` (picklable, returns a Translator) replaces the
    actors' model loading; for tests and custom loaders."""
    from .cli import UsageError

    if args.ray is None:
        raise UsageError("Parquet input needs --ray (the local command reads text, JSONL and TSV files)")
    from . import cli

    job = _RayFileJob(args)
    # One job per output file, as for the local command (its lock, when this version of cli.py has one).
    lock = cli._OutputLock(job.output) if hasattr(cli, "_OutputLock") else None
    if lock is not None:
        lock.acquire()
    try:
        return job.run(translator_factory)
    finally:
        if lock is not None:
            lock.release()


class _RayFileJob:
    def __init__(self, args: argparse.Namespace):
        from .cli import (
            _DTYPES,
            CommandError,
            UsageError,
            _check_translation_options,
            _Job,
            _parse_column,
        )
        from .translate import default_model

        self.args = args
        # ---- usage errors (exit 2), the local command's checks ----
        if args.texts or args.input in (None, "-") or args.output is None:
            raise UsageError("--ray needs --input FILE and --output FILE (not TEXT arguments or standard input)")
        # "auto": each actor's Translator detects the language of each text, as the local command does
        self.source, self.target, self.options = _check_translation_options(args)
        for flag, value in (("--max-batch-tokens", args.max_batch_tokens), ("--chunk-lines", args.chunk_lines),
                            ("--ray-actors", args.ray_actors)):
            if value is not None and value < 1:
                raise UsageError(f"{flag} must be a positive integer, got {value}")
        if not args.ray_cpus > 0 or not args.ray_gpus >= 0:
            raise UsageError("--ray-cpus must be > 0 and --ray-gpus >= 0")
        if args.dtype is not None and args.dtype.lower().removeprefix("torch.") not in _DTYPES:
            raise UsageError(f"--dtype: invalid dtype {args.dtype!r}; use one of {', '.join(_DTYPES)}")
        self.path = Path(args.input)
        suffix = self.path.suffix.lower()
        fmt = args.format
        if suffix in PARQUET_SUFFIXES:
            if fmt != "auto":
                raise UsageError(f"--format {fmt} does not apply to a Parquet file ({self.path.name})")
            fmt = "parquet"
        elif fmt == "auto":
            fmt = "jsonl" if suffix in (".jsonl", ".ndjson") else "tsv" if suffix == ".tsv" else "text"
        if (args.field or args.output_field) and fmt not in ("jsonl", "parquet"):
            raise UsageError(f"--field/--output-field apply to JSONL and Parquet input, but the input format is {fmt}")
        if args.column and fmt != "tsv":
            raise UsageError(f"--column applies to TSV input, but the input format is {fmt}")
        self.fmt = fmt
        column = _parse_column(args.column) if fmt == "tsv" else None
        self.output = Path(args.output)
        if fmt == "parquet" and self.output.suffix.lower() not in PARQUET_SUFFIXES:
            raise UsageError(f"--output {self.output}: a Parquet input is written as Parquet (.parquet)")
        # ---- runtime errors (exit 1) ----
        if not self.path.is_file():
            raise CommandError(f"--input {self.path}: " + ("is a directory" if self.path.is_dir() else "no such file"))
        if self.output.is_dir():
            raise CommandError(f"--output {self.output} is a directory")
        if not self.output.parent.is_dir():
            raise CommandError(f"--output {self.output}: directory {self.output.parent} does not exist")
        model = args.model or default_model()
        self.model = str(Path(model).resolve()) if Path(model).exists() else model  # actors may run elsewhere
        self.lines = _Job(args, fmt, column, self.source, self.target, self.options)
        self.lines.model_name = self.model
        self.state_dir = self.output.parent / f".{self.output.name}.m2m100-ray"
        self.quiet = args.quiet

    # ---- the job -------------------------------------------------------------------------------------
    def run(self, translator_factory: Callable[[], Any] | None) -> int:
        from .cli import CommandError, _note

        try:
            from .integrations.ray import INSTALL_HINT, require_ray

            ray = require_ray()
        except ImportError:
            raise CommandError(f"--ray needs Ray: {INSTALL_HINT}") from None
        digest = _sha256(self.path)
        blocks = self.scan_parquet() if self.fmt == "parquet" else self.scan_lines()
        fingerprint = {**self.lines.fingerprint(self.path), "format": self.fmt, "engine": "ray",
                       "chunk_lines": self.args.chunk_lines, "input_sha256": digest, "blocks": len(blocks)}
        done = self.load_state(fingerprint, [len(b) for b in blocks])
        pending = [i for i, texts in enumerate(blocks) if texts and i not in done]
        if pending:
            started = self.connect(ray)
            try:
                self.translate(ray, blocks, pending, len(done), translator_factory)
            finally:
                if started:
                    ray.shutdown()
        else:
            _note("every block is already translated", self.quiet or not done)
        if self.fmt == "parquet":
            self.assemble_parquet(blocks, digest)
        else:
            self.assemble_lines(digest)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return 0

    def scan_lines(self) -> list[list[str]]:
        """The texts of every --chunk-lines block; parses every line (bad input fails here, naming the line)."""
        from .cli import _open_input

        saved = self.lines.header_index
        with _open_input(self.path) as handle:
            blocks = [[r.text for r in records if r.text is not None]
                      for records, _ in self.lines.chunks(handle, 1, f"{self.path}: ")]
        self.lines.header_index = saved
        return blocks

    def scan_parquet(self) -> list[list[str]]:
        from .cli import CommandError

        parquet = self.open_parquet()
        field = self.args.field or "text"
        if field not in parquet.schema_arrow.names:
            raise CommandError(f"{self.path}: no column {field!r} (choose one with --field; columns: "
                               f"{', '.join(parquet.schema_arrow.names)})")
        kind = parquet.schema_arrow.field(field).type
        import pyarrow as pa

        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
            raise CommandError(f"{self.path}: column {field!r} is {kind}, not strings")
        self.parquet_rows = []
        blocks = []
        for batch in parquet.iter_batches(batch_size=self.args.chunk_lines, columns=[field]):
            values = batch.column(0).to_pylist()
            self.parquet_rows.append(len(values))
            blocks.append([v for v in values if v is not None])
        return blocks

    def open_parquet(self) -> Any:
        from .cli import CommandError

        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a file that is not Parquet
            raise CommandError(f"{self.path}: not a readable Parquet file ({_one_line(exc)})") from None

    def load_state(self, fingerprint: dict[str, Any], sizes: list[int]) -> set[int]:
        """Blocks already translated (after --resume); writes job.json for this run."""
        from .cli import CommandError, _note, _read_state
        from .hub import atomic_write_text

        job_path = self.state_dir / "job.json"
        state = _read_state(job_path) if self.state_dir.is_dir() else None
        done: set[int] = set()
        if self.args.resume and state is not None:
            if state.get("version") != STATE_VERSION or state.get("job") != fingerprint:
                old = state.get("job") or {}
                changed = sorted(k for k in fingerprint if old.get(k) != fingerprint[k])
                raise CommandError(f"cannot resume {self.output}: the interrupted run used different settings or "
                                   f"input ({', '.join(changed) or 'version'}); run again without --resume to "
                                   "start over")
            for path in self.state_dir.glob("block-*.json"):
                saved = _read_state(path)
                try:
                    i = int(path.stem.split("-", 1)[1])
                except ValueError:
                    continue
                # A block counts only if it is whole: the right block, one translation per text.
                if (saved and saved.get("block") == i and 0 <= i < len(sizes)
                        and isinstance(saved.get("translations"), list) and len(saved["translations"]) == sizes[i]):
                    done.add(i)
            _note(f"resuming: {len(done)} of {sum(1 for s in sizes if s)} block(s) already translated", self.quiet)
        else:
            if self.args.resume:
                _note("nothing to resume; starting from the beginning", self.quiet)
            elif state is not None:
                _note("starting over (an interrupted run of this job could have been continued with --resume)",
                      self.quiet)
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir.mkdir()
            atomic_write_text(job_path, json.dumps({"version": STATE_VERSION, "job": fingerprint}))
        return done

    def connect(self, ray: Any) -> bool:
        """ray.init unless Ray is already up in this process; True when this call started it."""
        from .cli import CommandError

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

    def translate(self, ray: Any, blocks: list[list[str]], pending: list[int], already: int,
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
            self._translate(ray, blocks, pending, already, translator_factory)
        finally:
            data_log.setLevel(saved_level)

    def _translate(self, ray: Any, blocks: list[list[str]], pending: list[int], already: int,
                   translator_factory: Callable[[], Any] | None) -> None:
        from .cli import CommandError, UsageError, _bar, _note, _stderr_is_tty
        from .hub import atomic_write_text
        from .integrations.ray import TranslateBlocks

        args = self.args
        resources = ray.cluster_resources()
        if args.ray_actors:
            actors = args.ray_actors
        elif args.ray_gpus:
            actors = max(1, int(resources.get("GPU", 0) // args.ray_gpus))
        else:
            actors = max(1, int(resources.get("CPU", 1) // args.ray_cpus))
        actors = min(actors, len(pending))
        kwargs: dict[str, Any] = dict(
            model=self.model, source=self.source, target=self.target, generation_options=self.options,
            device=args.device, dtype=args.dtype, quantize=args.quantize,
            prepack=False if args.no_prepack else None, split_sentences=not args.no_sentence_split,
            translator_factory=translator_factory,
        )
        if args.max_batch_tokens:
            kwargs["max_batch_tokens"] = args.max_batch_tokens
        remote: dict[str, Any] = {"num_cpus": args.ray_cpus}
        if args.ray_gpus:
            remote["num_gpus"] = args.ray_gpus
        # One dataset row (and one Ray block) per file block: a block's result reaches the driver, and is
        # saved, as soon as it is translated, and a crash loses at most the blocks in flight.
        dataset = ray.data.from_items([{"block": i, "texts": blocks[i]} for i in pending],
                                      override_num_blocks=len(pending))
        translated = dataset.map_batches(
            TranslateBlocks, fn_constructor_kwargs=kwargs, batch_size=1, batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors), **remote,
        )
        total = sum(1 for b in blocks if b)
        _note(f"translating {len(pending)} block(s) on Ray with {actors} actor(s)", self.quiet)
        bar = _bar(sum(len(blocks[i]) for i in pending), not self.quiet and _stderr_is_tty())
        finished = already
        try:
            # prefetch_batches=0: with prefetching the iterator holds a finished block back until the next one
            # is ready, and a kill would lose it.
            for batch in translated.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
                for row in batch.to_pylist():
                    i = int(row["block"])
                    texts = row["translations"]
                    if len(texts) != len(blocks[i]):  # cannot happen with TranslateBlocks; never write it
                        raise CommandError(f"block {i}: {len(texts)} translations for {len(blocks[i])} texts")
                    atomic_write_text(self.state_dir / f"block-{i:08d}.json",
                                      json.dumps({"block": i, "translations": texts}, ensure_ascii=False))
                    finished += 1
                    bar.update(len(texts))
        except (KeyboardInterrupt, CommandError, UsageError):
            bar.close()
            _note(f"stopped with {finished} of {total} block(s) saved; run the same command with --resume to "
                  "continue", self.quiet)
            raise
        except Exception as exc:
            bar.close()
            raise CommandError(f"the Ray job failed: {_describe(exc)}; {finished} of {total} block(s) are saved, "
                               "run the same command with --resume to continue") from None
        bar.close()

    def block_translations(self, i: int) -> list[str]:
        from .cli import _read_state

        saved = _read_state(self.state_dir / f"block-{i:08d}.json")
        return saved["translations"] if saved else []

    def assemble_lines(self, digest: str) -> None:
        """Render every block with the local renderer into the output (atomically)."""
        from .cli import CommandError, _encode_out, _open_input, _Partial

        tmp = _Partial(self.output)
        hasher = hashlib.sha256()
        try:
            with _open_input(self.path) as handle:
                for i, (records, raw) in enumerate(self.lines.chunks(handle, 1, f"{self.path}: ")):
                    hasher.update(raw)
                    results = iter(self.block_translations(i))
                    text = "".join(self.lines.render(r, next(results) if r.text is not None else None)
                                   for r in records)
                    tmp.append(_encode_out(text))
            if hasher.hexdigest() != digest:
                raise CommandError(f"{self.path} changed while it was being translated; run again")
            tmp.commit()
        finally:
            tmp.discard()

    def assemble_parquet(self, blocks: list[list[str]], digest: str) -> None:
        """The input's rows with the translated column, block by block (bounded memory), written atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .cli import CommandError

        parquet = self.open_parquet()
        field = self.args.field or "text"
        out_name = self.args.output_field or field
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
                    results = iter(self.block_translations(i))
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
    from .cli import _open_input

    hasher = hashlib.sha256()
    with _open_input(path) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _describe(exc: BaseException) -> str:
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
