"""The names checkpoint.py used to define, kept importable: the code now lives in m2m100.loading (read ->
convert -> build -> save, importing downward only). New code should import from m2m100.loading."""

from .loading import (  # noqa: F401
    IGNORE,
    KEY_RULES,
    PT_INDEX,
    PT_WEIGHTS,
    SAFE_INDEX,
    SAFE_WEIGHTS,
    StreamingSafetensors,
    assign_parameters,
    find_weight_files,
    finish_loading,
    fresh_parameter,
    load_pretrained,
    load_streaming,
    map_key,
    map_stack_state,
    map_state_dict,
    normalise_prefix,
    read_tensors,
    release_free_memory,
    resolve_device,
    resolve_dtype,
    save_pretrained,
    shard_names,
    stack_state,
)
from .loading.conversions import Conversion as StreamingConversion  # noqa: F401  (its old name)
from .meta import meta_device  # noqa: F401
