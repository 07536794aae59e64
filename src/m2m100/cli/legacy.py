"""The resume states of m2m100 before the shared format (m2m100.cli.resume), read once and converted:

- the local job's `.NAME.m2m100-state.json` ({"version": 1, "job", "lines", "input_bytes", "output_bytes",
  "input_sha256"}) with `.NAME.m2m100-partial`, the output of the first `lines` lines: the translations are read
  back from those output lines into block files;
- the Ray job's `.NAME.m2m100-ray/`: already job.json and block files; renamed.

Without --resume, or once converted, they are removed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..hub import atomic_write_text
from .base import CommandError, note
from .outputs import open_input
from .records import LineFormat, Record, split_ending
from .resume import STATE_VERSION, ResumeState, read_json, refusal


def adopt(state: ResumeState, job: dict[str, Any], line_format: LineFormat | None, path: Path,
          chunk_lines: int, resume: bool) -> None:
    """Turn an earlier version's state of `state.output` into `state` (with `resume`, when there is no state of
    the current format), or remove it. CommandError when it belongs to another job. line_format: None for
    Parquet (no local state to read)."""
    output = state.output
    ray_dir = output.parent / f".{output.name}.m2m100-ray"
    local_state = output.parent / f".{output.name}.m2m100-state.json"
    partial = output.parent / f".{output.name}.m2m100-partial"
    found = ray_dir.is_dir() or (local_state.is_file() and partial.is_file())
    if not found:
        local_state.unlink(missing_ok=True)
        return
    try:
        if resume and not state.exists():
            if ray_dir.is_dir():
                _adopt_ray(state, job, ray_dir)
            elif line_format is not None:
                _adopt_local(state, job, line_format, path, chunk_lines, read_json(local_state) or {},
                             partial)
        elif not resume and not state.exists():
            note("starting over (an interrupted run of this job could have been continued with --resume)",
                 state.quiet)
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
        local_state.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)


def _adopt_ray(state: ResumeState, job: dict[str, Any], ray_dir: Path) -> None:
    saved = read_json(ray_dir / "job.json") or {}
    old = {k: v for k, v in (saved.get("job") or {}).items() if k != "engine"}
    if saved.get("version") != 1 or old != job:
        raise refusal(state.output, old, job)
    os.replace(ray_dir, state.dir)
    atomic_write_text(state.dir / "job.json", json.dumps({"version": STATE_VERSION, "job": job}))


def _adopt_local(state: ResumeState, job: dict[str, Any], line_format: LineFormat, path: Path,
                 chunk_lines: int, saved: dict[str, Any], partial: Path) -> None:
    old = saved.get("job") or {}
    same = saved.get("version") == 1 and all(old.get(k) == job.get(k) for k in old if k != "model") and \
        _same_model(old.get("model"), job["model"])
    if not same:
        raise refusal(state.output, {**job, **old}, job)
    try:
        lines, in_bytes, out_bytes = int(saved["lines"]), int(saved["input_bytes"]), int(saved["output_bytes"])
    except (KeyError, TypeError, ValueError):
        raise CommandError(f"cannot resume {state.output}: its resume state is damaged; run again without "
                           "--resume to start over") from None
    with open_input(path) as handle:
        prefix = handle.read(in_bytes)
    if len(prefix) != in_bytes or hashlib.sha256(prefix).hexdigest() != saved.get("input_sha256"):
        raise refusal(state.output, {**job, "input_sha256": None}, job)
    done_output = partial.read_bytes()[:out_bytes]
    out_lines = io.BytesIO(done_output).readlines()
    if len(done_output) < out_bytes or len(out_lines) != lines:
        raise CommandError(f"cannot resume {state.output}: its partial output is shorter than recorded")
    state.dir.mkdir()
    atomic_write_text(state.dir / "job.json", json.dumps({"version": STATE_VERSION, "job": job}))
    outputs = iter(out_lines)
    with open_input(path) as handle:
        for i, (records, _) in enumerate(line_format.chunks(handle, chunk_lines, f"{path}: ")):
            if (i + 1) * chunk_lines > lines:  # only whole blocks of this run's --chunk-lines
                break
            translations = [_translation(line_format, r, next(outputs)) for r in records]
            if any(t is not None for t in translations):
                state.save(i, [t for t in translations if t is not None])


def _same_model(old: Any, new: str) -> bool:
    return old == new or (isinstance(old, str) and Path(old).exists() and str(Path(old).resolve()) == new)


def _translation(line_format: LineFormat, record: Record, out_line: bytes) -> str | None:
    """The translation that the output line of `record` carries (None: the record has no text)."""
    if record.text is None:
        return None
    line = split_ending(out_line)[0].decode("utf-8", "surrogateescape")
    if record.raw.startswith("\ufeff"):
        line = line.removeprefix("\ufeff")
    if line_format.fmt == "text":
        return line
    if line_format.fmt == "jsonl":
        return json.loads(line)[line_format.output_field]
    return line.split("\t")[line_format.header_index]
