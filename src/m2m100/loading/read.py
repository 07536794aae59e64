"""Reading tensors from weight files, safely: safetensors headers checked before use, pickles weights-only.

Two readers: `read_tensors` returns a whole file (safetensors memory-mapped), for loads that keep the float
weights; `StreamingSafetensors` reads one tensor (or a block of its rows) at a time, for conversions that
turn each matrix into an inference module as it arrives and never hold the float checkpoint.
"""

from __future__ import annotations

import json
import mmap
import threading
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError

_ST_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
              "I64": torch.int64, "I32": torch.int32, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of one file, on CPU. safetensors are memory-mapped; pickles load with weights_only=True.

    Raises CheckpointError for an empty, truncated or corrupt file, or a pickle that is not a flat
    {name: tensor} dictionary.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint file {path} is empty (0 bytes)")
    if path.suffix == ".safetensors":
        return _read_safetensors(path, size)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # pickle and zip errors come in many types
        raise CheckpointError(f"cannot read checkpoint file {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint file {path} does not hold a flat dictionary of tensors")
    return state


def _safetensors_header(path: Path, size: int) -> tuple[int, dict[str, Any]]:
    """(data start offset, header) after checking them: a truncated download otherwise fails deep inside."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        header_len = int.from_bytes(head, "little") if len(head) == 8 else -1
        if header_len <= 0 or header_len > min(size - 8, 100_000_000):
            raise CheckpointError(f"checkpoint file {path} is corrupt: bad safetensors header length {header_len}")
        try:
            header = json.loads(handle.read(header_len))
        except ValueError:
            raise CheckpointError(f"checkpoint file {path} is corrupt: unreadable safetensors header") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"checkpoint file {path} is corrupt: the safetensors header is not an object")
    header.pop("__metadata__", None)
    try:
        ends = [entry["data_offsets"][1] for entry in header.values()]
    except (TypeError, KeyError, IndexError):
        raise CheckpointError(f"checkpoint file {path} is corrupt: malformed tensor entries in its header") from None
    if ends and 8 + header_len + max(ends) > size:
        raise CheckpointError(
            f"checkpoint file {path} is truncated: {size} bytes, the header needs {8 + header_len + max(ends)}"
        )
    return 8 + header_len, header


def _read_safetensors(path: Path, size: int) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    _safetensors_header(path, size)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as reader:
            return {key: reader.get_tensor(key) for key in reader.keys()}
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint file {path}: {exc}") from None


class StreamingSafetensors:
    """Reads tensors (or row blocks of them) with plain file reads, so a loader that converts weights as they
    arrive (int8, prepacked) never has the whole float checkpoint resident; `mapped` maps one tensor instead."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.start, self.header = _safetensors_header(self.path, self.path.stat().st_size)
        self._local = threading.local()  # a scratch buffer per thread: no allocator churn, flat peak memory

    def placeholders(self) -> dict[str, torch.Tensor]:
        """Meta tensors with each entry's shape: enough for key mapping and shape checks."""
        out = {}
        for key, entry in self.header.items():
            if entry.get("dtype") not in _ST_DTYPES:
                raise CheckpointError(f"unsupported dtype {entry.get('dtype')!r} for {key!r} in {self.path}")
            out[key] = torch.empty(entry["shape"], dtype=_ST_DTYPES[entry["dtype"]], device="meta")
        return out

    def shape(self, key: str) -> list[int]:
        """The stored shape of `key`, from the header (nothing is read)."""
        return list(self.header[key]["shape"])

    def read(self, key: str, row_start: int = 0, row_end: int | None = None, scratch: bool = False) -> torch.Tensor:
        """The tensor (or rows [row_start, row_end) of it); with scratch=True it lives in a buffer that the next
        scratch read overwrites."""
        entry = self.header[key]
        dtype, shape = _ST_DTYPES[entry["dtype"]], list(entry["shape"])
        begin, end = entry["data_offsets"]
        if row_end is not None or row_start:
            row_bytes = (end - begin) // max(1, shape[0])
            row_end = shape[0] if row_end is None else row_end
            begin, end = begin + row_start * row_bytes, begin + row_end * row_bytes
            shape[0] = row_end - row_start
        if scratch:
            if len(getattr(self._local, "scratch", b"")) < end - begin:
                self._local.scratch = bytearray(end - begin)
            buffer = memoryview(self._local.scratch)[: end - begin]
        else:
            buffer = bytearray(end - begin)
        with open(self.path, "rb") as handle:
            handle.seek(self.start + begin)
            if handle.readinto(buffer) != len(buffer):
                raise CheckpointError(f"checkpoint file {self.path} ended early while reading {key!r}")
        if not buffer:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(buffer, dtype=dtype).view(shape)

    def mapped(self, key: str) -> torch.Tensor:
        """The tensor as a copy-on-write memory map of the file: no new memory, pages come from the page cache."""
        entry = self.header[key]
        begin, end = entry["data_offsets"]
        dtype = _ST_DTYPES[entry["dtype"]]
        if end == begin:
            return torch.empty(entry["shape"], dtype=dtype)
        with open(self.path, "rb") as handle:
            view = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)  # stays alive with the tensor
        count = (end - begin) // dtype.itemsize
        return torch.frombuffer(view, dtype=dtype, count=count, offset=self.start + begin).view(entry["shape"])
