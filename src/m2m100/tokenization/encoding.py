"""BatchEncoding, what every tokenizer returns, and the conversion of token ids to and from tensors.

It stands alone (numpy, and torch only when asked) so that code handling encodings, such as the padding step or
a data collator, needs nothing of the tokenizer itself.
"""

from __future__ import annotations

from collections import UserDict
from collections.abc import Mapping
from typing import Any

import numpy as np


class BatchEncoding(UserDict):
    """What the tokenizer returns: a dict of `input_ids`, `attention_mask` (and `labels`, ...).

    It is a mapping, so `model(**encoding)` works; keys are also attributes (`encoding.input_ids`);
    `.to(device)` moves tensors; `encoding[1:3]` slices every field.
    """

    def __init__(self, data: Mapping[str, Any] | None = None, tensor_type: str | None = None,
                 prepend_batch_axis: bool = False):
        super().__init__(data)
        self.convert_to_tensors(tensor_type, prepend_batch_axis=prepend_batch_axis)

    def __getitem__(self, item):
        if isinstance(item, str):
            return self.data[item]
        if isinstance(item, slice):
            return {key: value[item] for key, value in self.data.items()}
        raise KeyError(f"index a BatchEncoding with a field name or a slice, not {type(item).__name__}")

    def __getattr__(self, item: str):
        if item.startswith("__") or item == "data":
            raise AttributeError(item)
        try:
            return self.data[item]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no field {item!r}") from None

    def __getstate__(self):
        return {"data": self.data}

    def __setstate__(self, state):
        self.data = state["data"]

    @property
    def is_fast(self) -> bool:
        return False

    def convert_to_tensors(self, tensor_type: str | None = None, prepend_batch_axis: bool = False) -> BatchEncoding:
        """Turn every field into a torch tensor ("pt") or a numpy array ("np"); None leaves python lists."""
        kind = resolve_tensor_type(tensor_type)
        if kind is None:
            return self
        for key, value in list(self.data.items()):
            if prepend_batch_axis:
                value = [value]
            self.data[key] = _as_tensor(key, value, kind)
        return self

    def to(self, device, *, non_blocking: bool = False) -> BatchEncoding:
        """Move every tensor field to `device` (a string, torch.device or index); returns self."""
        import torch

        if not isinstance(device, (str, int, torch.device)):
            raise TypeError(f"BatchEncoding.to() takes a device, not {type(device).__name__}; it does not cast dtypes")
        self.data = {
            key: value.to(device=device, non_blocking=non_blocking) if isinstance(value, torch.Tensor) else value
            for key, value in self.data.items()
        }
        return self


def resolve_tensor_type(tensor_type) -> str | None:
    """The tensor kind of a `return_tensors` value (a string or transformers' TensorType): "pt", "np" or None.
    Raises ValueError for any other value."""
    if tensor_type is None:
        return None
    value = getattr(tensor_type, "value", tensor_type)
    if value in ("pt", "torch", "pytorch"):
        return "pt"
    if value in ("np", "numpy"):
        return "np"
    raise ValueError(f"return_tensors must be 'pt', 'np' or None, not {tensor_type!r}")


def _as_tensor(key: str, value, kind: str):
    if kind == "pt":
        import torch

        if isinstance(value, torch.Tensor):
            return value
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise _ragged_error(key)
            return torch.from_numpy(value)
        array = _regular_array(key, value)
        if array is None:
            raise _ragged_error(key)
        return torch.from_numpy(array)
    if isinstance(value, np.ndarray):
        return value
    array = _regular_array(key, value)
    if array is None:  # ragged rows: an object array of 1-d arrays, as transformers returns
        array = np.empty(len(value), dtype=object)
        for i, row in enumerate(value):
            array[i] = np.asarray(row, dtype=np.int64)
    return array


def _regular_array(key: str, value) -> np.ndarray | None:
    """An int64 array of `value` (nested lists of ints), or None when its rows differ in length."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
        if len({len(row) for row in value}) > 1:
            return None
    try:
        array = np.asarray(value)
    except ValueError:
        return None
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype == object:
        return None
    if array.dtype.kind == "b":
        return array.astype(np.int64)
    return array


def _ragged_error(key: str) -> ValueError:
    return ValueError(
        f"cannot make a tensor of `{key}`: its sequences have different lengths. Pass padding=True (or "
        "padding='max_length' with max_length=...) and truncation=True to get rectangular batches."
    )


def to_python(obj):
    """Token ids from a tensor, an array, numpy scalars or (nested) lists, as python ints and lists."""
    if isinstance(obj, int):
        return obj
    if hasattr(obj, "tolist") and not isinstance(obj, (list, tuple)):
        return obj.tolist()  # torch.Tensor, np.ndarray, numpy scalars
    if isinstance(obj, (list, tuple)):
        return [to_python(x) for x in obj]
    return obj


__all__ = ["BatchEncoding", "resolve_tensor_type", "to_python"]
