"""Every Linear's matrix reordered into oneDNN's blocked layout at load time (`prepack=True`, or None: when
this CPU and dtype allow it). The kernel and the swap are m2m100.packed's."""

from __future__ import annotations

from ...packed import PackedLinear, can_prepack, check_prepack, install_packed, prepack_model
from . import Conversion, Request, register


@register("packed", option="prepack")
def packed(request: Request) -> Conversion | None:
    """Packed weights in the target dtype, or None (prepack=None) where this CPU/dtype cannot pack; with
    prepack=True that is a ConfigError naming the reason."""
    dtype = request.target_dtype()
    if request.required:
        check_prepack(request.device, dtype)
    if not can_prepack(request.device, dtype):
        return None  # automatic prepacking steps aside: a plain float model
    return Conversion(
        dtype=dtype,
        # each float matrix lives only in the reader's scratch buffer until it is packed
        linear=lambda reader, key, bias: PackedLinear(reader.read(key, scratch=True).to(dtype), bias),
        # the embedding is only read (rows, and once to pack the tied projection): map it, don't copy it
        embedding=lambda reader, key: reader.mapped(key).to(dtype),
        install=install_packed,
        convert=prepack_model,
    )
