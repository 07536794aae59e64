"""int8 weights for every Linear, the shared embedding and the output projection (`quantize="int8"`).

Streaming: each matrix is quantised per row as it is read, a block of rows at a time, so neither the float
checkpoint nor a float copy of the 128k-row embedding is ever resident. The kernels are m2m100.quantize's.
"""

from __future__ import annotations

import torch

from ...quantize import Int8Linear, check_mode, install_int8, quantize_model, quantize_per_row
from ..read import StreamingSafetensors
from . import Conversion, Request, register


def quantize_rows(reader: StreamingSafetensors, key: str, block: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row int8 quantisation of a 2-D tensor, read `block` rows at a time (the 128k x 1024 embedding is
    0.5 GB in fp32). Returns (q int8 (rows, cols), scale float32 (rows,))."""
    rows, cols = reader.shape(key)
    q = torch.empty(rows, cols, dtype=torch.int8)
    scale = torch.empty(rows)
    for r in range(0, rows, block):
        end = min(rows, r + block)
        q[r:end], scale[r:end] = quantize_per_row(reader.read(key, r, end, scratch=True).float(), inplace=True)
    return q, scale


@register("int8", option="quantize")
def int8(request: Request) -> Conversion:
    """int8 weights, float32 activations; ConfigError off the CPU."""
    check_mode(request.mode, request.device)  # CPU only: fbgemm's kernel
    mode = request.mode
    return Conversion(
        dtype=torch.float32,
        linear=lambda reader, key, bias: Int8Linear(*quantize_rows(reader, key), bias),
        threads=2,  # most of the time goes to fbgemm's packing, which runs on one core
        embedding=quantize_rows,
        install=lambda model, weights: install_int8(model, weights, mode),
        convert=lambda model: quantize_model(model, mode),
    )
