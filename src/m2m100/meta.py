"""Building modules on the meta device: shapes and dtypes only, no memory, no random initialisation.

Loaders build the model this way and then assign the checkpoint's tensors; module swaps (unpacking packed
weights) build their plain replacements this way before assigning the real matrix.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


@contextlib.contextmanager
def meta_device():
    """Build modules on the meta device without running their random initialisers: on meta tensors those
    route through torch's reference implementations, whose first use imports the compiler stack (~1 s)."""
    names = ("normal_", "uniform_", "kaiming_uniform_", "zeros_", "ones_", "constant_", "trunc_normal_")
    saved = {name: getattr(nn.init, name) for name in names}
    try:
        for name in names:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        with torch.device("meta"):
            yield
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)
