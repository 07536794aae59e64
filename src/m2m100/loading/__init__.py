"""Checkpoints in the Hugging Face hub layout: read -> convert -> build, and save. Imports point down only.

    files.py, read.py, keys.py   reading: which files, tensors out of them safely, the key table and its checks
    placement.py                 dtype and device_map as transformers users write them
    conversions/                 float weights -> inference modules: int8.py, packed.py (one file per format,
                                 each registered by mode; the kernels are m2m100.quantize / m2m100.packed)
    fill.py, stream.py           fill a meta-device model with tensors; or stream-and-convert one file
    build.py                     from_pretrained: picks the path and runs it
    save.py                      save_pretrained

The model classes reach this package only through PreTrainedMixin's from_pretrained / save_pretrained,
which m2m100/__init__.py plugs in with `pretrained.use_loader(load_pretrained, save_pretrained)`: the loader
builds models, so the model cannot import it without a cycle.
"""

from .build import load_pretrained
from .files import PT_INDEX, PT_WEIGHTS, SAFE_INDEX, SAFE_WEIGHTS, find_weight_files, shard_names
from .fill import assign_parameters, finish_loading, fresh_parameter
from .keys import IGNORE, KEY_RULES, map_key, map_stack_state, map_state_dict, normalise_prefix, stack_state
from .placement import resolve_device, resolve_dtype
from .read import StreamingSafetensors, read_tensors
from .save import save_pretrained
from .stream import load_streaming, release_free_memory

__all__ = [
    "load_pretrained", "save_pretrained", "find_weight_files", "shard_names", "read_tensors",
    "StreamingSafetensors", "KEY_RULES", "IGNORE", "map_key", "map_state_dict", "map_stack_state",
    "normalise_prefix", "stack_state", "resolve_dtype", "resolve_device", "assign_parameters",
    "finish_loading", "fresh_parameter", "load_streaming", "release_free_memory",
    "SAFE_WEIGHTS", "SAFE_INDEX", "PT_WEIGHTS", "PT_INDEX",
]
