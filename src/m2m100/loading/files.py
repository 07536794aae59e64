"""Which files hold a checkpoint's weights: safetensors preferred, shard indexes and local links checked.

A shard index and a directory's contents are data from the internet or from a user's disk: a name that
points outside the model directory, or a weight file that is a link to a device or a FIFO, is refused here,
before anything is read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..hub import resolve_file

SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
PT_WEIGHTS = "pytorch_model.bin"
PT_INDEX = "pytorch_model.bin.index.json"


def find_weight_files(name_or_path: str | os.PathLike, **hub: Any) -> list[Path]:
    """The weight files of a checkpoint (a local directory or hub id; `hub` as for hub.resolve_file).

    Prefers one safetensors file, then its shard index, then the pickled equivalents. Raises CheckpointError
    when none exists, when a shard index is malformed or names a file outside the directory, or when a local
    weight file is not a regular file.
    """
    _refuse_special_files(name_or_path, hub.get("subfolder"))
    for single, index in ((SAFE_WEIGHTS, SAFE_INDEX), (PT_WEIGHTS, PT_INDEX)):
        path = resolve_file(name_or_path, single, required=False, **hub)
        if path is not None:
            return [path]
        index_path = resolve_file(name_or_path, index, required=False, **hub)
        if index_path is not None:
            return [resolve_file(name_or_path, shard, **hub) for shard in shard_names(index_path)]
    raise CheckpointError(
        f"no weights found for {name_or_path}: expected {SAFE_WEIGHTS}, {SAFE_INDEX}, {PT_WEIGHTS} or {PT_INDEX}"
    )


def _refuse_special_files(name_or_path: str | os.PathLike, subfolder: str | None) -> None:
    """A weight file name in a local directory that is not a regular file (a link to /dev/zero, a FIFO, a
    directory) is an error naming it, never read and never reported as "no weights found"."""
    root = Path(name_or_path)
    if not root.is_dir():
        return
    if subfolder:
        root = root / subfolder
    for name in (SAFE_WEIGHTS, SAFE_INDEX, PT_WEIGHTS, PT_INDEX):
        path = root / name
        if os.path.lexists(path) and not path.is_file():
            kind = "a broken link" if not path.exists() else "not a regular file"
            target = f" (links to {os.readlink(path)})" if path.is_symlink() else ""
            raise CheckpointError(f"checkpoint file {path} is {kind}{target}: refusing to read weights from it")


def shard_names(index_path: Path) -> list[str]:
    """The shard file names a `*.index.json` lists, sorted; each must stay inside the model directory."""
    try:
        index = json.loads(Path(index_path).read_text(encoding="utf-8"))
        weight_map = index["weight_map"]
        names = sorted(set(weight_map.values()))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"shard index {index_path} is malformed: {exc}") from None
    for name in names:
        # A shard index is data from the internet: never let it point outside the model directory.
        if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts or "\\" in name:
            raise CheckpointError(f"shard index {index_path} names a file outside the model directory: {name!r}")
    return names
